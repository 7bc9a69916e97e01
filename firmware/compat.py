"""What MicroPython has and CPython lacks, so the firmware imports in both.

`const()` marks integer constants the MicroPython compiler folds away (no RAM, no lookup);
under CPython it is the identity.
"""

try:
    from micropython import const  # type: ignore[import-not-found]
except ImportError:  # CPython

    def const(value: int) -> int:
        return value

