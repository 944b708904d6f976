#!/bin/bash
# tsk-export buckets|raw --tenant: its own streaming query with tsk-query's filters, the same bytes as
# `tsk-query ... | tsk-export`, and bad input (unknown tenant, bucket, from > to, bad time, negative
# limit) refused with one line and exit 2 before any query runs.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_export_query
tsk tenant create --slug acme --name Acme >/dev/null
tsk tenant create --slug other --name Other >/dev/null
q "INSERT INTO acme.reading (device_id, sensor_id, ts, value, unit) VALUES
	('GW-1', 'temp', '2025-10-17T10:00:00Z', 20.004, 'celsius'),
	('GW-1', 'temp', '2025-10-17T10:20:00Z', 21.5, 'celsius'),
	('GW-1', 'temp', '2025-10-17T11:05:00.25Z', 22.125, 'celsius'),
	('GW-1', 'hum', '2025-10-17T10:20:00Z', 55, NULL),
	('GW,2', 'say \"hi\"', '2025-10-17T10:40:00Z', -1.005, 'per,cent'),
	(E'two\nlines', 'x', '2025-10-17T12:00:00Z', 1e6, 'unit')" >/dev/null
q "INSERT INTO other.reading (device_id, sensor_id, ts, value) VALUES ('SECRET', 's', '2025-10-17T10:00:00Z', 1)" >/dev/null

printf '%s\r\n' 'ts,device_id,sensor_id,value,unit' \
	'2025-10-17T12:00:00Z,"two
lines",x,1000000.00,unit' \
	'2025-10-17T11:05:00.25Z,GW-1,temp,22.12,celsius' \
	'2025-10-17T10:40:00Z,"GW,2","say ""hi""",-1.00,"per,cent"' \
	'2025-10-17T10:20:00Z,GW-1,hum,55.00,' \
	'2025-10-17T10:20:00Z,GW-1,temp,21.50,celsius' \
	'2025-10-17T10:00:00Z,GW-1,temp,20.00,celsius' >"$T/raw.want"
tsk export raw --tenant acme >"$T/raw.csv" 2>"$T/err"
is $? 0 "raw: exit 0"
cmp -s "$T/raw.csv" "$T/raw.want"
ok $? "raw: exact bytes, newest first, ties by device and sensor"
is "$(cat "$T/err")" "" "raw: nothing on stderr"
grep -q SECRET "$T/raw.csv"
is $? 1 "another tenant's rows never appear"

rows() { tsk export "$@" | tail -n +2 | tr -d '\r' | awk '{ printf "%s|", $0 }'; }
is "$(rows raw --tenant acme --asc --device GW-1)" \
	"2025-10-17T10:00:00Z,GW-1,temp,20.00,celsius|2025-10-17T10:20:00Z,GW-1,hum,55.00,|2025-10-17T10:20:00Z,GW-1,temp,21.50,celsius|2025-10-17T11:05:00.25Z,GW-1,temp,22.12,celsius|" \
	"--asc --device"
is "$(rows raw --tenant acme --sensor hum --sensor x)" \
	"2025-10-17T12:00:00Z,\"two|lines\",x,1000000.00,unit|2025-10-17T10:20:00Z,GW-1,hum,55.00,|" "--sensor repeatable"
is "$(rows raw --tenant acme --device GW-1 --device 'GW,2' --sensor temp --sensor 'say "hi"')" \
	"2025-10-17T11:05:00.25Z,GW-1,temp,22.12,celsius|2025-10-17T10:40:00Z,\"GW,2\",\"say \"\"hi\"\"\",-1.00,\"per,cent\"|2025-10-17T10:20:00Z,GW-1,temp,21.50,celsius|2025-10-17T10:00:00Z,GW-1,temp,20.00,celsius|" \
	"--device and --sensor repeatable together (ids with commas and quotes)"
is "$(rows raw --tenant acme --from 2025-10-17T10:20:00Z --to 2025-10-17T10:40:00Z --asc)" \
	"2025-10-17T10:20:00Z,GW-1,hum,55.00,|2025-10-17T10:20:00Z,GW-1,temp,21.50,celsius|2025-10-17T10:40:00Z,\"GW,2\",\"say \"\"hi\"\"\",-1.00,\"per,cent\"|" \
	"--from and --to are inclusive"
is "$(rows raw --tenant acme --device GW-1 --limit 2 --offset 1)" \
	"2025-10-17T10:20:00Z,GW-1,hum,55.00,|2025-10-17T10:20:00Z,GW-1,temp,21.50,celsius|" "--limit and --offset"
is "$(tsk export raw --tenant acme --order any | sort)" "$(sort "$T/raw.want")" "--order any: the same rows in the database's order"
is "$(tsk export raw --tenant acme --device nobody | tr -d '\r')" "ts,device_id,sensor_id,value,unit" \
	"no matching row: the header alone"

printf '%s\r\n' 'bucket,device_id,sensor_id,avg,min,max,last,count' \
	'2025-10-17T12:00:00Z,"two
lines",x,1000000.00,1000000.00,1000000.00,1000000.00,1' \
	'2025-10-17T11:00:00Z,GW-1,temp,22.12,22.12,22.12,22.12,1' \
	'2025-10-17T10:00:00Z,"GW,2","say ""hi""",-1.00,-1.00,-1.00,-1.00,1' \
	'2025-10-17T10:00:00Z,GW-1,hum,55.00,55.00,55.00,55.00,1' \
	'2025-10-17T10:00:00Z,GW-1,temp,20.75,20.00,21.50,21.50,2' >"$T/b.want"
tsk export buckets --tenant acme >"$T/b.csv"
is $? 0 "buckets (default 1h): exit 0"
cmp -s "$T/b.csv" "$T/b.want"
ok $? "buckets: exact bytes (avg/min/max/last, integer count)"
is "$(tsk export buckets --tenant acme --bucket 1d --asc | tail -n +2 | tr -d '\r' | grep temp)" \
	"2025-10-17T00:00:00Z,GW-1,temp,21.21,20.00,22.12,22.12,3" "--bucket 1d"

# The two ways to the same CSV agree byte for byte: the pipeline and the tool's own query.
if [ -x "$TSK_BUILD/tsk-query" ]; then
	tsk query buckets --tenant acme --bucket 15m | tsk export | cmp -s - <(tsk export buckets --tenant acme --bucket 15m)
	ok $? "tsk-query buckets | tsk-export == tsk-export buckets"
	tsk query raw --tenant acme --limit 1000 | tsk export | cmp -s - "$T/raw.want"
	ok $? "tsk-query raw | tsk-export == tsk-export raw"
	tsk query refresh --tenant acme >/dev/null 2>&1
	tsk export buckets --tenant acme | cmp -s - "$T/b.want"
	ok $? "after a rollup refresh: the same buckets"
else
	ok 1 "tsk-query is not built ($TSK_BUILD/tsk-query)"
fi

# Bad input: one line, exit 2, and no database is even contacted (the DSN points nowhere).
bad() { # bad DESCRIPTION REGEX ARGS...
	local desc=$1 re=$2; shift 2
	err=$(TSK_DATABASE_URL="host=127.0.0.1 port=1 dbname=none connect_timeout=1" tsk export "$@" 2>&1 >"$T/bad.out")
	is "$?" 2 "$desc: exit 2 (before connecting)"
	like "$err" "$re" "$desc: says why"
}
bad "unknown bucket" '^tsk-export: unknown bucket "7x"' buckets --tenant acme --bucket 7x
bad "zero bucket" 'bucket' buckets --tenant acme --bucket 0m
bad "--from after --to" '^tsk-export: --from 2025-10-18T00:00:00Z is after --to 2025-10-17T00:00:00Z' raw --tenant acme --from 2025-10-18 --to 2025-10-17
bad "unparseable --from" '^tsk-export: invalid from time "yesterday"' raw --tenant acme --from yesterday
bad "unparseable --to" '^tsk-export: invalid to time "2025-13-01"' raw --tenant acme --to 2025-13-01
bad "negative --limit" '^tsk-export: invalid limit "-1"' raw --tenant acme --limit -1
bad "negative --offset" '^tsk-export: invalid offset "-5"' raw --tenant acme --offset -5
bad "no --tenant" '^tsk-export: raw needs --tenant SLUG' raw
bad "--layout with a command" 'layout' raw --tenant acme --layout raw
bad "bad --order" 'order' raw --tenant acme --order sideways
is "$(wc -c <"$T/bad.out")" 0 "nothing on standard output for bad input"

echo "keep me" >"$T/keep.csv"
err=$(tsk export raw --tenant nope -o "$T/keep.csv" 2>&1)
is $? 2 "unknown tenant: exit 2"
is "$err" 'tsk-export: unknown tenant "nope"' "unknown tenant: one line"
is "$(cat "$T/keep.csv")" "keep me" "unknown tenant: the existing -o file is untouched"
is "$(ls -A "$T" | grep -c '^\.keep\.csv\.')" 0 "and no temporary file is left"

err=$(TSK_DATABASE_URL="host=127.0.0.1 port=1 dbname=none connect_timeout=2" tsk export raw --tenant acme -o "$T/keep.csv" 2>&1)
is $? 75 "database unreachable: exit 75 (try again later)"
like "$err" '^tsk-export: cannot connect to the database' "database unreachable: says so"
is "$(cat "$T/keep.csv")" "keep me" "database unreachable: the -o file is untouched"

# --excel-safe (issue 8): text cells a spreadsheet would run as a formula get a quote in front, from the
# database and from standard input alike; numbers (negative ones too) stay numbers.
q "INSERT INTO acme.reading (device_id, sensor_id, ts, value, unit) VALUES
	('=cmd|'' /C calc''!A0', '@sum', '2030-01-01T00:00:00Z', -2.5, '-x'),
	('+dev', E'\\tt', '2030-01-01T00:00:01Z', 3, 'a;b')" >/dev/null
printf '%s\r\n' 'ts,device_id,sensor_id,value,unit' \
	"2030-01-01T00:00:00Z,\"'=cmd|' /C calc'!A0\",\"'@sum\",-2.50,\"'-x\"" \
	"2030-01-01T00:00:01Z,\"'+dev\",\"'"$'\t'"t\",3.00,\"a;b\"" >"$T/xl.want"
tsk export raw --tenant acme --from 2030-01-01 --asc --excel-safe >"$T/xl.csv"
is $? 0 "--excel-safe raw: exit 0"
cmp -s "$T/xl.csv" "$T/xl.want"
ok $? "--excel-safe raw: = + @ - TAB cells get a quote in front, ';' is quoted, -2.50 stays a number"
tsk query -t acme raw --from 2030-01-01 --asc | tsk export --excel-safe >"$T/xl2.csv"
cmp -s "$T/xl2.csv" "$T/xl.want"
ok $? "--excel-safe from tsk-query's JSON lines: the same bytes"
tsk export buckets --tenant acme --bucket 1h --from 2030-01-01 --to 2030-01-01T00:59:59Z --asc --excel-safe >"$T/xlb.csv"
like "$(sed -n 2p "$T/xlb.csv")" "^2030-01-01T00:00:00Z,\"'\+dev\",\"'"$'\t'"t\",3.00,3.00,3.00,3.00,1"$'\r'"\$" \
	"--excel-safe buckets: the text columns neutralized, the numbers kept"
tsk export raw --tenant acme --from 2030-01-01 --asc | tail -n +2 | head -1 >"$T/xl3.csv"
is "$(tr -d '\r' <"$T/xl3.csv")" "2030-01-01T00:00:00Z,=cmd|' /C calc'!A0,@sum,-2.50,-x" "without --excel-safe: the cells as stored"

done_testing
