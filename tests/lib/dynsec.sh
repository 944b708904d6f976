# dynsec_broker_start DIR: a mosquitto broker of the test's own with the dynamic-security plugin, its
# configuration made by `mosquitto_ctrl dynsec init` (admin "admin", password in $TSK_DYNSEC_ADMIN_PW),
# on a free loopback port; anonymous clients refused. Exports TSK_TEST_MQTT_PORT and TSK_MQTT_ADMIN_URL;
# mqtt_stop (servers.sh) stops it. Sourced by tests/t/18-broker-mosquitto.t after tap.sh.
TSK_DYNSEC_PLUGIN=${TSK_DYNSEC_PLUGIN:-$(ls /usr/lib/*/mosquitto_dynamic_security.so 2>/dev/null | head -n 1)}
TSK_DYNSEC_ADMIN_PW=admin-$$-pw

dynsec_broker_start() {
	local d=$1 try
	[ -n "$TSK_DYNSEC_PLUGIN" ] || { echo "no mosquitto_dynamic_security.so (Debian's mosquitto 2.x)" >&2; return 1; }
	mkdir -p "$d"
	TSK_MQTT_DIR=$d
	export TSK_MQTT_DIR
	rm -f "$d/dynsec.json"
	mosquitto_ctrl dynsec init "$d/dynsec.json" admin "$TSK_DYNSEC_ADMIN_PW" >"$d/init.log" 2>&1 ||
		{ cat "$d/init.log" >&2; return 1; }
	for try in 1 2 3; do
		TSK_TEST_MQTT_PORT=$(tsk_free_port)
		export TSK_TEST_MQTT_PORT
		cat >"$d/mosquitto.conf" <<CONF
listener $TSK_TEST_MQTT_PORT 127.0.0.1
allow_anonymous false
user root
persistence false
plugin $TSK_DYNSEC_PLUGIN
plugin_opt_config_file $d/dynsec.json
log_dest stderr
log_type error
log_type warning
CONF
		mqtt_start 2>/dev/null && break
		mqtt_stop
		[ "$try" = 3 ] && { echo "mosquitto with dynsec did not start; see $d/mosquitto.log" >&2; return 1; }
	done
	TSK_MQTT_ADMIN_URL=mqtt://admin:$TSK_DYNSEC_ADMIN_PW@127.0.0.1:$TSK_TEST_MQTT_PORT
	export TSK_MQTT_ADMIN_URL
}
