"""Live updates: change streams of the view collections, fanned out to subscribers."""
