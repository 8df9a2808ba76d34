"""The outbox and its queue against a real SMTP relay on loopback: sent once, retried when down, failed when refused."""

from __future__ import annotations

import time

from appliance.actions import outbox
from appliance.actions.outbox import Message
from appliance.actions.queue import make_queue
from appliance.records.models import Outbox


def _email(key: str, to: str = "user@example.com") -> Message:
    return Message(key, "email", to, "Our refund policy: 30 days.", subject="TechCorp: refund policy",
                   html="<p>Our refund policy: 30 days.</p>",
                   attachments=({"name": "refund-policy.txt", "type": "text/plain", "text": "30 days"},))


def test_a_queued_email_reaches_the_relay_once_with_its_parts(settings, records, relay):
    queue = make_queue(settings)
    row, created = outbox.put(_email("k1"))
    again, created_again = outbox.put(_email("k1"))
    assert created and not created_again and again.id == row.id
    queue.wake(row.id)
    queue.wake(row.id)  # a second task for the same row sends nothing more
    queue.drain()
    assert len(relay.received) == 1
    mail = relay.received[0]
    assert mail.recipients == ["user@example.com"] and mail.subject == "TechCorp: refund policy"
    assert "30 days" in mail.text() and mail.attachments() == {"refund-policy.txt": "30 days"}
    assert mail.message.get_body(preferencelist=("html",)).get_content().strip().startswith("<p>")
    stored = Outbox.get_by_id(row.id)
    assert stored.state == "sent" and stored.attempts == 1 and stored.reference == mail.message_id


def test_relay_down_then_up_delivers_each_email_once(settings, records, relay):
    queue = make_queue(settings)
    relay.stop()
    rows = [outbox.put(_email(f"down-{n}"))[0] for n in range(3)]
    for row in rows:
        queue.wake(row.id)
    queue.drain()
    waiting = [Outbox.get_by_id(row.id) for row in rows]
    assert all(r.state == "queued" and r.attempts == 1 and "unreachable" in r.last_error for r in waiting)
    relay.start()
    deadline = time.monotonic() + 5
    while Outbox.select().where(Outbox.state != "sent").count() and time.monotonic() < deadline:
        time.sleep(0.1)
        queue.drain()
    assert sorted(mail.message_id for mail in relay.received) == sorted(
        Outbox.get_by_id(row.id).reference for row in rows)
    assert len({mail.message_id for mail in relay.received}) == 3


def test_a_refused_recipient_fails_for_good_with_the_reason(settings, records, relay):
    relay.handler.refuse["nobody@example.com"] = "550 5.1.1 no such user"
    queue = make_queue(settings)
    row, _ = outbox.put(_email("refused", to="nobody@example.com"))
    queue.wake(row.id)
    queue.drain()
    time.sleep(0.3)
    queue.drain()
    stored = Outbox.get_by_id(row.id)
    assert stored.state == "failed" and stored.attempts == 1 and "no such user" in stored.last_error
    assert relay.received == []


def test_a_relay_that_stays_down_is_given_up_after_max_attempts(settings, records, relay):
    relay.stop()
    queue = make_queue(settings)
    row, _ = outbox.put(_email("never"))
    queue.wake(row.id)
    deadline = time.monotonic() + 5
    while Outbox.get_by_id(row.id).state != "failed" and time.monotonic() < deadline:
        queue.drain()
        time.sleep(0.1)
    stored = Outbox.get_by_id(row.id)
    assert stored.state == "failed" and stored.attempts == settings.actions.max_attempts
    assert "gave up after 4 tries" in stored.last_error


def test_a_message_caught_mid_send_goes_back_to_the_queue(settings, records):
    row, _ = outbox.put(_email("mid"))
    from datetime import datetime, timezone

    assert outbox.claim(row.id, datetime.now(timezone.utc)) is not None
    assert outbox.claim(row.id, datetime.now(timezone.utc)) is None  # only one sender can take it
    assert outbox.recover() == [row.id]
    assert Outbox.get_by_id(row.id).state == "queued"


def test_stop_opts_the_sender_out_and_texts_already_queued_are_not_sent(settings, records):
    from appliance.actions.queue import incoming_sms
    from appliance.records.models import Lead

    row, _ = outbox.put(Message("to-stop", "sms", "+919876543210", "Your callback is booked."))
    assert not incoming_sms("+919876543210", "Thanks!")
    assert incoming_sms("+919876543210", " Stop ")
    assert Lead.get(Lead.phone == "+919876543210").sms_opt_out
    make_queue(settings, channels={"sms": None}).wake(row.id)  # the channel is never reached
    make_queue(settings, channels={"sms": None}).drain()
    stored = Outbox.get_by_id(row.id)
    assert stored.state == "failed" and "opted out" in stored.last_error


def test_callbacks_become_due_when_their_time_comes(records):
    from datetime import datetime, timezone

    from appliance.actions.queue import mark_due_callbacks
    from appliance.records.models import Callback

    for at in ("2025-10-06T10:00:00+05:30", "2025-10-06T14:00:00+05:30"):
        moment = datetime.fromisoformat(at)
        Callback.create(phone="+919876543210", at=at, at_utc=moment.astimezone(timezone.utc).isoformat())
    assert mark_due_callbacks(datetime.fromisoformat("2025-10-06T12:00:00+05:30")) == 1
    assert [c.state for c in Callback.select().order_by(Callback.id)] == ["due", "scheduled"]


def test_starttls_and_login_when_the_relay_wants_them(settings, records, tmp_path):
    import dataclasses
    import subprocess

    from appliance.actions.relay import LoopbackRelay

    cert, key = tmp_path / "relay.pem", tmp_path / "relay.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    with LoopbackRelay(tls=(cert, key), login=("appliance", "s3cret")) as secure:
        smtp = dataclasses.replace(settings.smtp, port=secure.port, starttls=True, ca_file=str(cert),
                                   username="appliance", password="wrong")
        queue = make_queue(dataclasses.replace(settings, smtp=smtp))
        row, _ = outbox.put(_email("tls"))
        queue.wake(row.id)
        queue.drain()
        stored = Outbox.get_by_id(row.id)
        assert stored.state == "queued" and "refused the login" in stored.last_error  # waits for a fixed password
        assert secure.received == []
        smtp = dataclasses.replace(smtp, password="s3cret")
        queue = make_queue(dataclasses.replace(settings, smtp=smtp))
        time.sleep(0.25)
        queue.wake(row.id)
        queue.drain()
        assert Outbox.get_by_id(row.id).state == "sent" and len(secure.received) == 1


def test_a_cancelled_email_is_never_sent_nor_woken_again(settings, records, relay):
    from datetime import datetime, timezone

    from appliance.panel.changes import cancel_message

    queue = make_queue(settings)
    row, _ = outbox.put(_email("cancel-me"))
    queue.wake(row.id)  # a task is already waiting when the admin cancels
    assert cancel_message(row.id, "alice")
    queue.drain()
    assert relay.received == [] and outbox.claim(row.id, datetime.now(timezone.utc)) is None
    assert row.id not in outbox.recover()  # a restarted worker does not wake it either
    stored = Outbox.get_by_id(row.id)
    assert stored.state == "cancelled" and stored.attempts == 0 and stored.last_error == "cancelled by alice"
