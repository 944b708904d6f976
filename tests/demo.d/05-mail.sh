# make demo, step 0: a local SMTP sink (tests/lib/smtp_sink.py, Debian's python3-aiosmtpd) under
# var/mail, so that invites and alert e-mails really go out; step 95 shows what it received.
say "SMTP sink (var/mail: every message it receives, as N.eml)"
if [ -f "$VAR/smtp.pid" ] && kill -0 "$(cat "$VAR/smtp.pid")" 2>/dev/null && [ -f "$VAR/smtp.port" ]; then
	echo "already running (pid $(cat "$VAR/smtp.pid"), port $(cat "$VAR/smtp.port"))"
else
	mkdir -p "$VAR/mail"
	rm -f "$VAR/mail/ready"
	tsk_free_port >"$VAR/smtp.port"
	/usr/bin/python3 tests/lib/smtp_sink.py "$VAR/mail" "$(cat "$VAR/smtp.port")" </dev/null >>"$VAR/smtp.log" 2>&1 &
	echo $! >"$VAR/smtp.pid"
	until_ok 20 test -f "$VAR/mail/ready" || echo "(the SMTP sink did not start: see var/smtp.log)"
	echo "started (pid $(cat "$VAR/smtp.pid"), port $(cat "$VAR/smtp.port"))"
fi
# The tools read these as smtp_url, mail_from and frontend_url (tsk.conf(5)).
export TSK_SMTP_URL=smtp://127.0.0.1:$(cat "$VAR/smtp.port")
export TSK_MAIL_FROM='TrakSense <noreply@traksense.localhost>'
export TSK_FRONTEND_URL=http://umc.localhost:5173
say "tsk-tenant invite add umc tech@umc.localhost --role technician (mailed with its accept link)"
if "$B/tsk-tenant" invite list umc 2>/dev/null | grep -q '"email":"tech@umc.localhost"'; then
	echo "already invited"
else
	"$B/tsk-tenant" invite add umc tech@umc.localhost --role technician | sed 's/"token":"[^"]*"/"token":"…"/'
fi
# . var/demo.env gives the pipelines the same mail settings.
grep -q TSK_SMTP_URL "$ENVF" 2>/dev/null ||
	echo "export TSK_SMTP_URL=$TSK_SMTP_URL TSK_MAIL_FROM='$TSK_MAIL_FROM' TSK_FRONTEND_URL=$TSK_FRONTEND_URL" >>"$ENVF"
