# make demo, step 6: tsk-alert. A rule on chiller CH-01; its supply water warms up for ten minutes, the
# rule fires (the condition held for its 5 minutes), the in-app notification is delivered, then one
# normal reading resolves the alert by itself. Harmless to run again (a rule is added once; a new alert
# waits 30 minutes after the last one resolved).
say "tsk-alert rule add (CH-01: supply water above 8 °C for 5 minutes)"
if ! "$B/tsk-alert" --tenant umc rule list | grep -q '"name":"Água gelada quente"'; then
	echo '{"name":"Água gelada quente","equipment":"CH-01","actions":["EMAIL","IN_APP"],"parameters":[{"parameter_key":"supply-temp","operator":">","threshold":8,"severity":"High","duration":5,"unit":"°C","message_template":"Água gelada a {value}{unit}: {operator} {threshold}{unit}"}]}' |
		"$B/tsk-alert" --tenant umc rule add >/dev/null
fi
"$B/tsk-alert" --tenant umc --format table rule list
say "the chiller's supply water warms up: ten readings above 8 °C, in the next ten minutes"
# Stamped just after the simulated history (which ends now), so the ten minutes hold only these.
now=$(( $(date -u +%s) / 60 * 60 + 600 ))
at() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
for i in 9 8 7 6 5 4 3 2 1 0; do
	printf '{"device_id":"CH-01","timestamp":"%s","sensors":[{"sensor_id":"supply-temp","value":%d.%d,"unit":"celsius"}]}\n' \
		"$(date -u -d "@$((now - i * 60))" +%Y-%m-%dT%H:%M:%SZ)" $((9 + (i % 2))) $((i * 7 % 10))
done | mosquitto_pub -h 127.0.0.1 -p "$TSK_TEST_MQTT_PORT" -q 1 -t "tenants/umc/sites/Bloco%20C%C3%ADrurgico/assets/CH-01/telemetry" -l
stored_at() { [ "$(psql "$TSK_DATABASE_URL" -qAtX -c "SELECT count(*) FROM umc.reading WHERE device_id = 'CH-01'
	AND sensor_id = 'supply-temp' AND ts = to_timestamp($1)")" = 1 ]; }
until_ok 30 stored_at "$now" || echo "(the readings are still on their way)"
say "tsk-alert eval --at $(at "$now") (every minute from cron/systemd): the condition held for 5 minutes, so it fires"
"$B/tsk-alert" eval --tenant umc --at "$(at "$now")"
"$B/tsk-alert" --tenant umc --format table list --status active
say "tsk-alert notify --once (in-app delivered; e-mail waits for an smtp_url: see tsk-alert(1))"
TSK_NOW=$(at "$now") "$B/tsk-alert" notify --tenant umc --once 2>/dev/null
say "back to normal: a reading at 6.8 °C a minute later, and the alert resolves by itself"
printf '{"device_id":"CH-01","timestamp":"%s","sensors":[{"sensor_id":"supply-temp","value":6.8,"unit":"celsius"}]}' \
	"$(at $((now + 60)))" |
	mosquitto_pub -h 127.0.0.1 -p "$TSK_TEST_MQTT_PORT" -q 1 -t "tenants/umc/sites/Bloco%20C%C3%ADrurgico/assets/CH-01/telemetry" -s
until_ok 30 stored_at "$((now + 60))"
"$B/tsk-alert" eval --tenant umc --at "$(at $((now + 60)))"
"$B/tsk-alert" --tenant umc --format table list --limit 3
