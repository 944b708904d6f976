#!/usr/bin/python3
# A real SMTP server for the tests (Debian's python3-aiosmtpd): every message it accepts is written to
# DIR as N.eml (the data as received) and N.json (envelope: mail_from, rcpt_tos, and whether the session
# was under TLS). Runs until killed.
#   smtp_sink.py DIR PORT [--starttls CERT KEY] [--tls CERT KEY] [--refuse]
# --starttls: STARTTLS offered and required before MAIL; --tls: TLS from the first byte (smtps);
# --refuse: every message is refused with 451 (a temporary failure), for retry tests.
# It writes DIR/ready once it listens.
import asyncio, json, os, ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

args = sys.argv[1:]
if len(args) < 2:
    sys.exit("usage: smtp_sink.py DIR PORT [--starttls CERT KEY] [--tls CERT KEY] [--refuse]")
out, port = args[0], int(args[1])
mode, cert, key, refuse = None, None, None, False
i = 2
while i < len(args):
    if args[i] in ("--starttls", "--tls"):
        mode, cert, key = args[i], args[i + 1], args[i + 2]
        i += 3
    elif args[i] == "--refuse":
        refuse = True
        i += 1
    else:
        sys.exit("smtp_sink.py: unknown option " + args[i])


class Handler:
    n = 0

    async def handle_DATA(self, server, session, envelope):
        if refuse:
            return "451 4.3.0 try again later"
        Handler.n += 1
        base = os.path.join(out, "%06d" % Handler.n)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(base + ".json.tmp", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                       "tls": server.transport.get_extra_info("ssl_object") is not None}, f)
        os.rename(base + ".json.tmp", base + ".json")
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 OK"


kw = {}
ctx = None
if mode is not None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
if mode == "--starttls":
    kw = {"tls_context": ctx, "require_starttls": True}
elif mode == "--tls":
    kw = {"ssl_context": ctx}
ctl = Controller(Handler(), hostname="127.0.0.1", port=port, server_kwargs={"decode_data": False}, **kw) \
    if mode != "--tls" else Controller(Handler(), hostname="127.0.0.1", port=port, ssl_context=ctx)
ctl.start()
with open(os.path.join(out, "ready"), "w") as f:
    f.write(str(port))
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    pass
finally:
    ctl.stop()
