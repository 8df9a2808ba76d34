"""A seed call end to end through Asterisk's AudioSocket protocol, the client speaking it as Asterisk does."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np

from appliance.audio.wav import read_wav
from appliance.bench import words
from appliance.line.audiosocket import AudioSocketParser, Audio, Hangup, caller_uuid, encode_audio, encode_hangup, \
    encode_uuid
from appliance.pipeline import default_question
from appliance.records.models import Call


def test_an_audiosocket_caller_hears_the_refund_policy_and_is_known_by_number(running, whisper):
    question, _ = read_wav(default_question(), 8000)
    sock = socket.create_connection(("127.0.0.1", running.audiosocket.port), timeout=5)
    sock.sendall(encode_uuid(caller_uuid("+15550199")))
    parser, received, hung_up = AudioSocketParser(), [], threading.Event()

    def read() -> None:
        while not hung_up.is_set():
            try:
                data = sock.recv(4096)
            except OSError:
                return
            if not data:
                return
            parser.receive_data(data)
            for event in parser.next_frames():
                if isinstance(event, Audio):
                    received.append(event.pcm)
                elif isinstance(event, Hangup):
                    hung_up.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    silence = np.zeros(160, np.int16)
    frames = [question[i:i + 160] for i in range(0, len(question), 160)] + [silence] * (18 * 50)
    start = time.monotonic()
    for number, frame in enumerate(frames):  # 20 ms frames on a real-time clock, as Asterisk sends them
        sock.sendall(encode_audio(np.pad(frame, (0, 160 - len(frame)))))
        time.sleep(max(0.0, start + (number + 1) * 0.02 - time.monotonic()))
    sock.sendall(encode_hangup())
    reader.join(5)
    sock.close()
    audio = np.concatenate(received) if received else np.zeros(0, np.int16)
    heard = words(whisper.transcribe(audio, 8000).text)
    assert {"refund", "refunds", "30", "thirty"} & set(heard), " ".join(heard)  # the policy, in the model's words
    assert Call.select().where(Call.caller_id == "15550199").exists() or \
        Call.select().where(Call.caller_id == "+15550199").exists()
