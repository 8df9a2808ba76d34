"""A call's recording in the panel: played back only to a signed-in admin, never a file outside the recordings
folder, and deleted by an admin with the change audited."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from appliance.records.models import AuditLog, Call
from appliance.recordings import store
from appliance.recordings.tee import StereoWavWriter


def recorded(panel, settings) -> Call:
    """A finished call with a real one-second recording, as the call service leaves it."""
    call = panel.seed_call()
    relative = store.new_path(call.id, datetime.now(timezone.utc))
    writer = StereoWavWriter(settings.paths.data_dir / relative)
    for _ in range(50):
        writer.write(np.full(160, 1000, np.int16), np.zeros(160, np.int16))
    writer.close()
    store.finish(call.id, relative, writer.seconds)
    return Call.get_by_id(call.id)


async def test_anonymous_visitors_get_no_audio(client, panel, settings):
    call = recorded(panel, settings)
    response = await client.get(f"/calls/{call.id}/recording", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"].startswith("/login")
    assert b"RIFF" not in await response.read()


async def test_a_signed_in_admin_plays_the_recording_from_the_calls_page(admin, panel, settings):
    call = recorded(panel, settings)
    page = await (await admin.get(f"/calls/{call.id}")).text()
    assert f'<audio controls preload="none" src="/calls/{call.id}/recording"></audio>' in page and "1 s, stereo" in page
    response = await admin.get(f"/calls/{call.id}/recording")
    body = await response.read()
    assert response.status == 200 and response.content_type == "audio/wav"
    assert body[:4] == b"RIFF" and body[8:16] == b"WAVEfmt " and len(body) == 44 + 50 * 160 * 4
    assert body == (settings.paths.data_dir / call.recording).read_bytes()
    ranged = await admin.get(f"/calls/{call.id}/recording", headers={"Range": "bytes=0-11"})
    assert ranged.status == 206 and await ranged.read() == body[:12]  # a player can seek


async def test_a_path_outside_the_recordings_folder_is_never_served(admin, panel, settings):
    call = panel.seed_call()
    (settings.paths.data_dir / "secret.wav").write_bytes(b"RIFF not yours")
    for path in ("recordings/../appliance.db", "../secret.wav", "recordings/../secret.wav",
                 str(settings.paths.data_dir / "secret.wav"), "appliance.db"):
        Call.update(recording=path).where(Call.id == call.id).execute()
        response = await admin.get(f"/calls/{call.id}/recording")
        assert response.status == 404, path
    for url in ("/calls/..%2Fappliance.db/recording", "/calls/1/../../appliance.db", "/calls/999/recording"):
        assert (await admin.get(url)).status == 404, url


async def test_a_call_without_a_recording_says_why(admin, panel, settings):
    call = panel.seed_call()
    page = await (await admin.get(f"/calls/{call.id}")).text()
    assert "Not recorded: recording was off for this call. (Recording is off now" in page and "<audio" not in page
    old = recorded(panel, settings)
    store.sweep(settings.paths.data_dir, 30, datetime.now(timezone.utc) + timedelta(days=31))
    page = await (await admin.get(f"/calls/{old.id}")).text()
    assert "Not recorded: its recording was deleted after 30 days." in page
    assert (await admin.get(f"/calls/{old.id}/recording")).status == 404


async def test_an_admin_deletes_a_recording_and_the_change_is_audited(admin, panel, settings):
    call = recorded(panel, settings)
    page = await (await admin.get(f"/calls/{call.id}")).text()
    action = f'action="/calls/{call.id}/recording/delete"'
    assert action in page
    assert (await admin.post(f"/calls/{call.id}/recording/delete", data={})).status == 403  # no CSRF token
    assert (settings.paths.data_dir / call.recording).is_file()
    csrf = panel.csrf_of(page)
    response = await admin.post(f"/calls/{call.id}/recording/delete", data={"csrf": csrf}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == f"/calls/{call.id}"
    assert not (settings.paths.data_dir / call.recording).exists()
    stored = Call.get_by_id(call.id)
    assert stored.recording == "" and stored.recording_deleted == "by alice"
    assert AuditLog.select().where((AuditLog.who == "alice")
                                   & (AuditLog.what == f"deleted the recording of call {call.id}")).exists()
    assert "its recording was deleted by alice" in await (await admin.get(f"/calls/{call.id}")).text()
    assert (await admin.post(f"/calls/{call.id}/recording/delete", data={"csrf": csrf})).status == 409
