#!/bin/bash
# The tenant API's telemetry endpoints against the real daemon and PostgreSQL: shapes, every parameter,
# limits and the truncation envelopes, the auto-interval boundaries (exactly one hour: raw on history/,
# 1m on the asset history), series/ and history/ equal to `tsk-query buckets` for the same range (the
# same numbers, from the same library functions), access by role (owner ... viewer, a removed member,
# another tenant's user, no credentials), 400s for bad input, SQL injection in every parameter, huge
# values. The daemon runs on a fixed clock (TSK_NOW). CSV answers: 67-api-telemetry-csv.t.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
fresh_db t_api_telemetry
tsk tenant create --slug umc --name UMC --domain umc.localhost >/dev/null
tsk tenant create --slug other --name Other --domain other.localhost >/dev/null
for r in owner admin operator technician viewer; do api_user "$r@umc.localhost" umc "$r"; done
api_user gone@umc.localhost umc viewer
api_user owner@other.localhost other owner

# 3 devices x 3 sensors, a reading every 20 s from 08:00 to 11:00 (dyadic values: sums exact in float8),
# ingested an hour ago and rolled up; then a tail after 11:00 that no refresh has seen.
q "SET search_path = umc;
   INSERT INTO reading (device_id, sensor_id, ts, value, unit, labels, site, asset_tag, ingested_at)
   SELECT 'dev-' || d, 'temp-' || s, timestamptz '2025-10-17 08:00:00+00' + (i * 20 || ' s')::interval,
          ((i * 7 + d * 13 + s * 5) % 101) * 0.25 - 5, 'celsius', '{\"type\":\"temperature\",\"unit\":\"celsius\"}',
          'Bloco A', 'AHU-' || d, now() - interval '1 hour'
   FROM generate_series(0, 2) d, generate_series(0, 2) s, generate_series(0, 539) i" >/dev/null
tsk query -t umc refresh >/dev/null
q "SET search_path = umc;
   INSERT INTO reading (device_id, sensor_id, ts, value, unit, asset_tag)
   SELECT 'dev-0', 'temp-0', timestamptz '2025-10-17 11:00:00+00' + (i * 20 || ' s')::interval, i * 0.75, 'celsius', 'AHU-0'
   FROM generate_series(0, 80) i" >/dev/null
# cap: one reading a minute for 4 days (5760 one-minute buckets, over the 5000 cap); asset CAP.
q "SET search_path = umc;
   INSERT INTO reading (device_id, sensor_id, ts, value, asset_tag)
   SELECT 'cap', 's', timestamptz '2025-10-01 00:00:00+00' + (i || ' minutes')::interval, i % 17, 'CAP'
   FROM generate_series(0, 5759) i;
   -- RAWCAP: 10 000 readings within 50 minutes (the raw cap of the asset history)
   INSERT INTO reading (device_id, sensor_id, ts, value, asset_tag)
   SELECT 'rc', 's', timestamptz '2025-10-02 00:00:00+00' + (i * 300 || ' ms')::interval, i, 'RAWCAP'
   FROM generate_series(0, 9999) i;
   -- old: a device last heard of a day before the clock
   INSERT INTO reading (device_id, sensor_id, ts, value, labels)
   VALUES ('old', 'rssi', '2025-10-16 09:00:00+00', -54, '{\"type\":\"signal_strength\",\"unit\":\"dBW\"}');
   -- the raw message archive
   INSERT INTO telemetry (device_id, topic, payload, \"timestamp\", created_at)
   SELECT 'GW-' || (i % 3), 'tenants/umc/sites/Bloco A/assets/CH-0' || (i % 2) || '/telemetry',
          ('{\"device_id\":\"GW-' || (i % 3) || '\",\"n\":' || i || ',\"v\":0.1}')::jsonb,
          timestamptz '2025-10-17 08:00:00+00' + (i || ' minutes')::interval, timestamptz '2025-10-17 08:00:05+00' + (i || ' minutes')::interval
   FROM generate_series(0, 119) i" >/dev/null
READINGS=$(q "SELECT count(*) FROM umc.reading")
is "$READINGS" 20702 "readings loaded"

TSK_NOW=2025-10-17T11:30:00Z httpd_start --config /dev/null --workers 2
ok $? "tsk-httpd answers on its port"
UMC="umc.localhost:$HTTPD_PORT"
OTHER="other.localhost:$HTTPD_PORT"
TOK=$(api_token "$UMC" owner@umc.localhost)
A=(-H "Authorization: Bearer $TOK")
get() { call GET "$UMC" "$1" "${A[@]}"; }
# py EXPR...: a Python expression over the last answer's JSON (b)
py() { /usr/bin/python3 -c "import json,sys; b=json.loads(sys.stdin.read()); print($1)" <<<"$API_BODY"; }

# --- access ---------------------------------------------------------------------------------------------
EP=(/api/telemetry/raw/ /api/telemetry/readings/ "/api/telemetry/series/?bucket=1h" /api/telemetry/latest/dev-0/
	/api/telemetry/history/dev-0/ /api/telemetry/device/dev-0/summary/ /api/telemetry/assets/AHU-0/history/)
for r in owner admin operator technician viewer; do
	t=$(api_token "$UMC" "$r@umc.localhost")
	codes=""
	for p in "${EP[@]}"; do call GET "$UMC" "$p" -H "Authorization: Bearer $t"; codes="$codes $API_STATUS"; done
	is "$codes" " 200 200 200 200 200 200 200" "$r: every telemetry endpoint answers 200"
done
GT=$(api_token "$UMC" gone@umc.localhost)
tsk tenant member rm umc gone@umc.localhost >/dev/null
OT=$(api_token "$OTHER" owner@other.localhost)
for p in "${EP[@]}"; do
	call GET "$UMC" "$p"
	is "$API_STATUS $API_BODY" '401 {"detail":"Authentication credentials were not provided."}' "no credentials: 401 on ${p%%\?*}"
	call GET "$UMC" "$p" -H "Authorization: Bearer $GT"
	is "$API_STATUS" 401 "a user whose membership was removed: 401 on ${p%%\?*}"
	call GET "$UMC" "$p" -H "Authorization: Bearer $OT"
	is "$API_STATUS" 401 "another tenant's user: 401 on ${p%%\?*}"
done
call GET "$OTHER" "/api/telemetry/series/?bucket=1h" -H "Authorization: Bearer $OT"
is "$API_STATUS $API_BODY" "200 []" "another tenant sees its own (empty) telemetry, not umc's"
VT=$(tsk tenant token add umc grafana --role viewer | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
call GET "$UMC" "/api/telemetry/series/?bucket=1h&device_id=dev-0" -H "Authorization: Bearer $VT"
is "$API_STATUS" 200 "a viewer API token reads"
call POST "$UMC" "/api/telemetry/series/?bucket=1h" "${A[@]}"
is "$API_STATUS" 405 "POST on a telemetry endpoint: 405"

# --- series/ --------------------------------------------------------------------------------------------
# same_as_cli QUERY CLI-ARGS...: the last answer's rows equal `tsk-query buckets` rows, value for value
same_as_cli() {
	local desc=$1
	shift
	tsk query -t umc buckets "$@" >"$T/cli.jsonl"
	printf '%s' "$API_BODY" >"$T/api.json"
	/usr/bin/python3 - "$T/cli.jsonl" "$T/api.json" <<EOF
import json, sys
from datetime import datetime, timezone
api = json.load(open(sys.argv[2]))
if isinstance(api, dict): api = api["data"]
cli = [json.loads(l) for l in open(sys.argv[1])]
def t(s): return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(timezone.utc)
a = [(t(r["bucket"]), r.get("device_id", "$DEV"), r["sensor_id"], r["avg_value"], r["min_value"], r["max_value"], r["last_value"], r["count"]) for r in api]
c = [(t(r["bucket"]), r["device_id"], r["sensor_id"], r["avg"], r["min"], r["max"], r["last"], r["count"]) for r in cli]
if a == c and len(a) > 0: print("same", len(a))
else: print("differ", len(a), len(c), a[:2], c[:2])
EOF
}
DEV=dev-0
F=2025-10-17T08:17:03Z
TO=2025-10-17T11:20:00Z
for b in 1m 5m 15m 1h 1d; do
	get "/api/telemetry/series/?bucket=$b&device_id=dev-0&from=$F&to=$TO&limit=5000"
	like "$(same_as_cli x --bucket "$b" --device dev-0 --from $F --to $TO)" '^same' \
		"series bucket=$b over rollups, partial edges and the unrefreshed tail: tsk-query's numbers"
done
get "/api/telemetry/series/?bucket=1h&device_id=dev-1&sensor_id=temp-2"
like "$API_BODY" '^\[\{"bucket":"2025-10-17T07:00:00-03:00","device_id":"dev-1","sensor_id":"temp-2","avg_value":[-0-9.e]+,"min_value":[-0-9.e]+,"max_value":[-0-9.e]+,"last_value":[-0-9.e]+,"count":180\},' \
	"series: a bare array, newest first, buckets in America/Sao_Paulo (-03:00)"
is "$(py 'len(b)')" 3 "device_id and sensor_id filter"
get "/api/telemetry/series/?bucket=1h"
is "$(py 'len(b)')" 126 "every device and sensor without filters"
get "/api/telemetry/series/?bucket=1m&device_id=cap"
is "$(py 'len(b)')" 500 "limit defaults to 500"
get "/api/telemetry/series/?bucket=1m&device_id=cap&limit=99999"
is "$(py 'len(b)')" 5000 "and is capped at 5000"
get "/api/telemetry/series/?bucket=1m&device_id=cap&limit=3&offset=2"
is "$(py '[r["bucket"] for r in b]')" "['2025-10-04T20:57:00-03:00', '2025-10-04T20:56:00-03:00', '2025-10-04T20:55:00-03:00']" "limit and offset"
get "/api/telemetry/series/?bucket=1h&device_id=dev-0&sensor_id=temp-0&from=2025-10-17T09:00:00Z&to=2025-10-17T09:59:59Z"
is "$(py '[(r["bucket"], r["count"]) for r in b]')" "[('2025-10-17T06:00:00-03:00', 180)]" "from and to bound the rows (inclusive)"
get "/api/telemetry/series/?bucket=1h&device_id=dev-0&sensor_id=temp-0&from=2025-10-17T06:00:00-03:00&to=2025-10-17T06:59:59-03:00"
is "$(py '[(r["bucket"], r["count"]) for r in b]')" "[('2025-10-17T06:00:00-03:00', 180)]" "times with an offset"
get "/api/telemetry/series/?bucket=1h&device_id=dev-0&sensor_id=temp-0&from=2025-10-17T06:00:00+03:00&to=2025-10-17T09:59:59Z"
is "$(py 'len(b)')" 2 "an unescaped + in an offset (decoded as a space) is read as +"
get "/api/telemetry/series/?bucket=1h&from=2025-10-17T10:00:00Z&to=2025-10-17T09:00:00Z"
is "$API_STATUS $API_BODY" "200 []" "from after to: no rows"
q "INSERT INTO umc.reading (device_id, sensor_id, ts, value) VALUES (E'q\"\\\\x/é', E'tab\\there\\u0001', '2025-10-17 10:00:00+00', 1.5)" >/dev/null
get "/api/telemetry/series/?bucket=1d&device_id=q%22%5Cx%2F%C3%A9"
is "$(py '[(r["device_id"], r["sensor_id"]) for r in b]')" "[('q\"\\\\x/é', 'tab\\there\\x01')]" "ids with quotes, backslashes, UTF-8 and control characters come back as JSON strings"
q "DELETE FROM umc.reading WHERE device_id = E'q\"\\\\x/é'" >/dev/null
get "/api/telemetry/series/?bucket=1h&device_id=nope"
is "$API_STATUS $API_BODY" "200 []" "an unknown device: no rows"
BUCKET='400 {"detail":"Invalid bucket. Must be one of: 1m, 5m, 15m, 1h, 1d"}'
for b in "" 2h 1M 60s 1w "1h%20" "%00"; do
	get "/api/telemetry/series/?bucket=$b"
	is "$API_STATUS $API_BODY" "$BUCKET" "series bucket='$b': 400"
done
get /api/telemetry/series/
is "$API_STATUS $API_BODY" "$BUCKET" "series without a bucket: 400"
LIM='400 {"detail":"Invalid limit or offset parameter"}'
for a in limit=x limit=1.5 offset=abc offset=-1 limit=-5 limit=99999999999999999999999 offset=1e3; do
	get "/api/telemetry/series/?bucket=1h&$a"
	is "$API_STATUS $API_BODY" "$LIM" "series $a: 400"
done
for a in from=yesterday to=2025-13-01 from=2025-10-17T25:00:00Z "to=%27;%20DROP%20TABLE%20reading;--" from=99999-01-01; do
	get "/api/telemetry/series/?bucket=1h&$a"
	is "$API_STATUS $API_BODY" '400 {"detail":"Invalid from or to parameter: use ISO 8601 (2025-10-17T10:30:00Z)"}' "series $a: 400, not 500"
done
get "/api/telemetry/series/?bucket=1h&offset=99999999999"
is "$API_STATUS $API_BODY" "200 []" "a huge offset: no rows"

# --- history/{device_id}/ ------------------------------------------------------------------------------
get "/api/telemetry/history/dev-0/?sensor_id=temp-1&sensor_id=temp-2&from=2025-10-17T08:00:00Z&to=2025-10-17T11:00:00Z"
like "$API_BODY" '^\{"device_id":"dev-0","sensor_ids":\["temp-1","temp-2"\],"interval":"1m","from":"2025-10-17T08:00:00\+00:00","to":"2025-10-17T11:00:00\+00:00","count":360,"data":\[\{"bucket":"2025-10-17T08:00:00Z","sensor_id":"temp-1","avg_value":' \
	"history: the envelope, from/to in UTC (+00:00), buckets with Z, oldest first"
DEV=dev-0
like "$(same_as_cli x --bucket 1m --device dev-0 --sensor temp-1 --sensor temp-2 --from 2025-10-17T08:00:00Z --to 2025-10-17T11:00:00Z --asc --limit 360)" \
	'^same 360' "history's buckets are tsk-query's (repeated sensor_id)"
get "/api/telemetry/history/dev-0/?from=2025-10-16T11:00:00Z&to=2025-10-17T11:25:00Z&interval=1h"
like "$(same_as_cli x --bucket 1h --device dev-0 --from 2025-10-16T11:00:00Z --to 2025-10-17T11:25:00Z --asc)" '^same' \
	"interval=1h with the unrefreshed tail: tsk-query's numbers"
is "$(py 'b["sensor_ids"]')" None "no sensor_id: sensor_ids is null"
for iv in 15m 1d; do
	get "/api/telemetry/history/dev-0/?from=2025-10-16T11:00:00Z&to=2025-10-17T11:25:00Z&interval=$iv"
	like "$(same_as_cli x --bucket $iv --device dev-0 --from 2025-10-16T11:00:00Z --to 2025-10-17T11:25:00Z --asc)" '^same' "interval=$iv"
done
get "/api/telemetry/history/dev-0/?sensor_id=temp-0&from=2025-10-17T10:00:00Z&to=2025-10-17T10:01:00Z&interval=raw"
is "$API_BODY" '{"device_id":"dev-0","sensor_ids":["temp-0"],"interval":"raw","from":"2025-10-17T10:00:00+00:00","to":"2025-10-17T10:01:00+00:00","count":4,"data":[{"ts":"2025-10-17T10:00:00Z","sensor_id":"temp-0","value":'"$(q "SELECT value FROM umc.reading WHERE device_id='dev-0' AND sensor_id='temp-0' AND ts='2025-10-17 10:00:00+00'")"'},{"ts":"2025-10-17T10:00:20Z","sensor_id":"temp-0","value":'"$(q "SELECT value FROM umc.reading WHERE device_id='dev-0' AND sensor_id='temp-0' AND ts='2025-10-17 10:00:20+00'")"'},{"ts":"2025-10-17T10:00:40Z","sensor_id":"temp-0","value":'"$(q "SELECT value FROM umc.reading WHERE device_id='dev-0' AND sensor_id='temp-0' AND ts='2025-10-17 10:00:40+00'")"'},{"ts":"2025-10-17T10:01:00Z","sensor_id":"temp-0","value":'"$(q "SELECT value FROM umc.reading WHERE device_id='dev-0' AND sensor_id='temp-0' AND ts='2025-10-17 10:01:00+00'")"'}]}' \
	"raw: {ts, sensor_id, value}, both bounds inclusive"
# auto: <= 1 h raw, <= 6 h 1m, <= 24 h 5m, else 1h (exactly 1 h is raw here; 1m on the asset history)
for c in "10:00:00Z 11:00:00Z raw" "10:00:00Z 11:00:00.000001Z 1m" "05:00:00Z 11:00:00Z 1m" "04:59:59Z 11:00:00Z 5m"; do
	set -- $c
	get "/api/telemetry/history/dev-0/?from=2025-10-17T$1&to=2025-10-17T$2"
	is "$(py 'b["interval"]')" "$3" "auto interval from $1 to $2: $3"
done
get "/api/telemetry/history/dev-0/?from=2025-10-16T11:00:00Z&to=2025-10-17T11:00:00Z"
is "$(py 'b["interval"]')" 5m "auto: exactly 24 h is 5m"
get "/api/telemetry/history/dev-0/?from=2025-10-16T10:59:59Z&to=2025-10-17T11:00:00Z"
is "$(py 'b["interval"]')" 1h "auto: over 24 h is 1h"
get "/api/telemetry/history/dev-0/"
is "$(py '(b["interval"], b["from"], b["to"])')" "('5m', '2025-10-16T11:30:00+00:00', '2025-10-17T11:30:00+00:00')" \
	"no from/to: the last 24 h before the clock, 5m"
get "/api/telemetry/history/dev-0/?to=2025-10-17T11:00:00Z&interval=raw"
is "$(py '(b["from"], b["count"])')" "('2025-10-16T11:00:00+00:00', 500)" "only to: from is 24 h before; limit defaults to 500"
get "/api/telemetry/history/cap/?from=2025-10-01T00:00:00Z&to=2025-10-05T00:00:00Z&interval=1m&limit=100000"
is "$(py 'b["count"]')" 5000 "limit is capped at 5000"
get "/api/telemetry/history/cap/?from=2025-10-01T00:00:00Z&to=2025-10-05T00:00:00Z&interval=1m&limit=7"
is "$(py 'b["count"]')" 7 "limit"
for c in "from=2025-10-17T10:00:00Z&to=2025-10-17T10:00:00Z" "from=2025-10-17T10:00:01Z&to=2025-10-17T10:00:00Z" "from=2025-10-18T00:00:00Z"; do
	get "/api/telemetry/history/dev-0/?$c"
	is "$API_STATUS $API_BODY" '400 {"detail":"Invalid time range: from must be before to"}' "history $c: 400"
done
for c in from=garbage "to=2025-10-17T10:00:00Z%27%20OR%201=1--" from=2025-02-30; do
	get "/api/telemetry/history/dev-0/?$c"
	is "$API_STATUS $API_BODY" '400 {"detail":"Invalid date format: use ISO 8601 (2025-10-17T10:30:00Z)"}' "history $c: 400, not 500"
done
for c in limit=ten limit=-1 limit=1e9; do
	get "/api/telemetry/history/dev-0/?$c"
	is "$API_STATUS $API_BODY" '400 {"detail":"Invalid limit parameter"}' "history $c: 400"
done
for c in interval=2h interval=RAW interval=5min; do
	get "/api/telemetry/history/dev-0/?$c"
	is "$API_STATUS $API_BODY" '400 {"detail":"Invalid interval. Must be one of: raw, 1m, 5m, 15m, 1h, 1d, auto"}' "history $c: 400"
done
get "/api/telemetry/history/nope/"
is "$API_STATUS $(py '(b["count"], b["data"])')" "200 (0, [])" "an unknown device: no data"

# --- latest/{device_id}/ --------------------------------------------------------------------------------
get /api/telemetry/latest/dev-1/
like "$API_BODY" '^\{"device_id":"dev-1","timestamp":"2025-10-17T10:59:40\+00:00","count":3,"readings":\[\{"id":[0-9]+,"device_id":"dev-1","sensor_id":"temp-0","value":[-0-9.e]+,"labels":\{"type":"temperature","unit":"celsius"\},"ts":"2025-10-17T07:59:40-03:00","created_at":"[0-9T:.-]+-03:00"\},' \
	"latest: each sensor's newest reading sorted by sensor_id; timestamp in UTC, readings in Sao Paulo"
IDS=$(py '[r["id"] for r in b["readings"]]')
get /api/telemetry/latest/dev-1/
is "$(py '[r["id"] for r in b["readings"]]')" "$IDS" "a reading's id is stable"
ok "$(py 'int(all(0 <= r["id"] < 2**53 for r in b["readings"]) and len(set(r["id"] for r in b["readings"])) == 3)' | grep -q 1; echo $?)" \
	"ids are distinct 53-bit numbers"
get /api/telemetry/latest/dev-0/
is "$(py '(b["timestamp"], [r["value"] for r in b["readings"]][0])')" "('2025-10-17T11:26:40+00:00', 60)" "the unrefreshed tail counts"
get "/api/telemetry/latest/dev-1/?sensor_id=temp-2"
is "$(py '(b["count"], b["readings"][0]["sensor_id"])')" "(1, 'temp-2')" "?sensor_id= narrows to one sensor"
get /api/telemetry/latest/nope/
is "$API_STATUS $API_BODY" '404 {"detail":"No readings found for this device"}' "an unknown device: 404"
get "/api/telemetry/latest/dev-1/?sensor_id=nope"
is "$API_STATUS" 404 "an unknown sensor: 404"

# --- device/{device_id}/summary/ ------------------------------------------------------------------------
get /api/telemetry/device/dev-1/summary/
like "$API_BODY" '^\{"device_id":"dev-1","status":"OFFLINE","last_seen":"2025-10-17T10:59:40\+00:00","sensors":\[\{"sensor_id":"temp-0","sensor_name":"temp-0","sensor_type":"temperature","unit":"celsius","is_online":false,"last_value":[-0-9.e]+,"last_reading_at":"2025-10-17T10:59:40\+00:00","statistics_24h":\{"avg":[-0-9.e]+,"min":[-0-9.e]+,"max":[-0-9.e]+,"stddev":[-0-9.e]+,"count":540\}\}' \
	"summary: shape; silent for 30 minutes: OFFLINE"
is "$(py 'b["statistics"]')" "{'total_readings_24h': 1620, 'sensor_count': 3, 'avg_interval': '6s', 'avg_interval_seconds': 6.65, 'avg_readings_per_hour': 67.5, 'sensors_total': 3, 'sensors_online': 0}" \
	"statistics: totals, avg_interval (span / count), readings per hour"
is "$(py 'b["sensors"][2]["statistics_24h"]["count"], b["sensors"][2]["statistics_24h"]["min"], b["sensors"][2]["statistics_24h"]["max"]')" \
	"$(q "SELECT count(*) || ' ' || min(value) || ' ' || max(value) FROM umc.reading WHERE device_id = 'dev-1' AND sensor_id = 'temp-2'" | sed 's/ \(.*\) \(.*\)/ \1 \2/')" \
	"a sensor's 24 h statistics"
get /api/telemetry/device/dev-0/summary/
is "$(py '(b["status"], [s["is_online"] for s in b["sensors"]], b["statistics"]["sensors_online"])')" "('ONLINE', [True, False, False], 1)" \
	"a sensor heard within 5 minutes: ONLINE"
get /api/telemetry/device/old/summary/
is "$(py '(b["status"], b["sensors"][0]["sensor_type"], b["sensors"][0]["unit"], b["sensors"][0]["statistics_24h"], b["statistics"]["avg_interval"], b["statistics"]["avg_interval_seconds"], b["statistics"]["sensor_count"])')" \
	"('OFFLINE', 'signal_strength', 'dBW', {'avg': None, 'min': None, 'max': None, 'stddev': None, 'count': 0}, 'N/A', None, 1)" \
	"no reading in 24 h: null statistics, N/A, sensor_count falls back to the total"
get /api/telemetry/device/nope/summary/
is "$API_STATUS $API_BODY" '404 {"detail":"Device not found or no readings"}' "an unknown device: 404"

# --- readings/ ------------------------------------------------------------------------------------------
get "/api/telemetry/readings/?device_id=dev-2&sensor_id=temp-1"
like "$API_BODY" "^\\{\"count\":540,\"next\":\"http://$UMC/api/telemetry/readings/\\?device_id=dev-2&sensor_id=temp-1&page=2\",\"previous\":null,\"results\":\\[\\{\"id\":[0-9]+,\"device_id\":\"dev-2\",\"sensor_id\":\"temp-1\",\"value\":[-0-9.e]+,\"labels\":\\{[^}]*\\},\"ts\":\"2025-10-17T07:59:40-03:00\",\"created_at\":" \
	"readings: the page envelope, newest first, 50 a page"
is "$(py 'len(b["results"])')" 50 "50 a page"
get "/api/telemetry/readings/?device_id=dev-2&sensor_id=temp-1&page=11"
is "$(py '(len(b["results"]), b["next"], b["previous"].endswith("?device_id=dev-2&sensor_id=temp-1&page=10"))')" "(40, None, True)" "the last page"
get "/api/telemetry/readings/?device_id=dev-2&sensor_id=temp-1&page=12"
is "$API_STATUS" 404 "past the last page: 404"
get "/api/telemetry/readings/?device_id=dev-2&value_min=10&value_max=12.5&ts_from=2025-10-17T09:00:00Z&ts_to=2025-10-17T10:00:00Z"
is "$(py 'b["count"]')" "$(q "SELECT count(*) FROM umc.reading WHERE device_id = 'dev-2' AND value BETWEEN 10 AND 12.5 AND ts BETWEEN '2025-10-17 09:00Z' AND '2025-10-17 10:00Z'")" \
	"value_min, value_max, ts_from, ts_to"
get "/api/telemetry/readings/?ts_from=soon&ts_to=2025-10-17T10:00:00Z&value_min=ten&value_max=NaN"
is "$API_STATUS $API_BODY" '400 {"ts_from":["Informe uma data/hora válida."],"value_min":["Informe um número."],"value_max":["Informe um número."]}' \
	"bad filters: 400 with each field's error"
get "/api/telemetry/readings/?page=0"
is "$API_STATUS $API_BODY" '404 {"detail":"Página inválida."}' "page=0: 404"
get "/api/telemetry/readings/"
is "$(py 'b["count"]')" "$READINGS" "no filter: every reading counted"

# --- raw/ -----------------------------------------------------------------------------------------------
get /api/telemetry/raw/
like "$API_BODY" '^\{"count":120,"next":"[^"]*page=2","previous":null,"results":\[\{"id":[0-9]+,"device_id":"GW-2","topic":"tenants/umc/sites/Bloco A/assets/CH-01/telemetry","payload":\{"n":119,"v":0.1,"device_id":"GW-2"\},"timestamp":"2025-10-17T06:59:00-03:00","created_at":"2025-10-17T06:59:05-03:00"\},' \
	"raw: the archive's rows, newest first, payload as JSON, times in Sao Paulo"
get "/api/telemetry/raw/?device_id=GW-1&topic=ch-00&timestamp_from=2025-10-17T08:30:00Z&timestamp_to=2025-10-17T09:00:00Z"
is "$(py '(b["count"], sorted(set(r["device_id"] for r in b["results"])))')" \
	"($(q "SELECT count(*) FROM umc.telemetry WHERE device_id = 'GW-1' AND topic ILIKE '%ch-00%' AND \"timestamp\" BETWEEN '2025-10-17 08:30Z' AND '2025-10-17 09:00Z'"), ['GW-1'])" \
	"device_id, topic (case-insensitive contains), timestamp_from, timestamp_to"
get "/api/telemetry/raw/?topic=%25"
is "$(py 'b["count"]')" 0 "topic=% is a literal percent sign, not a wildcard"
get "/api/telemetry/raw/?timestamp_from=x"
is "$API_STATUS $API_BODY" '400 {"timestamp_from":["Informe uma data/hora válida."]}' "a bad timestamp_from: 400"

# --- assets/{asset_tag}/history/ ------------------------------------------------------------------------
get "/api/telemetry/assets/AHU-1/history/?from=2025-10-17T08:00:00Z&to=2025-10-17T08:01:00Z&sensor_id=temp-0"
like "$API_BODY" '^\{"asset_tag":"AHU-1","from":"2025-10-17T08:00:00\+00:00","to":"2025-10-17T08:01:00\+00:00","interval":"raw","count":4,"data":\[\{"sensor_id":"temp-0","ts":"2025-10-17T08:00:00\+00:00","value":[-0-9.e]+\},' \
	"asset history raw: {sensor_id, ts, value}"
get "/api/telemetry/assets/AHU-1/history/?from=2025-10-17T05:00:00&to=2025-10-17T05:00:40&sensor_id=temp-0"
is "$(py '(b["from"], b["to"], b["count"])')" "('2025-10-17T08:00:00+00:00', '2025-10-17T08:00:40+00:00', 3)" \
	"naive from/to are Sao Paulo's wall clock"
get "/api/telemetry/assets/AHU-1/history/?from=2025-10-17T08:00:00Z&to=2025-10-17T11:00:00Z&interval=15m&sensor_id=temp-0&sensor_id=temp-2"
is "$(py '(b["interval"], b["count"], b["data"][0]["sensor_id"], b["data"][-1]["sensor_id"], sorted(b["data"][0].keys()))')" \
	"('15m', 24, 'temp-0', 'temp-2', ['avg_value', 'count', 'max_value', 'min_value', 'sensor_id', 'ts'])" \
	"aggregated: by sensor then bucket, no last_value"
is "$(py '[(r["ts"], r["avg_value"], r["count"]) for r in b["data"][:1]]')" \
	"[('2025-10-17T08:00:00+00:00', $(q "SELECT avg(value) || ', ' || count(*) FROM umc.reading WHERE asset_tag = 'AHU-1' AND sensor_id = 'temp-0' AND ts >= '2025-10-17 08:00Z' AND ts < '2025-10-17 08:15Z'"))]" \
	"an aggregated bucket's numbers"
get "/api/telemetry/assets/AHU-1/history/?from=2025-10-17T08:00:00Z&to=2025-10-17T11:00:00Z&interval=weird"
is "$(py '(b["data"][1]["ts"], b["data"][0]["count"])')" "('2025-10-17T08:05:00+00:00', 15)" "an unknown interval buckets at 5 minutes"
for c in "10:00:00Z 11:00:00Z 1m" "10:00:00.000001Z 11:00:00Z raw" "05:00:00Z 11:00:00Z 1m" "04:59:59Z 11:00:00Z 5m"; do
	set -- $c
	get "/api/telemetry/assets/AHU-0/history/?from=2025-10-17T$1&to=2025-10-17T$2"
	is "$(py 'b["interval"]')" "$3" "asset auto interval from $1 to $2: $3 (exactly 1 h is 1m here)"
done
get "/api/telemetry/assets/RAWCAP/history/?from=2025-10-02T00:00:00Z&to=2025-10-02T00:49:59.4Z"
is "$(py '(b["count"], b.get("truncated"))')" "(9999, None)" "9 999 raw readings: the normal answer"
get "/api/telemetry/assets/RAWCAP/history/?from=2025-10-02T00:00:00Z&to=2025-10-02T00:59:00Z"
is "$(py '(sorted(b.keys()), len(b["data"]), b["warning"], b["truncated"], b["limit"])')" \
	"(['data', 'limit', 'truncated', 'warning'], 10000, 'Result truncated to 10000 readings. Use aggregation intervals (1m, 5m, 15m, 1h) for larger time ranges.', True, 10000)" \
	"10 000 raw readings: the truncation envelope only"
get "/api/telemetry/assets/CAP/history/?from=2025-10-01T00:00:00Z&to=2025-10-02T09:18:00Z&interval=1m"
is "$(py '(b["count"], b.get("truncated"))')" "(1999, None)" "1 999 buckets: the normal answer"
get "/api/telemetry/assets/CAP/history/?from=2025-10-01T00:00:00Z&to=2025-10-04T00:00:00Z&interval=1m"
is "$(py '(sorted(b.keys()), len(b["data"]), b["warning"], b["truncated"], b["limit"])')" \
	"(['data', 'limit', 'truncated', 'warning'], 2000, 'Result truncated to 2000 buckets. Use coarser intervals (15m, 1h) for larger time ranges.', True, 2000)" \
	"2 000 buckets: the truncation envelope"
for v in garbage 2025-10-17T99:00 "%27%3B%20SELECT%201--"; do
	get "/api/telemetry/assets/AHU-0/history/?from=$v"
	like "$API_STATUS $API_BODY" '^400 \{"error":"Invalid timestamp format: ' "asset history from=$v: 400 with the original's error"
done

# --- SQL injection in every parameter, huge values ------------------------------------------------------
INJ="%27%3B%20DROP%20TABLE%20reading%3B--"   # '; DROP TABLE reading;--
OR1="x%27%20OR%20%271%27%3D%271"              # x' OR '1'='1
for p in "/api/telemetry/series/?bucket=1h&device_id=$INJ" "/api/telemetry/series/?bucket=1h&sensor_id=$OR1" \
	"/api/telemetry/history/$OR1/" "/api/telemetry/history/dev-0/?sensor_id=$INJ" "/api/telemetry/latest/$OR1/" \
	"/api/telemetry/latest/dev-0/?sensor_id=$OR1" "/api/telemetry/device/$OR1/summary/" "/api/telemetry/assets/$OR1/history/" \
	"/api/telemetry/assets/AHU-0/history/?sensor_id=$OR1" "/api/telemetry/assets/nope/history/?interval=$INJ" \
	"/api/telemetry/readings/?device_id=$OR1" "/api/telemetry/readings/?sensor_id=$INJ" "/api/telemetry/raw/?device_id=$OR1" \
	"/api/telemetry/raw/?topic=$OR1" "/api/telemetry/history/dev-0/?interval=$INJ" "/api/telemetry/series/?bucket=$INJ"; do
	get "$p"
	case "$API_STATUS $API_BODY" in
	"200 []" | *'"count":0'* | "400 "* | '404 {"detail":"No readings found for this device"}' | '404 {"detail":"Device not found or no readings"}') r=0 ;;
	*) r=1 ;;
	esac
	ok $r "injection ${p#/api/telemetry/}: nothing found or 400 ($API_STATUS)"
done
is "$(q "SELECT count(*) FROM umc.reading")" "$READINGS" "and every reading is still there"
LONG=$(head -c 6000 /dev/zero | tr '\0' x)
get "/api/telemetry/series/?bucket=1h&device_id=$LONG&sensor_id=$LONG"
is "$API_STATUS $API_BODY" "200 []" "6000-byte ids: no rows"
get "/api/telemetry/readings/?value_min=1e308&value_max=-1e308"
is "$(py 'b["count"]')" 0 "huge value bounds"
get "/api/telemetry/readings/?value_min=1e999"
is "$API_STATUS" 400 "value_min beyond a double: 400"
get "/api/telemetry/readings/?page=99999999999999999999"
is "$API_STATUS" 404 "a huge page: 404"
get "/api/telemetry/history/dev-0/?from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z&interval=1d&limit=2"
is "$API_STATUS $(py 'b["count"]')" "200 2" "the widest range"

httpd_stop
is $? 0 "the daemon stops with status 0 (under make asan: no leak or error)"
openapi_check
done_testing
