#!/bin/bash
# PostgreSQL down under tsk-httpd: the queued 202 has no id (the archive row does not exist yet); the
# spool carries each message's topic, payload and key, and once the database is back every message is
# archived exactly once, in the transaction of its readings. A spool flushed again (what a crash
# between the COMMIT and the spool's acknowledgement leaves: the same messages, already committed) adds
# no archive row and no reading. The cluster is the test's own.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
own_postgres
fresh_db t_archive_outage
tsk tenant create --slug umc --name UMC >/dev/null
S=t0ken-61
SP=$T/httpd-spool.db
TSK_INGEST_SECRET=$S httpd_start --workers 3
ok $? "tsk-httpd answers"
msg() { printf '{"topic":"tenants/umc/x","payload":{"device_id":"Q%d","ts":%d,"sensors":[{"sensor_id":"a","value":%d},{"sensor_id":"b","value":%d}]}}' \
	"$1" "$((1729426200000 + $1))" "$1" "$1"; }
archived() { q "SELECT count(*) FROM umc.telemetry"; }
rows() { q "SELECT count(*) FROM umc.reading"; }
spool_empty() { get /metrics | grep -q '^tsk_httpd_spool_depth_messages 0$'; }

like "$(ingest $S umc "$(msg 0)")" '^202 \{"status":"accepted","id":[0-9]+,' "database up: accepted with an id"
pg_stop
ok $? "PostgreSQL stopped"
N=20
pids=()
for i in $(seq 1 $N); do
	ingest $S umc "$(msg "$i")" >"$T/out.$i" &
	pids+=($!)
done
wait "${pids[@]}"
is "$(grep -l '^202 {"status":"queued","device_id":"Q' "$T"/out.* | wc -l)" $N "database down: $N posts queued, without an id"
like "$(ingest $S umc '{"topic":"tenants/umc/x","payload":{"device_id":"Z","sensors":[{"sensor_id":"a","value":null}]}}')" \
	'^202 \{"status":"queued","device_id":"Z",.*"sensors_queued":0' "a message with no storable reading is queued for the archive too"
httpd_stop
is $? 0 "tsk-httpd stopped with the messages spooled"
cp "$SP" "$T/spool.copy"
ok $? "a copy of the spool as it was before any flush"

pg_start
ok $? "PostgreSQL started again"
TSK_INGEST_SECRET=$S httpd_start --workers 3
wait_for 60 spool_empty
ok $? "the spool drained"
is "$(archived)" $((N + 2)) "every queued message was archived"
is "$(q "SELECT count(DISTINCT device_id) FROM umc.telemetry")" $((N + 2)) "each once"
is "$(rows)" $(( (N + 1) * 2 )) "and every reading stored"
is "$(q "SELECT count(*) FROM umc.telemetry t WHERE t.device_id LIKE 'Q%' AND
         t.\"timestamp\" = to_timestamp((t.payload->>'ts')::bigint / 1000.0) AND t.topic = 'tenants/umc/x'")" $((N + 1)) \
	"the archived rows hold topic, payload and the message's time"
httpd_stop
is $? 0 "stopped"

# The same spool again: every message in it is committed already.
cp "$T/spool.copy" "$SP"
rm -f "$SP-wal" "$SP-shm"
TSK_INGEST_SECRET=$S httpd_start --workers 3
wait_for 60 spool_empty
ok $? "the replayed spool drained"
is "$(archived)" $((N + 2)) "no archive row was added by the replay"
is "$(rows)" $(( (N + 1) * 2 )) "nor any reading"
httpd_stop
is $? 0 "SIGTERM: exit 0"
done_testing
