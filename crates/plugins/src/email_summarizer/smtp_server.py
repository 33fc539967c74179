"""An SMTP server for the email_summarizer tests: aiosmtpd on 127.0.0.1.

Usage: smtp_server.py JOURNAL MODE CERT KEY USERNAME PASSWORD

MODE is `plain` (no TLS offered), `starttls` (STARTTLS offered and required before MAIL) or
`tls` (implicit TLS). With a USERNAME, a login is required and only USERNAME/PASSWORD is
accepted. Each mail received is parsed and appended to JOURNAL as one JSON line. Prints its
port, then serves until its stdin closes.
"""

import asyncio
import email
import email.policy
import json
import os
import ssl
import sys
import threading

from aiosmtpd.smtp import SMTP, AuthResult


def main():
    journal, mode, cert, key, username, password = sys.argv[1:7]
    context = None
    if mode in ("starttls", "tls"):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        login = auth_data.login.decode()
        secret = auth_data.password.decode()
        accepted = login == username and secret == password
        # handled=False: aiosmtpd answers the failure (535) itself.
        return AuthResult(
            success=accepted, handled=False, auth_data=auth_data if accepted else None
        )

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            parts = [
                {
                    "content_type": part.get_content_type(),
                    "charset": part.get_content_charset(),
                    "body": part.get_content().replace("\r\n", "\n"),
                }
                for part in message.walk()
                if not part.is_multipart()
            ]
            record = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "content_type": message.get_content_type(),
                "headers": {name: str(value) for name, value in message.items()},
                "parts": parts,
                "tls": server.transport.get_extra_info("ssl_object") is not None,
                "login": (
                    session.auth_data.login.decode()
                    if session.authenticated and session.auth_data
                    else None
                ),
            }
            with open(journal, "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")
            return "250 Message accepted"

    def factory():
        return SMTP(
            Handler(),
            hostname="smtp.test",
            tls_context=context if mode == "starttls" else None,
            require_starttls=(mode == "starttls"),
            authenticator=authenticator if username else None,
            auth_required=bool(username),
            # aiosmtpd sees only STARTTLS as TLS, not a connection that began with TLS.
            auth_require_tls=(mode == "starttls"),
        )

    async def serve():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            factory, host="127.0.0.1", port=0, ssl=context if mode == "tls" else None
        )
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    # The test process holds our stdin: when it goes, so do we.
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    asyncio.run(serve())


if __name__ == "__main__":
    main()
