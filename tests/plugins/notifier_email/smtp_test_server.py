#!/usr/bin/python3
"""A real SMTP server for notifier_email's tests, on aiosmtpd.

It binds 127.0.0.1 on a port the kernel picks, prints that port on a line of its own once it
answers, and writes each message it accepts into --dir as NNNN.eml (the bytes after DATA, dot
transparency already undone) and NNNN.json (the envelope, the session, and the message as
Python's email package reads it: headers decoded, parts decoded), the .json last, so a reader
that sees it sees both.

Options make it behave like the servers the plugin meets: STARTTLS or implicit TLS with a given
certificate, AUTH with one user and password, a recipient refused with 550, a chosen answer to
the end of DATA (451, 554), a stall before that answer, a client certificate demanded.

It is a test fixture: it must never listen beyond loopback, and it exits when its standard input
closes, so it never outlives the test process that started it.
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class LoopbackController(Controller):
    """A Controller on port 0: learns the kernel's pick before aiosmtpd's own readiness probe,
    which would otherwise connect to port 0."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def parsed(raw):
    """What a mail reader sees in the message, for the C++ test to compare."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    headers = {}
    for name, value in msg.items():
        headers.setdefault(name.lower(), []).append(str(value))
    parts, defects = [], [str(d) for d in msg.defects]
    for part in msg.walk():
        defects += [str(d) for d in part.defects]
        if part.is_multipart():
            continue
        parts.append({
            "content_type": part.get_content_type(),
            "charset": part.get_content_charset(),
            "transfer_encoding": part.get("Content-Transfer-Encoding", ""),
            "content": part.get_content(),
        })
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    lines = raw.split(b"\r\n")
    return {
        "content_type": msg.get_content_type(),
        "headers": headers,
        "raw_headers": head,
        "parts": parts,
        "defects": defects,
        "longest_line": max(len(line) for line in lines),
        "bare_line_feed": b"\n" in raw.replace(b"\r\n", b""),
        "ascii_only": all(b < 128 for b in raw),
    }


class Recorder:
    def __init__(self, args):
        self.dir = args.dir
        self.refuse = set(args.refuse or [])
        self.data_reply = args.data_reply
        self.stall = args.stall
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.stall:
            await asyncio.sleep(self.stall)
        if self.data_reply:
            return self.data_reply
        self.count += 1
        base = os.path.join(self.dir, f"{self.count:04d}")
        raw = envelope.original_content
        with open(base + ".eml", "wb") as f:
            f.write(raw)
        ssl_object = server.transport.get_extra_info("ssl_object")
        login = getattr(session.auth_data, "login", None)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "ehlo": session.host_name,
            "tls": ssl_object is not None,
            "client_certificate": bool(ssl_object and ssl_object.getpeercert()),
            "auth_login": login.decode() if isinstance(login, bytes) else login,
            "message": parsed(raw),
        }
        with open(base + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(base + ".tmp", base + ".json")
        return "250 2.0.0 OK: queued"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", required=True, help="where accepted messages are written")
    p.add_argument("--mode", choices=["plain", "starttls", "implicit"], default="plain")
    p.add_argument("--cert", help="PEM certificate for starttls and implicit")
    p.add_argument("--key", help="PEM key of --cert")
    p.add_argument("--client-ca", help="demand a client certificate signed by this PEM")
    p.add_argument("--auth", help="USER:PASSWORD accepted by AUTH")
    p.add_argument("--require-auth", action="store_true", help="refuse mail before AUTH (530)")
    p.add_argument("--refuse", action="append", help="answer RCPT TO this address with 550")
    p.add_argument("--data-reply", help='answer the end of DATA with this, e.g. "451 4.3.0 Later"')
    p.add_argument("--stall", type=float, default=0, help="seconds to wait before that answer")
    args = p.parse_args()

    context = None
    if args.mode != "plain":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        if args.client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(args.client_ca)

    kwargs = {}
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
                  and auth_data.password.decode() == password)
            return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

        kwargs["authenticator"] = authenticator
        kwargs["auth_required"] = args.require_auth
        # aiosmtpd only knows of TLS it started itself (STARTTLS): with implicit TLS it would
        # never offer AUTH unless told that clear text is fine.
        kwargs["auth_require_tls"] = args.mode == "starttls"
    if args.mode == "starttls":
        kwargs["tls_context"] = context
        kwargs["require_starttls"] = True
    controller = LoopbackController(
        Recorder(args), hostname="127.0.0.1", port=0,
        ssl_context=context if args.mode == "implicit" else None,
        server_hostname="smtp.test", **kwargs)
    controller.start()
    print(controller.port, flush=True)
    # Until the test closes our standard input (or dies, which closes it too).
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
