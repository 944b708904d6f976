#!/bin/bash
# tsk-export streams in constant memory: the peak resident set of an export of 400 000 rows from the
# database (and of 600 000 JSON lines) is no larger than that of an export twenty times smaller, give or
# take a few MiB, and stays small in absolute terms. (Memory is not timing: these bounds hold on any
# machine.) Skipped under AddressSanitizer, whose quarantine keeps freed memory on purpose.
. "$(dirname "$0")/../lib/tap.sh"
X="$TSK_BUILD/tsk-export"

if ldd "$X" 2>/dev/null | grep -q libasan; then
	echo "1..0 # SKIP peak RSS is meaningless under AddressSanitizer"
	exit 0
fi

# peak_kb CMD...: runs CMD (stdout to $T/out, stderr to $T/err, exit status to $T/rc) and prints its
# peak RSS in KiB: ru_maxrss from wait4(2), exact (sampling VmHWM while it ran could miss the peak of a
# short run). Perl's syscall, as perl is already needed; the forked perl child counts too (about 5 MiB,
# below any export's own peak).
peak_kb() {
	OUT=$T/out ERR=$T/err RC=$T/rc perl -e '
		require "syscall.ph";
		my $pid = fork // die "fork: $!";
		if (!$pid) { open STDOUT, ">", $ENV{OUT} or die; open STDERR, ">", $ENV{ERR} or die; exec @ARGV or exit 127; }
		my ($st, $ru) = (pack("i", 0), "\0" x 256);
		syscall(&SYS_wait4, $pid, $st, 0, $ru) == $pid or die "wait4: $!";
		my $s = unpack("i", $st);
		open my $rc, ">", $ENV{RC} or die;
		print $rc (($s & 0x7f) ? 128 + ($s & 0x7f) : ($s >> 8) & 0xff), "\n";
		print unpack("q", substr($ru, 32, 8)), "\n";' -- "$@"
}

fresh_db t_export_memory
tsk tenant create --slug big --name Big >/dev/null
q "INSERT INTO big.reading (device_id, sensor_id, ts, value, unit)
   SELECT 'device-' || (i % 100), 'sensor-' || (i / 100 % 10), '2025-01-01'::timestamptz + (i / 1000) * interval '1 minute',
          random() * 100, 'celsius'
   FROM generate_series(0, 399999) i" >/dev/null
is "$(q 'SELECT count(*) FROM big.reading')" 400000 "400 000 readings loaded"

small=$(peak_kb "$X" raw --tenant big --order any --limit 20000)
is "$(cat "$T/rc")" 0 "20 000 rows: exit 0"
large=$(peak_kb "$X" raw --tenant big --order any)
is "$(cat "$T/rc")" 0 "400 000 rows: exit 0"
is "$(($(wc -l <"$T/out") - 1))" 400000 "every row was written ($(wc -c <"$T/out") bytes)"
diag "peak RSS: $small KiB for 20 000 rows, $large KiB for 400 000 rows"
ok "$([ "$large" -gt 0 ] && [ "$((large - small))" -lt 4096 ]; echo $?)" \
	"database export: 20x the rows, less than 4 MiB more memory ($small -> $large KiB)"
ok "$([ "$large" -lt 40960 ]; echo $?)" "database export: peak RSS under 40 MiB ($large KiB)"

small=$(peak_kb "$X" raw --tenant big --limit 20000)
large=$(peak_kb "$X" raw --tenant big)
is "$(cat "$T/rc")" 0 "newest first (sorted by the server): exit 0"
ok "$([ "$((large - small))" -lt 4096 ]; echo $?)" "sorted export: constant memory too ($small -> $large KiB)"

awk 'BEGIN { for (i = 0; i < 600000; i++) printf "{\"ts\":\"2025-10-17T10:30:00Z\",\"device_id\":\"dev-%d\",\"sensor_id\":\"s\",\"value\":%d.25,\"unit\":\"celsius\",\"labels\":{}}\n", i, i }' >"$T/in.jsonl"
head -n 30000 "$T/in.jsonl" >"$T/small.jsonl"
small=$(peak_kb sh -c "exec '$X' <'$T/small.jsonl'")
large=$(peak_kb sh -c "exec '$X' <'$T/in.jsonl'")
is "$(cat "$T/rc")" 0 "600 000 JSON lines: exit 0"
is "$(($(wc -l <"$T/out") - 1))" 600000 "every line became a row"
ok "$([ "$large" -gt 0 ] && [ "$((large - small))" -lt 4096 ]; echo $?)" \
	"JSON lines: 20x the input, less than 4 MiB more memory ($small -> $large KiB)"

done_testing
