#!/usr/bin/python3
"""smtp_sink.py - the local stack's mail server: a real SMTP server (Debian's
python3-aiosmtpd) on loopback that keeps every message it accepts as a file.

    smtp_sink.py --port P --dir D [--host 127.0.0.1] [--pid-file F] [--fail-first N]
                 [--tls-cert CERT --tls-key KEY [--implicit-tls]] [--auth USER:PASSWORD]

Each accepted message becomes D/<UTC timestamp>-<n>.eml: the bytes the client
sent (dot-stuffing undone), after a Return-Path and one Delivered-To line per
recipient, as a local delivery agent writes them. It is written to a hidden
temporary name and renamed, so a reader never sees half a message. Each
message logs one JSON line on stderr.

Temporary failures, for testing a sender's retries: the first N messages
(--fail-first N) are refused with "451 4.3.0", and so is each message while
the control file D/.fail exists. An empty .fail fails every message until it
is removed; a .fail holding a number fails that many more messages and then
removes itself.

Permanent failures: a recipient in the domain bounce.invalid is refused at
RCPT TO with "550 5.1.1" (no such mailbox), as a real server answers a dead
address.

TLS, as a provider's submission port has it: with --tls-cert/--tls-key the
sink offers STARTTLS and refuses mail before it (530); with --implicit-tls as
well, the whole connection is TLS from the first byte (smtps, port 465
style). --auth USER:PASSWORD requires AUTH (PLAIN or LOGIN, only over TLS)
before MAIL FROM, and refuses any other pair with 535.

--pid-file is written once the port is listening (a caller can wait for it)
and removed at exit. SIGTERM or SIGINT stops the sink cleanly (exit 0).
"""
import argparse
import asyncio
import datetime
import json
import logging
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

FAIL_REPLY = "451 4.3.0 Temporary failure (smtp_sink: failure requested)"
BOUNCE_DOMAIN = "@bounce.invalid"
BOUNCE_REPLY = "550 5.1.1 No such mailbox (smtp_sink: bounce.invalid)"


def log(event, **fields):
    now = datetime.datetime.now(datetime.timezone.utc)
    line = {"ts": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "level": "info", "pid": os.getpid(), "event": event}
    line.update(fields)
    print(json.dumps(line), file=sys.stderr, flush=True)


def write_atomic(path, data):
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class Sink:
    """The aiosmtpd handler: decides, per message, to keep it or refuse it."""

    def __init__(self, directory, fail_first):
        self.dir = directory
        self.fail_left = fail_first
        self.count = 0

    def _fail_requested(self):
        if self.fail_left > 0:
            self.fail_left -= 1
            return "--fail-first"
        ctl = os.path.join(self.dir, ".fail")
        try:
            with open(ctl, encoding="ascii", errors="replace") as f:
                text = f.read().strip()
        except FileNotFoundError:
            return None
        if not text.isdigit():
            return ".fail"
        left = int(text)
        if left <= 1:
            try:
                os.unlink(ctl)
            except FileNotFoundError:
                pass
            return ".fail" if left == 1 else None
        write_atomic(ctl, f"{left - 1}\n".encode())
        return ".fail"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().endswith(BOUNCE_DOMAIN):
            log("bounced", rcpt_to=address)
            return BOUNCE_REPLY
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        reason = self._fail_requested()
        if reason is not None:
            log("refused", reason=reason, mail_from=envelope.mail_from, rcpt_to=envelope.rcpt_tos)
            return FAIL_REPLY
        self.count += 1
        now = datetime.datetime.now(datetime.timezone.utc)
        name = f"{now.strftime('%Y%m%dT%H%M%S')}.{now.microsecond:06d}Z-{self.count}.eml"
        head = f"Return-Path: <{envelope.mail_from}>\r\n"
        head += "".join(f"Delivered-To: {r}\r\n" for r in envelope.rcpt_tos)
        data = head.encode() + envelope.original_content
        write_atomic(os.path.join(self.dir, name), data)
        log("mail", file=name, mail_from=envelope.mail_from, rcpt_to=envelope.rcpt_tos,
            bytes=len(envelope.original_content))
        return f"250 2.0.0 OK: kept as {name}"


async def serve(args):
    loop = asyncio.get_running_loop()
    sink = Sink(args.dir, args.fail_first)
    # hostname is given so that aiosmtpd does not look up the FQDN (slow
    # without a resolver).
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    opts = {}
    if tls is not None and not args.implicit_tls:
        opts.update(tls_context=tls, require_starttls=True)
    if args.auth:
        want_user, _, want_pass = args.auth.partition(":")

        def authenticator(server, session, envelope, mechanism, data):
            ok = (isinstance(data, LoginPassword) and data.login.decode() == want_user
                  and data.password.decode() == want_pass)
            log("auth", mechanism=mechanism, ok=ok)
            return AuthResult(success=ok, handled=False)  # a failure: aiosmtpd answers 535
        # Over TLS only; the implicit-TLS transport counts as TLS for aiosmtpd
        # only when it is told (auth_require_tls would refuse it otherwise).
        opts.update(authenticator=authenticator, auth_required=True,
                    auth_require_tls=not args.implicit_tls)
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="smtp-sink.local", data_size_limit=32 * 1024 * 1024,
                     loop=loop, **opts),
        host=args.host, port=args.port, ssl=tls if args.implicit_tls else None)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.pid_file:
        write_atomic(args.pid_file, f"{os.getpid()}\n".encode())
    log("listening", host=args.host, port=args.port, dir=args.dir)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
        if args.pid_file:
            try:
                os.unlink(args.pid_file)
            except FileNotFoundError:
                pass
    log("stopped", kept=sink.count)


def main():
    p = argparse.ArgumentParser(description="A local SMTP server that keeps each message as a file.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True, help="where the .eml files go (created if missing)")
    p.add_argument("--pid-file", help="written once listening, removed at exit")
    p.add_argument("--fail-first", type=int, default=0, metavar="N",
                   help="refuse the first N messages with 451")
    p.add_argument("--tls-cert", help="PEM certificate: offer (and require) STARTTLS")
    p.add_argument("--tls-key", help="its PEM private key")
    p.add_argument("--implicit-tls", action="store_true", help="TLS from the first byte (smtps)")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="require AUTH with this pair")
    args = p.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key) or (args.implicit_tls and not args.tls_cert):
        p.error("--tls-cert and --tls-key go together, and --implicit-tls needs them")
    args.dir = os.path.abspath(args.dir)
    os.makedirs(args.dir, exist_ok=True)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        asyncio.run(serve(args))
    except OSError as e:  # the port is taken, the directory is not writable...
        log("error", msg=str(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
