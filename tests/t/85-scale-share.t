#!/bin/bash
# Several tsk-ingest on one $share group: three consumers (distinct client ids, spools of their own,
# --share t85) split a stream of QoS 1 messages; one is killed with SIGKILL midway, after it has
# stored some, and started again on its spool (as systemd's Restart= would). At the end reading holds
# exactly the N distinct readings: none lost (the count, and every value 0..N-1, so their sum), none
# doubled (the unique key, and no (device, sensor, ts) twice), and each consumer stored a share.
# N is 20 000 here to keep the suite quick; tests/bench/share runs this file with 100 000
# (TSK_SHARE_N). Why it holds: every consumer PUBACKs only after its spool commit, the broker keeps a
# persistent session's unacknowledged and queued messages for its client id, and replays hit
# ON CONFLICT DO NOTHING.
. "$(dirname "$0")/../lib/tap.sh"
N=${TSK_SHARE_N:-20000}
fresh_db t_share
tsk tenant create --slug share --name Share >/dev/null
own_broker
MQTT_URL="mqtt://127.0.0.1:$TSK_TEST_MQTT_PORT"
rows() { q "SELECT count(*) FROM share.reading"; }
rows_are() { [ "$(rows)" = "$1" ]; }
rows_over() { [ "$(rows)" -gt "$1" ]; }
subscribed() { grep -q '"connected":true' "$T/spool$1.db.stats" 2>/dev/null; }
stored_by() { grep -o '"stored":[0-9]*' "$T/spool$1.db.stats" 2>/dev/null | head -1 | cut -d: -f2; }
stored_some() { [ "$(stored_by "$1")" -gt 0 ] 2>/dev/null; }
declare -A PID
start() {
	rm -f "$T/spool$1.db.stats"
	"$TSK_BUILD/tsk-ingest" mqtt --url "$MQTT_URL" --share t85 --spool "$T/spool$1.db" --client-id "t85-ingest-$1" \
		--session-expiry 10m --batch 2000 --flush-interval 50ms 2>>"$T/ingest$1.log" &
	PID[$1]=$!
	wait_for 20 subscribed "$1"
}
for k in 1 2 3; do start $k; ok $? "consumer $k subscribed to \$share/t85"; done

# About 5 000 messages a second over 4 connections: the stream lasts a few seconds, the kill lands in it.
"$TSK_BUILD/tests/mqtt_load" -p "$TSK_TEST_MQTT_PORT" -n "$N" -c 4 -w 100 -r 5000 -T share -D 200 -S 5 >"$T/pub.out" &
PUB=$!
wait_for 60 stored_some 2
ok $? "consumer 2 stored some readings"
kill -KILL "${PID[2]}"
wait "${PID[2]}" 2>/dev/null
at_kill=$(rows)
diag "consumer 2 killed with SIGKILL at $at_kill rows stored in all"
ok $(( at_kill < N ? 0 : 1 )) "the SIGKILL lands mid-stream ($at_kill of $N stored)"
# The two others keep storing while it is down.
wait_for 60 rows_over "$((at_kill + 1000))"
ok $? "the two other consumers keep storing while consumer 2 is down"
wait $PUB
is $? 0 "the publisher got a PUBACK for every message"
like "$(cat "$T/pub.out")" "\"acked\":$N" "all $N acknowledged by the broker"
# The broker kept consumer 2's session: what it had been sent but not acknowledged, and what was
# queued for it meanwhile; its spool kept what it had acknowledged but not yet flushed.
start 2
ok $? "consumer 2 restarted on its spool and session"

wait_for 120 rows_are "$N"
is "$(rows)" "$N" "exactly $N rows"
is "$(q "SELECT count(DISTINCT value) || '|' || min(value) || '|' || max(value) || '|' || sum(value)::bigint FROM share.reading")" \
	"$N|0|$((N - 1))|$((N * (N - 1) / 2))" "every value 0..$((N - 1)) exactly once: nothing lost, nothing doubled"
is "$(q "SELECT count(*) FROM (SELECT device_id, sensor_id, ts FROM share.reading GROUP BY 1, 2, 3 HAVING count(*) > 1) d")" 0 \
	"no (device, sensor, ts) twice"
# Every consumer's spool empty, and each stored a share of the stream.
for k in 1 2 3; do wait_for 15 grep -q '"depth":0' "$T/spool$k.db.stats"; done
s1=$(stored_by 1); s2=$(stored_by 2); s3=$(stored_by 3)
diag "stored by consumer 1: $s1, 2 (after its restart): $s2, 3: $s3"
ok $(( s1 > 0 && s3 > 0 ? 0 : 1 )) "consumers 1 and 3 each stored a share ($s1, $s3)"
for k in 1 2 3; do kill -TERM "${PID[$k]}"; wait "${PID[$k]}"; is $? 0 "consumer $k: SIGTERM, exit 0"; done
done_testing
