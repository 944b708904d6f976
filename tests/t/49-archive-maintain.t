#!/bin/bash
# tsk-tenant maintain and the raw message archive (telemetry, daily partitions by created_at): days
# ahead are created, rows that sat in the default partition move to their day, whole days older than
# raw_retention (default 7 days) are dropped, and no row younger than raw_retention is ever removed.
# The clock is fixed (TSK_NOW) and moved by hand: nothing depends on the day the test runs.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_archive_maintain
tsk tenant create --slug acme --name Acme >/dev/null
NOW=$(q "SELECT extract(epoch FROM date_trunc('second', now()))::bigint")
DAY=86400
AT="to_timestamp($NOW)"
parts() { q "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'acme.telemetry'::regclass"; }
# the partition of the day N days from $NOW
pname() { q "SELECT to_char(date_trunc('day', $AT AT TIME ZONE 'UTC') + interval '$1 days', '\"telemetry_p\"YYYYMMDD')"; }
count() { q "SELECT count(*) FROM acme.telemetry"; }
young() { q "SELECT count(*) FROM acme.telemetry WHERE created_at >= to_timestamp($1) - interval '$2'"; }

# One message an hour after the start of days -10, -8, -6, -1 and 0, and one at 23:00 of day -7.
q "INSERT INTO acme.telemetry (device_id, topic, payload, \"timestamp\", created_at)
   SELECT 'd' || k, 'tenants/acme/x', '{}'::jsonb, now(), (date_trunc('day', $AT AT TIME ZONE 'UTC') + (k || ' days')::interval + interval '1 hour') AT TIME ZONE 'UTC'
   FROM unnest(ARRAY[-10, -8, -6, -1, 0]) k
   UNION ALL SELECT 'late7', 't', '{}'::jsonb, now(), (date_trunc('day', $AT AT TIME ZONE 'UTC') - interval '7 days' + interval '23 hours') AT TIME ZONE 'UTC'" >/dev/null
is "$(parts)" telemetry_default "before: only the default partition"
is "$(count)" 6 "six archived messages"

out=$(TSK_NOW=$NOW tsk tenant maintain acme)
ok $? "maintain"
like "$out" '"raw_created":7,"raw_dropped":0,"raw_moved":4,"raw_deleted":2' \
	"7 days made (today, 3 ahead, and days -7, -6, -1 holding rows), 4 rows moved, the 2 older than 7 days deleted"
is "$(parts)" "$(echo $( (for d in -7 -6 -1 0 1 2 3; do pname $d; done; echo telemetry_default) | LC_ALL=C sort))" \
	"daily partitions: the days with rows since the boundary, today and 3 ahead"
is "$(q "SELECT string_agg(device_id, ' ' ORDER BY device_id) FROM acme.telemetry")" "d-1 d-6 d0 late7" \
	"the messages older than the start of day -7 are gone, the others stay"
is "$(q "SELECT count(*) FROM acme.telemetry t JOIN pg_class c ON c.oid = t.tableoid
         WHERE c.relname <> to_char(t.created_at AT TIME ZONE 'UTC', '\"telemetry_p\"YYYYMMDD')")" 0 "each row in its day's partition"
is "$(q "SELECT count(*) FROM pg_indexes WHERE schemaname = 'acme' AND tablename = '$(pname 0)'")" 4 \
	"a day's partition has the key, msg_key, device and time indexes"
out=$(TSK_NOW=$NOW tsk tenant maintain acme)
like "$out" '"raw_created":0,"raw_dropped":0,"raw_moved":0,"raw_deleted":0' "a second run changes nothing"

# Three days later: days -7 and -6 are wholly older than 7 days and dropped; day -1 stays.
LATER=$((NOW + 3 * DAY))
y0=$(young $LATER '7 days')
out=$(TSK_NOW=$LATER tsk tenant maintain acme)
like "$out" '"raw_created":3,"raw_dropped":2,' "3 days later: 3 new days ahead, 2 days dropped"
is "$(parts | tr ' ' '\n' | grep -c -e "$(pname -7)" -e "$(pname -6)")" 0 "the days wholly past raw_retention are gone"
is "$(parts | tr ' ' '\n' | grep -c "$(pname -1)")" 1 "day -1 stays"
is "$(young $LATER '7 days')" "$y0" "no message younger than 7 days was removed"
is "$(q "SELECT string_agg(device_id, ' ' ORDER BY device_id) FROM acme.telemetry")" "d-1 d0" "the two youngest remain"

# raw_retention is the tenant's own setting.
tsk tenant set acme raw_retention 2d >/dev/null
ok $? "raw_retention 2d"
y0=$(young $LATER '2 days')
out=$(TSK_NOW=$LATER tsk tenant maintain acme)
like "$out" '"raw_dropped":2,' "with 2 days, days -1 and 0 go"
is "$(young $LATER '2 days')" "$y0" "still nothing younger than the retention removed"
is "$(count)" 0 "every message was older than 2 days"
is "$(q "SELECT count(*) FROM acme.reading")" 0 "(readings have their own retention: untouched)"
q "UPDATE public.tenant SET settings = '{\"raw_retention\": \"a week\"}' WHERE slug = 'acme'" >/dev/null
p0=$(parts)
err=$(TSK_NOW=$LATER tsk tenant maintain acme 2>&1)
is "$?" 1 "an unparseable stored raw_retention: exit 1"
like "$err" 'raw_retention "a week" is not a duration' "says why"
is "$(parts)" "$p0" "and nothing changed"
done_testing
