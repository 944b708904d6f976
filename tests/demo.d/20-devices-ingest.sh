# make demo, step 2: tsk-ingest subscribes to the broker; simulated HVAC devices publish in every
# topic form and payload format of tsk-formats(5); the readings land in tenant umc.
say "tsk-ingest mqtt (persistent session, QoS 1, spool var/spool.db)"
if [ -f "$VAR/ingest.pid" ] && kill -0 "$(cat "$VAR/ingest.pid")" 2>/dev/null; then
	echo "already running (pid $(cat "$VAR/ingest.pid"))"
else
	"$B/tsk-ingest" mqtt --url "mqtt://127.0.0.1:$TSK_TEST_MQTT_PORT" --client-id tsk-demo-ingest \
		--spool "$VAR/spool.db" --flush-interval 100ms </dev/null >>"$VAR/ingest.log" 2>&1 &
	echo $! >"$VAR/ingest.pid"
	until_ok 20 grep -q '"connected":true' "$VAR/spool.db.stats" 2>/dev/null
	echo "started (pid $(cat "$VAR/ingest.pid")); log in var/ingest.log"
fi

# Readings the running consumer has finished with (stored, or already there), from its stats file.
done_readings() { "$B/tsk-ingest" stats --spool "$VAR/spool.db" 2>/dev/null |
	sed -n 's/.*"stored":\([0-9]*\).*"duplicates":\([0-9]*\).*/\1 \2/p' | awk '{ print $1 + $2 }'; }
before=$(done_readings)

say "simulated devices publish three hours of readings, one a minute"
now=$(date -u +%s)
start=$(( (now / 60) * 60 - 3 * 3600 ))
pub() { mosquitto_pub -h 127.0.0.1 -p "$TSK_TEST_MQTT_PORT" -q 1 "$@"; }
# A chiller and an air handler send the standard multi-sensor format on the canonical topic
# (site name with a space and UTF-8, percent-encoded); values follow a daily curve plus noise.
awk -v start="$start" 'BEGIN { srand(42); for (i = 0; i < 180; i++) { t = start + i * 60;
	ph = (t % 86400) / 86400 * 6.2832; ts = strftime("%Y-%m-%dT%H:%M:%SZ", t, 1);
	printf "{\"device_id\":\"CH-01\",\"timestamp\":\"%s\",\"sensors\":[", ts;
	printf "{\"sensor_id\":\"supply-temp\",\"value\":%.2f,\"unit\":\"celsius\",\"type\":\"temperature\"},", 6.5 + sin(ph) + rand() * 0.4;
	printf "{\"sensor_id\":\"return-temp\",\"value\":%.2f,\"unit\":\"celsius\",\"type\":\"temperature\"},", 12 + sin(ph) * 1.5 + rand() * 0.4;
	printf "{\"sensor_id\":\"power\",\"value\":%.1f,\"unit\":\"kilowatt\",\"type\":\"power\"}]}\n", 180 + sin(ph) * 40 + rand() * 5 } }' |
	pub -t "tenants/umc/sites/Bloco%20C%C3%ADrurgico/assets/CH-01/telemetry" -l
awk -v start="$start" 'BEGIN { srand(7); for (i = 0; i < 180; i++) { t = start + i * 60;
	ts = strftime("%Y-%m-%dT%H:%M:%SZ", t, 1);
	printf "{\"device_id\":\"AHU-02\",\"timestamp\":\"%s\",\"sensors\":[", ts;
	printf "{\"sensor_id\":\"temp-amb\",\"value\":%.2f,\"unit\":\"celsius\"},", 22 + rand();
	printf "{\"sensor_id\":\"humidity\",\"value\":%.1f,\"unit\":\"percent_rh\"}]}\n", 50 + rand() * 8 } }' |
	pub -t "tenants/umc/sites/Bloco%20A/assets/AHU-02/telemetry" -l
# A Khomp LoRaWAN gateway sends SenML packs (base name, base time in seconds, a DS18B20 probe by MAC).
awk -v start="$start" 'BEGIN { srand(3); for (i = 0; i < 180; i += 5) { t = start + i * 60;
	printf "[{\"bn\":\"F80332010002D8E1\",\"bt\":%d},{\"n\":\"model\",\"vs\":\"nit20l\"},", t;
	printf "{\"n\":\"rssi\",\"u\":\"dBW\",\"v\":%d},{\"n\":\"A\",\"u\":\"Cel\",\"v\":%.2f},", -60 - int(rand() * 20), 4 + rand();
	printf "{\"n\":\"28:61:64:34:12:5a:9f:01\",\"u\":\"Cel\",\"v\":%.2f},{\"n\":\"C1\",\"u\":\"count\",\"v\":%d}]\n", -18 + rand(), i } }' |
	pub -t "tenants/umc/assets/CF-03/telemetry" -l
# The README's one-reading form, and a message for a tenant that does not exist (dead-lettered).
pub -t tenants/umc/devices/GW-1/sensors/temp-01 -m '{"value": 23.5, "unit": "celsius"}'
pub -t tenants/nobody/devices/GW-9/sensors/x -m '1'
expected=$((180 * 3 + 180 * 2 + 36 * 4 + 1))
# The counters are shown once every published reading is in PostgreSQL (the consumer writes its stats
# file every second), not while they are still on their way.
all_in() { [ "$(done_readings)" -ge $((${before:-0} + expected)) ] 2>/dev/null; }
until_ok 60 all_in || echo "(the readings are still arriving; the counters below are not final)"
"$B/tsk-ingest" stats --spool "$VAR/spool.db"
