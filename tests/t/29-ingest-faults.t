#!/bin/bash
# Faults inside the ingest pipeline (issue 8): a spool row whose checksum fails is quarantined as a dead
# letter with its bytes, and the other messages are stored (before: drain and mqtt exited 1 and the 199
# good messages stayed stuck).
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

done_testing
