#!/bin/bash
# POST /api/auth/register/ through tsk-httpd: on the public host a new account (user name and address
# lowered and unique, Django's password rules: 8 characters, not all digits, not common, not like the
# user's names) answered 201 with the user and working access and refresh tokens; on a tenant host the
# original's 403, and with an invitation_token the invited account and its membership (where the
# original answered 501); every field's errors at once; hostile input.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
fresh_db t_register
tsk tenant create --slug umc --name UMC --domain umc.localhost >/dev/null
api_user taken@umc.localhost umc owner
httpd_start --config /dev/null --workers 2
ok $? "tsk-httpd runs"
P=$HTTPD_PORT
UMC="umc.localhost:$P"
PUB="localhost:$P"

jget() { printf '%s' "$1" | /usr/bin/python3 -c "import json,sys; v=json.load(sys.stdin)$2; print(v if isinstance(v,str) else json.dumps(v, ensure_ascii=False))"; }
reg() { local host=$1 body=$2; shift 2; call POST "$host" /api/auth/register/ -H 'Content-Type: application/json' --data-binary "$body" "$@"; }
# body USERNAME EMAIL PASSWORD [CONFIRM [FIRST [LAST]]]
body() { printf '{"username":"%s","email":"%s","password":"%s","password_confirm":"%s","first_name":"%s","last_name":"%s"}' \
	"$1" "$2" "$3" "${4-$3}" "${5-João}" "${6-Silva}"; }
GOOD='Tr4k-Sense!Pw'

# --- tenant hosts refuse ----------------------------------------------------------------------------------
reg "$UMC" "$(body joao joao@x.test "$GOOD")"
is "$API_STATUS $API_BODY" '403 {"error":"Registration on tenant domains requires an invitation token","detail":"Please contact your organization administrator for an invitation link"}' \
	"a tenant host: 403 with the original's message"
reg "$UMC" '{"invitation_token":"abc","username":"joao","email":"joao@x.test","password":"Tr4k-Sense!Pw","password_confirm":"Tr4k-Sense!Pw"}'
is "$API_STATUS $API_BODY" '404 {"detail":"Invalid invite token."}' "an unknown invitation_token: 404"
is "$(q "SELECT count(*) FROM public.app_user WHERE email = 'joao@x.test'")" 0 "no account was made"
# A real invitation: the account and the membership, as /api/invites/accept/ makes them.
tsk tenant create --slug other --name Other --domain other.localhost >/dev/null
tok() { tsk tenant invite add "$1" "$2" --role "$3" | sed -n 's/.*accept-invite?token=\([A-Za-z0-9_-]*\).*/\1/p'; }
T1=$(tok umc convidado@x.test operator)
T2=$(tok other outro@x.test viewer)
reg "$UMC" "{\"invitation_token\":\"$T1\",\"password\":\"$GOOD\",\"password_confirm\":\"nope-nope-1\",\"first_name\":\"Ana\",\"last_name\":\"Lima\"}"
is "$API_STATUS $API_BODY" '400 {"password_confirm":["As senhas não coincidem."]}' "an invitation with passwords that differ: 400"
reg "$UMC" "{\"invitation_token\":\"$T2\",\"password\":\"$GOOD\",\"password_confirm\":\"$GOOD\"}"
is "$API_STATUS $API_BODY" '404 {"detail":"Invalid invite token."}' "another tenant's invitation on this host: 404"
is "$(q "SELECT count(*) FROM public.app_user WHERE email = 'outro@x.test'")" 0 "and no account"
reg "$UMC" "{\"invitation_token\":\"$T1\",\"password\":\"$GOOD\",\"password_confirm\":\"$GOOD\",\"first_name\":\"Ana\",\"last_name\":\"Lima\"}"
like "$API_STATUS $API_BODY" '^201 \{.*"email":"convidado@x.test".*"full_name":"Ana Lima".*"role":"operator"' "the invitation on its tenant's host: 201, the account and its membership"
is "$(q "SELECT m.role || ':' || m.status FROM public.membership m JOIN public.app_user u ON u.id = m.user_id WHERE u.email = 'convidado@x.test'")" "operator:active" "a member of umc with the invitation's role"
call POST "$UMC" /api/auth/login/ -H 'Content-Type: application/json' --data-binary "{\"username_or_email\":\"convidado@x.test\",\"password\":\"$GOOD\"}"
like "$API_STATUS $API_BODY" '^200 .*"role":"operator"' "and it logs in there, as an operator"
reg "$UMC" "{\"invitation_token\":\"$T1\",\"password\":\"$GOOD\",\"password_confirm\":\"$GOOD\"}"
is "$API_STATUS" 400 "the same invitation twice: 400"

# --- the public host ---------------------------------------------------------------------------------------
reg "$PUB" "$(body '  JoaoS ' ' Joao@Example.TEST ' "$GOOD")"
is "$API_STATUS" 201 "the public host: 201"
like "$API_BODY" '^\{"user":\{"id":[0-9]+,"username":"joaos","email":"joao@example.test","first_name":"João","last_name":"Silva","full_name":"João Silva","initials":"JS","avatar":null,' \
	"the user, user name and address lowered and trimmed"
is "$(jget "$API_BODY" '["message"]')" "Usuário registrado com sucesso!" "the message"
is "$(jget "$API_BODY" '["user"]["role"]') $(jget "$API_BODY" '["user"]["site"]') $(jget "$API_BODY" '["user"]["is_staff"]')" \
	"viewer TrakSense false" "no role, the public site, not staff"
ACC=$(jget "$API_BODY" '["access"]')
REF=$(jget "$API_BODY" '["refresh"]')
like "$ACC" '^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' "an access token"
like "$REF" '^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' "a refresh token"
call GET "$PUB" /api/users/me/ -H "Authorization: Bearer $ACC"
like "$API_STATUS $API_BODY" '^200 \{"id":[0-9]+,"username":"joaos","email":"joao@example.test"' "the access token works on the public host"
call POST "$PUB" /api/auth/token/refresh/ -H "Cookie: refresh_token=$REF" -H "Origin: http://$PUB"
is "$API_STATUS" 200 "the refresh token works"
call GET "$UMC" /api/users/me/ -H "Authorization: Bearer $ACC"
is "$API_STATUS" 401 "the token is the public site's: a tenant host refuses it"
call GET "$PUB" /api/users/me/ -H "Authorization: Bearer $REF"
is "$API_STATUS" 401 "a refresh token is no access token"
login() { call POST "$1" /api/auth/login/ -H 'Content-Type: application/json' --data-binary "{\"username_or_email\":\"$2\",\"password\":\"$3\"}"; }
login "$PUB" joao@example.test "$GOOD"
is "$API_STATUS" 200 "login with the address"
login "$PUB" JoaoS "$GOOD"
is "$API_STATUS" 200 "login with the user name (any case)"
login "$UMC" joao@example.test "$GOOD"
is "$API_STATUS" 400 "no membership: a tenant host refuses the login"
like "$(q "SELECT password_hash FROM public.app_user WHERE email = 'joao@example.test'")" '^\$argon2id\$' "the password is stored as an argon2id hash"

# --- uniqueness ----------------------------------------------------------------------------------------------
reg "$PUB" "$(body joaos other@example.test "$GOOD")"
is "$API_STATUS $API_BODY" '400 {"username":["Este nome de usuário já está em uso."]}' "the same user name: 400"
reg "$PUB" "$(body JOAOS other@example.test "$GOOD")"
is "$API_STATUS $API_BODY" '400 {"username":["Este nome de usuário já está em uso."]}' "in another case: 400"
reg "$PUB" "$(body joao2 JOAO@example.test "$GOOD")"
is "$API_STATUS $API_BODY" '400 {"email":["Este email já está em uso."]}' "the same address in another case: 400"
reg "$PUB" "$(body joao3 taken@umc.localhost "$GOOD")"
is "$API_STATUS $API_BODY" '400 {"email":["Este email já está em uso."]}' "an address of an account made otherwise: 400"

# --- password rules ------------------------------------------------------------------------------------------
pw() { reg "$PUB" "$(body msouza m.souza@example.test "$1" "${2-$1}" Maria Souza)"; printf '%s %s' "$API_STATUS" "$API_BODY"; }
is "$(pw 'Ab-1234')" '400 {"password":["Esta senha é muito curta. Ela precisa conter pelo menos 8 caracteres."]}' "7 characters"
is "$(pw 'password123')" '400 {"password":["Esta senha é muito comum."]}' "a common password"
is "$(pw 'PASSWORD123')" '400 {"password":["Esta senha é muito comum."]}' "a common password in capitals"
is "$(pw '83726451938')" '400 {"password":["Esta senha é inteiramente numérica."]}' "all digits"
is "$(pw '12345678')" '400 {"password":["Esta senha é muito comum.","Esta senha é inteiramente numérica."]}' "common and all digits: both said"
is "$(pw '1234')" '400 {"password":["Esta senha é muito curta. Ela precisa conter pelo menos 8 caracteres.","Esta senha é inteiramente numérica."]}' \
	"short and digits"
is "$(pw 'maria@example')" '400 {"password":["A senha é muito parecida com endereço de email."]}' "like the address"
is "$(pw 'Mariaaa1')" '400 {"password":["A senha é muito parecida com primeiro nome."]}' "like a name"
reg "$PUB" "$(body carlos.antonio c@example.test 'antonio.carlos')"
is "$API_STATUS $API_BODY" '400 {"password":["A senha é muito parecida com nome de usuário."]}' "like the user name"
is "$(pw "$GOOD" 'Tr4k-Sense!Px')" '400 {"password_confirm":["As senhas não coincidem."]}' "a confirmation that differs"
is "$(q "SELECT count(*) FROM public.app_user WHERE email = 'm.souza@example.test'")" 0 "none of them made an account"

# --- every field checked, all errors at once -------------------------------------------------------------------
reg "$PUB" '{}'
is "$API_STATUS $API_BODY" '400 {"username":["Este campo é obrigatório."],"email":["Este campo é obrigatório."],"first_name":["Este campo é obrigatório."],"last_name":["Este campo é obrigatório."],"password":["Este campo é obrigatório."],"password_confirm":["Este campo é obrigatório."]}' \
	"an empty object: every field is required"
reg "$PUB" '{"username":"","email":"nope","password":"","password_confirm":null,"first_name":7,"last_name":""}'
is "$(jget "$API_BODY" '["username"]') | $(jget "$API_BODY" '["email"]') | $(jget "$API_BODY" '["password"]') | $(jget "$API_BODY" '["password_confirm"]') | $(jget "$API_BODY" '["first_name"]')" \
	'["Este campo não pode ser em branco."] | ["Insira um endereço de email válido."] | ["Este campo não pode ser em branco."] | ["Este campo não pode ser nulo."] | ["Not a valid string."]' \
	"blank, invalid, null and wrong-typed fields, each named"
is "$(jget "$API_BODY" '.get("last_name", "absent")')" absent "a blank last name is allowed"
reg "$PUB" "$(body 'joão silva' js@example.test "$GOOD")"
is "$API_STATUS $API_BODY" '400 {"username":["Informe um nome de usuário válido. Este valor pode conter apenas letras, números e os seguintes caracteres @/./+/-/_."]}' \
	"a user name with a space: 400"
reg "$PUB" "$(body "x'; DROP TABLE public.app_user; --" js@example.test "$GOOD")"
is "$API_STATUS" 400 "SQL in the user name: refused as a user name"
is "$(q "SELECT count(*) > 0 FROM public.app_user")" t "and the table is there"
reg "$PUB" "$(body "$(head -c 151 /dev/zero | tr '\0' a)" long@example.test "$GOOD")"
is "$API_STATUS $API_BODY" '400 {"username":["Certifique-se de que este campo não tenha mais de 150 caracteres."]}' "a 151-character user name: 400"
reg "$PUB" "$(body okname long@example.test "$GOOD" "$GOOD" "$(head -c 5000 /dev/zero | tr '\0' a)")"
is "$API_STATUS $API_BODY" '400 {"first_name":["Certifique-se de que este campo não tenha mais de 150 caracteres."]}' "a 5000-character name: 400"
reg "$PUB" '{"username":'
like "$API_STATUS $API_BODY" '^400 \{"detail":"JSON parse error - ' "bad JSON: 400"
reg "$PUB" '[1,2]'
is "$API_STATUS" 400 "not an object: 400"
reg "$PUB" "$(body nul nul@example.test 'abc\u0000defghij')"
is "$API_STATUS" 400 "a password with a NUL byte: 400"
call GET "$PUB" /api/auth/register/
is "$API_STATUS" 405 "GET: 405"

# --- a second account works alongside ---------------------------------------------------------------------------
reg "$PUB" "$(body maria maria@example.test 'Outra-Senha#77' 'Outra-Senha#77' Maria Souza)"
is "$API_STATUS" 201 "another registration: 201"
is "$(q "SELECT count(*) FROM public.app_user WHERE username IN ('joaos', 'maria')")" 2 "two accounts with user names"
is "$(q "SELECT count(*) FROM public.membership m JOIN public.app_user u ON u.id = m.user_id WHERE u.username IN ('joaos', 'maria')")" 0 \
	"with no membership anywhere"
httpd_stop
is $? 0 "tsk-httpd stops with status 0"
openapi_check
done_testing
