"""The firmware's logic tests: plain functions with plain asserts, run on MicroPython and CPython alike."""
