#!/bin/bash
# Slow clients against request_deadline: a client that trickles its headers, or its body, one byte at a
# time well inside the idle timeout (request_timeout) is still cut off once its request is not received
# whole within request_deadline, while /health answers meanwhile. Cut bodies are logged as 408 and
# counted in /metrics; a bad request_deadline refuses to start. max_connections_per_address keeps one
# address from taking every connection.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
fresh_db t_httpd_hardening
tsk tenant create --slug umc --name UMC >/dev/null
S=t0ken-55

TSK_REQUEST_DEADLINE=0s "$TSK_BUILD/tsk-httpd" --config /dev/null --listen 127.0.0.1:0 --spool "$T/x.db" 2>"$T/err"
is $? 2 "request_deadline 0s: refuses to start (exit 2)"
like "$(cat "$T/err")" 'request_deadline' "and says why"

# An idle timeout far longer than the test, so only the deadline can cut the tricklers.
cat >"$T/tsk.conf" <<CONF
ingest_secret = $S
access_log = $T/access.log
request_timeout = 120s
request_deadline = 2s
workers = 2
CONF
httpd_start --config "$T/tsk.conf"
ok $? "tsk-httpd with request_timeout 120s and request_deadline 2s"

# trickle.py PORT HEAD TAIL READY: sends HEAD at once, then TAIL one byte every 0.2 s (the idle timeout
# never fires), touching READY after the first byte. Prints "cut after S s" when the server closes the
# connection, "not cut" when it is still open after 30 s or TAIL ran out.
cat >"$T/trickle.py" <<'PY'
import select, socket, sys, time
port, head, tail, ready = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3].encode(), sys.argv[4]
dec = lambda b: b.decode('unicode_escape').encode('latin-1')
s = socket.create_connection(('127.0.0.1', port))
t0 = time.monotonic()
s.sendall(dec(head))
def closed():
    r, _, _ = select.select([s], [], [], 0.2)
    if not r:
        return False
    try:
        return s.recv(4096) == b''
    except OSError:
        return True
for i, ch in enumerate(dec(tail)):
    try:
        s.sendall(bytes([ch]))
    except OSError:
        break
    if i == 0:
        open(ready, 'w').write('1')
    if closed() or time.monotonic() - t0 > 30:
        break
else:
    print('not cut'); sys.exit(0)
if time.monotonic() - t0 > 30:
    print('not cut'); sys.exit(0)
print('cut after %.1f s' % (time.monotonic() - t0))
PY
trickle() { /usr/bin/python3 "$T/trickle.py" "$HTTPD_PORT" "$@"; }
LONG=$(head -c 400 /dev/zero | tr '\0' a)

# --- headers that never end -----------------------------------------------------------------------------
trickle 'GET /health HTTP/1.1\r\nHost: localhost\r\n' "X-Slow: $LONG" "$T/ready1" >"$T/out1" &
H=$!
wait_for 10 test -e "$T/ready1"
is "$(get /health)" '200 {"db":true,"spool":true,"healthy":true}' "/health answers while a client trickles its headers"
wait $H
like "$(cat "$T/out1")" '^cut after ([2-9]|[1-9][0-9])\.[0-9] s$' \
	"a client trickling its headers is cut off once request_deadline has passed (not before)"

# --- a body that never ends ----------------------------------------------------------------------------
trickle "POST /ingest HTTP/1.1\r\nHost: localhost\r\nx-device-token: $S\r\nx-tenant: umc\r\nContent-Length: 1000\r\n\r\n" \
	"{\"topic\":\"$LONG" "$T/ready2" >"$T/out2" &
B=$!
wait_for 10 test -e "$T/ready2"
is "$(get /health)" '200 {"db":true,"spool":true,"healthy":true}' "/health answers while a client trickles its body"
STD='{"topic":"tenants/umc/x","payload":{"device_id":"R1","ts":1729426200000,"sensors":[{"sensor_id":"a","value":1}]}}'
is "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: localhost' -H "x-device-token: $S" -H 'x-tenant: umc' --data-binary "$STD" "$HTTPD_URL/ingest")" 202 \
	"and so does POST /ingest"
wait $B
like "$(cat "$T/out2")" '^cut after ([2-9]|[1-9][0-9])\.[0-9] s$' "a client trickling its body is cut off too"
logged_408() { grep -q 'POST /ingest 408 ' "$T/access.log"; }
wait_for 10 logged_408
ok $? "the access log shows it as 408"
like "$(get /metrics)" 'tsk_http_request_deadline_closed_total [2-9]' "/metrics counts the connections cut"

# --- a request that waits on the daemon longer than the deadline is not cut ------------------------------
# (the clock stops once the request is received): POST /ingest while the reading table is locked waits
# for the committer; it is let go only after the deadline has passed.
lock_table umc.reading
ok $? "the reading table is locked"
curl -s -o "$T/slow.body" -w '%{http_code}' -H 'Host: localhost' -H "x-device-token: $S" -H 'x-tenant: umc' \
	--data-binary "${STD/R1/R2}" "$HTTPD_URL/ingest" >"$T/slow.code" &
C=$!
t0=${EPOCHREALTIME/[.,]/}
waited() { [ $(( ${EPOCHREALTIME/[.,]/} - t0 )) -gt 3000000 ]; }   # at least 3 s: a lower bound only
wait_for 20 waited
unlock_table
wait $C
is "$(cat "$T/slow.code")" 202 "a POST /ingest held up by the database past the deadline still gets its 202"
kill -0 "$HTTPD_PID"
ok $? "the daemon is still running"
httpd_stop
is $? 0 "that daemon stops with status 0"

# --- max_connections_per_address: one address cannot take every connection ------------------------------
# (request_deadline back to its default: the held connections must outlive the check)
sed -i '/^request_deadline/d' "$T/tsk.conf"
echo "max_connections_per_address = 5" >>"$T/tsk.conf"
httpd_start --config "$T/tsk.conf"
ok $? "a daemon with max_connections_per_address 5"
/usr/bin/python3 "$TSK_ROOT/tests/lib/hold.py" "$HTTPD_PORT" 5 "$T/ready3" "$T/release3" &
HOLD=$!
wait_for 20 test -s "$T/ready3"
# From another address: the 5 held connections and this scrape's own.
six_open() { curl -s --interface 127.0.0.2 -H 'Host: localhost' "$HTTPD_URL/metrics" | grep -qx 'tsk_http_connections_open 6'; }
wait_for 20 six_open
ok $? "5 connections of 127.0.0.1 held open (tsk_http_connections_open)"
is "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Host: localhost' "$HTTPD_URL/health")" 000 \
	"a 6th from 127.0.0.1 is refused"
is "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --interface 127.0.0.2 -H 'Host: localhost' "$HTTPD_URL/health")" 200 \
	"while another address (127.0.0.2) is served"
touch "$T/release3"
wait $HOLD
back() { [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: localhost' "$HTTPD_URL/health")" = 200 ]; }
wait_for 20 back
ok $? "once they are gone 127.0.0.1 is served again"
httpd_stop
is $? 0 "the daemon stops with status 0 (under make asan: no leak, no error)"
httpd_log_clean
ok $? "no sanitizer report in the daemon's log"
openapi_check
done_testing
