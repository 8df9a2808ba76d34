"""Email out through the configured relay with aiosmtplib: plain text and HTML, attachments, a stable Message-ID."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from appliance.actions.channels import DeliveryError
from appliance.settings import Smtp


def build(row, sender: str) -> EmailMessage:
    """The MIME message for an outbox row; its Message-ID comes from the row's key, so a resend keeps it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Date"] = formatdate(localtime=True)
    domain = sender.rpartition("@")[2].strip("> ") or "appliance.local"
    message["Message-ID"] = f"<{row.key}@{domain}>"
    message.set_content(row.body)
    if row.html:
        message.add_alternative(row.html, subtype="html")
    for attachment in row.attachments:
        maintype, _, subtype = attachment["type"].partition("/")
        data = attachment["text"].encode("utf-8")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=attachment["name"])
    return message


class SmtpEmailer:
    """Sends outbox rows of the email channel to the relay in `[smtp]`."""

    def __init__(self, smtp: Smtp):
        self.smtp = smtp

    async def send(self, row) -> str:
        """Send one message; returns its Message-ID. A 5xx answer is permanent; anything else is tried again."""
        message = build(row, self.smtp.sender)
        try:
            await aiosmtplib.send(message, hostname=self.smtp.host, port=self.smtp.port,
                                  start_tls=self.smtp.starttls or None, username=self.smtp.username or None,
                                  password=self.smtp.password or None, timeout=self.smtp.timeout_s,
                                  cert_bundle=self.smtp.ca_file or None)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            raise DeliveryError(f"relay refused {row.recipient}: {exc.recipients[0].message}",
                                permanent=all(code >= 500 for code in codes)) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"relay refused the login: {exc.code} {exc.message}", permanent=False) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"relay said {exc.code} {exc.message}", permanent=exc.code >= 500) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"relay {self.smtp.host}:{self.smtp.port} unreachable: {exc}", permanent=False) from None
        return message["Message-ID"]
