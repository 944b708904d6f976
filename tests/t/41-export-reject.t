#!/bin/bash
# tsk-export from JSON lines with bad lines among good ones: each bad line is reported on stderr with its
# line number and why, every good row is still written, and the exit status is 3 at the end.
. "$(dirname "$0")/../lib/tap.sh"

cat >"$T/in.jsonl" <<'JSON'
{"ts":"2025-10-17T10:30:00Z","device_id":"d","sensor_id":"s","value":1,"unit":"celsius"}
not json at all
[1,2,3]
{"ts":"2025-10-17T10:31:00Z","device_id":"d","sensor_id":"s","value":"12"}
{"ts":"yesterday","device_id":"d","sensor_id":"s","value":2}
{"ts":"2025-10-17T10:32:00Z","device_id":"","sensor_id":"s","value":3}
{"bucket":"2025-10-17T10:00:00Z","device_id":"d","sensor_id":"s","avg":1,"min":1,"max":1,"last":1,"count":1}
{"ts":"2025-10-17T10:33:00Z","device_id":"d","sensor_id":"s","value":4,"unit":5}
{"hello":"world"}

{"ts":"2025-10-17T10:34:00Z","device_id":"d","sensor_id":"s2","value":5.555,"unit":null}
{"ts":"2025-10-17T10:35:00Z","device_id":"d","sensor_id":"s","value":6
JSON
printf '%s\r\n' 'ts,device_id,sensor_id,value,unit' \
	'2025-10-17T10:30:00Z,d,s,1.00,celsius' \
	'2025-10-17T10:34:00Z,d,s2,5.55,' >"$T/want"

tsk export <"$T/in.jsonl" >"$T/out.csv" 2>"$T/err"
is $? 3 "bad lines among good ones: exit 3"
cmp -s "$T/out.csv" "$T/want"
ok $? "the good rows are all written, nothing of the bad ones"
err=$(cat "$T/err")
like "$err" 'tsk-export: line 2: invalid JSON at column 3' "line 2: not JSON"
like "$err" 'tsk-export: line 3: not a JSON object' "line 3: an array"
like "$err" 'tsk-export: line 4: reading: "value" is not a number' "line 4: a string value"
like "$err" 'tsk-export: line 5: reading: "ts" is not an RFC 3339 time: "yesterday"' "line 5: a bad time"
like "$err" 'tsk-export: line 6: reading: "device_id" is not a non-empty string' "line 6: an empty device_id"
like "$err" 'tsk-export: line 7: a bucket row after readings: one export holds one layout' "line 7: the layout switches"
like "$err" 'tsk-export: line 8: reading: "unit" is neither a string nor null' "line 8: a numeric unit"
like "$err" 'tsk-export: line 9: reading without "ts"' "line 9: some other object, after readings: what a reading lacks"
like "$err" 'tsk-export: line 12: invalid JSON' "line 12 (after a blank line): a truncated object"
like "$err" 'tsk-export: 9 of 11 lines rejected; 2 rows written' "a closing count"
is "$(grep -c '^tsk-export: line ' "$T/err")" 9 "one line per rejected input line"

printf '{"hello":1}\n' | tsk export 2>"$T/err1" | cmp -s - /dev/null
ok $? "an object of neither layout alone: no output"
like "$(cat "$T/err1")" 'line 1: neither a bucket row \(bucket, device_id, sensor_id, avg, min, max, last, count\) nor a reading' \
	"and the message names both layouts"

# The first row sets the layout only when it is good: a bad first line does not decide it.
printf '%s\n' '{"bucket":"nope","device_id":"d","sensor_id":"s","avg":1,"min":1,"max":1,"last":1,"count":1}' \
	'{"ts":"2025-10-17T10:30:00Z","device_id":"d","sensor_id":"s","value":1}' | tsk export >"$T/out2.csv" 2>"$T/err2"
is $? 3 "a bad bucket row first, then a reading: exit 3"
is "$(head -n 1 "$T/out2.csv" | tr -d '\r')" "ts,device_id,sensor_id,value,unit" "the good reading set the layout"
like "$(cat "$T/err2")" 'line 1: bucket row: "bucket" is not an RFC 3339 time' "the bad bucket row reported"

printf '%s\n' '{"bucket":"2025-10-17T10:00:00Z","device_id":"d","sensor_id":"s","avg":1,"min":1,"max":1,"last":1,"count":-1}' \
	'{"bucket":"2025-10-17T10:00:00Z","device_id":"d","sensor_id":"s","avg":1,"min":1,"max":1,"last":1,"count":2.5}' \
	'{"bucket":"2025-10-17T10:00:00Z","device_id":"d","sensor_id":"s","avg":1,"min":null,"max":1,"last":1,"count":2}' \
	'{"bucket":"2025-10-17T10:00:00Z","device_id":"d","sensor_id":"s","avg":1,"min":1,"max":1,"count":2}' |
	tsk export 2>"$T/err3" >/dev/null
is $? 3 "bad bucket rows: exit 3"
like "$(cat "$T/err3")" 'line 1: bucket row: "count" is not a whole number >= 0' "a negative count"
like "$(cat "$T/err3")" 'line 2: bucket row: "count" is not a whole number' "a fractional count"
like "$(cat "$T/err3")" 'line 3: bucket row: "min" is not a number' "a null min"
like "$(cat "$T/err3")" 'line 4: bucket row without "last"' "a missing column"

# --layout forces the layout from the first line on.
tsk export --layout buckets <"$T/in.jsonl" >"$T/out4.csv" 2>/dev/null
is $? 3 "--layout buckets over readings: exit 3"
is "$(tr -d '\r' <"$T/out4.csv")" "bucket,device_id,sensor_id,avg,min,max,last,count
2025-10-17T10:00:00Z,d,s,1.00,1.00,1.00,1.00,1" "only the bucket row is written, under the bucket header"

# A flood of bad lines: the first hundred are shown, the rest counted.
awk 'BEGIN { for (i = 0; i < 500; i++) print "x" }' | tsk export >/dev/null 2>"$T/err5"
is $? 3 "500 bad lines: exit 3"
is "$(grep -c '^tsk-export: line ' "$T/err5")" 100 "the first 100 are reported one by one"
like "$(cat "$T/err5")" '500 of 500 lines rejected' "and all are counted"

done_testing
