# TAP helpers for the shell tests in tests/t/. Each test sources this file; tests/run has started the
# servers and exported TSK_TEST_DSN, TSK_TEST_MQTT_PORT, TSK_TEST_DIR, PGBIN, TSK_PG_OWNER.
set -u
TSK_ROOT=${TSK_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
TSK_BUILD=${TSK_BUILD:-build}
case "$TSK_BUILD" in /*) ;; *) TSK_BUILD=$TSK_ROOT/$TSK_BUILD ;; esac
. "$TSK_ROOT/tests/lib/servers.sh"
cd "$TSK_ROOT" || exit 1
_tap_n=0
_tap_failed=0
T=$(mktemp -d "${TSK_TEST_DIR:-/tmp}/t.XXXXXX")

# at_exit CMD: run CMD (eval'd) when the test exits, however it exits; the last registered runs first.
_tap_atexit=()
at_exit() { _tap_atexit=("$1" "${_tap_atexit[@]}"); }
_tap_exit() {
	local c j
	# A test that stopped early leaves nothing running behind it: its own background jobs end first.
	for j in $(jobs -p); do kill "$j" 2>/dev/null; done
	for c in "${_tap_atexit[@]}"; do eval "$c"; done
}
trap _tap_exit EXIT

# own_broker: a mosquitto broker of the test's own (tsk-ingest subscribes to every tenant's topics by
# default, so tests running at once must not share one); exports TSK_TEST_MQTT_PORT, stopped at exit.
own_broker() {
	mqtt_broker_start "$T/mqtt" || { echo "Bail out! no broker of its own"; exit 1; }
	at_exit mqtt_stop
}
# own_postgres: a PostgreSQL cluster of the test's own, for a test that stops and starts it (the shared
# one serves the other files at the same time); exports TSK_TEST_PGPORT TSK_PGDATA, stopped at exit.
# Under TSK_TEST_DIR (not $T), where the cluster's owner can reach it.
own_postgres() {
	pg_cluster_start "$(mktemp -d "${TSK_TEST_DIR:-/tmp}/pg.XXXXXX")" fast || { echo "Bail out! no PostgreSQL of its own"; exit 1; }
	at_exit pg_cluster_stop
}

ok() { # ok CONDITION-EXIT-STATUS DESCRIPTION ; use: ok $? "desc" or cmd; ok $? ...
	_tap_n=$((_tap_n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $_tap_n - $2"; else
		echo "not ok $_tap_n - $2"; _tap_failed=$((_tap_failed + 1)); fi
}
is() { # is GOT WANT DESCRIPTION
	_tap_n=$((_tap_n + 1))
	if [ "$1" = "$2" ]; then echo "ok $_tap_n - $3"; else
		echo "not ok $_tap_n - $3"; _tap_failed=$((_tap_failed + 1))
		printf '#          got: %s\n#     expected: %s\n' "$1" "$2"; fi
}
like() { # like GOT EXTENDED-REGEX DESCRIPTION
	_tap_n=$((_tap_n + 1))
	if printf '%s' "$1" | grep -Eq -- "$2"; then echo "ok $_tap_n - $3"; else
		echo "not ok $_tap_n - $3"; _tap_failed=$((_tap_failed + 1))
		printf '#          got: %s\n#  should match: %s\n' "$1" "$2"; fi
}
diag() { echo "# $*"; }
done_testing() {
	echo "1..$_tap_n"
	[ "$_tap_failed" -eq 0 ] || exit 1
	exit 0
}

# The tools, possibly under valgrind (make valgrind) or built with sanitizers (make asan).
TSK_VG="valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --suppressions=$TSK_ROOT/tests/lib/valgrind.supp"
tsk() {
	local tool=$1; shift
	if [ -n "${TSK_VALGRIND:-}" ]; then $TSK_VG "$TSK_BUILD/tsk-$tool" "$@"; else "$TSK_BUILD/tsk-$tool" "$@"; fi
}
tsk_vg() { local tool=$1; shift; $TSK_VG "$TSK_BUILD/tsk-$tool" "$@"; }

# A database of the test's own, migrated: fresh_db NAME exports TSK_DATABASE_URL.
fresh_db() {
	local name=$1
	PGHOST=127.0.0.1 PGPORT=$TSK_TEST_PGPORT PGUSER=tsk psql -q -d postgres \
		-c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" -c "CREATE DATABASE \"$name\"" >/dev/null 2>&1
	TSK_DATABASE_URL="host=127.0.0.1 port=$TSK_TEST_PGPORT user=tsk dbname=$name"
	export TSK_DATABASE_URL
	"$TSK_BUILD/tsk-tenant" migrate >/dev/null
}
# q SQL: one value (or rows, |-separated) from the current test database.
q() { psql "$TSK_DATABASE_URL" -qAtX -c "$1" 2>&1; }

# wait_for SECONDS CMD...: runs CMD until it succeeds, every 0.1 s; after SECONDS gives up with a diag
# naming CMD and status 1. The one poll loop of the shell tests: a test waits for a condition, never
# for a fixed time.
wait_for() {
	local secs=$1 now end
	shift
	now=${EPOCHREALTIME/[.,]/}
	end=$((now + secs * 1000000))
	until "$@"; do
		now=${EPOCHREALTIME/[.,]/}
		if [ "$now" -ge "$end" ]; then
			diag "wait_for: gave up after ${secs}s waiting for: $*"
			return 1
		fi
		sleep 0.1
	done
}

# hold_begin SQL: a session of its own (in the current test database) runs SQL (BEGIN and a LOCK, an
# advisory lock) and stays connected until hold_end disconnects it, which releases whatever it held
# (an open transaction is rolled back). What the test holds, it holds for exactly as long as it needs,
# not for a guessed time.
hold_begin() {
	rm -f "$T/hold.fifo"
	mkfifo "$T/hold.fifo" || return 1
	psql "$TSK_DATABASE_URL" -qAtX -v ON_ERROR_STOP=1 <"$T/hold.fifo" >"$T/hold.out" 2>&1 &
	_tap_holder=$!
	exec 9>"$T/hold.fifo"
	echo "$1" >&9
}
hold_end() {
	# \q, not just the end of input: processes started meanwhile inherited the pipe's write end.
	echo '\q' >&9
	exec 9>&-
	wait "$_tap_holder"
}
# lock_table TABLE: ACCESS EXCLUSIVE on TABLE, granted when this returns, until unlock_table.
table_locked() {
	[ "$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND relation = '$1'::regclass
	        AND mode = 'AccessExclusiveLock' AND granted")" = 1 ]
}
lock_table() {
	hold_begin "BEGIN; LOCK TABLE $1 IN ACCESS EXCLUSIVE MODE;" && wait_for 30 table_locked "$1"
}
unlock_table() { hold_end; }
