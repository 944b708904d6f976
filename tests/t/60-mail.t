#!/bin/bash
# The mail module (lib/notify/mail.c) against a real SMTP server (Debian's python3-aiosmtpd, started
# here): `tsk-tenant mail test` over plain SMTP, STARTTLS and SMTPS; what arrives (envelope, decoded
# Portuguese subject as RFC 2047 words, both parts); refusals (no smtp_url, a bad URL, an address or
# name with a line break, an untrusted certificate, STARTTLS required, a server that is down or refuses).
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/smtp.sh"
export TSK_CONFIG=/dev/null TSK_MAIL_FROM='TrakSense Alertas <alertas@traksense.test>'
mail() { "$TSK_BUILD/tsk-tenant" mail "$@" 2>"$T/err"; }

# --- configuration ---------------------------------------------------------------------------------
out=$(env -u TSK_SMTP_URL "$TSK_BUILD/tsk-tenant" mail test a@b.test 2>&1)
is $? 2 "no smtp_url: exit 2"
like "$out" 'tsk-tenant: no smtp_url' "and says so in one line"
TSK_SMTP_URL=http://127.0.0.1:1 mail test a@b.test
is $? 2 "an smtp_url that is not SMTP: exit 2"
like "$(cat "$T/err")" 'smtp_url must start with smtp://' "and says which schemes work"
TSK_SMTP_URL=smtp://127.0.0.1:1 TSK_SMTP_TIMEOUT=0 mail test a@b.test
is $? 2 "smtp_timeout 0: exit 2"

# --- plain SMTP --------------------------------------------------------------------------------------
smtp_start
ok $? "the SMTP server runs"
export TSK_SMTP_URL=smtp://127.0.0.1:$SMTP_PORT
out=$(mail test joao@cliente.test --name 'João da Silva')
is $? 0 "mail test: sent"
is "$out" '{"sent":"joao@cliente.test","subject":"TrakSense: mensagem de teste (configuração de e-mail)"}' "and reported"
is "$(smtp_count)" 1 "one message arrived"
m=$(mail_json 1)
jf() { printf '%s' "$m" | /usr/bin/python3 -c "import json,sys; v=json.load(sys.stdin)$1; print(v if isinstance(v,str) else json.dumps(v, ensure_ascii=False))"; }
is "$(jf '["envelope"]["mail_from"]')" "alertas@traksense.test" "envelope sender: mail_from's address"
is "$(jf '["envelope"]["rcpt_tos"]')" '["joao@cliente.test"]' "envelope recipient"
is "$(jf '["envelope"]["tls"]')" false "plain SMTP: no TLS"
is "$(jf '["subject"]')" "TrakSense: mensagem de teste (configuração de e-mail)" "the subject decodes to the Portuguese text"
like "$(jf '["raw_subject"][0]')" '^Subject: =\?UTF-8\?B\?' "sent as RFC 2047 encoded words"
long=$(printf '%s' "$m" | /usr/bin/python3 -c "import json,sys; print(max(len(l) for l in json.load(sys.stdin)['raw_subject']))")
ok $([ "$long" -le 78 ] && echo 0 || echo 1) "no Subject line longer than 78 characters ($long)"
is "$(jf '["from"]')" "TrakSense Alertas <alertas@traksense.test>" "From with the sender's name"
is "$(jf '["to"]')" "João da Silva <joao@cliente.test>" "To with a non-ASCII name"
is "$(jf '["content_type"]')" "multipart/alternative" "multipart/alternative"
like "$(jf '["text"]')" '^Esta é uma mensagem de teste do TrakSense\.' "the plain-text part"
like "$(jf '["html"]')" '^<p>Esta é uma mensagem de teste do <b>TrakSense</b>\.</p>' "the HTML part"
is "$(jf '["defects"]')" 0 "Python's email parser finds no defect"
like "$(jf '["message_id"]')" '^<[0-9a-f]{24}\.tsk@traksense\.test>$' "a Message-ID on the sender's domain"

# --- no header injection ---------------------------------------------------------------------------
mail test $'x@y.test\r\nBcc: evil@z.test'
is $? 2 "an address with a line break: exit 2"
mail test ok@y.test --name $'Nome\r\nBcc: evil@z.test'
is $? 2 "a name with a line break: exit 2"
like "$(cat "$T/err")" 'line break' "and says why"
mail test 'not an address'
is $? 2 "not an address: exit 2"
is "$(smtp_count)" 1 "nothing more was sent"
smtp_stop

# --- the server is down or refuses --------------------------------------------------------------------
mail test joao@cliente.test
is $? 75 "server down: exit 75 (try again later)"
like "$(cat "$T/err")" 'SMTP to <joao@cliente.test>' "and says what failed"
smtp_start "" --refuse
TSK_SMTP_URL=smtp://127.0.0.1:$SMTP_PORT mail test joao@cliente.test
is $? 75 "the server answers 451: exit 75"
like "$(cat "$T/err")" '451' "with the server's code"
smtp_stop

# --- STARTTLS ---------------------------------------------------------------------------------------------
smtp_start --starttls
ok $? "an SMTP server that requires STARTTLS runs"
TSK_SMTP_URL=smtp://127.0.0.1:$SMTP_PORT mail test joao@cliente.test
rc=$?; ok $([ $rc -ne 0 ] && echo 0 || echo 1) "plain smtp:// to it: refused (the server wants STARTTLS; exit $rc)"
TSK_SMTP_URL=smtp+starttls://127.0.0.1:$SMTP_PORT mail test joao@cliente.test
rc=$?; ok $([ $rc -ne 0 ] && echo 0 || echo 1) "smtp+starttls:// with an untrusted certificate: refused (exit $rc)"
is "$(smtp_count)" 0 "nothing arrived so far"
TSK_SMTP_URL=smtp+starttls://127.0.0.1:$SMTP_PORT TSK_SMTP_CA_FILE=$SMTP_CA mail test joao@cliente.test
is $? 0 "smtp+starttls:// trusting the server's CA: sent"
m=$(mail_json 1)
is "$(jf '["envelope"]["tls"]')" true "under TLS"
is "$(jf '["subject"]')" "TrakSense: mensagem de teste (configuração de e-mail)" "the same message"
smtp_stop

# --- SMTPS ------------------------------------------------------------------------------------------------
smtp_start --tls
ok $? "an SMTPS server runs"
TSK_SMTP_URL=smtps://127.0.0.1:$SMTP_PORT TSK_SMTP_CA_FILE=$SMTP_CA mail test joao@cliente.test
is $? 0 "smtps:// trusting the server's CA: sent"
m=$(mail_json 1)
is "$(jf '["envelope"]["tls"]')" true "under TLS from the first byte"
is "$(jf '["envelope"]["rcpt_tos"]')" '["joao@cliente.test"]' "to the recipient"
smtp_stop

done_testing
