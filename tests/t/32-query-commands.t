#!/bin/bash
# tsk-query raw, latest, history, summary, sensors; the output formats; bad input refused with exit 2
# before any query runs; write errors and an unreachable database.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_q32
tsk tenant create --slug acme --name Acme >/dev/null

# One fixed instant for the tools (TSK_NOW: "now", -6h, the default windows) and for the SQL that
# checks them ($AT), so that nothing depends on when the test runs or how long a step takes: a whole
# second of the database's clock. (Only latest's online flag uses the database's own now(); the data's
# ages, 2 minutes, 10 minutes and 3 hours, are far from its thresholds of 1 and 4 hours.)
NOW=$(q "SELECT extract(epoch FROM date_trunc('second', now()))::bigint")
export TSK_NOW=$NOW
AT="to_timestamp($NOW)"
# dev-a/t1: a reading a minute for 30 hours up to 2 minutes ago; dev-a/t2: last reading 3 hours ago;
# dev-b/h1: last reading 10 minutes ago.
q "SET search_path = acme;
   INSERT INTO reading (device_id, sensor_id, ts, value, unit, labels)
   SELECT 'dev-a', 't1', $AT - interval '2 minutes' - (i || ' minutes')::interval, 20 + (i % 17) * 0.25,
          'celsius', '{\"type\": \"temperature\"}'
   FROM generate_series(0, 1799) i;
   INSERT INTO reading (device_id, sensor_id, ts, value, unit)
   SELECT 'dev-a', 't2', $AT - interval '3 hours' - (i || ' minutes')::interval, 50 + i, 'percent_rh'
   FROM generate_series(0, 9) i;
   INSERT INTO reading (device_id, sensor_id, ts, value, unit) VALUES ('dev-b', 'h1', $AT - interval '10 minutes', 61.5, 'percent_rh');
   INSERT INTO device (device_id, last_seen) SELECT 'dev-a', $AT - interval '2 minutes' UNION ALL SELECT 'dev-b', $AT - interval '10 minutes';
   INSERT INTO sensor (device_id, sensor_id, unit, type, last_seen, last_ts, last_value)
   SELECT device_id, sensor_id, min(unit), 'x', max(ts), max(ts), (array_agg(value ORDER BY ts DESC))[1] FROM reading GROUP BY 1, 2" >/dev/null
# jf PATH...: for each JSON line on standard input, the values at the paths (a.b, a.0), space-separated:
# numbers exactly as written, booleans true/false, null, objects and arrays as compact JSON. Perl's
# JSON::PP (part of perl, which the project already needs), so the tests do not depend on jq.
jf() {
	perl -MJSON::PP -e '
		my $js = JSON::PP->new->allow_bignum->allow_nonref->canonical;
		while (my $l = <STDIN>) {
			next unless $l =~ /\S/;
			my $v = $js->decode($l);
			my @o;
			for my $p (@ARGV) {
				my $x = $v;
				$x = ref($x) eq "ARRAY" ? $x->[$_] : $x->{$_} for split /\./, $p;
				push @o, !defined($x) ? "null" : JSON::PP::is_bool($x) ? ($x ? "true" : "false")
				    : (ref($x) && ref($x) !~ /^Math::/) ? $js->encode($x) : "$x";
			}
			print join(" ", @o), "\n";
		}' "$@"
}
fmt_ts() { echo "to_char($1 AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"; }

# raw
out=$(tsk query -t acme raw --device dev-a --sensor t1 --limit 5)
is "$(jf ts value <<<"$out")" \
	"$(q "SELECT $(fmt_ts ts) || ' ' || value FROM acme.reading WHERE device_id = 'dev-a' AND sensor_id = 't1' ORDER BY ts DESC LIMIT 5")" \
	"raw: the newest 5 readings, newest first"
is "$(jf labels <<<"$out" | head -1)" '{"type":"temperature"}' "raw: labels as an object"
is "$(tsk query -t acme raw --sensor t2 --asc --limit 3 | jf value | tr '\n' ' ')" "59 58 57 " "raw --asc: oldest first"
is "$(tsk query -t acme raw --device dev-a | wc -l)" 100 "raw: 100 readings unless --limit"
is "$(tsk query -t acme raw --device dev-a --limit 2 --offset 1 | jf value | tr '\n' ' ')" \
	"$(q "SELECT string_agg(value::text, ' ') || ' ' FROM (SELECT value FROM acme.reading WHERE device_id = 'dev-a' ORDER BY ts DESC, sensor_id OFFSET 1 LIMIT 2) x")" \
	"raw --limit --offset"
# A relative --from against the tools' fixed clock (TSK_NOW), and the same instant in the SQL.
st=$(tsk query -t acme raw --device dev-a --sensor t1 --from -6h --limit 1 --stats | tail -1)
is "$(jf stats.count stats.avg stats.min stats.max stats.first_ts stats.last_ts <<<"$st")" \
	"$(q "SELECT concat_ws(' ', count(*), (sum(value::text::numeric)::numeric(1000, 40) / count(*))::float8, min(value), max(value),
	      $(fmt_ts 'min(ts)'), $(fmt_ts 'max(ts)')) FROM acme.reading WHERE device_id = 'dev-a' AND sensor_id = 't1'
	      AND ts >= $AT - interval '6 hours'")" \
	"raw --stats: count, avg, min, max, first and last ts over the whole filter (not just --limit)"
tbl=$(tsk query -t acme raw --device dev-b --stats --format table)
like "$tbl" $'^ts +device_id +sensor_id +value +unit +labels +site +asset_tag\n' "raw --format table: a header (site and asset_tag last)"
like "$tbl" $'\n\ncount +avg +min +max +first_ts +last_ts\n +1 +61.5 +61.5 +61.5 ' "and the statistics as a second table"

# latest
out=$(tsk query -t acme latest --device dev-a)
is "$(jf sensor_id value online <<<"$out" | tr '\n' ',')" "t1 20 true,t2 50 false," \
	"latest: one row per sensor; online from the tenant's offline_after (1h)"
is "$(jf ts <<<"$out" | head -1)" "$(q "SELECT $(fmt_ts 'max(ts)') FROM acme.reading WHERE sensor_id = 't1'")" "latest: the last ts, RFC 3339 Z"

# history: --interval auto picks by the span (<= 1h raw, <= 6h 1m, <= 24h 5m, else 1h)
iv() { tsk query -t acme history --device dev-a --sensor t1 "$@" | head -1 | jf interval; }
is "$(iv --from -30m)" raw "history, 30 minutes: raw"
is "$(iv --from -1h --to now)" raw "history, exactly 1 hour: raw"
is "$(iv --from -61m)" 1m "history, 61 minutes: 1m"
is "$(iv --from -6h)" 1m "history, 6 hours: 1m"
is "$(iv --from -7h)" 5m "history, 7 hours: 5m"
is "$(iv)" 5m "history, default span (24 hours): 5m"
is "$(iv --from -25h)" 1h "history, 25 hours: 1h"
is "$(iv --from -25h --interval raw)" raw "history --interval raw"
is "$(iv --from -30m --interval 5m)" 5m "history --interval 5m"
h=$(tsk query -t acme history --device dev-a --sensor t1 --from -4h --to -2h)
is "$(jf ts value count interval <<<"$h" | sed -n 2,4p)" \
	"$(q "SET search_path = acme; SELECT $(fmt_ts b) || ' ' || a || ' ' || n || ' 1m' FROM (SELECT date_bin('1 minute', ts, '2000-01-01') b,
	      avg(value) a, count(*) n FROM reading WHERE device_id = 'dev-a' AND sensor_id = 't1'
	      AND ts >= $AT - interval '4 hours' AND ts <= $AT - interval '2 hours' GROUP BY 1) x ORDER BY b OFFSET 1 LIMIT 3")" \
	"history: 1m points oldest first, value = the bucket average"
tbl=$(tsk query -t acme history --device dev-a --sensor t1 --from -30m --format table)
like "$tbl" '^ts +device_id +sensor_id +value +min +max +count +chart' "history table: a chart column"
like "$tbl" '█' "with bars"

# summary
s=$(tsk query -t acme summary --device dev-a)
is "$(jf online sensors.1.sensor_id sensors.2 <<<"$s")" "true t2 null" "summary: dev-a online (a sensor of it is), 2 sensors"
is "$(jf sensors.0.sensor_id sensors.0.last_value sensors.0.online sensors.0.count_24h sensors.0.avg_24h sensors.0.min_24h sensors.0.max_24h <<<"$s")" \
	"$(q "SELECT concat_ws(' ', 't1', 20, 'true', count(*), (sum(value::text::numeric)::numeric(1000, 40) / count(*))::float8, min(value), max(value))
	      FROM acme.reading WHERE sensor_id = 't1' AND ts > $AT - interval '24 hours'")" \
	"summary: t1's last value and 24 h count, avg, min, max"
is "$(jf sensors.1.sensor_id sensors.1.online sensors.1.count_24h <<<"$s")" 't2 false 10' "summary: t2 offline (3 hours)"
is "$(tsk query -t acme summary --device dev-b | jf online sensors.0.online)" 'true true' \
	"summary: dev-b online, as its sensor (10 minutes < offline_after 1h): one rule for both"
tsk query -t acme summary --device nope >/dev/null 2>&1
is $? 2 "summary of an unknown device: exit 2"

# sensors: the catalog, online from last_seen and offline_after
is "$(tsk query -t acme sensors | jf device_id sensor_id online | tr '\n' ',')" \
	"dev-a t1 true,dev-a t2 false,dev-b h1 true," "sensors: online with offline_after 1h (default)"
tsk tenant set acme offline_after '"5m"' >/dev/null
is "$(tsk query -t acme sensors | jf online | tr '\n' ',')" "true,false,false," "offline_after 5m: h1 goes offline"
is "$(tsk query -t acme summary --device dev-b | jf online sensors.0.online)" "false false" "and summary agrees, for the device too"
tsk tenant set acme offline_after '"4h"' >/dev/null
is "$(tsk query -t acme sensors --device dev-a | jf online | tr '\n' ',')" "true,true," "offline_after 4h: t2 online again"
is "$(tsk query -t acme latest --device dev-a | jf online | tr '\n' ',')" "true,true," "and latest agrees"

# One online rule (issue 8): a sensor is online when its last reading ARRIVED (the catalog's last_seen)
# within offline_after, whatever its timestamp says; without a catalog row, its newest ts decides; a
# device is online when one of its sensors is. latest, summary and sensors agree.
tsk tenant create --slug beta --name Beta >/dev/null
q "SET search_path = beta;
   INSERT INTO reading (device_id, sensor_id, ts, value) VALUES
	('dev-c', 's1', now() - interval '3 days', 1), ('dev-c', 's2', now() - interval '2 hours', 2),
	('dev-d', 'x', now() - interval '1 minute', 3), ('dev-e', 'y', now() - interval '2 hours', 4);
   INSERT INTO device (device_id, last_seen) VALUES ('dev-c', now() - interval '1 minute'), ('dev-e', now() - interval '2 hours');
   INSERT INTO sensor (device_id, sensor_id, last_seen, last_ts, last_value) VALUES
	('dev-c', 's1', now() - interval '1 minute', now() - interval '3 days', 1),
	('dev-c', 's2', now() - interval '2 hours', now() - interval '2 hours', 2),
	('dev-e', 'y', now() - interval '2 hours', now() - interval '2 hours', 4)" >/dev/null
is "$(tsk query -t beta sensors | jf device_id sensor_id online | tr '\n' ',')" "dev-c s1 true,dev-c s2 false,dev-e y false," \
	"sensors: s1 online (arrived a minute ago, stamped 3 days ago), s2 and y offline (2 hours)"
is "$(tsk query -t beta latest --device dev-c | jf sensor_id online | tr '\n' ',')" "s1 true,s2 false," \
	"latest: the same rule (s1's old timestamp does not make it offline)"
is "$(tsk query -t beta summary --device dev-c | jf online sensors.0.online sensors.1.online)" "true true false" \
	"summary: the same rule per sensor; dev-c online because s1 is"
is "$(tsk query -t beta summary --device dev-e | jf online sensors.0.online)" "false false" \
	"summary: a device whose sensors are all offline is offline"
is "$(tsk query -t beta latest --device dev-d | jf online)" true "latest: no catalog row, the newest ts decides (a minute ago)"
is "$(tsk query -t beta summary --device dev-d | jf online sensors.0.online)" "true true" "summary: the same"

# Formats
csv=$(tsk query -t acme buckets --bucket 1h --device dev-b --format csv)
is "$(head -1 <<<"$csv")" $'bucket,device_id,sensor_id,avg,min,max,last,count\r' "buckets csv: the contract's header, CRLF"
is "$(sed -n 2p <<<"$csv" | cut -d, -f2-)" $'dev-b,h1,61.5,61.5,61.5,61.5,1\r' "buckets csv: a row"
like "$(tsk query -t acme buckets --bucket 1h --device dev-b --format table)" '^bucket +device_id +sensor_id +avg +min +max +last +count' \
	"buckets table: aligned header"

# Bad input: exit 2, one line, before any query. The DSN points at a closed port, so an error about
# the database would mean a connection was tried before the input was checked.
nodb="host=127.0.0.1 port=1 connect_timeout=2"
bad() { # bad DESCRIPTION REGEX ARGS...
	local d=$1 re=$2 err rc
	shift 2
	err=$(tsk query --dsn "$nodb" "$@" 2>&1 >/dev/null)
	rc=$?
	is "$rc" 2 "$d: exit 2"
	like "$err" "$re" "$d: says why ($(head -1 <<<"$err"))"
}
bad "unknown bucket" '^tsk-query: unknown bucket "3x"' -t acme buckets --bucket 3x
bad "zero bucket" 'unknown bucket "0m"' -t acme buckets --bucket 0m
bad "fractional bucket" 'unknown bucket "1.5h"' -t acme buckets --bucket 1.5h
bad "bucket in seconds" 'unknown bucket "30s"' -t acme buckets --bucket 30s
bad "--from after --to" '^tsk-query: --from 2025-10-18T00:00:00Z is after --to 2025-10-17T00:00:00Z$' -t acme buckets --from 2025-10-18 --to 2025-10-17
bad "unparseable --from" 'invalid from time "yesterday"' -t acme buckets --from yesterday
bad "unparseable --to" 'invalid to time "2025-13-01"' -t acme raw --to 2025-13-01
bad "negative --limit" 'invalid limit "-1"' -t acme raw --limit -1
bad "negative --offset" 'invalid offset "-5"' -t acme buckets --offset -5
bad "non-numeric --limit" 'invalid limit "ten"' -t acme raw --limit ten
bad "unknown command" 'unknown command "bukets"' -t acme bukets
bad "no command" 'no command given' -t acme
bad "no tenant" 'buckets needs --tenant' buckets
bad "unknown format" 'unknown format "xml"' -t acme buckets --format xml
bad "unknown interval" 'unknown interval "2s"' -t acme history --interval 2s
bad "--stats with csv" 'use --format jsonl or table' -t acme raw --stats --format csv
bad "empty device" 'empty device id' -t acme raw --device ''
err=$(tsk query -t nope buckets 2>&1)
is "$?/$err" '2/tsk-query: unknown tenant "nope"' "unknown tenant: exit 2, one line"
err=$(tsk query -t "acme'; DROP TABLE acme.reading; --" buckets 2>&1)
is "$?" 2 "a hostile tenant slug is just an unknown tenant"
is "$(tsk query -t acme raw --device "x'); DROP TABLE reading; --" --sensor '"\\' | wc -l)" 0 "hostile ids are values: no rows"
is "$(q "SELECT count(*) > 0 FROM acme.reading")" t "and the table is still there"
tsk query -t acme latest >/dev/null 2>&1
is $? 2 "latest without --device: exit 2"

# Help, version, write errors, database down
like "$(tsk query --help)" '^usage: tsk-query' "--help"
is "$(tsk query --version)" "tsk-query $(sed -n 's/^VERSION *:= *//p' Makefile)" "--version"
err=$(tsk query -t acme raw --device dev-a 2>&1 >/dev/full)
is "$?" 1 "a full disk: exit 1"
like "$err" 'tsk-query: write error' "and says so"
tsk query --dsn "$nodb" -t acme buckets >/dev/null 2>&1
is $? 75 "database unreachable: exit 75 (retry later)"

done_testing
