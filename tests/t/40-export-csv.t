#!/bin/bash
# tsk-export from JSON lines: the exact CSV bytes of tsk-formats(5) (header, CRLF, RFC 4180 quoting of
# commas, quotes and newlines, two decimals, integer counts, RFC 3339 UTC), layout detection and forcing,
# --help/--version, and write errors reported (a full disk is exit 1, never a silent truncation).
. "$(dirname "$0")/../lib/tap.sh"

cat >"$T/buckets.jsonl" <<'JSON'
{"bucket":"2025-10-17T10:00:00Z","device_id":"GW-1","sensor_id":"temp-01","avg":23.456,"min":21,"max":25.5,"last":24.994,"count":60}
{"bucket":"2025-10-17T11:00:00+03:00","device_id":"GW,2","sensor_id":"say \"hi\"","avg":-0.004,"min":-1.005,"max":0.125,"last":2.675,"count":3}

{"bucket":"2025-10-17T12:00:00.5Z","device_id":"two\nlines","sensor_id":"cr\r","avg":1e3,"min":0,"max":1234567.891,"last":-7,"count":1.0,"extra":"ignored"}
{"bucket":"2025-10-17T13:00:00Z","device_id":"sala-técnica","sensor_id":"t","avg":0.005,"min":0.015,"max":1.005,"last":99.995,"count":0}
JSON
printf '%s\r\n' 'bucket,device_id,sensor_id,avg,min,max,last,count' \
	'2025-10-17T10:00:00Z,GW-1,temp-01,23.46,21.00,25.50,24.99,60' \
	'2025-10-17T08:00:00Z,"GW,2","say ""hi""",0.00,-1.00,0.12,2.67,3' \
	'2025-10-17T12:00:00.5Z,"two
lines","cr'$'\r''",1000.00,0.00,1234567.89,-7.00,1' \
	'2025-10-17T13:00:00Z,sala-técnica,t,0.01,0.01,1.00,100.00,0' >"$T/buckets.want"

tsk export <"$T/buckets.jsonl" >"$T/buckets.csv" 2>"$T/err"
is $? 0 "bucket rows: exit 0"
cmp -s "$T/buckets.csv" "$T/buckets.want"
ok $? "bucket rows: exact bytes (CRLF, quoting, 2 decimals, integer count, times in UTC)"
[ "$(cmp "$T/buckets.csv" "$T/buckets.want" 2>&1)" = "" ] || diag "$(od -c "$T/buckets.csv" | head -20)"
is "$(cat "$T/err")" "" "nothing on stderr"

cat >"$T/raw.jsonl" <<'JSON'
{"ts":"2025-10-17T10:30:00Z","device_id":"GW-1","sensor_id":"temp-01","value":23.5,"unit":"celsius","labels":{"x":1}}
{"ts":"2025-10-17T10:31:00.123456Z","device_id":"GW-1","sensor_id":"hum","value":55,"unit":null,"labels":{}}
{"ts":"2025-10-17T10:32:00Z","device_id":"a\"b","sensor_id":"c,d","value":-12.345,"unit":"per,cent"}
{"ts":"2025-10-17T10:33:00Z","device_id":"e","sensor_id":"f","value":0.5}
JSON
printf '%s\r\n' 'ts,device_id,sensor_id,value,unit' \
	'2025-10-17T10:30:00Z,GW-1,temp-01,23.50,celsius' \
	'2025-10-17T10:31:00.123456Z,GW-1,hum,55.00,' \
	'2025-10-17T10:32:00Z,"a""b","c,d",-12.35,"per,cent"' \
	'2025-10-17T10:33:00Z,e,f,0.50,' >"$T/raw.want"
tsk export <"$T/raw.jsonl" >"$T/raw.csv"
is $? 0 "readings: exit 0"
cmp -s "$T/raw.csv" "$T/raw.want"
ok $? "readings: exact bytes (ts,device_id,sensor_id,value,unit; null unit empty)"

tsk export --layout raw <"$T/raw.jsonl" | cmp -s - "$T/raw.want"
ok $? "--layout raw on readings: the same bytes"
tsk export --layout buckets </dev/null | cmp -s - <(printf 'bucket,device_id,sensor_id,avg,min,max,last,count\r\n')
ok $? "a forced layout writes the header even for empty input"
is "$(tsk export </dev/null | wc -c)" 0 "empty input, layout auto: empty output"
printf '\n  \n' | tsk export >/dev/null
is $? 0 "blank lines are not rows and not errors"

tsk export --layout nope </dev/null >/dev/null 2>"$T/err"
is $? 2 "unknown --layout: exit 2"
like "$(cat "$T/err")" '^tsk-export: unknown layout "nope"' "one line naming the bad value"
tsk export --device x </dev/null >/dev/null 2>"$T/err"
is $? 2 "filters without a command: exit 2"
tsk export bogus </dev/null >/dev/null 2>"$T/err"
is $? 2 "unknown command: exit 2"
tsk export -o "$T/x.csv" --s3 s3://b/k </dev/null >/dev/null 2>&1
is $? 2 "-o and --s3 together: exit 2"

help=$(tsk export --help)
is $? 0 "--help: exit 0"
like "$help" 'buckets\|raw --tenant SLUG' "--help shows the query form"
like "$help" 'Exit status: 0 ok, 1 failure' "--help shows the exit codes"
like "$(tsk export --version)" '^tsk-export [0-9]+\.[0-9]+\.[0-9]+$' "--version"

# Write errors: a full disk is reported and fails, whatever the size of the output.
tsk export <"$T/raw.jsonl" >/dev/full 2>"$T/err"
is $? 1 "> /dev/full: exit 1"
like "$(cat "$T/err")" '^tsk-export: write error on standard output: No space left on device$' "> /dev/full: one line saying why"
tsk export --help >/dev/full 2>"$T/err"
is $? 1 "--help > /dev/full: exit 1 (fclose checked)"
like "$(cat "$T/err")" 'write error' "--help > /dev/full: reported"
# A reader that goes away ends the export (SIGPIPE), it does not loop or hang.
awk 'BEGIN { for (i = 0; i < 200000; i++) printf "{\"ts\":\"2025-10-17T10:30:00Z\",\"device_id\":\"d%d\",\"sensor_id\":\"s\",\"value\":%d}\n", i, i }' >"$T/many.jsonl"
is "$(tsk export <"$T/many.jsonl" | head -n 2 | tail -n 1 | tr -d '\r')" "2025-10-17T10:30:00Z,d0,s,0.00," "| head: the first rows arrive and the export stops"

done_testing
