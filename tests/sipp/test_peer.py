"""The tests' own RTP recorder puts audio in order across the 16-bit sequence wrap, as the appliance's random
first sequence number makes it happen in about one call in twenty-five."""

from __future__ import annotations

import socket
import time

import numpy as np

from appliance.audio.g711 import ulaw_encode
from appliance.rtp.stream import RtpSender

from sipp.peer import Recorder


def test_packets_after_the_wrap_come_after_those_before_it():
    recorder = Recorder()
    sender = RtpSender(0, sequence=65533)
    frames = [np.full(160, level, np.int16) for level in (1000, 2000, 3000, 4000, 5000)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
        for frame in frames:
            out.sendto(sender.packet(ulaw_encode(frame)), ("127.0.0.1", recorder.port))
        deadline = time.monotonic() + 5
        while len(recorder.packets) < len(frames) and time.monotonic() < deadline:
            time.sleep(0.01)
    heard = recorder.stop()
    levels = [int(np.median(heard[i * 160:(i + 1) * 160])) for i in range(len(frames))]
    assert levels == sorted(levels), levels
