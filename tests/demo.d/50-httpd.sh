# make demo, step 5: tsk-httpd on a free port under var/ (stopped by make demo-stop with the rest):
# EMQX's POST /ingest, /health and /metrics, with curl.
say "tsk-httpd (GET /health, GET /metrics, POST /ingest; spool var/httpd-spool.db)"
HTTPD_SECRET=demo-ingest-secret
if [ -f "$VAR/httpd.pid" ] && kill -0 "$(cat "$VAR/httpd.pid")" 2>/dev/null && [ -f "$VAR/httpd.port" ]; then
	echo "already running (pid $(cat "$VAR/httpd.pid"))"
else
	tsk_free_port >"$VAR/httpd.port"
	TSK_INGEST_SECRET=$HTTPD_SECRET TSK_JWT_SECRET=${TSK_JWT_SECRET:-demo-jwt-secret-$(id -u)-0123456789abcdef0123} "$B/tsk-httpd" --listen "127.0.0.1:$(cat "$VAR/httpd.port")" \
		--spool "$VAR/httpd-spool.db" --config /dev/null </dev/null >>"$VAR/httpd.log" 2>&1 &
	echo $! >"$VAR/httpd.pid"
	until_ok 20 curl -s -o /dev/null "http://localhost:$(cat "$VAR/httpd.port")/health"
	echo "started (pid $(cat "$VAR/httpd.pid")); access log in var/httpd.log"
fi
HTTPD_URL=http://localhost:$(cat "$VAR/httpd.port")
echo "  $HTTPD_URL   (ingest secret: $HTTPD_SECRET)"
say "curl -X POST $HTTPD_URL/ingest (an EMQX HTTP action message)"
now_s=$(date -u +%s)
body=$(printf '{"client_id":"demo-gw","topic":"tenants/umc/sites/Bloco A/assets/CH-01/telemetry","payload":{"device_id":"CH-01","ts":%d000,"sensors":[{"sensor_id":"supply-temp","value":6.9,"unit":"celsius"},{"sensor_id":"power","value":183.5,"unit":"kilowatt"}]}}' "$now_s")
echo "  $body"
curl -s -H "x-device-token: $HTTPD_SECRET" -H 'x-tenant: umc' --data-binary "$body" "$HTTPD_URL/ingest"; echo
say "the same message again: a replay is stored once"
curl -s -H "x-device-token: $HTTPD_SECRET" -H 'x-tenant: umc' --data-binary "$body" "$HTTPD_URL/ingest"; echo
say "curl $HTTPD_URL/health"
curl -s "$HTTPD_URL/health"; echo
say "curl $HTTPD_URL/metrics (excerpt)"
curl -s "$HTTPD_URL/metrics" | grep -E '^tsk_http_requests_total|^tsk_httpd_ingest_(stored|duplicates)_total|^tsk_httpd_spool_depth_messages|^tsk_httpd_db_pool'
