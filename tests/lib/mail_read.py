#!/usr/bin/python3
# Prints one message received by smtp_sink.py as a JSON object: from, to, subject (decoded), date,
# message_id, content_type, text and html (the decoded parts, or null), and the envelope.
#   mail_read.py DIR/N.eml
import email, email.policy, json, sys

path = sys.argv[1]
with open(path, "rb") as f:
    msg = email.message_from_binary_file(f, policy=email.policy.default)
env = json.load(open(path[:-4] + ".json"))
text = html = None
for part in msg.walk():
    ct = part.get_content_type()
    if ct == "text/plain" and text is None:
        text = part.get_content()
    elif ct == "text/html" and html is None:
        html = part.get_content()
# The Subject header as sent (with its continuation lines), to check the encoding itself.
raw = open(path, "rb").read().decode("ascii", "replace").split("\r\n\r\n")[0].split("\r\n")
raw_subject, on = [], False
for line in raw:
    if line.startswith("Subject:"):
        on = True
    elif not line.startswith((" ", "\t")):
        on = False
    if on:
        raw_subject.append(line)
print(json.dumps({"from": str(msg["From"]), "to": str(msg["To"]), "subject": str(msg["Subject"]),
                  "raw_subject": raw_subject,
                  "date": str(msg["Date"]), "message_id": str(msg["Message-ID"]),
                  "content_type": msg.get_content_type(), "text": text, "html": html,
                  "defects": len(msg.defects), "envelope": env}, ensure_ascii=False))
