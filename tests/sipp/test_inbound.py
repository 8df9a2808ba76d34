"""Calls from sipp, an independent SIP peer, answered over RTP by the whole appliance."""

from __future__ import annotations

from appliance.audio.wav import read_wav
from appliance.bench import words
from appliance.pipeline import default_question

from sipp.peer import Recorder, run_sipp
from sipp.pcap import speech_pcap


def test_a_caller_asking_about_refunds_hears_the_refund_policy_back_over_rtp(running, sipp, whisper, tmp_path):
    question, rate = read_wav(default_question(), 8000)
    recorder = Recorder()
    result = run_sipp(sipp, running.port, "uac.xml", rtpport=recorder.port,
                      pcap=speech_pcap(tmp_path / "question.pcap", question), pause_ms=20000)
    audio = recorder.stop()
    assert result.returncode == 0, result.stderr[-2000:]
    heard = words(whisper.transcribe(audio, 8000).text)
    assert len(audio) > 8000 * 3, f"only {len(audio) / 8000:.1f} s of audio came back"
    said = [e.data for e in running.service.bus.recent if e.kind in ("caller-heard", "reply-finished")]
    assert "refund" in heard or "refunds" in heard, (" ".join(heard), said)
