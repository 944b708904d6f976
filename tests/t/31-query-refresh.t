#!/bin/bash
# tsk-query refresh: incremental from the ingested_at watermark, idempotent, every tenant by default,
# the safety lag, and the race with a transaction that commits after the refresh ran.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_q31
tsk tenant create --slug acme --name Acme >/dev/null
tsk tenant create --slug beta --name Beta >/dev/null

ins() { # ins TENANT DEVICE FROM-TS N [INGESTED_AT-EXPR]
	q "INSERT INTO $1.reading (device_id, sensor_id, ts, value, ingested_at)
	   SELECT '$2', 's', timestamptz '$3' + (i * 30 || ' s')::interval, i * 0.5, ${5:-now()} FROM generate_series(0, $4 - 1) i" >/dev/null
}
# rollup_ok TENANT: every reading_1m / reading_1h row equals the aggregate of the raw rows, and every
# raw row below the watermark is in a rollup bucket.
rollup_ok() {
	q "SET search_path = $1;
	   SELECT (SELECT count(*) FROM (
	            SELECT date_bin('1 minute', ts, '2000-01-01') b, device_id, sensor_id, sum(value::text::numeric) s, count(*) n,
	                   min(value) mi, max(value) ma, (array_agg(value ORDER BY ts DESC))[1] l, max(ts) lt
	            FROM reading GROUP BY 1, 2, 3
	            EXCEPT SELECT bucket, device_id, sensor_id, sum, count, min, max, last, last_ts FROM reading_1m) x
	          WHERE (device_id, sensor_id, b) NOT IN (SELECT device_id, sensor_id, date_bin('1 minute', ts, '2000-01-01')
	                 FROM reading WHERE ingested_at > (SELECT watermark FROM rollup_state)))
	        + (SELECT count(*) FROM (SELECT date_bin('1 hour', bucket, '2000-01-01'), device_id, sensor_id, sum(sum), sum(count),
	                  min(min), max(max), (array_agg(last ORDER BY last_ts DESC))[1], max(last_ts) FROM reading_1m GROUP BY 1, 2, 3
	            EXCEPT SELECT bucket, device_id, sensor_id, sum, count, min, max, last, last_ts FROM reading_1h) y)"
}

ins acme d1 '2025-10-17 08:00+00' 240 "now() - interval '10 minutes'"
ins beta d1 '2025-10-17 08:00+00' 60 "now() - interval '10 minutes'"
out=$(tsk query refresh)
ok $? "refresh without --tenant"
like "$out" '"tenants":2,"rows":300,' "refreshes every tenant: 240 + 60 rows"
is "$(rollup_ok acme)$(rollup_ok beta)" 00 "both tenants' rollups equal the raw aggregates"
# The refresh reads the database's clock once: the watermark is that reading minus the lag, so it lies
# between the clock read just before and just after it, minus a minute (no guess about how long it took).
before=$(q "SELECT clock_timestamp()")
out=$(tsk query refresh -t acme)
after=$(q "SELECT clock_timestamp()")
like "$out" '"tenants":1,"rows":0,"buckets_1m":0,"buckets_1h":0' "a second refresh finds nothing new"
is "$(q "SELECT watermark BETWEEN timestamptz '$before' - interval '1 minute' AND timestamptz '$after' - interval '1 minute'
         FROM acme.rollup_state")" t \
	"the watermark trails the clock by the 1-minute lag"

ins acme d2 '2025-10-17 08:00+00' 10
out=$(tsk query refresh -t acme)
like "$out" '"rows":0' "rows ingested within the lag wait for a later refresh"
is "$(tsk query -t acme buckets --bucket 1h --device d2 --format csv | tail -n +2 | cut -d, -f8 | tr -d '\r')" 10 \
	"... and meanwhile buckets reads them raw"

q "UPDATE acme.rollup_state SET lag = '0'" >/dev/null
out=$(tsk query refresh -t acme)
like "$out" '"rows":10,"buckets_1m":5,"buckets_1h":1' "lag 0: the 10 rows, 5 minutes, 1 hour recomputed"
is "$(rollup_ok acme)" 0 "rollups still equal the raw aggregates"

# Late rows into an hour already aggregated: the whole bucket is recomputed, not added to.
ins acme d1 '2025-10-17 09:00:15+00' 20
tsk query refresh -t acme >/dev/null
is "$(q "SELECT count FROM acme.reading_1h WHERE device_id = 'd1' AND bucket = '2025-10-17 09:00+00'")" \
	"$(q "SELECT count(*) FROM acme.reading WHERE device_id = 'd1' AND ts >= '2025-10-17 09:00+00' AND ts < '2025-10-17 10:00+00'")" \
	"late rows: the 09:00 bucket counts every raw row"
is "$(rollup_ok acme)" 0 "rollups equal the raw aggregates after late rows"
# A replay of rows already stored changes nothing (the unique key keeps the first value).
q "INSERT INTO acme.reading (device_id, sensor_id, ts, value) SELECT device_id, sensor_id, ts, value + 1 FROM acme.reading
   WHERE device_id = 'd1' ON CONFLICT DO NOTHING" >/dev/null
out=$(tsk query refresh -t acme)
like "$out" '"rows":0' "a replayed batch adds no rows"
is "$(rollup_ok acme)" 0 "and the rollups are unchanged"

# The race: a transaction stamps ingested_at = now() (its start), then commits after a refresh ran.
# The refresh must keep the watermark below that stamp, or the row would never reach the rollups.
# The writer inserts, then waits for an advisory lock the test holds (a session lock, outside any
# transaction, so the writer's is the only one open): it stays open until the test lets go, after the
# refresh.
advisory_held() {
	[ "$(q "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory'
	        AND l.objid = 31 AND l.granted AND d.datname = current_database()")" = 1 ]
}
hold_begin "SELECT pg_advisory_lock(31);"
wait_for 20 advisory_held
ok $? "the test holds the advisory lock"
psql "$TSK_DATABASE_URL" -qAtX -c "BEGIN; INSERT INTO acme.reading (device_id, sensor_id, ts, value)
	VALUES ('d1', 's', '2025-10-17 08:10:10+00', 777); SELECT pg_advisory_xact_lock(31); COMMIT;" >/dev/null 2>&1 &
bg=$!
# The writer has inserted and waits, its transaction open (the database itself says so).
writer_open() {
	[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
	        AND wait_event = 'advisory' AND xact_start IS NOT NULL AND pid <> pg_backend_pid()")" = 1 ]
}
wait_for 20 writer_open
ok $? "a writer's transaction is open"
tsk query refresh -t acme >/dev/null
ok $? "refresh while a writer's transaction is open"
hold_end
wait $bg
is "$(q "SELECT ingested_at > (SELECT watermark FROM acme.rollup_state) FROM acme.reading WHERE value = 777")" t \
	"the watermark stayed below the open transaction's ingested_at"
tsk query refresh -t acme >/dev/null
is "$(q "SELECT count FROM acme.reading_1m WHERE device_id = 'd1' AND bucket = '2025-10-17 08:10+00'")" 3 \
	"the next refresh counts the late-committed row (3 in 08:10)"
is "$(rollup_ok acme)" 0 "rollups equal the raw aggregates after the race"

# Two refreshes at once: the state row serializes them; both succeed, the result is the same.
ins acme d3 '2025-10-17 08:00+00' 100
tsk query refresh -t acme >"$T/r1" & p1=$!
tsk query refresh -t acme >"$T/r2" & p2=$!
wait $p1; s1=$?
wait $p2; s2=$?
is "$s1$s2" 00 "two concurrent refreshes both succeed"
is "$(cat "$T/r1" "$T/r2" | grep -o '"rows":[0-9]*' | sort | tr '\n' ' ')" '"rows":0 "rows":100 ' \
	"one of them aggregates the 100 new rows, the other finds nothing left"
is "$(rollup_ok acme)" 0 "rollups equal the raw aggregates"

# A new bucket is written from the new rows' aggregate; one that already has a rollup row is recomputed
# from all its raw rows. Bucket 09:00 of d9 gets one row below the coming watermark and one above it (just
# ingested): the refresh writes the first alone, a query still reads the bucket raw (it is dirty), and the
# next refresh (lag 0) recomputes the bucket whole. Bucket 09:01 gets a late row into an existing bucket.
q "INSERT INTO beta.reading (device_id, sensor_id, ts, value, ingested_at) VALUES
	('d9', 's', '2025-10-18 09:00:10+00', 1.25, (SELECT watermark FROM beta.rollup_state) + interval '1 microsecond'),
	('d9', 's', '2025-10-18 09:01:10+00', 7, (SELECT watermark FROM beta.rollup_state) + interval '1 microsecond'),
	('d9', 's', '2025-10-18 09:00:20+00', 2.5, now())" >/dev/null
tsk query refresh -t beta >/dev/null
is "$(q "SELECT count || ' ' || sum || ' ' || last FROM beta.reading_1m WHERE device_id = 'd9' AND bucket = '2025-10-18 09:00+00'")" \
	"1 1.25 1.25" "a new bucket holds the rows up to the watermark"
is "$(rollup_ok beta)" 0 "beta's rollups equal the raw aggregates where clean"
is "$(tsk query -t beta buckets --bucket 1m --device d9 --from 2025-10-18T09:00:00Z --to 2025-10-18T09:00:59Z | perl -ne 'print $1 if /"count":\s*(\d+)/')" \
	2 "a query reads that dirty bucket raw: both rows"
q "UPDATE beta.rollup_state SET lag = '0'; INSERT INTO beta.reading (device_id, sensor_id, ts, value, ingested_at) VALUES
	('d9', 's', '2025-10-18 09:01:50+00', 8, now())" >/dev/null
tsk query refresh -t beta >/dev/null
is "$(q "SELECT string_agg(count || ' ' || sum || ' ' || last, ', ' ORDER BY bucket) FROM beta.reading_1m WHERE device_id = 'd9'")" \
	"2 3.75 2.5, 2 15 8" "the next refresh recomputes both buckets whole (the early one and the late one)"
is "$(rollup_ok beta)" 0 "and the rollups equal the raw aggregates"
q "UPDATE beta.rollup_state SET lag = '1 minute'" >/dev/null

err=$(tsk query refresh -t nope 2>&1)
is $? 2 "refresh of an unknown tenant: exit 2"
like "$err" '^tsk-query: unknown tenant "nope"$' "one line naming it"

done_testing
