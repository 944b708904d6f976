#!/bin/bash
# GET /health with mqtt_url set (tsk-ingest's broker): "mqtt": true and 200 while a real mosquitto
# accepts connections, "mqtt": false and 503 once it is stopped, healthy again when it is back. Without
# mqtt_url the body has no "mqtt" member; a bad mqtt_url refuses to start.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
fresh_db t_httpd_health_mqtt
own_broker

TSK_MQTT_URL=bogus://x "$TSK_BUILD/tsk-httpd" --config /dev/null --listen 127.0.0.1:0 --spool "$T/x.db" 2>"$T/err"
is $? 2 "a bad mqtt_url: refuses to start (exit 2)"
like "$(cat "$T/err")" 'mqtt_url' "and says why"

httpd_start --config /dev/null --workers 2
is "$(get /health)" '200 {"db":true,"spool":true,"healthy":true}' "no mqtt_url: no mqtt member"
httpd_stop
is $? 0 "that daemon stops with status 0"

TSK_MQTT_URL="mqtt://ingest:secret@127.0.0.1:$TSK_TEST_MQTT_PORT" httpd_start --config /dev/null --workers 2
ok $? "tsk-httpd with mqtt_url naming the test's broker"
is "$(get /health)" '200 {"db":true,"spool":true,"mqtt":true,"healthy":true}' "broker up: mqtt true, 200"

mqtt_stop
down() { [ "$(get /health)" = '503 {"db":true,"spool":true,"mqtt":false,"healthy":false}' ]; }
wait_for 20 down
ok $? "broker stopped: within seconds /health is 503 with mqtt false"
like "$(get /metrics | cut -c1-3)" '^200' "the rest of the daemon keeps answering"

mqtt_start
up() { [ "$(get /health)" = '200 {"db":true,"spool":true,"mqtt":true,"healthy":true}' ]; }
wait_for 20 up
ok $? "broker back: 200 again"

grep -q 'MQTT broker unreachable' "$T/httpd.log"
ok $? "the outage was logged"
httpd_stop
is $? 0 "that daemon stops with status 0"

# --- /health stays cheap: a broker that counts its connections sees at most one every 2 s -----------------
cat >"$T/listener.py" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 0))
s.listen(64)
open(sys.argv[1] + '.tmp', 'w').write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + '.tmp', sys.argv[1])
n = 0
while True:
    c, _ = s.accept()
    c.close()
    n += 1
    open(sys.argv[2] + '.tmp', 'w').write(str(n))
    os.rename(sys.argv[2] + '.tmp', sys.argv[2])
PY
/usr/bin/python3 "$T/listener.py" "$T/lport" "$T/accepts" &
L=$!
wait_for 10 test -s "$T/lport"
TSK_MQTT_URL="mqtt://127.0.0.1:$(cat "$T/lport")" httpd_start --config /dev/null --workers 2
ok $? "a daemon whose broker is a listener counting connections"
before=$(cat "$T/accepts" 2>/dev/null || echo 0)
t0=${EPOCHREALTIME/[.,]/}
for i in $(seq 1 100); do get /health >"$T/h.$i"; echo >>"$T/h.$i"; done
secs=$(( (${EPOCHREALTIME/[.,]/} - t0) / 1000000 ))
is "$(cat "$T"/h.* | sort -u)" '200 {"db":true,"spool":true,"mqtt":true,"healthy":true}' "100 requests, all healthy"
accepts=$(( $(cat "$T/accepts" 2>/dev/null || echo 0) - before ))
ok $(( accepts <= secs / 2 + 2 ? 0 : 1 )) "the broker saw $accepts connections for 100 requests in ${secs}s (at most one every 2 s)"
kill "$L"
httpd_stop
is $? 0 "the daemon stops with status 0 (under make asan: no leak, no error)"
httpd_log_clean
ok $? "no sanitizer report in the daemon's log"
openapi_check
done_testing
