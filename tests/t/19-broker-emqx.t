#!/bin/bash
# tsk-tenant emqx provision against a recorded contract of EMQX v5's REST API (tests/emqx-v5-contract.json,
# served with state by tests/lib/emqx_contract.py): every request's method, path, API key and body as
# recorded; a second run creates nothing; a hand edit is put back; a second tenant keeps the first's rules.
. "$(dirname "$0")/../lib/tap.sh"

fresh_db tsk_t19
tsk tenant create --slug umc --name UMC >/dev/null
tsk tenant create --slug hosp --name Hospital >/dev/null
mkdir -p "$T/emqx"
python3 tests/lib/emqx_contract.py tests/emqx-v5-contract.json "$T/emqx" 2>"$T/emqx/server.err" &
srv=$!
at_exit "kill $srv 2>/dev/null"
wait_for 60 test -s "$T/emqx/port" || { echo "Bail out! the contract server did not start"; exit 1; }
export TSK_EMQX_URL=http://127.0.0.1:$(cat "$T/emqx/port") TSK_EMQX_API_KEY=tsk-provisioner \
	TSK_EMQX_API_SECRET=change-me-7f3a TSK_EMQX_INGEST_URL=http://tsk-httpd:8080 TSK_INGEST_SECRET=s3cret-token
LOG=$T/emqx/requests.jsonl
VIOL=$T/emqx/violations.jsonl
# The requests of the last run: "METHOD PATH STATUS" a line.
since=0
run_log() { tail -n +$((since + 1)) "$LOG" | jq -r '"\(.method) \(.path) \(.status)"'; }
mark() { since=$(wc -l 2>/dev/null <"$LOG" || echo 0); }
results() { jq -r '"\(.step)=\(.result)"' | tr '\n' ' '; }

mark
out=$(tsk tenant emqx provision umc)
ok $? "provision umc"
is "$(printf '%s\n' "$out" | results)" "connector=created action=created rule=created authorization source=created authorization rules=updated " \
	"first run: everything created"
is "$(run_log)" "GET /api/v5/status 200
GET /api/v5/connectors/http:http_ingest_umc 404
POST /api/v5/connectors 201
GET /api/v5/actions/http:http_ingest_umc 404
POST /api/v5/actions 201
GET /api/v5/rules/r_umc_ingest 404
POST /api/v5/rules 201
GET /api/v5/authorization/sources/built_in_database 404
POST /api/v5/authorization/sources 204
GET /api/v5/authorization/sources/built_in_database/rules/all 200
POST /api/v5/authorization/sources/built_in_database/rules/all 204" "the requests of the original's steps, each read before it is written"
is "$(cat "$VIOL" 2>/dev/null)" "" "every request as the contract records it (method, path, API key, body)"

state() { curl -s "$TSK_EMQX_URL/_test/state"; }
is "$(state | jq -r '.actions.http_ingest_umc.parameters.headers["x-device-token"]')" "s3cret-token" "the action sends x-device-token"
is "$(state | jq -r '.actions.http_ingest_umc.parameters.body')" \
	'{"client_id":"${clientid}","topic":"${topic}","payload":${payload},"ts":${timestamp}}' "with the working body template"
is "$(state | jq -c '[.all_rules[] | "\(.permission) \(.topic)"]')" '["deny $queue/#","allow tenants/umc/#","deny #"]' \
	"authorization: deny \$queue/#, allow the tenant, deny the rest"

# Again: only reads.
mark
out=$(tsk tenant emqx provision umc)
ok $? "provision umc again"
is "$(printf '%s\n' "$out" | results)" "connector=unchanged action=unchanged rule=unchanged authorization source=unchanged authorization rules=unchanged " \
	"second run: nothing changed"
is "$(run_log | grep -vc '^GET ')" 0 "second run: no create, no update, only GETs"

# A hand edit in the dashboard (action disabled, token changed) is put back by one PUT of the recorded body.
curl -s -X POST "$TSK_EMQX_URL/_test/drift" \
	-d '{"kind":"actions","id":"http_ingest_umc","set":{"enable":false,"parameters":{"headers":{"x-device-token":"old"}}}}'
mark
out=$(tsk tenant emqx provision umc)
ok $? "provision after a hand edit"
is "$(printf '%s\n' "$out" | results)" "connector=unchanged action=updated rule=unchanged authorization source=unchanged authorization rules=unchanged " \
	"the action is updated, the rest left alone"
is "$(run_log | grep -v '^GET ')" "PUT /api/v5/actions/http:http_ingest_umc 200" "by one PUT"
is "$(state | jq -r '.actions.http_ingest_umc | "\(.enable) \(.parameters.headers["x-device-token"])"')" "true s3cret-token" "enabled, with the token again"

# A second tenant: its own objects; the rules for all clients keep umc's allow.
out=$(tsk tenant emqx provision hosp)
ok $? "provision hosp"
is "$(state | jq -c '[.all_rules[] | "\(.permission) \(.topic)"]')" '["deny $queue/#","allow tenants/umc/#","allow tenants/hosp/#","deny #"]' \
	"hosp's allow goes before the final deny, umc's stays"
is "$(state | jq -r '.rules | keys | join(" ")')" "r_hosp_ingest r_umc_ingest" "a rule per tenant"
mark
tsk tenant emqx provision umc >/dev/null && tsk tenant emqx provision hosp >/dev/null
ok $? "both again"
is "$(run_log | grep -vc '^GET ')" 0 "and still only GETs"
is "$(cat "$VIOL" 2>/dev/null)" "" "no request outside the contract"

# The action as provisioned, rendered the way EMQX renders it for one device message, is accepted by
# tsk-httpd's POST /ingest: the body template and the x-device-token header work together.
. "$TSK_ROOT/tests/lib/httpd.sh"
httpd_start || { echo "Bail out! tsk-httpd did not start"; exit 1; }
state | python3 -c '
import json, sys
a = json.load(sys.stdin)["actions"]["http_ingest_umc"]["parameters"]
payload = {"device_id": "GW-1", "sensors": [{"sensor_id": "supply-temp", "value": 7.5, "type": "temperature"}]}
body = (a["body"].replace("${clientid}", "khomp-gw-1").replace("${topic}", "tenants/umc/sites/Bloco A/assets/CH-01/telemetry")
        .replace("${payload}", json.dumps(payload)).replace("${timestamp}", "1762301178000"))
open(sys.argv[1], "w").write(body)
open(sys.argv[2], "w").write("".join("%s: %s\n" % kv for kv in a["headers"].items()))
print(a["path"])' "$T/emqx-body" "$T/emqx-headers" >"$T/emqx-path"
code=$(curl -s -o "$T/emqx-answer" -w '%{http_code}' -H 'Host: localhost' -H @"$T/emqx-headers" \
	--data-binary @"$T/emqx-body" "$HTTPD_URL$(cat "$T/emqx-path")")
is "$code" 202 "tsk-httpd accepts what the provisioned action posts ($(cat "$T/emqx-answer"))"
is "$(q "SELECT value FROM umc.reading WHERE sensor_id = 'supply-temp'")" "7.5" "and stores the reading"

# Errors: a wrong key (exit 1), EMQX unreachable (75), settings missing (2), unknown tenant (2).
err=$(TSK_EMQX_API_SECRET=wrong tsk tenant emqx provision umc 2>&1 >/dev/null)
is "$?" 1 "a wrong API secret: exit 1"
like "$err" 'refused the API key' "says so"
rm -f "$VIOL"
err=$(TSK_EMQX_URL=http://127.0.0.1:1 tsk tenant emqx provision umc 2>&1 >/dev/null)
is "$?" 75 "EMQX unreachable: exit 75"
err=$(env -u TSK_EMQX_API_KEY "$TSK_BUILD/tsk-tenant" emqx provision umc 2>&1 >/dev/null)
is "$?" 2 "no emqx_api_key: exit 2"
like "$err" 'emqx_api_key' "naming the key"
err=$(env -u TSK_INGEST_SECRET "$TSK_BUILD/tsk-tenant" emqx provision umc 2>&1 >/dev/null)
is "$?" 2 "no token for x-device-token: exit 2"
err=$(tsk tenant emqx provision nosuch 2>&1 >/dev/null)
is "$?" 2 "an unknown tenant: exit 2"

done_testing
