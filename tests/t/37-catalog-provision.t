#!/bin/bash
# Auto-provisioning from ingest (the original system), through tsk-ingest stdin and POST /ingest (both use
# lib/ingest/sink.c): a canonical topic under an existing active site creates the asset (type from the
# tag), the device (a GATEWAY linked to it) and its sensors; under an unknown or inactive site nothing
# is provisioned and the readings are still stored; legacy and device-style topics provision nothing; a
# device moves to another asset, an asset to another site; sites are never created.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
fresh_db t_catalog_provision
tsk tenant create --slug acme --name Acme >/dev/null
printf '%s\n' '{"name":"Bloco A"}' '{"name":"Uberlândia Medical Center"}' '{"name":"Old wing","is_active":false}' |
	tsk tenant site add -t acme >/dev/null
A=$(q "SELECT id FROM acme.site WHERE name = 'Bloco A'")
U=$(q "SELECT id FROM acme.site WHERE name LIKE 'Uberl%'")

msg() { # msg TOPIC DEVICE TS SENSOR:VALUE:TYPE...
	local topic=$1 dev=$2 ts=$3 s sens="" id v ty
	shift 3
	for s in "$@"; do
		IFS=: read -r id v ty <<<"$s"
		sens="$sens${sens:+,}{\"sensor_id\":\"$id\",\"value\":$v${ty:+,\"type\":\"$ty\",\"unit\":\"u-$ty\"}}"
	done
	printf '{"topic":"%s","payload":{"device_id":"%s","timestamp":"%s","sensors":[%s]}}\n' "$topic" "$dev" "$ts" "$sens"
}

# --- tsk-ingest stdin -----------------------------------------------------------------------------------
{
	msg 'tenants/acme/sites/Bloco%20A/assets/CH-01/telemetry' GW-1 2025-10-20T14:30:00Z t1:21.5:temperature h1:55:humidity
	msg 'tenants/acme/sites/Bloco%20A/assets/CH-01/telemetry' GW-1 2025-10-20T14:31:00Z t1:21.7:temperature
	msg 'tenants/acme/sites/Nowhere/assets/AHU-9/telemetry' GW-2 2025-10-20T14:30:00Z t1:20
	msg 'tenants/acme/sites/Old%20wing/assets/AHU-8/telemetry' GW-3 2025-10-20T14:30:00Z t1:20
	msg 'tenants/acme/assets/VRF-1/telemetry' GW-4 2025-10-20T14:30:00Z t1:20
	msg 'tenants/acme/devices/GW-5/sensors/temp' GW-5 2025-10-20T14:30:00Z t1:20
	msg 'tenants/acme/sites/Uberl%C3%A2ndia%20Medical%20Center/assets/fcu-2F/telemetry' GW-6 2025-10-20T14:30:00Z rssi:-61:signal_strength b:3.1:battery
} >"$T/in.jsonl"
out=$(tsk ingest stdin <"$T/in.jsonl" 2>"$T/err")
is $? 0 "one batch of canonical, unknown-site, inactive-site, legacy and device-style messages"
like "$out" '"stored":9,' "every reading is stored, provisioned or not"
is "$(q "SELECT string_agg(tag || ':' || site_id || ':' || asset_type || ':' || asset_type_other || ':' || status || ':' || name, ' ' ORDER BY tag) FROM acme.asset")" \
	"CH-01:$A:CHILLER::OK:CH-01 fcu-2F:$U:OTHER:FCU:OK:fcu-2F" \
	"assets created for existing active sites only: type from the tag (FCU is OTHER + asset_type_other), status OK"
is "$(q "SELECT count(*) FROM acme.site")" 3 "no site created by ingest"
is "$(q "SELECT string_agg(d.device_id || ':' || coalesce(a.tag, '-') || ':' || d.device_type || ':' || d.name || ':' || d.serial_number || ':' || d.status, ' ' ORDER BY d.device_id) FROM acme.device d LEFT JOIN acme.asset a ON a.id = d.asset_id")" \
	"GW-1:CH-01:GATEWAY:Gateway CH-01:GW-1:ONLINE GW-2:-:CONTROLLER:GW-2:GW-2:ONLINE GW-3:-:CONTROLLER:GW-3:GW-3:ONLINE GW-4:-:CONTROLLER:GW-4:GW-4:ONLINE GW-5:-:CONTROLLER:GW-5:GW-5:ONLINE GW-6:fcu-2F:GATEWAY:Gateway fcu-2F:GW-6:ONLINE" \
	"provisioned devices are gateways linked to their asset; the others are catalogued without an asset"
is "$(q "SELECT string_agg(device_id || '/' || sensor_id || ':' || metric_type || ':' || coalesce(unit, '') || ':' || is_online || ':' || last_value || ':' || (last_reading_at IS NOT NULL), ' ' ORDER BY device_id, sensor_id) FROM acme.sensor WHERE device_id IN ('GW-1', 'GW-6')")" \
	"GW-1/h1:humidity:u-humidity:true:55:true GW-1/t1:temperature:u-temperature:true:21.7:true GW-6/b:voltage:u-battery:true:3.1:true GW-6/rssi:signal:u-signal_strength:true:-61:true" \
	"sensors: metric_type mapped from labels.type, unit, online, the newest value, last_reading_at"
is "$(q "SELECT count(*) FROM acme.reading WHERE device_id IN ('GW-2', 'GW-3') AND asset_tag IS NOT NULL AND site IS NOT NULL")" 2 \
	"readings under an unknown or inactive site keep their site and asset tag"

# A device moved to another asset; an asset moved to another site; a replay changes nothing.
msg 'tenants/acme/sites/Bloco%20A/assets/AHU-7/telemetry' GW-1 2025-10-20T14:32:00Z t1:22 | tsk ingest -q stdin >/dev/null
is "$(q "SELECT a.tag FROM acme.device d JOIN acme.asset a ON a.id = d.asset_id WHERE d.device_id = 'GW-1'")" AHU-7 \
	"a device seen under another asset is re-linked to it"
is "$(q "SELECT asset_type || ':' || site_id FROM acme.asset WHERE tag = 'AHU-7'")" "AHU:$A" "that asset was created (AHU)"
is "$(q "SELECT count(*) FROM acme.asset WHERE tag = 'CH-01'")" 1 "the old asset stays"
msg 'tenants/acme/sites/Uberl%C3%A2ndia%20Medical%20Center/assets/CH-01/telemetry' GW-7 2025-10-20T14:32:00Z t1:5 |
	tsk ingest -q stdin >/dev/null
is "$(q "SELECT site_id FROM acme.asset WHERE tag = 'CH-01'")" "$U" "an asset seen under another site is moved to it"
is "$(q "SELECT count(*) FROM acme.asset")" 3 "one asset per tag"
before=$(q "SELECT string_agg(id || asset_id::text || updated_at, ',' ORDER BY id) FROM acme.device")
msg 'tenants/acme/sites/Bloco%20A/assets/AHU-7/telemetry' GW-1 2025-10-20T14:32:00Z t1:22 | tsk ingest -q stdin >/dev/null
is "$(q "SELECT string_agg(id || asset_id::text || updated_at, ',' ORDER BY id) FROM acme.device")" "$before" "a replay links nothing anew"

# A device an operator put in MAINTENANCE stays there; one created by hand without a serial keeps it
# free for the device of that client id.
tsk tenant device set GW-6 '{"status":"MAINTENANCE"}' -t acme >/dev/null
echo '{"mqtt_client_id":"OTHER","serial_number":"GW-8"}' | tsk tenant device add -t acme >/dev/null
msg 'tenants/acme/sites/Bloco%20A/assets/fcu-2F/telemetry' GW-6 2025-10-20T14:33:00Z t1:1 | tsk ingest -q stdin >/dev/null
msg 'tenants/acme/sites/Bloco%20A/assets/X-1/telemetry' GW-8 2025-10-20T14:33:00Z t1:1 | tsk ingest -q stdin >/dev/null
ok $? "a new device whose id is another device's serial is still ingested"
is "$(q "SELECT status FROM acme.device WHERE device_id = 'GW-6'")" MAINTENANCE "MAINTENANCE is not overwritten by ingest"
is "$(q "SELECT coalesce(serial_number, 'NULL') || ':' || coalesce(asset_id::text, '-') FROM acme.device WHERE device_id = 'GW-8'")" \
	"NULL:$(q "SELECT id FROM acme.asset WHERE tag = 'X-1'")" "its serial is left empty (taken), and it is linked"
long=$(printf 'L%.0s' $(seq 101))
msg "tenants/acme/sites/Bloco%20A/assets/$long/telemetry" GW-9 2025-10-20T14:33:00Z t1:1 | tsk ingest stdin >/dev/null 2>&1
ok $? "an asset tag longer than the catalog's 100 characters is stored, not provisioned"
is "$(q "SELECT count(*) FROM acme.reading WHERE device_id = 'GW-9'")|$(q "SELECT count(*) FROM acme.asset WHERE length(tag) > 100")" "1|0" \
	"its reading is there, no asset"

# --- POST /ingest -----------------------------------------------------------------------------------
S=t0ken-37
TSK_INGEST_SECRET=$S httpd_start --workers 2
ok $? "tsk-httpd answers"
body=$(msg 'tenants/acme/sites/Bloco%20A/assets/RTU-5/telemetry' HG-1 2025-10-20T15:00:00Z tt:30:temperature)
like "$(ingest $S acme "$body")" '^202 .*"sensors_saved":1' "POST /ingest of a canonical topic: 202"
is "$(q "SELECT a.tag || ':' || a.asset_type || ':' || a.site_id || ':' || d.device_type FROM acme.device d JOIN acme.asset a ON a.id = d.asset_id WHERE d.device_id = 'HG-1'")" \
	"RTU-5:RTU:$A:GATEWAY" "asset and device provisioned over HTTP"
is "$(q "SELECT metric_type || ':' || is_online FROM acme.sensor WHERE device_id = 'HG-1'")" "temperature:true" "and its sensor"
body=$(msg 'tenants/acme/sites/Bloco%20Z/assets/RTU-6/telemetry' HG-2 2025-10-20T15:00:00Z tt:30)
like "$(ingest $S acme "$body")" '^202 .*"sensors_saved":1' "POST /ingest under an unknown site: 202, stored"
is "$(q "SELECT count(*) FROM acme.asset WHERE tag = 'RTU-6'")|$(q "SELECT coalesce(asset_id::text, '-') FROM acme.device WHERE device_id = 'HG-2'")|$(q "SELECT count(*) FROM acme.reading WHERE device_id = 'HG-2'")" \
	"0|-|1" "nothing provisioned, the reading stored"
body=$(msg 'tenants/acme/sites/Uberl%C3%A2ndia%20Medical%20Center/assets/RTU-5/telemetry' HG-3 2025-10-20T15:00:00Z tt:30)
ingest $S acme "$body" >/dev/null
is "$(q "SELECT site_id FROM acme.asset WHERE tag = 'RTU-5'")" "$U" "over HTTP too, an asset moves to the topic's site"
body=$(msg 'tenants/acme/assets/RTU-5/telemetry' HG-1 2025-10-20T15:01:00Z tt:31)
ingest $S acme "$body" >/dev/null
is "$(q "SELECT a.tag FROM acme.device d JOIN acme.asset a ON a.id = d.asset_id WHERE d.device_id = 'HG-1'")" RTU-5 \
	"a legacy topic leaves the device's link as it was"

done_testing
