#!/bin/bash
# tsk-httpd's edges: routing by Host, body and header limits, malformed HTTP, a slow client, many
# connections held open while /health answers, the connection cap, the /metrics format, SIGHUP
# (configuration and log reopened) and SIGTERM (the request in flight finishes, exit 0).
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
fresh_db t_httpd_robust
tsk tenant create --slug umc --name UMC --domain umc.example.com >/dev/null
S=t0ken-51
cat >"$T/tsk.conf" <<CONF
ingest_secret = $S
access_log = $T/access.log
request_timeout = 2s
workers = 3
CONF
httpd_start --config "$T/tsk.conf"
ok $? "tsk-httpd answers on its port"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
STD='{"topic":"tenants/umc/x","payload":{"device_id":"R1","ts":1729426200000,"sensors":[{"sensor_id":"a","value":1}]}}'

# --- routing by Host ---------------------------------------------------------------------------------
is "$(code -H 'Host: localhost' "$HTTPD_URL/health")" 200 "public host localhost: /health 200"
is "$(code -H 'Host: localhost:8080' "$HTTPD_URL/health")" 200 "the port is stripped"
is "$(code -H 'Host: www.localhost' "$HTTPD_URL/health")" 200 "a leading www. is removed"
is "$(code -H 'Host: API' "$HTTPD_URL/health")" 200 "api (any case) is public"
is "$(code -H 'Host: evil.example.org' "$HTTPD_URL/health")" 404 "an unknown host: 404"
is "$(code -H 'Host: 127.0.0.1' "$HTTPD_URL/health")" 404 "an address that is not a public host: 404"
is "$(code -H "Host: umc.example.com'--" "$HTTPD_URL/health")" 404 "a host with SQL in it: 404"
is "$(code -H "Host: $(head -c 3000 /dev/zero | tr '\0' a)" "$HTTPD_URL/health")" 404 "a 3000-byte host: 404"
is "$(code -H 'Host: umc.example.com' "$HTTPD_URL/ops/")" 404 "/ops/ on a tenant host: 404"
is "$(curl -s -H 'Host: umc.example.com' "$HTTPD_URL/ops/telemetry")" "Ops panel is only accessible via public schema (localhost)" \
	"with the original's message"
is "$(code -H 'Host: umc.example.com' "$HTTPD_URL/admin/")" 404 "/admin/ on a tenant host: 404"
is "$(code -H 'Host: www.umc.example.com:443' "$HTTPD_URL/api/nothing/")" 404 "a tenant host (www. and port removed) routes to the tenant: unknown API path 404"
like "$(grep 'GET /api/nothing/' "$T/access.log")" ' 404 [0-9]+ [0-9]+ umc$' "and the access log names the tenant"
is "$(code -H 'Host: umc.example.com' -H "x-device-token: $S" -H 'x-tenant: umc' --data-binary "$STD" "$HTTPD_URL/ingest")" 404 \
	"/ingest exists on the public host only"
is "$(code -H 'Host: localhost' "$HTTPD_URL/nothing")" 404 "an unknown public path: 404"
# Host lookups are remembered for a few seconds: a domain added while the daemon runs is served soon.
is "$(curl -s -H 'Host: later.example.com' "$HTTPD_URL/api/x/")" '{"error":"Not found"}' "a domain no tenant has: 404 from the router"
tsk tenant domain add umc later.example.com >/dev/null
routed() { [ "$(curl -s -H 'Host: later.example.com' "$HTTPD_URL/api/x/")" = '{"detail":"Not found."}' ]; }
wait_for 20 routed
ok $? "once tsk-tenant adds it, the same host reaches the tenant's site"
is "$(code -H 'Host: localhost' -X DELETE "$HTTPD_URL/health")" 405 "DELETE /health: 405"

# --- limits --------------------------------------------------------------------------------------------
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$T/big"
is "$(code -H 'Host: localhost' -H "x-device-token: $S" -H 'x-tenant: umc' --data-binary @"$T/big" "$HTTPD_URL/ingest")" 413 \
	"/ingest: a body of 1 MiB + 1: 413"
is "$(code -H 'Host: localhost' -H "x-device-token: $S" -H 'x-tenant: umc' -H 'Transfer-Encoding: chunked' --data-binary @"$T/big" "$HTTPD_URL/ingest")" 413 \
	"the same sent chunked (no length known up front): 413"
head -c $((64 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$T/big64"
is "$(code -H 'Host: localhost' --data-binary @"$T/big64" "$HTTPD_URL/health")" 413 "any other path: 64 KiB + 1: 413"
is "$(code -H 'Host: localhost' -H 'Content-Length: 99999999999999999999' "$HTTPD_URL/health")" 413 "a Content-Length that overflows: 413"
like "$(code -H 'Host: localhost' -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' a)" "$HTTPD_URL/health")" '^4(13|31)$' \
	"headers over 32 KiB: refused (413 or 431)"
is "$(code -H 'Host: localhost' -H "x-device-token: $S" -H 'x-tenant: umc' --data-binary "$STD" "$HTTPD_URL/ingest")" 202 \
	"a normal request still works after them"

# --- malformed HTTP and slow clients (a raw socket) ----------------------------------------------------
cat >"$T/raw.py" <<'PY'
import socket, sys, time
port, data = int(sys.argv[1]), sys.argv[2].encode().decode('unicode_escape').encode('latin-1')
s = socket.create_connection(('127.0.0.1', port))
s.settimeout(20)
s.sendall(data)
buf = b''
try:
    while True:
        b = s.recv(4096)
        if not b:
            break
        buf += b
except socket.timeout:
    print('TIMEOUT'); sys.exit(0)
print((buf.split(b'\r\n')[0] if buf else b'CLOSED').decode('latin-1'))
PY
raw() { /usr/bin/python3 "$T/raw.py" "$HTTPD_PORT" "$1"; }
like "$(raw 'GARBAGE\r\n\r\n')" '^(HTTP/1\.[01] 400|CLOSED)' "a request line that is not HTTP: 400 or closed"
like "$(raw 'GET /health HTTP/1.1\r\nHost localhost\r\n\r\n')" '^HTTP/1\.[01] 400' "a header line without a colon: 400"
like "$(raw 'GET /health HTTP/1.1\r\n\r\n')" '^HTTP/1\.[01] 400' "HTTP/1.1 without Host: 400"
like "$(raw 'POST /ingest HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n')" '^HTTP/1\.[01] (400|413)' "a Content-Length that is not a number: refused"
like "$(raw 'GET /health HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')" '^HTTP/1\.[01] 400|CLOSED' "a bad chunk size: 400 or closed"
# A client that sends half its headers and stops is closed after request_timeout (2 s here).
like "$(raw 'GET /health HTTP/1.1\r\nHost: loc')" '^(CLOSED|HTTP/1\.[01] 408)' "a slow client is disconnected (request_timeout), not waited for"
like "$(raw 'POST /ingest HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{"to')" '^(CLOSED|HTTP/1\.[01] 408)' "so is one that stops in the middle of its body"
kill -0 "$HTTPD_PID"
ok $? "the daemon survived all of it"

# --- 10 000 connections held open while /health answers --------------------------------------------------
# 10 000 connections need as many descriptors on both sides (the daemon inherits this limit).
ulimit -n 16384 2>/dev/null
N=10000
if [ "$(ulimit -n)" -lt 10300 ]; then N=$(( $(ulimit -n) - 300 )); diag "open files limited to $(ulimit -n): $N connections"; fi
cat >>"$T/tsk.conf" <<CONF
request_timeout = 120s
max_connections = 12000
CONF
kill -HUP "$HTTPD_PID"   # request_timeout is read at start only: restart for it
httpd_stop
httpd_start --config "$T/tsk.conf"
/usr/bin/python3 "$TSK_ROOT/tests/lib/hold.py" "$HTTPD_PORT" $N "$T/ready" "$T/release" &
HOLD=$!
wait_for 60 test -s "$T/ready"
is "$(cat "$T/ready")" $N "$N connections open, each with half a request"
is "$(curl -s -H 'Host: localhost' "$HTTPD_URL/health")" '{"db":true,"spool":true,"healthy":true}' "/health still answers"
is "$(code -H 'Host: localhost' -H "x-device-token: $S" -H 'x-tenant: umc' --data-binary "$STD" "$HTTPD_URL/ingest")" 202 "and so does /ingest"
touch "$T/release"
wait $HOLD
ok $? "the holder let them go"

# --- /metrics is Prometheus text exposition --------------------------------------------------------------
curl -s -H 'Host: localhost' "$HTTPD_URL/metrics" >"$T/metrics"
cat >"$T/prom.py" <<'PY'
import re, sys
# The text exposition format 0.0.4: HELP/TYPE lines, then samples name{label="v",...} value.
name = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
sample = re.compile(r'^(' + name + r')(\{(' + r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"' + r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? ([-+]?([0-9.]+([eE][-+]?[0-9]+)?|Inf|NaN))$')
types, seen, errors, hist = {}, set(), [], {}
for n, line in enumerate(open(sys.argv[1]), 1):
    line = line.rstrip('\n')
    if line.startswith('# HELP '):
        continue
    m = re.match(r'^# TYPE (' + name + r') (counter|gauge|histogram|summary|untyped)$', line)
    if m:
        if m.group(1) in types: errors.append('%d: second TYPE for %s' % (n, m.group(1)))
        types[m.group(1)] = m.group(2); continue
    m = sample.match(line)
    if not m:
        errors.append('%d: not a sample: %r' % (n, line)); continue
    metric, labels, value = m.group(1), m.group(3) or '', float(m.group(5).replace('Inf', 'inf'))
    base = re.sub(r'_(bucket|sum|count)$', '', metric)
    fam = metric if metric in types else base
    if fam not in types: errors.append('%d: %s has no TYPE' % (n, metric))
    if (metric, labels) in seen: errors.append('%d: duplicate series %s{%s}' % (n, metric, labels))
    seen.add((metric, labels))
    if types.get(fam) == 'counter' and value < 0: errors.append('%d: negative counter' % n)
    if metric.endswith('_bucket'):
        key = re.sub(r',?le="[^"]*"', '', labels)
        prev = hist.get((base, key), -1)
        if value < prev: errors.append('%d: histogram buckets not cumulative' % n)
        hist[(base, key)] = value
    if metric.endswith('_count') and types.get(base) == 'histogram':
        if hist.get((base, labels)) != value: errors.append('%d: +Inf bucket != count' % n)
print('\n'.join(errors) if errors else 'ok')
PY
is "$(/usr/bin/python3 "$T/prom.py" "$T/metrics")" ok "/metrics parses as Prometheus text exposition"
like "$(cat "$T/metrics")" 'tsk_http_requests_total\{route="ingest",code="202"\} [1-9]' "requests by route and status"
like "$(cat "$T/metrics")" 'tsk_http_request_duration_seconds_bucket\{route="health",le="\+Inf"\} [1-9]' "a latency histogram"
like "$(cat "$T/metrics")" 'tsk_httpd_ingest_received_total [1-9]' "this daemon's ingest counters"
like "$(cat "$T/metrics")" 'tsk_httpd_spool_depth_messages 0' "its spool depth"
like "$(cat "$T/metrics")" 'tsk_httpd_db_pool_size 3' "its connection pool"
like "$(curl -s -D - -o /dev/null -H 'Host: localhost' "$HTTPD_URL/metrics" | tr -d '\r')" 'Content-Type: text/plain; version=0.0.4' \
	"served as text/plain; version=0.0.4"
# With a tsk-ingest stats file configured, its counters are exported too.
printf '{"mode":"mqtt","received":7,"stored":5,"spool":{"depth":2},"db":{"up":true},"mqtt":{"connected":true},"updated":"2026-01-01T00:00:00Z"}\n' >"$T/ingest.stats"
echo "ingest_stats = $T/ingest.stats" >>"$T/tsk.conf"
httpd_stop
httpd_start --config "$T/tsk.conf"
curl -s -H 'Host: localhost' "$HTTPD_URL/metrics" >"$T/metrics2"
is "$(/usr/bin/python3 "$T/prom.py" "$T/metrics2")" ok "still valid with tsk-ingest's counters"
like "$(cat "$T/metrics2")" 'tsk_ingest_received_total 7' "tsk-ingest's received counter from its stats file"
like "$(cat "$T/metrics2")" 'tsk_ingest_spool_depth_messages 2' "and its spool depth"

# --- SIGHUP: configuration reloaded, log reopened ----------------------------------------------------------
mv "$T/access.log" "$T/access.log.1"
sed -i "s/^ingest_secret = .*/ingest_secret = new-$S/" "$T/tsk.conf"
echo "access_log_format = json" >>"$T/tsk.conf"
kill -HUP "$HTTPD_PID"
new_secret_works() { [ "$(code -H 'Host: localhost' -H "x-device-token: new-$S" -H 'x-tenant: umc' --data-binary "$STD" "$HTTPD_URL/ingest")" = 202 ]; }
wait_for 10 new_secret_works
ok $? "SIGHUP: the new ingest_secret is accepted"
is "$(code -H 'Host: localhost' -H "x-device-token: $S" -H 'x-tenant: umc' --data-binary "$STD" "$HTTPD_URL/ingest")" 401 "and the old one refused"
like "$(tail -1 "$T/access.log")" '^\{"time":"[^"]+","remote":"127.0.0.1","method":"POST","path":"/ingest","status":401,"bytes":[0-9]+,"us":[0-9]+,"tenant":null\}$|"status":401' \
	"the log was reopened (a new file after the rename) with JSON lines"
kill -0 "$HTTPD_PID"
ok $? "the daemon kept running through SIGHUP"

# --- the connection cap -----------------------------------------------------------------------------------
sed -i 's/^max_connections = .*/max_connections = 20/' "$T/tsk.conf"
httpd_stop
httpd_start --config "$T/tsk.conf"
rm -f "$T/ready" "$T/release"
/usr/bin/python3 "$TSK_ROOT/tests/lib/hold.py" "$HTTPD_PORT" 20 "$T/ready" "$T/release" &
HOLD=$!
wait_for 30 test -s "$T/ready"
is "$(code --max-time 5 -H 'Host: localhost' "$HTTPD_URL/health")" 000 "past max_connections a new connection is refused"
touch "$T/release"
wait $HOLD
wait_for 10 eval '[ "$(code -H "Host: localhost" "$HTTPD_URL/health")" = 200 ]'
ok $? "and served again once they are gone"

# --- SIGTERM: the request in flight finishes, new ones are refused, exit 0 -----------------------------------
cat >"$T/slow.py" <<'PY'
import os, socket, sys, time
port, secret, ready, go = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
body = b'{"topic":"tenants/umc/x","payload":{"device_id":"DRAIN","ts":1729426200000,"sensors":[{"sensor_id":"a","value":1}]}}'
s = socket.create_connection(('127.0.0.1', port))
s.settimeout(30)
s.sendall(b'POST /ingest HTTP/1.1\r\nHost: localhost\r\nx-device-token: ' + secret.encode() +
          b'\r\nx-tenant: umc\r\nContent-Length: %d\r\n\r\n' % len(body) + body[:20])
time.sleep(0.3)
open(ready, 'w').write('1')
while not os.path.exists(go):
    time.sleep(0.05)
s.sendall(body[20:])
print(s.recv(4096).split(b'\r\n')[0].decode())
PY
rm -f "$T/ready" "$T/go"
/usr/bin/python3 "$T/slow.py" "$HTTPD_PORT" "new-$S" "$T/ready" "$T/go" >"$T/slow.out" &
SLOW=$!
wait_for 10 test -s "$T/ready"
kill -TERM "$HTTPD_PID"
refused() { [ "$(code --max-time 2 -H 'Host: localhost' "$HTTPD_URL/health")" = 000 ]; }
wait_for 10 refused
ok $? "after SIGTERM no new connection is accepted"
touch "$T/go"
wait $SLOW
like "$(cat "$T/slow.out")" '^HTTP/1\.1 202' "the request in flight got its 202"
wait "$HTTPD_PID"
is $? 0 "and the daemon exited 0"
HTTPD_PID=
is "$(q "SELECT count(*) FROM umc.reading WHERE device_id = 'DRAIN'")" 1 "its reading is stored"
done_testing
