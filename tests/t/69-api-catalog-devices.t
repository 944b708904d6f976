#!/bin/bash
# The catalog API, devices and sensors, against the real daemon and PostgreSQL: create/retrieve/update/
# delete by role, uniqueness, filters (is_online is status ONLINE: the original's 500), a device's
# heartbeat (the original's 500), summary and sensors, bulk sensor creation (all or nothing, 201), a
# sensor's update_reading, a device seen only by ingest (no asset), and the CLI reading what the API
# wrote (one implementation).
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
. "$(dirname "$0")/../lib/catalog.sh"
catalog_setup t_api_catalog_devices
ok $? "tenants, users of every role, tokens, daemon"
DENIED='{"detail":"You do not have permission to perform this action."}'

send owner POST /api/sites/ '{"name":"Bloco A"}'
S=$(body_id)
send owner POST /api/assets/ "{\"tag\":\"CH-01\",\"site\":$S,\"asset_type\":\"CHILLER\"}"
A=$(body_id)
send owner POST /api/assets/ "{\"tag\":\"AHU-01\",\"site\":$S,\"asset_type\":\"AHU\"}"
A2=$(body_id)

# --- devices -----------------------------------------------------------------------------------------------
send operator POST /api/devices/ "{\"name\":\"Gateway 1\",\"serial_number\":\"SN-000123\",\"asset\":$A,\"mqtt_client_id\":\"GW-1\",\"device_type\":\"GATEWAY\",\"firmware_version\":\"1.2\"}"
is "$API_STATUS" 201 "operator creates a device: 201"
D=$(body_id)
like "$API_BODY" "^\\{\"id\":$D,\"name\":\"Gateway 1\",\"serial_number\":\"SN-000123\",\"asset\":$A,\"asset_tag\":\"CH-01\",\"mqtt_client_id\":\"GW-1\",\"device_type\":\"GATEWAY\",\"firmware_version\":\"1.2\",\"status\":\"OFFLINE\",\"is_online\":false,\"last_seen\":null,\"availability\":0,\"sensor_count\":0,\"is_active\":true,\"created_at\":\"[^\"]+-03:00\",\"updated_at\":\"[^\"]+-03:00\"\\}$" \
	"the device's shape"
send admin POST /api/devices/ "{\"name\":\"Meter\",\"serial_number\":\"SN-000999\",\"asset\":$A2,\"mqtt_client_id\":\"EM-1\",\"device_type\":\"ENERGY_METER\",\"status\":\"ONLINE\",\"availability\":99.5}"
D2=$(body_id)
is "$API_STATUS" 201 "admin creates a second device"
for w in technician viewer; do
	send $w POST /api/devices/ "{\"name\":\"X\",\"serial_number\":\"SN-X\",\"asset\":$A,\"mqtt_client_id\":\"X\"}"
	is "$API_STATUS $API_BODY" "403 $DENIED" "$w may not create a device"
done
send owner POST /api/devices/ "{\"name\":\"Dup\",\"serial_number\":\"SN-000123\",\"asset\":$A,\"mqtt_client_id\":\"GW-1\"}"
is "$API_STATUS $API_BODY" '400 {"serial_number":["device com este serial_number já existe."],"mqtt_client_id":["device com este mqtt_client_id já existe."]}' \
	"serial_number and mqtt_client_id are unique"
send owner POST /api/devices/ '{"name":"N","serial_number":"SN-N","mqtt_client_id":"N","asset":999999,"device_type":"ROUTER","availability":150}'
is "$API_STATUS $API_BODY" '400 {"device_type":["\"ROUTER\" não é um escolha válido."],"availability":["Certifique-se de que este valor seja inferior ou igual a 100."]}' \
	"bad choice and range"
send owner POST /api/devices/ '{"name":"N","serial_number":"SN-N","mqtt_client_id":"N","asset":999999}'
is "$API_STATUS $API_BODY" '400 {"asset":["Pk inválido \"999999\" - objeto não existe."]}' "an unknown asset"
is "$(q "SELECT count(*) FROM umc.device")" 2 "two devices"
is "$(tsk tenant device list --tenant umc | grep -c '"mqtt_client_id":"GW-1"')" 1 "the CLI lists the device the API created"

as viewer GET "/api/devices/$D/"
like "$API_STATUS $API_BODY" "^200 \\{\"id\":$D,\"name\":\"Gateway 1\"" "retrieve (viewer)"
as viewer GET "/api/devices/?is_online=true"
like "$API_BODY" '^\{"count":1,.*"mqtt_client_id":"EM-1"' "?is_online=true: status ONLINE (the original gave 500)"
as viewer GET "/api/devices/?is_online=false"
like "$API_BODY" '^\{"count":1,.*"mqtt_client_id":"GW-1"' "?is_online=false"
as viewer GET "/api/devices/?is_online=maybe"
is "$API_STATUS" 400 "?is_online=maybe: 400"
as viewer GET "/api/devices/?asset=$A2"
like "$API_BODY" '^\{"count":1,.*"mqtt_client_id":"EM-1"' "?asset"
as viewer GET "/api/devices/?device_type=GATEWAY&status=OFFLINE"
like "$API_BODY" '^\{"count":1,.*"mqtt_client_id":"GW-1"' "?device_type and ?status"
as viewer GET "/api/devices/?search=em-"
like "$API_BODY" '^\{"count":1,.*"mqtt_client_id":"EM-1"' "search in mqtt_client_id"
as viewer GET "/api/devices/?ordering=-name"
like "$API_BODY" '"name":"Meter".*"name":"Gateway 1"' "ordering=-name"

send operator PATCH "/api/devices/$D/" '{"mqtt_client_id":"GW-9"}'
is "$API_STATUS $API_BODY" '400 {"mqtt_client_id":["Este campo não pode ser alterado: as leituras do dispositivo são guardadas sob ele."]}' \
	"mqtt_client_id cannot change"
send operator PUT "/api/devices/$D/" "{\"name\":\"Gateway One\",\"serial_number\":\"SN-000123\",\"asset\":$A2,\"mqtt_client_id\":\"GW-1\",\"firmware_version\":\"1.3\"}"
like "$API_STATUS $API_BODY" "^200 \\{\"id\":$D,\"name\":\"Gateway One\",\"serial_number\":\"SN-000123\",\"asset\":$A2,\"asset_tag\":\"AHU-01\",\"mqtt_client_id\":\"GW-1\",.*\"firmware_version\":\"1.3\"" \
	"PUT with the same mqtt_client_id moves it to another asset"
send viewer PATCH "/api/devices/$D/" '{"name":"x"}'
is "$API_STATUS" 403 "viewer may not PATCH a device"

# --- heartbeat, summary --------------------------------------------------------------------------------------
send viewer POST "/api/devices/$D/heartbeat/" '{}'
is "$API_STATUS" 403 "heartbeat is a write: 403 for a viewer"
send operator POST "/api/devices/$D/heartbeat/" '{}'
like "$API_STATUS $API_BODY" "^200 \\{\"id\":$D,.*\"status\":\"ONLINE\",\"is_online\":true,\"last_seen\":\"20[^\"]+-03:00\"" \
	"heartbeat: ONLINE, last seen now (the original gave 500)"
send operator POST "/api/devices/$D/heartbeat/" '{"timestamp":"2025-10-18T10:00:00Z"}'
like "$API_BODY" '"status":"ONLINE","is_online":true,"last_seen":"2025-10-18T07:00:00-03:00"' "heartbeat with a timestamp"
send operator POST "/api/devices/$D/heartbeat/" '{"timestamp":"yesterday"}'
like "$API_STATUS $API_BODY" '^400 \{"timestamp":\["Formato inválido para data e hora' "a bad timestamp: 400"
send operator POST "/api/devices/$D/heartbeat/" '[1]'
is "$API_STATUS" 400 "a body that is no object: 400"
send operator POST "/api/devices/999999/heartbeat/" '{}'
is "$API_STATUS $API_BODY" '404 {"detail":"Não encontrado."}' "heartbeat of an unknown device: 404"
as technician GET "/api/devices/$D/summary/"
like "$API_STATUS $API_BODY" "^200 \\{\"id\":$D,\"name\":\"Gateway One\",\"display_name\":\"Device 0123\",\"serial_number\":\"SN-000123\",\"mqtt_client_id\":\"GW-1\",.*\"asset_tag\":\"AHU-01\",.*\"status\":\"ONLINE\",\"device_status\":\"ONLINE\",.*\"total_variables_count\":0,\"online_variables_count\":0,\"variables\":\\[\\]\\}$" \
	"summary of a device without sensors"

# --- sensors ---------------------------------------------------------------------------------------------
send operator POST /api/sensors/ "{\"tag\":\"GW-1_temp\",\"device\":$D,\"metric_type\":\"temp_supply\",\"unit\":\"°C\",\"thresholds\":{\"max\":12}}"
is "$API_STATUS" 201 "create a sensor"
X=$(body_id)
like "$API_BODY" "^\\{\"id\":$X,\"tag\":\"GW-1_temp\",\"device\":$D,\"device_name\":\"Gateway One\",\"mqtt_client_id\":\"GW-1\",\"metric_type\":\"temp_supply\",\"unit\":\"°C\",\"thresholds\":\\{\"max\":12\\},\"is_online\":false,\"availability\":0,\"last_value\":null,\"last_reading_at\":null,\"is_active\":true," \
	"the sensor's shape"
send operator POST /api/sensors/ "{\"tag\":\"GW-1_temp2\",\"device\":$D,\"metric_type\":\"temp_supply\",\"unit\":\"°C\"}"
is "$API_STATUS $API_BODY" '400 {"non_field_errors":["Os campos device, metric_type devem criar um set único."]}' \
	"a second sensor of the same metric type on a device: 400 (the original's create check)"
send operator POST /api/sensors/ "{\"tag\":\"GW-1_temp\",\"device\":$D,\"metric_type\":\"humidity\",\"unit\":\"%\"}"
is "$API_STATUS $API_BODY" '400 {"non_field_errors":["Os campos device, tag devem criar um set único."]}' "a device has one sensor of a tag"
send operator POST /api/sensors/ "{\"tag\":\"T\",\"device\":$D,\"metric_type\":\"warp_drive\"}"
is "$API_STATUS $API_BODY" '400 {"metric_type":["\"warp_drive\" não é um escolha válido."],"unit":["Este campo é obrigatório."]}' "metric_type choices, unit required"
send technician POST /api/sensors/ "{\"tag\":\"T\",\"device\":$D,\"metric_type\":\"humidity\",\"unit\":\"%\"}"
is "$API_STATUS" 403 "technician may not create a sensor"

send owner POST "/api/devices/$D/sensors_bulk/" '{"sensors":[{"tag":"GW-1_hum","metric_type":"humidity","unit":"%"},{"tag":"GW-1_rssi","metric_type":"signal","unit":"dBW","device":999999}]}'
is "$API_STATUS" 201 "sensors_bulk: 201"
like "$API_BODY" "^\\[\\{\"id\":[0-9]+,\"tag\":\"GW-1_hum\",\"device\":$D,.*\\},\\{\"id\":[0-9]+,\"tag\":\"GW-1_rssi\",\"device\":$D,[^]]*\\]$" \
	"the sensors created, all on this device (a device in an item is overridden)"
before=$(q "SELECT count(*) FROM umc.sensor")
send owner POST "/api/devices/$D/sensors_bulk/" '{"sensors":[{"tag":"B1","metric_type":"current","unit":"A"},{"tag":"B2","metric_type":"voltage"}]}'
is "$API_STATUS $API_BODY" '400 {"sensors":[{},{"unit":["Este campo é obrigatório."]}]}' "one bad item: 400, errors per item"
send owner POST "/api/devices/$D/sensors_bulk/" '{"sensors":[{"tag":"B1","metric_type":"current","unit":"A"},{"tag":"B1","metric_type":"power_kw","unit":"kW"}]}'
is "$API_STATUS $API_BODY" '400 {"sensors":[{},{"non_field_errors":["Os campos device, tag devem criar um set único."]}]}' "a tag twice in one batch: 400"
is "$(q "SELECT count(*) FROM umc.sensor")" "$before" "and nothing of either batch was written (all or nothing)"
send owner POST "/api/devices/$D/sensors_bulk/" '{"sensors":{"tag":"x"}}'
is "$API_STATUS $API_BODY" '400 {"sensors":["Esperado uma lista de itens mas recebido tipo \"dict\"."]}' "sensors must be a list"
send owner POST "/api/devices/$D/sensors_bulk/" '{"sensors":[]}'
is "$API_STATUS $API_BODY" '400 {"sensors":["Esta lista não pode estar vazia."]}' "an empty list: 400"
send owner POST "/api/devices/$D/sensors_bulk/" '{}'
is "$API_STATUS $API_BODY" '400 {"sensors":["Este campo é obrigatório."]}' "no list: 400"
send owner POST "/api/devices/$D/sensors_bulk/" '{"sensors":[1]}'
is "$API_STATUS" 400 "an item that is no object: 400"
send owner POST "/api/devices/999999/sensors_bulk/" '{"sensors":[{"tag":"B1","metric_type":"current","unit":"A"}]}'
is "$API_STATUS" 404 "sensors_bulk on an unknown device: 404"
send viewer POST "/api/devices/$D/sensors_bulk/" '{"sensors":[{"tag":"B1","metric_type":"current","unit":"A"}]}'
is "$API_STATUS" 403 "viewer may not bulk create"

as viewer GET "/api/devices/$D/sensors/"
like "$API_BODY" '^\[\{"id":[0-9]+,"tag":"GW-1_hum",.*"tag":"GW-1_rssi",.*"tag":"GW-1_temp",[^]]*\]$' "a device's sensors: a bare array"
as viewer GET "/api/devices/999999/sensors/"
is "$API_STATUS" 404 "sensors of an unknown device: 404"
as viewer GET "/api/sensors/?device=$D&metric_type=humidity"
like "$API_BODY" '^\{"count":1,.*"tag":"GW-1_hum"' "sensor filters device and metric_type"
as viewer GET "/api/sensors/?unit=dBW"
like "$API_BODY" '^\{"count":1,.*"tag":"GW-1_rssi"' "sensor filter unit"
as viewer GET "/api/sensors/?search=RSSI"
like "$API_BODY" '^\{"count":1,.*"tag":"GW-1_rssi"' "sensor search"

# --- update_reading --------------------------------------------------------------------------------------
send viewer POST "/api/sensors/$X/update_reading/" '{"value":7.5}'
is "$API_STATUS" 403 "update_reading is a write: 403 for a viewer"
send operator POST "/api/sensors/$X/update_reading/" '{"value":7.1}'
like "$API_STATUS $API_BODY" "^200 \\{\"id\":$X,.*\"is_online\":true,\"availability\":0,\"last_value\":7.1,\"last_reading_at\":\"20[^\"]+-03:00\"" \
	"update_reading: value, now, online"
send operator POST "/api/sensors/$X/update_reading/" '{"value":"8.25","timestamp":"2025-10-18T10:00:00.5Z"}'
like "$API_BODY" '"last_value":8.25,"last_reading_at":"2025-10-18T07:00:00.500000-03:00"' "update_reading with a timestamp (microseconds shown)"
send operator POST "/api/sensors/$X/update_reading/" '{}'
is "$API_STATUS $API_BODY" '400 {"value":["Este campo é obrigatório."]}' "update_reading needs a value"
send operator POST "/api/sensors/$X/update_reading/" '{"value":"abc"}'
is "$API_STATUS $API_BODY" '400 {"value":["Um número válido é necessário."]}' "a value that is no number: 400"
send operator POST "/api/sensors/$X/update_reading/" '{"value":true}'
is "$API_STATUS" 400 "a boolean value: 400"
send operator POST "/api/sensors/999999/update_reading/" '{"value":1}'
is "$API_STATUS" 404 "update_reading of an unknown sensor: 404"

as viewer GET "/api/devices/$D/summary/"
like "$API_BODY" '"device_status":"ONLINE",.*"total_variables_count":3,"online_variables_count":1,"variables":\[\{"id":[0-9]+,"tag":"GW-1_hum","name":"Hum",.*"tag":"GW-1_rssi","name":"RSSI",.*\{"id":[0-9]+,"tag":"GW-1_temp","name":"Temp","metric_type":"temp_supply","unit":"°C","is_online":true,"last_value":8.25,' \
	"summary: variables with names, counts, device_status"
as viewer GET "/api/assets/$A2/sensors/?is_online=true"
like "$API_BODY" '^\[\{"id":[0-9]+,"tag":"GW-1_temp"[^]]*\]$' "the asset's online sensors"

send owner PATCH "/api/sensors/$X/" '{"unit":"K","is_online":"false"}'
like "$API_STATUS $API_BODY" '^200 .*"unit":"K",.*"is_online":false' "PATCH a sensor (a boolean given as text)"

# --- every endpoint by role -----------------------------------------------------------------------------
READS="/api/sites/ /api/sites/$S/ /api/sites/$S/assets/ /api/sites/$S/devices/ /api/sites/$S/devices/summary/
	/api/sites/$S/stats/ /api/assets/ /api/assets/complete/ /api/assets/$A/ /api/assets/$A/devices/
	/api/assets/$A/sensors/ /api/devices/ /api/devices/$D/ /api/devices/$D/sensors/ /api/devices/$D/summary/
	/api/sensors/ /api/sensors/$X/"
WRITES="POST:/api/sites/ PUT:/api/sites/$S/ PATCH:/api/sites/$S/ DELETE:/api/sites/$S/ POST:/api/assets/
	PUT:/api/assets/$A/ PATCH:/api/assets/$A/ DELETE:/api/assets/$A/ POST:/api/assets/$A/calculate_health/
	POST:/api/devices/ PUT:/api/devices/$D/ PATCH:/api/devices/$D/ DELETE:/api/devices/$D/
	POST:/api/devices/$D/sensors_bulk/ POST:/api/devices/$D/heartbeat/ POST:/api/sensors/ PUT:/api/sensors/$X/
	PATCH:/api/sensors/$X/ DELETE:/api/sensors/$X/ POST:/api/sensors/$X/update_reading/"
for w in owner admin operator technician viewer script none gone other old; do
	case $w in none | gone | other | old) want=401 ;; *) want=200 ;; esac
	got=
	for p in $READS; do
		as $w GET "$p"
		[ "$API_STATUS" = "$want" ] || got="$got $p:$API_STATUS"
	done
	is "${got:-all $want}" "all $want" "$w: every read endpoint answers $want"
done
SNAP=$(catalog_dump)
for w in technician viewer none gone other old; do
	case $w in technician | viewer) want=403 ;; *) want=401 ;; esac
	got=
	for mp in $WRITES; do
		send $w "${mp%%:*}" "${mp#*:}" '{"value":1,"sensors":[{"tag":"z","metric_type":"current","unit":"A"}]}'
		[ "$API_STATUS" = "$want" ] || got="$got $mp:$API_STATUS"
	done
	is "${got:-all $want}" "all $want" "$w: every write endpoint answers $want"
done
is "$(catalog_dump)" "$SNAP" "and none of those writes changed anything"
for w in owner admin operator script; do
	got=
	for mp in "PATCH:/api/sites/$S/" "PATCH:/api/assets/$A/" "PATCH:/api/devices/$D/" "PATCH:/api/sensors/$X/" \
		"POST:/api/assets/$A/calculate_health/" "POST:/api/devices/$D/heartbeat/" "POST:/api/sensors/$X/update_reading/"; do
		send $w "${mp%%:*}" "${mp#*:}" '{"value":8.25}'
		[ "$API_STATUS" = 200 ] || got="$got $mp:$API_STATUS"
	done
	is "${got:-all 200}" "all 200" "$w: may change every kind of row and run every action"
done

# --- a device only ingest has seen: no asset ------------------------------------------------------------
q "INSERT INTO umc.device (device_id, name) VALUES ('LEGACY-1', 'LEGACY-1')" >/dev/null
L=$(q "SELECT id FROM umc.device WHERE device_id = 'LEGACY-1'")
as viewer GET "/api/devices/$L/"
like "$API_BODY" "^\\{\"id\":$L,\"name\":\"LEGACY-1\",\"serial_number\":null,\"asset\":null,\"asset_tag\":null,\"mqtt_client_id\":\"LEGACY-1\"," "a device without an asset"
send operator PATCH "/api/devices/$L/" "{\"asset\":$A}"
like "$API_STATUS $API_BODY" "^200 .*\"asset\":$A,\"asset_tag\":\"CH-01\"" "given an asset"
as viewer GET "/api/devices/$L/summary/"
like "$API_BODY" '"display_name":"LEGACY-1",' "display_name without a serial number"

# --- deletes ---------------------------------------------------------------------------------------------
as technician DELETE "/api/sensors/$X/"
is "$API_STATUS" 403 "technician may not delete a sensor"
as operator DELETE "/api/sensors/$X/"
is "$API_STATUS" 204 "delete a sensor: 204"
as operator DELETE "/api/devices/$D/"
is "$API_STATUS" 204 "delete a device: 204"
is "$(q "SELECT count(*) FROM umc.sensor WHERE device_id = 'GW-1'")" 0 "its sensors went with it"
as operator DELETE "/api/devices/$D/"
is "$API_STATUS" 404 "again: 404"
as viewer GET "/api/devices/$D/summary/"
is "$API_STATUS" 404 "summary of a deleted device: 404"

httpd_stop
is $? 0 "the daemon stops cleanly (under make asan: no leak or error)"
openapi_check
done_testing
