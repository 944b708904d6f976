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
