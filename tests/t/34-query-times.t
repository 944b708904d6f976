#!/bin/bash
# Every time the tools accept can be queried: ingest stores years 0000..9999 (0000 is 1 BC to
# PostgreSQL, which has no year 0), and --from/--to take RFC 3339 years 0000..9999 with offsets, epoch
# numbers up to year ~287000 and relative times hundreds of millennia back; each reaches the server in a
# spelling it reads (issue 8).
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_q34
tsk tenant create --slug acme --name Acme >/dev/null
q "INSERT INTO acme.reading (device_id, sensor_id, ts, value, unit) VALUES
	('old', 't', '0001-06-01T12:00:00Z BC', 1, 'c'),
	('old', 't', '0002-12-31T23:30:00Z BC', 2, 'c'),
	('mid', 't', '2025-10-17T10:00:00Z', 3, 'c'),
	('far', 't', '9999-12-31T23:00:00.5Z', 4, 'c')" >/dev/null

vals() { perl -ne 'print "$1 " if /"value":\s*([-0-9.e+]+)/'; }

out=$(tsk query -t acme raw --from 0000-06-01 --to 0000-06-02 2>&1)
is "$?" 0 "raw --from 0000-06-01: exit 0"
like "$out" '"ts": ?"0000-06-01T12:00:00Z"' "raw --from 0000-06-01 --to 0000-06-02: the year-0000 reading"
is "$(vals <<<"$out")" "1 " "raw --from 0000-06-01 --to 0000-06-02: only that one"
is "$(tsk query -t acme raw --to 0000-01-01T00:30:00+01:00 --asc 2>&1 | vals)" "2 " \
	"raw --to 0000-01-01T00:30:00+01:00 (year -0001 in UTC): the 2 BC reading"
like "$(tsk query -t acme raw --to 0000-01-01T00:30:00+01:00 2>&1)" '"ts": ?"-001-12-31T23:30:00Z"|"ts": ?"-0001-12-31T23:30:00Z"' \
	"raw: a reading before year 0000 comes back with its time"
is "$(tsk query -t acme raw --from 9999-12-31 --to 9999-12-31T23:59:59.999999Z 2>&1 | vals)" "4 " \
	"raw --from 9999-12-31: the last year ingest stores"
out=$(tsk query -t acme raw --from 9000000000000000 2>&1)
is "$?:$out" "0:" "raw --from epoch milliseconds in year ~287000: exit 0, nothing"
is "$(tsk query -t acme raw --from -14000000w --asc 2>&1 | vals)" "2 1 3 4 " \
	"raw --from -14000000w (before PostgreSQL's first day): every reading"
is "$(tsk query -t acme raw --to -14000000w 2>&1 | vals)" "" "raw --to -14000000w: none"
out=$(tsk query -t acme buckets --bucket 1d --from 0000-06-01 --to 0000-06-02 2>&1)
is "$?" 0 "buckets --from 0000-06-01: exit 0"
like "$out" '"bucket": ?"0000-06-01T00:00:00Z"' "buckets --from 0000-06-01: the year-0000 day"
is "$(tsk query -t acme raw --from 0000-06-01 --to 0000-06-02 --stats 2>&1 | tail -1 | perl -ne 'print $1 if /"count":\s*(\d+)/')" 1 \
	"raw --stats over year 0000"

printf '%s\r\n' 'ts,device_id,sensor_id,value,unit' '0000-06-01T12:00:00Z,old,t,1.00,c' >"$T/want"
tsk export raw --tenant acme --from 0000-06-01 --to 0000-06-02 >"$T/got" 2>"$T/err"
is "$?:$(cat "$T/err")" "0:" "export raw --from 0000-06-01: exit 0, nothing on stderr"
cmp -s "$T/got" "$T/want"
ok $? "export raw --from 0000-06-01 --to 0000-06-02: the year-0000 row"
is "$(tsk export raw --tenant acme --from 9999-12-31 | tail -n +2 | tr -d '\r')" "9999-12-31T23:00:00.5Z,far,t,4.00,c" \
	"export raw --from 9999-12-31"
is "$(tsk export raw --tenant acme --from -14000000w | tail -n +2 | wc -l)" 4 "export raw --from -14000000w: every row"
done_testing
