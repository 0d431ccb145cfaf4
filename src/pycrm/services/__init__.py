"""Use cases, one module per aggregate, run inside a unit of work."""
