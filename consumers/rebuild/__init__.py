"""Rebuilding views from the log: shadow fold and swap, the fence, versions, refold."""
