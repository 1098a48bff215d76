"""A real SMTP server for Sluice's email tests, on aiosmtpd (installed by scripts/install-deps into
.build/test-tools): it listens on loopback, prints "port N" once it accepts connections, and writes each
message it accepts to DIR/NNNN.eml (exactly the bytes received) with the envelope in DIR/NNNN.json
(mail_from, rcpt_tos, whether TLS was on, who authenticated). Options: STARTTLS offered and required
(--starttls CERT KEY), implicit TLS (--smtps CERT KEY), AUTH required (--auth USER:PASSWORD), the first N
messages deferred with a 451 reply (--defer N), every message refused with a 550 reply (--reject)."""
import argparse
import asyncio
import json
import os
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, directory, defer, reject):
        self.directory = directory
        self.defer = defer
        self.reject = reject
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        if self.reject:
            return "550 5.7.1 refused by the test"
        if self.defer > 0:
            self.defer -= 1
            return "451 4.3.0 try again later"
        self.count += 1
        base = os.path.join(self.directory, "%04d" % self.count)
        with open(base + ".json", "w") as meta:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                       "tls": server.transport.get_extra_info("ssl_object") is not None,
                       "login": session.auth_data.login.decode() if session.auth_data else ""}, meta)
        with open(base + ".tmp", "wb") as message:
            message.write(envelope.original_content)
        os.rename(base + ".tmp", base + ".eml")
        return "250 2.0.0 accepted"


def context(certificate, key):
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certificate, key)
    return tls


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--directory", required=True)
    parser.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--smtps", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--auth")
    parser.add_argument("--defer", type=int, default=0)
    parser.add_argument("--reject", action="store_true")
    options = parser.parse_args()
    sink = Sink(options.directory, options.defer, options.reject)
    user, _, password = (options.auth or "").partition(":")

    def authenticate(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and data.login.decode() == user and data.password.decode() == password
        return AuthResult(success=ok, auth_data=data if ok else None)

    def protocol():
        return SMTP(sink, hostname="sink.test", tls_context=context(*options.starttls) if options.starttls else None,
                    require_starttls=bool(options.starttls), auth_required=bool(options.auth),
                    auth_require_tls=bool(options.starttls),
                    authenticator=authenticate if options.auth else None, enable_SMTPUTF8=True)

    server = await asyncio.get_running_loop().create_server(
        protocol, "127.0.0.1", 0, ssl=context(*options.smtps) if options.smtps else None)
    print("port %d" % server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


asyncio.run(main())
