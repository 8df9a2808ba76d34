"""Registration mode against sipp as a PBX registrar: REGISTER, the digest challenge, the answer to it, and the
refresh before the binding runs out."""

from __future__ import annotations

import asyncio

from appliance.line.sip import SipServer


async def register_for(port: int, password: str, seconds: float) -> None:
    server = SipServer("127.0.0.1", 0, user="support", registrar=f"127.0.0.1:{port}", username="alice",
                       password=password, register_expires_s=5)
    await server.start()
    try:
        await asyncio.sleep(seconds)
    finally:
        await server.close()


def test_the_appliance_registers_with_digest_auth_and_refreshes_before_expiry(callee):
    registrar = callee("registrar.xml", sets={"user": "alice", "password": "s3cret"}, timeout=30)
    asyncio.run(register_for(registrar.port, "s3cret", 9))  # expires 5 s: the refresh goes after 4 s
    assert registrar.wait(20) == 0, registrar.output()
    assert registrar.output().count("registered for 5 s") == 2, registrar.output()


def test_a_wrong_password_does_not_pass_the_registrars_check(callee):
    registrar = callee("registrar.xml", sets={"user": "alice", "password": "s3cret"}, timeout=30)
    asyncio.run(register_for(registrar.port, "wrong", 3))
    assert registrar.wait(20) != 0
    assert "authorization failed" in registrar.output()
