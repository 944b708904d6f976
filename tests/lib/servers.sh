# Private servers for tests, demos and benchmarks: a PostgreSQL 15 cluster and a mosquitto broker on
# free loopback ports, under one directory. Sourced by tests/run, tests/demo.sh and tests/bench/*.
# servers_start DIR [fast]  -> exports TSK_TEST_DIR TSK_PGDATA TSK_TEST_PGPORT TSK_TEST_DSN TSK_TEST_MQTT_PORT
# servers_stop

tsk_free_port() {
	local p
	while :; do
		# Below the kernel's ephemeral range, where client sockets would also hold ports that look free
		# to the probe below. Not $RANDOM: command substitutions inherit its state and would all pick
		# the same port.
		local lo
		lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
		[ "$lo" -gt 12000 ] 2>/dev/null || lo=32768
		p=$((10000 + $(od -An -N4 -tu4 /dev/urandom) % (lo - 10000)))
		# A port is free when nothing answers on it (bash's /dev/tcp, no extra tools needed).
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
	done
}

tsk_pg_bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$d" ] || { echo "no PostgreSQL server binaries under /usr/lib/postgresql" >&2; return 1; }
	echo "$d"
}

# initdb refuses to run as root, so the cluster belongs to an unprivileged user.
tsk_pg_user() {
	if [ "$(id -u)" != 0 ]; then id -un; return; fi
	if id postgres >/dev/null 2>&1; then echo postgres; return; fi
	id tsk >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin tsk
	echo tsk
}

tsk_as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u "$TSK_PG_OWNER" -- "$@"; else "$@"; fi
}

pg_start() {
	tsk_as_pg "$PGBIN/pg_ctl" -D "$TSK_PGDATA" -l "$TSK_PGDATA/server.log" -w -t 60 start >/dev/null
}

pg_stop() {
	tsk_as_pg "$PGBIN/pg_ctl" -D "$TSK_PGDATA" -w -t 60 -m fast stop >/dev/null
}

# The broker's files live in TSK_MQTT_DIR (a broker of a test's own), else in TSK_TEST_DIR.
mqtt_start() {
	local d=${TSK_MQTT_DIR:-$TSK_TEST_DIR}
	mosquitto -c "$d/mosquitto.conf" >>"$d/mosquitto.log" 2>&1 &
	echo $! >"$d/mosquitto.pid"
	local i
	for i in $(seq 1 300); do
		(exec 3<>"/dev/tcp/127.0.0.1/$TSK_TEST_MQTT_PORT") 2>/dev/null && return 0
		kill -0 "$(cat "$d/mosquitto.pid")" 2>/dev/null || break
		sleep 0.1
	done
	echo "mosquitto did not start; see $d/mosquitto.log" >&2
	return 1
}

mqtt_stop() {
	local d=${TSK_MQTT_DIR:-$TSK_TEST_DIR}
	[ -f "$d/mosquitto.pid" ] || return 0
	kill "$(cat "$d/mosquitto.pid")" 2>/dev/null
	wait "$(cat "$d/mosquitto.pid")" 2>/dev/null
	rm -f "$d/mosquitto.pid"
}

# mqtt_broker_start DIR: a mosquitto broker under DIR on a free loopback port (another port when the
# one probed was taken meanwhile). Exports TSK_TEST_MQTT_PORT; without TSK_MQTT_DIR set, DIR becomes
# it (a test's broker of its own; servers_start sets TSK_TEST_DIR's). mqtt_stop stops it.
mqtt_broker_start() {
	local d=$1 try
	mkdir -p "$d/mosquitto"
	[ "$d" = "${TSK_TEST_DIR:-}" ] || { TSK_MQTT_DIR=$d; export TSK_MQTT_DIR; }
	for try in 1 2 3; do
		TSK_TEST_MQTT_PORT=$(tsk_free_port)
		export TSK_TEST_MQTT_PORT
		cat >"$d/mosquitto.conf" <<CONF
listener $TSK_TEST_MQTT_PORT 127.0.0.1
allow_anonymous true
user root
persistence true
persistence_location $d/mosquitto/
autosave_interval 60
max_queued_messages 0
max_inflight_messages 0
max_packet_size 4194304
log_dest stderr
log_type error
log_type warning
CONF
		mqtt_start 2>/dev/null && return 0
		mqtt_stop
	done
	echo "mosquitto did not start; see $d/mosquitto.log" >&2
	return 1
}

# pg_cluster_start DIR [fast|durable]: a PostgreSQL cluster under DIR (created when new) on a free
# loopback port, with a database tsk. Exports PGBIN TSK_PG_OWNER TSK_PGDATA TSK_TEST_PGPORT TSK_TEST_DSN;
# pg_stop and pg_start stop and start it again, pg_cluster_stop stops it if it runs. servers_start
# starts the suite's shared one with it; a test that stops PostgreSQL starts a private one.
# fast turns off fsync (tests); durable keeps PostgreSQL's defaults (benchmarks and the demo).
pg_cluster_start() {
	local dir=$1 mode=${2:-fast}
	PGBIN=$(tsk_pg_bindir) || return 1
	TSK_PG_OWNER=$(tsk_pg_user)
	export PGBIN TSK_PG_OWNER
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	chmod 755 "$dir"
	# The cluster's owner must reach its directory; a checkout under /root is out of its reach, so the
	# data then lives under /var/tmp, named after DIR (initdb and pg_ctl need a path they can walk).
	TSK_PGDATA=$dir/pg
	if ! tsk_as_pg test -x "$dir"; then
		TSK_PGDATA=/var/tmp/tsk-pg-$(printf '%s' "$dir" | cksum | cut -d' ' -f1)
	fi
	export TSK_PGDATA
	if [ ! -f "$TSK_PGDATA/PG_VERSION" ]; then
		mkdir -p "$TSK_PGDATA"
		chown "$TSK_PG_OWNER" "$TSK_PGDATA" 2>/dev/null
		chmod 700 "$TSK_PGDATA"
		tsk_as_pg "$PGBIN/initdb" -D "$TSK_PGDATA" -U tsk --auth=trust -E UTF8 --locale=C.UTF-8 \
			--no-sync >"$dir/initdb.log" 2>&1 ||
			{ echo "initdb failed; see $dir/initdb.log" >&2; return 1; }
	fi
	local try
	for try in 1 2 3; do
	TSK_TEST_PGPORT=$(tsk_free_port)
	{
		echo "listen_addresses = '127.0.0.1'"
		echo "port = $TSK_TEST_PGPORT"
		echo "unix_socket_directories = ''"
		echo "max_connections = 200"
		echo "shared_buffers = 512MB"
		echo "max_wal_size = 4GB"
		if [ "$mode" = fast ]; then
			echo "fsync = off"
			echo "full_page_writes = off"
			echo "synchronous_commit = off"
		fi
	} >"$TSK_PGDATA/postgresql.auto.conf"
	chown "$TSK_PG_OWNER" "$TSK_PGDATA/postgresql.auto.conf" 2>/dev/null
	pg_start && break
	# A port can still be taken between the probe and the bind: try another one.
	if [ "$try" = 3 ] || ! tail -5 "$TSK_PGDATA/server.log" | grep -q 'Address already in use'; then
		echo "PostgreSQL did not start; see $TSK_PGDATA/server.log" >&2; tail -5 "$TSK_PGDATA/server.log" >&2; return 1
	fi
	done
	PGHOST=127.0.0.1 PGPORT=$TSK_TEST_PGPORT PGUSER=tsk psql -qAt -d postgres \
		-c "SELECT 1 FROM pg_database WHERE datname = 'tsk'" | grep -q 1 ||
		PGHOST=127.0.0.1 PGPORT=$TSK_TEST_PGPORT PGUSER=tsk psql -q -d postgres -c "CREATE DATABASE tsk" >/dev/null
	TSK_TEST_DSN="host=127.0.0.1 port=$TSK_TEST_PGPORT user=tsk dbname=tsk"
	export TSK_TEST_PGPORT TSK_TEST_DSN
}

pg_cluster_stop() {
	[ -n "${TSK_PGDATA:-}" ] && [ -f "$TSK_PGDATA/postmaster.pid" ] || return 0
	pg_stop
}

# servers_start DIR [fast|durable]: the PostgreSQL cluster above and a mosquitto broker, under DIR.
servers_start() {
	local dir=$1 mode=${2:-fast}
	mkdir -p "$dir"
	TSK_TEST_DIR=$(cd "$dir" && pwd)
	export TSK_TEST_DIR
	chmod 755 "$TSK_TEST_DIR"
	pg_cluster_start "$TSK_TEST_DIR" "$mode" || return 1

	mqtt_broker_start "$TSK_TEST_DIR"
}

servers_stop() {
	[ -n "${TSK_TEST_DIR:-}" ] || return 0
	mqtt_stop
	[ -f "$TSK_PGDATA/postmaster.pid" ] && pg_stop
	return 0
}

# pg_replica_start DIR: a streaming replica of the running cluster (TSK_TEST_PGPORT; pg_basebackup -R:
# standby.signal and primary_conninfo) under DIR on a free loopback port, read-only (hot standby).
# Exports TSK_REPLICA_PGDATA TSK_REPLICA_PORT; pg_replica_stop stops it. The primary's pg_hba.conf
# from initdb --auth=trust already lets 127.0.0.1 connect for replication.
pg_replica_start() {
	local dir=$1 try
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	chmod 755 "$dir"
	TSK_REPLICA_PGDATA=$dir/replica
	tsk_as_pg test -x "$dir" || TSK_REPLICA_PGDATA=/var/tmp/tsk-replica-$(printf '%s' "$dir" | cksum | cut -d' ' -f1)
	export TSK_REPLICA_PGDATA
	rm -rf "$TSK_REPLICA_PGDATA"
	mkdir -p "$TSK_REPLICA_PGDATA"
	chown "$TSK_PG_OWNER" "$TSK_REPLICA_PGDATA" 2>/dev/null
	chmod 700 "$TSK_REPLICA_PGDATA"
	tsk_as_pg "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$TSK_TEST_PGPORT" -U tsk -D "$TSK_REPLICA_PGDATA" \
		-R -X stream -c fast --no-sync >"$dir/basebackup.log" 2>&1 ||
		{ echo "pg_basebackup failed; see $dir/basebackup.log" >&2; return 1; }
	for try in 1 2 3; do
		TSK_REPLICA_PORT=$(tsk_free_port)
		# The copied postgresql.auto.conf names the primary's port; the last setting wins.
		echo "port = $TSK_REPLICA_PORT" | tsk_as_pg tee -a "$TSK_REPLICA_PGDATA/postgresql.auto.conf" >/dev/null
		tsk_as_pg "$PGBIN/pg_ctl" -D "$TSK_REPLICA_PGDATA" -l "$TSK_REPLICA_PGDATA/server.log" -w -t 60 start \
			>/dev/null && { export TSK_REPLICA_PORT; return 0; }
		tail -5 "$TSK_REPLICA_PGDATA/server.log" | grep -q 'Address already in use' || break
	done
	echo "the replica did not start; see $TSK_REPLICA_PGDATA/server.log" >&2
	return 1
}

pg_replica_stop() {
	[ -n "${TSK_REPLICA_PGDATA:-}" ] && [ -f "$TSK_REPLICA_PGDATA/postmaster.pid" ] || return 0
	tsk_as_pg "$PGBIN/pg_ctl" -D "$TSK_REPLICA_PGDATA" -w -t 60 -m fast stop >/dev/null
}

# pgbouncer_start DIR: a pgbouncer (transaction pooling) in front of the running cluster
# (TSK_TEST_PGPORT) on a free loopback port, every database passed through, auth_type trust.
# server_round_robin spreads one client's transactions over the pool's server sessions, so anything
# that leans on session state across transactions shows. The `options` startup parameter (libpq's
# -c TimeZone=UTC, sent by every tool) is ignored: pgbouncer 1.18 refuses it otherwise; TimeZone is a
# parameter pgbouncer tracks, and the tools SET it when the server reports another one.
# Exports TSK_BOUNCER_PORT; pgbouncer_stop stops it.
pgbouncer_start() {
	local dir=$1 try i
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	chmod 777 "$dir"
	TSK_BOUNCER_DIR=$dir
	export TSK_BOUNCER_DIR
	echo '"tsk" ""' >"$dir/userlist.txt"
	chmod 644 "$dir/userlist.txt"
	for try in 1 2 3; do
		TSK_BOUNCER_PORT=$(tsk_free_port)
		cat >"$dir/pgbouncer.ini" <<CONF
[databases]
* = host=127.0.0.1 port=$TSK_TEST_PGPORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $TSK_BOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = ${TSK_BOUNCER_POOL:-4}
max_client_conn = 500
server_round_robin = 1
ignore_startup_parameters = options,extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
admin_users = tsk
CONF
		chmod 644 "$dir/pgbouncer.ini"
		rm -f "$dir/pgbouncer.pid"
		tsk_as_pg pgbouncer -d "$dir/pgbouncer.ini" >>"$dir/pgbouncer.out" 2>&1
		for i in $(seq 1 100); do
			(exec 3<>"/dev/tcp/127.0.0.1/$TSK_BOUNCER_PORT") 2>/dev/null && { export TSK_BOUNCER_PORT; return 0; }
			sleep 0.1
		done
		pgbouncer_stop
	done
	echo "pgbouncer did not start; see $dir/pgbouncer.log" >&2
	return 1
}

pgbouncer_stop() {
	[ -n "${TSK_BOUNCER_DIR:-}" ] && [ -f "$TSK_BOUNCER_DIR/pgbouncer.pid" ] || return 0
	local pid i
	pid=$(cat "$TSK_BOUNCER_DIR/pgbouncer.pid")
	kill "$pid" 2>/dev/null
	for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	rm -f "$TSK_BOUNCER_DIR/pgbouncer.pid"
}
