#!/bin/bash
# make demo / make demo-stop: the whole system on a private PostgreSQL and mosquitto under var/.
# Running `make demo` again reuses what is running and changes nothing that exists.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
B=${TSK_BUILD:-build}; case $B in /*) ;; *) B=$ROOT/$B ;; esac  # make asan runs the demo on its build
. tests/lib/servers.sh
VAR=${TSK_DEMO_VAR:-$ROOT/var}  # TSK_DEMO_VAR: tests run the demo elsewhere
ENVF=$VAR/demo.env
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# until_ok SECONDS CMD...: runs CMD until it succeeds, for at most SECONDS; 1 if it never did.
until_ok() {
	local end=$((SECONDS + $1)); shift
	until "$@"; do [ "$SECONDS" -lt "$end" ] || return 1; sleep 0.2; done
}

demo_env() {
	cat >"$ENVF" <<ENV
export TSK_TEST_DIR=$TSK_TEST_DIR TSK_PGDATA=$TSK_PGDATA PGBIN=$PGBIN TSK_PG_OWNER=$TSK_PG_OWNER
export TSK_TEST_PGPORT=$TSK_TEST_PGPORT TSK_TEST_MQTT_PORT=$TSK_TEST_MQTT_PORT
export TSK_DATABASE_URL="host=127.0.0.1 port=$TSK_TEST_PGPORT user=tsk dbname=tsk"
export PATH="$B:\$PATH"
ENV
}

running() {
	[ -f "$ENVF" ] || return 1
	. "$ENVF"
	tsk_as_pg "$PGBIN/pg_ctl" -D "$TSK_PGDATA" status >/dev/null 2>&1 || return 1
	(exec 3<>"/dev/tcp/127.0.0.1/$TSK_TEST_MQTT_PORT") 2>/dev/null || mqtt_start
}

start() {
	mkdir -p "$VAR"
	if running; then
		say "servers already running (PostgreSQL :$TSK_TEST_PGPORT, mosquitto :$TSK_TEST_MQTT_PORT)"
		demo_env  # an older demo.env may lack what this one adds
	else
		say "starting a private PostgreSQL and mosquitto under var/"
		servers_start "$VAR" durable || exit 1
		demo_env
		. "$ENVF"
	fi
	export TSK_DATABASE_URL

	say "tsk-tenant migrate"
	"$B/tsk-tenant" migrate || exit 1
	say "tenant umc (Uberlândia Medical Center, umc.localhost)"
	if ! "$B/tsk-tenant" show umc >/dev/null 2>&1; then
		"$B/tsk-tenant" create --slug umc --name "Uberlândia Medical Center" --domain umc.localhost >/dev/null || exit 1
	fi
	if ! "$B/tsk-tenant" user list | grep -q '"email":"owner@umc.localhost"'; then
		echo 'Dev@123456' | "$B/tsk-tenant" user add owner@umc.localhost >/dev/null || exit 1
	fi
	"$B/tsk-tenant" member add umc owner@umc.localhost --role owner >/dev/null || exit 1
	if ! "$B/tsk-tenant" user list | grep -q '"email":"staff@traksense.localhost"'; then
		echo 'Staff@123456' | "$B/tsk-tenant" user add staff@traksense.localhost --staff >/dev/null || exit 1
	fi
	"$B/tsk-tenant" --format table show umc
	echo
	"$B/tsk-tenant" --format table member list umc
	for step in tests/demo.d/*.sh; do
		[ -f "$step" ] && . "$step"
	done

	say "URLs (tsk-httpd on 127.0.0.1:$(cat "$VAR/httpd.port"); the tenant is chosen by the Host header)"
	local port base code
	port=$(cat "$VAR/httpd.port")
	base=http://umc.localhost:$port
	echo "  API        $base/api/           curl --resolve umc.localhost:$port:127.0.0.1 $base/api/users/me/"
	echo "             (or curl -H 'Host: umc.localhost' http://127.0.0.1:$port/api/...; *.localhost resolves to"
	echo "             127.0.0.1 in most browsers)"
	# The pages that exist in this build (the API docs and the staff panel are added by other features).
	for p in /api/docs/ /api/redoc/ /api/schema/; do
		code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: umc.localhost" "http://127.0.0.1:$port$p")
		[ "$code" = 200 ] && echo "  docs       $base$p"
	done
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: localhost" "http://127.0.0.1:$port/ops/")
	case $code in 200 | 302 | 303) echo "  panel      http://localhost:$port/ops/   (staff@traksense.localhost / Staff@123456)" ;; esac
	echo "  health     http://localhost:$port/health"
	echo "  metrics    http://localhost:$port/metrics"
	echo "  login      curl --resolve umc.localhost:$port:127.0.0.1 -H 'Content-Type: application/json' \\"
	echo "               -d '{\"username_or_email\":\"owner@umc.localhost\",\"password\":\"Dev@123456\"}' $base/api/auth/login/"
	echo "  mail       var/mail/*.eml (SMTP sink on 127.0.0.1:$(cat "$VAR/smtp.port"))"

	say "connect"
	cat <<TXT
  . var/demo.env                   # the tools on PATH, TSK_DATABASE_URL and the ports
  psql "\$TSK_DATABASE_URL"
  tsk-tenant --format table list
  tsk-query latest --tenant umc --device CH-01 --format table
  mosquitto_pub -p $TSK_TEST_MQTT_PORT -q 1 -t tenants/umc/devices/GW-1/sensors/temp-01 -m '{"value": 23.5, "unit": "celsius"}'
  tsk-query buckets --tenant umc --device CH-01 --bucket 15m --from -3h --asc | tsk-export -o ch01.csv
  tsk-query sensors --tenant umc | jq -r 'select(.online | not) | "\(.device_id)/\(.sensor_id) offline"'
  tsk-alert --tenant umc --format table list --limit 5
  tsk-tenant invite add umc new@umc.localhost --role viewer | jq -r .accept_url   # mailed to var/mail
  Logins: owner@umc.localhost / Dev@123456 (owner of umc), staff@traksense.localhost / Staff@123456 (staff)
  make demo-stop                   # stops everything (servers, ingest, httpd, notifier, SMTP sink);
                                   # var/ keeps the data for the next make demo
TXT
}

stop() {
	if [ ! -f "$ENVF" ]; then echo "demo: nothing is running"; return 0; fi
	. "$ENVF"
	# SIGTERM to each (tsk-ingest, tsk-httpd, the notifier, the SMTP sink, mosquitto), then wait until
	# each has gone: tsk-ingest and tsk-httpd flush their spools first (up to 10 s).
	local pids="" pid
	for pidf in "$VAR"/*.pid; do
		[ -f "$pidf" ] || continue
		pid=$(cat "$pidf")
		kill "$pid" 2>/dev/null && pids="$pids $pid"
		rm -f "$pidf"
	done
	gone() { local p; for p in $pids; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
	until_ok 60 gone || echo "demo: still running after 60 s:$pids" >&2
	servers_stop
	echo "demo: stopped (data kept under var/; rm -rf var to start afresh)"
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
*) echo "usage: demo.sh start|stop" >&2; exit 2 ;;
esac
