#!/bin/bash
# ?format=csv on the telemetry endpoints: the same bytes as tsk-export for the same data (header,
# columns, two decimals, CRLF, spreadsheet-safe cells), streamed (chunked) from a connection of its own
# while the worker's connection serves other requests, in constant memory (the daemon's peak resident
# set grows by less than a few MiB from 20 000 to 400 000 rows: memory, not timing), and a client that
# goes away mid-answer leaves the daemon healthy.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
fresh_db t_api_telemetry_csv
tsk tenant create --slug big --name Big --domain big.localhost >/dev/null
# 400 000 readings: 100 devices x 10 sensors, one a minute per device from 2025-01-01; a device whose
# id a spreadsheet would run as a formula.
q "INSERT INTO big.reading (device_id, sensor_id, ts, value, unit, ingested_at)
   SELECT 'device-' || (i % 100), 'sensor-' || (i / 100 % 10), '2025-01-01'::timestamptz + (i / 1000) * interval '1 minute',
          (i % 1000) * 0.125 - 20, 'celsius', now() - interval '1 hour'
   FROM generate_series(0, 399999) i;
   INSERT INTO big.reading (device_id, sensor_id, ts, value, unit)
   VALUES ('=HYPERLINK(\"http://evil\")', '+s', '2025-01-01 00:00:30+00', 1.005, '@unit')" >/dev/null
tsk query -t big refresh >/dev/null
is "$(q 'SELECT count(*) FROM big.reading')" 400001 "400 001 readings loaded"

httpd_start --config /dev/null --workers 1
ok $? "tsk-httpd (one worker) answers"
BIG="big.localhost:$HTTPD_PORT"
# An API token, not a login: the login's password hash (argon2id) would set the daemon's peak memory.
TOK=$(tsk tenant token add big csv --role viewer | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
A=(-H "Authorization: Bearer $TOK")
get() { local p=$1; shift; call GET "$BIG" "$p" "${A[@]}" "$@"; }
hdr() { grep -i "^$1:" "$T/api.hdr" | tr -d '\r'; }
# csv PATH [FILE]: through call (recorded for the OpenAPI check), the body's bytes to FILE ($T/got.csv)
csv() { get "$1"; cp "$(ls "$T"/api.log/*.body | tail -1)" "${2:-$T/got.csv}"; }

# --- constant memory ------------------------------------------------------------------------------------
if ldd "$TSK_BUILD/tsk-httpd" 2>/dev/null | grep -q libasan; then
	diag "peak RSS is meaningless under AddressSanitizer: memory checks skipped"
else
	hwm() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$HTTPD_PID/status"; }
	csv "/api/telemetry/readings/?format=csv&device_id=device-1&device_id=device-2"
	csv "/api/telemetry/readings/?format=csv&ts_to=2025-01-01T00:19:59Z"
	small=$(hwm)
	csv "/api/telemetry/readings/?format=csv" "$T/all.csv"
	csv "/api/telemetry/series/?bucket=1m&format=csv"
	large=$(hwm)
	is "$(($(wc -l <"$T/all.csv") - 1))" 400001 "every row was sent ($(wc -c <"$T/all.csv") bytes)"
	diag "daemon peak RSS: $small KiB after 20 000 rows, $large KiB after 400 001 rows and 400 000 buckets"
	ok "$([ "$large" -gt 0 ] && [ "$((large - small))" -lt 4096 ]; echo $?)" \
		"20x the rows, less than 4 MiB more peak memory ($small -> $large KiB)"
fi

# --- the same bytes as tsk-export ----------------------------------------------------------------------
get "/api/telemetry/series/?bucket=1h&device_id=device-7&format=csv"
is "$API_STATUS" 200 "series?format=csv: 200"
is "$(hdr Content-Type)" "Content-Type: text/csv; charset=utf-8" "Content-Type text/csv"
is "$(hdr Content-Disposition)" 'Content-Disposition: attachment; filename="series.csv"' "an attachment named series.csv"
is "$(hdr Transfer-Encoding)" "Transfer-Encoding: chunked" "streamed (chunked), not buffered"
csv "/api/telemetry/series/?bucket=1h&device_id=device-7&format=csv"
tsk export buckets --tenant big --bucket 1h --device device-7 --excel-safe >"$T/want.csv"
cmp -s "$T/got.csv" "$T/want.csv"
ok $? "series CSV: byte for byte tsk-export buckets ($(wc -l <"$T/want.csv") lines; no 500-row limit)"
is "$(head -1 "$T/got.csv" | tr -d '\r')" "bucket,device_id,sensor_id,avg,min,max,last,count" "the buckets header"
csv "/api/telemetry/series/?bucket=15m&from=2025-01-02T00:07:00Z&to=2025-01-02T05:00:00Z&format=csv&limit=300&offset=10"
tsk export buckets --tenant big --bucket 15m --from 2025-01-02T00:07:00Z --to 2025-01-02T05:00:00Z --limit 300 --offset 10 --excel-safe >"$T/want.csv"
cmp -s "$T/got.csv" "$T/want.csv"
ok $? "bucket=15m with edges, limit and offset: the same bytes"
csv "/api/telemetry/readings/?format=csv"
tsk export raw --tenant big --excel-safe >"$T/want.csv"
cmp -s "$T/got.csv" "$T/want.csv"
ok $? "readings CSV: every reading, byte for byte tsk-export raw ($(wc -l <"$T/got.csv") lines)"
grep -q "^2025-01-01T00:00:30Z,\"'=HYPERLINK(\"\"http://evil\"\")\",\"'+s\",1.00,\"'@unit\"" "$T/got.csv"
ok $? "cells a spreadsheet would run are defused (quoted, with a ')"
csv "/api/telemetry/readings/?format=csv&device_id=device-3&sensor_id=sensor-2&value_min=10&value_max=50&ts_from=2025-01-01T02:00:00Z&ts_to=2025-01-02T00:00:00Z"
is "$(tail -n +2 "$T/got.csv" | wc -l)" "$(q "SELECT count(*) FROM big.reading WHERE device_id = 'device-3' AND sensor_id = 'sensor-2' AND value BETWEEN 10 AND 50 AND ts BETWEEN '2025-01-01 02:00Z' AND '2025-01-02 00:00Z'")" \
	"readings CSV filters: device_id, sensor_id, value_min, value_max, ts_from, ts_to"
csv "/api/telemetry/history/device-1/?from=2025-01-01T00:00:00Z&to=2025-01-03T00:00:00Z&interval=1h&format=csv"
tsk export buckets --tenant big --bucket 1h --device device-1 --from 2025-01-01T00:00:00Z --to 2025-01-03T00:00:00Z --asc --excel-safe >"$T/want.csv"
cmp -s "$T/got.csv" "$T/want.csv"
ok $? "history CSV (1h): tsk-export buckets, oldest first"
csv "/api/telemetry/history/device-1/?sensor_id=sensor-1&from=2025-01-01T00:00:00Z&to=2025-01-01T01:00:00Z&format=csv"
tsk export raw --tenant big --device device-1 --sensor sensor-1 --from 2025-01-01T00:00:00Z --to 2025-01-01T01:00:00Z --asc --excel-safe >"$T/want.csv"
cmp -s "$T/got.csv" "$T/want.csv"
ok $? "history CSV (auto: raw for one hour): tsk-export raw, oldest first"
get "/api/telemetry/series/?bucket=1h&format=xml"
is "$API_STATUS $API_BODY" '400 {"detail":"Invalid format. Must be one of: json, csv"}' "format=xml: 400"
get "/api/telemetry/series/?bucket=2h&format=csv"
is "$API_STATUS" 400 "CSV answers check their parameters first: 400"
call GET "$BIG" "/api/telemetry/readings/?format=csv"
is "$API_STATUS" 401 "CSV needs credentials too"

q "INSERT INTO big.telemetry (device_id, topic, payload, \"timestamp\", created_at)
   SELECT 'GW-' || i, 'tenants/big/devices/GW-' || i || '/telemetry', ('{\"v\":' || i || ',\"s\":\"a,b\"}')::jsonb,
          '2025-01-01'::timestamptz + (i || ' s')::interval, '2025-01-01 00:10:00+00'
   FROM generate_series(1, 3) i" >/dev/null
csv "/api/telemetry/raw/?format=csv"
is "$(tr -d '\r' <"$T/got.csv")" "id,device_id,topic,payload,timestamp,created_at
3,GW-3,tenants/big/devices/GW-3/telemetry,\"{\"\"s\"\": \"\"a,b\"\", \"\"v\"\": 3}\",2025-01-01T00:00:03Z,2025-01-01T00:10:00Z
2,GW-2,tenants/big/devices/GW-2/telemetry,\"{\"\"s\"\": \"\"a,b\"\", \"\"v\"\": 2}\",2025-01-01T00:00:02Z,2025-01-01T00:10:00Z
1,GW-1,tenants/big/devices/GW-1/telemetry,\"{\"\"s\"\": \"\"a,b\"\", \"\"v\"\": 1}\",2025-01-01T00:00:01Z,2025-01-01T00:10:00Z" \
	"raw CSV: the archive's rows, newest first, payload as JSON text"

# --- the stream has a connection of its own ------------------------------------------------------------
# (The exchanges below that are cut short or run in the background go through curl itself, not call:
# there is no whole answer to record.)
stream_open() {
	[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'
	        AND query LIKE 'FETCH%'")" -ge 1 ]
}
curl -s --limit-rate 20k -o /dev/null -H "Host: $BIG" "${A[@]}" "$HTTPD_URL/api/telemetry/readings/?format=csv" &
SLOW=$!
wait_for 60 stream_open
ok $? "a slow client's CSV holds a transaction open on its own connection (a cursor between FETCHes)"
get "/api/telemetry/series/?bucket=1d&device_id=device-0&sensor_id=sensor-0"
is "$API_STATUS" 200 "meanwhile the single worker answers other requests"
kill "$SLOW" 2>/dev/null
wait "$SLOW" 2>/dev/null
stream_closed() { ! stream_open; }
wait_for 60 stream_closed
ok $? "the client goes away mid-answer: the stream's transaction and connection end"
# A stream whose query waits (here for a lock on the rollup) holds no worker: the connection is
# suspended until the first rows come.
lock_table big.reading_1h
curl -s -o "$T/locked.csv" -H "Host: $BIG" "${A[@]}" "$HTTPD_URL/api/telemetry/series/?bucket=1h&device_id=device-5&format=csv" &
LOCKED=$!
lock_waiting() { [ "$(q "SELECT count(*) FROM pg_locks WHERE relation = 'big.reading_1h'::regclass AND NOT granted")" -ge 1 ]; }
wait_for 60 lock_waiting
ok $? "a CSV answer waits for its rows (a lock on reading_1h)"
get "/api/telemetry/latest/device-0/" --max-time 120
is "$API_STATUS" 200 "meanwhile the single worker answers another request"
unlock_table
wait "$LOCKED"
tsk export buckets --tenant big --bucket 1h --device device-5 --excel-safe >"$T/want.csv"
cmp -s "$T/locked.csv" "$T/want.csv"
ok $? "and once the lock is gone the waiting answer is complete"
for i in 1 2 3 4 5; do
	curl -s -H "Host: $BIG" "${A[@]}" "$HTTPD_URL/api/telemetry/readings/?format=csv" | head -c 1000 >/dev/null
done
get "/api/telemetry/latest/device-0/"
is "$API_STATUS" 200 "after five clients hung up mid-answer the daemon still answers"

# A stop while a CSV answer waits for its first rows: the answer is cut short, the daemon stops cleanly.
lock_table big.reading_1h
curl -s -o "$T/cut.csv" -H "Host: $BIG" "${A[@]}" "$HTTPD_URL/api/telemetry/series/?bucket=1h&device_id=device-6&format=csv" &
CUT=$!
wait_for 60 lock_waiting
ok $? "a CSV answer waits for a lock"
httpd_stop
is $? 0 "the daemon stops with status 0 meanwhile (under make asan: no leak or error)"
wait "$CUT"
ok "$([ $? -ne 0 ]; echo $?)" "and the waiting client sees its answer cut, not complete"
unlock_table
openapi_check
done_testing
