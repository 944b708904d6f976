#!/bin/bash
# Back-pressure: with PostgreSQL blocked (a lock on reading) the spool fills to its cap; tsk-ingest
# then stops reading instead of dropping (it waits, then leaves the broker, which keeps the session's
# messages), and when the database moves again it reconnects and everything arrives.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_ingest_bp
tsk tenant create --slug bp --name BP >/dev/null
own_broker
MQTT_URL="mqtt://127.0.0.1:$TSK_TEST_MQTT_PORT"
SPOOL=$T/spool.db
N=6000
subscribed() { grep -q '"connected":true' "$SPOOL.stats" 2>/dev/null; }
stat_field() { grep -o "\"$1\":[0-9]*" "$SPOOL.stats" | head -1 | cut -d: -f2; }
gated() { grep -q '"connected":false' "$SPOOL.stats" && [ "$(stat_field full_waits)" -gt 0 ]; }
rows() { q "SELECT count(*) FROM bp.reading"; }
rows_are() { [ "$(rows)" = "$1" ]; }

rm -f "$SPOOL.stats"
# A 100 kB cap (about 1 500 of these messages); a short keepalive so a full spool is given up on
# after 5 s (keepalive / 2).
"$TSK_BUILD/tsk-ingest" -v mqtt --url "$MQTT_URL" --spool "$SPOOL" --client-id t27-ingest --session-expiry 10m \
	--spool-max 100k --keepalive 10 --flush-interval 50ms 2>"$T/ingest.log" &
ING=$!
wait_for 20 subscribed
ok $? "tsk-ingest subscribed"

# The database blocked (a lock on reading) until the test has seen what it waits for.
lock_table bp.reading
ok $? "the reading table is locked"
"$TSK_BUILD/tests/mqtt_load" -p "$TSK_TEST_MQTT_PORT" -n $N -c 2 -T bp -D 50 >"$T/pub.out"
is $? 0 "the broker took all $N messages while the database was blocked"
wait_for 20 gated
ok $? "the spool filled up and tsk-ingest stopped reading from the broker"
bytes=$(stat_field bytes)
diag "spool at the cap: $(stat_field depth) messages, $bytes bytes"
ok $(( bytes <= 102400 + 2000 ? 0 : 1 )) "the spool stayed within its cap ($bytes bytes)"
# The stats file can show the disconnect a moment before the network thread logs why (slow builds).
wait_for 10 grep -q 'spool full: not reading' "$T/ingest.log"
ok $? "it says why it left the broker"
kill -0 $ING
ok $? "tsk-ingest is still running"

unlock_table
wait_for 60 rows_are $N
is "$(rows)" $N "after the lock was released all $N messages arrived"
is "$(q "SELECT count(DISTINCT value) FROM bp.reading")" $N "each once"
wait_for 10 grep -q 'spool has room again: reconnecting' "$T/ingest.log"
ok $? "it reconnected when there was room"
kill -TERM $ING
wait $ING
is $? 0 "SIGTERM: exit 0"
done_testing
