"""The firmware's caller-ID decoding against Debian's minimodem, decoding the very samples the firmware read."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from firmware import analog, exchange
from firmware.audio import centre
from firmware.callerid import FskCallerId
from firmware.twin import Twin

ROOT = Path(__file__).resolve().parents[2]
MODEMS = {"sdmf": ("bell202", ["1200"]), "mdmf": ("bell202", ["1200"]),
          "v23": ("v23", ["--mark", "1300", "--space", "2100", "1200"])}


def minimodem(wav, *args):
    """minimodem's receiver on a WAV file: its stdout, raw bytes; the test fails if it is missing."""
    found = shutil.which("minimodem")
    if found is None:
        pytest.fail("minimodem is missing: scripts/setup --test installs it (apt-get install minimodem)")
    return subprocess.run([found, "--rx", "--quiet", "--file", str(wav), *args], capture_output=True,
                          timeout=120, check=True).stdout


def message_in(data):
    """The caller-ID message among received bytes (the channel seizure decodes as a run of 'U'):
    the first type byte (SDMF 0x04, MDMF 0x80) whose length and checksum fit."""
    for start, byte in enumerate(data[:-2]):
        end = start + data[start + 1] + 3
        if byte in (0x04, 0x80) and end <= len(data) and sum(data[start:end]) % 256 == 0:
            return data[start:end]
    return None


def minimodem_caller_id(wav, modem):
    """minimodem's own caller-ID parse (its callerid mode), as the firmware's cid fields."""
    mark_space = ["--mark", "1300", "--space", "2100"] if modem == "v23" else []
    text = minimodem(wav, *mark_space, "callerid").decode()
    fields = {}
    time = re.search(r"Time:\s+(\d\d)/(\d\d) (\d\d):(\d\d)", text)
    if time:
        fields["time"] = "".join(time.groups())
    phone = re.search(r"Phone:\s+(\S+)", text)
    if phone:
        absent = {"P": "private", "[blocked]": "private", "O": "out-of-area", "[N/A]": "out-of-area"}  # SDMF, MDMF
        if phone.group(1) in absent:
            fields["absent"] = absent[phone.group(1)]
        else:
            fields["number"] = phone.group(1).replace("-", "")  # it prints 10-digit numbers as 555-123-4567
    name = re.search(r"Name:\s+(.+)", text)
    if name:
        fields["name"] = name.group(1).strip()
    return fields


def firmware_messages(recording, modem):
    """The messages the firmware's receiver finds in the recorded ADC blocks, block by block as on the board."""
    receiver = FskCallerId(modem)
    found = []
    for start in range(0, len(recording), analog.BLOCK_SAMPLES):
        message = receiver.push(centre(recording[start:start + analog.BLOCK_SAMPLES])[0])
        if message is not None:
            found.append(message)
    return found


CALLS = [
    ("na", "sdmf", {"number": "5551234567"}),
    ("na", "mdmf", {"number": "5551234567", "name": "JOHN Q PUBLIC"}),
    ("na", "sdmf", {"absent": "out-of-area"}),
    ("na", "mdmf", {"absent": "private", "name": "WITHHELD"}),
    ("uk", "v23", {"number": "01632960123", "name": "A N OTHER"}),
]


@pytest.mark.parametrize("cadence, cid, caller", CALLS, ids=["sdmf", "mdmf", "sdmf-out-of-area", "mdmf-private", "v23"])
def test_the_firmware_and_minimodem_decode_the_same_burst_alike(tmp_path, cadence, cid, caller):
    twin = Twin(cadence, noise_rms=6.0)
    twin.run(1)
    twin.board.recording = []
    twin.call(cid=cid, time="11050931", rings=2, **caller)
    said = twin.run(12)
    wav = tmp_path / "burst.wav"
    exchange.write_wav(wav, [count - analog.AUDIO_MID for count in twin.board.recording])
    modem, minimodem_args = MODEMS[cid]

    theirs = message_in(minimodem(wav, *minimodem_args))
    assert theirs is not None
    assert firmware_messages(twin.board.recording, modem) == [theirs]

    (event,) = [message for message in said if message["ev"] == "cid"]
    fields = {key: value for key, value in event.items() if key not in ("ev", "format")}
    assert fields == minimodem_caller_id(wav, modem) == dict(caller, time="11050931")
    assert event["format"] == cid


@pytest.mark.parametrize("rate_hz", [8000, 48000])
def test_the_twins_burst_written_as_a_wav_is_what_minimodem_reads(tmp_path, rate_hz):
    wav = tmp_path / "burst.wav"
    subprocess.run([sys.executable, "-m", "firmware.twin", "--wav", str(wav), "--wav-rate", str(rate_hz),
                    "--cid", "mdmf", "--number", "5559876543", "--name", "ACME CORP", "--time", "01020304"],
                   cwd=ROOT, check=True, timeout=60)
    assert minimodem_caller_id(wav, "bell202") == {"number": "5559876543", "name": "ACME CORP", "time": "01020304"}
