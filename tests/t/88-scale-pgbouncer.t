#!/bin/bash
# pgbouncer in transaction mode in front of PostgreSQL: every tool and the daemon work through it.
# The pool round-robins one client's transactions over its server sessions (server_round_robin), so
# anything that leaned on session state across transactions (a temp table made once per connection, a
# session SET, a named prepared statement, a session advisory lock, LISTEN) would fail or misbehave
# here. Answers through pgbouncer equal the direct ones.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
# A cluster of its own: its server log then shows exactly the errors of this test's statements.
own_postgres
fresh_db t_bouncer
DIRECT=$TSK_DATABASE_URL
# Start from an empty database: the migrations run through pgbouncer too.
psql "$DIRECT" -qAtX -c "DROP SCHEMA public CASCADE; CREATE SCHEMA public" >/dev/null 2>&1
pgbouncer_start "$(mktemp -d "${TSK_TEST_DIR:-/tmp}/bouncer.XXXXXX")"
ok $? "a private pgbouncer (transaction pooling, round robin) in front of the test PostgreSQL"
at_exit pgbouncer_stop
BOUNCER="host=127.0.0.1 port=$TSK_BOUNCER_PORT user=tsk dbname=t_bouncer"
TSK_DATABASE_URL=$BOUNCER
export TSK_DATABASE_URL
# Several server sessions in the pool before the tools run, so that round robin has somewhere to go.
for i in 1 2 3 4; do psql "$BOUNCER" -qAtX -c "SELECT pg_sleep(0.2)" >/dev/null & done
wait
xacts() { psql "host=127.0.0.1 port=$TSK_BOUNCER_PORT user=tsk dbname=pgbouncer" -qAtX -F' ' -c "SHOW STATS" |
	awk '$1 == "t_bouncer" { print $2 }'; }

# tsk-tenant
tsk tenant migrate >/dev/null
is $? 0 "tsk-tenant migrate"
tsk tenant create --slug umc --name UMC >/dev/null
is $? 0 "tsk-tenant create"
echo 'Dev@123456' | tsk tenant user add owner@umc.test >/dev/null
is $? 0 "tsk-tenant user add"
tsk tenant member add umc owner@umc.test --role owner >/dev/null
is $? 0 "tsk-tenant member add"
like "$(tsk tenant show umc)" '"slug":"umc"' "tsk-tenant show"
is "$(psql "$DIRECT" -qAtX -c "SELECT count(*) FROM umc.reading")" 0 "the tenant's schema exists on the server"

# tsk-ingest stdin, in several transactions, then the same lines again (duplicates, nothing new)
gen() {
	local i m
	for ((i = 0; i < 3000; i++)); do
		m=$((i / 10))
		printf '{"tenant":"umc","device_id":"D%d","sensor_id":"s%d","ts":"2026-01-10T%02d:%02d:00Z","value":%d.5}\n' \
			$((i % 5)) $(((i / 5) % 2)) $((m / 60)) $((m % 60)) "$i"
	done
}
gen >"$T/in.jsonl"
out=$(tsk ingest stdin --batch 500 <"$T/in.jsonl" 2>"$T/ingest.err")
is $? 0 "tsk-ingest stdin: exit 0 ($(head -c 200 "$T/ingest.err"))"
like "$out" '"stored":3000' "3 000 readings stored"
like "$out" '"errors":0' "no batch failed"
# A failed attempt is retried quietly (the next one may land on another server session), so the
# server's log is the witness: before the staging tables were made inside each transaction, this
# step logged 'relation "tsk_cat" does not exist' on every batch that landed on another session.
errs=$(grep -c 'ERROR' "$TSK_PGDATA/server.log")
is "$errs" 0 "no statement failed on the server so far ($(grep -m1 ERROR "$TSK_PGDATA/server.log"))"
out=$(tsk ingest stdin --batch 500 <"$T/in.jsonl" 2>>"$T/ingest.err")
like "$out" '"stored":0,"duplicates":3000' "replayed: 3 000 duplicates, nothing stored twice"
is "$(psql "$DIRECT" -qAtX -c "SELECT count(*) || '|' || sum(value) FROM umc.reading")" "3000|$((2999 * 3000 / 2 + 1500))" \
	"3 000 readings on the server, every value once"
is "$(psql "$DIRECT" -qAtX -c "SELECT count(*) FROM umc.sensor")" 10 "the catalog: 10 sensors"

# tsk-query: refresh (writes), then reads equal to the direct connection's
out=$(tsk query refresh)
like "$out" '"tenants":1' "tsk-query refresh"
for cmd in "buckets --bucket 1h --from 2026-01-10 --to 2026-01-11" "buckets --bucket 1m --device D1 --sensor s1 --from 2026-01-10 --to 2026-01-11" \
	"raw --device D2 --sensor s0 --from 2026-01-10 --to 2026-01-11 --stats" "latest" "summary --device D3" "sensors"; do
	a=$(TSK_DATABASE_URL=$DIRECT tsk query -t umc $cmd 2>&1)
	b=$(tsk query -t umc $cmd 2>&1)
	if [ -n "$a" ] && [ "$a" = "$b" ]; then ok 0 "tsk-query $cmd: the same through pgbouncer"; else
		ok 1 "tsk-query $cmd: the same through pgbouncer"; diag "direct: ${a:0:200}"; diag "bouncer: ${b:0:200}"; fi
done

# tsk-export
a=$(TSK_DATABASE_URL=$DIRECT tsk export raw -t umc --from 2026-01-10 --to 2026-01-11 | md5sum)
b=$(tsk export raw -t umc --from 2026-01-10 --to 2026-01-11 | md5sum)
is "$b" "$a" "tsk-export raw: the same CSV through pgbouncer"
is "$(tsk export raw -t umc --from 2026-01-10 --to 2026-01-11 | tail -n +2 | wc -l)" 3000 "tsk-export: 3 000 rows"

# tsk-alert: a rule on D0/s0 (provisioned by ingest as a device without an asset: give it one), eval
S=umc
psql "$DIRECT" -qAtX -c "INSERT INTO $S.site (name) VALUES ('Site1');
   INSERT INTO $S.asset (tag, name, site_id) SELECT 'CH-1', 'Chiller 1', id FROM $S.site;
   UPDATE $S.device SET asset_id = (SELECT id FROM $S.asset) WHERE device_id = 'D0'" >/dev/null
out=$(echo '{"name":"alto","equipment":"CH-1","actions":["IN_APP"],"parameters":[{"parameter_key":"s0","operator":">","threshold":-1,"severity":"HIGH","duration":1}]}' |
	tsk alert rule add --tenant umc 2>&1)
like "$out" '"id":[0-9]+' "tsk-alert rule add"
tsk alert eval --tenant umc --at 2026-01-10T04:00:00Z >"$T/eval1" 2>"$T/eval.err"
is $? 0 "tsk-alert eval ($(head -c 200 "$T/eval.err"))"
tsk alert eval --tenant umc --at 2026-01-10T04:10:00Z >"$T/eval2" 2>>"$T/eval.err"
is $? 0 "tsk-alert eval again, later"
like "$(cat "$T/eval1" "$T/eval2")" '"to":"firing"' "the rule's alert fires"
like "$(tsk alert --tenant umc list 2>&1)" '"id":[0-9]+' "tsk-alert list shows the alert"

# tsk-httpd: POST /ingest and GET /health
TSK_INGEST_SECRET=t0ken-83 httpd_start --workers 2
ok $? "tsk-httpd starts with its database behind pgbouncer"
for i in 1 2 3 4 5; do
	r=$(ingest t0ken-83 umc "{\"topic\":\"tenants/umc/devices/H-1/sensors/t\",\"payload\":{\"value\":$i,\"timestamp\":\"2026-01-11T00:0$i:00Z\"}}")
	[ "${r%% *}" = 202 ] || break
done
like "$r" '^202 ' "POST /ingest: five 202s"
is "$(psql "$DIRECT" -qAtX -c "SELECT count(*) || '|' || sum(value) FROM umc.reading WHERE device_id = 'H-1'")" "5|15" \
	"the five readings are stored"
like "$(get /health)" '^200 ' "GET /health: 200"

n=$(xacts)
ok $(( n > 50 ? 0 : 1 )) "all of it went through pgbouncer ($n transactions pooled)"
like "$(psql "host=127.0.0.1 port=$TSK_BOUNCER_PORT user=tsk dbname=pgbouncer" -qAtX -c "SHOW CONFIG" | grep -E '^pool_mode\|')" \
	'transaction' "pool_mode is transaction"
done_testing
