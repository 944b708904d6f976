#!/bin/bash
# PostgreSQL stopped in the middle of a stream and started again: tsk-ingest keeps spooling (it never
# exits), retries with a backoff, and once the database is back every message arrives and the spool
# drains to zero. The outage lasts until tsk-ingest has failed 7 flushes: its backoff (0.2 s doubling
# to 5 s) has then reached its cap and slept it (over 11 s without the database). The cluster is the
# test's own, so the files running at the same time keep theirs.
. "$(dirname "$0")/../lib/tap.sh"
own_postgres
fresh_db t_ingest_outage
tsk tenant create --slug outage --name Outage >/dev/null
own_broker
MQTT_URL="mqtt://127.0.0.1:$TSK_TEST_MQTT_PORT"
SPOOL=$T/spool.db
N=20000
subscribed() { grep -q '"connected":true' "$SPOOL.stats" 2>/dev/null; }
rows() { q "SELECT count(*) FROM outage.reading"; }
rows_are() { [ "$(rows)" = "$1" ]; }
rows_over() { [ "$(rows)" -gt "$1" ]; }
stat_field() { grep -o "\"$1\":[0-9]*" "$SPOOL.stats" | head -1 | cut -d: -f2; }
spool_depth_over() { [ "$(stat_field depth)" -gt "$1" ]; }

rm -f "$SPOOL.stats"
"$TSK_BUILD/tsk-ingest" mqtt --url "$MQTT_URL" --spool "$SPOOL" --client-id t23-ingest --session-expiry 10m \
	--flush-interval 100ms 2>"$T/ingest.log" &
ING=$!
wait_for 20 subscribed
ok $? "tsk-ingest subscribed"

# 1 000 messages a second for 20 s: the outage (about 12 s) sits in the middle of the stream.
"$TSK_BUILD/tests/mqtt_load" -p "$TSK_TEST_MQTT_PORT" -n $N -c 2 -w 50 -r 1000 -T outage -D 100 >"$T/pub.out" &
PUB=$!
wait_for 20 rows_over 2000
ok $? "readings arrive before the outage"

pg_stop
ok $? "PostgreSQL stopped"
wait_for 20 spool_depth_over 3000
ok $? "while the database is down messages pile up in the spool ($(stat_field depth))"
wait_for 10 grep -q '"db":{"up":false' "$SPOOL.stats"
like "$(grep -o '"db":{"up":[a-z]*' "$SPOOL.stats")" 'false' "stats say the database is down"
flush_errors_over() { [ "$(grep -o '"errors":[0-9]*' "$SPOOL.stats" | cut -d: -f2)" -gt "$1" ] 2>/dev/null; }
wait_for 60 flush_errors_over 6
ok $? "it retried with a backoff, past the longest one (7 failed flushes, over 11 s)"
kill -0 $ING
ok $? "tsk-ingest is still running after $(grep -o '"errors":[0-9]*' "$SPOOL.stats" | cut -d: -f2) failed flushes without its database"
pg_start
ok $? "PostgreSQL started again"

wait $PUB
is $? 0 "the publisher got every PUBACK during the outage"
wait_for 60 rows_are $N
is "$(rows)" $N "all $N readings arrived"
is "$(q "SELECT count(DISTINCT value) || '|' || sum(value)::bigint FROM outage.reading")" "$N|$((N * (N - 1) / 2))" \
	"each exactly once"
# The stats file is rewritten every second: wait until it shows the empty spool.
wait_for 15 eval '[ "$(stat_field depth)" = 0 ]'
is "$(stat_field depth)" 0 "the spool drained to zero"
like "$(cat "$SPOOL.stats")" '"db":\{"up":true' "stats say the database is up again"
errors=$(grep -o '"errors":[0-9]*' "$SPOOL.stats" | cut -d: -f2)
ok $(( errors > 0 ? 0 : 1 )) "flush failures were counted ($errors)"
like "$(head -1 "$T/ingest.log")" '^tsk-ingest: database unavailable: ' "one warning when the database went away"
is "$(grep -c 'database unavailable' "$T/ingest.log")" 1 "and not one per retry"
like "$(cat "$T/ingest.log")" 'database is back' "and one when it came back"
kill -0 $ING
ok $? "tsk-ingest never exited"
kill -TERM $ING
wait $ING
is $? 0 "SIGTERM: exit 0"
done_testing
