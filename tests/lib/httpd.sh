# tsk-httpd for the shell tests (sourced after tap.sh): httpd_start [ARGS...] starts the daemon on a free
# port with a spool of its own under $T, waits until /health answers, and stops it at exit.
# Exports HTTPD_PORT, HTTPD_URL, HTTPD_PID; its stderr (log and access log) is $T/httpd.log.
# TSK_JWT_SECRET (the daemon refuses to start without one) defaults to a fixed test value.
: "${TSK_JWT_SECRET:=test-jwt-secret-0123456789abcdef-0123456789}"
export TSK_JWT_SECRET
httpd_start() {
	local try
	for try in 1 2 3; do
		HTTPD_PORT=$(tsk_free_port)
		HTTPD_URL=http://127.0.0.1:$HTTPD_PORT
		# Not through the tsk function: $! must be the daemon itself, for kill and wait.
		${TSK_VALGRIND:+$TSK_VG} "$TSK_BUILD/tsk-httpd" --listen "127.0.0.1:$HTTPD_PORT" \
			--spool "${HTTPD_SPOOL:-$T/httpd-spool.db}" "$@" >>"$T/httpd.out" 2>>"$T/httpd.log" &
		HTTPD_PID=$!
		if wait_for 20 httpd_answers; then
			export HTTPD_PORT HTTPD_URL HTTPD_PID
			at_exit httpd_stop
			return 0
		fi
		kill -0 "$HTTPD_PID" 2>/dev/null && kill "$HTTPD_PID"
		wait "$HTTPD_PID" 2>/dev/null
	done
	return 1
}
# Any answer from /health, healthy or not, while the daemon's process is alive.
httpd_answers() {
	kill -0 "$HTTPD_PID" 2>/dev/null || return 1
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: localhost' "$HTTPD_URL/health")" != 000 ]
}
httpd_stop() {
	[ -n "${HTTPD_PID:-}" ] || return 0
	local rc
	kill -TERM "$HTTPD_PID" 2>/dev/null
	wait "$HTTPD_PID" 2>/dev/null
	rc=$?
	HTTPD_PID=
	return $rc
}
# ingest TOKEN TENANT BODY [CURL ARGS...]: POST /ingest on the public host; TOKEN or TENANT "-" leaves
# the header out. Prints "STATUS BODY".
ingest() {
	local token=$1 tenant=$2 body=$3 code
	shift 3
	local h=(-H 'Host: localhost' -H 'Content-Type: application/json')
	# (curl drops a header given with an empty value; "name;" sends it empty)
	if [ -z "$token" ]; then h+=(-H "x-device-token;"); elif [ "$token" != - ]; then h+=(-H "x-device-token: $token"); fi
	[ "$tenant" = - ] || h+=(-H "x-tenant: $tenant")
	local f=$T/resp.$BASHPID
	code=$(curl -s -o "$f" -w '%{http_code}' "${h[@]}" --data-binary "$body" "$@" "$HTTPD_URL/ingest")
	printf '%s %s' "$code" "$(cat "$f")"
}
# noid: a 202 body without its "id" (the archive row's id, which depends on what came before).
noid() { sed -E 's/^(202 \{"status":"accepted"),"id":[0-9]+,/\1,/'; }
# get PATH [CURL ARGS...]: GET on the public host; prints "STATUS BODY".
get() {
	local path=$1 code
	shift
	local f=$T/resp.$BASHPID
	code=$(curl -s -o "$f" -w '%{http_code}' -H 'Host: localhost' "$@" "$HTTPD_URL$path")
	printf '%s %s' "$code" "$(cat "$f")"
}

# ---- the tenant JSON API ---------------------------------------------------------------------------
# API_PW is every API test user's password.
API_PW='Dev@123456'
# api_user EMAIL [TENANT ROLE]: a user with password $API_PW, and a membership when TENANT is given.
api_user() {
	echo "$API_PW" | tsk tenant user add "$1" >/dev/null || return 1
	[ $# -lt 3 ] || tsk tenant member add "$2" "$1" --role "$3" >/dev/null
}
# api_token HOST EMAIL: prints an access token (a login on HOST, "host:port"), for -H "Authorization: Bearer ...".
api_token() {
	local hdr=$T/login.hdr.$BASHPID
	curl -s -o /dev/null -D "$hdr" -H "Host: $1" -H 'Content-Type: application/json' \
		--data-binary "{\"username_or_email\":\"$2\",\"password\":\"$API_PW\"}" "$HTTPD_URL/api/auth/login/" || return 1
	sed -n 's/^Set-Cookie: access_token=\([^;]*\);.*/\1/p' "$hdr" | tr -d '\r' | tail -1
}
# call METHOD HOST PATH [CURL ARGS...]: one request; sets API_STATUS and API_BODY, the answer's headers
# are in $T/api.hdr. Every exchange is recorded under $T/api.log/ (method, path without the query,
# status, content type, body) for openapi_check, which checks each against the OpenAPI document.
call() {
	local m=$1 host=$2 path=$3 n
	shift 3
	mkdir -p "$T/api.log"
	n=$(ls "$T/api.log" | wc -l)
	n=$(printf '%06d' "$n")
	API_STATUS=$(curl -s -o "$T/api.log/$n.body" -D "$T/api.hdr" -w '%{http_code}' -X "$m" -H "Host: $host" "$@" "$HTTPD_URL$path")
	API_BODY=$(cat "$T/api.log/$n.body")
	printf '%s\t%s\t%s\t%s\n' "$m" "${path%%\?*}" "$API_STATUS" \
		"$(sed -n 's/^Content-Type: *//Ip' "$T/api.hdr" | tr -d '\r' | tail -1)" >"$T/api.log/$n.meta"
}
# api METHOD HOST PATH [CURL ARGS...]: prints "STATUS BODY"; the answer's headers are in $T/hdr.
api() {
	local m=$1 host=$2 path=$3 code
	shift 3
	code=$(curl -s -o "$T/body" -D "$T/hdr" -w '%{http_code}' -X "$m" -H "Host: $host" "$@" "$HTTPD_URL$path")
	printf '%s %s' "$code" "$(cat "$T/body")"
}
# login HOST NAME PASSWORD [CURL ARGS...]: POST /api/auth/login/; cookie NAME: a cookie it set.
login() {
	local host=$1 body
	body=$(printf '{"username_or_email":"%s","password":"%s"}' "$2" "$3")
	shift 3
	api POST "$host" /api/auth/login/ -H 'Content-Type: application/json' --data-binary "$body" "$@"
}
cookie() { sed -n "s/^Set-Cookie: $1=\\([^;]*\\);.*/\\1/p" "$T/hdr" | tr -d '\r' | tail -1; }
# httpd_log_clean: no AddressSanitizer or UBSan report in the daemon's log (make asan).
httpd_log_clean() { ! grep -qE 'Sanitizer|runtime error:' "$T/httpd.log" 2>/dev/null; }
