#!/bin/bash
# The asset catalog (sql/tenant/030_catalog.sql, lib/registry/catalog.c) through tsk-tenant: rows
# ingested before the catalog migration keep their keys and get ids; site|asset|device|sensor add, list,
# show, set, rm; bad JSON lines, bad choices, lengths, time zones, duplicate tags and serials, references;
# a site with assets cannot be deleted; an asset takes its devices and their sensors with it.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_catalog
tsk tenant create --slug acme --name Acme >/dev/null
tsk tenant create --slug beta --name Beta >/dev/null

# --- the migration keeps what ingest wrote ------------------------------------------------------------
# The catalog migration ran when the tenant was created, so undo it by hand to the state before it (the
# tables as 001_reading.sql made them, with rows ingested), then migrate again.
printf '%s\n' '{"tenant":"acme","device_id":"OLD-1","sensor_id":"temp","ts":"2025-10-17T10:30:00Z","value":20.5,"unit":"celsius","labels":{"type":"temperature"}}' \
	'{"tenant":"acme","device_id":"OLD-1","sensor_id":"bat","ts":"2025-10-17T10:30:00Z","value":3.1,"labels":{"type":"battery"}}' \
	'{"tenant":"acme","device_id":"OLD-2","sensor_id":"x","ts":"2025-10-17T10:30:00Z","value":1}' |
	tsk ingest -q stdin >/dev/null
q "SET search_path = acme;
   DROP TABLE asset, site CASCADE;
   ALTER TABLE device DROP COLUMN id, DROP COLUMN asset_id, DROP COLUMN serial_number, DROP COLUMN device_type,
     DROP COLUMN firmware_version, DROP COLUMN status, DROP COLUMN availability, DROP COLUMN created_at,
     DROP COLUMN updated_at, DROP COLUMN is_active, ALTER COLUMN name DROP NOT NULL, ALTER COLUMN name DROP DEFAULT;
   UPDATE device SET name = NULL;
   ALTER TABLE sensor DROP COLUMN id, DROP COLUMN metric_type, DROP COLUMN thresholds, DROP COLUMN is_online,
     DROP COLUMN availability, DROP COLUMN last_reading_at, DROP COLUMN is_active, DROP COLUMN created_at,
     DROP COLUMN updated_at;
   DROP INDEX sensor_sensor_id_idx;
   DELETE FROM public.schema_migration WHERE scope = 'acme' AND version = 30" >/dev/null
is "$(q "SELECT count(*) FROM acme.sensor")" 3 "before the catalog migration: three sensors"
out=$(tsk tenant migrate)
like "$out" '"tenant_applied":1' "migrate applies the catalog migration to the tenant"
is "$(q "SELECT string_agg(device_id || ':' || (id IS NOT NULL) || ':' || name || ':' || serial_number || ':' || status, ' ' ORDER BY device_id) FROM acme.device")" \
	"OLD-1:true:OLD-1:OLD-1:ONLINE OLD-2:true:OLD-2:OLD-2:ONLINE" "devices kept, with ids, names and serials"
is "$(q "SELECT string_agg(sensor_id || ':' || metric_type || ':' || (last_reading_at = last_seen), ' ' ORDER BY sensor_id) FROM acme.sensor")" \
	"bat:voltage:true temp:temperature:true x:other:true" "sensors kept, metric_type mapped from type"
out=$(tsk tenant sensor list -t acme mqtt_client_id=OLD-1)
like "$(echo "$out" | head -1)" '^\{"id":[0-9]+,"tag":"bat","device":[0-9]+,"mqtt_client_id":"OLD-1","metric_type":"voltage",' \
	"sensor list: the migrated rows, with ids and the API's fields"
is "$(echo "$out" | wc -l)" 2 "two sensors of OLD-1"
echo '{"tenant":"acme","device_id":"OLD-1","sensor_id":"temp","ts":"2025-10-17T10:31:00Z","value":21}' | tsk ingest -q stdin >/dev/null
is "$(q "SELECT count(*) || ' ' || max(last_value) FROM acme.sensor WHERE sensor_id = 'temp'")" "1 21" \
	"ingest after the migration updates the same rows"

# --- sites ----------------------------------------------------------------------------------------------
printf '%s\n' '{"name":"Site1","timezone":"America/Sao_Paulo"}' 'not json' \
	'{"name":"Bloco A","timezone":"Mars/Olympus"}' '{"name":"Bloco A","company":"UMC","latitude":-18.918,"longitude":-48.277}' \
	'{"name":"","company":"x"}' '{"company":"no name"}' '{"name":"Lat","latitude":91}' '{"name":"X","colour":"red"}' \
	>"$T/sites.jsonl"
out=$(tsk tenant site add -t acme <"$T/sites.jsonl" 2>"$T/err")
is $? 3 "site add with bad lines: exit 3"
is "$(echo "$out" | wc -l)" 2 "two sites created"
like "$(echo "$out" | head -1)" '^\{"id":1,"name":"Site1","address":"","latitude":null,"longitude":null,"timezone":"America/Sao_Paulo",' \
	"each created row printed as a JSON line with its id"
like "$(echo "$out" | sed -n 2p)" '"id":2,"name":"Bloco A",.*"latitude":-18.918,"longitude":-48.277,.*"company":"UMC"' "second site"
is "$(wc -l <"$T/err")" 6 "one error line per bad line"
like "$(sed -n 1p "$T/err")" '^tsk-tenant: line 2: not JSON' "line 2: not JSON, with its number"
like "$(sed -n 2p "$T/err")" '^tsk-tenant: line 3: timezone: "Mars/Olympus" is not a time zone name' "line 3: a bad time zone"
like "$(sed -n 3p "$T/err")" '^tsk-tenant: line 5: name: may not be blank' "line 5: blank name"
like "$(sed -n 4p "$T/err")" '^tsk-tenant: line 6: name: required' "line 6: missing name"
like "$(sed -n 5p "$T/err")" '^tsk-tenant: line 7: latitude: must be a number from -90 to 90' "line 7: latitude out of range"
like "$(sed -n 6p "$T/err")" '^tsk-tenant: line 8: colour: not a field of a site' "line 8: unknown field"
long=$(printf 'n%.0s' $(seq 201))
echo "{\"name\":\"$long\"}" | tsk tenant site add -t acme >/dev/null 2>"$T/err"
like "$(cat "$T/err")" 'name: longer than 200 characters' "a name longer than 200 characters"
echo '{"name":"Ünïcödé ✓ Uberlândia"}' | tsk tenant site add -t acme >/dev/null
ok $? "UTF-8 names are counted in characters"
is "$(tsk tenant site list -t beta)" "" "another tenant has no sites"

# --- assets ---------------------------------------------------------------------------------------------
printf '%s\n' '{"tag":"CH-01","site":1,"asset_type":"CHILLER","manufacturer":"Carrier","specifications":{"kw":350}}' \
	'{"tag":"CH-01","site":2}' '{"tag":"AHU-01","site":2,"asset_type":"AIR"}' '{"tag":"AHU-01","site":99}' \
	'{"tag":"AHU-01","site":2,"status":"OPERATIONAL"}' '{"tag":"AHU-01","site":2,"health_score":101}' \
	'{"tag":"AHU-01","site":2,"installation_date":"2024-02-30"}' \
	'{"tag":"AHU-01","site":2,"installation_date":"2024-02-29","last_maintenance":"2025-01-01T10:00:00-03:00","name":"Air handler"}' \
	>"$T/assets.jsonl"
out=$(tsk tenant asset add -t acme <"$T/assets.jsonl" 2>"$T/err")
is $? 3 "asset add with bad lines: exit 3"
is "$(echo "$out" | wc -l)" 2 "two assets created"
like "$(sed -n 1p "$T/err")" 'line 2: tag: an asset with tag "CH-01" exists already' "a duplicate tag, named"
like "$(sed -n 2p "$T/err")" 'line 3: asset_type: must be one of CHILLER, AHU, FAN_COIL, PUMP, BOILER, COOLING_TOWER, VRF, RTU, VALVE, SENSOR, CONTROLLER, FILTER, DUCT, METER, OTHER' \
	"a bad asset type, with the choices"
like "$(sed -n 3p "$T/err")" 'line 4: site: no site with id 99' "a site that does not exist"
like "$(sed -n 4p "$T/err")" 'line 5: status: must be one of OK, MAINTENANCE, STOPPED, ALERT' "OPERATIONAL is not a status"
like "$(sed -n 5p "$T/err")" 'line 6: health_score: must be a whole number from 0 to 100' "health score range"
like "$(sed -n 6p "$T/err")" 'line 7: installation_date: must be a date' "an impossible date"
like "$(echo "$out" | sed -n 2p)" '"tag":"AHU-01","name":"Air handler","site":2,"site_name":"Bloco A",.*"installation_date":"2024-02-29","last_maintenance":"2025-01-01T13:00:00Z"' \
	"dates and times as given, times in UTC"
like "$(tsk tenant asset show CH-01 -t acme)" '^\{"id":1,"tag":"CH-01",.*"asset_type":"CHILLER",.*"specifications":\{"kw":350\}' "show by tag"
is "$(tsk tenant asset show 1 -t acme)" "$(tsk tenant asset show CH-01 -t acme)" "show by id: the same row"
tsk tenant asset show NOPE -t acme >/dev/null 2>"$T/err"
is $? 2 "show of an unknown tag: exit 2"
like "$(cat "$T/err")" 'no asset "NOPE"' "says which"
out=$(tsk tenant asset set CH-01 '{"status":"ALERT","site":2,"health_score":40}' -t acme)
like "$out" '"site":2,"site_name":"Bloco A",.*"status":"ALERT","health_score":40' "set changes the fields given"
tsk tenant asset set CH-01 '{"status":"BROKEN"}' -t acme >/dev/null 2>"$T/err"
is $? 2 "set with a bad choice: exit 2"
is "$(q "SELECT status FROM acme.asset WHERE tag = 'CH-01'")" ALERT "and nothing changed"
echo '{"name":"Chiller one"}' | tsk tenant asset set CH-01 -t acme >/dev/null
is "$(q "SELECT name FROM acme.asset WHERE tag = 'CH-01'")" "Chiller one" "set reads the JSON from stdin when not given"

# lists: filters, search, ordering, pages
is "$(tsk tenant asset list -t acme site=2 | jq -r .tag | paste -sd' ')" "AHU-01 CH-01" "filter by site, ordered by tag"
is "$(tsk tenant asset list -t acme --search carr | jq -r .tag)" "CH-01" "search: manufacturer, case-insensitive"
is "$(tsk tenant asset list -t acme --search '%' | jq -r .tag)" "" "search: % is a character, not a pattern"
is "$(tsk tenant asset list -t acme --ordering=-tag --limit 1 | jq -r .tag)" "CH-01" "ordering descending, limit"
is "$(tsk tenant asset list -t acme --ordering=tag --limit 1 --offset 1 | jq -r .tag)" "CH-01" "offset"
tsk tenant asset list -t acme --ordering=colour >/dev/null 2>"$T/err"
is $? 2 "ordering by an unknown field: exit 2"
like "$(cat "$T/err")" 'ordering: a asset cannot be ordered by "colour"' "says which"
tsk tenant asset list -t acme "tag=x' OR 1=1 --" >/dev/null
is "$(tsk tenant asset list -t acme "tag=x' OR 1=1 --")" "" "a filter value is a value, never SQL"
tsk tenant asset list -t acme '"tag"=1' >/dev/null 2>"$T/err"
is $? 2 "a filter field that is not a field: exit 2"

# --- devices --------------------------------------------------------------------------------------------
ahu=$(q "SELECT id FROM acme.asset WHERE tag = 'AHU-01'")
printf '%s\n' '{"mqtt_client_id":"GW-1","asset":1,"device_type":"GATEWAY","firmware_version":"1.2"}' \
	'{"mqtt_client_id":"GW-1"}' '{"mqtt_client_id":"GW-2","serial_number":"GW-1"}' '{"mqtt_client_id":"GW-3","device_type":"ROUTER"}' \
	'{"mqtt_client_id":"GW-4","asset":77}' '{"mqtt_client_id":"GW-5","status":"ONLINE","availability":100.5}' \
	'{"mqtt_client_id":"GW-6","name":"Meter","serial_number":"SN-6","asset":'"$ahu"',"device_type":"ENERGY_METER"}' >"$T/dev.jsonl"
out=$(tsk tenant device add -t acme <"$T/dev.jsonl" 2>"$T/err")
is $? 3 "device add with bad lines: exit 3"
like "$(echo "$out" | head -1)" '"name":"GW-1","serial_number":"GW-1","asset":1,"asset_tag":"CH-01","mqtt_client_id":"GW-1","device_type":"GATEWAY","firmware_version":"1.2","status":"OFFLINE","is_online":false' \
	"a device: name and serial default to its client id"
like "$(sed -n 1p "$T/err")" 'line 2: mqtt_client_id: a device "GW-1" exists already' "a duplicate client id"
like "$(sed -n 2p "$T/err")" 'line 3: serial_number: a device with serial number "GW-1" exists already' "a duplicate serial"
like "$(sed -n 3p "$T/err")" 'line 4: device_type: must be one of CONTROLLER, ENERGY_METER, SENSOR_HUB, GATEWAY, OTHER' "a bad device type"
like "$(sed -n 4p "$T/err")" 'line 5: asset: no asset with id 77' "an asset that does not exist"
like "$(sed -n 5p "$T/err")" 'line 6: availability: must be a number from 0 to 100' "availability range"
is "$(echo "$out" | jq -r .mqtt_client_id | paste -sd' ')" "GW-1 GW-6" "the good lines were created"
tsk tenant device set GW-1 '{"mqtt_client_id":"GW-X"}' -t acme >/dev/null 2>"$T/err"
like "$(cat "$T/err")" 'mqtt_client_id: cannot be changed' "the client id is fixed (readings are keyed by it)"
like "$(tsk tenant device set GW-6 '{"asset":null}' -t acme)" '"asset":null,' "a device can be unlinked"
is "$(tsk tenant device list -t acme device_type=GATEWAY | jq -r .mqtt_client_id)" GW-1 "filter by device type"

# --- sensors --------------------------------------------------------------------------------------------
gw1=$(q "SELECT id FROM acme.device WHERE device_id = 'GW-1'")
printf '%s\n' "{\"tag\":\"supply\",\"device\":$gw1,\"metric_type\":\"temp_supply\",\"unit\":\"celsius\",\"thresholds\":{\"max\":12}}" \
	"{\"tag\":\"supply\",\"device\":$gw1}" '{"tag":"x","device":9999}' "{\"device\":$gw1}" \
	"{\"tag\":\"ret\",\"device\":$gw1,\"thresholds\":[1]}" >"$T/sen.jsonl"
out=$(tsk tenant sensor add -t acme <"$T/sen.jsonl" 2>"$T/err")
is $? 3 "sensor add with bad lines: exit 3"
like "$out" "^\\{\"id\":[0-9]+,\"tag\":\"supply\",\"device\":$gw1,\"mqtt_client_id\":\"GW-1\",\"metric_type\":\"temp_supply\",\"unit\":\"celsius\",\"thresholds\":\\{\"max\":12\\},\"is_online\":false" \
	"a sensor, with its device's id"
like "$(sed -n 1p "$T/err")" 'line 2: tag: the device has a sensor "supply" already' "a duplicate tag on one device"
like "$(sed -n 2p "$T/err")" 'line 3: device: no device with id 9999' "a device that does not exist"
like "$(sed -n 3p "$T/err")" 'line 4: tag: required' "a sensor needs a tag"
like "$(sed -n 4p "$T/err")" 'line 5: thresholds: must be an object' "thresholds are an object"
# A line holding an array is a group: all of it, or none (the API's sensors_bulk).
printf '%s\n' "[{\"tag\":\"a1\",\"device\":$gw1},{\"tag\":\"a2\",\"device\":$gw1}]" \
	"[{\"tag\":\"b1\",\"device\":$gw1},{\"tag\":\"b2\",\"device\":9999}]" >"$T/bulk.jsonl"
out=$(tsk tenant sensor add -t acme <"$T/bulk.jsonl" 2>"$T/err")
is $? 3 "a group with a bad element: exit 3"
is "$(echo "$out" | jq -r .tag | paste -sd' ')" "a1 a2" "the good group is created"
like "$(cat "$T/err")" '^tsk-tenant: line 2: element 2: device: no device with id 9999' "the bad one names its element"
is "$(q "SELECT count(*) FROM acme.sensor WHERE sensor_id = 'b1'")" 0 "and none of it is created"
is "$(tsk tenant sensor list -t acme device=$gw1 -f csv | head -1 | tr -d '\r')" "id,tag,device,mqtt_client_id,metric_type,unit,is_online,last_value,last_reading_at" \
	"sensor list as CSV: id, tag, device, metric_type, unit, online state"

# --- deletes --------------------------------------------------------------------------------------------
tsk tenant site rm 2 -t acme >/dev/null 2>"$T/err"
is $? 2 "a site with assets cannot be deleted: exit 2"
like "$(cat "$T/err")" 'site: site 2 has 2 assets; delete or move them first' "says why"
is "$(q "SELECT count(*) FROM acme.site WHERE id = 2")" 1 "the site is still there"
is "$(tsk tenant site rm 1 -t acme)" '{"id":1,"deleted":true}' "a site without assets is deleted"
tsk tenant asset rm CH-01 -t acme >/dev/null
ok $? "an asset is deleted"
is "$(q "SELECT count(*) FROM acme.device WHERE device_id = 'GW-1'")|$(q "SELECT count(*) FROM acme.sensor WHERE device_id = 'GW-1'")" "0|0" \
	"with its devices and their sensors (CASCADE)"
is "$(q "SELECT count(*) FROM acme.reading WHERE device_id = 'OLD-1'")" 3 "readings are never deleted by the catalog"
tsk tenant sensor rm 99999 -t acme >/dev/null 2>&1
is $? 2 "rm of an id that does not exist: exit 2"
tsk tenant site list -t nope >/dev/null 2>"$T/err"
like "$(cat "$T/err")" 'nope' "an unknown tenant is named"
tsk tenant site list >/dev/null 2>&1
is $? 2 "the catalog commands need --tenant"

done_testing
