#!/usr/bin/python3
"""A stand-in for EMQX v5's REST API, from a recorded contract (tests/emqx-v5-contract.json).

    emqx_contract.py CONTRACT DIR

Listens on a free loopback port (written to DIR/port once listening) and serves only the routes of the
contract. Every request is checked against it: the method and path must be a recorded route, the HTTP
Basic credentials the recorded API key (except GET /api/v5/status), a POST or PUT body one of the
recorded bodies. Each request is appended to DIR/requests.jsonl ({method, path, status, body}); each
breach of the contract also to DIR/violations.jsonl, and is answered as EMQX would answer it (401, 404
or 400 with {code, message}). State is kept (connectors, actions, rules, the built_in_database source
and its rules for all clients) and answered with the defaults and status fields EMQX adds, so a second
provisioning sees what the first made. For tests only: POST /_test/drift {kind, id, set} changes a
stored object (a hand edit in the dashboard), GET /_test/state returns the state.
"""
import base64
import copy
import json
import os
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTRACT = json.load(open(sys.argv[1]))
DIR = sys.argv[2]
A = CONTRACT["answers"]
D = CONTRACT["defaults"]
STATE = {"connectors": {}, "actions": {}, "rules": {}, "source": None, "all_rules": []}


def expand(value, slug):
    if isinstance(value, str):
        return value.replace("{slug}", slug)
    if isinstance(value, list):
        return [expand(v, slug) for v in value]
    if isinstance(value, dict):
        return {k: expand(v, slug) for k, v in value.items()}
    return value


def merged(defaults, stored):
    out = copy.deepcopy(defaults)
    for k, v in stored.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merged(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def route_of(method, path):
    for r in CONTRACT["routes"]:
        if r["method"] != method:
            continue
        pattern = "^" + re.escape(r["path"]).replace(r"\{id\}", "([^/]+)") + "$"
        m = re.match(pattern, path)
        if m:
            return r, (m.group(1) if m.groups() else None)
    return None, None


def append(name, obj):
    with open(os.path.join(DIR, name), "a") as f:
        f.write(json.dumps(obj, sort_keys=True) + "\n")


def fmt(answer, **kw):
    return {k: (v.format(**kw) if isinstance(v, str) else v) for k, v in answer.items()}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=None, text=None):
        if text is not None:
            data, ctype = text.encode(), "text/plain"
        elif body is not None:
            data, ctype = json.dumps(body).encode(), "application/json"
        else:
            data, ctype = b"", None
        # Logged before the answer leaves, so that a client that has its answer finds its request logged.
        if not self.path.startswith("/_test/"):
            append("requests.jsonl", {"method": self.command, "path": self.path, "status": status,
                                      "body": self.logged_body})
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.status = status

    def violation(self, why, status, body):
        # Recorded before the answer, like the request itself.
        append("violations.jsonl", {"method": self.command, "path": self.path, "why": why})
        self.answer(status, body)

    def handle_one(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        self.status = 0
        body = None
        self.logged_body = raw.decode(errors="replace") if raw else None
        if raw:
            try:
                body = json.loads(raw)
                self.logged_body = body
            except ValueError:
                self.violation("body is not JSON", 400, A["body_mismatch"])
                return raw
        if self.path.startswith("/_test/"):
            self.test_control(body)
            return raw
        route, rid = route_of(self.command, self.path)
        if route is None:
            self.violation("no such route in the contract", 404, A["no_route"])
            return raw
        if route.get("auth", True):
            want = "Basic " + base64.b64encode(
                ("%s:%s" % (CONTRACT["auth"]["api_key"], CONTRACT["auth"]["api_secret"])).encode()).decode()
            if self.headers.get("Authorization") != want:
                append("violations.jsonl", {"method": self.command, "path": self.path, "why": "bad or no API key"})
                self.answer(401, A["unauthorized"])
                return raw
        if "bodies" in route:
            alternatives = [expand(b, s) for b in route["bodies"] for s in CONTRACT["tenants"]]
            if body not in alternatives:
                self.violation("body is none of the recorded ones: " + raw.decode(errors="replace"), 400,
                               A["body_mismatch"])
                return raw
        elif raw:
            self.violation("a body where the contract has none", 400, A["body_mismatch"])
            return raw
        self.serve(route["path"], rid, body)
        return raw

    def serve(self, path, rid, body):
        m = self.command
        if path == "/api/v5/status":
            return self.answer(200, text=A["status"])
        if path.startswith("/api/v5/connectors"):
            return self.objects("connectors", "connector", rid, body)
        if path.startswith("/api/v5/actions"):
            return self.objects("actions", "action", rid, body)
        if path.startswith("/api/v5/rules"):
            return self.rules(rid, body)
        if path == "/api/v5/authorization/sources" and m == "POST":
            if STATE["source"] is not None:
                return self.answer(400, A["source_exists"])
            STATE["source"] = body
            return self.answer(204)
        if path == "/api/v5/authorization/sources/built_in_database":
            if STATE["source"] is None:
                return self.answer(404, A["source_not_found"])
            if m == "GET":
                return self.answer(200, STATE["source"])
            STATE["source"] = body
            return self.answer(204)
        if path.endswith("/rules/all"):
            if STATE["source"] is None:
                return self.answer(404, A["source_not_found"])
            if m == "GET":
                return self.answer(200, {"rules": [merged(D["rule_item"], r) for r in STATE["all_rules"]]})
            STATE["all_rules"] = body["rules"]
            return self.answer(204)
        self.violation("route without a handler", 404, A["no_route"])

    # Connectors and actions: ids are TYPE:NAME, created by POST {type, name, ...}.
    def objects(self, kind, what, rid, body):
        store = STATE[kind]
        if self.command == "POST":
            name = body["name"]
            if name in store:
                return self.answer(400, A[what + "_exists"])
            if kind == "actions" and body.get("connector") not in STATE["connectors"]:
                return self.answer(400, A["action_no_connector"])
            store[name] = {k: v for k, v in body.items() if k not in ("type", "name")}
            return self.answer(201, self.shown(what, name))
        typ, _, name = rid.partition(":")
        if typ != "http" or name not in store:
            return self.answer(404, fmt(A[what + "_not_found"], name=name))
        if self.command == "GET":
            return self.answer(200, self.shown(what, name))
        store[name] = body
        return self.answer(200, self.shown(what, name))

    def shown(self, what, name):
        obj = merged(D[what], STATE[what + "s"][name])
        obj.update({"type": "http", "name": name})
        return obj

    def rules(self, rid, body):
        store = STATE["rules"]
        if self.command == "POST":
            rid = body["id"]
            if rid in store:
                return self.answer(400, A["rule_exists"])
        elif rid not in store:
            return self.answer(404, A["rule_not_found"])
        if self.command == "GET":
            return self.answer(200, self.rule_shown(rid))
        for a in body.get("actions", []):
            if a.partition(":")[2] not in STATE["actions"]:
                return self.answer(400, A["rule_no_action"])
        store[rid] = {k: v for k, v in body.items() if k != "id"}
        return self.answer(201 if self.command == "POST" else 200, self.rule_shown(rid))

    def rule_shown(self, rid):
        obj = merged(D["rule"], STATE["rules"][rid])
        obj["id"] = rid
        obj["from"] = re.findall(r'FROM\s+"([^"]+)"', obj.get("sql", ""))
        return obj

    def test_control(self, body):
        if self.path == "/_test/state" and self.command == "GET":
            return self.answer(200, STATE)
        if self.path == "/_test/drift" and self.command == "POST":
            store = STATE[body["kind"]]
            store[body["id"]] = merged(store[body["id"]], body["set"])
            return self.answer(204)
        self.answer(404, A["no_route"])

    def do(self):
        self.handle_one()

    do_GET = do_POST = do_PUT = do_DELETE = do


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(os.path.join(DIR, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(DIR, "port.tmp"), os.path.join(DIR, "port"))
server.serve_forever()
