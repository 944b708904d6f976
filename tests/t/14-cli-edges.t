#!/bin/bash
# Edges every tool shares through lib/cli: a reject file that cannot be written, a reader that goes away
# (`| head`), a huge line without newline, untrusted text in --format table.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_cli_edges
tsk tenant create --slug acme --name Acme >/dev/null

good='{"tenant":"acme","device_id":"d1","sensor_id":"s1","ts":"2025-10-17T10:00:00Z","value":1}'
bad='{"oops'

# A reject file on a full disk: the rejected lines are lost, so the exit is 1 (not 3), and the message
# names the real error.
printf '%s\n%s\n' "$good" "$bad" | tsk ingest stdin --reject /dev/full >/dev/null 2>"$T/err"
is $? 1 "stdin: rejected lines that cannot be written exit 1, not 3"
like "$(cat "$T/err")" 'cannot write the reject file: No space left on device' "and say why"
is "$(q "SELECT count(*) FROM acme.reading")" 1 "the good line was stored"
for i in $(seq 1 3000); do echo "$bad"; done | tsk ingest -q parse --reject /dev/full >/dev/null 2>"$T/err"
is $? 1 "parse: the same"
like "$(cat "$T/err")" 'No space left on device' "the errno of the failed write, never \"Success\""
printf '%s\n%s\n' "$good" "$bad" | tsk ingest stdin --reject "$T/rej.jsonl" >/dev/null 2>&1
is $? 3 "with a writable reject file the same input exits 3"

# `| head -1`: the tool stops at once and says nothing.
for i in $(seq 1 20000); do echo "$good"; done | tsk ingest parse 2>"$T/err" | head -1 >/dev/null
is "${PIPESTATUS[1]}" 1 "parse | head -1: exit 1 (output was cut)"
is "$(cat "$T/err")" "" "and nothing on stderr"
tsk query -t acme raw --limit 1000 2>"$T/err" | head -c 10 >/dev/null
is "$(cat "$T/err")" "" "tsk-query | head: nothing on stderr either"

# A 300 MB line without a newline, then a good line: refused as too large without being read into
# memory (the process is capped far below 300 MB of address space).
if ldd "$TSK_BUILD/tsk-ingest" | grep -q libasan; then
	ok 0 "skipped under ASan (its shadow memory needs the address space)"
	ok 0 "skipped under ASan"
	ok 0 "skipped under ASan"
	ok 0 "skipped under ASan"
	ok 0 "skipped under ASan"
	ok 0 "skipped under ASan"
else
	out=$( (head -c 300000000 /dev/zero | tr '\0' 'a'; printf '\n%s\n' "$good") |
		(ulimit -v 150000; tsk ingest parse 2>"$T/err"))
	is "$?" 3 "a 300 MB line in 150 MB of address space: rejected, the rest parsed (exit 3)"
	like "$out $(cat "$T/err")" '"device_id":"d1".*line 1: payload too large' "the next line parsed, line 1 too large"
	good2='{"tenant":"acme","device_id":"d2","sensor_id":"s1","ts":"2025-10-17T10:00:00Z","value":1}'
	out=$( (head -c 300000000 /dev/zero | tr '\0' 'a'; printf '\n%s\n' "$good2") |
		(ulimit -v 250000; tsk ingest stdin 2>"$T/err"))
	is "$?" 3 "tsk-ingest stdin: the same line rejected in bounded memory (exit 3)"
	is "$(q "SELECT count(*) FROM acme.reading WHERE device_id = 'd2'")" 1 "and the next line stored"
	row='{"ts":"2025-10-17T10:00:00Z","device_id":"d1","sensor_id":"s1","value":1.5,"unit":"bar"}'
	out=$( (head -c 300000000 /dev/zero | tr '\0' 'a'; printf '\n%s\n' "$row") |
		(ulimit -v 150000; tsk export 2>"$T/err"))
	is "$?" 3 "tsk-export: the same line rejected in bounded memory (exit 3)"
	like "$out $(cat "$T/err")" 'd1,s1,1\.50,bar.*line 1: longer than 1048576 bytes' "the next row written, line 1 named"
fi

# --format table shows control characters from devices as escapes, never raw.
esc=$(printf '{"tenant":"acme","device_id":"evil\\u001b]0;pwned\\u0007\\r\\nX","sensor_id":"s\\u009b2J","ts":"2025-10-17T11:00:00Z","value":2}')
echo "$esc" | tsk ingest stdin >/dev/null
tbl=$(tsk query -t acme raw --device "$(printf 'evil\033]0;pwned\007\r\nX')" --format table)
like "$tbl" 'evil\\x1b\]0;pwned\\x07\\r\\nX +s\\u009b2J' "tsk-query table: ESC, BEL, CR, LF and C1 escaped"
is "$(printf '%s' "$tbl" | tr -d '\n' | LC_ALL=C grep -c $'[\x01-\x1f\x7f]')" 0 "no control byte reaches the terminal"
tbl=$(echo "$esc" | tsk ingest parse --format table)
like "$tbl" 'evil\\x1b' "tsk-ingest parse --format table: the same"
csv=$(tsk query -t acme raw --device "$(printf 'evil\033]0;pwned\007\r\nX')" --format csv)
like "$csv" $'"evil\e]0;pwned\a\r\nX"' "CSV keeps the bytes (quoted): it is data, not a screen"

done_testing
