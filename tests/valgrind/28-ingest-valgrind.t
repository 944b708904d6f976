#!/bin/bash
# tsk-ingest's paths under valgrind on small inputs: parse, stdin (with rejects, a replay, a line the
# database refuses), drain, stats, dead, and a short mqtt run stopped with SIGTERM. No invalid
# access, no definite or indirect leak (valgrind exits 99 if any).
. "$(dirname "$0")/../lib/tap.sh"
command -v valgrind >/dev/null || { echo "1..0 # SKIP valgrind not installed"; exit 0; }
if ldd "$TSK_BUILD/tsk-ingest" | grep -q libasan; then echo "1..0 # SKIP sanitizer build"; exit 0; fi
own_broker
fresh_db t_ingest_vg
tsk tenant create --slug vg --name VG >/dev/null
SPOOL=$T/spool.db
vg() { tsk_vg ingest "$@" >"$T/out" 2>"$T/err"; local rc=$?; [ $rc -ne 99 ] || sed 's/^/# /' "$T/err"; return $rc; }

big=$(head -c 6000 /dev/urandom | base64 -w0)
cat >"$T/in.jsonl" <<EOF
{"topic":"tenants/vg/devices/GW-1/sensors/t","payload":{"value":23.5,"unit":"celsius","timestamp":"2025-10-17T10:30:00Z"}}
{"topic":"tenants/vg/sites/S%20A/assets/CH-1/telemetry","payload":{"device_id":"GW-2","timestamp":"2025-10-20T14:30:00Z","sensors":[{"sensor_id":"a","value":1,"unit":"celsius","type":"temperature","labels":{"k":"v"}},{"sensor_id":"b","value":"NaN"}]}}
{"topic":"tenants/vg/assets/K/telemetry","payload":[{"bn":"GW-3","bt":1760697000,"bu":"Cel"},{"n":"A","v":21.5},{"n":"rssi","v":-80,"u":"dBW"},{"n":"model","vs":"khomp"}]}
not json
{"topic":"tenants/nobody/devices/x/sensors/y","payload":1}
{"tenant":"vg","device_id":"$big","sensor_id":"s","ts":"2025-01-01T00:00:00Z","value":0}
{"tenant":"vg","device_id":"GW-1","sensor_id":"t","ts":"2025-10-17T10:31:00Z","value":24}
EOF
vg parse <"$T/in.jsonl";                          is $? 3 "parse"
vg stdin --reject "$T/rej" <"$T/in.jsonl";         is $? 3 "stdin with rejects and a line the database refuses"
vg stdin <"$T/in.jsonl";                          is $? 3 "stdin replay (duplicates)"
vg -d "host=127.0.0.1 port=1 dbname=x" stdin --retry-for 1s <"$T/in.jsonl"; is $? 75 "stdin with the database down"
vg --batch nope stdin </dev/null;                 is $? 2 "usage error"

# A short mqtt run: a few messages, a garbage one, SIGTERM.
rm -f "$SPOOL.stats"
$TSK_VG "$TSK_BUILD/tsk-ingest" mqtt --url "mqtt://127.0.0.1:$TSK_TEST_MQTT_PORT" --spool "$SPOOL" \
	--client-id t28-ingest --session-expiry 1m --flush-interval 50ms >/dev/null 2>"$T/mqtt.err" &
ING=$!
subscribed() { grep -q '"connected":true' "$SPOOL.stats" 2>/dev/null; }
wait_for 60 subscribed
for i in 1 2 3; do
	mosquitto_pub -p "$TSK_TEST_MQTT_PORT" -h 127.0.0.1 -q 1 -t tenants/vg/devices/M/sensors/s -m "{\"value\": $i, \"timestamp\": \"2025-05-0${i}T00:00:00Z\"}"
done
mosquitto_pub -p "$TSK_TEST_MQTT_PORT" -h 127.0.0.1 -q 1 -t tenants/vg/devices/M/sensors/s -m 'garbage'
mosquitto_pub -p "$TSK_TEST_MQTT_PORT" -h 127.0.0.1 -q 1 -t tenants/nobody/devices/M/sensors/s -m '1'
stored_m() { [ "$(q "SELECT count(*) FROM vg.reading WHERE device_id = 'M'")" = 3 ]; }
# Every message handled (the garbage and the unknown tenant too): the stats file, rewritten every
# second, shows all 5 received and the spool empty.
handled() { grep -q '"received":5,' "$SPOOL.stats" 2>/dev/null && grep -q '"depth":0' "$SPOOL.stats"; }
wait_for 60 stored_m
wait_for 60 handled
kill -TERM $ING
wait $ING
rc=$?
[ $rc -ne 99 ] || sed 's/^/# /' "$T/mqtt.err"
is $rc 0 "mqtt: messages, garbage, an unknown tenant, SIGTERM"
is "$(q "SELECT count(*) FROM vg.reading WHERE device_id = 'M'")" 3 "mqtt under valgrind stored the messages"

vg stats --spool "$SPOOL";                        is $? 0 "stats"
vg dead --spool "$SPOOL";                         is $? 0 "dead"
vg drain --spool "$SPOOL";                        is $? 0 "drain"
vg dead purge --spool "$SPOOL";                   is $? 0 "dead purge"
done_testing
