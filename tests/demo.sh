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

	say "connect"
	cat <<TXT
  . var/demo.env                   # the tools on PATH, TSK_DATABASE_URL and the ports
  psql "\$TSK_DATABASE_URL"
  tsk-tenant --format table list
  tsk-query latest --tenant umc --device CH-01 --format table
  mosquitto_pub -p $TSK_TEST_MQTT_PORT -q 1 -t tenants/umc/devices/GW-1/sensors/temp-01 -m '{"value": 23.5, "unit": "celsius"}'
  Logins: owner@umc.localhost / Dev@123456 (owner of umc), staff@traksense.localhost / Staff@123456 (staff)
  make demo-stop                   # stops everything; var/ keeps the data for the next make demo
TXT
}

stop() {
	if [ ! -f "$ENVF" ]; then echo "demo: nothing is running"; return 0; fi
	. "$ENVF"
	for pidf in "$VAR"/*.pid; do
		[ -f "$pidf" ] || continue
		kill "$(cat "$pidf")" 2>/dev/null
		rm -f "$pidf"
	done
	servers_stop
	echo "demo: stopped (data kept under var/; rm -rf var to start afresh)"
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
*) echo "usage: demo.sh start|stop" >&2; exit 2 ;;
esac
