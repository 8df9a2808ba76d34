"""Caller ID: Bell 202 SDMF and MDMF after the first ring, V.23 and DTMF before it, damaged messages refused."""

from firmware.callerid import CallerIdError, parse_dtmf, parse_message
from firmware.tests.twins import events, quiet_line

NUMBER = "5551234567"
NAME = "JOHN Q PUBLIC"
TIME = "06151230"


def _caller_ids(cadence, **call):
    twin = quiet_line(cadence, call.pop("noise_rms", 3.0))
    twin.call(rings=2, **call)
    said = twin.run(14)
    return events(said, "cid"), said


def test_bell202_sdmf_after_the_first_ring_gives_number_and_time():
    cids, said = _caller_ids("na", number=NUMBER, cid="sdmf", time=TIME)
    assert cids == [{"ev": "cid", "number": NUMBER, "time": TIME, "format": "sdmf"}]
    assert said.index({"ev": "ring", "n": 1}) < said.index(cids[0]) < said.index({"ev": "ring", "n": 2})


def test_bell202_mdmf_gives_number_name_and_time():
    cids, _ = _caller_ids("na", number=NUMBER, name=NAME, cid="mdmf", time=TIME)
    assert cids == [{"ev": "cid", "number": NUMBER, "name": NAME, "time": TIME, "format": "mdmf"}]


def test_v23_before_the_first_ring_after_a_polarity_reversal():
    cids, said = _caller_ids("uk", number="01632960123", name="A N OTHER", cid="v23", time=TIME)
    assert cids == [{"ev": "cid", "number": "01632960123", "name": "A N OTHER", "time": TIME, "format": "v23"}]
    assert said.index(cids[0]) < said.index({"ev": "ring", "n": 1})


def test_v23_after_a_ring_pulse_alert_which_is_no_ring():
    cids, said = _caller_ids("etsi", number="0301234567", cid="v23", alert="ring-pulse")
    assert cids == [{"ev": "cid", "number": "0301234567", "time": "06151230", "format": "v23"}]
    assert events(said, "ring") == [{"ev": "ring", "n": 1}, {"ev": "ring", "n": 2}]


def test_dtmf_caller_id_before_the_first_ring():
    cids, said = _caller_ids("etsi", number="4512345678", cid="dtmf")
    assert cids == [{"ev": "cid", "number": "4512345678", "format": "dtmf"}]
    assert said.index(cids[0]) < said.index({"ev": "ring", "n": 1})


def test_withheld_and_unavailable_numbers_are_reported_as_absent():
    for cadence, cid, absent in (("na", "sdmf", "private"), ("na", "mdmf", "out-of-area"), ("uk", "v23", "private"),
                                 ("etsi", "dtmf", "out-of-area"), ("etsi", "dtmf", "private")):
        cids, _ = _caller_ids(cadence, cid=cid, absent=absent, name="WIRELESS CALLER" if cid == "mdmf" else None)
        assert len(cids) == 1 and "number" not in cids[0] and cids[0]["absent"] == absent, (cid, cids)


def test_a_message_with_a_bad_checksum_passes_on_no_number():
    for cadence, cid in (("na", "sdmf"), ("na", "mdmf"), ("uk", "v23")):
        cids, _ = _caller_ids(cadence, number=NUMBER, name=NAME, cid=cid, corrupt=True)
        format_name = "v23" if cid == "v23" else cid
        assert cids == [{"ev": "cid", "format": format_name, "error": "checksum"}], cids


def test_caller_id_is_decoded_through_line_noise():
    for cadence, cid in (("na", "mdmf"), ("uk", "v23")):
        # -13.5 dBm of FSK (287 counts peak) over 20 counts RMS of noise: 17 dB SNR.
        cids, _ = _caller_ids(cadence, number=NUMBER, name=NAME, cid=cid, noise_rms=20)
        assert [c.get("number") for c in cids] == [NUMBER], cids


def test_a_call_without_caller_id_reports_none():
    cids, said = _caller_ids("na", cid=None)
    assert cids == [] and events(said, "ring") == [{"ev": "ring", "n": 1}, {"ev": "ring", "n": 2}]


def test_the_published_example_messages_parse():
    # The SDMF example that circulates with GR-30: 30 September, 12:24, from 609-555-1212.
    sdmf = bytes.fromhex("0412303933303132323436303935353531323132" + "51")
    assert parse_message(sdmf) == {"time": "09301224", "number": "6095551212"}
    # Its MDMF companion (JOHN DOE, 800-555-1212, 24 March 09:02); the copies print a checksum of
    # 7D, which the two's-complement rule does not give, so it is recomputed here.
    mdmf = bytes.fromhex("80200108303332343039303207084a4f484e20444f45020a38303035353531323132" + "84")
    assert parse_message(mdmf) == {"time": "03240902", "name": "JOHN DOE", "number": "8005551212"}


def test_damaged_messages_raise_with_their_code():
    good = bytes.fromhex("0412303933303132323436303935353531323132" + "51")
    for damaged, code in ((good[:-1] + b"\x52", "checksum"), (good[:-3], "malformed"), (b"\x04", "malformed"),
                          (bytes.fromhex("8003020541") + b"\x35", "malformed")):
        try:
            parse_message(damaged)
        except CallerIdError as error:
            assert str(error) == code, (damaged, error)
        else:
            raise AssertionError("accepted %r" % damaged)


def test_dtmf_caller_id_framings_of_several_countries():
    assert parse_dtmf("A4512345678C") == {"number": "4512345678"}    # ETSI, the Netherlands
    assert parse_dtmf("D9876543210C") == {"number": "9876543210"}    # India
    assert parse_dtmf("A4512345678#") == {"number": "4512345678"}    # Denmark
    assert parse_dtmf("B10C") == {"absent": "private"}
    assert parse_dtmf("B00C") == {"absent": "out-of-area"}
    assert parse_dtmf("D1#") == {"absent": "private"}
    assert parse_dtmf("D3#") == {"absent": "out-of-area"}
    for damaged in ("A45*C5", "C1234C", "A12D3C"):
        try:
            parse_dtmf(damaged)
        except CallerIdError:
            continue
        raise AssertionError("accepted %r" % damaged)
