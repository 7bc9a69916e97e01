"""Syringe-pump controller firmware.

The same files run on a board (RP2040, ESP32), in the MicroPython unix interpreter and under
CPython. Everything in here keeps MicroPython's subset of the language and library: no
dataclasses, no f-string format specs beyond the basics, no typing imports at run time.
"""

FIRMWARE_VERSION = "0.1.0"
