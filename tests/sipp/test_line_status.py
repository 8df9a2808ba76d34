"""A SIP line's status against sipp as the PBX's registrar: registered (for how long the 200 says) after a REGISTER
with digest auth, failed with the registrar's cause after a 403 or a 401 to the digest answer, and listening in trunk
mode."""

from __future__ import annotations

import asyncio

from appliance.line.sip import SipServer

WAIT_S = 20.0  # a bound on waiting for sipp and the retransmissions, never a measure of speed


async def status_after(registrar: str, password: str, until) -> list:
    """The line's statuses from its start until one satisfies `until` (or WAIT_S passes)."""
    seen: list = []
    reached = asyncio.Event()

    def heard(status) -> None:
        seen.append(status)
        if until(status):
            reached.set()

    server = SipServer("127.0.0.1", 0, user="support", registrar=registrar, username="alice", password=password,
                       register_expires_s=5, on_status=heard)
    await server.start()
    try:
        await asyncio.wait_for(reached.wait(), WAIT_S)
    finally:
        await server.close()
    return seen


def test_a_line_is_registered_after_the_registrars_200_with_the_expiry_it_granted(callee):
    registrar = callee("registrar.xml", sets={"user": "alice", "password": "s3cret"}, timeout=30)
    seen = asyncio.run(status_after(f"127.0.0.1:{registrar.port}", "s3cret", lambda s: s.state == "registered"))
    assert seen[0].state == "registering" and seen[0].health == "warn"
    last = seen[-1]
    assert last.state == "registered" and last.health == "ok" and last.status == 200 and last.expires_s == 5
    assert last.registrar == f"127.0.0.1:{registrar.port}" and last.line.startswith("sip://127.0.0.1:")
    assert "registered with" in last.detail and "for 5 s" in last.detail


def test_a_403_after_the_digest_answer_fails_the_line_with_the_cause_and_what_to_do(callee):
    registrar = callee("registrar_forbidden.xml", timeout=30)
    seen = asyncio.run(status_after(f"127.0.0.1:{registrar.port}", "s3cret", lambda s: s.status == 403))
    last = seen[-1]
    assert last.state == "failed" and last.health == "fail"
    assert "403 Forbidden" in last.detail and "refuses this extension" in last.detail
    assert "sip_username" in last.fix
    assert registrar.wait(20) == 0, registrar.output()


def test_a_401_to_the_digest_answer_says_the_password_was_refused(callee):
    registrar = callee("registrar_unauthorized.xml", timeout=30)
    seen = asyncio.run(status_after(f"127.0.0.1:{registrar.port}", "wrong", lambda s: s.status == 401))
    last = seen[-1]
    assert last.state == "failed" and "password was refused" in last.detail
    assert "sip_password" in last.fix


async def test_a_line_without_a_registrar_is_listening_for_the_trunk():
    seen: list = []
    server = SipServer("127.0.0.1", 0, allow="127.0.0.1, 10.0.0.0/8", on_status=seen.append)
    await server.start()
    await server.close()
    assert [status.state for status in seen] == ["listening"] and seen[0].health == "ok"
    assert f"UDP 127.0.0.1:{server.port}" in seen[0].detail and "10.0.0.0/8" in seen[0].detail
