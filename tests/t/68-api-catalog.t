#!/bin/bash
# The catalog API, sites and assets, against the real daemon and PostgreSQL: every endpoint by role
# (owner, admin, operator, technician, viewer read; only the first three write; a user whose membership
# was removed, another tenant's user, no credentials and a revoked API token are refused; an API token
# works by its role), the shapes, create/retrieve/update/delete, filters, search, ordering, pagination
# with next/previous, a site with assets that cannot be deleted, and a site's nested lists and stats.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
. "$(dirname "$0")/../lib/catalog.sh"
catalog_setup t_api_catalog
ok $? "tenants, users of every role, tokens, daemon"

NOCRED='{"detail":"Authentication credentials were not provided."}'
DENIED='{"detail":"You do not have permission to perform this action."}'
INVALID='^\{"detail":"Given token not valid for any token type","code":"token_not_valid"'

# --- who may do what ---------------------------------------------------------------------------------------
as none GET /api/sites/
is "$API_STATUS $API_BODY" "401 $NOCRED" "no credentials: 401"
for w in gone other old; do
	as $w GET /api/sites/
	is "$API_STATUS" 401 "$w: 401"
	like "$API_BODY" "$INVALID" "$w: token_not_valid"
done
as other POST /api/sites/ -H 'Content-Type: application/json' --data-binary '{"name":"X"}'
is "$API_STATUS" 401 "another tenant's owner cannot write here either"
for w in owner admin operator technician viewer script; do
	as $w GET /api/sites/
	is "$API_STATUS $API_BODY" '200 {"count":0,"next":null,"previous":null,"results":[]}' "$w reads the (empty) list"
done
n=0
for w in owner admin operator script; do
	n=$((n + 1))
	send $w POST /api/sites/ "{\"name\":\"Site $w\",\"company\":\"ACME\"}"
	is "$API_STATUS" 201 "$w creates a site: 201"
done
for w in technician viewer; do
	send $w POST /api/sites/ '{"name":"Nope"}'
	is "$API_STATUS $API_BODY" "403 $DENIED" "$w may not create: 403"
done
is "$(q "SELECT count(*) FROM umc.site")" 4 "four sites, none by the read-only roles"
is "$(q "SELECT count(*) FROM other.site")" 0 "none in the other tenant"

# --- a site: create, shape, retrieve, update, delete ---------------------------------------------------
send owner POST /api/sites/ '{"name":"  Bloco A  ","address":"Rua 1","latitude":-18.9186,"longitude":"-48.2772","company":"UMC","sector":"Norte","subsector":"N1","timezone":"America/Sao_Paulo"}'
is "$API_STATUS" 201 "create: 201"
SA=$(body_id)
like "$API_BODY" "^\\{\"id\":$SA,\"name\":\"Bloco A\",\"address\":\"Rua 1\",\"latitude\":\"-18.918600\",\"longitude\":\"-48.277200\",\"timezone\":\"America/Sao_Paulo\",\"company\":\"UMC\",\"sector\":\"Norte\",\"subsector\":\"N1\",\"asset_count\":0,\"is_active\":true,\"created_at\":\"20[0-9-]{8}T[0-9:.]+-03:00\",\"updated_at\":\"[^\"]+-03:00\"\\}$" \
	"the site's shape: name trimmed, decimals as strings, datetimes in America/Sao_Paulo"
as viewer GET "/api/sites/$SA/"
like "$API_STATUS $API_BODY" "^200 \\{\"id\":$SA,\"name\":\"Bloco A\"" "retrieve (viewer)"
send operator PATCH "/api/sites/$SA/" '{"sector":"Sul"}'
like "$API_STATUS $API_BODY" "^200 \\{\"id\":$SA,\"name\":\"Bloco A\",\"address\":\"Rua 1\",.*\"sector\":\"Sul\"" "PATCH changes one field (operator)"
send admin PUT "/api/sites/$SA/" '{"address":"Rua 2"}'
is "$API_STATUS $API_BODY" '400 {"name":["Este campo é obrigatório."]}' "PUT needs every required field"
send admin PUT "/api/sites/$SA/" '{"name":"Bloco A","address":"Rua 2","timezone":"America/Manaus"}'
like "$API_STATUS $API_BODY" '^200 .*"address":"Rua 2","latitude":"-18.918600",.*"timezone":"America/Manaus"' "PUT (admin)"
send viewer PATCH "/api/sites/$SA/" '{"name":"Hack"}'
is "$API_STATUS" 403 "viewer may not PATCH"
send technician PUT "/api/sites/$SA/" '{"name":"Hack"}'
is "$API_STATUS" 403 "technician may not PUT"
as technician DELETE "/api/sites/$SA/"
is "$API_STATUS" 403 "technician may not DELETE"
is "$(q "SELECT name FROM umc.site WHERE id = $SA")" "Bloco A" "the site is unchanged by refused writes"
send owner PATCH "/api/sites/$SA/" '{"timezone":"Mars/Olympus"}'
is "$API_STATUS $API_BODY" '400 {"timezone":["\"Mars/Olympus\" não é um escolha válido."]}' "an unknown time zone: 400"

# --- assets --------------------------------------------------------------------------------------------
send owner POST /api/assets/ "{\"tag\":\"CH-01\",\"name\":\"Chiller 1\",\"site\":$SA,\"asset_type\":\"CHILLER\",\"manufacturer\":\"Carrier\",\"model\":\"30XA\",\"specifications\":{\"tons\":300},\"installation_date\":\"2024-02-29\",\"last_maintenance\":\"2025-10-18T10:00:00Z\"}"
is "$API_STATUS" 201 "create an asset"
A1=$(body_id)
like "$API_BODY" "^\\{\"id\":$A1,\"tag\":\"CH-01\",\"name\":\"Chiller 1\",\"site\":$SA,\"site_name\":\"Bloco A\",\"asset_type\":\"CHILLER\",\"asset_type_other\":\"\",\"manufacturer\":\"Carrier\",\"model\":\"30XA\",\"serial_number\":\"\",\"status\":\"OK\",\"health_score\":100,\"location_description\":\"\",\"specifications\":\\{\"tons\":300\\},\"installation_date\":\"2024-02-29\",\"last_maintenance\":\"2025-10-18T07:00:00-03:00\",\"device_count\":0,\"is_active\":true," \
	"the asset's shape (defaults, a date, a datetime in -03:00)"
send operator POST /api/assets/ "{\"tag\":\"AHU-01\",\"site\":\"$SA\",\"asset_type\":\"AHU\",\"status\":\"MAINTENANCE\",\"manufacturer\":\"Trane\"}"
is "$API_STATUS" 201 "a second asset (site id as a string, as DRF takes it)"
A2=$(body_id)
send admin POST /api/assets/ "{\"tag\":\"PUMP-01\",\"site\":$SA,\"asset_type\":\"PUMP\",\"status\":\"STOPPED\",\"manufacturer\":\"KSB\",\"model\":\"Meganorm\"}"
A3=$(body_id)
send owner POST /api/assets/ "{\"tag\":\"CH-01\",\"site\":$SA,\"asset_type\":\"CHILLER\"}"
is "$API_STATUS $API_BODY" '400 {"tag":["asset com este tag já existe."]}' "a duplicate tag: 400"
send owner POST /api/assets/ '{"tag":"X-1","site":999999,"asset_type":"VRF"}'
is "$API_STATUS $API_BODY" '400 {"site":["Pk inválido \"999999\" - objeto não existe."]}' "an unknown site: 400"
send owner POST /api/assets/ '{"tag":"X-1","site":true}'
is "$API_STATUS $API_BODY" '400 {"site":["Tipo incorreto. Esperado valor pk, recebeu bool."]}' "a site of the wrong type: 400"
send owner POST /api/assets/ "{\"tag\":\"X-1\",\"site\":$SA,\"asset_type\":\"FCU\",\"health_score\":101,\"installation_date\":\"2025-02-30\"}"
is "$API_STATUS $API_BODY" '400 {"asset_type":["\"FCU\" não é um escolha válido."],"health_score":["Certifique-se de que este valor seja inferior ou igual a 100."],"installation_date":["Formato inválido para data. Use um dos formatos a seguir: YYYY-MM-DD."]}' \
	"every bad field at once: a choice, a range, a date"
send owner POST /api/assets/ '{}'
is "$API_STATUS $API_BODY" '400 {"tag":["Este campo é obrigatório."],"site":["Este campo é obrigatório."]}' "an empty body: the required fields"
is "$(q "SELECT count(*) FROM umc.asset")" 3 "three assets"

as viewer GET "/api/sites/$SA/"
like "$API_BODY" '"asset_count":2,' "asset_count: the site's assets but the stopped one"

# --- filters, search, ordering ---------------------------------------------------------------------------
as viewer GET "/api/assets/?status=MAINTENANCE"
like "$API_STATUS $API_BODY" "^200 \\{\"count\":1,\"next\":null,\"previous\":null,\"results\":\\[\\{\"id\":$A2,\"tag\":\"AHU-01\"" "filter status"
as viewer GET "/api/assets/?asset_type=PUMP&site=$SA"
like "$API_BODY" "^\\{\"count\":1,.*\"tag\":\"PUMP-01\"" "filters asset_type and site together"
as viewer GET "/api/assets/?manufacturer=Carrier"
like "$API_BODY" '^\{"count":1,.*"tag":"CH-01"' "filter manufacturer"
as viewer GET "/api/assets/?status=BROKEN"
is "$API_STATUS $API_BODY" '400 {"status":["Selecione uma escolha válida. BROKEN não é uma das escolhas disponíveis."]}' "a filter value of no choice: 400"
as viewer GET "/api/assets/?site=abc"
is "$API_STATUS" 400 "a site filter that is no id: 400"
as viewer GET "/api/assets/?search=trane"
like "$API_BODY" '^\{"count":1,.*"tag":"AHU-01"' "search: case-insensitive, in manufacturer"
as viewer GET "/api/assets/?search=meganorm%20ksb"
like "$API_BODY" '^\{"count":1,.*"tag":"PUMP-01"' "search: every term must match some field"
as viewer GET "/api/assets/?search=ch-"
like "$API_BODY" '^\{"count":1,.*"tag":"CH-01"' "search in tag"
as viewer GET "/api/assets/?search=%25"
like "$API_BODY" '^\{"count":0,' "a % in search is a character, not a wildcard"
as viewer GET "/api/assets/"
like "$API_BODY" '"tag":"AHU-01".*"tag":"CH-01".*"tag":"PUMP-01"' "default ordering: tag"
as viewer GET "/api/assets/?ordering=-tag"
like "$API_BODY" '"tag":"PUMP-01".*"tag":"CH-01".*"tag":"AHU-01"' "ordering=-tag"
as viewer GET "/api/assets/?ordering=-health_score,manufacturer,nonsense"
is "$API_STATUS" 200 "an unknown ordering name is ignored"
as viewer GET "/api/sites/?company=ACME"
like "$API_BODY" '^\{"count":4,' "site filter company"
as viewer GET "/api/sites/?search=bloco&ordering=-name"
like "$API_BODY" "^\\{\"count\":1,.*\"id\":$SA," "site search"

# --- pagination ----------------------------------------------------------------------------------------
vals=
for i in $(seq 1 120); do vals="$vals${vals:+,}('P-$(printf %03d "$i")', $SA, 'OTHER')"; done
q "INSERT INTO umc.asset (tag, site_id, asset_type) VALUES $vals" >/dev/null
as viewer GET "/api/assets/?search=P-&ordering=tag"
like "$API_BODY" "^\\{\"count\":121,\"next\":\"http://$UMC/api/assets/\\?search=P-&ordering=tag&page=2\",\"previous\":null," "page 1: count, next"
like "$API_BODY" '"tag":"P-001".*"tag":"P-050"' "page 1 holds the first 50"
as viewer GET "/api/assets/?search=P-&ordering=tag&page=2"
like "$API_BODY" "^\\{\"count\":121,\"next\":\"http://$UMC/api/assets/\\?search=P-&ordering=tag&page=3\",\"previous\":\"http://$UMC/api/assets/\\?search=P-&ordering=tag\"," "page 2: next and previous (page 1 without page=)"
like "$API_BODY" '"results":\[\{"id":[0-9]+,"tag":"P-051".*"tag":"P-100"' "page 2 holds 51..100"
as viewer GET "/api/assets/?search=P-&ordering=tag&page=3"
like "$API_BODY" '"next":null,"previous":"[^"]*page=2",.*"tag":"PUMP-01".*\}\]\}$' "the last page"
n=$(grep -o '"tag":' <<<"$API_BODY" | wc -l)
is "$n" 21 "with the 21 left"
as viewer GET "/api/assets/?page=4&search=P-"
is "$API_STATUS $API_BODY" '404 {"detail":"Página inválida."}' "past the last page: 404"
as viewer GET "/api/assets/?page=0"
is "$API_STATUS" 404 "page 0: 404"
q "DELETE FROM umc.asset WHERE tag LIKE 'P-%'" >/dev/null

# --- a site's nested lists and stats ---------------------------------------------------------------------
as technician GET "/api/sites/$SA/assets/"
like "$API_STATUS $API_BODY" '^200 \[\{"id":[0-9]+,"tag":"AHU-01".*"tag":"CH-01".*"tag":"PUMP-01"' "site assets: a bare array"
as technician GET "/api/sites/$SA/assets/?status=STOPPED"
like "$API_BODY" '^\[\{"id":[0-9]+,"tag":"PUMP-01"[^]]*\]$' "site assets ?status"
as technician GET "/api/sites/$SA/assets/?asset_type=AHU"
like "$API_BODY" '^\[\{"id":[0-9]+,"tag":"AHU-01"[^]]*\]$' "site assets ?asset_type"
as technician GET "/api/sites/999999/assets/"
is "$API_STATUS $API_BODY" '404 {"detail":"Não encontrado."}' "an unknown site's assets: 404"
q "INSERT INTO umc.device (device_id, name, serial_number, asset_id, status, availability)
   VALUES ('GW-1', 'Gateway 1', 'SN-0001', $A1, 'ONLINE', 95), ('GW-2', 'Gateway 2', 'SN-0002', $A1, 'OFFLINE', 80),
          ('GW-3', 'Gateway 3', 'SN-0003', $A2, 'ONLINE', 100)" >/dev/null
q "INSERT INTO umc.sensor (device_id, sensor_id, unit, metric_type, is_online)
   VALUES ('GW-1', 'GW-1_temp', '°C', 'temp_supply', true), ('GW-1', 'GW-1_rssi', 'dBW', 'signal', false),
          ('GW-3', 'GW-3_hum', '%', 'humidity', true)" >/dev/null
as viewer GET "/api/sites/$SA/devices/"
like "$API_BODY" '^\[\{"id":[0-9]+,"name":"Gateway 1",.*"name":"Gateway 2",.*"name":"Gateway 3"' "site devices"
as viewer GET "/api/sites/$SA/devices/?status=ONLINE"
n=$(grep -o '"mqtt_client_id"' <<<"$API_BODY" | wc -l)
is "$n" 2 "site devices ?status=ONLINE"
as viewer GET "/api/sites/$SA/devices/?device_type=GATEWAY"
is "$API_BODY" '[]' "site devices ?device_type"
as viewer GET "/api/sites/$SA/devices/summary/"
like "$API_BODY" '^\[\{"id":[0-9]+,"name":"Gateway 1","display_name":"Device 0001",.*"device_status":"ONLINE",.*"total_variables_count":2,"online_variables_count":1,"variables":\[\{"id":[0-9]+,"tag":"GW-1_rssi","name":"RSSI",.*\{"id":[0-9]+,"tag":"GW-1_temp","name":"Temp",' \
	"site device summaries: display_name, device_status, variables with names"
like "$API_BODY" '"name":"Gateway 2",.*"status":"OFFLINE","device_status":"OFFLINE",.*"variables":\[\]' "a device without sensors keeps its own status"
as viewer GET "/api/sites/$SA/stats/"
is "$API_STATUS $API_BODY" '200 {"total_assets":3,"assets_by_status":{"MAINTENANCE":1,"OK":1,"STOPPED":1},"assets_by_type":{"AHU":1,"CHILLER":1,"PUMP":1},"total_devices":3,"online_devices":2,"avg_device_availability":91.7,"total_sensors":3,"online_sensors":2,"assets_with_active_alerts":0}' \
	"site stats"
q "INSERT INTO umc.alert (severity, asset_tag, triggered_at) VALUES ('High', 'CH-01', now()), ('Low', 'CH-01', now()),
   ('High', 'AHU-01', now())" >/dev/null
q "INSERT INTO umc.alert (severity, asset_tag, triggered_at, acknowledged) VALUES ('High', 'PUMP-01', now(), true)" >/dev/null
as viewer GET "/api/sites/$SA/stats/"
like "$API_BODY" '"assets_with_active_alerts":2\}$' "assets with active alerts: those with one neither acknowledged nor resolved"
as viewer GET "/api/sites/999999/stats/"
is "$API_STATUS" 404 "stats of an unknown site: 404"
send owner POST /api/sites/ '{"name":"Empty"}'
SE=$(body_id)
as viewer GET "/api/sites/$SE/stats/"
is "$API_BODY" '{"total_assets":0,"assets_by_status":{},"assets_by_type":{},"total_devices":0,"online_devices":0,"avg_device_availability":0.0,"total_sensors":0,"online_sensors":0,"assets_with_active_alerts":0}' \
	"stats of an empty site"

# --- asset actions -----------------------------------------------------------------------------------------
as viewer GET "/api/assets/$A1/devices/"
like "$API_BODY" '^\[\{"id":[0-9]+,"name":"Gateway 1",.*"mqtt_client_id":"GW-1",.*"is_online":true,.*"sensor_count":2.*\},\{.*"name":"Gateway 2"[^]]*\]$' "asset devices"
as viewer GET "/api/assets/$A1/sensors/"
like "$API_BODY" '^\[\{"id":[0-9]+,"tag":"GW-1_rssi",.*\{"id":[0-9]+,"tag":"GW-1_temp",' "asset sensors"
as viewer GET "/api/assets/$A1/sensors/?is_online=true"
like "$API_BODY" '^\[\{"id":[0-9]+,"tag":"GW-1_temp"[^]]*\]$' "asset sensors ?is_online"
as viewer GET "/api/assets/$A1/sensors/?metric_type=signal"
like "$API_BODY" '^\[\{"id":[0-9]+,"tag":"GW-1_rssi"[^]]*\]$' "asset sensors ?metric_type"
as viewer GET "/api/assets/complete/"
like "$API_BODY" '^\{"count":3,"next":null,"previous":null,"results":\[\{"id":[0-9]+,"tag":"AHU-01",' "assets complete: paged"
like "$API_BODY" '"tag":"CH-01",.*"device_count":2,.*"online_device_count":1,"sensor_count":2,"online_sensor_count":1,"latest_readings":\[\],"alert_count":2\}' \
	"complete: counts, latest readings, alert_count"
like "$API_BODY" '"tag":"PUMP-01",.*"alert_count":0\}' "an acknowledged alert is no longer counted"
q "UPDATE umc.sensor SET last_value = 7.5, last_reading_at = '2025-10-18 10:00:00+00' WHERE sensor_id = 'GW-1_temp'" >/dev/null
as viewer GET "/api/assets/complete/?search=CH-01"
like "$API_BODY" '"latest_readings":\[\{"sensor_id":"GW-1_temp","device_id":"GW-1","metric_type":"temp_supply","unit":"°C","value":7.5,"timestamp":"2025-10-18T07:00:00-03:00","is_online":true\}\]' \
	"complete: a sensor's latest reading"
send viewer POST "/api/assets/$A1/calculate_health/" '{}'
is "$API_STATUS" 403 "calculate_health is a write: 403 for a viewer"
send operator POST "/api/assets/$A1/calculate_health/" '{}'
like "$API_STATUS $API_BODY" "^200 \\{\"id\":$A1,\"tag\":\"CH-01\",.*\"health_score\":100," "calculate_health: the asset, unchanged (a no-op, as the original)"
send operator POST "/api/assets/999999/calculate_health/" '{}'
is "$API_STATUS" 404 "calculate_health of an unknown asset: 404"

# --- deletes ---------------------------------------------------------------------------------------------
as owner DELETE "/api/sites/$SA/"
is "$API_STATUS $API_BODY" '409 {"detail":"Não é possível excluir este site: ele tem 3 ativo(s). Exclua os ativos ou mova-os para outro site antes."}' \
	"a site with assets: 409, saying why"
is "$(q "SELECT count(*) FROM umc.site WHERE id = $SA")" 1 "and it is still there"
as admin DELETE "/api/assets/$A1/"
is "$API_STATUS $API_BODY" "204 " "delete an asset: 204"
is "$(q "SELECT count(*) FROM umc.device WHERE device_id IN ('GW-1', 'GW-2')") $(q "SELECT count(*) FROM umc.sensor WHERE device_id = 'GW-1'")" "0 0" \
	"its devices and their sensors went with it"
as admin DELETE "/api/assets/$A1/"
is "$API_STATUS" 404 "again: 404"
as owner GET "/api/assets/$A1/"
is "$API_STATUS $API_BODY" '404 {"detail":"Não encontrado."}' "retrieve a deleted asset: 404"
as operator DELETE "/api/assets/$A2/"
as operator DELETE "/api/assets/$A3/"
as operator DELETE "/api/sites/$SA/"
is "$API_STATUS" 204 "a site without assets: 204"
is "$(q "SELECT count(*) FROM umc.site WHERE id = $SA")" 0 "it is gone"

httpd_stop
is $? 0 "the daemon stops cleanly (under make asan: no leak or error)"
openapi_check
done_testing
