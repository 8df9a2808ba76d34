"""The seam: the RP2040 board layer and its twin offer the same methods, the ones the main loop uses."""

import ast
import re
from pathlib import Path

import firmware.main
from firmware.twin import TwinBoard

ROOT = Path(__file__).resolve().parents[2]


def _methods(path, class_name):
    tree = ast.parse(path.read_text())
    (found,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name]
    return {node.name for node in found.body if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")}


def test_the_rp2040_board_and_its_twin_have_the_methods_the_loop_documents():
    documented = set(re.findall(r"^    (\w+)\(", firmware.main.__doc__, re.MULTILINE))
    assert documented == {"now_ms", "audio_block", "ring_pulses", "read_line_adc", "read_loop_adc",
                          "set_hook_relay", "feed_watchdog", "read_serial", "write_serial"}
    assert documented <= _methods(ROOT / "firmware" / "board_rp2040.py", "Rp2040Board")
    assert documented <= {name for name in dir(TwinBoard) if not name.startswith("_")}


def test_the_main_loop_asks_the_board_for_nothing_else():
    source = (ROOT / "firmware" / "main.py").read_text()
    used = set(re.findall(r"board\.(\w+)\(", source))
    documented = set(re.findall(r"^    (\w+)\(", firmware.main.__doc__, re.MULTILINE))
    assert used <= documented, used - documented


def test_the_udev_rule_names_the_boards_serial_port():
    rules = (ROOT / "systemd" / "61-appliance-line-board.rules").read_text()
    assert 'ATTRS{idVendor}=="2e8a", ATTRS{idProduct}=="0005"' in rules  # MicroPython on a Pico
    assert 'SYMLINK+="appliance-line-board"' in rules and 'GROUP="dialout"' in rules
