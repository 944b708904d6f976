#!/bin/bash
# Every systemd service and cron line run by its exact command line: ExecStart= read from systemd/*.service
# (@PREFIX@ a prefix whose bin/ is the build, ${STATE_DIRECTORY} expanded as systemd does: a directory
# of the test's own), configuration only from TSK_CONFIG, against the suite's PostgreSQL, a broker and
# an SMTP server. Each runs as an unprivileged user on a read-only root with only its state directory
# writable (a mount namespace: what User=, ProtectSystem=strict and StateDirectory= give it), when the
# machine allows it. The daemons start and answer (a published message stored, /health and POST /ingest,
# an alert mailed); the oneshot services and cron lines exit 0.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/smtp.sh"
own_broker
fresh_db t_units
smtp_start
DSN=$TSK_DATABASE_URL
tsk tenant create --slug umc --name UMC >/dev/null
echo 'Dev@123456' | tsk tenant user add owner@umc.test >/dev/null
tsk tenant member add umc owner@umc.test --role owner >/dev/null

# A prefix whose bin/ holds the build's tools, the state directory, the configuration.
prefix=$T/prefix state=$T/state conf=$T/tsk.conf
mkdir -p "$prefix/bin" "$state"
for t in "$TSK_BUILD"/tsk-*; do [ -x "$t" ] && ln -s "$t" "$prefix/bin/${t##*/}"; done
hport=$(tsk_free_port)
cat >"$conf" <<CONF
database_url = $DSN
mqtt_url = mqtt://127.0.0.1:$TSK_TEST_MQTT_PORT
listen = 127.0.0.1:$hport
jwt_secret = units-test-jwt-secret-0123456789abcdef
ingest_secret = units-ingest-secret
smtp_url = smtp://127.0.0.1:$SMTP_PORT
mail_from = TrakSense <alertas@traksense.test>
frontend_url = http://umc.localhost:5173
CONF

# The unprivileged user: tsk (the units' User=) when the machine has it, else nobody.
run_user=tsk
id tsk >/dev/null 2>&1 || run_user=nobody
run_group=$(id -gn "$run_user")
harden=0
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v setpriv >/dev/null &&
	unshare -m --propagation private -- sh -c 'mount -o remount,bind,ro / && ! touch /.tsk-ro-probe' 2>/dev/null; then
	harden=1
	chmod 0711 "$T"
	chown "$run_user:$run_group" "$state"
	chgrp "$run_group" "$conf" && chmod 0640 "$conf"
fi
if [ "$harden" = 1 ]; then
	diag "services run as $run_user on a read-only root, $state writable"
else
	ok 0 "# SKIP hardening: needs root, unshare and setpriv (util-linux) and a mount namespace; the commands run as they are"
fi

# service_cmd UNIT: the unit's ExecStart= as systemd would run it, into the array CMD.
service_cmd() {
	local line
	line=$(sed -n 's/^ExecStart=//p' "systemd/$1")
	[ "$(grep -c . <<<"$line")" = 1 ] || { diag "$1: not one ExecStart="; return 1; }
	line=${line//@PREFIX@/$prefix}
	line=${line//'${STATE_DIRECTORY}'/$state}
	line=${line//'$STATE_DIRECTORY'/$state}
	case $line in *'$'* | *'"'* | *"'"* | *'%'* | *'\'*) diag "$1: an expansion this test does not know: $line"; return 1 ;; esac
	read -ra CMD <<<"$line"
}
# run CMD...: in the service's environment (nothing of the suite's, TSK_CONFIG only), hardened when it
# can. It execs: run it in the background (run CMD &: $! is then the daemon itself) or in a subshell.
run() {
	local envs=(env -i PATH=/usr/bin:/bin LANG=C.UTF-8 TSK_CONFIG="$conf" STATE_DIRECTORY="$state")
	if [ "$harden" = 1 ]; then
		exec unshare -m --propagation private -- sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro / &&
			g=$2 && shift 3 && exec setpriv --reuid="$0" --regid="$g" --clear-groups --no-new-privs "$@"' \
			"$run_user" "$state" "$run_group" x "${envs[@]}" "$@"
	else
		exec "${envs[@]}" "$@"
	fi
}
stop_daemon() { kill -TERM "$1" 2>/dev/null; wait "$1"; }

# --- tsk-ingest.service --------------------------------------------------------------------------------
service_cmd tsk-ingest.service
ok $? "tsk-ingest.service: ExecStart=$(sed -n 's/^ExecStart=//p' systemd/tsk-ingest.service)"
run "${CMD[@]}" >"$T/ingest.log" 2>&1 &
ipid=$!
connected() { grep -q '"connected":true' "$state/spool.db.stats" 2>/dev/null; }
wait_for 60 connected
ok $? "tsk-ingest started and subscribed (its stats in \$STATE_DIRECTORY)"
mosquitto_pub -h 127.0.0.1 -p "$TSK_TEST_MQTT_PORT" -q 1 -t tenants/umc/devices/GW-1/sensors/temp-01 \
	-m '{"value": 23.5, "unit": "celsius"}'
stored() { [ "$(q "SELECT count(*) FROM umc.reading WHERE device_id = 'GW-1' AND value = 23.5")" = 1 ]; }
wait_for 60 stored
ok $? "a published message is stored"
[ -f "$state/spool.db" ]; ok $? "its spool is in \$STATE_DIRECTORY"
stop_daemon "$ipid"
is $? 0 "SIGTERM: exit 0"

# --- tsk-httpd.service ---------------------------------------------------------------------------------
service_cmd tsk-httpd.service
ok $? "tsk-httpd.service: ExecStart=$(sed -n 's/^ExecStart=//p' systemd/tsk-httpd.service)"
run "${CMD[@]}" >"$T/httpd.log" 2>&1 &
hpid=$!
healthy() { curl -s -H 'Host: localhost' "http://127.0.0.1:$hport/health" | grep -q '"healthy":true'; }
wait_for 60 healthy
ok $? "tsk-httpd answers /health, healthy"
out=$(curl -s -H 'Host: localhost' -H 'x-device-token: units-ingest-secret' -H 'x-tenant: umc' "http://127.0.0.1:$hport/ingest" \
	--data-binary '{"topic":"tenants/umc/devices/GW-2/sensors/t","payload":{"value":21.5}}')
like "$out" '"status":"accepted"' "POST /ingest accepted"
is "$(q "SELECT count(*) FROM umc.reading WHERE device_id = 'GW-2'")" 1 "and stored"
[ -f "$state/httpd-spool.db" ]; ok $? "its spool is in \$STATE_DIRECTORY"
stop_daemon "$hpid"
is $? 0 "SIGTERM: exit 0"

# --- the oneshot services (tsk-alert-eval fires an alert for the notifier below) ---------------------
S=$(q "SELECT schema_name FROM public.tenant WHERE slug = 'umc'")
q "INSERT INTO $S.site (name) VALUES ('Site1');
   INSERT INTO $S.asset (tag, name, site_id) SELECT 'CH-1', 'Chiller 1', id FROM $S.site;
   INSERT INTO $S.device (device_id, asset_id) SELECT 'dev1', id FROM $S.asset;
   INSERT INTO $S.sensor (device_id, sensor_id, unit) VALUES ('dev1', 'CH-1_temp', '°C');
   INSERT INTO $S.reading (device_id, sensor_id, ts, value) SELECT 'dev1', 'CH-1_temp',
     date_trunc('minute', now()) - make_interval(mins => m), 30 FROM generate_series(0, 10) m" >/dev/null
echo '{"name":"Temperatura alta","equipment":"CH-1","actions":["EMAIL"],"parameters":[{"parameter_key":"CH-1_temp","operator":">","threshold":25,"severity":"high","duration":2,"unit":"°C","message_template":"Temperatura de {value}{unit}"}]}' |
	tsk alert rule add --tenant umc >/dev/null
for u in tsk-alert-eval tsk-alert-cleanup tsk-refresh tsk-catalog tsk-maintain; do
	service_cmd "$u.service" || { ok 1 "$u.service"; continue; }
	(run "${CMD[@]}") >"$T/$u.out" 2>"$T/$u.err"
	is "$?:$(cat "$T/$u.err")" "0:" "$u.service: ${CMD[*]#$prefix} exits 0, nothing on stderr"
done
like "$(cat "$T/tsk-alert-eval.out")" '"event":"firing"' "tsk-alert-eval fired the rule"

# --- tsk-alert-notify.service --------------------------------------------------------------------------
service_cmd tsk-alert-notify.service
ok $? "tsk-alert-notify.service: ExecStart=$(sed -n 's/^ExecStart=//p' systemd/tsk-alert-notify.service)"
run "${CMD[@]}" >"$T/notify.log" 2>&1 &
npid=$!
mailed() { [ "$(smtp_count)" -ge 1 ]; }
wait_for 60 mailed
ok $? "the notifier mailed the alert"
like "$(mail_json 1)" '"to": "owner@umc.test"' "to the owner"
sent() { [ "$(q "SELECT count(*) FROM $S.alert_notification WHERE channel = 'EMAIL' AND status = 'sent'")" = 1 ]; }
wait_for 30 sent
ok $? "and marked it sent"
stop_daemon "$npid"
is $? 0 "SIGTERM: exit 0"

# --- the cron lines, each as cron runs it (sh -c, as the user named on the line) -----------------------
for f in cron/*; do
	while read -r m h dom mon dow user cmd; do
		cmd=${cmd//@PREFIX@/$prefix}
		is "$user" tsk "${f#cron/}: runs as tsk"
		(run sh -c "$cmd") >"$T/cron.out" 2>"$T/cron.err"
		is "$?:$(cat "$T/cron.err")" "0:" "${f#cron/}: '$m $h $dom $mon $dow' ${cmd#$prefix} exits 0"
	done < <(grep -E '^[0-9*]' "$f")
done
done_testing
