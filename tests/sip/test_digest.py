"""Digest answers to 401/407 challenges, checked against the worked examples of RFC 2617 and RFC 7616."""

from __future__ import annotations

import hashlib

import pytest

from appliance.errors import ApplianceError
from appliance.sip.digest import Challenge, DigestClient, auth_params, choose, digest_response
from appliance.sip.message import parse

RFC2617 = ('Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
           'opaque="5ccc069c403ebaf9f0171e9517f40e41"')
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def rfc7616(algorithm: str) -> str:
    return (f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
            f'nonce="{RFC7616_NONCE}", opaque="{RFC7616_OPAQUE}"')


def test_the_rfc_2617_example():
    challenge = Challenge.parse(RFC2617)
    assert challenge.qop == ("auth", "auth-int") and challenge.algorithm == "MD5"
    value = DigestClient("Mufasa", "Circle Of Life").authorization(challenge, "GET", "/dir/index.html",
                                                                   cnonce="0a4f113b")
    assert value == ('Digest username="Mufasa", realm="testrealm@host.com", '
                     'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", '
                     'response="6629fae49393a05397450978507c4ef1", algorithm=MD5, '
                     'opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001, cnonce="0a4f113b"')


@pytest.mark.parametrize("algorithm, response", [
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
])
def test_the_rfc_7616_examples(algorithm, response):
    challenge = Challenge.parse(rfc7616(algorithm))
    assert (challenge.algorithm, challenge.opaque) == (algorithm, RFC7616_OPAQUE)
    assert digest_response(challenge, "Mufasa", "Circle of Life", "GET", "/dir/index.html",
                           RFC7616_CNONCE, 1) == (response, "auth")
    value = DigestClient("Mufasa", "Circle of Life").authorization(challenge, "GET", "/dir/index.html",
                                                                   cnonce=RFC7616_CNONCE)
    params = auth_params(value.removeprefix("Digest "))
    assert params["response"] == response and params["nc"] == "00000001" and params["algorithm"] == algorithm


def test_nc_counts_uses_of_one_nonce_and_restarts_with_a_new_one():
    client = DigestClient("2001", "secret")
    first = Challenge.parse('Digest realm="pbx", nonce="n1", qop="auth"')
    counts = [auth_params(client.authorization(first, "REGISTER", "sip:pbx")[7:])["nc"] for _ in range(3)]
    assert counts == ["00000001", "00000002", "00000003"]
    fresh = Challenge.parse('Digest realm="pbx", nonce="n2", qop="auth", stale=TRUE')
    assert fresh.stale
    assert auth_params(client.authorization(fresh, "REGISTER", "sip:pbx")[7:])["nc"] == "00000001"
    cnonces = {auth_params(client.authorization(fresh, "REGISTER", "sip:pbx")[7:])["cnonce"] for _ in range(3)}
    assert len(cnonces) == 3


def test_a_server_that_asks_for_no_qop_gets_rfc_2069_answers():
    challenge = Challenge.parse('Digest realm="asterisk",nonce="4c3a1b2e"')
    value = DigestClient("2001", "secret").authorization(challenge, "INVITE", "sip:100@pbx")
    ha1 = hashlib.md5(b"2001:asterisk:secret").hexdigest()
    ha2 = hashlib.md5(b"INVITE:sip:100@pbx").hexdigest()
    assert auth_params(value[7:]) == {"username": "2001", "realm": "asterisk", "nonce": "4c3a1b2e",
                                      "uri": "sip:100@pbx", "algorithm": "MD5",
                                      "response": hashlib.md5(f"{ha1}:4c3a1b2e:{ha2}".encode()).hexdigest()}


def test_md5_sess_folds_the_nonces_into_ha1():
    challenge = Challenge.parse('Digest realm="r", nonce="n", qop="auth", algorithm=MD5-sess')
    ha1 = hashlib.md5(f"{hashlib.md5(b'u:r:p').hexdigest()}:n:c".encode()).hexdigest()
    ha2 = hashlib.md5(b"REGISTER:sip:r").hexdigest()
    expected = hashlib.md5(f"{ha1}:n:00000001:c:auth:{ha2}".encode()).hexdigest()
    assert digest_response(challenge, "u", "p", "REGISTER", "sip:r", "c", 1) == (expected, "auth")


def test_the_challenge_in_a_401_capture(captures):
    unauthorized = parse(captures["401"])
    challenge = Challenge.parse(unauthorized.get("WWW-Authenticate"))
    assert (challenge.realm, challenge.nonce, challenge.qop) == ("pbx.example.net", "Yv3kZ2L8c1l0Qm9uY2U", ("auth",))


def test_choose_takes_the_first_challenge_it_can_answer():
    chosen = choose(['Digest realm="r", nonce="a", algorithm=SHA-512-256', 'Basic realm="r"',
                     'Digest realm="r", nonce="b", algorithm=SHA-256'])
    assert (chosen.nonce, chosen.algorithm) == ("b", "SHA-256")
    with pytest.raises(ApplianceError) as error:
        choose(['Basic realm="r"'])
    assert error.value.code == "sip-auth-unsupported"


@pytest.mark.parametrize("value, code", [
    ('Digest realm="r"', "sip-malformed"),
    ('Digest realm="r", nonce="unclosed', "sip-malformed"),
    ('Digest realm="r" nonce="n"', "sip-malformed"),
    ('Digest realm="r", nonce="n", algorithm=SHA-1', "sip-auth-unsupported"),
    ('NTLM realm="r"', "sip-auth-unsupported"),
    ("", "sip-auth-unsupported"),
])
def test_bad_challenges(value, code):
    with pytest.raises(ApplianceError) as error:
        Challenge.parse(value)
    assert error.value.code == code
