"""A real SMTP server for cordon-notify's tests, built on aiosmtpd.

Listens on 127.0.0.1 on a port the OS picks and prints that port on the first line of
stdout. Each accepted mail is written to <maildir>/<n>.json with the envelope, whether the
session was encrypted, and the parsed subject, text and HTML parts. Recipients whose local
part is "nobody" are refused with 550, "busy" with 451. Runs until killed.

Modes: starttls (STARTTLS offered and required before MAIL), plain (no TLS offered),
implicit (TLS from the first byte).
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl

from aiosmtpd.smtp import SMTP


class Handler:
    def __init__(self, maildir):
        self.maildir = maildir
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        if local == "nobody":
            return "550 5.1.1 no such user here"
        if local == "busy":
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        plain = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "subject": str(message["subject"]),
            "auto_submitted": message["auto-submitted"],
            "text": plain.get_content() if plain is not None else None,
            "html": html.get_content() if html is not None else None,
        }
        self.count += 1
        path = os.path.join(self.maildir, f"{self.count:04}.json")
        # Written under another name and renamed, so the test never reads half a file.
        with open(path + ".tmp", "w", encoding="utf-8") as out:
            json.dump(record, out)
        os.replace(path + ".tmp", path)
        return "250 2.0.0 accepted"


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["starttls", "plain", "implicit"], required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()

    context = None
    if args.mode != "plain":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)

    handler = Handler(args.maildir)

    def factory():
        if args.mode == "starttls":
            return SMTP(handler, hostname="localhost", tls_context=context, require_starttls=True)
        return SMTP(handler, hostname="localhost")

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        factory,
        host="127.0.0.1",
        port=0,
        ssl=context if args.mode == "implicit" else None,
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
