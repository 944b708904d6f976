#!/bin/bash
# Read scaling: a streaming replica (pg_basebackup of a private primary, hot standby) serves
# tsk-query and tsk-export through read_dsn (TSK_READ_DSN); the rollup refresh and every write go to
# the primary. Once the replica has replayed up to the primary's insert LSN, its answers equal the
# primary's, byte for byte; with the primary's DSN pointing nowhere the reads still answer (they
# really come from the replica); a write sent to the replica fails (read-only), so none goes there.
. "$(dirname "$0")/../lib/tap.sh"
own_postgres
fresh_db t_replica
PRIMARY=$TSK_DATABASE_URL
tsk tenant create --slug umc --name UMC >/dev/null
# gen FROM TO: readings FROM..TO-1, 4 devices x 3 sensors, one a minute.
gen() {
	local i m
	for ((i = $1; i < $2; i++)); do
		m=$((i / 12))
		printf '{"tenant":"umc","device_id":"D%d","sensor_id":"s%d","ts":"2026-01-01T%02d:%02d:00Z","value":%d.25}\n' \
			$((i % 4)) $(((i / 4) % 3)) $((m / 60)) $((m % 60)) "$i"
	done
}
gen 0 3000 | tsk ingest -q stdin >/dev/null
ok $? "3 000 readings on the primary before the base backup"
tsk query refresh >/dev/null

pg_replica_start "$(mktemp -d "${TSK_TEST_DIR:-/tmp}/replica.XXXXXX")"
ok $? "a streaming replica started from pg_basebackup"
at_exit pg_replica_stop
REPLICA="host=127.0.0.1 port=$TSK_REPLICA_PORT user=tsk dbname=t_replica"
is "$(psql "$REPLICA" -qAtX -c 'SELECT pg_is_in_recovery()')" t "the replica is in recovery (a hot standby)"

# More readings after it started: they reach it by streaming. The refresh runs with read_dsn set and
# still writes on the primary (on the replica it could not).
gen 3000 6000 | TSK_READ_DSN=$REPLICA tsk ingest -q stdin >/dev/null
ok $? "3 000 more readings, with read_dsn set, stored on the primary"
out=$(TSK_READ_DSN=$REPLICA tsk query refresh)
like "$out" '"tenants":1' "tsk-query refresh with read_dsn set refreshes, on the primary"
is "$(q "SELECT count(*) FROM umc.reading")" 6000 "the primary holds 6 000 readings"

LSN=$(q "SELECT pg_current_wal_insert_lsn()")
caught_up() { [ "$(psql "$REPLICA" -qAtX -c "SELECT pg_last_wal_replay_lsn() >= '$LSN'::pg_lsn")" = t ]; }
wait_for 60 caught_up
ok $? "the replica replayed up to the primary's insert LSN $LSN"

# The same commands, once on the primary and once through read_dsn, with the primary's address
# unreachable for the second: an answer can only come from the replica.
NOWHERE="host=127.0.0.1 port=1 user=tsk dbname=t_replica connect_timeout=2"
same() {
	local what=$1 a b
	shift
	a=$("$@" 2>&1)
	b=$(TSK_DATABASE_URL=$NOWHERE TSK_READ_DSN=$REPLICA "$@" 2>&1)
	if [ -n "$a" ] && [ "$a" = "$b" ]; then ok 0 "$what: the replica's answer equals the primary's"; else
		ok 1 "$what: the replica's answer equals the primary's"; diag "primary: ${a:0:300}"; diag "replica: ${b:0:300}"; fi
}
same "buckets 1h" tsk query -t umc buckets --bucket 1h --from 2026-01-01 --to 2026-01-02
same "buckets 1m, one sensor" tsk query -t umc buckets --bucket 1m --device D1 --sensor s2 --from 2026-01-01 --to 2026-01-02
same "raw with stats" tsk query -t umc raw --device D3 --sensor s0 --from 2026-01-01 --to 2026-01-02 --limit 100 --stats
same "latest" tsk query -t umc latest
same "summary" tsk query -t umc summary --device D0
same "sensors" tsk query -t umc sensors
same "tsk-export raw" tsk export raw -t umc --from 2026-01-01 --to 2026-01-02
same "tsk-export buckets" tsk export buckets -t umc --bucket 1h --from 2026-01-01 --to 2026-01-02
is "$(TSK_DATABASE_URL=$NOWHERE TSK_READ_DSN=$REPLICA tsk export raw -t umc --from 2026-01-01 --to 2026-01-02 | tail -n +2 | wc -l)" \
	6000 "tsk-export from the replica: all 6 000 readings"

# The same from the configuration file's read_dsn key.
printf 'database_url = %s\nread_dsn = %s\n' "$NOWHERE" "$REPLICA" >"$T/tsk.conf"
out=$(unset TSK_DATABASE_URL; tsk query --config "$T/tsk.conf" -t umc latest --device D0 --sensor s0)
like "$out" '"value":5996.25' "read_dsn from tsk.conf: the replica answers"

# Writes never go to read_dsn: the replica refuses them, and the writers do not use it.
out=$(psql "$REPLICA" -qAtX -c "INSERT INTO umc.reading (device_id, sensor_id, ts, value) VALUES ('X', 'x', now(), 1)" 2>&1)
like "$out" "read-only transaction" "a write on read_dsn fails: the replica is read-only"
TSK_DATABASE_URL=$REPLICA tsk query refresh >/dev/null 2>"$T/refresh.err"
ok $(( $? != 0 ? 0 : 1 )) "the rollup refresh pointed at the replica fails ($(head -c 120 "$T/refresh.err"))"
TSK_DATABASE_URL=$NOWHERE TSK_READ_DSN=$REPLICA tsk query refresh >/dev/null 2>&1
is $? 75 "the refresh never uses read_dsn: with the primary unreachable it is a temporary failure (75)"
echo '{"tenant":"umc","device_id":"D0","sensor_id":"s0","ts":"2026-02-01T00:00:00Z","value":1}' |
	TSK_DATABASE_URL=$NOWHERE TSK_READ_DSN=$REPLICA tsk ingest -q stdin --retry-for 1s >/dev/null 2>&1
is $? 75 "nor does tsk-ingest"
# An explicit --dsn names the one server to use, for reads too.
out=$(TSK_READ_DSN=$NOWHERE tsk query --dsn "$PRIMARY" -t umc latest --device D0 --sensor s0)
like "$out" '"value":5996.25' "--dsn beats read_dsn"
done_testing
