#!/bin/bash
# Crash safety: 50 000 QoS 1 messages are published while tsk-ingest is killed with SIGKILL twice and
# restarted. Afterwards reading holds exactly the 50 000 distinct readings: none lost (every value
# 0..49999 is there, so their sum is known), none duplicated (the unique key, and the count).
# What makes it hold: the PUBACK leaves only after the spool commit (lib/ingest/mqtt.h), rows leave the
# spool only after the PostgreSQL COMMIT (lib/ingest/ingest.c), and replays hit ON CONFLICT DO NOTHING.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_ingest_kill
tsk tenant create --slug kill --name Kill >/dev/null
own_broker
MQTT_URL="mqtt://127.0.0.1:$TSK_TEST_MQTT_PORT"
SPOOL=$T/spool.db
N=50000
subscribed() { grep -q '"connected":true' "$SPOOL.stats" 2>/dev/null; }
rows() { q "SELECT count(*) FROM kill.reading"; }
rows_are() { [ "$(rows)" = "$1" ]; }
rows_over() { [ "$(rows)" -gt "$1" ]; }
ingest_start() {
	rm -f "$SPOOL.stats"
	"$TSK_BUILD/tsk-ingest" mqtt --url "$MQTT_URL" --spool "$SPOOL" --client-id t22-ingest --session-expiry 10m \
		--batch 2000 --flush-interval 50ms 2>>"$T/ingest.log" &
	ING=$!
	wait_for 20 subscribed
}

ingest_start
ok $? "tsk-ingest subscribed"
# About 10 000 messages a second over 4 connections: the stream lasts ~5 s, the kills land inside it.
"$TSK_BUILD/tests/mqtt_load" -p "$TSK_TEST_MQTT_PORT" -n $N -c 4 -w 100 -r 10000 -T kill -D 200 -S 5 >"$T/pub.out" &
PUB=$!

wait_for 20 rows_over 0
kill -KILL $ING
wait $ING 2>/dev/null
first=$(rows)
diag "first SIGKILL with $first rows stored"
ok $(( first < N ? 0 : 1 )) "the first SIGKILL lands mid-stream ($first of $N stored)"
ingest_start
ok $? "restarted on the same spool (the flock died with the process)"
# Let the restarted process get well into the stream (more than a batch of 2 000 flushed) before the
# second kill.
wait_for 30 rows_over "$((first + 2500))"
kill -KILL $ING
wait $ING 2>/dev/null
second=$(rows)
diag "second SIGKILL with $second rows stored"
ok $(( second < N ? 0 : 1 )) "the second SIGKILL lands mid-stream too ($second of $N)"
ingest_start
ok $? "restarted again"

wait $PUB
is $? 0 "the publisher got a PUBACK for every message"
like "$(cat "$T/pub.out")" "\"acked\":$N" "all $N acknowledged by the broker"

wait_for 90 rows_are $N
is "$(rows)" $N "exactly $N rows"
is "$(q "SELECT count(DISTINCT value) || '|' || min(value) || '|' || max(value) || '|' || sum(value)::bigint FROM kill.reading")" \
	"$N|0|$((N - 1))|$((N * (N - 1) / 2))" "every value 0..$((N - 1)) exactly once: nothing lost, nothing doubled"
is "$(q "SELECT count(*) FROM (SELECT device_id, sensor_id, ts FROM kill.reading GROUP BY 1, 2, 3 HAVING count(*) > 1) d")" 0 \
	"no (device, sensor, ts) twice"
is "$(q "SELECT count(*) FROM kill.sensor")" 1000 "catalog: the 200 x 5 sensors"

# The stats file is rewritten every second: wait until it shows the spool emptied.
wait_for 15 grep -q '"depth":0' "$SPOOL.stats"
out=$(tsk ingest stats --spool "$SPOOL")
like "$out" '"depth":0' "the spool is empty"
diag "after the last restart: $(echo "$out" | grep -o '"stored":[0-9]*,"duplicates":[0-9]*')"
kill -TERM $ING
wait $ING
is $? 0 "SIGTERM: exit 0"
done_testing
