#!/bin/bash
# The ops panel in a real browser: headless Chromium driven by Selenium (Debian's chromium,
# chromium-driver, python3-selenium) against the real daemon, data and S3 test server: login, tenant
# selection, filtering, pagination, drill-down whose chart has a point per reading, the dashboard, the
# CSV download, an export job whose presigned link downloads the file, redirects, stale CSRF, the audit
# rows and the tenant host's 404. Screenshots go to build/screenshots/. One browser session.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
. "$TSK_ROOT/tests/s3/s3.sh"
if [ ! -x /usr/bin/chromedriver ] || ! /usr/bin/python3 -c 'import selenium' 2>/dev/null; then
	echo "1..0 # SKIP chromium-driver or python3-selenium missing (make deps)"
	exit 0
fi
if ! s3_start "$T/s3srv" 2>"$T/s3err"; then
	ok 1 "the S3 test server starts: $(tail -3 "$T/s3err")"
	done_testing
fi
at_exit s3_stop
fresh_db t_ops_browser
tsk tenant create --slug acme --name 'Acme' --domain acme.localhost >/dev/null
PW='Dev@123456'
echo "$PW" | tsk tenant user add ops@localhost.local --staff >/dev/null
echo "$PW" | tsk tenant user add plain@localhost.local >/dev/null
q "INSERT INTO acme.reading (device_id, sensor_id, ts, value, unit)
   SELECT 'd' || d, s, '2025-10-17T00:00:00Z'::timestamptz + i * interval '1 minute', i + d / 10.0, 'celsius'
   FROM generate_series(0, 99) i, generate_series(1, 2) d, unnest(ARRAY['t', 'h']) s" >/dev/null
httpd_start --config /dev/null --workers 2
ok $? "tsk-httpd answers on its port"
case $TSK_BUILD in /*) SHOTS=$TSK_BUILD/screenshots ;; *) SHOTS=$TSK_ROOT/$TSK_BUILD/screenshots ;; esac
rm -rf "$SHOTS"; mkdir -p "$SHOTS" "$T/dl"
/usr/bin/python3 "$TSK_ROOT/tests/lib/ops_browser.py" "http://localhost:$HTTPD_PORT" "http://acme.localhost:$HTTPD_PORT" \
	"$SHOTS" ops@localhost.local plain@localhost.local "$PW" "$T/dl" 2>"$T/browser.err" >"$T/browser.tap"
rc=$?
while IFS= read -r line; do
	case $line in
	"ok "*) ok 0 "browser: ${line#ok * - }" ;;
	"not ok "*) ok 1 "browser: ${line#not ok * - }" ;;
	esac
done <"$T/browser.tap"
is "$rc" 0 "the browser session ran to its end$( [ $rc = 0 ] || echo ": $(tail -3 "$T/browser.err")")"
is "$(ls "$SHOTS"/*.png 2>/dev/null | wc -l)" 8 "a screenshot of each page under build/screenshots/"
is "$(q "SELECT status || '|' || rows FROM public.export_job")" "completed|200" "the job row: completed, 200 rows"
ok "$(httpd_log_clean; echo $?)" "no sanitizer report in the daemon's log"
done_testing
