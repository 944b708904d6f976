# make demo, step 9: what the SMTP sink received (the invite, the alert), subject and first lines.
say "mail received by the SMTP sink (var/mail)"
n=0
for m in "$VAR"/mail/*.eml; do
	[ -f "$m" ] || continue
	n=$((n + 1))
	/usr/bin/python3 tests/lib/mail_read.py "$m" | /usr/bin/python3 -c '
import json, sys
m = json.load(sys.stdin)
print("  To: %s\n  Subject: %s" % (m["to"], m["subject"]))
for line in [l for l in (m["text"] or "").splitlines() if l.strip()][:3]:
    print("    " + line)
print()'
done
[ "$n" -gt 0 ] || echo "  (none yet)"
