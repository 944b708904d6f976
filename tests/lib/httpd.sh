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
# the header out. Prints "STATUS BODY". Recorded like call (for openapi_check).
ingest() {
	local token=$1 tenant=$2 body=$3
	shift 3
	local h=(-H 'Content-Type: application/json')
	# (curl drops a header given with an empty value; "name;" sends it empty)
	if [ -z "$token" ]; then h+=(-H "x-device-token;"); elif [ "$token" != - ]; then h+=(-H "x-device-token: $token"); fi
	[ "$tenant" = - ] || h+=(-H "x-tenant: $tenant")
	call POST localhost /ingest "${h[@]}" --data-binary "$body" "$@"
	printf '%s %s' "$API_STATUS" "$API_BODY"
}
# noid: a 202 body without its "id" (the archive row's id, which depends on what came before).
noid() { sed -E 's/^(202 \{"status":"accepted"),"id":[0-9]+,/\1,/'; }
# get PATH [CURL ARGS...]: GET on the public host; prints "STATUS BODY". Recorded like call.
get() {
	call GET localhost "$@"
	printf '%s %s' "$API_STATUS" "$API_BODY"
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
# call METHOD HOST PATH [CURL ARGS...]: one request; sets API_STATUS and API_BODY (and API_REC, the
# record's name without .body or .meta), the answer's headers are in $T/api.hdr. Every exchange is
# recorded under $T/api.log/ (MICROSECONDS-PID.meta: method, path without the query, status, content
# type, tab-separated; .body; .hdr) for openapi_check, which checks each against the OpenAPI document. Calls may run at once (in the background): each
# has files of its own. (Commands as "command X": a test may define a function named cp or the like.)
call() {
	local m=$1 host=$2 path=$3 n line ct=
	shift 3
	[ -d "$T/api.log" ] || command mkdir -p "$T/api.log"
	# Named by the time in microseconds and the shell's pid: in order, and apart for calls run at once.
	n=${EPOCHREALTIME/./}-$BASHPID
	: >"$T/api.log/$n.body"
	API_STATUS=$(command curl -s -o "$T/api.log/$n.body" -D "$T/api.log/$n.hdr" -w '%{http_code}' -X "$m" -H "Host: $host" "$@" "$HTTPD_URL$path")
	# (a binary body's NUL bytes, which a shell variable cannot hold, are left out)
	API_BODY=$(command tr -d '\000' <"$T/api.log/$n.body")
	API_REC=$T/api.log/$n
	command cp "$T/api.log/$n.hdr" "$T/api.hdr" 2>/dev/null || : >"$T/api.hdr"
	# HEAD is sent with -X HEAD or -I; the last Content-Type (after any 100 Continue) is the answer's.
	case " $* " in *" -I "*|*" --head "*) m=HEAD ;; esac
	# (from this call's own headers: calls run at once share $T/api.hdr)
	[ ! -f "$T/api.log/$n.hdr" ] || while IFS= read -r line; do
		case ${line,,} in content-type:*) ct=${line#*:}; ct=${ct# }; ct=${ct%$'\r'} ;; esac
	done <"$T/api.log/$n.hdr"
	printf '%s\t%s\t%s\t%s\n' "$m" "${path%%\?*}" "$API_STATUS" "$ct" >"$T/api.log/$n.meta"
}

# openapi_check [LOGDIR...]: one TAP line: every exchange recorded by call (and ingest, get) under
# $T/api.log (or under the LOGDIRs) is in the OpenAPI document (lib/http/openapi.json) — its path, method
# and status — with a declared content type and, for JSON, a body valid against the response's schema
# (tests/lib/openapi-check.mjs). Each failure follows as a "# " line. Call it before done_testing.
openapi_check() {
	local dirs=("$@") out rc n
	[ ${#dirs[@]} -gt 0 ] || dirs=("$T/api.log")
	out=$(openapi_node check "${dirs[@]}")
	rc=$?
	n=$(printf '%s\n' "$out" | sed -n 's/^SUMMARY\t\([0-9]*\)\t.*/\1/p')
	ok $rc "OpenAPI: the ${n:-?} answers recorded match lib/http/openapi.json"
	printf '%s\n' "$out" | grep -v '^SUMMARY' | sed 's/^/# /'
	return $rc
}
# openapi_node check|validate ARGS...: the checker, on the npm packages of tests/openapi (installed on
# first use when make deps has not: tests/npm-deps.sh).
openapi_node() {
	local cmd=$1
	shift
	. "$TSK_ROOT/tests/npm-deps.sh"
	npm_install openapi >&2 || { printf 'FAIL\tthe npm packages of tests/openapi are not installed (make deps)\nSUMMARY\t0\t1\n'; return 2; }
	TSK_OPENAPI_MODULES="$(npm_dir openapi)/node_modules" node "$TSK_ROOT/tests/lib/openapi-check.mjs" "$cmd" \
		"${TSK_OPENAPI_DOC:-$TSK_ROOT/lib/http/openapi.json}" "$@" 2>&1
}
# api METHOD HOST PATH [CURL ARGS...]: prints "STATUS BODY"; the answer's headers are in $T/hdr, its body
# in $T/body. Through call: recorded for openapi_check.
api() {
	call "$@"
	command cp "$T/api.hdr" "$T/hdr"
	command cp "$API_REC.body" "$T/body"
	printf '%s %s' "$API_STATUS" "$API_BODY"
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
