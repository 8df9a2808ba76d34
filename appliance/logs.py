"""What the log may say: one line per record, phone numbers and email addresses masked, journal levels."""

from __future__ import annotations

import logging
import re

# A phone number: an optional +, then 7 to 15 digits with at most one space or dash between them, not part
# of an address, a time or a longer word.
PHONE = re.compile(r"(?<![\w+])(?<!\d[.:-])\+?\d(?:[ -]?\d){6,14}(?!\w|[.:-]\d)")
DATE = re.compile(r"\d{4}-\d\d-\d\d")
EMAIL = re.compile(r"(?<![\w.+*-])(?<!sip:)(?<!sips:)([\w.+-])[\w.+-]*@([\w-]+(?:\.[\w-]+)+)")
# systemd reads a "<N>" prefix on a line as its syslog priority.
PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def _phone(match: re.Match) -> str:
    text = match.group(0)
    if DATE.search(text):
        return text
    plus, digits = "+" * text.startswith("+"), re.sub(r"\D", "", text)
    head, tail = (4, 3) if len(digits) >= 10 else (2, 2)
    return f"{plus}{digits[:head]}****{digits[-tail:]}"


def mask(text: str) -> str:
    """The text with each phone number cut to its first and last digits (+4477****123), emails to m***@host."""
    return EMAIL.sub(r"\1***@\2", PHONE.sub(_phone, text))


class MaskingFormatter(logging.Formatter):
    """Masks numbers and addresses; for the journal, one line per record with its syslog priority."""

    def __init__(self, fmt: str, journal: bool = False, masking: bool = True):
        super().__init__(fmt)
        self.journal, self.masking = journal, masking

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if self.masking:
            text = mask(text)
        if self.journal:
            text = f"<{PRIORITY.get(record.levelno, 6)}>" + text.replace("\n", " | ")
        return text


def configure(verbose: bool, journal: bool) -> None:
    """Log to stderr: WARNING and up (INFO for the services), everything with --verbose, unmasked only then.

    Like logging.basicConfig, it leaves a root logger that already has handlers (a test's) alone.
    """
    handler = logging.StreamHandler()
    fmt = "%(levelname)s %(name)s: %(message)s" if journal else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(MaskingFormatter(fmt, journal=journal, masking=not verbose))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, handlers=[handler])
