"""Temporary (replaced by the helper's)."""


def enable(*args, **kwargs):
    pass
