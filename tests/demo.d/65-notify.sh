# make demo, step 6b: the alert notifier as a service (systemd/tsk-alert-notify.service runs the same
# command): every 5 s it delivers what the outbox holds, e-mail through the SMTP sink. Stopped by
# make demo-stop.
say "tsk-alert notify (the notifier, in the background; log var/notify.log)"
if [ -f "$VAR/notify.pid" ] && kill -0 "$(cat "$VAR/notify.pid")" 2>/dev/null; then
	echo "already running (pid $(cat "$VAR/notify.pid"))"
else
	"$B/tsk-alert" notify </dev/null >>"$VAR/notify.log" 2>&1 &
	echo $! >"$VAR/notify.pid"
	echo "started (pid $(cat "$VAR/notify.pid"))"
fi
