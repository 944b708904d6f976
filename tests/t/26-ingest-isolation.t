#!/bin/bash
# Tenant isolation: a message for tenant a can never be written into tenant b, whatever its payload
# says. The tenant is the topic's slug, and only the slug; a payload naming another tenant, an
# envelope inside the payload, a "tenant" field, labels, hostile slugs: all land in a or nowhere.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_ingest_iso
tsk tenant create --slug iso-a --name A >/dev/null
tsk tenant create --slug iso-b --name B >/dev/null
own_broker
MQTT_URL="mqtt://127.0.0.1:$TSK_TEST_MQTT_PORT"
SPOOL=$T/spool.db
subscribed() { grep -q '"connected":true' "$SPOOL.stats" 2>/dev/null; }
received() { [ "$(grep -o '"received":[0-9]*' "$SPOOL.stats" | cut -d: -f2)" -ge "$1" ] && grep -q '"depth":0' "$SPOOL.stats"; }
pubm() { mosquitto_pub -p "$TSK_TEST_MQTT_PORT" -h 127.0.0.1 -q 1 -t "$1" -m "$2"; }
a() { q "SELECT count(*) FROM iso_a.reading"; }
b() { q "SELECT count(*) FROM iso_b.reading"; }

rm -f "$SPOOL.stats"
"$TSK_BUILD/tsk-ingest" mqtt --url "$MQTT_URL" --spool "$SPOOL" --client-id t26-ingest --session-expiry 10m \
	--flush-interval 50ms 2>"$T/ingest.log" &
ING=$!
wait_for 20 subscribed
ok $? "tsk-ingest subscribed"

T1=tenants/iso-a/devices/d/sensors/s
pubm $T1 '{"value": 1, "timestamp": "2025-01-01T00:00:01Z", "tenant": "iso-b"}'
pubm $T1 '{"topic": "tenants/iso-b/devices/d/sensors/s", "payload": {"value": 2, "timestamp": "2025-01-01T00:00:02Z"}}'
pubm $T1 '{"tenant": "iso-b", "device_id": "d", "sensor_id": "s", "ts": "2025-01-01T00:00:03Z", "value": 3}'
pubm tenants/iso-a/assets/X/telemetry '{"tenant": "iso-b", "device_id": "d", "timestamp": "2025-01-01T00:00:04Z", "sensors": [{"sensor_id": "s4", "value": 4, "labels": {"tenant": "iso-b", "schema": "iso_b"}}]}'
pubm tenants/iso-a/assets/X/telemetry '{"client_id": "x", "topic": "tenants/iso-b/assets/X/telemetry", "payload": "{\"device_id\":\"d\",\"timestamp\":\"2025-01-01T00:00:05Z\",\"sensors\":[{\"sensor_id\":\"s5\",\"value\":5}]}"}'
pubm 'tenants/iso_b/devices/d/sensors/s' '{"value": 6}'                       # schema name, not a slug
pubm 'tenants/iso-b;drop schema iso_a cascade/devices/d/sensors/s' '{"value": 7}'
pubm 'tenants/ISO-B/devices/d/sensors/s' '{"value": 8}'
pubm 'tenants/iso-a/../iso-b/devices/d/sensors/s' '{"value": 9}'
pubm 'tenants//iso-b/devices/d/sensors/s' '{"value": 10}'
pubm 'tenants/iso-b' '{"value": 11}'                                          # b itself, no reading form
wait_for 20 received 11
ok $? "all 11 messages handled"
is "$(b)" 0 "nothing reached tenant iso-b"
is "$(q "SELECT count(*) FROM iso_b.device") $(q "SELECT count(*) FROM iso_b.sensor")" "0 0" "nor its catalog"
is "$(q "SELECT string_agg(value::text, ',' ORDER BY value) FROM iso_a.reading")" "1,2,3,4,5" \
	"the five messages on iso-a's topics are in iso-a, whatever their payload said"
is "$(q "SELECT count(*) FROM pg_namespace WHERE nspname = 'iso_a'")" 1 "iso-a's schema is still there"

# The same over stdin: --tenant and the line's topic must agree; an envelope names its tenant by topic.
printf '%s\n' \
	'{"topic": "tenants/iso-a/devices/d/sensors/s", "payload": {"value": 20, "timestamp": "2025-01-02T00:00:00Z", "tenant": "iso-b"}}' \
	'{"tenant": "iso-a", "device_id": "d", "sensor_id": "s", "ts": "2025-01-02T00:00:01Z", "value": 21, "labels": {"tenant": "iso-b"}}' |
	tsk ingest stdin >/dev/null
is "$(b) $(q "SELECT count(*) FROM iso_a.reading WHERE value >= 20")" "0 2" "stdin: both lines in iso-a"
echo '{"topic": "tenants/iso-a/devices/d/sensors/s", "payload": {"value": 22}}' | tsk ingest --tenant iso-b stdin >/dev/null 2>&1
is $? 3 "stdin --tenant iso-b with a line for iso-a: rejected"
is "$(b)" 0 "and nothing in iso-b"
kill -TERM $ING
wait $ING
is $? 0 "SIGTERM: exit 0"
done_testing
