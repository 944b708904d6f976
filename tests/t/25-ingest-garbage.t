#!/bin/bash
# Garbage never stops the stream: non-JSON, wrong types, huge numbers, NaN strings, 1 MiB payloads,
# invalid UTF-8, NUL bytes, deep nesting, empty payloads, unknown tenants and topics outside
# tenants/ are each counted and dead-lettered with a reason, and the valid messages published
# between them are all stored.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_ingest_garbage
tsk tenant create --slug junk --name Junk >/dev/null
own_broker
MQTT_URL="mqtt://127.0.0.1:$TSK_TEST_MQTT_PORT"
SPOOL=$T/spool.db
subscribed() { grep -q '"connected":true' "$SPOOL.stats" 2>/dev/null; }
rows() { q "SELECT count(*) FROM junk.reading"; }
rows_are() { [ "$(rows)" = "$1" ]; }
pubm() { mosquitto_pub -p "$TSK_TEST_MQTT_PORT" -h 127.0.0.1 -q 1 -t "$1" -m "$2"; }
pubf() { mosquitto_pub -p "$TSK_TEST_MQTT_PORT" -h 127.0.0.1 -q 1 -t "$1" -f "$2"; }
S=tenants/junk/devices/dev/sensors/temp
A=tenants/junk/assets/CH-1/telemetry
valid=0
good() { # a valid reading between two bad ones, each with a ts of its own
	valid=$((valid + 1))
	pubm $S "{\"value\": $valid, \"timestamp\": \"2025-03-01T00:00:$(printf %02d $valid)Z\"}"
}

rm -f "$SPOOL.stats"
# Subscribed to everything, so that topics outside tenants/ reach it too.
"$TSK_BUILD/tsk-ingest" mqtt --url "$MQTT_URL" --spool "$SPOOL" --client-id t25-ingest --session-expiry 10m \
	--topic '#' --flush-interval 50ms 2>"$T/ingest.log" &
ING=$!
wait_for 20 subscribed
ok $? "tsk-ingest subscribed to #"

good
pubm $S 'not json {';                                              good
pubm $S '{"value": {"nested": 1}}';                                good   # wrong type
pubm $A '{"device_id": 5, "sensors": "many"}';                     good   # wrong types
pubm $S '{"value": 1e999}';                                        good   # overflows a double
pubm $S '{"value": 1e999, "timestamp": "2025-03-01T01:00:00Z"}';  good   # even with a time
pubm $S '{"value": "NaN"}';                                        good
pubm $A '{"device_id": "g", "sensors": [{"sensor_id": "s", "value": "Infinity"}]}'; good
printf '{"value": 1, "unit": "\xff\xfe"}' >"$T/utf8";  pubf $S "$T/utf8"; good
printf '{"value": 1}\0{"value": 2}' >"$T/nul";         pubf $S "$T/nul";  good
head -c $((1024 * 1024)) /dev/zero | tr '\0' x >"$T/mib"; pubf $S "$T/mib"; good   # 1 MiB, not JSON
{ printf '{"value": 1, "pad": "'; head -c $((1024 * 1024)) /dev/zero | tr '\0' y; printf '"}'; } >"$T/big"
pubf $S "$T/big";                                                  good   # over 1 MiB
printf '%.0s[' $(seq 1 5000) >"$T/deep";               pubf $S "$T/deep"; good
mosquitto_pub -p "$TSK_TEST_MQTT_PORT" -h 127.0.0.1 -q 1 -t $S -n;  good   # empty payload
pubm tenants/nobody/devices/d/sensors/s '{"value": 1}';           good   # unknown tenant
pubm other/place '{"value": 1}';                                   good   # outside tenants/
pubm 'tenants/Not_A_Slug/devices/d/sensors/s' '{"value": 1}';     good
pubm tenants/junk/devices/d/sensors/s '{"value": 2, "timestamp": "the day after tomorrow"}'; good
pubm $A '[{"bn": "x"}]';                                           good   # SenML without records
garbage=18
pubm $S '{"value": 1e308, "timestamp": "2025-03-02T00:00:00Z"}'   # huge but finite: a reading
pubm $S '{"value": 123456789012345678901234567890, "timestamp": "2025-03-03T00:00:00Z"}' # past int64: a double
valid=$((valid + 2))

wait_for 30 rows_are $valid
is "$(rows)" $valid "all $valid valid messages stored, the ones after each bad one included"
is "$(q "SELECT count(*) FROM junk.reading WHERE value IN (1e308, 1.2345678901234568e29)")" 2 \
	"1e308 and an integer past int64 are finite numbers: stored"
# Every message handled (received, and the spool empty) in the stats file, rewritten every second.
handled() { [ "$(grep -o '"received":[0-9]*' "$SPOOL.stats" | cut -d: -f2)" = $((valid + garbage)) ] && grep -q '"depth":0' "$SPOOL.stats"; }
wait_for 15 handled
stats=$(cat "$SPOOL.stats")
rejected=$(grep -o '"rejected":[0-9]*' "$SPOOL.stats" | cut -d: -f2)
is "$rejected" $garbage "every bad message counted as rejected"
for r in 'not json' 'no format accepts the payload' 'payload too large' 'payload empty' 'unknown tenant' \
	'bad topic' 'bad timestamp' 'no readings'; do
	like "$stats" "\"$r\":[1-9]" "rejected_by counts \"$r\""
done
like "$stats" '"skipped_by":\{[^}]*"non-numeric value":1' "the skipped \"Infinity\" sensor is counted"
kill -0 $ING
ok $? "tsk-ingest is still running"
kill -TERM $ING
wait $ING
is $? 0 "SIGTERM: exit 0"

tsk ingest dead --spool "$SPOOL" >"$T/dead.jsonl"
has() { grep -qE -- "$1" "$T/dead.jsonl"; ok $? "$2"; }
is "$(grep -c '"reason"' "$T/dead.jsonl")" $garbage "one dead letter per bad message"
has '"reason":"not json","detail":"[^"]+","source":"tenants/junk/devices/dev/sensors/temp","bytes":10,"body":"not json \{"' \
	"a dead letter keeps reason, detail, topic and payload"
has '"reason":"unknown tenant","detail":"no tenant \\"nobody\\""' "unknown tenant, with the slug"
has '"reason":"unknown tenant",[^}]*"source":"tenants/nobody/devices/d/sensors/s","bytes":12,"body":"\{\\"value\\": 1\}"' \
	"unknown tenant: the dead letter keeps the topic and payload as received, not the converted readings"
has '"reason":"bad topic"[^}]*"source":"other/place"' "a topic outside tenants/"
has '"reason":"payload too large","detail":"[^"]*first 1048576 of 10485[0-9]+ bytes kept' "an oversized payload is kept, truncated"
has $'"unit\\\\": \\\\"\xef\xbf\xbd\xef\xbf\xbd' "invalid UTF-8 shown as U+FFFD"
has '"reason":"no readings","detail":"[^"]*non-numeric value' "a message whose only sensor was unusable: no readings"
is "$(tsk ingest dead --spool "$SPOOL" --reason 'unknown tenant' | grep -c .)" 1 "dead --reason filters"
is "$(q "SELECT count(*) FROM information_schema.schemata WHERE schema_name IN ('nobody', 'not_a_slug')")" 0 \
	"nothing was created for the bad tenants"
done_testing
