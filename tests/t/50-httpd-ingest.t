#!/bin/bash
# POST /ingest against the real daemon and PostgreSQL: every row of the status table, in the original's
# order of checks, the 202 bodies (standard, SenML, a replay, a payload given as a JSON string, zero
# storable readings), and hostile input (wrong types, huge values, SQL in headers).
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
fresh_db t_httpd_ingest
tsk tenant create --slug umc --name UMC >/dev/null
tsk tenant create --slug other --name Other >/dev/null
tsk tenant set other max_future 1h >/dev/null
S=t0ken-50
TSK_INGEST_SECRET=$S httpd_start --workers 2
ok $? "tsk-httpd answers on its port"
rows() { q "SELECT count(*) FROM umc.reading"; }

STD='{"device_id":"GW-1","timestamp":"2025-10-20T14:30:00Z","sensors":[{"sensor_id":"temp-amb-01","value":23.5,"unit":"celsius","type":"temperature"},{"sensor_id":"hum-01","value":"61.5"},{"sensor_id":"nothing","value":null}]}'
TOPIC='tenants/umc/sites/Uberl\u00e2ndia Medical Center/assets/CHILLER-001/telemetry'
env() { printf '{"client_id":"gw","topic":"%s","payload":%s,"ts":1729426200000}' "${2:-$TOPIC}" "$1"; }

# --- the checks, one row of the table each, in order ------------------------------------------------
is "$(ingest - umc "$(env "$STD")")" '401 {"error":"Missing x-device-token header"}' "1: no x-device-token: 401"
is "$(ingest wrong umc "$(env "$STD")")" '401 {"error":"Invalid device token"}' "2: wrong token: 401"
is "$(ingest "${S}x" umc "$(env "$STD")")" '401 {"error":"Invalid device token"}' "2: the secret plus a byte: 401"
is "$(ingest "${S%?}" umc "$(env "$STD")")" '401 {"error":"Invalid device token"}' "2: a prefix of the secret: 401"
is "$(ingest "" umc "$(env "$STD")")" '401 {"error":"Invalid device token"}' "2: an empty token: 401"
is "$(ingest wrong - 'not json')" '401 {"error":"Invalid device token"}' "the token is checked before anything else"
is "$(ingest $S - "$(env "$STD")")" '400 {"error":"Missing x-tenant header"}' "3: no x-tenant: 400"
is "$(ingest $S - 'not json')" '400 {"error":"Missing x-tenant header"}' "3 comes before 4"
like "$(ingest $S umc '{"topic": ')" '^400 \{"error":"Erro ao parsear JSON: .+"\}$' "4: body not JSON: 400 with the decoder's message"
like "$(ingest $S umc '')" '^400 \{"error":"Erro ao parsear JSON: ' "4: an empty body: 400"
like "$(ingest $S umc "$(printf '{"topic":"tenants/umc/x","payload":"\xff\xfe"}')")" '^400 \{"error":"Erro ao processar request: ' \
	"4b: a body that is not UTF-8: 400"
is "$(ingest $S umc '[1,2]')" '400 {"error":"Payload must be JSON object"}' "5: an array: 400"
is "$(ingest $S umc '"tenants/umc"')" '400 {"error":"Payload must be JSON object"}' "5: a string: 400"
is "$(ingest $S umc '{"payload":{"a":1}}')" '400 {"error":"Missing required field: topic"}' "6: no topic: 400"
is "$(ingest $S umc '{"topic":"","payload":{"a":1}}')" '400 {"error":"Missing required field: topic"}' "6: empty topic: 400"
is "$(ingest $S umc '{"topic":null,"payload":{"a":1}}')" '400 {"error":"Missing required field: topic"}' "6: null topic: 400"
is "$(ingest $S umc '{"topic":"devices/umc/x","payload":{"a":1}}')" '400 {"error":"Invalid topic format"}' "7: not tenants/...: 400"
is "$(ingest $S umc '{"topic":"tenants","payload":{"a":1}}')" '400 {"error":"Invalid topic format"}' "7: one segment: 400"
is "$(ingest $S umc '{"topic":"Tenants/umc/x","payload":{"a":1}}')" '400 {"error":"Invalid topic format"}' "7: case matters: 400"
is "$(ingest $S umc "$(env "$STD" tenants/other/x)")" '403 {"error":"Tenant validation failed"}' "8: topic of another tenant: 403"
is "$(ingest $S umc "$(env "$STD" tenants/UMC/x)")" '403 {"error":"Tenant validation failed"}' "8: the slug compare is exact: 403"
is "$(ingest $S umc '{"topic":42,"payload":{"a":1}}')" '400 {"error":"Invalid request"}' "8b: topic not a string: 400"
is "$(ingest $S umc '{"topic":["tenants","umc"],"payload":{"a":1}}')" '400 {"error":"Invalid request"}' "8b: topic an array: 400"
is "$(ingest $S ghost "$(env "$STD" tenants/ghost/x)")" '404 {"error":"Tenant not found","tenant":"ghost"}' "9: unknown tenant: 404"
is "$(ingest $S ghost '{"topic":"tenants/ghost/x"}')" '404 {"error":"Tenant not found","tenant":"ghost"}' "9 comes before 10"
EVIL="umc'; DROP TABLE umc.reading; --"
is "$(ingest $S "$EVIL" "{\"topic\":\"tenants/$EVIL/x\",\"payload\":$STD}")" \
	"404 {\"error\":\"Tenant not found\",\"tenant\":\"$EVIL\"}" "9: SQL in x-tenant is only a name that does not exist"
is "$(q "SELECT to_regclass('umc.reading') IS NOT NULL")" t "and the table is still there"
LONG=$(head -c 5000 /dev/zero | tr '\0' u)
is "$(ingest $S "$LONG" "{\"topic\":\"tenants/$LONG/x\",\"payload\":$STD}" | cut -c1-46)" '404 {"error":"Tenant not found","tenant":"uuuu' \
	"9: a 5000-byte x-tenant names no tenant (no query needed): 404"
is "$(ingest $S umc '{"topic":"tenants/umc/x","payload":{"device_id":7,"timestamp":[],"sensors":[{"sensor_id":{},"value":1}]}}' | cut -c1-4)" \
	'400 ' "wrong types inside the payload: 400, not 500"
for p in 'missing' '{}' '[]' '""' '0' 'null' 'false'; do
	if [ "$p" = missing ]; then b="{\"topic\":\"tenants/umc/x\"}"; else b="{\"topic\":\"tenants/umc/x\",\"payload\":$p}"; fi
	is "$(ingest $S umc "$b")" '400 {"error":"Missing required field: payload"}' "10: payload $p: 400"
done
is "$(ingest $S umc '{"topic":"tenants/umc/x","payload":"{not json"}')" '400 {"error":"Invalid JSON in payload"}' \
	"11: a payload string that is not JSON: 400"
is "$(ingest $S umc '{"topic":"tenants/umc/x","payload":{"foo":1}}')" \
	'400 {"error":"Formato de payload não reconhecido"}' "12: no format accepts the payload: 400"
is "$(ingest $S umc '{"topic":"tenants/umc/x","payload":[{"bn":"x"}]}')" \
	'400 {"error":"Formato de payload não reconhecido"}' "12: a SenML pack without records: 400"
is "$(rows)" 0 "nothing was stored by any refused request"

# --- 202 ------------------------------------------------------------------------------------------
is "$(ingest $S umc "$(env "$STD")" | noid)" \
	'202 {"status":"accepted","device_id":"GW-1","timestamp":"2025-10-20T14:30:00+00:00","format":"standard","sensors_saved":2,"duplicates_skipped":0}' \
	"13: a standard message: 202 with exact counts"
is "$(q "SELECT sensor_id || '|' || value || '|' || ts || '|' || site || '|' || asset_tag FROM umc.reading ORDER BY sensor_id")" \
"hum-01|61.5|2025-10-20 14:30:00+00|Uberlândia Medical Center|CHILLER-001
temp-amb-01|23.5|2025-10-20 14:30:00+00|Uberlândia Medical Center|CHILLER-001" "both readings are in the database when the answer comes"
is "$(ingest $S umc "$(env "$STD")" | noid)" \
	'202 {"status":"accepted","device_id":"GW-1","timestamp":"2025-10-20T14:30:00+00:00","format":"standard","sensors_saved":0,"duplicates_skipped":2}' \
	"a replay: sensors_saved 0, duplicates_skipped 2"
is "$(rows)" 2 "and no row more"
SENML='[{"bn":"F80332010002C857","bt":1762301178},{"n":"model","vs":"nit21li"},{"n":"rssi","u":"dBW","v":-54},{"n":"A","u":"Cel","v":23.35},{"n":"A","u":"%RH","v":64.0},{"n":"283286b20a000036","u":"Cel","v":30.75},{"n":"gateway","vs":"F8033202CB040000"}]'
is "$(ingest $S umc "$(env "$SENML")" | noid)" \
	'202 {"status":"accepted","device_id":"F80332010002C857","timestamp":"2025-11-05T00:06:18+00:00","format":"senml","gateway_id":"F8033202CB040000","model":"nit21li","sensors_saved":4,"duplicates_skipped":0}' \
	"a SenML pack: 202 with gateway_id and model"
is "$(q "SELECT string_agg(sensor_id, ',' ORDER BY sensor_id) FROM umc.reading WHERE device_id = 'F80332010002C857'")" \
	"283286b20a000036,F80332010002C857_A_humid,F80332010002C857_A_temp,F80332010002C857_rssi" "its four readings"
STR=$(printf '%s' '{"device_id":"GW-2","timestamp":"2025-10-20T15:00:00Z","sensors":[{"sensor_id":"p","value":1}]}' | sed 's/"/\\"/g')
is "$(ingest $S umc "{\"topic\":\"tenants/umc/x\",\"payload\":\"$STR\"}" | noid)" \
	'202 {"status":"accepted","device_id":"GW-2","timestamp":"2025-10-20T15:00:00+00:00","format":"standard","sensors_saved":1,"duplicates_skipped":0}' \
	"a payload given as a JSON string"
is "$(ingest $S umc '{"topic":"tenants/umc/x","payload":{"device_id":"GW-3","timestamp":"2025-10-20T15:00:00Z","sensors":[{"sensor_id":"a","value":null}]}}' | noid)" \
	'202 {"status":"accepted","device_id":"GW-3","timestamp":"2025-10-20T15:00:00+00:00","format":"standard","sensors_saved":0,"duplicates_skipped":0}' \
	"zero storable readings: 202 with sensors_saved 0 (the original answered 500)"
is "$(ingest $S umc '{"topic":"tenants/umc/x","payload":[{"bn":"GW-4","bt":1762301178},{"n":"model","vs":"m"},{"n":"gateway","vs":"g"}]}' | noid)" \
	'202 {"status":"accepted","device_id":"GW-4","timestamp":"2025-11-05T00:06:18+00:00","format":"senml","gateway_id":"g","model":"m","sensors_saved":0,"duplicates_skipped":0}' \
	"a SenML pack of info records only: 202 with sensors_saved 0"
is "$(ingest $S umc '{"client_id":"emqx-client-7","topic":"tenants/umc/x","payload":{"timestamp":"2025-10-20T16:00:00Z","sensors":[{"sensor_id":"a","value":2}]}}' | noid)" \
	'202 {"status":"accepted","device_id":"emqx-client-7","timestamp":"2025-10-20T16:00:00+00:00","format":"standard","sensors_saved":1,"duplicates_skipped":0}' \
	"a standard payload without device_id takes the envelope's client_id"
like "$(ingest $S umc '{"topic":"tenants/umc/x","payload":{"timestamp":"2025-10-20T16:00:00Z","sensors":[{"sensor_id":"a","value":2}]}}')" \
	'^400 \{"error":"Missing device_id' "without client_id either: 400 (the original answered 500)"
is "$(ingest $S umc '{"topic":"tenants/umc/x","payload":{"device_id":"GW-5","timestamp":"2025-10-20T16:00:00Z","sensors":[{"sensor_id":"a","value":"abc"},{"sensor_id":"b","value":1e308},{"sensor_id":"c","value":"1e999"},{"sensor_id":"d","value":{"x":1}}]}}' | noid)" \
	'202 {"status":"accepted","device_id":"GW-5","timestamp":"2025-10-20T16:00:00+00:00","format":"standard","sensors_saved":1,"duplicates_skipped":0}' \
	"bad values skip their sensor, not the message; 1e308 is stored"
is "$(q "SELECT value FROM umc.reading WHERE device_id = 'GW-5'")" 1e+308 "the huge value as sent"
BIGID=$(head -c 6000 /dev/urandom | base64 -w0 | tr -d '+/=')  # incompressible: over the index's row limit
like "$(ingest $S umc "{\"topic\":\"tenants/umc/x\",\"payload\":{\"device_id\":\"$BIGID\",\"sensors\":[{\"sensor_id\":\"a\",\"value\":1}]}}")" \
	'^400 \{"error":"Failed to save telemetry"\}$' "a device_id too long for the index: 400, the daemon keeps running"
is "$(get /health)" '200 {"db":true,"spool":true,"healthy":true}' "healthy after it"
like "$(ingest $S umc '{"topic":"tenants/umc/devices/d1/sensors/s1","payload":21.5}')" '^202 .*"format":"single","sensors_saved":1' \
	"a single-value topic with a bare number"
is "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: localhost' "$HTTPD_URL/ingest")" 405 "GET /ingest: 405"
is "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Host: localhost' "$HTTPD_URL/ingest")" 405 "PUT /ingest: 405"

# --- concurrent posts: every answer after its own commit, counts exact ------------------------------
before=$(rows)
pids=()
for i in $(seq 1 40); do
	ingest $S umc "{\"topic\":\"tenants/umc/x\",\"payload\":{\"device_id\":\"C$((i % 4))\",\"ts\":$((1729426200000 + i)),\"sensors\":[{\"sensor_id\":\"a\",\"value\":$i},{\"sensor_id\":\"b\",\"value\":$i}]}}" \
		>"$T/c.$i" &
	pids+=($!)
done
wait "${pids[@]}"
is "$(grep -l '^202 .*"sensors_saved":2,"duplicates_skipped":0}$' "$T"/c.* | wc -l)" 40 "40 concurrent posts: each 202 with its own exact counts"
is "$(rows)" $((before + 80)) "and 80 rows more"
# Concurrent posts share transactions (group commit), yet each answer counts its own message: 20
# messages each posted twice at once, and 10 of them a third time after: every reading is stored once,
# and the answers' sensors_saved add up to exactly that.
before=$(rows)
pids=()
for i in $(seq 1 20) $(seq 1 20); do
	ingest $S umc "{\"topic\":\"tenants/umc/x\",\"payload\":{\"device_id\":\"G$((i % 3))\",\"ts\":$((1729500000000 + i)),\"sensors\":[{\"sensor_id\":\"a\",\"value\":$i},{\"sensor_id\":\"b\",\"value\":$i}]}}" \
		>"$T/g.$i.$RANDOM$RANDOM" &
	pids+=($!)
done
wait "${pids[@]}"
for i in $(seq 1 10); do
	ingest $S umc "{\"topic\":\"tenants/umc/x\",\"payload\":{\"device_id\":\"G$((i % 3))\",\"ts\":$((1729500000000 + i)),\"sensors\":[{\"sensor_id\":\"a\",\"value\":$i},{\"sensor_id\":\"b\",\"value\":$i}]}}" \
		>"$T/g.$i.late"
done
is "$(rows)" $((before + 40)) "20 messages posted twice at once: 40 rows"
saved=$(cat "$T"/g.* | grep -o '"sensors_saved":[0-9]*' | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }')
dups=$(cat "$T"/g.* | grep -o '"duplicates_skipped":[0-9]*' | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }')
is "$saved|$dups" "40|60" "the answers' sensors_saved add up to the rows stored, duplicates_skipped to the rest"
bad=0
for i in $(seq 1 20); do
	[ "$(cat "$T"/g.$i.[0-9]* | grep -o '"sensors_saved":[0-9]*,"duplicates_skipped":[0-9]*' | sort | tr '\n' ' ')" = \
		'"sensors_saved":0,"duplicates_skipped":2 "sensors_saved":2,"duplicates_skipped":0 ' ] || bad=$((bad + 1))
done
is "$bad" 0 "of each pair, one answer stored both readings and the other found both there"
like "$(grep -c 'POST /ingest 202' "$T/httpd.log")" '^[0-9]+$' "the access log has a line per request"
like "$(grep 'POST /ingest 202' "$T/httpd.log" | tail -1)" '^[0-9T:.-]+Z 127\.0\.0\.1 POST /ingest 202 [0-9]+ [0-9]+ umc$' \
	"access log: time, address, method, path, status, bytes, microseconds, tenant"

# max_future: a reading stamped further ahead of its arrival than the tenant allows (default 1d) is
# refused whole, as tsk-ingest refuses it; a tenant's own setting (other: 1h, set before the daemon
# started) moves the limit.
FAR='{"device_id":"GW-F","timestamp":"2999-01-01T00:00:00Z","sensors":[{"sensor_id":"t","value":1}]}'
like "$(ingest $S umc "$(env "$FAR")")" '^400 \{"error":"Timestamp too far in the future: GW-F/t at 2999-01-01T00:00:00Z is more than max_future \(1d\)' \
	"a reading in 2999: 400, with the reading and the limit"
is "$(q "SELECT count(*) FROM umc.reading WHERE device_id = 'GW-F'")" 0 "and nothing of it stored"
soon=$(date -u -d '+3 hours' +%Y-%m-%dT%H:%M:%SZ)
NEAR="{\"device_id\":\"GW-N\",\"timestamp\":\"$soon\",\"sensors\":[{\"sensor_id\":\"t\",\"value\":1}]}"
like "$(ingest $S other "$(env "$NEAR" tenants/other/x)")" '^400 .*max_future \(1h\)' "tenant other (max_future 1h): three hours ahead is refused"
like "$(ingest $S umc "$(env "$NEAR")")" '^202 ' "tenant umc (the default, 1d): three hours ahead is stored"

httpd_stop
is "$?" 0 "SIGTERM: exit 0"
# Every answer above (through ingest and get) as lib/http/openapi.json describes it.
openapi_check
done_testing
