"""Firmware of the line-interface board (RP2040, MicroPython) and its twin for tests."""
