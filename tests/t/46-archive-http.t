#!/bin/bash
# The raw message archive behind POST /ingest: the 202 body's id is the message's row in the tenant's
# telemetry table, written in the transaction of its readings, holding the topic, the payload as it was
# sent (a payload given as a JSON string is stored as the JSON it holds), the device and the message's
# time. Concurrent requests of one group commit each get their own row and id; a replay gets a row of
# its own (the original kept every message) while its readings are not stored twice; refused messages
# leave no row.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
fresh_db t_archive_http
tsk tenant create --slug umc --name UMC >/dev/null
tsk tenant create --slug other --name Other >/dev/null
S=t0ken-60
TSK_INGEST_SECRET=$S httpd_start --workers 3
ok $? "tsk-httpd answers"
id_of() { sed -nE 's/^202 \{"status":"accepted","id":([0-9]+),.*/\1/p'; }
row() { q "SELECT device_id || '|' || topic || '|' || payload::text || '|' || to_char(\"timestamp\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') FROM umc.telemetry WHERE id = $1"; }
archived() { q "SELECT count(*) FROM umc.telemetry"; }

STD='{"device_id":"GW-1","timestamp":"2025-10-20T14:30:00Z","sensors":[{"sensor_id":"t","value":23.5,"unit":"celsius"},{"sensor_id":"h","value":61}]}'
TOPIC='tenants/umc/sites/Bloco A/assets/CH-01/telemetry'
out=$(ingest $S umc "{\"client_id\":\"gw\",\"topic\":\"$TOPIC\",\"payload\":$STD,\"ts\":1729426200000}")
like "$out" '^202 \{"status":"accepted","id":[0-9]+,"device_id":"GW-1","timestamp":"2025-10-20T14:30:00\+00:00",' \
	"202 with an id, after status as in the original"
id1=$(printf '%s' "$out" | id_of)
is "$(row "$id1")" "GW-1|$TOPIC|$(q "SELECT '$STD'::jsonb::text")|2025-10-20T14:30:00" \
	"the row of that id: device, topic, the payload as sent, the message's time"
is "$(q "SELECT count(*) FROM umc.telemetry WHERE id = $id1 AND created_at > now() - interval '1 hour' AND msg_key IS NOT NULL")" 1 \
	"created_at is its arrival, and it carries its key"
is "$(q "SELECT count(*) FROM umc.reading WHERE device_id = 'GW-1'")" 2 "its readings are stored"

# A payload given as a JSON string: the archive holds the JSON inside it.
STR=$(printf '%s' '{"device_id":"GW-2","timestamp":"2025-10-20T15:00:00Z","sensors":[{"sensor_id":"p","value":1}]}' | sed 's/"/\\"/g')
id2=$(ingest $S umc "{\"topic\":\"tenants/umc/x\",\"payload\":\"$STR\"}" | id_of)
is "$(q "SELECT payload->>'device_id' || '|' || jsonb_typeof(payload) FROM umc.telemetry WHERE id = ${id2:-0}")" "GW-2|object" \
	"a payload sent as a JSON string is archived as the object it holds"

# SenML: the message's time is the pack's base time.
SENML='[{"bn":"F80332010002C857","bt":1762301178},{"n":"model","vs":"nit21li"},{"n":"A","u":"Cel","v":23.35}]'
id3=$(ingest $S umc "{\"topic\":\"tenants/umc/x\",\"payload\":$SENML}" | id_of)
is "$(row "${id3:-0}" | cut -d'|' -f1,4)" "F80332010002C857|2025-11-05T00:06:18" "SenML: device bn, time bt"
is "$(q "SELECT jsonb_array_length(payload) FROM umc.telemetry WHERE id = ${id3:-0}")" 3 "the pack whole"
is "$(q "SELECT payload::text = '$SENML'::jsonb::text FROM umc.telemetry WHERE id = ${id3:-0}")" t \
	"as sent, its numbers too (23.35, not 23.350000000000001)"

# Zero storable readings: still archived (the original kept the raw row), with its id.
id4=$(ingest $S umc '{"topic":"tenants/umc/x","payload":{"device_id":"GW-3","sensors":[{"sensor_id":"a","value":null}]}}' | id_of)
is "$(row "${id4:-0}" | cut -d'|' -f1)" GW-3 "a message with no storable reading is archived too"

# A replay: its readings are duplicates, but the archive keeps the message again, under a new id.
before=$(archived)
out=$(ingest $S umc "{\"client_id\":\"gw\",\"topic\":\"$TOPIC\",\"payload\":$STD,\"ts\":1729426200000}")
like "$out" '"sensors_saved":0,"duplicates_skipped":2' "a replay stores no reading"
id5=$(printf '%s' "$out" | id_of)
ok $(( id5 > id1 ? 0 : 1 )) "and gets an id of its own ($id5 after $id1)"
is "$(archived)" $((before + 1)) "one archive row more"

# Refused messages leave no row; another tenant's message goes to that tenant's archive.
before=$(archived)
ingest $S umc '{"topic":"tenants/umc/x","payload":{"foo":1}}' >/dev/null
ingest $S umc '{"topic":"tenants/other/x","payload":{"device_id":"X","sensors":[{"sensor_id":"a","value":1}]}}' >/dev/null
ingest $S ghost '{"topic":"tenants/ghost/x","payload":{"device_id":"X","sensors":[{"sensor_id":"a","value":1}]}}' >/dev/null
is "$(archived)" "$before" "400, 403 and 404 archive nothing"
ido=$(ingest $S other '{"topic":"tenants/other/x","payload":{"device_id":"O","sensors":[{"sensor_id":"a","value":1}]}}' | id_of)
is "$(q "SELECT device_id FROM other.telemetry WHERE id = ${ido:-0}")" O "each tenant's messages go to its own archive"
is "$(q "SELECT count(*) FROM umc.telemetry WHERE device_id = 'O'")" 0 "and only there"

# 40 concurrent requests share group commits: each gets its own id, naming its own message.
pids=()
for i in $(seq 1 40); do
	ingest $S umc "{\"topic\":\"tenants/umc/x\",\"payload\":{\"device_id\":\"C$i\",\"ts\":$((1729426200000 + i)),\"sensors\":[{\"sensor_id\":\"a\",\"value\":$i}]}}" >"$T/c.$i" &
	pids+=($!)
done
wait "${pids[@]}"
ids=$(for i in $(seq 1 40); do echo "$(id_of <"$T/c.$i")"; done)
is "$(printf '%s\n' $ids | sort -u | wc -l)" 40 "40 concurrent posts: 40 distinct ids"
bad=0
for i in $(seq 1 40); do
	id=$(id_of <"$T/c.$i")
	[ "$(q "SELECT device_id || '|' || (payload->'sensors'->0->>'value') FROM umc.telemetry WHERE id = ${id:-0}")" = "C$i|$i" ] || bad=$((bad + 1))
done
is "$bad" 0 "each id is the row of that request's own message"
like "$(get /metrics)" 'tsk_httpd_ingest_archived_total [0-9]+' "/metrics counts archived messages"
is "$(q "SELECT count(*) FROM umc.telemetry_default")" "$(archived)" "with no dated partition yet, rows sit in the default partition"
httpd_stop
is $? 0 "SIGTERM: exit 0"
done_testing
