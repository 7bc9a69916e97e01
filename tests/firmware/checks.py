"""Assertion helpers for firmware tests, usable under both CPython and MicroPython.

Firmware tests are plain functions with plain asserts so the MicroPython interpreter can run
them too; these two helpers stand in for pytest.raises and pytest.skip there.
"""

import sys

ON_MICROPYTHON = sys.implementation.name == "micropython"


class Skipped(Exception):
    pass


def raises(exc_type, fn, *args, **kwargs):
    """Call fn and return the exception of exc_type it raised; fail if it raised none."""
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        return e
    raise AssertionError("expected %s from %s" % (exc_type.__name__, getattr(fn, "__name__", fn)))


def skip(reason: str):
    if ON_MICROPYTHON:
        raise Skipped(reason)
    import pytest

    pytest.skip(reason)
