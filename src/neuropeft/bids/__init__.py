"""BIDS dataset indexing and validation."""
