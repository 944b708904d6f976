#!/bin/bash
# Faults inside the ingest pipeline (issue 8): a spool row whose checksum fails is quarantined as a dead
# letter with its bytes, and the other messages are stored (before: drain and mqtt exited 1 and the 199
# good messages stayed stuck); readings too far in the future for the tenant's max_future (default 1d)
# or before 1970 are rejected with the reason, in the reject file (stdin) and the dead letters (spool);
# dead letters can be listed and purged while tsk-ingest mqtt runs (before: "in use by another
# process").
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_ingest_faults
tsk tenant create --slug flt --name Faults >/dev/null
SPOOL=$T/spool.db

# ---- a corrupt spool row ----
"$TSK_BUILD/tests/spool_fill" "$SPOOL" flt 200
is $? 0 "a spool of 200 messages"
# One byte of message 100's stored body changed behind the spool's back: sqlite sees nothing wrong.
orig=$(sqlite3 "$SPOOL" "SELECT hex(body) FROM msg WHERE id = 100")
sqlite3 "$SPOOL" "UPDATE msg SET body = substr(body, 1, 9) || X'7E' || substr(body, 11) WHERE id = 100"
bad=$(sqlite3 "$SPOOL" "SELECT hex(body) FROM msg WHERE id = 100")
ok "$([ -n "$orig" ] && [ "$orig" != "$bad" ]; echo $?)" "message 100's bytes changed"
is "$(sqlite3 "$SPOOL" "PRAGMA quick_check")" ok "sqlite's own check passes"

out=$(tsk ingest drain --spool "$SPOOL" 2>"$T/drain.err")
is $? 3 "drain exits 3: a message was quarantined, everything else stored"
is "$(q "SELECT count(*) FROM flt.reading")" 199 "199 readings stored"
is "$(q "SELECT count(*) FROM flt.reading WHERE value = 99")" 0 "not the corrupt one (message 100, value 99)"
like "$(cat "$T/drain.err")" 'corrupt message .*quarantined as dead letter .*corrupt spool row' "the log says so"
like "$out" '"quarantined":1' "drain's counters: one quarantined"
like "$out" '"dead_by":\{"corrupt spool row":1\}' "drain's counters: one dead letter of that reason"
like "$out" '"depth":0' "the spool is empty"

dead=$(tsk ingest dead --spool "$SPOOL")
is "$(printf '%s\n' "$dead" | grep -c .)" 1 "one dead letter"
like "$dead" '"reason":"corrupt spool row"' "its reason"
like "$dead" '"detail":"spool message 100: checksum mismatch' "its detail names the message and why"
like "$dead" '"source":"flt"' "its source is the row's tenant"
is "$(printf '%s' "$dead" | grep -o '"bytes":[0-9]*' | cut -d: -f2)" "$(( ${#bad} / 2 ))" \
	"it keeps the row's bytes, all of them"
stats=$(tsk ingest stats --spool "$SPOOL")
like "$stats" '"dead_by":\{"corrupt spool row":1\}' "stats show the dead letter by reason"

out=$(tsk ingest drain --spool "$SPOOL" 2>&1)
is $? 0 "a second drain has nothing left to do and exits 0"

# ---- far-future and misread timestamps ----
export TSK_NOW=2025-10-20T12:00:00Z
r() { printf '{"tenant":"flt","device_id":"fut","sensor_id":"%s","ts":"%s","value":1}\n' "$1" "$2"; }
{
	r a 2025-10-21T11:00:00Z     # 23 h ahead: fine under the default of 1 day
	r b 9999-12-31T00:00:00Z     # the reading that stayed "latest" forever
	r c 2025-10-21T12:00:01Z     # 1 day and 1 s ahead
	r d 1969-12-31T23:59:59Z     # before 1970
	echo '{"topic":"tenants/flt/devices/fut/sensors/e","payload":{"value":1,"timestamp":"2030-01-01T00:00:00Z"}}'
} >"$T/future.jsonl"
tsk ingest stdin --reject "$T/future.rej" <"$T/future.jsonl" >/dev/null 2>"$T/future.err"
is $? 3 "stdin: lines rejected, exit 3"
is "$(q "SELECT string_agg(sensor_id, ',') FROM flt.reading WHERE device_id = 'fut'")" a "only the reading 23 h ahead is stored"
like "$(sed -n 1p "$T/future.rej")" '"line":2,"reason":"too far in the future","detail":"fut/b at 9999-12-31T00:00:00Z is more than max_future \(1d\) after its arrival at 2025-10-20T12:00:00Z"' \
	"reject file: 9999-12-31 is too far in the future, with the detail"
like "$(sed -n 1p "$T/future.rej")" '"input":".*9999-12-31' "reject file: the line itself"
like "$(sed -n 2p "$T/future.rej")" '"line":3,"reason":"too far in the future"' "1 day and 1 s ahead: rejected"
like "$(sed -n 3p "$T/future.rej")" '"line":4,"reason":"bad timestamp","detail":"ts before 1970' "before 1970: bad timestamp"
like "$(sed -n 4p "$T/future.rej")" '"line":5,"reason":"too far in the future"' "an envelope's payload time too"
is "$(q "SELECT count(*) FROM flt.sensor WHERE device_id = 'fut' AND last_ts > '2025-10-22'")" 0 \
	"no far-future value in the catalog"

tsk tenant set flt max_future 2h >/dev/null
{ r f 2025-10-20T13:59:00Z; r g 2025-10-20T14:01:00Z; } | tsk ingest stdin --reject "$T/future2.rej" >/dev/null 2>&1
is $? 3 "max_future 2h: one line rejected"
is "$(q "SELECT count(*) FROM flt.reading WHERE device_id = 'fut' AND sensor_id IN ('f', 'g')")" 1 "1 h 59 m ahead stored"
like "$(cat "$T/future2.rej")" '"line":2,"reason":"too far in the future","detail":"fut/g .* max_future \(2h\)' \
	"2 h 1 m ahead rejected under the tenant's max_future"
q "UPDATE public.tenant SET settings = jsonb_set(settings, '{max_future}', '\"soon\"') WHERE slug = 'flt'" >/dev/null
r h 2025-10-21T11:00:00Z | tsk ingest stdin >/dev/null 2>&1
is $? 0 "a max_future that is not a duration counts as the default, 1 day"

# The spool path (what mqtt spools): dead letters with the reason and detail.
tsk tenant set flt max_future 1d >/dev/null
rm -f "$SPOOL" "$SPOOL"-*
"$TSK_BUILD/tests/spool_fill" "$SPOOL" flt 3 far 200000000      # about 6 years after their arrival
"$TSK_BUILD/tests/spool_fill" "$SPOOL" flt 2 near 3600
out=$(tsk ingest drain --spool "$SPOOL" 2>/dev/null)
is $? 0 "drain exits 0"
like "$out" '"rejected_by":\{"too far in the future":3\}' "drain counts 3 messages too far in the future"
is "$(q "SELECT count(*) FROM flt.reading WHERE device_id IN ('far', 'near')")" 2 "only the 2 near ones stored"
dead=$(tsk ingest dead --spool "$SPOOL" --reason 'too far in the future')
is "$(printf '%s\n' "$dead" | grep -c .)" 3 "3 dead letters"
like "$(printf '%s\n' "$dead" | head -1)" '"detail":"far/s1 at 2032-.* is more than max_future \(1d\) after its arrival at 2025-10-20T00:00:00Z".*"source":"flt"' \
	"a dead letter: reason, detail, tenant"
unset TSK_NOW

# ---- dead letters while tsk-ingest mqtt runs ----
own_broker
SP2=$T/live.db
pub() { mosquitto_pub -p "$TSK_TEST_MQTT_PORT" -h 127.0.0.1 -q 1 "$@"; }
subscribed() { grep -q '"connected":true' "$SP2.stats" 2>/dev/null; }
dead_count_is() { [ "$(tsk ingest dead --spool "$SP2" 2>/dev/null | grep -c .)" = "$1" ]; }
"$TSK_BUILD/tsk-ingest" mqtt --url "mqtt://127.0.0.1:$TSK_TEST_MQTT_PORT" --spool "$SP2" --client-id t29-ingest \
	--flush-interval 50ms 2>>"$T/live.log" &
ING=$!
wait_for 20 subscribed
ok $? "tsk-ingest mqtt runs"
pub -t tenants/flt/devices/live/sensors/s -m 'not json'
pub -t tenants/flt/devices/live/sensors/s -m '{"value": "warm"}'
wait_for 15 dead_count_is 2
ok $? "tsk-ingest dead lists the running process's dead letters"
dead=$(tsk ingest dead --spool "$SP2" 2>"$T/dead.err")
is $? 0 "dead exits 0 while the spool is in use (stderr: $(cat "$T/dead.err"))"
like "$(printf '%s\n' "$dead" | head -1)" '"reason":"not json".*"source":"tenants/flt/devices/live/sensors/s".*"body":"not json"' \
	"the first: reason, topic, payload"
is "$(tsk ingest dead --spool "$SP2" --reason 'no format accepts the payload' | grep -c .)" 1 "--reason works too"
out=$(tsk ingest dead purge --spool "$SP2")
is $? 0 "dead purge exits 0 while the spool is in use"
like "$out" '"purged":2' "two purged"
is "$(tsk ingest dead --spool "$SP2" | grep -c .)" 0 "none left"
pub -t tenants/flt/devices/live/sensors/s -m '{'
wait_for 15 dead_count_is 1
ok $? "the running process goes on storing dead letters after the purge"
kill -0 $ING
ok $? "tsk-ingest mqtt still runs"
stats_dead_is() { [ "$(grep -o '"dead":[0-9]*' "$SP2.stats" | cut -d: -f2)" = "$1" ]; }
wait_for 15 stats_dead_is 1
ok $? "its stats count the dead letters that are left (1)"
kill -TERM $ING
wait $ING
is $? 0 "SIGTERM: exit 0"

done_testing
