"""Line statuses without I/O: what a registrar's answer means, that a refresh saying nothing new is still
published (it moves the expiry), and that a REGISTER with no answer at all fails the line and is tried again."""

from __future__ import annotations

from appliance.line import status as line_status
from appliance.line.status import LineStatuses
from appliance.sip.agent import RequestDone, Send, UserAgent
from appliance.sip.digest import DigestClient

LINE, PBX = "sip://0.0.0.0:5060", "192.0.2.10:5060"


def test_the_registrars_answers_mean_what_a_technician_can_act_on():
    ok = line_status.registration_answered(LINE, PBX, 200, "OK", 300, True)
    assert (ok.state, ok.health, ok.expires_s) == ("registered", "ok", 300)
    unasked = line_status.registration_answered(LINE, PBX, 401, "Unauthorized", None, False)
    assert unasked.health == "fail" and "asks for a password" in unasked.detail and "sip_password" in unasked.fix
    timeout = line_status.registration_answered(LINE, PBX, 408, "no response", None, True)
    assert "no answer from 192.0.2.10:5060" in timeout.detail and "firewall" in timeout.fix
    other = line_status.registration_answered(LINE, PBX, 503, "Service Unavailable", None, True)
    assert "503 Service Unavailable" in other.detail and other.health == "fail"


def test_changes_and_refreshes_are_published_and_the_latest_is_kept_per_line():
    published = []
    statuses = LineStatuses(published.append)
    statuses.update(line_status.listening("audiosocket://127.0.0.1:9092", "listening"))
    statuses.update(line_status.listening("audiosocket://127.0.0.1:9092", "listening"))  # nothing new
    statuses.update(line_status.registering(LINE, PBX))
    statuses.update(line_status.registration_answered(LINE, PBX, 200, "OK", 300, True))
    statuses.update(line_status.registration_answered(LINE, PBX, 200, "OK", 300, True))  # a refresh
    assert [status.state for status in published] == ["listening", "registering", "registered", "registered"]
    assert [(status.line, status.state) for status in statuses.current()] == [
        ("audiosocket://127.0.0.1:9092", "listening"), (LINE, "registered")]


def test_a_register_nobody_answers_ends_in_408_and_is_tried_again_a_minute_later():
    agent = UserAgent("127.0.0.1", 5060, credentials=DigestClient("alice", "s3cret"))
    assert isinstance(agent.register(("192.0.2.10", 5060), now=0.0, expires=300)[0], Send)
    assert agent.registering()
    done = [output for output in agent.tick(40.0) if isinstance(output, RequestDone)]
    assert [(d.method, d.status, d.reason) for d in done] == [("REGISTER", 408, "no response")]
    assert not agent.registering() and agent.registration["refresh_at"] == 100.0
    status = line_status.registration_answered(LINE, PBX, done[0].status, done[0].reason, None, True)
    assert status.state == "failed" and "tried again in a minute" in status.detail
