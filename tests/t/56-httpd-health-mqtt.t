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

# Many /health requests in a row: answered from the cached probe (at most one connect every 2 s).
for i in $(seq 1 50); do get /health >/dev/null; done
is "$(get /health)" '200 {"db":true,"spool":true,"mqtt":true,"healthy":true}' "50 requests later still healthy (no probe per request needed)"
grep -q 'MQTT broker unreachable' "$T/httpd.log"
ok $? "the outage was logged"
httpd_stop
is $? 0 "the daemon stops with status 0 (under make asan: no leak, no error)"
done_testing
