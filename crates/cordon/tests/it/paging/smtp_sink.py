"""The mail relay of the paging tests: an aiosmtpd server that requires STARTTLS.

Usage: smtp_sink.py MAILDIR CERT KEY

Listens on 127.0.0.1 on a port the OS picks and prints that port on the first line of
stdout. It offers STARTTLS and refuses MAIL before it, so a client that does not upgrade
delivers nothing. Each accepted mail becomes MAILDIR/<n>.json with its envelope, whether it
arrived encrypted, and its subject, plain-text and HTML parts. Runs until killed.
"""

import asyncio
import email
import email.policy
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP


class Maildir:
    def __init__(self, path):
        self.path = path
        self.received = 0

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = {}
        for kind in ("plain", "html"):
            part = message.get_body(preferencelist=(kind,))
            parts[kind] = part.get_content() if part is not None else None
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "encrypted": server.transport.get_extra_info("ssl_object") is not None,
            "subject": str(message["subject"]),
            "text": parts["plain"],
            "html": parts["html"],
        }
        self.received += 1
        final = os.path.join(self.path, f"{self.received:04}.json")
        # Renamed into place, so the test never reads a half-written mail.
        with open(final + ".part", "w", encoding="utf-8") as out:
            json.dump(record, out)
        os.replace(final + ".part", final)
        return "250 2.0.0 accepted"


async def main():
    maildir, cert, key = sys.argv[1:4]
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    handler = Maildir(maildir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="localhost", tls_context=tls, require_starttls=True),
        host="127.0.0.1",
        port=0,
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
