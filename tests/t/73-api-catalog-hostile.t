#!/bin/bash
# The catalog API against hostile and broken input: SQL injection in every query argument, path segment
# and JSON field (the tables stay as they were; text is stored as given), ids that are no numbers or too
# big, numbers out of range, bad JSON, wrong types, a body too large, wrong methods (405 with Allow),
# another tenant's rows. Nothing answers 500 or 503.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
. "$(dirname "$0")/../lib/catalog.sh"
catalog_setup t_api_catalog_hostile
ok $? "tenants, users of every role, tokens, daemon"

send owner POST /api/sites/ '{"name":"Bloco A","company":"UMC"}'
S=$(body_id)
send owner POST /api/assets/ "{\"tag\":\"CH-01\",\"site\":$S,\"asset_type\":\"CHILLER\"}"
A=$(body_id)
send owner POST /api/devices/ "{\"name\":\"GW\",\"serial_number\":\"SN-1\",\"asset\":$A,\"mqtt_client_id\":\"GW-1\"}"
D=$(body_id)
send owner POST /api/sensors/ "{\"tag\":\"GW-1_t\",\"device\":$D,\"metric_type\":\"temp_supply\",\"unit\":\"C\"}"
X=$(body_id)
[ -n "$S" ] && [ -n "$A" ] && [ -n "$D" ] && [ -n "$X" ]
ok $? "a site, an asset, a device, a sensor"
tsk tenant site add --tenant other <<<'{"name":"Other secret site"}' >/dev/null
BEFORE=$(catalog_dump)

EVIL=(
	"'; DROP TABLE umc.site; --"
	"1 OR 1=1"
	"1); DELETE FROM umc.asset; --"
	"\" OR \"\"=\""
	"1' UNION SELECT password_hash FROM public.app_user --"
	"\$1"
	"%s%s%n"
	"name; DROP TABLE umc.device"
	"-name,(SELECT 1)"
)

# --- query arguments -----------------------------------------------------------------------------------------
declare -A ARGS=(
	[/api/sites/]="company sector subsector timezone search ordering page"
	[/api/assets/]="site asset_type status manufacturer search ordering page"
	[/api/assets/complete/]="site asset_type status manufacturer search ordering page"
	[/api/devices/]="asset device_type status is_online search ordering page"
	[/api/sensors/]="device metric_type unit is_online search ordering page"
	[/api/sites/$S/assets/]="status asset_type"
	[/api/sites/$S/devices/]="device_type status"
	[/api/assets/$A/sensors/]="metric_type is_online"
)
bad=0 n=0
for path in "${!ARGS[@]}"; do
	for arg in ${ARGS[$path]}; do
		for e in "${EVIL[@]}"; do
			as viewer GET "$path" -G --data-urlencode "$arg=$e"
			n=$((n + 1))
			case "$API_STATUS" in 200 | 400 | 404) ;; *) bad=$((bad + 1)); diag "$path?$arg=$e: $API_STATUS $API_BODY" ;; esac
		done
	done
done
is "$bad" 0 "$n injection attempts in query arguments: each 200, 400 or 404"
as viewer GET /api/sites/ -G --data-urlencode "company=' OR '1'='1"
is "$API_BODY" '{"count":0,"next":null,"previous":null,"results":[]}' "a filter value is a value: nothing matches"
as viewer GET /api/sites/ -G --data-urlencode "search=' OR 1=1 --"
like "$API_BODY" '^\{"count":0,' "a search term is a term"
as viewer GET /api/sites/ -G --data-urlencode "ordering=name; DROP TABLE umc.site"
like "$API_STATUS $API_BODY" '^200 \{"count":1,' "an ordering that is no field name is ignored"
as viewer GET /api/assets/ -G --data-urlencode "site=$S OR 1=1"
is "$API_STATUS" 400 "an id filter with more than digits: 400"
is "$(catalog_dump)" "$BEFORE" "every table as it was"

# --- path segments -------------------------------------------------------------------------------------------
bad=0 n=0
for base in sites assets devices sensors; do
	for e in "${EVIL[@]}" "1%20OR%201=1" "0" "-1" "1e3" "0x10" "99999999999999999999" "9223372036854775808" "%00" "1.0" "+1" " 1"; do
		seg=$(/usr/bin/python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="%"))' "$e")
		for sub in "" "stats/" "assets/" "devices/" "sensors/" "summary/"; do
			as owner GET "/api/$base/$seg/$sub"
			n=$((n + 1))
			[ "$API_STATUS" = 404 ] || { bad=$((bad + 1)); diag "/api/$base/$seg/$sub: $API_STATUS $API_BODY"; }
		done
		send owner PATCH "/api/$base/$seg/" '{"name":"x"}'
		[ "$API_STATUS" = 404 ] || { bad=$((bad + 1)); diag "PATCH /api/$base/$seg/: $API_STATUS"; }
		as owner DELETE "/api/$base/$seg/"
		[ "$API_STATUS" = 404 ] || { bad=$((bad + 1)); diag "DELETE /api/$base/$seg/: $API_STATUS"; }
		n=$((n + 2))
	done
done
is "$bad" 0 "$n requests with ids that are no ids (injections, zero, negative, huge, not decimal): each 404"
as owner GET "/api/sites/9223372036854775807/"
is "$API_STATUS $API_BODY" '404 {"detail":"Não encontrado."}' "the largest id: 404"
as owner GET "/api/sites/00$S/"
like "$API_STATUS $API_BODY" "^200 \\{\"id\":$S," "leading zeros name the same id (as int() reads them)"
is "$(catalog_dump)" "$BEFORE" "every table as it was"

# --- JSON fields -------------------------------------------------------------------------------------------
i=0
for e in "${EVIL[@]}"; do
	i=$((i + 1))
	body=$(/usr/bin/python3 -c 'import json, sys; e = sys.argv[1]; print(json.dumps({"name": e, "address": e, "company": e, "sector": e, "subsector": e, e: e}))' "$e")
	send owner POST /api/sites/ "$body"
	id=$(body_id)
	got=$(q "SELECT name = address AND name = company AND name = sector AND name = subsector FROM umc.site WHERE id = ${id:-0}")
	stored=$(q "SELECT name FROM umc.site WHERE id = ${id:-0}")
	[ "$API_STATUS" = 201 ] && [ "$got" = t ] && [ "$stored" = "$(sed 's/^ *//;s/ *$//' <<<"$e")" ]
	ok $? "site fields holding injection $i are stored as given"
	as owner DELETE "/api/sites/$id/"
	body=$(/usr/bin/python3 -c 'import json, sys; e = sys.argv[1]; print(json.dumps({"tag": e[:100], "site": int(sys.argv[2]), "manufacturer": e, "model": e, "serial_number": e, "specifications": {e: e}}))' "$e" "$S")
	send owner POST /api/assets/ "$body"
	id=$(body_id)
	[ "$API_STATUS" = 201 ] && [ "$(q "SELECT specifications = jsonb_build_object(model, model) AND model = manufacturer FROM umc.asset WHERE id = ${id:-0}")" = t ]
	ok $? "asset fields holding injection $i are stored as given"
	as owner DELETE "/api/assets/$id/"
done
send owner POST "/api/devices/$D/sensors_bulk/" '{"sensors":[{"tag":"x'"'"'); DROP TABLE umc.sensor; --","metric_type":"current","unit":"A'"'"' OR 1=1"}]}'
like "$API_STATUS $API_BODY" "^201 \\[\\{\"id\":[0-9]+,\"tag\":\"x'\\); DROP TABLE umc.sensor; --\"" "sensors_bulk stores an injection as a tag"
as owner DELETE "/api/sensors/$(sed -n 's/^\[{"id":\([0-9]*\),.*/\1/p' <<<"$API_BODY")/"
send operator POST "/api/devices/$D/heartbeat/" '{"timestamp":"2025-10-18T10:00:00Z'"'"'; DROP TABLE umc.device; --"}'
is "$API_STATUS" 400 "heartbeat: an injection as a timestamp is no timestamp"
send operator POST "/api/sensors/$X/update_reading/" '{"value":"1; DROP TABLE umc.sensor"}'
is "$API_STATUS" 400 "update_reading: an injection as a value is no number"
send owner PATCH "/api/assets/$A/" '{"status":"OK'"'"'; DROP TABLE umc.asset; --"}'
like "$API_STATUS $API_BODY" '^400 \{"status":\["' "a choice holding an injection: 400"
is "$(catalog_dump)" "$BEFORE" "every table as it was"
is "$(q "SELECT count(*) FROM pg_tables WHERE schemaname = 'umc' AND tablename IN ('site', 'asset', 'device', 'sensor', 'reading')")" 5 \
	"and every table is still there"

# --- sizes and numbers ---------------------------------------------------------------------------------------
send owner PATCH "/api/sites/$S/" "{\"name\":\"$(printf 'x%.0s' $(seq 201))\"}"
is "$API_STATUS $API_BODY" '400 {"name":["Certifique-se de que este campo não tenha mais de 200 caracteres."]}' "201 characters: 400"
send owner PATCH "/api/sites/$S/" "{\"company\":\"$(printf 'é%.0s' $(seq 200))\"}"
is "$API_STATUS" 200 "200 two-byte characters fit (characters, not bytes)"
send owner PATCH "/api/assets/$A/" '{"health_score":1e300}'
is "$API_STATUS $API_BODY" '400 {"health_score":["Certifique-se de que este valor seja inferior ou igual a 100."]}' "1e300 as a score: 400"
send owner PATCH "/api/assets/$A/" '{"health_score":-1}'
is "$API_STATUS" 400 "a negative score: 400"
send owner PATCH "/api/assets/$A/" '{"health_score":50.5}'
is "$API_STATUS $API_BODY" '400 {"health_score":["Um número inteiro válido é exigido."]}' "a fraction as a score: 400"
send owner PATCH "/api/assets/$A/" '{"health_score":99999999999999999999999}'
like "$API_STATUS $API_BODY" '^400 \{"detail":"JSON parse error' "an integer too big for JSON's reader: 400"
send owner PATCH "/api/devices/$D/" '{"availability":1e400}'
is "$API_STATUS" 400 "1e400: 400"
send owner PATCH "/api/sites/$S/" '{"latitude":1e6}'
is "$API_STATUS" 400 "a latitude of 1e6: 400"
send owner PATCH "/api/sites/$S/" '{"latitude":95}'
like "$API_STATUS $API_BODY" '^400 \{"latitude":\["' "a latitude past 90: 400 (the library's range)"
send owner PATCH "/api/sites/$S/" '{"latitude":"NaN"}'
is "$API_STATUS" 400 "NaN: 400"
send owner PATCH "/api/sites/$S/" '{"latitude":"-18.5","longitude":null}'
like "$API_STATUS $API_BODY" '^200 .*"latitude":"-18.500000","longitude":null' "a decimal as a string, a null"
send operator POST "/api/sensors/$X/update_reading/" '{"value":1e308}'
like "$API_STATUS $API_BODY" '^200 .*"last_value":1e\+308' "the largest double as a reading"
as viewer GET "/api/assets/?page=99999999999999999999"
is "$API_STATUS" 404 "a huge page: 404"
as viewer GET "/api/assets/?site=99999999999999999999"
is "$API_STATUS" 400 "a huge id filter: 400"
big=$(head -c 70000 /dev/zero | tr '\0' x)
send owner POST /api/sites/ "{\"name\":\"n\",\"address\":\"$big\"}"
is "$API_STATUS" 413 "a body past the daemon's limit: 413"
send owner POST /api/sites/ "{\"name\":\"n\",\"address\":\"$(head -c 20000 /dev/zero | tr '\0' x)\"}"
is "$API_STATUS $API_BODY" '400 {"address":["Certifique-se de que este campo não tenha mais de 10000 caracteres."]}' "an address past 10000 characters: 400"
long=$(printf 'a%.0s' $(seq 300))
as viewer GET "/api/sites/$long/"
is "$API_STATUS" 404 "a 300-character id: 404"
as viewer GET /api/sites/ -G --data-urlencode "search=$(printf 'ab %.0s' $(seq 2000))"
is "$API_STATUS" 200 "a search of 2000 terms: 200 (the first ones count)"

# --- bad JSON and wrong types --------------------------------------------------------------------------------
for b in '{"name":' 'not json' '{"name":"a","name":"b"}' '{"name":"a\u0000b"}' $'{"name":"\xff\xfe"}'; do
	send owner POST /api/sites/ "$b"
	like "$API_STATUS $API_BODY" '^400 \{"detail":"JSON parse error' "not JSON ($(printf %q "$b")): 400"
done
for b in '[]' '"text"' '1' 'null'; do
	send owner POST /api/sites/ "$b"
	is "$API_STATUS $API_BODY" '400 {"non_field_errors":["Dados inválidos. Esperado um dicionário, mas recebido outro tipo."]}' "$b as a body: 400"
done
send owner POST /api/sites/ '{"name":5,"is_active":"maybe","latitude":"abc"}'
is "$API_STATUS $API_BODY" '400 {"name":["Not a valid string."],"latitude":["Um número válido é necessário."],"is_active":["Must be a valid boolean."]}' "wrong types: 400 per field"
send owner POST /api/sites/ '{"name":"   "}'
is "$API_STATUS $API_BODY" '400 {"name":["Este campo não pode ser em branco."]}' "a blank name: 400"
send owner POST /api/sites/ '{"name":null}'
is "$API_STATUS $API_BODY" '400 {"name":["Este campo não pode ser nulo."]}' "a null name: 400"
send owner PATCH "/api/assets/$A/" '{"specifications":[1],"installation_date":"2025-13-01","last_maintenance":"nope","site":"abc"}'
is "$API_STATUS $API_BODY" '400 {"site":["Pk inválido \"abc\" - objeto não existe."],"specifications":["Esperado um dicionário de itens mas recebido tipo \"list\"."],"installation_date":["Formato inválido para data. Use um dos formatos a seguir: YYYY-MM-DD."],"last_maintenance":["Formato inválido para data e hora. Use um dos formatos a seguir: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."]}' \
	"an object, a date, a datetime and an id of the wrong kind: 400 per field"
send owner PATCH "/api/sensors/$X/" '{"device":{"id":1}}'
is "$API_STATUS $API_BODY" '400 {"device":["Tipo incorreto. Esperado valor pk, recebeu dict."]}' "a reference given as an object: 400"
send owner PATCH "/api/sites/$S/" '{"id":999,"created_at":"2000-01-01T00:00:00Z","asset_count":7,"unknown":1}'
like "$API_STATUS $API_BODY" "^200 \\{\"id\":$S," "read-only and unknown fields are ignored (as DRF)"

# --- methods -------------------------------------------------------------------------------------------------
as owner DELETE /api/sites/
is "$API_STATUS $API_BODY" '405 {"detail":"Método \"DELETE\" não é permitido."}' "DELETE on a list: 405"
is "$(sed -n 's/^Allow: *//Ip' "$T/api.hdr" | tr -d '\r')" "GET, HEAD, POST, OPTIONS" "with Allow"
for mp in "PUT /api/assets/" "POST /api/sites/$S/" "GET /api/devices/$D/heartbeat/" "GET /api/sensors/$X/update_reading/" \
	"POST /api/sites/$S/stats/" "DELETE /api/devices/$D/summary/" "PUT /api/devices/$D/sensors_bulk/" \
	"POST /api/assets/complete/" "GET /api/assets/$A/calculate_health/" "PATCH /api/sensors/"; do
	as owner ${mp% *} "${mp#* }"
	is "$API_STATUS" 405 "$mp: 405"
done
as viewer HEAD /api/sites/ -I
is "$API_STATUS" 200 "HEAD is served by GET"

# --- another tenant's rows ---------------------------------------------------------------------------------
as owner GET /api/sites/
like "$API_BODY" '^\{"count":1,' "umc's list holds umc's site only"
case "$API_BODY" in *secret*) r=1 ;; *) r=0 ;; esac
ok $r "never the other tenant's"
call GET "$OTHER" /api/sites/ -H "Authorization: Bearer ${TOK[other]}"
like "$API_STATUS $API_BODY" '^200 \{"count":1,.*"name":"Other secret site"' "other's owner reads other's catalog on other's host"
call GET "$OTHER" "/api/assets/$A/" -H "Authorization: Bearer ${TOK[owner]}"
is "$API_STATUS" 401 "umc's owner on other's host: 401"

# --- never a server error ----------------------------------------------------------------------------------
n=$(cat "$T"/api.log/*.meta | wc -l)
bad=$(cut -f3 "$T"/api.log/*.meta | grep -c '^5')
is "$bad" 0 "none of the $n answers was a 5xx"

httpd_stop
is $? 0 "the daemon stops cleanly (under make asan: no leak or error)"
openapi_check
done_testing
