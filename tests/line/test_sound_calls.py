"""The appliance's own voice coming back on a sound-device line, through the ALSA twin's hybrid (delayed, attenuated
by 6 to 15 dB, low-passed): measured, cancelled and gated so that it never reads as the caller barging in, while a
caller speaking over the appliance still does; then `appliance serve` on the twin with the real models, as a demo
table or a line interface runs it.

The echo figures are printed (run with -s to see them), not asserted beyond what the gate promises.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3

import numpy as np
import pytest

from appliance.bench import words
from appliance.line import voiced
from appliance.line.sound_port import open_sound_port
from appliance.line.sound_twin import SoundCardTwin

from serving import Serving
from speech import phone_speech

WAIT_S = 5.0
TALK_S = 90.0
APPLIANCE_SAYS = ("Thank you for calling. Our support team can help with orders, refunds and deliveries. "
                  "Please tell me what you need, and I will do my best to answer.")


@pytest.fixture
def hybrid(tmp_path, monkeypatch):
    """`hybrid(echo_db, echo_delay_ms)`: a started twin whose input carries the echo of what it plays."""
    started = []

    def start(echo_db: float, echo_delay_ms: int = 30) -> SoundCardTwin:
        twin = SoundCardTwin(tmp_path / f"hybrid{len(started)}", echo_db=echo_db, echo_delay_ms=echo_delay_ms).start()
        monkeypatch.setenv("ALSA_CONFIG_PATH", str(twin.config))
        started.append(twin)
        return twin

    yield start
    for twin in started:
        twin.stop()


@pytest.mark.parametrize("echo_db, echo_delay_ms", [(-6, 30), (-10, 50), (-15, 80)])
async def test_the_echo_is_measured_and_never_heard_as_the_caller_who_is_heard_over_it(hybrid, echo_db,
                                                                                       echo_delay_ms):
    twin = hybrid(echo_db, echo_delay_ms)
    voice = phone_speech(APPLIANCE_SAYS)
    port = await open_sound_port(twin.name)
    try:
        heard = []
        for start in range(0, len(voice), 160):  # the appliance speaks, the caller is silent: only echo comes back
            heard.append(await port.read_frame())
            port.write_frame(voice[start:start + 160])
        echo_only = port.gate.report()
        assert not any(voiced(frame) for frame in heard)  # nothing the VAD could take for the caller
        assert port.gate.passed_frames <= 2

        twin.say(phone_speech("Actually, what is your refund policy?", pad_ms=0))  # the caller cuts in
        over = []
        for start in range(0, len(voice), 160):
            over.append(await port.read_frame())
            port.write_frame(voice[start:start + 160])
        assert sum(voiced(frame) for frame in over[:100]) >= 20  # their words reach the VAD
    finally:
        port.close()
    print(f"\necho {echo_db} dB, {echo_delay_ms} ms hybrid (+ the device's buffers): measured ERL "
          f"{echo_only.erl_db} dB, canceller ERLE {echo_only.erle_db} dB (now {echo_only.coupling_db} dB left of "
          f"the voice); caller frames heard over it: "
          f"{sum(voiced(frame) for frame in over[:100])} of 100")
    assert echo_only.erl_db == pytest.approx(-echo_db, abs=3)  # the hybrid's loss, as set (its filter aside)


# `appliance serve` itself on the twin


async def until(condition, timeout_s: float = TALK_S) -> None:
    """Wait until `condition()` holds, looking every 50 ms."""
    async def poll():
        while not condition():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout_s)


def heard_words(transcriber, pcm: np.ndarray) -> list[str]:
    return words(transcriber.transcribe(pcm, 8000).text)


async def test_appliance_serve_on_a_headset_with_echo_answers_to_the_end_and_is_cut_in_on(hybrid, tmp_path, whisper):
    """The README's demo table, with the worst hybrid (-6 dB): serve opens the device and greets at once; the refund
    policy is answered and heard to its end over its own echo; a caller who cuts into the next reply stops it."""
    twin = hybrid(-6, 30)
    data = tmp_path / "data"
    env = {**os.environ, **twin.env(), "APPLIANCE_PATHS_DATA_DIR": str(data),
           "APPLIANCE_LINE_LISTEN": f"sound://{twin.name}"}
    serving = await Serving.start(env)

    def speaking_in(since: int) -> bool:
        """Whether the device played a voiced 20 ms frame since its sample `since`."""
        heard = twin.heard(max(0, since))
        return any(voiced(heard[start:start + 160]) for start in range(0, len(heard), 160))

    def quiet_for(seconds: float) -> bool:
        return not speaking_in(twin.played - int(seconds * twin.rate_hz))

    async def heard_out() -> None:
        """The reply the log says is finished, heard to its end: its last sentence may be still to come."""
        start = twin.played
        try:
            await until(lambda: speaking_in(max(start, twin.played - twin.rate_hz // 10)), WAIT_S)
        except asyncio.TimeoutError:  # it had played already
            pass
        await until(lambda: quiet_for(1.5))

    draining = None
    try:
        await asyncio.wait_for(serving.read_until("knowledge:"), TALK_S)  # ready, and the refund policy indexed
        draining = asyncio.create_task(serving.read_until("never said"))  # a full pipe would stop serve mid-sentence
        await until(lambda: speaking_in(twin.played - twin.rate_hz // 5))  # the greeting, at once
        await until(lambda: quiet_for(1.0))  # ...and a second of quiet

        mark, logged = twin.played, len(serving.said)
        twin.say(phone_speech("What is your refund policy?"))
        await until(lambda: serving.logged_since(logged, "reply-finished"), 2 * TALK_S)
        await heard_out()
        answer = heard_words(whisper, twin.heard(mark))
        assert "30" in answer or "thirty" in answer, " ".join(answer)

        logged = len(serving.said)
        twin.say(phone_speech("What plans do you have?"))
        await until(lambda: serving.logged_since(logged, "reply-started"), 2 * TALK_S)
        playing = twin.played
        await until(lambda: speaking_in(max(playing, twin.played - twin.rate_hz // 5)))
        await asyncio.sleep(1.5)  # into the list of plans
        logged = len(serving.said)
        twin.say(phone_speech("Actually, how long does shipping take?", pad_ms=0))
        await until(lambda: serving.logged_since(logged, "caller-heard")
                    and serving.logged_since(logged, "reply-finished"),
                    2 * TALK_S)
        await heard_out()
    finally:
        await serving.stop(draining, TALK_S)

    turns = sqlite3.connect(data / "appliance.db").execute(
        "select kind, heard, interrupted from turn order by call_id, number").fetchall()
    kinds = [(kind, heard.lower(), bool(interrupted)) for kind, heard, interrupted in turns]
    greeting, refund, plans = kinds[0], kinds[1], kinds[2]
    assert greeting[0] == "greeting" and not greeting[2], kinds  # its own echo cut into nothing
    assert "refund" in refund[1] and not refund[2], kinds
    assert "plan" in plans[1] and plans[2], kinds  # the caller cut in
    assert any("shipping" in heard for _, heard, _ in kinds[3:]), kinds
    health = json.loads((data / "sound-line.json").read_text())
    print(f"\nserve on a -6 dB hybrid: {health['echo']}")


# `appliance serve` on the sound device with the line board: the board's twin runs the board's own firmware


async def test_appliance_serve_answers_the_board_s_ring_with_caller_id_and_either_side_hangs_up(hybrid, tmp_path,
                                                                                                whisper):
    """A ring with MDMF caller ID on the board twin is answered after two rings; the caller's question is answered
    through the PortAudio device; the caller's hang-up (loop drop) ends the call; on a second call the caller says
    goodbye, the appliance hangs up and the board's relay opens."""
    from firmware.twin_pty import PtyTwin

    twin = hybrid(-10, 50)
    data = tmp_path / "data"
    link = tmp_path / "board-tty"
    with PtyTwin(str(link), cadence="na") as board:
        env = {**os.environ, **twin.env(), "APPLIANCE_PATHS_DATA_DIR": str(data),
               "APPLIANCE_LINE_LISTEN": f"sound://{twin.name}?board={link}"}
        serving = await Serving.start(env)
    
        def greeted(since: int) -> bool:
            """The device played voice since its sample `since`, and has been quiet for a second since."""
            heard = twin.heard(since)
            frames = [voiced(heard[start:start + 160]) for start in range(0, len(heard) - 159, 160)]
            quiet = twin.rate_hz // 160  # frames in a second
            return any(frames) and len(frames) > quiet and not any(frames[-quiet:])

        draining = None
        try:
            await asyncio.wait_for(serving.read_until("knowledge:"), TALK_S)
            # a full pipe would stop serve mid-sentence
            draining = asyncio.create_task(serving.read_until("never said"))
            logged = len(serving.said)
            board.call(number="5551234567", name="JOHN DOE", cid="mdmf")
            await until(lambda: board.off_hook)  # answered through the board's relay
            start = twin.played
            await until(lambda: greeted(start))
            mark, logged = twin.played, len(serving.said)
            twin.say(phone_speech("What is your refund policy?"))
            await until(lambda: serving.logged_since(logged, "reply-finished")
                        and twin.played - mark > 8 * twin.rate_hz)
            answer = heard_words(whisper, twin.heard(mark))
            assert "30" in answer or "thirty" in answer, " ".join(answer)
            board.caller_hangs_up("loop-drop")
            await until(lambda: not board.off_hook and serving.logged_since(logged, "call-ended"))

            logged = len(serving.said)
            board.call(number="5559876543", cid="sdmf")
            await until(lambda: board.off_hook)
            start = twin.played
            await until(lambda: greeted(start))
            twin.say(phone_speech("No, that's all. Thank you, goodbye."))
            await until(lambda: not board.off_hook)  # the appliance hung up through the board
        finally:
            await serving.stop(draining, TALK_S)

    calls = sqlite3.connect(data / "appliance.db").execute(
        "select caller_id, ended_by from call order by id").fetchall()
    assert calls[0] == ("5551234567", "caller"), calls
    assert calls[1] == ("5559876543", "appliance"), calls
