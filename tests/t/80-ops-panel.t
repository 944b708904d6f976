#!/bin/bash
# The ops panel (/ops/ on the public host, lib/panel/) through curl: who gets in (staff only; anonymous
# and non-staff are sent to the login page with next; a tenant host answers 404), the filter form's
# validation messages, numbers equal to tsk-query's, hostile input (injection in every field, XSS
# payloads rendered escaped, huge limits, bad dates), CSRF on every POST (missing and stale tokens
# refused), the synchronous CSV, the chart JSON, and an audit row per action. The browser side is 81.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
fresh_db t_ops_panel
tsk tenant create --slug acme --name 'Acme <b>Corp</b>' --domain acme.localhost >/dev/null
PW='Dev@123456'
echo "$PW" | tsk tenant user add ops@localhost.local --staff >/dev/null
echo "$PW" | tsk tenant user add plain@localhost.local >/dev/null
# 2 devices x 2 sensors x 100 minutes, and one reading whose ids are an XSS payload.
q "INSERT INTO acme.reading (device_id, sensor_id, ts, value, unit)
   SELECT 'd' || d, s, '2025-10-17T00:00:00Z'::timestamptz + i * interval '1 minute', i + d / 10.0, 'celsius'
   FROM generate_series(0, 99) i, generate_series(1, 2) d, unnest(ARRAY['t', 'h']) s" >/dev/null
q "INSERT INTO acme.reading (device_id, sensor_id, ts, value, labels)
   VALUES ('<script>alert(1)</script>', 'x\"><img src=x onerror=alert(2)>', '2025-10-18T00:00:00Z', 1, '{\"n\":\"</script><b>\"}')" >/dev/null
httpd_start --config /dev/null --workers 2
ok $? "tsk-httpd answers on its port"
H=(-H "Host: localhost:$HTTPD_PORT")
J=$T/jar
st() { curl -s -o "$T/b" -D "$T/h" -w '%{http_code}' "${H[@]}" "$@"; }
hdr() { sed -n "s/^$1: *//Ip" "$T/h" | tr -d '\r' | tail -1; }

# --- who gets in ---------------------------------------------------------------------------------------
is "$(st "$HTTPD_URL/ops/telemetry/?tenant_slug=acme&bucket=5m")" 302 "anonymous: 302"
is "$(hdr Location)" "/ops/login/?next=%2Fops%2Ftelemetry%2F%3Ftenant_slug%3Dacme%26bucket%3D5m" "to the login page with next"
is "$(st -X POST "$HTTPD_URL/ops/telemetry/export/")" 302 "anonymous POST: 302 too"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: acme.localhost" "$HTTPD_URL/ops/")" 404 "a tenant host: /ops/ is 404"
is "$(st "$HTTPD_URL/ops/static/ops.css")" 200 "the stylesheet needs no login"
is "$(st "$HTTPD_URL/ops/static/chart.js")" 200 "Chart.js from the Debian package"
cmp -s "$T/b" /usr/share/javascript/chart.js/chart.min.js
ok $? "byte for byte /usr/share/javascript/chart.js/chart.min.js"

# login: the form's token is bound to a cookie of its own
login_as() { # EMAIL [TOKEN]: the session cookie in $J
	rm -f "$J"
	curl -s -c "$J" -b "$J" "${H[@]}" "$HTTPD_URL/ops/login/?next=/ops/" >"$T/login.html"
	LT=$(sed -n 's/.*name="csrfmiddlewaretoken" value="\([0-9a-f]*\)".*/\1/p' "$T/login.html" | head -1)
	st -c "$J" -b "$J" --data-urlencode "csrfmiddlewaretoken=${2-$LT}" --data-urlencode "username=$1" \
		--data-urlencode "password=$PW" --data-urlencode "next=/ops/" "$HTTPD_URL/ops/login/"
}
is "$(login_as ops@localhost.local bad)" 403 "login without the form's token: 403"
is "$(login_as ops@localhost.local)" 302 "staff login: 302"
sc=$(grep -i '^Set-Cookie: tsk_ops=' "$T/h" | tr -d '\r')
like "$sc" 'HttpOnly' "the session cookie is HttpOnly"
like "$sc" 'SameSite=Strict' "and SameSite=Strict"
like "$sc" 'Path=/ops/' "and scoped to /ops/"
is "$(login_as plain@localhost.local)" 200 "non-staff login: the form again"
like "$(cat "$T/b")" 'staff account' "with the refusal"
is "$(st -b "$J" "$HTTPD_URL/ops/")" 302 "non-staff: no session, redirected"

login_as ops@localhost.local >/dev/null
g() { st -b "$J" "$HTTPD_URL$1"; }
is "$(g /ops/)" 200 "staff: /ops/ 200"
like "$(cat "$T/b")" 'Acme &lt;b&gt;Corp&lt;/b&gt; \(acme\)' "tenant selector, names escaped"
CSRF=$(sed -n 's/.*name="csrfmiddlewaretoken" value="\([0-9a-f]*\)".*/\1/p' "$T/b" | head -1)
is "${#CSRF}" 64 "the page carries a CSRF token"

# --- the aggregated table --------------------------------------------------------------------------------
is "$(g '/ops/telemetry/?tenant_slug=acme&bucket=5m&limit=50')" 200 "telemetry list: 200"
total=$(tsk query buckets --tenant acme --bucket 5m --limit 100000 | wc -l)
like "$(cat "$T/b")" "data-total=\"$total\"" "total = tsk-query's row count ($total)"
is "$(grep -c 'class="drill"' "$T/b")" 50 "50 rows on the page, each with its drill-down link"
like "$(cat "$T/b")" 'id="next" href="/ops/telemetry/\?tenant_slug=acme&amp;bucket=5m&amp;limit=50&amp;offset=50"' "a next page"
g '/ops/telemetry/?tenant_slug=acme&bucket=1h&limit=1000' >/dev/null
tsk query buckets --tenant acme --bucket 1h --format csv | sed 1d | tr -d '\r' | grep -v script | awk -F, '{printf "%s|%.2f|%s\n", $2 "/" $3, $4, $8}' | sort >"$T/want"
perl -ne 'print "$1/$2|$3|$4\n" while /<tr><td>[^<]*<\/td><td>([^<]*)<\/td><td>([^<]*)<\/td><td class="n">([^<]*)<\/td>(?:<td class="n">[^<]*<\/td>){3}<td class="n">(\d+)</g' "$T/b" | grep -v 'script' | sort >"$T/got"
diff "$T/want" "$T/got" >"$T/diff"
ok $? "1h buckets: every avg and count equal to tsk-query buckets' ($(wc -l <"$T/got") rows)"

# --- validation, the original's messages ----------------------------------------------------------------
bad() { g "$1" >/dev/null; printf '%s %s' "$(cat "$T/h" | head -1 | cut -d' ' -f2)" "$(cat "$T/b")"; }
is "$(bad '/ops/telemetry/?tenant_slug=acme&limit=5000')" "400 Invalid parameters: limit: Ensure this value is less than or equal to 1000." "limit 5000: 400"
is "$(bad '/ops/telemetry/?tenant_slug=acme&limit=0')" "400 Invalid parameters: limit: Ensure this value is greater than or equal to 1." "limit 0: 400"
is "$(bad '/ops/telemetry/?tenant_slug=acme&limit=99999999999999999999999')" "400 Invalid parameters: limit: Enter a whole number." "a huge number: 400"
is "$(bad '/ops/telemetry/?tenant_slug=acme&from_timestamp=yesterday')" "400 Invalid parameters: from_timestamp: Enter a valid date/time." "a bad date: 400"
is "$(bad '/ops/telemetry/?tenant_slug=acme&to_timestamp=2025-13-45T99:00:00Z')" "400 Invalid parameters: to_timestamp: Enter a valid date/time." "an impossible date: 400"
is "$(bad '/ops/telemetry/?tenant_slug=acme&bucket=2m')" "400 Invalid parameters: bucket: Select a valid choice. 2m is not one of the available choices." "bucket 2m: 400"
is "$(bad '/ops/telemetry/?bucket=1m')" "400 Invalid parameters: tenant_slug: This field is required." "no tenant: 400"
is "$(bad '/ops/telemetry/?tenant_slug=nope')" "400 Tenant 'nope' not found" "unknown tenant: 400"
like "$(bad "/ops/telemetry/?tenant_slug=acme%27%3B%20DROP%20TABLE%20public.tenant%3B--")" "^400 Invalid parameters: tenant_slug: Enter a valid" "injection in tenant_slug: 400"
is "$(g "/ops/telemetry/?tenant_slug=acme&device_id=d1%27%20OR%20%271%27%3D%271&sensor_id=t%22%3B--&from_timestamp=&bucket=1h")" 200 "injection in device_id and sensor_id: sanitized, 200"
like "$(cat "$T/b")" 'value="d1OR11"' "the original's sanitizer: only [A-Za-z0-9_.-] kept"
like "$(cat "$T/b")" 'id="empty"' "and no rows match"
is "$(q "SELECT count(*) FROM public.tenant")" 1 "the tenant table is intact"

# --- XSS payloads in the data are rendered escaped -------------------------------------------------------
g '/ops/telemetry/?tenant_slug=acme&bucket=1d' >/dev/null
like "$(cat "$T/b")" '&lt;script&gt;alert\(1\)&lt;/script&gt;' "a device id holding <script> is escaped"
ok "$(grep -c '<script>alert' "$T/b" | grep -qx 0; echo $?)" "and never written raw"
ok "$(grep -c '<img src=x' "$T/b" | grep -qx 0; echo $?)" "nor the sensor id's <img>"
like "$(hdr Content-Security-Policy)" "script-src 'self'" "a CSP forbids inline scripts anyway"
g "/ops/telemetry/drilldown/?tenant_slug=acme&sensor_id=x%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(2)%3E" >/dev/null
ok "$(grep -c '<img src=x' "$T/b" | grep -qx 0; echo $?)" "drill-down: the sensor id from the URL escaped (and sanitized)"
g "/ops/telemetry/?tenant_slug=acme&device_id=%3Cscript%3E" >/dev/null
ok "$(grep -c '<script>' "$T/b" | grep -qx 0; echo $?)" "a <script> typed into a filter is not echoed"

# --- drill-down -----------------------------------------------------------------------------------------
is "$(bad '/ops/telemetry/drilldown/?tenant_slug=acme')" "400 tenant_slug and sensor_id are required" "drill-down without sensor: 400"
is "$(g '/ops/telemetry/drilldown/?tenant_slug=acme&device_id=d1&sensor_id=t&limit=5000')" 200 "drill-down, limit 5000 clamped: 200"
is "$(grep -c '<tr><td>2025' "$T/b")" 100 "all 100 readings of d1/t (the limit clamped to 1000)"
like "$(cat "$T/b")" 'id="stat-count">100<' "stats over the whole filter"
g '/ops/telemetry/drilldown/?tenant_slug=acme&device_id=d1&sensor_id=t&limit=7' >/dev/null
is "$(grep -c '<tr><td>2025' "$T/b")" 7 "limit 7: the newest 7 readings"
like "$(cat "$T/b")" 'id="stat-count">100<' "the stats still over all 100"
want=$(q "SELECT round(avg(value)::numeric, 4) FROM acme.reading WHERE device_id = 'd1' AND sensor_id = 't'")
like "$(cat "$T/b")" "id=\"stat-avg\">$want<" "the average is the database's ($want)"

# --- chart JSON -----------------------------------------------------------------------------------------
is "$(bad '/ops/api/chart-data/?tenant_slug=acme')" '400 {"error":"tenant_slug and sensor_ids are required"}' "chart-data without sensors: 400"
is "$(bad '/ops/api/chart-data/?tenant_slug=acme&sensor_ids=a,b,c,d,e,f,g,h,i,j,k')" '400 {"error":"Maximum 10 sensors allowed"}' "11 sensors: 400"
is "$(bad '/ops/api/chart-data/?tenant_slug=nope&sensor_ids=t')" "404 {\"error\":\"Tenant 'nope' not found\"}" "unknown tenant: 404"
is "$(g '/ops/api/chart-data/?tenant_slug=acme&sensor_ids=t,h&bucket=bogus&limit=5000')" 200 "chart-data: 200 (bad bucket falls back to 5m)"
is "$(jq -c '[.tenant.slug, .bucket, (.datasets | map(.sensor_id)), (.datasets[0].data | length), .datasets[0].data[0].count]' "$T/b")" \
	'["acme","5m",["t","h"],20,10]' "the original's shape: 20 5-minute points of t, 10 readings each (two devices merged)"

# --- synchronous CSV ------------------------------------------------------------------------------------
post() { st -b "$J" "$@"; }
is "$(post --data "tenant_slug=acme&bucket=1h" "$HTTPD_URL/ops/telemetry/export/")" 403 "CSV export without a CSRF token: 403"
is "$(post --data "tenant_slug=acme&bucket=1h&csrfmiddlewaretoken=$(printf '0%.0s' {1..64})" "$HTTPD_URL/ops/telemetry/export/")" 403 "with a wrong one: 403"
is "$(post --data "tenant_slug=acme&bucket=1h&csrfmiddlewaretoken=$CSRF" "$HTTPD_URL/ops/telemetry/export/")" 200 "with the page's token: 200"
like "$(hdr Content-Type)" '^text/csv' "text/csv"
like "$(hdr Content-Disposition)" '^attachment; filename="telemetry_acme_[0-9]{8}_[0-9]{6}\.csv"$' "the original's file name"
is "$(head -1 "$T/b")" $'bucket,device_id,sensor_id,avg,min,max,last,count\r' "the original's header, CRLF"
like "$(sed -n 2p "$T/b")" '^2025-10-18T00:00:00\+00:00,<script>alert\(1\)</script>,"x""><img src=x onerror=alert\(2\)>",1\.00,1\.00,1\.00,1\.00,1'$'\r''$' \
	"rows newest first, the original's layout, quotes doubled"
is "$(($(wc -l <"$T/b") - 1))" "$(tsk query buckets --tenant acme --bucket 1h --limit 100000 | wc -l)" "every 1h row"
post --data "tenant_slug=acme&bucket=1m&csrfmiddlewaretoken=$CSRF" "$HTTPD_URL/ops/telemetry/export/" >/dev/null
is "$(($(wc -l <"$T/b") - 1))" 401 "1m: all 401 rows, one CSV line each"
is "$(post --data "tenant_slug=acme&limit=10001&csrfmiddlewaretoken=$CSRF" "$HTTPD_URL/ops/telemetry/export/")" 400 "limit over 10 000: 400"
q "INSERT INTO acme.reading (device_id, sensor_id, ts, value) VALUES ('=cmd|''/c calc''!A1', '@sum', '2025-10-19T00:00:00Z', 2)" >/dev/null
post --data "tenant_slug=acme&bucket=1d&csrfmiddlewaretoken=$CSRF" "$HTTPD_URL/ops/telemetry/export/" >/dev/null
is "$(sed -n 2p "$T/b" | cut -d, -f2,3)" "\"'=cmd|'/c calc'!A1\",\"'@sum\"" "formula cells are defused for spreadsheets"

# --- stale CSRF: a token of an earlier session is refused --------------------------------------------------
OLD=$CSRF
is "$(post --data "csrfmiddlewaretoken=$OLD" "$HTTPD_URL/ops/logout/")" 302 "logout: 302"
is "$(hdr Location)" /ops/login/ "to the login page"
is "$(g /ops/)" 302 "the old session cookie no longer works (revoked)"
login_as ops@localhost.local >/dev/null
is "$(post --data "tenant_slug=acme&csrfmiddlewaretoken=$OLD" "$HTTPD_URL/ops/telemetry/export/")" 403 "a new session refuses the old session's token"
is "$(g /ops/exports/)" 200 "exports page: 200"
is "$(post --data "tenant_slug=acme&csrfmiddlewaretoken=$OLD" "$HTTPD_URL/ops/exports/request/")" 403 "export job request with a stale token: 403"
is "$(q "SELECT count(*) FROM public.export_job")" 0 "no job was created"
is "$(st -b "$J" -X DELETE "$HTTPD_URL/ops/")" 405 "a wrong method: 405"

# --- export jobs: request, the owner's list, cancel; another staff user sees none, a superuser all ---------
g /ops/ >/dev/null
CSRF=$(sed -n 's/.*name="csrfmiddlewaretoken" value="\([0-9a-f]*\)".*/\1/p' "$T/b" | head -1)
# (no S3 store is configured here, so the job stays pending: the browser test 81 runs one to the end)
is "$(post --data "tenant_slug=acme&sensor_id=t&from_timestamp=2025-10-17T00:00:00Z&csrfmiddlewaretoken=$CSRF" "$HTTPD_URL/ops/exports/request/")" 302 "export job requested: 302"
JOB=$(q "SELECT id FROM public.export_job")
is "$(hdr Location)" "/ops/exports/?msg=Export+$JOB+requested" "to the list, with a message"
is "$(q "SELECT status || '|' || (params->>'sensor_id') || '|' || (params->>'from') || '|' || requested_by FROM public.export_job")" \
	"pending|t|2025-10-17T00:00:00Z|ops@localhost.local" "a pending job row with the filter and its owner"
g /ops/exports/ >/dev/null
like "$(cat "$T/b")" "<tr id=\"job-$JOB\" data-status=\"pending\">" "the owner's list shows it"
is "$(g "/ops/exports/$JOB/download/")" 302 "download of a job not completed: 302"
is "$(hdr Location)" "/ops/exports/?msg=Export+not+available+for+download" "back to the list"
echo "$PW" | tsk tenant user add other@localhost.local --staff >/dev/null
echo "$PW" | tsk tenant user add root@localhost.local --superuser >/dev/null
OWN=$J
J=$T/jar2; login_as other@localhost.local >/dev/null; OTHER=$J
g /ops/exports/ >/dev/null
ok "$(grep -q "job-$JOB" "$T/b"; [ $? = 1 ]; echo $?)" "another staff user does not see the job"
CSRF2=$(sed -n 's/.*name="csrfmiddlewaretoken" value="\([0-9a-f]*\)".*/\1/p' "$T/b" | head -1)
post --data "csrfmiddlewaretoken=$CSRF2" "$HTTPD_URL/ops/exports/$JOB/cancel/" >/dev/null
is "$(hdr Location)" "/ops/exports/?msg=Export+not+found" "nor cancel it"
is "$(q "SELECT status FROM public.export_job")" pending "the job is still pending"
J=$T/jar3; login_as root@localhost.local >/dev/null
g /ops/exports/ >/dev/null
like "$(cat "$T/b")" "job-$JOB" "a superuser sees every job"
J=$OWN
is "$(post --data "csrfmiddlewaretoken=$CSRF" "$HTTPD_URL/ops/exports/$JOB/cancel/")" 302 "the owner cancels: 302"
is "$(q "SELECT status || '|' || error || '|' || (finished_at IS NOT NULL) FROM public.export_job")" \
	"failed|Cancelado pelo usuário|true" "failed, 'Cancelado pelo usuário', with its time"
post --data "csrfmiddlewaretoken=$CSRF" "$HTTPD_URL/ops/exports/$JOB/cancel/" >/dev/null
is "$(hdr Location)" "/ops/exports/?msg=Only+pending+or+processing+exports+can+be+cancelled" "a finished job cannot be cancelled again"
is "$(st -b "$J" "$HTTPD_URL/ops/exports/$JOB/cancel/")" 405 "cancel by GET: 405"

# --- the audit log ---------------------------------------------------------------------------------------
is "$(q "SELECT string_agg(DISTINCT action, ',' ORDER BY action) FROM public.audit_log")" \
	"csrf_refused,export_async,export_cancel,export_csv,login,logout,view_chart,view_drilldown,view_list" "an audit row for each kind of action"
is "$(q "SELECT actor || '|' || tenant || '|' || record_count || '|' || (details->>'bucket') || '|' || host(ip_address) || '|' || (user_agent LIKE 'curl/%') || '|' || (execution_time_ms >= 0)
	FROM public.audit_log WHERE action = 'view_list' ORDER BY id LIMIT 1")" "ops@localhost.local|acme|$total|5m|127.0.0.1|true|true" \
	"who, tenant, rows, filters, address, agent, milliseconds"
is "$(tsk tenant audit --tenant acme --action export_csv | wc -l)" 3 "tsk-tenant audit: the 3 CSV exports"
is "$(tsk tenant audit --limit 1 | jq -r .action)" "$(q "SELECT action FROM public.audit_log ORDER BY id DESC LIMIT 1")" "newest first"
is "$(g /ops/audit/)" 200 "/ops/audit/: 200"
like "$(cat "$T/b")" '<td class="action">view_drilldown</td>' "lists the actions"
# failed staff logins are rate limited like the API's (5 per account, then one a minute)
PW=wrong-password
for i in 1 2 3 4 5; do login_as other@localhost.local >/dev/null; done
is "$(login_as other@localhost.local)" 429 "the 6th wrong password in a row: 429"
like "$(hdr Retry-After)" '^[0-9]+$' "with Retry-After"
ok "$(httpd_log_clean; echo $?)" "no sanitizer report in the daemon's log"
done_testing
