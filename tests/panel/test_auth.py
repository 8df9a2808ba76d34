"""Passwords, sessions and the login limit, without a server: scrypt hashes, signed cookies, a given clock."""

from __future__ import annotations

from appliance.panel.auth import LoginLimiter, Sessions, hash_password, verify_password
from appliance.records import open_database


def test_a_password_hash_names_its_parameters_and_verifies_only_the_password():
    stored = hash_password("s3cret pass")
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1") and len(bytes.fromhex(salt)) == 16
    assert verify_password("s3cret pass", stored)
    assert not verify_password("s3cret pasS", stored) and not verify_password("", stored)
    assert hash_password("s3cret pass") != stored  # a fresh salt each time
    assert not verify_password("x", "bcrypt$1$2$3$00$00") and not verify_password("x", "garbage")


def test_a_session_cookie_cannot_be_forged_altered_or_used_after_it_expires():
    sessions = Sessions(b"k" * 32)
    session = sessions.new("alice", now=1000.0, lifetime_s=60)
    value = sessions.dump(session)
    assert sessions.load(value, now=1059.0) == session
    assert sessions.load(value, now=1061.0) is None
    data, mac = value.split(".")
    assert sessions.load(f"{data}.{'0' * len(mac)}", now=1000.0) is None
    forged = Sessions(b"x" * 32).dump(Sessions(b"x" * 32).new("mallory", 1000.0, 60))
    assert sessions.load(forged, now=1000.0) is None
    assert sessions.load("", 1000.0) is None and sessions.load("a.b.c", 1000.0) is None


def test_a_csrf_token_belongs_to_one_session():
    sessions = Sessions(b"k" * 32)
    one, other = sessions.new("alice", 0, 60), sessions.new("alice", 0, 60)
    assert sessions.csrf_ok(one, sessions.csrf_token(one))
    assert not sessions.csrf_ok(one, sessions.csrf_token(other))
    assert not sessions.csrf_ok(one, "") and not sessions.csrf_ok(one, None) and not sessions.csrf_ok(None, "x")


def test_the_login_limit_counts_attempts_per_address_within_the_window(tmp_path):
    db = open_database(tmp_path / "appliance.db")
    try:
        limiter = LoginLimiter(failures=5, window_s=300)
        for second in range(5):
            assert limiter.reserve("192.0.2.1", now=second) == 0  # recorded before the password is checked
        assert limiter.reserve("192.0.2.1", now=10) == 290  # the first attempt leaves the window at 300
        assert limiter.reserve("192.0.2.2", now=10) == 0  # another address is not held back
        assert LoginLimiter(failures=5, window_s=300).reserve("192.0.2.1", now=11) == 289  # kept in the database
        assert limiter.reserve("192.0.2.1", now=300.5) == 0
        limiter.reserve("192.0.2.3", now=0)
        limiter.succeeded("192.0.2.3")
        assert all(limiter.reserve("192.0.2.3", now=1) == 0 for _ in range(5))
    finally:
        db.close()
