"""Temporary (replaced by the helper's)."""
