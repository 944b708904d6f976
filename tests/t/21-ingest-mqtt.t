#!/bin/bash
# tsk-ingest mqtt end to end: README-style mosquitto_pub messages reach the tenant's reading table,
# the persistent session keeps what is published while tsk-ingest is stopped, stats are visible
# while it runs, SIGTERM drains the spool and exits 0, drain/stats/dead work on the spool afterwards.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_ingest_mqtt
tsk tenant create --slug umc --name UMC >/dev/null
own_broker
MQTT_URL="mqtt://127.0.0.1:$TSK_TEST_MQTT_PORT"
SPOOL=$T/spool.db
pub() { mosquitto_pub -p "$TSK_TEST_MQTT_PORT" -h 127.0.0.1 -q 1 "$@"; }
subscribed() { grep -q '"connected":true' "$SPOOL.stats" 2>/dev/null; }
rows() { q "SELECT count(*) FROM umc.reading"; }
rows_are() { [ "$(rows)" = "$1" ]; }
stat_field() { grep -o "\"$1\":[0-9]*" "$SPOOL.stats" 2>/dev/null | head -1 | cut -d: -f2; }
# stats_show PATTERN...: the running process's stats (written every second) match every PATTERN.
stats_show() { local out p; out=$(tsk ingest stats --spool "$SPOOL"); for p; do grep -Eq -- "$p" <<<"$out" || return 1; done; }
ingest_start() {
	rm -f "$SPOOL.stats"
	"$TSK_BUILD/tsk-ingest" -v mqtt --url "$MQTT_URL" --spool "$SPOOL" --client-id t21-ingest --session-expiry 10m \
		--flush-interval 50ms --drain-timeout 2s "$@" 2>>"$T/ingest.log" &
	ING=$!
	wait_for 20 subscribed
}

ingest_start
ok $? "tsk-ingest connects and subscribes"
pub -t tenants/umc/devices/GW-1/sensors/temp-01 -m '{"value": 23.5, "unit": "celsius", "timestamp": "2025-10-17T10:30:00Z"}'
pub -t tenants/umc/devices/GW-1/sensors/temp-01 -m '24.0'
pub -t "tenants/umc/sites/Bloco A/assets/CH-01/telemetry" -m '{"device_id":"GW-2","timestamp":"2025-10-20T14:30:00Z","sensors":[{"sensor_id":"t","value":7,"unit":"celsius"}]}'
wait_for 15 rows_are 3
ok $? "three messages stored within seconds"
is "$(q "SELECT value || '|' || unit FROM umc.reading WHERE ts = '2025-10-17T10:30:00Z'")" "23.5|celsius" \
	"the README's mosquitto_pub example"
is "$(q "SELECT site FROM umc.reading WHERE device_id = 'GW-2'")" "Bloco A" "site from the topic"

# The stats file is rewritten every second: wait until it has caught up with the three rows.
wait_for 15 stats_show '"stored":3' '"depth":0' '"oldest_age_s":0'
out=$(tsk ingest stats --spool "$SPOOL")
like "$out" '"running":true' "stats of the running process (its spool is locked)"
like "$out" '"received":3' "stats: received"
like "$out" '"stored":3' "stats: stored"
like "$out" '"depth":0' "stats: spool depth"
like "$out" '"oldest_age_s":0' "stats: oldest spooled age"

# Stopped: the broker keeps the session's messages; the next start gets them.
kill -TERM $ING
wait $ING
is $? 0 "SIGTERM: exit 0"
"$TSK_BUILD/tests/mqtt_load" -p "$TSK_TEST_MQTT_PORT" -n 500 -T umc -D 10 >/dev/null
ok $? "500 QoS 1 messages published while tsk-ingest is down"
ingest_start
wait_for 20 rows_are 503
ok $? "after the restart the persistent session delivers all 500"

# SIGTERM drains: with PostgreSQL refusing writes (a lock), messages wait in the spool; SIGTERM
# with a short --drain-timeout leaves them there, exit 0, and `drain` moves them later.
lock_table umc.reading
ok $? "the reading table is locked"
"$TSK_BUILD/tests/mqtt_load" -p "$TSK_TEST_MQTT_PORT" -n 200 -o 1000 -T umc -D 10 >/dev/null
# All 200 spooled (the lock keeps every one of them there) before the signal.
spooled_over() { [ "$(stat_field depth)" -ge "$1" ] 2>/dev/null; }
wait_for 20 spooled_over 200
ok $? "the 200 messages are in the spool"
kill -TERM $ING
wait $ING
is $? 0 "SIGTERM while the database is blocked: still exit 0 after the drain timeout"
unlock_table
out=$(tsk ingest stats --spool "$SPOOL")
like "$out" '"running":false' "stats without a running process read the spool"
like "$out" '"depth":[1-9]' "messages left in the spool"
out=$(tsk ingest drain --spool "$SPOOL")
is $? 0 "drain exits 0"
like "$out" '"depth":0' "drain empties the spool"
is "$(rows)" 703 "every message arrived"

# Dead letters: a message that cannot be parsed is kept with its reason.
ingest_start
pub -t tenants/umc/devices/GW-1/sensors/temp-01 -m 'not json'
pub -t tenants/umc/devices/GW-1/sensors/temp-01 -m '{"value": 1, "timestamp": "2025-01-01T00:00:00Z"}'
wait_for 15 rows_are 704
kill -TERM $ING
wait $ING
out=$(tsk ingest dead --spool "$SPOOL")
like "$out" '"reason":"not json"' "dead letter with its reason"
like "$out" '"source":"tenants/umc/devices/GW-1/sensors/temp-01"' "and the topic it came on"
like "$out" '"body":"not json"' "and the payload"
out=$(tsk ingest dead purge --spool "$SPOOL")
like "$out" '"purged":1' "dead purge"
done_testing
