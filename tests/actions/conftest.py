"""Fixtures for the actions: a records database on disk, a loopback SMTP relay, and settings pointing at both."""

from __future__ import annotations

import dataclasses

import pytest

from appliance.actions.relay import LoopbackRelay
from appliance.records import open_database
from appliance.settings import Settings


@pytest.fixture
def relay():
    with LoopbackRelay() as running:
        yield running


@pytest.fixture
def settings(tmp_path, relay) -> Settings:
    base = Settings()
    return dataclasses.replace(
        base, paths=dataclasses.replace(base.paths, data_dir=tmp_path),
        smtp=dataclasses.replace(base.smtp, port=relay.port, timeout_s=5.0),
        actions=dataclasses.replace(base.actions, retry_first_s=0.2, retry_max_s=0.4, max_attempts=4))


@pytest.fixture
def records(settings):
    db = open_database(settings.paths.data_dir / "appliance.db")
    yield db
    db.close()
