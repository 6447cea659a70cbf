"""The dev stack and the embedded servers tests start: not needed to run in production."""
