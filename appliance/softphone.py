"""`appliance call`: a softphone for technicians. It dials the box (or any SIP URI), listens to the greeting,
says one line (synthesized with the box's voice, or from a WAV file), and prints what it heard back,
transcribed, with the timings a caller would feel."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from appliance import engines
from appliance.audio import FRAME_MS, LINE_RATE_HZ
from appliance.audio.wav import read_wav
from appliance.line import voiced
from appliance.line.sip import SipServer, address_towards
from appliance.settings import Settings

GREETING_QUIET_MS = 1000  # the greeting is over once the far end has been quiet this long
NO_GREETING_MS = 4000  # ...or when nothing was said this long after answering: speak anyway
ANSWER_QUIET_MS = 4500  # the answer is over after this much quiet (longer than a holding phrase's pause)


def _segments(frames: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(frames) if frames else np.zeros(0, np.int16)


async def converse(line, speech: np.ndarray, listen_s: float) -> dict:
    """Greeting, then `speech`, then the answer, on a connected line; what was heard and when (ms on the call).
    Voice to voice runs from the last voiced frame said to the first voiced frame heard back (through this phone's
    jitter buffer), as `appliance bench --lines` measures it on every line: not from the end of the clip, whose
    silence after the last word would count against the caller."""
    greeting, answer, loud_at = [], [], []
    phase, last_voice_ms, spoke_at = "greeting", None, None
    said_until_ms = None
    async for frame in line.audio():
        at = line.position_ms
        loud = voiced(frame)
        if loud:
            last_voice_ms = at
            if phase != "greeting":
                loud_at.append(at)
        if phase == "greeting":
            greeting.append(frame)
            quiet = at - (last_voice_ms if last_voice_ms is not None else 0)
            if (last_voice_ms is not None and quiet >= GREETING_QUIET_MS) or (last_voice_ms is None and at >= NO_GREETING_MS):
                line.play(speech)
                phase, spoke_at = "speaking", at
        elif phase == "speaking":
            answer.append(frame)
            if not line.playing:
                phase, said_until_ms, last_voice_ms = "listening", at, None
                answer.clear()
        else:
            answer.append(frame)
            heard_quiet = last_voice_ms is not None and at - last_voice_ms >= ANSWER_QUIET_MS
            if heard_quiet or at - said_until_ms >= listen_s * 1000:
                await line.hangup()
                break
    said = [ms for ms in line.playback.sent_voiced_at if spoke_at is not None and ms >= spoke_at]
    end_of_speech_ms = said[-1] + FRAME_MS if said else said_until_ms  # the end of the last voiced frame said
    first_reply_ms = next((ms for ms in loud_at if end_of_speech_ms is not None and ms > end_of_speech_ms), None)
    return {"greeting": _segments(greeting), "answer": _segments(answer), "spoke_at_ms": spoke_at,
            "end_of_speech_ms": end_of_speech_ms, "first_reply_ms": first_reply_ms, "ended_by": line.hung_up_by}


async def call(settings: Settings, uri: str, text: str | None = None, wav: str | None = None,
               listen_s: float = 30.0, say=print) -> int:
    """Dial `uri`, say the line, print the conversation."""
    store = engines.model_store(settings)
    if wav:
        speech, _ = read_wav(Path(wav), LINE_RATE_HZ)
        said = wav
    else:
        from appliance.line.callers import PiperCaller

        speech = PiperCaller(store.checked_path(settings.tts.model))(text)
        said = repr(text)
    transcriber = engines.transcriber(settings, store)
    from appliance.sip.message import SipUri

    local = address_towards(SipUri.parse(uri).host)
    phone = SipServer(local, 0, on_call=None, user="softphone", allow="", rtp_ports=settings.line.rtp_ports)
    await phone.start()
    try:
        started = time.monotonic()
        line = await phone.place_call(uri, ring_timeout_s=settings.line.ring_timeout_s)
        say(f"connected      : {uri} in {(time.monotonic() - started) * 1000:.0f} ms ({line.codec})")
        heard = await converse(line, speech, listen_s)
    finally:
        await phone.close()
    greeting = await asyncio.to_thread(transcriber.transcribe, heard["greeting"], LINE_RATE_HZ)
    answer = await asyncio.to_thread(transcriber.transcribe, heard["answer"], LINE_RATE_HZ)
    say(f"greeting       : {greeting.text!r}")
    say(f"said           : {said} ({len(speech) / LINE_RATE_HZ:.1f} s)")
    say(f"heard back     : {answer.text!r}")
    if heard["first_reply_ms"] is not None:
        say(f"voice to voice : {heard['first_reply_ms'] - heard['end_of_speech_ms']:.0f} ms "
            f"(the last word said to the first audio back, ±{FRAME_MS} ms)")
    else:
        say("voice to voice : no reply was heard")
    say(f"hung up by     : {heard['ended_by'] or 'nobody'}")
    return 0 if answer.text else 1
