"""HTTPS with `[panel] certificate` and `key`: the panel answers over TLS and its cookie is Secure."""

from __future__ import annotations

import dataclasses
import shutil
import ssl
import subprocess

import aiohttp
import pytest
from aiohttp import web

from appliance.errors import ApplianceError
from appliance.panel.app import make_app, tls_context


@pytest.fixture
def certificate(tmp_path) -> tuple[str, str]:
    if not shutil.which("openssl"):
        pytest.skip("needs openssl to make a self-signed certificate")
    cert, key = tmp_path / "panel.crt", tmp_path / "panel.key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                    "-days", "1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return str(cert), str(key)


def test_a_certificate_without_its_key_is_refused(settings):
    incomplete = dataclasses.replace(settings, panel=dataclasses.replace(settings.panel, certificate="/x.crt"))
    with pytest.raises(ApplianceError, match="panel-tls-incomplete"):
        tls_context(incomplete)
    assert tls_context(settings) is None


async def test_the_panel_serves_https_with_a_secure_cookie(settings, records, certificate):
    cert, key = certificate
    settings = dataclasses.replace(settings, panel=dataclasses.replace(settings.panel, certificate=cert, key=key))
    runner = web.AppRunner(make_app(settings, tls=True))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls_context(settings))
    await site.start()
    port = runner.addresses[0][1]
    trust = ssl.create_default_context(cafile=cert)
    trust.check_hostname = False
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"https://127.0.0.1:{port}/health", ssl=trust) as response:
                assert response.status == 200 and (await response.json())["database"] is True
            async with session.get(f"https://127.0.0.1:{port}/login", ssl=trust) as response:
                assert response.cookies["panel_session"]["secure"]
    finally:
        await runner.cleanup()
