#!/bin/bash
# Two tsk-ingest stdin processes writing the same devices and sensors in opposite orders, many small
# batches at once (what --share does all day): the catalog upserts lock rows in a fixed key order, so
# neither deadlocks, nothing fails and every reading is stored once (issue 8: they deadlocked on
# `sensor` 1-4 times per run, reported as "database unavailable"). A conflict that happens anyway is
# retried by the sink; its count is in stats (flush.conflicts).
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_ingest_deadlock
tsk tenant create --slug dl --name Deadlock >/dev/null
tsk tenant create --slug dl-two --name Deadlock2 >/dev/null

# 60 devices x 4 sensors = 240 keys per batch, 40 batches per process; A uses even seconds, B odd ones,
# so no reading is a duplicate of the other's and the counts are exact. B also names the two tenants in
# the opposite order.
awk 'BEGIN {
	for (b = 0; b < 40; b++) {
		for (d = 0; d < 60; d++) for (s = 0; s < 4; s++) {
			t = b * 2
			printf "{\"tenant\":\"dl\",\"device_id\":\"D%02d\",\"sensor_id\":\"s%d\",\"ts\":\"2025-10-20T%02d:%02d:%02dZ\",\"value\":%d}\n", d, s, int(t / 3600), int(t / 60) % 60, t % 60, b
		}
		printf "{\"tenant\":\"dl-two\",\"device_id\":\"X\",\"sensor_id\":\"x\",\"ts\":\"2025-10-20T00:00:%02dZ\",\"value\":1}\n", b
	}
}' >"$T/a.jsonl"
awk 'BEGIN {
	for (b = 0; b < 40; b++) {
		printf "{\"tenant\":\"dl-two\",\"device_id\":\"X\",\"sensor_id\":\"x\",\"ts\":\"2025-10-20T01:00:%02dZ\",\"value\":2}\n", b
		for (d = 59; d >= 0; d--) for (s = 3; s >= 0; s--) {
			t = b * 2 + 1
			printf "{\"tenant\":\"dl\",\"device_id\":\"D%02d\",\"sensor_id\":\"s%d\",\"ts\":\"2025-10-20T%02d:%02d:%02dZ\",\"value\":%d}\n", d, s, int(t / 3600), int(t / 60) % 60, t % 60, b
		}
	}
}' >"$T/b.jsonl"

for round in 1 2 3; do
	tsk ingest -v --batch 241 stdin <"$T/a.jsonl" >"$T/a.out" 2>"$T/a.err" &
	pa=$!
	tsk ingest -v --batch 241 stdin <"$T/b.jsonl" >"$T/b.out" 2>"$T/b.err" &
	pb=$!
	wait $pa; ra=$?
	wait $pb; rb=$?
	is "$ra $rb" "0 0" "round $round: both processes exit 0"
	if [ "$round" = 1 ]; then
		like "$(cat "$T/a.out")" '"stored":9640,"duplicates":0' "round 1: A stored all its 9640 readings"
		like "$(cat "$T/b.out")" '"stored":9640,"duplicates":0' "round 1: B stored all its 9640 readings"
	else
		like "$(cat "$T/a.out")" '"stored":0,"duplicates":9640' "round $round: A's replay is all duplicates"
		like "$(cat "$T/b.out")" '"stored":0,"duplicates":9640' "round $round: B's replay is all duplicates"
	fi
	ok "$(grep -c 'database unavailable' "$T/a.err" "$T/b.err" | awk -F: '{ n += $2 } END { print n }')" \
		"round $round: no 'database unavailable' (stderr: $(grep -h -m1 -i 'deadlock\|unavailable\|conflict' "$T/a.err" "$T/b.err"))"
done
# The same readings in both processes, in opposite orders: now the readings' unique index makes them
# wait for each other too. Whatever conflicts that causes are retried; each reading is stored by one.
awk -F'"ts":"2025-10-20T' '{ print $1 "\"ts\":\"2025-10-21T" $2 }' "$T/a.jsonl" >"$T/c.jsonl"
tac "$T/c.jsonl" >"$T/c-rev.jsonl"
tsk ingest --batch 241 stdin <"$T/c.jsonl" >"$T/a.out" 2>"$T/a.err" &
pa=$!
tsk ingest --batch 241 stdin <"$T/c-rev.jsonl" >"$T/b.out" 2>"$T/b.err" &
pb=$!
wait $pa; ra=$?
wait $pb; rb=$?
is "$ra $rb" "0 0" "the same readings in opposite orders: both processes exit 0"
sum() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$T/a.out" "$T/b.out" | awk '{ n += $1 } END { print n }'; }
is "$(sum stored) $(sum duplicates)" "9640 9640" "each reading stored by one process, a duplicate for the other"
ok "$(grep -c 'database unavailable' "$T/a.err" "$T/b.err" | awk -F: '{ n += $2 } END { print n }')" \
	"no 'database unavailable' (conflicts retried: $(sum conflicts))"
is "$(q "SELECT count(*) FROM dl.reading WHERE ts >= '2025-10-21'") $(q "SELECT count(*) FROM dl_two.reading WHERE ts >= '2025-10-21'")" "9600 40" "stored once"

# A deadlock forced on purpose is retried and counted, not reported as "database unavailable": a
# session of the test's own holds sensor D00/s1; tsk-ingest's catalog upsert takes D00/s0 and waits for
# D00/s1; then the session asks for D00/s0. The session's deadlock_timeout is long, so PostgreSQL's
# check runs in tsk-ingest's backend (after 1 s) and aborts its transaction (40P01); the sink runs it
# again, waits for the session to end, and commits.
tsk_waiting() { [ "$(q "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted AND a.application_name = 'tsk'")" -ge 1 ]; }
hold_begin "SET deadlock_timeout = '10min'; BEGIN; UPDATE dl.sensor SET unit = 'held' WHERE device_id = 'D00' AND sensor_id = 's1'; SELECT 'held-s1';"
wait_for 30 grep -q held-s1 "$T/hold.out"
ok $? "the session holds D00/s1"
{ r() { printf '{"tenant":"dl","device_id":"D00","sensor_id":"%s","ts":"2025-10-22T00:00:00Z","value":5}\n' "$1"; }; r s0; r s1; } |
	tsk ingest stdin >"$T/f.out" 2>"$T/f.err" &
pf=$!
wait_for 30 tsk_waiting
ok $? "tsk-ingest holds D00/s0 and waits for D00/s1"
echo "UPDATE dl.sensor SET unit = 'held' WHERE device_id = 'D00' AND sensor_id = 's0'; SELECT 'got-s0';" >&9
wait_for 30 grep -q got-s0 "$T/hold.out"
ok $? "the session got D00/s0: PostgreSQL aborted tsk-ingest's transaction ($(tr '\n' ' ' <"$T/hold.out"))"
hold_end
wait $pf
is $? 0 "tsk-ingest exits 0"
like "$(cat "$T/f.out")" '"stored":2,' "both readings stored"
like "$(cat "$T/f.out")" '"conflicts":1' "one conflict retried (flush.conflicts)"
is "$(grep -c 'unavailable' "$T/f.err")" 0 "nothing reported as 'database unavailable'"

is "$(q "SELECT count(*) FROM dl.reading WHERE ts < '2025-10-21'")" 19200 "every reading of dl stored once"
is "$(q "SELECT count(*) FROM dl_two.reading WHERE ts < '2025-10-21'")" 80 "every reading of dl-two stored once"
is "$(q "SELECT count(*) || '|' || count(DISTINCT device_id) FROM dl.sensor")" "240|60" "the catalog: 240 sensors of 60 devices"
is "$(q "SELECT count(*) FROM dl.sensor WHERE last_ts <> '2025-10-21T00:01:18Z' AND device_id <> 'D00'")" 0 \
	"every sensor's last reading is the newest one"
done_testing
