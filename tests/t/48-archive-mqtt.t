#!/bin/bash
# tsk-ingest mqtt --archive (config key archive, TSK_ARCHIVE): every accepted MQTT message is kept in its
# tenant's archive (telemetry) with its topic and payload, through the spool, in the transaction of its
# readings; without the option nothing is archived. A spool drained twice (a crash after the COMMIT,
# before the spool's acknowledgement, replays the batch) archives each message once.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_archive_mqtt
tsk tenant create --slug umc --name UMC >/dev/null
own_broker
MQTT_URL="mqtt://127.0.0.1:$TSK_TEST_MQTT_PORT"
SPOOL=$T/spool.db
pub() { mosquitto_pub -p "$TSK_TEST_MQTT_PORT" -h 127.0.0.1 -q 1 "$@"; }
subscribed() { grep -q '"connected":true' "$SPOOL.stats" 2>/dev/null; }
rows() { q "SELECT count(*) FROM umc.reading"; }
rows_are() { [ "$(rows)" = "$1" ]; }
archived() { q "SELECT count(*) FROM umc.telemetry"; }
spooled() { tsk ingest stats --spool "$SPOOL" 2>/dev/null | grep -q "\"depth\":$1,"; }
ingest_start() {
	rm -f "$SPOOL.stats"
	"$TSK_BUILD/tsk-ingest" mqtt --url "$MQTT_URL" --spool "$SPOOL" --client-id t62-ingest --session-expiry 10m \
		--flush-interval 50ms --drain-timeout 2s "$@" 2>>"$T/ingest.log" &
	ING=$!
	wait_for 20 subscribed
}
ingest_stop() { kill -TERM "$ING"; wait "$ING"; }

ingest_start
ok $? "tsk-ingest without --archive"
pub -t tenants/umc/devices/GW-0/sensors/t -m '20.5'
wait_for 15 rows_are 1
ok $? "its message is stored"
ingest_stop
is "$(archived)" 0 "without --archive nothing is archived"

TSK_ARCHIVE=yes ingest_start
ok $? "tsk-ingest with TSK_ARCHIVE=yes"
STD='{"device_id":"GW-2","timestamp":"2025-10-20T14:30:00Z","sensors":[{"sensor_id":"t","value":7,"unit":"celsius"},{"sensor_id":"h","value":50}]}'
pub -t "tenants/umc/sites/Bloco A/assets/CH-01/telemetry" -m "$STD"
pub -t tenants/umc/devices/GW-1/sensors/temp-01 -m '24.0'
pub -t tenants/umc/x -m '{"device_id":"GW-3","sensors":[{"sensor_id":"a","value":null}]}'
wait_for 15 eval '[ "$(archived)" = 3 ]'
ok $? "three messages archived"
is "$(rows)" 4 "their readings stored"
is "$(q "SELECT device_id || '|' || topic || '|' || payload::text || '|' || to_char(\"timestamp\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')
         FROM umc.telemetry WHERE device_id = 'GW-2'")" \
	"GW-2|tenants/umc/sites/Bloco A/assets/CH-01/telemetry|$(q "SELECT '$STD'::jsonb::text")|2025-10-20T14:30:00" \
	"the row holds device, topic, payload and the message's time"
is "$(q "SELECT payload::text || '|' || topic FROM umc.telemetry WHERE device_id = 'GW-1'")" "24.0|tenants/umc/devices/GW-1/sensors/temp-01" \
	"a bare value payload is archived as the JSON number it is"
is "$(q "SELECT count(*) FROM umc.telemetry WHERE device_id = 'GW-3'")" 1 "a message with no storable reading is archived"
is "$(tsk ingest dead --spool "$SPOOL" --reason 'no readings' | wc -l)" 0 "(and not dead-lettered)"
ingest_stop
is $? 0 "SIGTERM: exit 0"

# Messages spooled while the database is unreachable (a DSN to a closed port), then drained twice from
# the same spool bytes.
DEAD="host=127.0.0.1 port=$(tsk_free_port) user=tsk dbname=t_archive_mqtt connect_timeout=2"
ingest_start --archive --dsn "$DEAD"
ok $? "tsk-ingest --archive with its database unreachable"
for i in 1 2 3 4 5; do pub -t tenants/umc/devices/R$i/sensors/s -m "$i"; done
wait_for 20 spooled 5
ok $? "five messages spooled"
kill -TERM "$ING"; wait "$ING"
cp "$SPOOL" "$T/spool.copy"
ok $? "the spool as it was before its flush"
before=$(archived)
tsk ingest drain --spool "$SPOOL" >/dev/null
ok $? "drain"
is "$(archived)" $((before + 5)) "the five are archived"
is "$(q "SELECT count(*) FROM umc.reading WHERE device_id LIKE 'R%'")" 5 "with their readings"
cp "$T/spool.copy" "$SPOOL"
rm -f "$SPOOL-wal" "$SPOOL-shm"
tsk ingest drain --spool "$SPOOL" >/dev/null
ok $? "the same spool drained again"
is "$(archived)" $((before + 5)) "archives nothing twice"
is "$(q "SELECT count(*) FROM umc.reading WHERE device_id LIKE 'R%'")" 5 "and stores no reading twice"
err=$(TSK_ARCHIVE=maybe tsk ingest mqtt --spool "$SPOOL" 2>&1)
is "$?" 2 "archive must be yes or no: exit 2"
like "$err" 'archive must be yes or no' "says so"
done_testing
