#!/bin/bash
# tsk-ingest stdin and parse: envelopes and normalized readings into the right tenant, rejected lines
# to --reject with line number and reason (exit 3), replays stored once, exact stored/duplicate
# counts, the catalog, a line the database refuses isolated from its batch, exit 75 when the
# database stays down.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_ingest_stdin
tsk tenant create --slug acme --name Acme >/dev/null
tsk tenant create --slug beta-co --name Beta >/dev/null

cat >"$T/in.jsonl" <<'EOF'
{"client_id":"GW-1","topic":"tenants/acme/devices/GW-1/sensors/temp-01","payload":{"value":23.5,"unit":"celsius","timestamp":"2025-10-17T10:30:00Z"},"ts":1760697000000}
{"topic":"tenants/acme/sites/Bloco%20A/assets/CH-01/telemetry","payload":"{\"device_id\":\"GW-2\",\"timestamp\":\"2025-10-20T14:30:00Z\",\"sensors\":[{\"sensor_id\":\"t1\",\"value\":21.0,\"unit\":\"celsius\",\"type\":\"temperature\"},{\"sensor_id\":\"h1\",\"value\":\"55.5\",\"unit\":\"percent_rh\",\"type\":\"humidity\"}]}"}
not json at all
{"tenant":"beta-co","device_id":"B-1","sensor_id":"p","ts":"2025-10-20T00:00:00Z","value":1.5,"unit":"bar"}
{"topic":"tenants/nobody/devices/x/sensors/y","payload":1}
{"tenant":"acme","device_id":"GW-1","sensor_id":"temp-01","ts":"2025-10-17T10:31:00Z","value":24.0}

{"topic":"tenants/acme/devices/GW-1/sensors/temp-01","payload":{"value":"warm"}}
{"tst":"2025-10-17T10:32:00.000000Z+0000","topic":"tenants/acme/devices/GW-1/sensors/temp-01","qos":1,"retain":0,"payloadlen":13,"payload":"{\"value\":25}"}
EOF

out=$(tsk ingest stdin --reject "$T/rej.jsonl" <"$T/in.jsonl" 2>"$T/err")
is $? 3 "stdin with rejected lines exits 3"
like "$out" '"stored":6' "six readings stored"
like "$out" '"duplicates":0' "no duplicates on the first run"
like "$out" '"rejected":3' "three lines rejected"
is "$(wc -l <"$T/rej.jsonl")" 3 "three lines in the reject file"
like "$(sed -n 1p "$T/rej.jsonl")" '"line":3,"reason":"not json"' "line 3: not json, with its number"
like "$(sed -n 2p "$T/rej.jsonl")" '"line":5,"reason":"unknown tenant"' "line 5: unknown tenant"
like "$(sed -n 3p "$T/rej.jsonl")" '"line":8,"reason":"no format' "line 8 (blank line 7 counted): non-numeric value"
like "$(sed -n 1p "$T/rej.jsonl")" '"input":"not json at all"' "the rejected line itself is kept"
like "$(head -1 "$T/err")" '^tsk-ingest: line 3: not json' "stderr: one line per rejected line, prefixed"

is "$(q "SELECT count(*) FROM acme.reading")" 5 "tenant acme: 5 readings"
is "$(q "SELECT count(*) FROM beta_co.reading")" 1 "tenant beta-co: 1 reading (from the line naming it)"
is "$(q "SELECT site || '|' || asset_tag FROM acme.reading WHERE device_id = 'GW-2' AND sensor_id = 't1'")" \
	"Bloco A|CH-01" "site percent-decoded and asset tag from the topic"
is "$(q "SELECT value FROM acme.reading WHERE sensor_id = 'h1'")" 55.5 "numeric string coerced"
is "$(q "SELECT last_value || '|' || last_ts FROM acme.sensor WHERE device_id = 'GW-1' AND sensor_id = 'temp-01'")" \
	"25|2025-10-17 10:32:00+00" "catalog: last value is the one with the greatest ts"
is "$(q "SELECT unit || '|' || type FROM acme.sensor WHERE sensor_id = 't1'")" "celsius|temperature" \
	"catalog: unit and type from the payload"
is "$(q "SELECT count(*) FROM acme.device")" 2 "catalog: two devices"
is "$(q "SELECT site FROM acme.device WHERE device_id = 'GW-2'")" "Bloco A" "catalog: the device's site"

# Replays: the same file twice more stores nothing new and counts every reading as a duplicate.
for i in 1 2; do out=$(tsk ingest -q stdin <"$T/in.jsonl" 2>/dev/null); done
like "$out" '"stored":0,"duplicates":6' "a replay stores nothing and counts 6 duplicates"
is "$(q "SELECT count(*) FROM acme.reading") $(q "SELECT count(*) FROM beta_co.reading")" "5 1" \
	"three runs of the same input: each reading stored once"

# First value wins: a later line with the same key and another value changes nothing.
echo '{"tenant":"acme","device_id":"GW-1","sensor_id":"temp-01","ts":"2025-10-17T10:31:00Z","value":99}' |
	tsk ingest stdin >/dev/null
is "$(q "SELECT value FROM acme.reading WHERE sensor_id = 'temp-01' AND ts = '2025-10-17T10:31:00Z'")" 24 \
	"the first value of a key wins"

# Duplicates inside one batch: first wins there too, counted exactly.
{
	echo '{"tenant":"acme","device_id":"D","sensor_id":"s","ts":"2025-01-01T00:00:00Z","value":1}'
	echo '{"tenant":"acme","device_id":"D","sensor_id":"s","ts":"2025-01-01T00:00:00Z","value":2}'
	echo '{"tenant":"acme","device_id":"D","sensor_id":"s","ts":"2025-01-01T00:00:01Z","value":3}'
} | tsk ingest stdin >"$T/out"
like "$(cat "$T/out")" '"stored":2,"duplicates":1' "a duplicate key inside one batch: 2 stored, 1 duplicate"
is "$(q "SELECT value FROM acme.reading WHERE device_id = 'D' AND ts = '2025-01-01T00:00:00Z'")" 1 \
	"inside a batch the first reading of a key wins"

# --tenant for lines without one, and a mismatch refused.
echo '{"device_id":"T","sensor_id":"s","ts":"2025-01-01T00:00:00Z","value":7}' | tsk ingest --tenant beta-co stdin >/dev/null
is "$(q "SELECT value FROM beta_co.reading WHERE device_id = 'T'")" 7 "--tenant applies to lines without a tenant"
echo '{"tenant":"acme","device_id":"T","sensor_id":"s","ts":"2025-01-01T00:00:00Z","value":7}' |
	tsk ingest --tenant beta-co stdin >/dev/null 2>&1
is $? 3 "a line naming another tenant than --tenant is rejected"
is "$(q "SELECT count(*) FROM acme.reading WHERE device_id = 'T'")" 0 "and not written anywhere"

# A line the database refuses (an id too long for the unique index) is isolated from its batch: the
# lines around it are stored.
big=$(head -c 6000 /dev/urandom | base64 -w0) # incompressible: the index cannot take it
{
	for i in $(seq 1 50); do echo "{\"tenant\":\"acme\",\"device_id\":\"P\",\"sensor_id\":\"s\",\"ts\":\"2025-02-01T00:00:$(printf %02d $((i % 60)))Z\",\"value\":$i}"; done
	echo "{\"tenant\":\"acme\",\"device_id\":\"$big\",\"sensor_id\":\"s\",\"ts\":\"2025-02-01T00:00:00Z\",\"value\":0}"
	for i in $(seq 51 59); do echo "{\"tenant\":\"acme\",\"device_id\":\"P\",\"sensor_id\":\"s\",\"ts\":\"2025-02-01T00:00:$(printf %02d $i)Z\",\"value\":$i}"; done
} >"$T/poison.jsonl"
out=$(tsk ingest stdin --reject "$T/rej2.jsonl" <"$T/poison.jsonl" 2>/dev/null)
is $? 3 "a line refused by the database: exit 3"
is "$(q "SELECT count(*) FROM acme.reading WHERE device_id = 'P'")" 59 "the other 59 lines of its batch are stored"
like "$(cat "$T/rej2.jsonl")" '"line":51,"reason":"database rejected"' "the refused line is named, with the reason"

# parse: no database, normalized readings on stdout.
out=$(TSK_DATABASE_URL="host=127.0.0.1 port=1 dbname=none" tsk ingest parse <"$T/in.jsonl" 2>/dev/null)
is $? 3 "parse exits 3 when lines are rejected"
is "$(echo "$out" | grep -c '"tenant":')" 7 "parse prints one normalized reading a line (the unknown tenant is not its business)"
like "$(echo "$out" | head -1)" '^\{"tenant":"acme","device_id":"GW-1","sensor_id":"temp-01","ts":"2025-10-17T10:30:00Z","value":23.5,"unit":"celsius"' \
	"parse: the normalized JSON line"
out=$(echo '{"value": 3}' | tsk ingest parse --topic tenants/acme/devices/d/sensors/s)
like "$out" '"device_id":"d","sensor_id":"s","ts":"[0-9-]+T' "parse --topic: a bare payload for a topic, arrival time as ts"

# The database stays down: exit 75 after --retry-for, nothing half-done reported as success.
err=$(echo '{"tenant":"acme","device_id":"X","sensor_id":"s","ts":"2025-01-01T00:00:00Z","value":1}' |
	TSK_DATABASE_URL="host=127.0.0.1 port=1 dbname=t connect_timeout=1" tsk ingest stdin --retry-for 1s 2>&1 >/dev/null)
is $? 75 "database unreachable: exit 75 (try again later)"
like "$err" '^tsk-ingest: ' "and a message prefixed with the tool's name"

# Usage errors.
tsk ingest bogus >/dev/null 2>&1
is $? 2 "unknown command: exit 2"
tsk ingest --batch 0 stdin </dev/null >/dev/null 2>&1
is $? 2 "--batch 0: exit 2"
tsk ingest --qos 2 mqtt >/dev/null 2>&1
is $? 2 "--qos 2 is refused (not safe with libmosquitto)"
out=$(tsk ingest --help)
like "$out" 'usage: tsk-ingest' "--help"
like "$(tsk ingest --version)" '^tsk-ingest [0-9]' "--version"
done_testing
