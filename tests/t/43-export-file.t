#!/bin/bash
# tsk-export -o FILE: written atomically (temporary file in the same directory, fsync, rename). On any
# failure (a write error, a signal, bad input) the temporary file is removed and an existing FILE is left
# exactly as it was. Also: the progress line appears only when stderr is a terminal.
. "$(dirname "$0")/../lib/tap.sh"
X="$TSK_BUILD/tsk-export"

awk 'BEGIN { for (i = 0; i < 60000; i++) printf "{\"ts\":\"2025-10-17T10:30:00Z\",\"device_id\":\"dev-%d\",\"sensor_id\":\"s\",\"value\":%d.5,\"unit\":\"celsius\"}\n", i, i }' >"$T/in.jsonl"
tsk export <"$T/in.jsonl" >"$T/want.csv"
leftovers() { ls -A "$T/out" | grep -c '^\.'; }
mkdir "$T/out"

(umask 022 && tsk export -o "$T/out/new.csv" <"$T/in.jsonl")
is $? 0 "-o a new file: exit 0"
cmp -s "$T/out/new.csv" "$T/want.csv"
ok $? "-o writes the same bytes as standard output"
is "$(stat -c %a "$T/out/new.csv")" 644 "a new file gets 0666 less the umask"

echo "old contents" >"$T/out/old.csv"
chmod 600 "$T/out/old.csv"
inode=$(stat -c %i "$T/out/old.csv")
tsk export -o "$T/out/old.csv" <"$T/in.jsonl"
is $? 0 "-o over an existing file: exit 0"
cmp -s "$T/out/old.csv" "$T/want.csv"
ok $? "the file now holds the export"
is "$(stat -c %a "$T/out/old.csv")" 600 "the replaced file keeps its mode"
[ "$(stat -c %i "$T/out/old.csv")" != "$inode" ]
ok $? "it is a new inode: renamed into place, never rewritten in place"
is "$(leftovers)" 0 "no temporary file left"

# A write that fails half way (file size limit: EFBIG after 64 KiB of a 4 MiB export).
echo "keep me" >"$T/out/keep.csv"
err=$( (ulimit -f 64 && tsk export -o "$T/out/keep.csv" <"$T/in.jsonl") 2>&1)
is $? 1 "a write error half way: exit 1"
like "$err" '^tsk-export: write error on .*keep.csv: File too large$' "one line saying why"
is "$(cat "$T/out/keep.csv")" "keep me" "the existing file is untouched"
is "$(leftovers)" 0 "and the temporary file is removed"

# A read error on the input (standard input is a directory).
tsk export -o "$T/out/keep.csv" <"$T" 2>"$T/err"
is $? 1 "a read error: exit 1"
like "$(cat "$T/err")" 'read error on input' "a read error: reported"
is "$(cat "$T/out/keep.csv")" "keep me" "a read error: the existing file is untouched"
is "$(leftovers)" 0 "a read error: no temporary file left"

# A signal in the middle of an export: the input is a FIFO kept open, so the export is surely running.
mkfifo "$T/fifo"
"$X" -o "$T/out/keep.csv" <"$T/fifo" 2>"$T/err" &
pid=$!
exec 3>"$T/fifo"
cat "$T/in.jsonl" >&3
wait_for 20 eval '[ "$(leftovers)" -gt 0 ]'
is "$(leftovers)" 1 "while running, a temporary file sits next to the target"
kill -TERM "$pid"
wait "$pid"
is $? 143 "SIGTERM: the tool dies of the signal after cleaning up"
exec 3>&-
is "$(cat "$T/out/keep.csv")" "keep me" "SIGTERM: the existing file is untouched"
is "$(leftovers)" 0 "SIGTERM: the temporary file is removed"
like "$(cat "$T/err")" 'interrupted' "SIGTERM: reported"

# Rejected lines still publish the good rows.
{ head -n 3 "$T/in.jsonl"; echo garbage; } | tsk export -o "$T/out/partial.csv" 2>/dev/null
is $? 3 "bad lines with -o: exit 3"
is "$(wc -l <"$T/out/partial.csv")" 4 "the header and the three good rows are in the file"

tsk export -o "$T/nodir/x.csv" </dev/null 2>"$T/err"
is $? 2 "-o into a missing directory: exit 2"
like "$(cat "$T/err")" "^tsk-export: cannot create a file in $T/nodir: No such file or directory$" "says which directory"
tsk export -o "$T/out" </dev/null 2>"$T/err"
is $? 2 "-o naming a directory: exit 2"
tsk export -o - <"$T/in.jsonl" | cmp -s - "$T/want.csv"
ok $? "-o - is standard output"

# Progress: only on a terminal (script(1) gives the tool a pseudo-terminal).
tsk export -o "$T/out/p.csv" <"$T/in.jsonl" 2>"$T/err"
is "$(cat "$T/err")" "" "stderr not a terminal: no progress line"
script -qec "$X -o $T/out/p.csv < $T/in.jsonl" /dev/null >"$T/tty" 2>&1
like "$(tr '\r' '\n' <"$T/tty")" 'tsk-export: [0-9]+ rows, [0-9.]+ [KM]iB to .*p.csv' "stderr a terminal: a progress line"
script -qec "$X -q -o $T/out/p.csv < $T/in.jsonl" /dev/null >"$T/tty" 2>&1
is "$(tr -d '\r\n' <"$T/tty")" "" "-q: no progress line even on a terminal"

done_testing
