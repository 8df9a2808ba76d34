"""RTP audio as a pcap file that sipp's `play_pcap_audio` replays: Ethernet, IPv4 and UDP headers around
each packet, timestamped 20 ms apart. sipp rewrites the addresses, so they are placeholders here."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from appliance.audio.g711 import ulaw_encode
from appliance.rtp.stream import RtpSender

FRAME = 160


def _udp_frame(payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", 40000, 40002, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
    return b"\x00" * 12 + b"\x08\x00" + ip


def write_pcap(path: Path, packets: list[tuple[float, bytes]]) -> Path:
    """(seconds, RTP datagram) pairs → a pcap file."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for at, data in packets:
        frame = _udp_frame(data)
        seconds, micros = int(at), int(round((at - int(at)) * 1e6))
        out.append(struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path


def speech_pcap(path: Path, pcm: np.ndarray, keys: str = "", keys_at_s: float = 0.0) -> Path:
    """8 kHz speech as PCMU RTP every 20 ms; `keys` are sent as RFC 4733 events (PT 101) at `keys_at_s`."""
    sender = RtpSender(0, event_payload_type=101)
    packets, at = [], 0.0
    frames = [pcm[i:i + FRAME] for i in range(0, len(pcm), FRAME)]
    for frame in frames:
        frame = np.pad(frame, (0, FRAME - len(frame)))
        packets.append((at, sender.packet(ulaw_encode(frame), marker=not packets)))
        at += 0.02
    at = max(at, keys_at_s)
    for key in keys:
        for data in sender.event_packets(key):
            packets.append((at, data))
            at += 0.02
        at += 0.1
    return write_pcap(path, packets)
