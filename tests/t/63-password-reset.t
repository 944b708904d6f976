#!/bin/bash
# Password reset end to end, through tsk-httpd, PostgreSQL and a real SMTP server: request → mail with
# the link → validate → confirm → the new password logs in, the old one and every old token, cookie and
# API token of the user are refused; an unknown address gets the same answer and no mail; tokens are
# stored hashed, live an hour (an expired one is refused), serve once, and a new request replaces the
# older; passwords shorter than 8 (the original took 6), mismatched or weak are refused; tenant hosts
# mail their members only; hostile input.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
. "$(dirname "$0")/../lib/smtp.sh"
fresh_db t_pw_reset
tsk tenant create --slug umc --name UMC --domain umc.localhost >/dev/null
tsk tenant create --slug other --name Other --domain other.localhost >/dev/null
api_user ana@umc.localhost umc owner
api_user bob@umc.localhost umc viewer
api_user carla@umc.localhost umc operator
api_user dan@umc.localhost umc viewer
api_user staff@localhost.local

smtp_start
ok $? "the SMTP server runs"
TSK_SMTP_URL=smtp://127.0.0.1:$SMTP_PORT TSK_MAIL_FROM='TrakSense <noreply@traksense.test>' \
	TSK_FRONTEND_URL=https://app.traksense.test/ httpd_start --config /dev/null --workers 2
ok $? "tsk-httpd runs"
P=$HTTPD_PORT
UMC="umc.localhost:$P"
OTHER="other.localhost:$P"
PUB="localhost:$P"
R=/api/auth/password-reset

jget() { printf '%s' "$1" | /usr/bin/python3 -c "import json,sys; v=json.load(sys.stdin)$2; print(v if isinstance(v,str) else json.dumps(v, ensure_ascii=False))"; }
post() { local host=$1 path=$2 body=$3; shift 3; call POST "$host" "$path" -H 'Content-Type: application/json' --data-binary "$body" "$@"; }
mails() { smtp_count; }
mails_are() { [ "$(smtp_count)" -eq "$1" ]; }
# token_of N: the token in mail N's link.
token_of() { jget "$(mail_json "$1")" '["text"]' | sed -n 's|.*https://app.traksense.test/reset-password?token=\([A-Za-z0-9_-]*\).*|\1|p' | head -1; }
OKMSG='{"message":"Se o e-mail estiver cadastrado, você receberá um link para redefinir sua senha."}'

# --- request: a known address ------------------------------------------------------------------------
post "$UMC" $R/request/ '{"email":"  Ana@UMC.localhost "}'
is "$API_STATUS $API_BODY" "200 $OKMSG" "request: 200 with the original's message"
known="$API_STATUS $API_BODY"
wait_for 30 mails_are 1
ok $? "one mail arrived"
m=$(mail_json 1)
is "$(jget "$m" '["envelope"]["rcpt_tos"]')" '["ana@umc.localhost"]' "to the user's address (lowered, trimmed)"
is "$(jget "$m" '["subject"]')" "Redefinição de Senha - TrakSense" "subject"
is "$(jget "$m" '["content_type"]')" "multipart/alternative" "a text and an HTML part"
TOK=$(token_of 1)
like "$TOK" '^[A-Za-z0-9_-]{43}$' "the text part holds the link {frontend_url}/reset-password?token= with a 43-character token"
like "$(jget "$m" '["html"]')" "href=\"https://app.traksense.test/reset-password\\?token=$TOK\"" "the HTML part links to it too"
like "$(jget "$m" '["text"]')" 'válido por 1 hora' "and says it lasts an hour"
hash=$(printf '%s' "$TOK" | sha256sum | cut -c1-64)
is "$(q "SELECT count(*) FROM public.password_reset_token WHERE token_hash = '$hash'")" 1 "stored as its SHA-256"
is "$(q "SELECT count(*) FROM public.password_reset_token t WHERE t::text LIKE '%$TOK%'")" 0 "the token itself is stored nowhere"
is "$(q "SELECT round(extract(epoch FROM expires_at - created_at)) FROM public.password_reset_token WHERE token_hash = '$hash'")" 3600 \
	"it expires an hour after it was made"

# --- an unknown address: the same answer, no mail ------------------------------------------------------
post "$UMC" $R/request/ '{"email":"nobody@umc.localhost"}'
is "$API_STATUS $API_BODY" "$known" "unknown address: the very same status and body"
post "$UMC" $R/request/ '{"email":"x'"'"' OR '"'"'1'"'"'='"'"'1@umc.localhost"}'
is "$API_STATUS $API_BODY" "$known" "an address with SQL in it: the same answer"
post "$UMC" $R/request/ "{\"email\":\"$(head -c 5000 /dev/zero | tr '\0' a)@x.test\"}"
is "$API_STATUS $API_BODY" "$known" "a 5000-character address: the same answer"
post "$UMC" $R/request/ '{"email":"not an address"}'
is "$API_STATUS $API_BODY" "$known" "not an address: the same answer"
# The mailer takes requests in order: once a later known address has its mail, the ones before are done.
post "$UMC" $R/request/ '{"email":"dan@umc.localhost"}'
wait_for 30 mails_are 2
ok $? "a known address asked after them got its mail"
is "$(jget "$(mail_json 2)" '["envelope"]["rcpt_tos"]')" '["dan@umc.localhost"]' "and it is the only mail since: none for the unknown ones"

# --- validate ----------------------------------------------------------------------------------------
call GET "$UMC" "$R/validate/?token=$TOK"
is "$API_STATUS $API_BODY" '200 {"valid":true,"email":"ana@umc.localhost"}' "validate (GET): valid, with the address"
post "$UMC" $R/validate/ "{\"token\":\"$TOK\"}"
is "$API_STATUS $API_BODY" '200 {"valid":true,"email":"ana@umc.localhost"}' "validate (POST): the same"
call GET "$PUB" "$R/validate/?token=$TOK"
is "$API_STATUS" 200 "the link works on the public host too (one account, whichever site asked)"
call GET "$UMC" "$R/validate/"
is "$API_STATUS $API_BODY" '400 {"valid":false,"error":"Token não fornecido."}' "no token: 400"
call GET "$UMC" "$R/validate/?token=nope"
is "$API_STATUS $API_BODY" '400 {"valid":false,"error":"Token inválido."}' "unknown token: 400"
call GET "$UMC" "$R/validate/?token=$hash"
is "$API_STATUS $API_BODY" '400 {"valid":false,"error":"Token inválido."}' "the stored hash is no token"
call GET "$UMC" "$R/validate/?token=%27%20OR%201%3D1%20--"
is "$API_STATUS $API_BODY" '400 {"valid":false,"error":"Token inválido."}' "SQL in the token: unknown"

# --- sessions and tokens the reset must end -----------------------------------------------------------
post "$UMC" /api/auth/login/ "{\"username_or_email\":\"ana@umc.localhost\",\"password\":\"$API_PW\"}"
AT=$(sed -n 's/^Set-Cookie: access_token=\([^;]*\);.*/\1/p' "$API_REC.hdr" | tr -d '\r')
RT=$(sed -n 's/^Set-Cookie: refresh_token=\([^;]*\);.*/\1/p' "$API_REC.hdr" | tr -d '\r')
# (api_token, tests/lib/httpd.sh, logs in with plain curl: a login's answers are checked in 53-httpd-auth.t)
PUBAT=$(api_token "$PUB" ana@umc.localhost)
own=$(tsk tenant token add umc ana-script --role viewer | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
q "UPDATE public.api_token SET user_id = (SELECT id FROM public.app_user WHERE email = 'ana@umc.localhost') WHERE name = 'ana-script'" >/dev/null
tenants=$(tsk tenant token add umc grafana --role viewer | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
call GET "$UMC" /api/users/me/ -H "Authorization: Bearer $AT"
is "$API_STATUS" 200 "before: the access token works"
call GET "$UMC" /api/users/me/ -H "Authorization: Bearer $own"
is "$API_STATUS" 200 "before: the user's API token works"

# --- confirm: refusals ---------------------------------------------------------------------------------
confirm() { post "$1" $R/confirm/ "{\"token\":\"$2\",\"password\":\"$3\",\"password_confirm\":\"${4-$3}\"}"; }
confirm "$UMC" "$TOK" 'Abc-123'
is "$API_STATUS $API_BODY" '400 {"error":"A senha deve ter pelo menos 8 caracteres."}' "7 characters: refused"
confirm "$UMC" "$TOK" 'Ab-123'
is "$API_STATUS $API_BODY" '400 {"error":"A senha deve ter pelo menos 8 caracteres."}' "6 characters (the original took them): refused"
confirm "$UMC" "$TOK" 'Nova-Senha-2026!' 'Nova-Senha-2027!'
is "$API_STATUS $API_BODY" '400 {"error":"As senhas não coincidem."}' "mismatch: refused"
post "$UMC" $R/confirm/ "{\"token\":\"$TOK\",\"password\":\"Nova-Senha-2026!\"}"
is "$API_STATUS $API_BODY" '400 {"error":"Senha e confirmação são obrigatórias."}' "no confirmation: refused"
post "$UMC" $R/confirm/ '{"password":"Nova-Senha-2026!","password_confirm":"Nova-Senha-2026!"}'
is "$API_STATUS $API_BODY" '400 {"error":"Token não fornecido."}' "no token: refused"
confirm "$UMC" 'not-a-token' 'Nova-Senha-2026!'
is "$API_STATUS $API_BODY" '400 {"error":"Token inválido."}' "unknown token: refused"
confirm "$UMC" "$TOK" 'password123'
is "$API_STATUS $API_BODY" '400 {"error":"Esta senha é muito comum."}' "a common password: refused"
confirm "$UMC" "$TOK" '20262027202820'
is "$API_STATUS $API_BODY" '400 {"error":"Esta senha é inteiramente numérica."}' "all digits: refused"
confirm "$UMC" "$TOK" 'ana@umc.localhost'
is "$API_STATUS $API_BODY" '400 {"error":"A senha é muito parecida com endereço de email."}' "the address itself: refused"
post "$UMC" $R/confirm/ '{"token":'
like "$API_STATUS $API_BODY" '^400 \{"detail":"JSON parse error - ' "bad JSON: 400"
post "$UMC" $R/confirm/ '["a"]'
is "$API_STATUS" 400 "not an object: 400"
post "$UMC" $R/confirm/ "{\"token\":\"$TOK\",\"password\":\"$(head -c 2000 /dev/zero | tr '\0' x)y\",\"password_confirm\":\"$(head -c 2000 /dev/zero | tr '\0' x)y\"}"
is "$API_STATUS $API_BODY" '400 {"error":"A senha deve ter no máximo 1024 bytes."}' "a 2001-byte password: refused"
call GET "$UMC" "$R/validate/?token=$TOK"
is "$API_STATUS" 200 "after all that, the token is still unused"
is "$(q "SELECT password_gen FROM public.app_user WHERE email = 'ana@umc.localhost'")" 1 "and the password unchanged"

# --- confirm ------------------------------------------------------------------------------------------
NEW='Nova-Senha-2026!'
confirm "$UMC" "$TOK" "$NEW"
is "$API_STATUS $API_BODY" '200 {"message":"Senha redefinida com sucesso! Você já pode fazer login."}' "confirm: 200"
login() { post "$1" /api/auth/login/ "{\"username_or_email\":\"$2\",\"password\":\"$3\"}"; }
login "$UMC" ana@umc.localhost "$NEW"
like "$API_STATUS $API_BODY" '^200 \{"user":\{"id":[0-9]+,"username":"ana@umc.localhost"' "the new password logs in"
login "$UMC" ana@umc.localhost "$API_PW"
is "$API_STATUS $API_BODY" '400 {"username_or_email":["Credenciais inválidas."]}' "the old one does not"
call GET "$UMC" /api/users/me/ -H "Authorization: Bearer $AT"
is "$API_STATUS" 401 "the old access token (Bearer) is refused"
call GET "$UMC" /api/users/me/ -H "Cookie: access_token=$AT"
is "$API_STATUS" 401 "the old access cookie is refused"
call POST "$UMC" /api/auth/token/refresh/ -H "Cookie: refresh_token=$RT" -H "Origin: http://$UMC"
is "$API_STATUS" 401 "the old refresh cookie is refused"
call GET "$PUB" /api/users/me/ -H "Authorization: Bearer $PUBAT"
is "$API_STATUS" 401 "the old token of another site (the public one) is refused"
call GET "$UMC" /api/users/me/ -H "Authorization: Bearer $own"
is "$API_STATUS" 401 "the API token the user owns is revoked"
is "$(q "SELECT revoked_at IS NOT NULL FROM public.api_token WHERE name = 'ana-script'")" t "(revoked_at set)"
call GET "$UMC" /api/users/me/ -H "Authorization: Bearer $tenants"
is "$API_STATUS" 403 "a token of the tenant's own (no user) still authenticates: it is not the user's"

# --- single use -------------------------------------------------------------------------------------------
call GET "$UMC" "$R/validate/?token=$TOK"
is "$API_STATUS $API_BODY" '400 {"valid":false,"error":"Este link já foi utilizado. Solicite uma nova redefinição de senha."}' \
	"validate a used token: 400"
confirm "$UMC" "$TOK" 'Outra-Senha-2026!'
is "$API_STATUS $API_BODY" '400 {"error":"Este link já foi utilizado."}' "confirm it again: 400"
login "$UMC" ana@umc.localhost "$NEW"
is "$API_STATUS" 200 "and the password stayed the one set"

# --- a new request replaces the older token; an expired one is refused -------------------------------------
post "$UMC" $R/request/ '{"email":"bob@umc.localhost"}'
wait_for 30 mails_are 3
B1=$(token_of 3)
post "$UMC" $R/request/ '{"email":"bob@umc.localhost"}'
wait_for 30 mails_are 4
B2=$(token_of 4)
ok $([ -n "$B1" ] && [ -n "$B2" ] && [ "$B1" != "$B2" ] && echo 0 || echo 1) "two requests, two different tokens"
call GET "$UMC" "$R/validate/?token=$B1"
is "$API_STATUS $API_BODY" '400 {"valid":false,"error":"Token inválido."}' "the older one is gone"
q "UPDATE public.password_reset_token SET expires_at = now() - interval '1 second' WHERE token_hash = '$(printf '%s' "$B2" | sha256sum | cut -c1-64)'" >/dev/null
call GET "$UMC" "$R/validate/?token=$B2"
is "$API_STATUS $API_BODY" '400 {"valid":false,"error":"Este link expirou. Solicite uma nova redefinição de senha."}' \
	"an expired token: validate says so"
confirm "$UMC" "$B2" 'Nova-Senha-Bob-1'
is "$API_STATUS $API_BODY" '400 {"error":"Este link expirou. Solicite uma nova redefinição de senha."}' "and confirm refuses it"
login "$UMC" bob@umc.localhost "$API_PW"
is "$API_STATUS" 200 "bob's password is unchanged"

# --- sites: a tenant host mails its members only; the public host mails any account --------------------------
post "$OTHER" $R/request/ '{"email":"carla@umc.localhost"}'
is "$API_STATUS $API_BODY" "$known" "another tenant's host, a user who is no member there: the same answer"
post "$PUB" $R/request/ '{"email":"staff@localhost.local"}'
is "$API_STATUS $API_BODY" "$known" "the public host: the same answer"
wait_for 30 mails_are 5
is "$(jget "$(mail_json 5)" '["envelope"]["rcpt_tos"]')" '["staff@localhost.local"]' \
	"the public site's account got its mail, and the non-member nothing"
S=$(token_of 5)
confirm "$PUB" "$S" 'Staff-Senha-2026'
is "$API_STATUS" 200 "reset on the public host"
login "$PUB" staff@localhost.local 'Staff-Senha-2026'
is "$API_STATUS" 200 "the public site's login takes the new password"

# --- two confirmations at once: one wins ------------------------------------------------------------------
post "$UMC" $R/request/ '{"email":"carla@umc.localhost"}'
wait_for 30 mails_are 6
C=$(token_of 6)
pids=
# (each in a subshell of its own: call records every one apart, and the status goes to a file)
for i in 1 2 3; do
	(
		confirm "$UMC" "$C" "Carla-Senha-$i$i$i"
		echo "$API_STATUS" >"$T/race.$i"
	) &
	pids="$pids $!"
done
wait $pids
is "$(cat "$T"/race.* | sort | tr '\n' ' ')" "200 400 400 " "three confirmations of one token at once: exactly one succeeds"
is "$(q "SELECT count(*) FROM public.password_reset_token WHERE used_at IS NOT NULL AND user_id = (SELECT id FROM public.app_user WHERE email = 'carla@umc.localhost')")" 1 \
	"and the token is used once"

# --- bad requests -------------------------------------------------------------------------------------------
post "$UMC" $R/request/ '{}'
is "$API_STATUS $API_BODY" '400 {"error":"E-mail é obrigatório."}' "no email: 400"
post "$UMC" $R/request/ '{"email":"   "}'
is "$API_STATUS $API_BODY" '400 {"error":"E-mail é obrigatório."}' "a blank email: 400"
post "$UMC" $R/request/ '{"email":42}'
is "$API_STATUS $API_BODY" '400 {"error":"E-mail é obrigatório."}' "an email that is no string: 400"
post "$UMC" $R/request/ '{"email":'
like "$API_STATUS $API_BODY" '^400 \{"detail":"JSON parse error - ' "bad JSON: 400"
call GET "$UMC" $R/request/
is "$API_STATUS" 405 "GET on request/: 405"
like "$(grep -i '^Allow:' "$T/api.hdr" | tr -d '\r')" 'POST' "with Allow"
call DELETE "$UMC" $R/confirm/
is "$API_STATUS" 405 "DELETE on confirm/: 405"
call POST "$UMC" $R/request/ -H 'Content-Type: application/json' --data-binary "{\"email\":\"$(head -c 70000 /dev/zero | tr '\0' a)\"}"
is "$API_STATUS" 413 "a body over body_max: 413"
call GET "$UMC" /api/auth/password-reset/nothing/
is "$API_STATUS" 404 "an unknown path under password-reset/: 404"

is "$(mails)" 6 "no other mail was sent"
httpd_stop
is $? 0 "tsk-httpd stops with status 0"
openapi_check
done_testing
