"""SMS text coding (3GPP TS 23.038): the GSM-7 alphabet, septet packing, UCS2, and splitting a text into parts.

A text goes out in GSM-7 when every character is in the default alphabet or its extension table
(an extension character costs two septets: ESC and its code), and in UCS2 otherwise. UCS2 here is
UTF-16: phones decode it that way, and it is the only way an emoji reaches one.
"""

from __future__ import annotations

# The default alphabet in code order, 0x00-0x7F, written out from the table in TS 23.038 6.2.1.
# 0x1B is the escape to the extension table, not a character.
DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
ESCAPE = 0x1B
EXTENSION = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]",
             0x40: "|", 0x65: "€"}

_SEPTETS = {char: (code,) for code, char in enumerate(DEFAULT_ALPHABET) if code != ESCAPE}
_SEPTETS.update({char: (ESCAPE, code) for code, char in EXTENSION.items()})

SINGLE_LIMIT = {"gsm7": 160, "ucs2": 70}  # septets or UTF-16 units in a message of one part
PART_LIMIT = {"gsm7": 153, "ucs2": 67}  # the same, once a 6-octet concatenation header takes its room
MAX_PARTS = 255  # an 8-bit part count


def fits_gsm7(text: str) -> bool:
    """Whether every character of `text` has a GSM-7 code."""
    return all(char in _SEPTETS for char in text)


def encoding_for(text: str) -> str:
    """`gsm7` when the text fits the GSM alphabet, else `ucs2`."""
    return "gsm7" if fits_gsm7(text) else "ucs2"


def encode_gsm7(text: str) -> list[int]:
    """The septets of `text`; extension characters become ESC and their code."""
    try:
        return [septet for char in text for septet in _SEPTETS[char]]
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]!r} has no GSM-7 code") from None


def decode_gsm7(septets: list[int]) -> str:
    """The text of a list of septets; an escape to an unknown code falls back to the default table, as 23.038 says.
    A value outside 0-127 is a ValueError."""
    chars, escaped = [], False
    for septet in septets:
        if not 0 <= septet <= 0x7F:
            raise ValueError(f"{septet} is not a septet")
        if escaped:
            chars.append(EXTENSION.get(septet, DEFAULT_ALPHABET[septet]))
            escaped = False
        elif septet == ESCAPE:
            escaped = True
        else:
            chars.append(DEFAULT_ALPHABET[septet])
    return "".join(chars)


def pack_septets(septets: list[int], fill_bits: int = 0) -> bytes:
    """Septets packed into octets, least significant bit first, after `fill_bits` zero bits (to align text after a
    user data header)."""
    value = 0
    for position, septet in enumerate(septets):
        value |= septet << (fill_bits + 7 * position)
    return value.to_bytes((fill_bits + 7 * len(septets) + 7) // 8, "little")


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    """The first `count` septets packed in `data` after `fill_bits` bits; a ValueError when `data` is too short for
    them (the zeros past its end would read as @)."""
    if count < 0 or not 0 <= fill_bits < 8:
        raise ValueError(f"cannot unpack {count} septets after {fill_bits} fill bits")
    if fill_bits + 7 * count > 8 * len(data):
        raise ValueError(f"{count} septets after {fill_bits} fill bits need more than the {len(data)} octets there are")
    value = int.from_bytes(data, "little") >> fill_bits
    return [(value >> (7 * position)) & 0x7F for position in range(count)]


def encode_ucs2(text: str) -> bytes:
    """UTF-16 big-endian, the form an SMS carries as UCS2."""
    return text.encode("utf-16-be")


def decode_ucs2(data: bytes) -> str:
    """Text from UCS2 (UTF-16) octets; a broken surrogate becomes U+FFFD rather than an exception."""
    return data.decode("utf-16-be", errors="replace")


def cost(char: str, encoding: str) -> int:
    """Septets (gsm7) or UTF-16 units (ucs2) a character takes: 2 for an extension character or a surrogate pair."""
    if encoding == "gsm7":
        return len(_SEPTETS[char])
    return 2 if ord(char) > 0xFFFF else 1


def split(text: str) -> tuple[str, list[str]]:
    """The encoding and the parts of `text`: one part when it fits, else parts that each fit beside a concatenation
    header.

    A part ends between characters, so an ESC pair or a surrogate pair is never cut in two.
    """
    encoding = encoding_for(text)
    if sum(cost(char, encoding) for char in text) <= SINGLE_LIMIT[encoding]:
        return encoding, [text]
    parts, current, used = [], [], 0
    for char in text:
        if used + cost(char, encoding) > PART_LIMIT[encoding]:
            parts.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += cost(char, encoding)
    parts.append("".join(current))
    if len(parts) > MAX_PARTS:
        raise ValueError(f"a text of {len(text)} characters needs {len(parts)} parts; an SMS has at most {MAX_PARTS}")
    return encoding, parts
