#!/bin/bash
# PostgreSQL stopped under tsk-httpd: POST /ingest keeps answering 202 "queued" (the message is
# committed to the daemon's spool), /health says the database is down, and once PostgreSQL is back the
# spool drains into it with nothing lost or doubled. A full spool answers 503 with Retry-After. The
# cluster is the test's own, so the files running at the same time keep theirs.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
own_postgres
fresh_db t_httpd_outage
tsk tenant create --slug umc --name UMC >/dev/null
S=t0ken-52
TSK_INGEST_SECRET=$S httpd_start --workers 3
ok $? "tsk-httpd answers"
rows() { q "SELECT count(*) FROM umc.reading"; }
msg() { printf '{"topic":"tenants/umc/x","payload":{"device_id":"D%d","ts":%d,"sensors":[{"sensor_id":"a","value":%d},{"sensor_id":"b","value":%d}]}}' \
	"$(($1 % 5))" "$((1729426200000 + $1))" "$1" "$1"; }

like "$(ingest $S umc "$(msg 0)")" '^202 \{"status":"accepted","id":[0-9]+,"device_id":"D0"' "database up: accepted"
pg_stop
ok $? "PostgreSQL stopped"
is "$(get /health)" '503 {"db":false,"spool":true,"healthy":false}' "/health: 503, db false"
N=60
pids=()
for i in $(seq 1 $N); do
	ingest $S umc "$(msg "$i")" >"$T/out.$i" &
	pids+=($!)
done
wait "${pids[@]}"
queued=$(grep -l '^202 {"status":"queued",.*"sensors_queued":2' "$T"/out.* | wc -l)
is "$queued" $N "database down: all $N concurrent posts answered 202 queued"
like "$(cat "$T/out.7")" '^202 \{"status":"queued","device_id":"D2","timestamp":"2024-10-20T12:10:00.007\+00:00","format":"standard","sensors_queued":2\}$' \
	"the queued body"
like "$(ingest $S umc "$(msg 7)")" '^202 \{"status":"queued"' "a replay while down is queued too"
like "$(ingest $S ghost '{"topic":"tenants/ghost/x","payload":{"device_id":"G","sensors":[{"sensor_id":"a","value":1}]}}')" \
	'^202 \{"status":"queued"' "an unknown tenant cannot be checked while down: queued (dead-lettered later)"
is "$(ingest $S umc '{"topic":"tenants/umc/x"}')" '400 {"error":"Missing required field: payload"}' "checks that need no database still answer"
is "$(ingest wrong umc "$(msg 1)")" '401 {"error":"Invalid device token"}' "and so does the token check"
like "$(get /metrics)" 'tsk_httpd_spool_depth_messages (6[2-9]|[7-9][0-9])' "/metrics shows the spool depth"
pg_start
ok $? "PostgreSQL started again"
wait_for 60 eval '[ "$(rows)" = $(( (N + 1) * 2 )) ]'
is "$(rows)" $(( (N + 1) * 2 )) "every queued reading arrived"
is "$(q "SELECT count(DISTINCT (device_id, sensor_id, ts)) || '|' || sum(value)::bigint FROM umc.reading")" \
	"$(( (N + 1) * 2 ))|$(( N * (N + 1) ))" "each exactly once (the replay was absorbed)"
spool_empty() { get /metrics | grep -q '^tsk_httpd_spool_depth_messages 0$'; }
wait_for 30 spool_empty
ok $? "the spool drained to zero"
like "$(get /metrics)" 'tsk_httpd_ingest_rejected_total\{reason="unknown tenant"\} 1|tsk_httpd_spool_dead 1' \
	"the unknown tenant's message was dead-lettered, not stored"
healthy() { [ "$(get /health)" = '200 {"db":true,"spool":true,"healthy":true}' ]; }
wait_for 20 healthy
ok $? "/health: 200 again"
# Each worker reconnects on its own (after a failed connect it waits a second before the next try), so
# a post may still be queued until every worker has found the database again.
k=100
accepted_again() { k=$((k + 1)); ingest $S umc "$(msg $k)" | grep -q '^202 {"status":"accepted"'; }
wait_for 20 accepted_again
ok $? "and posts are written directly again"
like "$(cat "$T/httpd.log")" 'database unavailable' "the log said the database went away"
httpd_stop
is $? 0 "SIGTERM: exit 0"

# A full spool: 503 with Retry-After. A cap of one byte holds one message (an empty spool always takes
# one), so the second is refused.
pg_stop
HTTPD_SPOOL=$T/small.db TSK_INGEST_SECRET=$S TSK_HTTPD_SPOOL_MAX=1 httpd_start
ok $? "tsk-httpd with a tiny spool"
like "$(ingest $S umc "$(msg 200)")" '^202 \{"status":"queued"' "the first message fits"
is "$(ingest $S umc "$(msg 201)")" '503 {"error":"Spool full"}' "the next: 503 Spool full"
like "$(curl -s -D - -o /dev/null -H 'Host: localhost' -H "x-device-token: $S" -H 'x-tenant: umc' --data-binary "$(msg 202)" "$HTTPD_URL/ingest" | tr -d '\r')" \
	'Retry-After: [0-9]+' "with Retry-After"
is "$(get /health | cut -d' ' -f1)" 503 "/health: 503"
pg_start
wait_for 60 eval '[ "$(q "SELECT count(*) FROM umc.reading WHERE value = 200")" = 2 ]'
ok $? "the spooled message arrives once PostgreSQL is back"
httpd_stop
is $? 0 "exit 0"
# Every answer above (through ingest and get) as lib/http/openapi.json describes it.
openapi_check
done_testing
