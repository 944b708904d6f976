#!/bin/bash
# Login and tokens against the real daemon and PostgreSQL: login (one answer for an unknown user and a
# wrong password), the cookies' attributes, /api/users/me/ by cookie and by Bearer, refused tokens (none,
# expired, tampered, alg none, HS512, another tenant's), a password change that kills old tokens, API
# tokens (revoked, another tenant's), the Origin check on cookie requests, the login rate limit, per-tenant
# ingest tokens on POST /ingest, and hostile input.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
fresh_db t_httpd_auth
tsk tenant create --slug umc --name UMC --domain umc.localhost >/dev/null
tsk tenant create --slug other --name Other --domain other.localhost >/dev/null
PW='Dev@123456'
for u in owner@umc.localhost viewer@umc.localhost tech@other.localhost staff@localhost.local; do
	echo "$PW" | tsk tenant user add $u $([ $u = staff@localhost.local ] && echo --staff) >/dev/null
done
tsk tenant member add umc owner@umc.localhost --role owner >/dev/null
tsk tenant member add umc viewer@umc.localhost --role viewer >/dev/null
tsk tenant member add other tech@other.localhost --role owner >/dev/null
uid() { q "SELECT id FROM public.app_user WHERE email = '$1'"; }
pgen() { q "SELECT password_gen FROM public.app_user WHERE email = '$1'"; }

# --- jwt_secret is required ---------------------------------------------------------------------------
err=$(env -u TSK_JWT_SECRET "$TSK_BUILD/tsk-httpd" --config /dev/null --listen 127.0.0.1:0 --spool "$T/x.db" 2>&1)
is $? 2 "no jwt_secret: refuses to start (exit 2)"
like "$err" 'no jwt_secret' "and says why"
err=$(TSK_JWT_SECRET=short "$TSK_BUILD/tsk-httpd" --config /dev/null --listen 127.0.0.1:0 --spool "$T/x.db" 2>&1)
is $? 2 "a short jwt_secret: refuses to start"
like "$err" 'jwt_secret|secret' "and says why"

TSK_INGEST_SECRET=shared-50 TSK_LOGIN_BURST=3 TSK_LOGIN_ADDRESS_BURST=1000 httpd_start --config /dev/null --workers 2
ok $? "tsk-httpd answers on its port"
P=$HTTPD_PORT
UMC="umc.localhost:$P"
OTHER="other.localhost:$P"

# api, login and cookie: tests/lib/httpd.sh.
header() { grep -i "^$1:" "$T/hdr" | tr -d '\r'; }

# --- login ----------------------------------------------------------------------------------------------
out=$(login "$UMC" Owner@UMC.localhost "$PW")
like "$out" '^200 \{"user":\{"id":[0-9]+,"username":"owner@umc.localhost","email":"owner@umc.localhost",' "login: 200 with the user"
like "$out" '"role":"owner","site":"UMC",' "the user's role and site on this tenant"
like "$out" "\"message\":\"Login realizado com sucesso!\",\"tenant\":\\{\"slug\":\"umc\",\"domain\":\"$UMC\",\"api_base_url\":\"http://$UMC/api\"\\}\\}$" \
	"the message and the tenant"
case "$out" in *'"access"'*|*'"refresh"'*|*eyJ*) r=1 ;; *) r=0 ;; esac
ok $r "the body holds no token"
like "$(header Set-Cookie | grep access_token)" '^Set-Cookie: access_token=eyJ[A-Za-z0-9_.-]+; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax$' \
	"access_token cookie: 60 minutes, HttpOnly, SameSite=Lax, not Secure over plain HTTP"
like "$(header Set-Cookie | grep refresh_token)" '^Set-Cookie: refresh_token=eyJ[A-Za-z0-9_.-]+; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax$' \
	"refresh_token cookie: 7 days"
AT=$(cookie access_token)
RT=$(cookie refresh_token)
is "$(q "SELECT last_login IS NOT NULL AND last_login_ip = '127.0.0.1' FROM public.app_user WHERE email = 'owner@umc.localhost'")" t \
	"last_login and last_login_ip are set"
login "$UMC" owner@umc.localhost "$PW" -H 'X-Forwarded-Proto: https' >/dev/null
like "$(header Set-Cookie | grep access_token)" '; Secure$' "behind a TLS proxy (X-Forwarded-Proto: https) the cookies are Secure"

BAD='400 {"username_or_email":["Credenciais inválidas."]}'
is "$(login "$UMC" owner@umc.localhost wrong-password)" "$BAD" "wrong password: 400"
is "$(login "$UMC" nobody@umc.localhost "$PW")" "$BAD" "unknown user: the same answer"
is "$(login "$UMC" owner "$PW")" "$BAD" "a name without @: the same answer"
is "$(login "$OTHER" owner@umc.localhost "$PW")" "$BAD" "no membership in this tenant: the same answer"
[ -z "$(header Set-Cookie)" ]
ok $? "no cookie for a refused login"
is "$(login "$UMC" owner@umc.localhost "$PW" -H 'Origin: http://evil.example')" \
	'403 {"detail":"CSRF Failed: Origin checking failed - http://evil.example does not match any trusted origins."}' \
	"login from a foreign page: 403"

# --- /api/users/me/ -----------------------------------------------------------------------------------
like "$(api GET "$UMC" /api/users/me/ -H "Cookie: access_token=$AT")" '^200 \{"id":[0-9]+,"username":"owner@umc.localhost",.*"role":"owner"' \
	"me with the cookie"
like "$(api GET "$UMC" /api/users/me/ -H "Authorization: Bearer $AT")" '^200 \{"id":[0-9]+,"username":"owner@umc.localhost"' \
	"me with Bearer"
NOCRED='401 {"detail":"Authentication credentials were not provided."}'
is "$(api GET "$UMC" /api/users/me/)" "$NOCRED" "no token: 401"
is "$(header WWW-Authenticate)" 'WWW-Authenticate: Bearer realm="api"' "with WWW-Authenticate"
is "$(api GET "$UMC" /api/users/me/ -H "Authorization: Basic b3duZXI6eA==")" "$NOCRED" "Basic auth is no credential: 401"
INVALID='401 {"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"AccessToken","token_type":"access","message":"Token is invalid or expired"}]}'
is "$(api GET "$UMC" /api/users/me/ -H "Cookie: access_token=garbage" -H "Authorization: Bearer $AT")" "$INVALID" \
	"an invalid cookie is refused, with no fallback to Bearer"
is "$(api GET "$UMC" /api/users/me/ -H "Authorization: Bearer $RT")" "$INVALID" "a refresh token is no access token: 401"

# Tokens made here with the daemon's secret (Python's hmac and hashlib): each a single change from a good one.
forge() { # forge ALG TENANT SUB PGEN EXP_OFFSET [tamper]
	/usr/bin/python3 - "$TSK_JWT_SECRET" "$@" <<'EOF'
import base64, hashlib, hmac, json, sys, time, os
secret, alg, tenant, sub, pgen, off = sys.argv[1:7]
tamper = len(sys.argv) > 7
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
hdr = b64(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
claims = {"token_type": "access", "sub": sub, "pgen": int(pgen), "jti": os.urandom(16).hex(),
          "iat": now - 10, "exp": now + int(off)}
if tenant != "-":
    claims["tenant"] = tenant
pl = b64(json.dumps(claims, separators=(",", ":")).encode())
msg = (hdr + "." + pl).encode()
if alg == "HS256":
    sig = b64(hmac.new(secret.encode(), msg, hashlib.sha256).digest())
elif alg == "HS512":
    sig = b64(hmac.new(secret.encode(), msg, hashlib.sha512).digest())
else:
    sig = ""
if tamper:
    sig = ("A" if sig[0] != "A" else "B") + sig[1:]
print(hdr + "." + pl + "." + sig)
EOF
}
OID=$(uid owner@umc.localhost)
OG=$(pgen owner@umc.localhost)
bearer() { api GET "$UMC" /api/users/me/ -H "Authorization: Bearer $1"; }
like "$(bearer "$(forge HS256 umc "$OID" "$OG" 600)")" '^200 ' "a token made with the secret is accepted (the forger works)"
is "$(bearer "$(forge HS256 umc "$OID" "$OG" -120)")" "$INVALID" "expired: 401"
is "$(bearer "$(forge HS256 umc "$OID" "$OG" 600 tamper)")" "$INVALID" "tampered signature: 401"
is "$(bearer "$(forge none umc "$OID" "$OG" 600)")" "$INVALID" "alg none: 401"
is "$(bearer "$(forge HS512 umc "$OID" "$OG" 600)")" "$INVALID" "HS512: 401"
is "$(bearer "$(forge HS256 other "$OID" "$OG" 600)")" "$INVALID" "signed for another tenant: 401"
is "$(bearer "$(forge HS256 - "$OID" "$OG" 600)")" "$INVALID" "a public-site token on a tenant host: 401"
is "$(bearer "$(forge HS256 umc "$OID" "$((OG - 1))" 600)")" "$INVALID" "an older password generation: 401"
login "$OTHER" tech@other.localhost "$PW" >/dev/null
OTHER_AT=$(cookie access_token)
like "$(api GET "$OTHER" /api/users/me/ -H "Cookie: access_token=$OTHER_AT")" '^200 .*"role":"owner","site":"Other"' \
	"a token of tenant other works on other's host"
is "$(api GET "$UMC" /api/users/me/ -H "Cookie: access_token=$OTHER_AT")" "$INVALID" "and is refused on umc's host (cookie)"
is "$(bearer "$OTHER_AT")" "$INVALID" "and by Bearer"
is "$(api GET "$OTHER" /api/users/me/ -H "Authorization: Bearer $AT")" "$INVALID" "umc's token on other's host: 401"
is "$(api GET localhost /api/users/me/ -H "Authorization: Bearer $AT")" "$INVALID" "umc's token on the public host: 401"

# --- PATCH /api/users/me/ and the Origin check --------------------------------------------------------
patch() { api PATCH "$UMC" /api/users/me/ -H 'Content-Type: application/json' --data-binary "$@"; }
out=$(patch '{"first_name":"Ana","last_name":"Souza","phone":null,"time_format":"12h","email":"x@evil.example","is_staff":true}' \
	-H "Authorization: Bearer $AT")
like "$out" '^200 \{"user":\{.*"first_name":"Ana","last_name":"Souza","full_name":"Ana Souza","initials":"AS",.*"time_format":"12h",.*\},"message":"Perfil atualizado com sucesso!"\}$' \
	"PATCH me by Bearer (no Origin needed): 200"
is "$(q "SELECT email || '|' || is_staff FROM public.app_user WHERE id = $OID")" 'owner@umc.localhost|false' \
	"fields PATCH may not change stay as they were"
is "$(patch '{"first_name":5}' -H "Authorization: Bearer $AT")" '400 {"first_name":["Not a valid string."]}' "a number for a name: 400"
is "$(patch '{"timezone":null}' -H "Authorization: Bearer $AT")" '400 {"timezone":["Este campo não pode ser nulo."]}' "null timezone: 400"
is "$(patch '{"time_format":"13h"}' -H "Authorization: Bearer $AT")" '400 {"time_format":["\"13h\" não é um escolha válido."]}' \
	"a time_format not offered: 400"
like "$(patch "{\"last_name\":\"$(head -c 151 /dev/zero | tr '\0' x)\"}" -H "Authorization: Bearer $AT")" '^400 \{"last_name":\[' "151 characters: 400"
like "$(patch 'not json' -H "Authorization: Bearer $AT")" '^400 \{"detail":"JSON parse error - ' "a body that is not JSON: 400"
like "$(patch '[1]' -H "Authorization: Bearer $AT")" '^400 \{"non_field_errors":\[' "an array: 400"
is "$(q "SELECT first_name || '|' || last_name FROM public.app_user WHERE id = $OID")" 'Ana|Souza' "refused PATCHes changed nothing"
is "$(patch '{"first_name":"Eve"}' -H "Cookie: access_token=$AT")" '403 {"detail":"CSRF Failed: Referer checking failed - no Referer."}' \
	"PATCH by cookie without Origin: 403"
is "$(patch '{"first_name":"Eve"}' -H "Cookie: access_token=$AT" -H 'Origin: http://evil.example')" \
	'403 {"detail":"CSRF Failed: Origin checking failed - http://evil.example does not match any trusted origins."}' \
	"PATCH by cookie from a foreign Origin: 403"
is "$(patch '{"first_name":"Eve"}' -H "Cookie: access_token=$AT" -H "Origin: http://other.localhost:$P")" \
	"403 {\"detail\":\"CSRF Failed: Origin checking failed - http://other.localhost:$P does not match any trusted origins.\"}" \
	"another tenant's Origin: 403"
is "$(q "SELECT first_name FROM public.app_user WHERE id = $OID")" Ana "and nothing changed"
like "$(patch '{"first_name":"Bia"}' -H "Cookie: access_token=$AT" -H "Origin: http://$UMC")" '^200 .*"first_name":"Bia"' \
	"PATCH by cookie from the same Origin: 200"
like "$(patch '{"first_name":"Cris"}' -H "Cookie: access_token=$AT" -H "Referer: http://$UMC/settings")" '^200 .*"first_name":"Cris"' \
	"or with a Referer of this host: 200"

# --- refresh and logout ---------------------------------------------------------------------------------
is "$(api POST "$UMC" /api/auth/token/refresh/ -H "Origin: http://$UMC")" \
	'400 {"error":"Refresh token not found in cookies","detail":"Please login again"}' "refresh without the cookie: 400"
is "$(api POST "$UMC" /api/auth/token/refresh/ -H "Cookie: refresh_token=$RT" -H "Origin: http://$UMC")" \
	'200 {"message":"Token refreshed successfully","detail":"New access token set in HttpOnly cookie"}' "refresh: 200"
NAT=$(cookie access_token)
like "$NAT" '^eyJ' "a new access_token cookie"
[ -z "$(cookie refresh_token)" ]
ok $? "the refresh token is not rotated"
like "$(api GET "$UMC" /api/users/me/ -H "Cookie: access_token=$NAT")" '^200 ' "the new access token works"
is "$(api POST "$UMC" /api/auth/token/refresh/ -H "Cookie: refresh_token=$AT" -H "Origin: http://$UMC")" \
	'401 {"detail":"Token is invalid or expired","code":"token_not_valid"}' "an access token as refresh token: 401"
is "$(api POST "$OTHER" /api/auth/token/refresh/ -H "Cookie: refresh_token=$RT" -H "Origin: http://$OTHER")" \
	'401 {"detail":"Token is invalid or expired","code":"token_not_valid"}' "umc's refresh token on other's host: 401"
like "$(api POST "$UMC" /api/auth/token/refresh/ -H "Cookie: refresh_token=$RT" -H 'Origin: http://evil.example')" '^403 ' \
	"refresh from a foreign Origin: 403"
is "$(api POST "$UMC" /api/auth/logout/)" "$NOCRED" "logout without credentials: 401"
is "$(api POST "$UMC" /api/auth/logout/ -H "Cookie: access_token=$AT" -H "Origin: http://$UMC")" \
	'200 {"message":"Logout realizado com sucesso!"}' "logout: 200"
like "$(header Set-Cookie | grep access_token)" '^Set-Cookie: access_token=""; .*Max-Age=0; Path=/' "clears access_token"
like "$(header Set-Cookie | grep refresh_token)" '^Set-Cookie: refresh_token=""; .*Max-Age=0; Path=/' "clears refresh_token"
like "$(api GET "$UMC" /api/auth/logout/)" '^405 ' "GET on logout: 405"
like "$(header Allow)" 'POST' "with Allow"

# --- change-password --------------------------------------------------------------------------------------
cp() { api POST "$UMC" /api/users/me/change-password/ -H 'Content-Type: application/json' -H "Authorization: Bearer $AT" --data-binary "$1"; }
is "$(cp '{"old_password":"nope-nope","new_password":"New@1234567","new_password_confirm":"New@1234567"}')" \
	'400 {"old_password":["Senha atual incorreta."]}' "wrong old password: 400"
is "$(cp "{\"old_password\":\"$PW\",\"new_password\":\"New@1234567\",\"new_password_confirm\":\"New@7654321\"}")" \
	'400 {"new_password_confirm":["As senhas não coincidem."]}' "confirmation differs: 400"
like "$(cp "{\"old_password\":\"$PW\",\"new_password\":\"short\",\"new_password_confirm\":\"short\"}")" \
	'^400 \{"new_password":\[' "too short: 400"
is "$(cp "{\"old_password\":\"$PW\"}")" '400 {"new_password":["Este campo é obrigatório."]}' "a missing field: 400"
is "$(pgen owner@umc.localhost)" "$OG" "refused changes left the password generation alone"
is "$(cp "{\"old_password\":\"$PW\",\"new_password\":\"New@1234567\",\"new_password_confirm\":\"New@1234567\"}")" \
	'200 {"message":"Senha alterada com sucesso!"}' "change-password: 200"
is "$(pgen owner@umc.localhost)" "$((OG + 1))" "the password generation went up"
CAT=$(cookie access_token)
like "$CAT" '^eyJ' "fresh cookies come with the answer"
is "$(bearer "$AT")" "$INVALID" "the access token from before the change: 401"
is "$(api GET "$UMC" /api/users/me/ -H "Cookie: access_token=$NAT")" "$INVALID" "the refreshed one too"
is "$(api POST "$UMC" /api/auth/token/refresh/ -H "Cookie: refresh_token=$RT" -H "Origin: http://$UMC")" \
	'401 {"detail":"Token is invalid or expired","code":"token_not_valid"}' "and the old refresh token"
like "$(bearer "$CAT")" '^200 ' "the new access token works"
is "$(login "$UMC" owner@umc.localhost "$PW")" "$BAD" "the old password no longer logs in"
like "$(login "$UMC" owner@umc.localhost New@1234567)" '^200 ' "the new one does"

# --- membership and account state are checked on every request ---------------------------------------
login "$UMC" viewer@umc.localhost "$PW" >/dev/null
VAT=$(cookie access_token)
like "$(bearer "$VAT")" '^200 .*"role":"viewer"' "the viewer's token works"
tsk tenant member rm umc viewer@umc.localhost >/dev/null
is "$(bearer "$VAT")" "$INVALID" "after the membership is removed: 401"
tsk tenant member add umc viewer@umc.localhost --role viewer >/dev/null
like "$(bearer "$VAT")" '^200 ' "and back with it"
q "UPDATE public.app_user SET is_active = false WHERE email = 'viewer@umc.localhost'" >/dev/null
is "$(bearer "$VAT")" "$INVALID" "a deactivated user's token: 401"
is "$(login "$UMC" viewer@umc.localhost "$PW")" '400 {"username_or_email":["Esta conta está desativada."]}' \
	"a deactivated user's login: 400 desativada"
q "UPDATE public.app_user SET is_active = true WHERE email = 'viewer@umc.localhost'" >/dev/null

# --- API tokens -----------------------------------------------------------------------------------------
tok_of() { sed -n 's/.*"token":"\([^"]*\)".*/\1/p' <<<"$1"; }
VT=$(tok_of "$(tsk tenant token add umc script --role viewer)")
is "$(bearer "$VT")" '403 {"detail":"Esta ação requer um usuário: um token de API sem usuário não tem perfil."}' \
	"an API token authenticates (it has no profile of its own: 403, not 401)"
is "$(api GET "$OTHER" /api/users/me/ -H "Authorization: Bearer $VT")" "$INVALID" "umc's API token on other's host: 401"
tsk tenant token rm umc script >/dev/null
is "$(bearer "$VT")" "$INVALID" "a revoked API token: 401"
IT=$(tok_of "$(tsk tenant token add umc --ingest)")
is "$(bearer "$IT")" "$INVALID" "an ingest token is refused by the API: 401"

# --- per-tenant ingest tokens on POST /ingest -------------------------------------------------------------
OIT=$(tok_of "$(tsk tenant token add other --ingest)")
MSG='{"topic":"tenants/umc/sites/S/assets/A/telemetry","payload":{"device_id":"GW-9","timestamp":"2025-10-20T14:30:00Z","sensors":[{"sensor_id":"t1","value":21.5}]}}'
like "$(ingest "$IT" umc "$MSG")" '^202 \{"status":"accepted","id":[0-9]+,"device_id":"GW-9",.*"sensors_saved":1' "umc's ingest token on x-tenant umc: 202"
is "$(ingest "$OIT" umc "$MSG")" '401 {"error":"Invalid device token"}' "other's ingest token on x-tenant umc: 401"
is "$(ingest "$IT" other "$MSG")" '401 {"error":"Invalid device token"}' "umc's ingest token on x-tenant other: 401"
is "$(ingest "$CAT" umc "$MSG")" '401 {"error":"Invalid device token"}' "a login token is no ingest token: 401"
like "$(ingest shared-50 umc "$MSG")" '^202 ' "the shared secret still works"
tsk tenant token rm umc ingest >/dev/null
is "$(ingest "$IT" umc "$MSG")" '401 {"error":"Invalid device token"}' "a revoked ingest token: 401"

# --- the public host --------------------------------------------------------------------------------------
out=$(login localhost staff@localhost.local "$PW")
like "$out" '^200 .*"is_staff":true,.*"tenant":\{"slug":"public","domain":"localhost"' "login on the public host (staff)"
SAT=$(cookie access_token)
like "$(api GET localhost /api/users/me/ -H "Cookie: access_token=$SAT")" '^200 .*"email":"staff@localhost.local"' "me on the public host"
is "$(api GET "$UMC" /api/users/me/ -H "Cookie: access_token=$SAT")" "$INVALID" "a public-site token on a tenant host: 401"
is "$(api GET localhost /api/other/)" '404 {"error":"Not found"}' "other /api/ paths on the public host: 404"

# --- hostile input ----------------------------------------------------------------------------------------
is "$(login "$UMC" "$(head -c 60000 /dev/zero | tr '\0' a)@x.y" "$PW")" "$BAD" "a 60 kB username: 400, the same answer"
like "$(login "$UMC" "$(head -c 70000 /dev/zero | tr '\0' a)" "$PW")" '^413 ' "a body over body_max: 413"
is "$(login "$UMC" "x' OR '1'='1@x.y" "$PW")" "$BAD" "SQL in the username: 400"
is "$(login "$UMC" "owner@umc.localhost' --" "x' OR '1'='1")" "$BAD" "SQL in both: 400"
is "$(q "SELECT count(*) FROM public.app_user")" 4 "and the users are all there"
lj() { api POST "$UMC" /api/auth/login/ -H 'Content-Type: application/json' --data-binary "$1"; }
like "$(lj 'username_or_email=x&password=y')" '^400 \{"detail":"JSON parse error - ' "a form body: 400"
like "$(lj '')" '^400 \{"detail":"JSON parse error - ' "an empty body: 400"
is "$(lj '{"username_or_email":1,"password":"x"}')" '400 {"username_or_email":["Not a valid string."]}' "a number for the name: 400"
is "$(lj '{"username_or_email":"a@b.c","password":["x"]}')" '400 {"password":["Not a valid string."]}' "an array for the password: 400"
is "$(lj '{"password":"x"}')" '400 {"username_or_email":["Este campo é obrigatório."]}' "no name: 400"
like "$(lj '{"username_or_email":"a@b.c","password":"x\u0000y"}')" '^400 ' "a NUL in the password: 400"
like "$(lj '{"username_or_email":"a@b.c","username_or_email":"d@e.f","password":"x"}')" '^400 ' "a duplicated key: 400"
like "$(api GET "$UMC" /api/users/me/ -H "Authorization: Bearer $(head -c 5000 /dev/zero | tr '\0' e)")" '^401 ' "a 5000-byte token: 401"
like "$(api GET "$UMC" /api/users/me/ -H "Cookie: access_token=a.b.c; access_token=$CAT")" '^401 ' "two access_token cookies: the first one counts"

# --- guessing the current password through a session is limited like logins, also in parallel --------
# (the owner's bucket is full again: the last login succeeded). 8 guesses at once: a token is taken
# before each slow check, so exactly login_burst (3) are checked and the rest are refused.
guesses=()
for i in 1 2 3 4 5 6 7 8; do
	api POST "$UMC" /api/users/me/change-password/ -H 'Content-Type: application/json' -H "Authorization: Bearer $CAT" \
		--data-binary "{\"old_password\":\"guess-$i-x\",\"new_password\":\"New@7777777\",\"new_password_confirm\":\"New@7777777\"}" \
		>"$T/guess.$i" &
	guesses+=($!)
done
wait "${guesses[@]}"
is "$(cut -c1-3 "$T"/guess.* | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')" "400:3 429:5 " \
	"8 parallel wrong guesses of the current password: 3 checked (400), 5 refused (429)"

# --- the login rate limit (login_burst 3 for this daemon) -----------------------------------------------
for i in 1 2 3; do login "$UMC" viewer@umc.localhost "wrong-$i" >/dev/null; done
out=$(login "$UMC" viewer@umc.localhost "wrong-4")
like "$out" '^429 \{"detail":"Muitas tentativas de login. Tente novamente em [0-9]+ segundos."\}$' "the 4th failure in a row: 429"
like "$(header Retry-After)" '^Retry-After: [0-9]+$' "with Retry-After"
like "$(login "$UMC" viewer@umc.localhost "$PW")" '^429 ' "the right password is refused too while limited"
like "$(login "$UMC" tech@other.localhost "$PW" | cut -c1-3)" '^400' "another account is not limited (it is not a member here: 400)"
like "$(login "$OTHER" tech@other.localhost "$PW")" '^200 ' "and logs in where it is a member"

# --- the per-address limit: a second daemon that allows 2 failures an address ---------------------------
httpd_stop
is $? 0 "the first daemon stops with status 0 on SIGTERM (under make asan: no leak, no error)"
# login_address_rate 1 (a minute): no token comes back while the five logins below run, however slow
# the machine (the default, 10 a minute, refilled one after 6 s and made the last check depend on time).
TSK_LOGIN_BURST=100 TSK_LOGIN_ADDRESS_BURST=2 TSK_LOGIN_ADDRESS_RATE=1 httpd_start --config /dev/null --workers 2
ok $? "a second daemon with login_address_burst 2"
UMC="umc.localhost:$HTTPD_PORT"
is "$(login "$UMC" a1@umc.localhost x)" "$BAD" "address: 1st failure"
like "$(login "$UMC" owner@umc.localhost New@1234567)" '^200 ' "a success in between gives its token back"
is "$(login "$UMC" a2@umc.localhost x)" "$BAD" "address: 2nd failure (another account)"
like "$(login "$UMC" a3@umc.localhost x)" '^429 ' "a 3rd failure from the address, on a third account: 429"
like "$(login "$UMC" owner@umc.localhost New@1234567)" '^429 ' "and the address is limited for every account"
httpd_stop
is $? 0 "the second daemon stops with status 0"

# Every answer above (the API's, and POST /ingest's) as lib/http/openapi.json describes it.
openapi_check
done_testing
