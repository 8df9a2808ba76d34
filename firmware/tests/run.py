"""Runs the firmware's logic tests without pytest, so MicroPython can: `micropython -m firmware.tests.run`.

Prints a line per test and a summary; exits 1 if any failed. pytest runs the same functions on
CPython (tests/firmware/test_logic.py) and this runner under MicroPython's unix port.
"""

import gc
import sys

MODULES = ("test_protocol", "test_ring", "test_callerid", "test_dtmf", "test_hook", "test_voltage", "test_watchdog")


def tests():
    """(module.name, function) of every test, in a stable order."""
    found = []
    for module_name in MODULES:
        module = __import__("firmware.tests." + module_name)
        module = getattr(getattr(module, "tests"), module_name)
        for name in sorted(dir(module)):
            if name.startswith("test_"):
                found.append((module_name + "." + name, getattr(module, name)))
    return found


def main():
    """Runs them all; returns the number that failed."""
    failed = 0
    everything = tests()
    for name, test in everything:
        gc.collect()  # what the last test left, before MicroPython's heap fragments around it
        try:
            test()
        except Exception as error:  # a failing test is reported, and the others still run
            failed += 1
            print("FAIL " + name + ": " + repr(error))
            if hasattr(sys, "print_exception"):
                sys.print_exception(error)
        else:
            print("ok   " + name)
    print("%d passed, %d failed on %s" % (len(everything) - failed, failed, sys.implementation.name))
    return failed


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
