#!/bin/bash
# The alerts API (/api/alerts/...) on the real daemon: rules CRUD, toggle_status and statistics; alerts
# list, acknowledge, resolve and statistics; notification preferences; the in-app inbox. Who may call
# each (owner, admin, operator write; technician and viewer only read; another tenant's user, an API
# token with a viewer role, no credentials) and hostile input (bad JSON, wrong types, huge values,
# SQL injection in every parameter).
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
fresh_db t_alert_api
tsk tenant create --slug umc --name UMC --domain umc.localhost >/dev/null
tsk tenant create --slug other --name Other --domain other.localhost >/dev/null
S=$(q "SELECT schema_name FROM public.tenant WHERE slug = 'umc'")
for r in owner admin operator technician viewer; do api_user $r@umc.test umc $r; done
api_user boss@other.test other owner
q "INSERT INTO $S.site (name) VALUES ('Site1');
   INSERT INTO $S.asset (tag, name, site_id) SELECT 'CH-1', 'Chiller 1', id FROM $S.site;
   INSERT INTO $S.device (device_id, asset_id) SELECT 'dev1', id FROM $S.asset;
   INSERT INTO $S.sensor (device_id, sensor_id, unit) VALUES ('dev1', 'CH-1_temp', '°C')" >/dev/null
ASSET=$(q "SELECT id FROM $S.asset")
httpd_start --config /dev/null --workers 2
ok $? "tsk-httpd runs"
UMC="umc.localhost:$HTTPD_PORT"
for r in owner admin operator technician viewer; do eval "TOK_$r=\$(api_token \"\$UMC\" $r@umc.test)"; done
TOK_other=$(api_token "other.localhost:$HTTPD_PORT" boss@other.test)
APITOK=$(tsk tenant token add umc script --role viewer -f jsonl | perl -MJSON::PP -ne 'print decode_json($_)->{token}')
as() { local who=$1; shift; local m=$1 p=$2; shift 2; call "$m" "$UMC" "$p" -H "Authorization: Bearer $who" "$@"; }
J=(-H 'Content-Type: application/json')
RULE='{"name":"Temperatura alta","equipment":'$ASSET',"actions":["EMAIL","IN_APP"],"parameters":[{"parameter_key":"CH-1_temp","operator":">","threshold":25,"severity":"HIGH","duration":5,"message_template":"T {value}"}]}'

# --- who may create a rule ----------------------------------------------------------------------------
for r in technician viewer; do
	eval "t=\$TOK_$r"
	as "$t" POST /api/alerts/rules/ "${J[@]}" --data-binary "$RULE"
	is "$API_STATUS" 403 "$r: POST rules/ is 403 (reads only; the original let a viewer write)"
done
as "$APITOK" POST /api/alerts/rules/ "${J[@]}" --data-binary "$RULE"
is "$API_STATUS" 403 "an API token with the viewer role: 403"
as "$TOK_other" POST /api/alerts/rules/ "${J[@]}" --data-binary "$RULE"
is "$API_STATUS" 401 "another tenant's user: 401 (the token is bound to its tenant)"
call POST "$UMC" /api/alerts/rules/ "${J[@]}" --data-binary "$RULE"
is "$API_STATUS" 401 "no credentials: 401"
like "$API_BODY" '"detail":"Authentication credentials were not provided."' "with the original's detail"
is "$(q "SELECT count(*) FROM $S.alert_rule")" 0 "no rule was created"
for r in owner admin operator; do
	eval "t=\$TOK_$r"
	as "$t" POST /api/alerts/rules/ "${J[@]}" --data-binary "$RULE"
	is "$API_STATUS" 201 "$r: 201"
done
like "$API_BODY" '"equipment_tag":"CH-1"' "the rule as the original shows it"
like "$API_BODY" '"created_by_email":"operator@umc.test"' "created_by is the caller"
R=$(printf '%s' "$API_BODY" | perl -MJSON::PP -ne 'print decode_json($_)->{id}')

# --- reads by every member role --------------------------------------------------------------------------
for r in owner admin operator technician viewer; do
	eval "t=\$TOK_$r"
	as "$t" GET /api/alerts/rules/
	is "$API_STATUS $(printf '%s' "$API_BODY" | perl -MJSON::PP -ne 'print decode_json($_)->{count}')" "200 3" "$r: GET rules/ lists the three rules"
done
as "$TOK_other" GET /api/alerts/rules/
is "$API_STATUS" 401 "another tenant's user cannot read"
as "$TOK_viewer" GET "/api/alerts/rules/?severity=high&enabled=true&equipment_id=$ASSET"
like "$API_BODY" '"count":3' "filters severity (case-insensitive), enabled, equipment_id"
as "$TOK_viewer" GET "/api/alerts/rules/?enabled=maybe"
is "$API_STATUS" 400 "enabled=maybe: 400"
as "$TOK_viewer" GET "/api/alerts/rules/?equipment_id=1%27%20OR%201=1--"
is "$API_STATUS" 400 "equipment_id with SQL: 400"
as "$TOK_viewer" GET "/api/alerts/rules/?severity=%27%20OR%201%3D1--"
is "$API_STATUS $API_BODY" '200 {"count":0,"next":null,"previous":null,"results":[]}' "severity with SQL: matches nothing"
as "$TOK_viewer" GET "/api/alerts/rules/?severity=%27%3BDROP%20TABLE%20alert_rule%3B--"
is "$API_STATUS" 400 "a severity longer than any: 400"
as "$TOK_viewer" GET /api/alerts/rules/statistics/
is "$API_BODY" '{"total":3,"enabled":3,"disabled":0,"by_severity":{"Critical":0,"High":3,"Medium":0,"Low":0}}' "rules/statistics/"
as "$TOK_viewer" GET /api/alerts/rules/$R/
is "$API_STATUS" 200 "GET rules/{id}/"
for bad in 0 abc 99999999 99999999999999999999999 "1%20OR%201=1"; do
	as "$TOK_viewer" GET "/api/alerts/rules/$bad/"
	is "$API_STATUS" 404 "rules/$bad/: 404"
done

# --- hostile bodies ------------------------------------------------------------------------------------------
as "$TOK_owner" POST /api/alerts/rules/ "${J[@]}" --data-binary '{"name":'
is "$API_STATUS" 400 "bad JSON: 400"
like "$API_BODY" '"detail":"JSON parse error' "JSON parse error"
as "$TOK_owner" POST /api/alerts/rules/ "${J[@]}" --data-binary '[1,2]'
is "$API_STATUS" 400 "a list instead of an object: 400"
as "$TOK_owner" POST /api/alerts/rules/ "${J[@]}" --data-binary '{"name":"x","equipment":'$ASSET',"actions":["EMAIL"],"parameters":[{"parameter_key":"a","operator":">","threshold":"abc"}]}'
is "$API_STATUS $API_BODY" '400 {"parameters[0].threshold":["Um número válido é necessário."]}' "a string threshold: field error"
as "$TOK_owner" POST /api/alerts/rules/ "${J[@]}" --data-binary '{"name":"x","equipment":'$ASSET',"actions":[],"parameters":[{"parameter_key":"a","operator":">","threshold":1}]}'
is "$API_STATUS $API_BODY" '400 {"actions":["Selecione pelo menos uma ação."]}' "no actions: the original's message"
as "$TOK_owner" POST /api/alerts/rules/ "${J[@]}" --data-binary '{"name":"x","equipment":999999,"actions":["EMAIL"],"parameters":[{"parameter_key":"a","operator":">","threshold":1}]}'
is "$API_STATUS" 400 "an unknown equipment: 400"
like "$API_BODY" '"equipment":\[' "on the equipment field"
as "$TOK_owner" POST /api/alerts/rules/ "${J[@]}" --data-binary "{\"name\":\"$(head -c 300 /dev/zero | tr '\0' x)\",\"equipment\":$ASSET,\"actions\":[\"EMAIL\"],\"parameters\":[{\"parameter_key\":\"a\",\"operator\":\">\",\"threshold\":1}]}"
is "$API_STATUS" 400 "a 300-character name: 400"
as "$TOK_owner" POST /api/alerts/rules/ "${J[@]}" --data-binary '{"name":"x","equipment":'$ASSET',"actions":["EMAIL"],"parameters":[{"parameter_key":"a","operator":">","threshold":1e999}]}'
is "$API_STATUS" 400 "threshold 1e999: 400"
as "$TOK_owner" POST /api/alerts/rules/ "${J[@]}" --data-binary "{\"name\":\"x'); DELETE FROM $S.alert_rule; --\",\"equipment\":$ASSET,\"actions\":[\"EMAIL\"],\"parameters\":[{\"parameter_key\":\"a' OR '1'='1\",\"operator\":\">\",\"threshold\":1}]}"
is "$API_STATUS" 201 "SQL in the name and the key: stored as text"
is "$(q "SELECT count(*) FROM $S.alert_rule")" 4 "every rule is still there"
R4=$(printf '%s' "$API_BODY" | perl -MJSON::PP -ne 'print decode_json($_)->{id}')

# --- update, toggle, delete ------------------------------------------------------------------------------------
as "$TOK_viewer" PATCH /api/alerts/rules/$R/ "${J[@]}" --data-binary '{"name":"y"}'
is "$API_STATUS" 403 "viewer: PATCH 403"
as "$TOK_admin" PATCH /api/alerts/rules/$R/ "${J[@]}" --data-binary '{"name":"Temperatura muito alta","parameters":[{"parameter_key":"CH-1_temp","operator":">=","threshold":26.5,"severity":"critical"}]}'
is "$API_STATUS" 200 "admin: PATCH 200"
like "$API_BODY" '"name":"Temperatura muito alta".*"severity":"Critical".*"parameters":\[\{"id":[0-9]+,"parameter_key":"CH-1_temp","variable_key":"","operator":">=","threshold":26.5' "the parameters replaced"
as "$TOK_admin" PATCH /api/alerts/rules/$R/ "${J[@]}" --data-binary '{"enabled":"yes"}'
is "$API_STATUS $API_BODY" '400 {"enabled":["Must be a valid boolean."]}' "enabled as a string: 400"
as "$TOK_technician" POST /api/alerts/rules/$R/toggle_status/
is "$API_STATUS" 403 "technician: toggle_status 403"
as "$TOK_operator" POST /api/alerts/rules/$R/toggle_status/
like "$API_STATUS $API_BODY" '^200 \{"status":"disabled","rule":\{' "operator: toggle_status disables"
as "$TOK_operator" POST /api/alerts/rules/$R/toggle_status/
like "$API_BODY" '^\{"status":"enabled"' "and enables again"
as "$TOK_viewer" DELETE /api/alerts/rules/$R4/
is "$API_STATUS" 403 "viewer: DELETE 403"
as "$TOK_owner" DELETE /api/alerts/rules/$R4/
is "$API_STATUS" 204 "owner: DELETE 204"
as "$TOK_owner" DELETE /api/alerts/rules/$R4/
is "$API_STATUS" 404 "again: 404"
as "$TOK_owner" PUT /api/alerts/rules/statistics/ "${J[@]}" --data-binary '{}'
is "$API_STATUS" 404 "PUT on statistics/: no such rule"
as "$TOK_owner" DELETE /api/alerts/rules/
is "$API_STATUS" 405 "DELETE on the list: 405"
like "$(grep -i '^Allow:' "$T/api.hdr")" 'GET, HEAD, POST' "with Allow"

# --- alerts: list, acknowledge, resolve ----------------------------------------------------------------------------
q "INSERT INTO $S.reading (device_id, sensor_id, ts, value) SELECT 'dev1', 'CH-1_temp',
   timestamptz '2026-01-10 12:00Z' + make_interval(mins => m), 30 FROM generate_series(0, 20) m" >/dev/null
tsk alert eval --tenant umc --at 2026-01-10T12:20:00Z >/dev/null
as "$TOK_viewer" GET /api/alerts/alerts/
is "$API_STATUS" 200 "viewer: alerts list"
is "$(printf '%s' "$API_BODY" | perl -MJSON::PP -ne 'print decode_json($_)->{count}')" 3 "three alerts fired (one per rule)"
A=$(q "SELECT id FROM $S.alert WHERE rule_id = $R")
as "$TOK_viewer" GET "/api/alerts/alerts/?status=active&severity=CRITICAL&rule_id=$R&asset_tag=ch-"
like "$API_BODY" "^\\{\"count\":1,\"next\":null,\"previous\":null,\"results\":\\[\\{\"id\":$A,\"rule\":$R,\"rule_name\":\"Temperatura muito alta\"" "filters status, severity, rule_id, asset_tag"
like "$API_BODY" '"severity_display":"Crítico"' "severity_display"
as "$TOK_viewer" GET "/api/alerts/alerts/?status=open"
is "$API_STATUS" 400 "status=open: 400"
as "$TOK_viewer" GET "/api/alerts/alerts/?asset_tag=%25%27%20OR%201%3D1--"
like "$API_BODY" '"count":0' "asset_tag with SQL: nothing"
as "$TOK_viewer" GET "/api/alerts/alerts/?page=2"
is "$API_STATUS" 404 "page 2 of one page: 404"
as "$TOK_viewer" GET "/api/alerts/alerts/?page=-1"
is "$API_STATUS" 404 "page=-1: 404"
as "$TOK_viewer" POST /api/alerts/alerts/$A/acknowledge/
is "$API_STATUS" 403 "viewer: acknowledge 403"
as "$TOK_operator" POST /api/alerts/alerts/$A/acknowledge/ "${J[@]}" --data-binary '{"notes":123}'
is "$API_STATUS" 400 "notes as a number: 400"
as "$TOK_operator" POST /api/alerts/alerts/$A/acknowledge/ "${J[@]}" --data-binary '{"notes":"a caminho"}'
like "$API_STATUS $API_BODY" '^200 \{"status":"acknowledged","alert":\{' "operator: acknowledge"
like "$API_BODY" '"acknowledged_by_email":"operator@umc.test"' "acknowledged by the caller"
as "$TOK_operator" POST /api/alerts/alerts/$A/acknowledge/
is "$API_STATUS $API_BODY" '400 {"error":"Alerta já foi reconhecido"}' "twice: the original's 400"
as "$TOK_admin" POST /api/alerts/alerts/$A/resolve/ "${J[@]}" --data-binary '{"notes":"ok"}'
like "$API_BODY" '"status":"resolved".*"resolved_by_email":"admin@umc.test"' "admin: resolve"
like "$API_BODY" '"notes":"\[Reconhecimento\] a caminho\\n\[Resolução\] ok"' "both notes"
as "$TOK_admin" POST /api/alerts/alerts/999999/resolve/
is "$API_STATUS" 404 "an unknown alert: 404"
as "$TOK_viewer" GET /api/alerts/alerts/statistics/
like "$API_BODY" '^\{"total":3,"active":2,"acknowledged":0,"resolved":1,"firing":2,"nodata":0,"by_severity":\{"CRITICAL":1,"HIGH":2,"MEDIUM":0,"LOW":0\}\}$' "alerts/statistics/"

# --- preferences and inbox ------------------------------------------------------------------------------------------------
as "$TOK_viewer" GET /api/alerts/notification-preferences/me/
like "$API_STATUS $API_BODY" '^200 \{"id":[0-9]+,"user":[0-9]+,"email_enabled":true,"push_enabled":true,.*"low_alerts":false' "viewer's preferences, made with the defaults"
as "$TOK_viewer" PATCH /api/alerts/notification-preferences/me/ "${J[@]}" --data-binary '{"low_alerts":true,"email_enabled":false}'
like "$API_BODY" '"email_enabled":false.*"low_alerts":true.*"enabled_channels":\["push"\]' "a viewer may change its own preferences"
as "$TOK_viewer" PATCH /api/alerts/notification-preferences/me/ "${J[@]}" --data-binary '{"sms_enabled":true}'
is "$API_STATUS $API_BODY" '400 {"phone_number":["Número de telefone é obrigatório para SMS."]}' "SMS without a number: 400"
as "$TOK_viewer" PUT /api/alerts/notification-preferences/me/ "${J[@]}" --data-binary '{"phone_number":"11 9999"}'
is "$API_STATUS" 400 "a number without +: 400"
as "$TOK_viewer" PATCH /api/alerts/notification-preferences/me/ "${J[@]}" --data-binary '{"high_alerts":"no"}'
is "$API_STATUS" 400 "a string for a boolean: 400"
as "$APITOK" GET /api/alerts/notification-preferences/me/
is "$API_STATUS" 403 "an API token of its own has no preferences: 403"
as "$TOK_owner" GET /api/alerts/notifications/
like "$API_BODY" '^\{"count":3,' "the owner's in-app notifications (one per alert)"
as "$TOK_viewer" GET /api/alerts/notifications/
like "$API_BODY" '^\{"count":3,' "so are the viewer's (it turned e-mail off after they fired)"
call GET "$UMC" /api/alerts/notifications/
is "$API_STATUS" 401 "no credentials: 401"

# Every answer above as lib/http/openapi.json describes it.
openapi_check
done_testing
