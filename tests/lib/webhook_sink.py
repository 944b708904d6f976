#!/usr/bin/python3
# A real HTTP receiver for webhook tests: every POST is checked against X-Tsk-Signature (sha256=HMAC-
# SHA256 of the body with SECRET) and written to DIR/N.json as {"path", "signature_ok", "timestamp"
# (the X-Tsk-Timestamp header), "body" (parsed)}. While DIR/fail exists every request is answered 500;
# while DIR/hold exists a request is held (DIR/held.N is written first) until DIR/hold is removed.
# Writes DIR/ready when it listens. Runs until killed.
#   webhook_sink.py DIR PORT SECRET
import hashlib, hmac, json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

out, port, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
lock = threading.Lock()
count = [0]


class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            count[0] += 1
            n = count[0]
        if os.path.exists(os.path.join(out, "hold")):
            open(os.path.join(out, "held.%d" % n), "w").close()
            while os.path.exists(os.path.join(out, "hold")):
                time.sleep(0.05)
        want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        got = self.headers.get("X-Tsk-Signature", "")
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        rec = {"path": self.path, "signature_ok": hmac.compare_digest(want, got),
               "timestamp": self.headers.get("X-Tsk-Timestamp"), "body": parsed}
        tmp = os.path.join(out, "%06d.json.tmp" % n)
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.rename(tmp, tmp[:-4])
        code = 500 if os.path.exists(os.path.join(out, "fail")) else 204
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


srv = ThreadingHTTPServer(("127.0.0.1", port), H)
open(os.path.join(out, "ready"), "w").write(str(port))
srv.serve_forever()
