"""Model families. Each folder is self-contained: its files are exactly what a `trust_remote_code=True` load copies."""
