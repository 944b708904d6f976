#!/bin/bash
# tsk-query buckets: the same numbers as a direct date_bin aggregation of the raw rows, whatever mix of
# rollups and raw rows answers: refreshed data, late rows, duplicates, the unrefreshed tail, partial
# buckets at the --from/--to edges, odd bucket sizes; and proof that the rollups are what answers.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_q30
tsk tenant create --slug acme --name Acme >/dev/null

# 3 devices x 3 sensors, a reading every 20 s from 08:00 to 11:00, dyadic values (sums are exact in
# float8 too, so the reference can be the plain avg()); stamped as ingested an hour ago.
q "SET search_path = acme;
   INSERT INTO reading (device_id, sensor_id, ts, value, unit, ingested_at)
   SELECT 'dev-' || d, 'temp-' || s, timestamptz '2025-10-17 08:00:00+00' + (i * 20 || ' s')::interval,
          ((i * 7 + d * 13 + s * 5) % 101) * 0.25 - 5, 'celsius', now() - interval '1 hour'
   FROM generate_series(0, 2, 1) d, generate_series(0, 2, 1) s, generate_series(0, 539) i" >/dev/null

# ref INTERVAL FROM TO [AND-CONDITION] [asc]: the reference rows, formatted like tsk-query --format csv.
ref() {
	local iv=$1 from=$2 to=$3 cond=${4:-} dir=${5:-DESC}
	q "SET search_path = acme;
	   SELECT to_char(b AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || ',' || device_id || ',' || sensor_id
	          || ',' || avg || ',' || min || ',' || max || ',' || last || ',' || n
	   FROM (SELECT date_bin('$iv', ts, '2000-01-01') AS b, device_id, sensor_id, avg(value) AS avg, min(value) AS min,
	                max(value) AS max, (array_agg(value ORDER BY ts DESC))[1] AS last, count(*) AS n
	         FROM reading WHERE ts >= '$from' AND ts <= '$to' $cond GROUP BY 1, 2, 3) x
	   ORDER BY b $dir, device_id, sensor_id"
}
got() { tsk query --tenant acme buckets --format csv "$@" | tail -n +2 | tr -d '\r'; }

ranges=("2025-10-17T08:00:00Z 2025-10-17T11:00:00Z" "2025-10-17T08:17:03Z 2025-10-17T10:44:59.5Z"
	"2025-10-17T09:00:30Z 2025-10-17T09:00:50Z" "2025-10-17T07:00:00Z 2025-10-17T10:59:59.999999Z")
sizes=("1 minute:1m" "7 minutes:7m" "15 minutes:15m" "90 minutes:90m" "1 hour:1h" "2 hours:2h" "1 day:1d")
# Every range x size against the reference; the reference comes from one psql call per range (the
# machine running the tests may be slow to connect).
all_sizes() {
	local label=$1 r s sql="" want have n=0
	for r in "${ranges[@]}"; do
		set -- $r
		sql="SET search_path = acme;"
		for s in "${sizes[@]}"; do
			sql="$sql SELECT '${s##*:}|' || to_char(b AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || ',' || device_id
			  || ',' || sensor_id || ',' || avg || ',' || min || ',' || max || ',' || last || ',' || n
			  FROM (SELECT date_bin('${s%%:*}', ts, '2000-01-01') AS b, device_id, sensor_id, avg(value) AS avg,
			        min(value) AS min, max(value) AS max, (array_agg(value ORDER BY ts DESC))[1] AS last, count(*) AS n
			        FROM reading WHERE ts >= '$1' AND ts <= '$2' GROUP BY 1, 2, 3) x ORDER BY b DESC, device_id, sensor_id;"
		done
		local all
		all=$(q "$sql")
		for s in "${sizes[@]}"; do
			want=$(grep "^${s##*:}|" <<<"$all" | cut -d'|' -f2)
			have=$(got --bucket "${s##*:}" --from "$1" --to "$2")
			if [ -n "$want" ] && [ "$want" = "$have" ]; then ok 0 "$label: ${s##*:} buckets over $1 .. $2 ($(wc -l <<<"$want") rows)"
			else ok 1 "$label: ${s##*:} buckets over $1 .. $2"; diff <(echo "$want") <(echo "$have") | head -5 | sed 's/^/# /'; fi
		done
	done
}

all_sizes "never refreshed (all raw)"

out=$(tsk query -t acme refresh)
like "$out" '"rows":4860' "refresh aggregates the 4860 rows"
like "$out" '"buckets_1m":1620,"buckets_1h":27' "into 1620 1m and 27 1h buckets"
is "$(q "SELECT count(*) FROM acme.reading_1m")" 1620 "reading_1m holds 180 minutes x 9 sensors"
is "$(q "SELECT count(*) FROM acme.reading_1h")" 27 "reading_1h holds 3 hours x 9 sensors"
is "$(q "SELECT sum(count) FROM acme.reading_1h")" 4860 "the 1h rollup counts every row"
all_sizes "refreshed"

# Late rows (old timestamps, ingested now: above the watermark), duplicates of existing keys with
# other values (the first value wins: absorbed by the unique key), and a fresh tail after 11:00.
q "SET search_path = acme;
   INSERT INTO reading (device_id, sensor_id, ts, value)
   SELECT 'dev-1', 'temp-1', timestamptz '2025-10-17 08:30:00+00' + (i * 20 + 7 || ' s')::interval, 100 + i * 0.5
   FROM generate_series(0, 29) i;
   INSERT INTO reading (device_id, sensor_id, ts, value)
   SELECT device_id, sensor_id, ts, value + 1000 FROM reading WHERE device_id = 'dev-2' AND ts < '2025-10-17 09:00'
   ON CONFLICT DO NOTHING;
   INSERT INTO reading (device_id, sensor_id, ts, value)
   SELECT 'dev-0', 'temp-0', timestamptz '2025-10-17 11:00:00+00' + (i * 20 || ' s')::interval, i * 0.75
   FROM generate_series(0, 89) i;
   -- the last reading of a bucket arrives late: 'last' must follow ts, not arrival
   INSERT INTO reading (device_id, sensor_id, ts, value) VALUES ('dev-2', 'temp-2', '2025-10-17 09:59:59.5+00', 4242.25)" >/dev/null
is "$(q "SELECT count(*) FROM acme.reading WHERE value BETWEEN 990 AND 1100")" 0 "duplicates did not replace the first values"
ranges+=("2025-10-17T08:00:00Z 2025-10-17T11:30:00Z")
all_sizes "late rows, duplicates and a tail above the watermark"
is "$(got --bucket 1h --from 2025-10-17T09:00:00Z --to 2025-10-17T09:59:59.999999Z --device dev-2 --sensor temp-2 | cut -d, -f7)" \
	4242.25 "last is the value at the greatest ts, even when it arrived last"

# A lag of an hour (the default is a minute; an hour keeps this step independent of the machine's speed)
q "UPDATE acme.rollup_state SET lag = '1 hour'" >/dev/null
out=$(tsk query -t acme refresh)
like "$out" '"rows":0' "refresh within the lag: rows ingested since wait for a later refresh"
q "UPDATE acme.rollup_state SET lag = '0'" >/dev/null
out=$(tsk query -t acme refresh)
like "$out" '"rows":121' "without the lag the late rows and the tail (30 + 90 + 1) are counted"
like "$out" '"buckets_1h":3,' "and only the 3 touched hours of reading_1h are recomputed"
is "$(q "SELECT count(*) FROM acme.reading WHERE ingested_at > (SELECT watermark FROM acme.rollup_state)")" 0 \
	"nothing is left above the watermark"
all_sizes "after refreshing the late rows"

# Filters and ordering against the same reference.
is "$(got --bucket 15m --from 2025-10-17T08:00:00Z --to 2025-10-17T11:30:00Z --device dev-1 --sensor temp-1 --sensor temp-2)" \
	"$(ref '15 minutes' 2025-10-17T08:00:00Z 2025-10-17T11:30:00Z "AND device_id = 'dev-1' AND sensor_id IN ('temp-1', 'temp-2')")" \
	"--device and repeated --sensor"
is "$(got --bucket 1h --from 2025-10-17T08:00:00Z --to 2025-10-17T11:30:00Z --device dev-0 --device dev-2 --asc)" \
	"$(ref '1 hour' 2025-10-17T08:00:00Z 2025-10-17T11:30:00Z "AND device_id IN ('dev-0', 'dev-2')" ASC)" \
	"repeated --device, --asc"
is "$(got --bucket 1h --from 2025-10-17T08:00:00Z --to 2025-10-17T11:30:00Z --limit 4 --offset 3)" \
	"$(ref '1 hour' 2025-10-17T08:00:00Z 2025-10-17T11:30:00Z | sed -n 4,7p)" "--limit 4 --offset 3"
is "$(got --bucket 1h --device dev-0)" "$(ref '1 hour' -infinity infinity "AND device_id = 'dev-0'")" "no --from/--to: everything"
is "$(got --bucket 1h --from 2025-10-17T10:30:00Z --device dev-0)" "$(ref '1 hour' 2025-10-17T10:30:00Z infinity "AND device_id = 'dev-0'")" \
	"only --from (a partial first bucket)"
is "$(got --bucket 1h --to 2025-10-17T08:30:00Z --device dev-0)" "$(ref '1 hour' -infinity 2025-10-17T08:30:00Z "AND device_id = 'dev-0'")" \
	"only --to (a partial last bucket)"
is "$(got --bucket 1h --device nope)" "" "an unknown device: no rows"

# JSON lines: RFC 3339 with Z, numbers in shortest form, count an integer.
line=$(tsk query -t acme buckets --bucket 1h --from 2025-10-17T09:00:00Z --to 2025-10-17T09:59:59Z --device dev-0 --sensor temp-0)
is "$line" "$(q "SET search_path = acme; SELECT '{\"bucket\":\"2025-10-17T09:00:00Z\",\"device_id\":\"dev-0\",\"sensor_id\":\"temp-0\",\"avg\":'
	|| avg(value) || ',\"min\":' || min(value) || ',\"max\":' || max(value) || ',\"last\":' || (array_agg(value ORDER BY ts DESC))[1]
	|| ',\"count\":' || count(*) || '}'
	FROM reading WHERE device_id = 'dev-0' AND sensor_id = 'temp-0' AND ts >= '2025-10-17 09:00' AND ts < '2025-10-17 10:00'")" \
	"a JSON line with the reference values"

# Averages that are not exact in binary: the rollup stores exact decimal sums, so a bucket gives the
# same average whether it comes from rollups, raw rows or a mix, and it is the correctly rounded mean.
q "SET search_path = acme;
   INSERT INTO reading (device_id, sensor_id, ts, value)
   SELECT 'dev-9', 'hum', timestamptz '2025-10-18 00:00:03+00' + (i * 7 || ' s')::interval, (i % 10) * 0.1 + 0.7
   FROM generate_series(0, 1999) i" >/dev/null
exact() {
	q "SET search_path = acme; SELECT string_agg(a::text, ' ' ORDER BY b DESC) FROM (SELECT date_bin('$1', ts, '2000-01-01') b,
	   (sum(value::text::numeric)::numeric(1000, 40) / count(*))::float8 a FROM reading WHERE device_id = 'dev-9' GROUP BY 1) x"
}
avgs() { tsk query -t acme buckets --device dev-9 --format csv "$@" | tail -n +2 | cut -d, -f4 | tr '\r\n' '  ' | sed 's/ *$//'; }
is "$(avgs --bucket 1h)" "$(exact '1 hour')" "non-binary averages, from raw rows: the exact mean"
tsk query -t acme refresh >/dev/null
is "$(avgs --bucket 1h)" "$(exact '1 hour')" "the same from the rollups"
is "$(avgs --bucket 1h --from 2025-10-18T00:00:01Z)" "$(exact '1 hour')" \
	"the same with the first bucket from raw rows (a partial edge) and the rest from rollups"
is "$(avgs --bucket 13m)" "$(exact '13 minutes')" "13m buckets from reading_1m"

# The rollups answer: a doctored rollup row shows through for a whole, clean bucket ...
q "UPDATE acme.reading_1h SET count = count + 1000 WHERE device_id = 'dev-0' AND sensor_id = 'temp-0' AND bucket = '2025-10-17 09:00+00'" >/dev/null
is "$(got --bucket 1h --from 2025-10-17T09:00:00Z --to 2025-10-17T09:59:59.999999Z --device dev-0 --sensor temp-0 | cut -d, -f8)" \
	1180 "a whole, refreshed bucket is read from reading_1h (the doctored count shows)"
is "$(got --bucket 1h --from 2025-10-17T09:00:01Z --to 2025-10-17T09:59:59.999999Z --device dev-0 --sensor temp-0 | cut -d, -f8)" \
	179 "a partial edge bucket is read from the raw rows"
# ... and a late row makes its bucket dirty: the raw rows answer until the next refresh recomputes it.
q "INSERT INTO acme.reading (device_id, sensor_id, ts, value) VALUES ('dev-0', 'temp-0', '2025-10-17 09:30:01+00', 1)" >/dev/null
is "$(got --bucket 1h --from 2025-10-17T09:00:00Z --to 2025-10-17T09:59:59.999999Z --device dev-0 --sensor temp-0 | cut -d, -f8)" \
	181 "a bucket with a row above the watermark is computed from the raw rows"
tsk query -t acme refresh >/dev/null
is "$(q "SELECT count FROM acme.reading_1h WHERE device_id = 'dev-0' AND sensor_id = 'temp-0' AND bucket = '2025-10-17 09:00+00'")" \
	181 "the refresh recomputed the bucket from the raw rows (no delta added to the doctored row)"

done_testing
