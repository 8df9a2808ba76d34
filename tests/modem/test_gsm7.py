"""GSM-7 and UCS2 text coding, septet packing and splitting, against values worked out from 3GPP TS 23.038."""

from __future__ import annotations

import pytest

from appliance.modem import gsm7


def test_hellohello_packs_to_the_classic_octets():
    assert gsm7.pack_septets(gsm7.encode_gsm7("hellohello")).hex().upper() == "E8329BFD4697D9EC37"


def test_unpacking_gives_the_septets_back():
    septets = gsm7.unpack_septets(bytes.fromhex("E8329BFD4697D9EC37"), 10)
    assert gsm7.decode_gsm7(septets) == "hellohello"


def test_fill_bits_shift_the_text_after_a_header():
    # 'x' is 0x78; one fill bit puts it at bits 1-7 of the first octet: 0xF0. 'y' (0x79) then starts the next.
    assert gsm7.pack_septets([0x78], fill_bits=1) == bytes([0xF0])
    assert gsm7.pack_septets([0x78, 0x79], fill_bits=1) == bytes([0xF0, 0x79])
    assert gsm7.unpack_septets(bytes([0xF0, 0x79]), 2, fill_bits=1) == [0x78, 0x79]


def test_stop_packs_by_hand():
    # S=1010011 T=1010100 O=1001111 P=1010000, least significant bit first: 53 EA 13 0A
    assert gsm7.pack_septets(gsm7.encode_gsm7("STOP")) == bytes.fromhex("53EA130A")


@pytest.mark.parametrize("char, septets", [
    ("@", [0x00]), ("£", [0x01]), ("$", [0x02]), ("¤", [0x24]), ("¡", [0x40]), ("Ä", [0x5B]), ("§", [0x5F]),
    ("¿", [0x60]), ("à", [0x7F]), ("Δ", [0x10]), ("\n", [0x0A]),
    ("€", [0x1B, 0x65]), ("[", [0x1B, 0x3C]), ("]", [0x1B, 0x3E]), ("{", [0x1B, 0x28]), ("}", [0x1B, 0x29]),
    ("\\", [0x1B, 0x2F]), ("~", [0x1B, 0x3D]), ("|", [0x1B, 0x40]), ("^", [0x1B, 0x14]),
])
def test_default_and_extension_codes(char, septets):
    assert gsm7.encode_gsm7(char) == septets
    assert gsm7.decode_gsm7(septets) == char


def test_the_whole_alphabet_round_trips():
    text = gsm7.DEFAULT_ALPHABET.replace("\x1b", "") + "".join(gsm7.EXTENSION.values())
    assert gsm7.decode_gsm7(gsm7.unpack_septets(gsm7.pack_septets(gsm7.encode_gsm7(text)), len(text) + 10)) == text


def test_an_escape_to_an_unknown_code_shows_the_default_character():
    assert gsm7.decode_gsm7([0x1B, 0x41]) == "A"


def test_choosing_the_encoding():
    assert gsm7.encoding_for("Your order #1234 ships today, 12€ refunded [ok]") == "gsm7"
    assert gsm7.encoding_for("garçon") == "ucs2"  # GSM-7 has Ç but not ç
    assert gsm7.encoding_for("नमस्ते") == "ucs2"
    assert gsm7.encoding_for("ok 👍") == "ucs2"


def test_characters_outside_gsm7_are_refused():
    with pytest.raises(ValueError, match="GSM-7"):
        gsm7.encode_gsm7("ç")


def test_ucs2_is_utf16_so_emoji_survive():
    assert gsm7.encode_ucs2("न👍") == bytes.fromhex("0928D83DDC4D")
    assert gsm7.decode_ucs2(bytes.fromhex("0928D83DDC4D")) == "न👍"


@pytest.mark.parametrize("length, sizes", [(160, [160]), (161, [153, 8]), (400, [153, 153, 94])])
def test_gsm7_texts_split_at_153_septets(length, sizes):
    encoding, parts = gsm7.split("a" * length)
    assert (encoding, [len(part) for part in parts]) == ("gsm7", sizes)


def test_an_escape_pair_is_never_cut():
    encoding, parts = gsm7.split("a" * 152 + "€" + "b" * 20)
    assert parts[0] == "a" * 152  # the € needs two septets and only one is left
    assert parts[1].startswith("€")


@pytest.mark.parametrize("length, sizes", [(70, [70]), (71, [67, 4])])
def test_ucs2_texts_split_at_67_units(length, sizes):
    encoding, parts = gsm7.split("ж" * length)
    assert (encoding, [len(part) for part in parts]) == ("ucs2", sizes)


def test_a_surrogate_pair_is_never_cut():
    encoding, parts = gsm7.split("a" * 66 + "😀" + "b" * 10)
    assert parts == ["a" * 66, "😀" + "b" * 10]  # 66 units + 2 would be 68, over 67
    assert all(len(gsm7.encode_ucs2(part)) <= 134 for part in parts)


def test_more_than_255_parts_is_refused():
    with pytest.raises(ValueError, match="at most 255"):
        gsm7.split("a" * 153 * 256)
