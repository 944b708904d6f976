#!/bin/bash
# The same message delivered three times is stored once: published three times over MQTT (what a
# broker redelivery or a device retry looks like), a spool replayed after a crash, and a file
# replayed through stdin. Counters say how many were duplicates.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_ingest_redeliver
tsk tenant create --slug redo --name Redo >/dev/null
own_broker
MQTT_URL="mqtt://127.0.0.1:$TSK_TEST_MQTT_PORT"
SPOOL=$T/spool.db
subscribed() { grep -q '"connected":true' "$SPOOL.stats" 2>/dev/null; }
rows() { q "SELECT count(*) FROM redo.reading"; }
stat_field() { grep -o "\"$1\":[0-9]*" "$SPOOL.stats" | head -1 | cut -d: -f2; }
seen() { [ "$(stat_field received)" = "$1" ] && [ "$(stat_field depth)" = 0 ]; }

rm -f "$SPOOL.stats"
"$TSK_BUILD/tsk-ingest" mqtt --url "$MQTT_URL" --spool "$SPOOL" --client-id t24-ingest --session-expiry 10m \
	--flush-interval 50ms 2>"$T/ingest.log" &
ING=$!
wait_for 20 subscribed
ok $? "tsk-ingest subscribed"

# 2 000 distinct readings, each published three times (-x 3), interleaved over 2 connections.
"$TSK_BUILD/tests/mqtt_load" -p "$TSK_TEST_MQTT_PORT" -n 2000 -x 3 -c 2 -T redo -D 20 >/dev/null
ok $? "6 000 messages published"
wait_for 30 seen 6000
ok $? "all 6 000 received and flushed"
is "$(rows)" 2000 "2 000 rows: each reading stored once"
is "$(stat_field stored) $(stat_field duplicates)" "2000 4000" "counters: 2 000 stored, 4 000 duplicates"
is "$(q "SELECT count(*) FROM redo.sensor") $(q "SELECT count(*) FROM redo.device")" "20 20" \
	"the catalog was not multiplied either"
kill -TERM $ING
wait $ING
is $? 0 "SIGTERM: exit 0"

# A replayed file: the 2 000 readings as normalized JSON lines, three times.
q "SELECT json_build_object('tenant', 'redo', 'device_id', device_id, 'sensor_id', sensor_id,
	'ts', to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'value', value) FROM redo.reading" >"$T/replay.jsonl"
is "$(wc -l <"$T/replay.jsonl")" 2000 "the readings exported as JSON lines"
cat "$T/replay.jsonl" "$T/replay.jsonl" "$T/replay.jsonl" | tsk ingest stdin >"$T/out"
is $? 0 "replaying them three times: exit 0"
like "$(cat "$T/out")" '"stored":0,"duplicates":6000' "nothing stored again, 6 000 duplicates"
is "$(rows)" 2000 "still 2 000 rows"

# A crash between COMMIT and the spool's delete: the replay hits the unique key. Simulated by
# spooling the same messages in two spool files (what a replay is) and draining both.
for f in a b; do
	rm -f "$T/$f.db.stats"
	"$TSK_BUILD/tsk-ingest" mqtt --url "$MQTT_URL" --spool "$T/$f.db" --client-id "t24-$f" --session-expiry 1m \
		--drain-timeout 1s -d "host=127.0.0.1 port=1 dbname=down connect_timeout=1" 2>/dev/null &
	pid=$!
	SPOOL=$T/$f.db wait_for 20 subscribed
	eval "P_$f=$pid"
done
"$TSK_BUILD/tests/mqtt_load" -p "$TSK_TEST_MQTT_PORT" -n 500 -o 5000 -T redo -D 20 >/dev/null
# Both have spooled all 500 (no database: they stay there) before the signal.
spooled() { [ "$(grep -o '"depth":[0-9]*' "$1.stats" 2>/dev/null | head -1 | cut -d: -f2)" = 500 ]; }
wait_for 20 spooled "$T/a.db" && wait_for 20 spooled "$T/b.db"
ok $? "both spooled the 500 messages"
kill -TERM $P_a $P_b
wait $P_a $P_b
out_a=$(tsk ingest drain --spool "$T/a.db")
out_b=$(tsk ingest drain --spool "$T/b.db")
like "$out_a" '"stored":500,"duplicates":0' "first spool: 500 stored"
like "$out_b" '"stored":0,"duplicates":500' "second spool with the same messages: 500 duplicates"
is "$(rows)" 2500 "2 500 rows in all"
done_testing
