"""Placeholder until the Python 3.12/3.13 compatibility layer lands (does nothing)."""
