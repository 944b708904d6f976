#!/bin/bash
# tsk-tenant catalog refresh (the original system) at a fixed clock (TSK_NOW): sensors offline after the
# tenant's offline_after (default 1h), a device online when one of its active sensors is (ERROR and
# MAINTENANCE untouched), the availability step table; a second run changes nothing; maintain runs it.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_catalog_refresh
tsk tenant create --slug acme --name Acme >/dev/null
tsk tenant create --slug beta --name Beta >/dev/null
N=2025-10-20T12:00:00Z

# Devices named after what they test: ON-h* are ONLINE with an online sensor (last reading 10 minutes
# ago), OFF-h* OFFLINE without sensors, last_seen h hours before N.
q "SET search_path = acme;
   INSERT INTO device (device_id, status, last_seen) VALUES
     ('ON-0.5', 'ONLINE', '$N'::timestamptz - interval '30 minutes'), ('ON-3', 'ONLINE', '$N'::timestamptz - interval '3 hours'),
     ('ON-8', 'ONLINE', '$N'::timestamptz - interval '8 hours'), ('ON-20', 'ONLINE', '$N'::timestamptz - interval '20 hours'),
     ('ON-30', 'ONLINE', '$N'::timestamptz - interval '30 hours'), ('ON-null', 'ONLINE', NULL),
     ('OFF-0.5', 'OFFLINE', '$N'::timestamptz - interval '30 minutes'), ('OFF-3', 'OFFLINE', '$N'::timestamptz - interval '3 hours'),
     ('OFF-8', 'OFFLINE', '$N'::timestamptz - interval '8 hours'), ('OFF-20', 'OFFLINE', '$N'::timestamptz - interval '20 hours'),
     ('OFF-30', 'OFFLINE', '$N'::timestamptz - interval '30 hours'), ('OFF-null', 'OFFLINE', NULL),
     ('STALE', 'ONLINE', '$N'::timestamptz - interval '2 hours'), ('WAKES', 'OFFLINE', '$N'::timestamptz - interval '5 hours'),
     ('ERR', 'ERROR', '$N'::timestamptz - interval '2 hours'), ('MAINT', 'MAINTENANCE', NULL);
   INSERT INTO device (device_id, status, last_seen, is_active, availability) VALUES ('GONE', 'ONLINE', NULL, false, 50);
   INSERT INTO sensor (device_id, sensor_id, is_online, last_reading_at)
     SELECT device_id, 's', false, '$N'::timestamptz - interval '10 minutes' FROM device
     WHERE device_id LIKE 'ON-%' OR device_id IN ('WAKES', 'ERR', 'MAINT', 'GONE');
   INSERT INTO sensor (device_id, sensor_id, is_online, last_reading_at) VALUES
     ('STALE', 's', true, '$N'::timestamptz - interval '61 minutes'), ('ON-8', 'never', true, NULL),
     ('WAKES', 'off', false, NULL);
   INSERT INTO sensor (device_id, sensor_id, is_online, last_reading_at, is_active) VALUES
     ('STALE', 'inactive', false, '$N'::timestamptz - interval '1 minute', false)" >/dev/null

out=$(TSK_NOW=$N tsk tenant catalog refresh acme)
is $? 0 "catalog refresh: exit 0"
like "$out" '^\{"tenant":"acme","job":"catalog refresh","sensors":[0-9]+,' "a JSON line for the tenant"
is "$(q "SELECT string_agg(device_id || '/' || sensor_id || ':' || is_online, ' ' ORDER BY device_id, sensor_id) FROM acme.sensor WHERE device_id IN ('STALE', 'WAKES', 'ON-8')")" \
	"ON-8/never:true ON-8/s:true STALE/inactive:false STALE/s:false WAKES/off:false WAKES/s:true" \
	"sensors: online within offline_after, offline after it; NULL last_reading_at and inactive sensors unchanged"
is "$(q "SELECT string_agg(device_id || ':' || status || ':' || availability, ' ' ORDER BY device_id) FROM acme.device WHERE device_id LIKE 'ON-%' OR device_id LIKE 'OFF-%'")" \
	"OFF-0.5:OFFLINE:95 OFF-20:OFFLINE:40 OFF-3:OFFLINE:80 OFF-30:OFFLINE:0 OFF-8:OFFLINE:60 OFF-null:OFFLINE:0 ON-0.5:ONLINE:100 ON-20:ONLINE:85 ON-3:ONLINE:95 ON-30:ONLINE:70 ON-8:ONLINE:90 ON-null:ONLINE:100" \
	"the availability table, ONLINE and not, by hours since last_seen"
is "$(q "SELECT string_agg(device_id || ':' || status || ':' || availability || ':' || coalesce(to_char(last_seen AT TIME ZONE 'UTC', 'HH24:MI'), '-'), ' ' ORDER BY device_id) FROM acme.device WHERE device_id IN ('STALE', 'WAKES', 'ERR', 'MAINT', 'GONE')")" \
	"ERR:ERROR:80:10:00 GONE:ONLINE:50:- MAINT:MAINTENANCE:0:- STALE:OFFLINE:80:10:00 WAKES:ONLINE:100:12:00" \
	"devices: offline without an online sensor, online with one (last_seen now); ERROR, MAINTENANCE and inactive untouched"
like "$out" '"sensors":13,"sensors_online":11,"sensors_changed":11,"devices":16,"devices_online":7,"devices_changed":2,"availability_changed":13' "the counts"

out=$(TSK_NOW=$N tsk tenant catalog refresh acme)
like "$out" '"sensors_changed":0,.*"devices_changed":0,"availability_changed":0' "a second run at the same time changes nothing"
before=$(q "SELECT md5(string_agg(d::text, ',' ORDER BY device_id)) FROM acme.device d")
TSK_NOW=$N tsk tenant catalog refresh acme >/dev/null
is "$(q "SELECT md5(string_agg(d::text, ',' ORDER BY device_id)) FROM acme.device d")" "$before" "no row rewritten"

# Later: everything goes offline; offline_after moves the line.
out=$(TSK_NOW=2025-10-20T13:00:00Z tsk tenant catalog refresh acme)
is "$(q "SELECT string_agg(DISTINCT is_online::text, ',') FROM acme.sensor WHERE last_reading_at IS NOT NULL AND is_active")" false \
	"an hour later every sensor is offline"
is "$(q "SELECT string_agg(device_id, ' ') FROM acme.device WHERE status = 'ONLINE' AND is_active")" ON-8 \
	"and so is every device but ON-8, whose sensor without readings keeps its state"
tsk tenant set acme offline_after 3h >/dev/null
TSK_NOW=2025-10-20T13:00:00Z tsk tenant catalog refresh acme >/dev/null
is "$(q "SELECT status FROM acme.device WHERE device_id = 'ON-3'")" ONLINE "with offline_after 3h it is online again"

# Every tenant when none is named; maintain runs it too.
out=$(TSK_NOW=$N tsk tenant catalog refresh)
is "$(echo "$out" | jq -r .tenant | paste -sd' ')" "acme beta" "without a slug: a line per tenant"
q "UPDATE acme.sensor SET is_online = NOT is_online WHERE device_id = 'ON-3'" >/dev/null
out=$(TSK_NOW=$N tsk tenant maintain acme)
like "$out" '"catalog_changed":[1-9]' "maintain refreshes the catalog"
is "$(q "SELECT is_online FROM acme.sensor WHERE device_id = 'ON-3'")" t "back as the rule says"
tsk tenant catalog refresh nope >/dev/null 2>"$T/err"
is $? 2 "an unknown tenant: exit 2"
tsk tenant catalog >/dev/null 2>&1
is $? 2 "catalog without refresh: usage"

done_testing
