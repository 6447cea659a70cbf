"""Write services: forwarding a write to its owner, and waiting until it is folded."""
