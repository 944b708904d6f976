#!/bin/bash
# --site and --asset (issue 8): the reading's own site and asset_tag, as ingested, filter raw rows,
# statistics, buckets (from the raw rows: the rollups keep neither) and tsk-export; raw rows show them
# (JSON, table, tsk-query CSV); tsk-export's raw CSV layout stays ts,device_id,sensor_id,value,unit.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_q35
tsk tenant create --slug acme --name Acme >/dev/null
q "INSERT INTO acme.reading (device_id, sensor_id, ts, value, unit, site, asset_tag, ingested_at) SELECT *, now() - interval '1 hour' FROM (VALUES
	('GW-1', 't', '2025-10-17T10:00:00Z'::timestamptz, 1.0::float8, 'c', 'north', 'AHU-1'),
	('GW-1', 't', '2025-10-17T10:10:00Z', 2, 'c', 'north', 'AHU-1'),
	('GW-2', 't', '2025-10-17T10:20:00Z', 4, 'c', 'south', 'AHU-2'),
	('GW-3', 't', '2025-10-17T10:30:00Z', 8, 'c', 'south', 'CH,\"1\"'),
	('GW-4', 't', '2025-10-17T10:40:00Z'::timestamptz, 16, 'c', NULL, NULL)) v" >/dev/null
# The rollups hold everything (refreshed), so a bucket query that used them would see every site.
tsk query -t acme refresh >/dev/null
is "$(q "SELECT count(*) FROM acme.reading_1h")" 4 "the 1h rollup holds the four devices"
vals() { perl -ne 'print "$1 " if /"value":\s*([-0-9.e+]+)/'; }
R="--from 2025-10-17 --to 2025-10-18 --asc"

is "$(tsk query -t acme raw $R --site north | vals)" "1 2 " "raw --site north"
is "$(tsk query -t acme raw $R --site north --site south | vals)" "1 2 4 8 " "raw --site twice: either"
is "$(tsk query -t acme raw $R --asset AHU-2 | vals)" "4 " "raw --asset AHU-2"
is "$(tsk query -t acme raw $R --asset 'CH,"1"' | vals)" "8 " "raw --asset with a comma and quotes"
is "$(tsk query -t acme raw $R --asset AHU-1 --asset AHU-2 --site south | vals)" "4 " "raw --asset x2 --site: both conditions"
is "$(tsk query -t acme raw $R --site nowhere | vals)" "" "raw --site nowhere: nothing"
like "$(tsk query -t acme raw $R --site north --limit 1)" '"site": ?"north", ?"asset_tag": ?"AHU-1"' "raw: site and asset_tag in each row"
like "$(tsk query -t acme raw $R --device GW-4)" '"site": ?null, ?"asset_tag": ?null' "raw: null when the reading has none"
like "$(tsk query -t acme raw $R --site south --format csv | head -2 | tail -1)" ',south,"CH,""1"""|,south,AHU-2' \
	"tsk-query raw --format csv: site and asset_tag columns"
like "$(tsk query -t acme raw $R --site north --stats | tail -1)" '"count": ?2' "raw --stats --site north: 2"

b=$(tsk query -t acme buckets --bucket 1h $R --site south)
is "$(perl -ne 'print "$1:$2:$3 " if /"device_id":\s*"([^"]+)".*"avg":\s*([0-9.]+).*"count":\s*(\d+)/' <<<"$b")" "GW-2:4:1 GW-3:8:1 " \
	"buckets --site south: from the raw rows, not the rollup (which holds every site)"
is "$(tsk query -t acme buckets --bucket 1h $R | wc -l)" 4 "buckets without --site: every device"
is "$(tsk query -t acme buckets --bucket 15m $R --asset AHU-1 | perl -ne 'print "$1:$2 " if /"avg":\s*([0-9.]+).*"last":\s*([0-9.]+)/')" "1.5:2 " \
	"buckets --asset AHU-1 15m: avg and last of its two readings"

printf '%s\r\n' 'ts,device_id,sensor_id,value,unit' '2025-10-17T10:20:00Z,GW-2,t,4.00,c' '2025-10-17T10:30:00Z,GW-3,t,8.00,c' >"$T/want"
tsk export raw --tenant acme $R --site south >"$T/got"
cmp -s "$T/got" "$T/want"
ok $? "export raw --site south: its rows, the raw layout unchanged"
is "$(tsk export buckets --tenant acme --bucket 1h $R --asset AHU-2 | tail -n +2 | tr -d '\r')" \
	"2025-10-17T10:00:00Z,GW-2,t,4.00,4.00,4.00,4.00,1" "export buckets --asset AHU-2"
tsk query -t acme raw $R --site '' >/dev/null 2>"$T/err"
is "$?:$(head -1 "$T/err")" '2:tsk-query: empty site' "--site '': exit 2 before any query"
done_testing
