# A real SMTP server for the shell tests (sourced after tap.sh): smtp_start [--starttls|--tls] starts
# tests/lib/smtp_sink.py (Debian's python3-aiosmtpd, under /usr/bin/python3) on a free port, writing
# what it receives under $SMTP_DIR, and stops it at exit. --starttls and --tls use a self-signed
# certificate made here, $SMTP_CA (trust it with smtp_ca_file). Exports SMTP_PORT, SMTP_DIR, SMTP_PID.
# smtp_count: messages received so far; mail_json N: message N (1-based) as JSON (tests/lib/mail_read.py).
smtp_start() {
	local mode=${1:-} try
	SMTP_DIR=$T/smtp.$RANDOM
	mkdir -p "$SMTP_DIR"
	local tls=()
	if [ -n "$mode" ]; then
		SMTP_CA=$SMTP_DIR/cert.pem
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
			-addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
			-keyout "$SMTP_DIR/key.pem" -out "$SMTP_CA" 2>/dev/null || return 1
		tls=("$mode" "$SMTP_CA" "$SMTP_DIR/key.pem")
		export SMTP_CA
	fi
	for try in 1 2 3; do
		SMTP_PORT=$(tsk_free_port)
		/usr/bin/python3 "$TSK_ROOT/tests/lib/smtp_sink.py" "$SMTP_DIR" "$SMTP_PORT" "${tls[@]}" "${@:2}" \
			2>>"$SMTP_DIR/log" &
		SMTP_PID=$!
		if wait_for 20 smtp_ready; then
			export SMTP_PORT SMTP_DIR SMTP_PID
			at_exit smtp_stop
			return 0
		fi
		kill "$SMTP_PID" 2>/dev/null
		wait "$SMTP_PID" 2>/dev/null
	done
	return 1
}
smtp_ready() { kill -0 "$SMTP_PID" 2>/dev/null && [ -f "$SMTP_DIR/ready" ]; }
smtp_stop() {
	[ -n "${SMTP_PID:-}" ] || return 0
	kill "$SMTP_PID" 2>/dev/null
	wait "$SMTP_PID" 2>/dev/null
	SMTP_PID=
}
smtp_count() { ls "$SMTP_DIR" | grep -c '\.eml$'; }
mail_json() { /usr/bin/python3 "$TSK_ROOT/tests/lib/mail_read.py" "$SMTP_DIR/$(printf '%06d' "$1").eml"; }

# A real HTTP receiver for signed webhooks (tests/lib/webhook_sink.py): hook_start SECRET [PORT] starts
# it (on PORT, or a free one), exports HOOK_PORT, HOOK_DIR, HOOK_PID; hook_count: requests recorded;
# hook_json N: request N as JSON. touch $HOOK_DIR/fail to answer 500, $HOOK_DIR/hold to hold requests.
hook_start() {
	local secret=$1 port=${2:-}
	HOOK_DIR=${HOOK_DIR:-$T/hook.$RANDOM}
	mkdir -p "$HOOK_DIR"
	rm -f "$HOOK_DIR/ready"
	HOOK_PORT=${port:-$(tsk_free_port)}
	/usr/bin/python3 "$TSK_ROOT/tests/lib/webhook_sink.py" "$HOOK_DIR" "$HOOK_PORT" "$secret" 2>>"$HOOK_DIR/log" &
	HOOK_PID=$!
	export HOOK_PORT HOOK_DIR HOOK_PID
	at_exit hook_stop
	wait_for 20 hook_ready
}
hook_ready() { kill -0 "$HOOK_PID" 2>/dev/null && [ -f "$HOOK_DIR/ready" ]; }
hook_stop() {
	[ -n "${HOOK_PID:-}" ] || return 0
	kill "$HOOK_PID" 2>/dev/null
	wait "$HOOK_PID" 2>/dev/null
	HOOK_PID=
}
hook_count() { ls "$HOOK_DIR" | grep -c '^[0-9]*\.json$'; }
hook_json() { cat "$HOOK_DIR/$(printf '%06d' "$1").json"; }
