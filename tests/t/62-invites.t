#!/bin/bash
# Invites end to end through a real SMTP server (Debian's python3-aiosmtpd): an owner invites, the mail
# arrives with the accept link, the public validate and accept (a new account) or the authenticated
# accept (an account that exists, logged in on the public host), after which a login on the tenant's
# host works with the invite's role. Expired, cancelled and resent invites; who may do what; a mail
# that cannot be sent; tsk-tenant invite add|list|cancel; hostile input.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
. "$(dirname "$0")/../lib/smtp.sh"
fresh_db t_invites
tsk tenant create --slug umc --name 'UMC Hospital' --domain umc.localhost >/dev/null
tsk tenant create --slug other --name Other --domain other.localhost >/dev/null
for r in owner admin operator technician viewer; do api_user $r@umc.test umc $r; done
api_user boss@other.test other owner
api_user existing@x.test
q "UPDATE public.app_user SET first_name = 'Ana', last_name = 'Souza' WHERE email = 'owner@umc.test'" >/dev/null
smtp_start
ok $? "the SMTP server runs"
export TSK_SMTP_URL=smtp://127.0.0.1:$SMTP_PORT TSK_MAIL_FROM='TrakSense <noreply@traksense.test>'
export TSK_FRONTEND_URL=https://app.traksense.test/
httpd_start --config /dev/null --workers 4
ok $? "tsk-httpd runs, with mail"
P=$HTTPD_PORT
H=umc.localhost:$P
PUB=localhost:$P
declare -A TK
for r in owner admin operator technician viewer; do TK[$r]=$(api_token "$H" $r@umc.test); done
OTHER=$(api_token other.localhost:$P boss@other.test)
as() { local who=$1 m=$2 path=$3; shift 3; call "$m" "$H" "$path" -H "Authorization: Bearer ${TK[$who]}" -H 'Content-Type: application/json' "$@"; }
j() { printf '%s' "$API_BODY" | /usr/bin/python3 -c "import json,sys; v=json.load(sys.stdin); r=$1; print(r if isinstance(r,str) else json.dumps(r, sort_keys=True, ensure_ascii=False))"; }
mails() { [ "$(smtp_count)" -ge "$1" ]; }
mf() { mail_json "$1" | /usr/bin/python3 -c "import json,sys; v=json.load(sys.stdin); r=$2; print(r if isinstance(r,str) else json.dumps(r, ensure_ascii=False))"; }
status_of() { q "SELECT status FROM public.invite WHERE id = $1"; }
pub() { call "$1" "$PUB" "$2" -H 'Content-Type: application/json' "${@:3}"; }

# --- who may ------------------------------------------------------------------------------------------
for r in operator technician viewer; do
	as $r GET /api/team/invites/
	is "$API_STATUS" 403 "GET invites as $r: 403"
	as $r POST /api/team/invites/ --data-binary '{"email":"sneaky@x.test","role":"owner"}'
	is "$API_STATUS" 403 "POST an invite as $r: 403"
done
call POST "$H" /api/team/invites/ -H 'Content-Type: application/json' --data-binary '{"email":"a@x.test"}'
is "$API_STATUS" 401 "POST an invite without credentials: 401"
call POST "$H" /api/team/invites/ -H "Authorization: Bearer $OTHER" -H 'Content-Type: application/json' --data-binary '{"email":"a@x.test"}'
is "$API_STATUS" 401 "with another tenant's owner's token: 401"
is "$(q "SELECT count(*) FROM public.invite")" 0 "no invite was made"
as admin GET /api/team/invites/
is "$API_STATUS $API_BODY" '200 {"count":0,"next":null,"previous":null,"results":[]}' "an admin lists the (no) invites"

# --- create, and the mail ------------------------------------------------------------------------------
as owner POST /api/team/invites/ --data-binary '{"email":"Nova.Pessoa@X.test","role":"operator","message":"Bem-vinda! <b>equipe</b> & cia"}'
is "$API_STATUS" 201 "an owner invites: 201"
I1=$(j 'v["id"]')
TOK1=$(j 'v["token"]')
like "$TOK1" '^[A-Za-z0-9_-]{43}$' "the token: 43 characters of base64url"
is "$(j 'v["email"], v["role"], v["status"], v["is_valid"], v["is_expired"], v["tenant_name"], v["invited_by_email"], v["invited_by_name"]')" \
	'["nova.pessoa@x.test", "operator", "pending", true, false, "UMC Hospital", "owner@umc.test", "Ana Souza"]' "the invite (address in lower case)"
is "$(j 'v["accept_url"]')" "https://app.traksense.test/accept-invite?token=$TOK1" "the accept link on frontend_url"
is "$(j 'v["email_sent"], v["email_error"]')" '[true, null]' "mailed"
is "$(j 'sorted(v.keys())')" '["accept_url", "accepted_at", "created_at", "email", "email_error", "email_sent", "expires_at", "id", "invited_by_email", "invited_by_name", "is_expired", "is_valid", "message", "role", "status", "tenant_name", "token"]' \
	"the 201's fields"
is "$(q "SELECT expires_at - created_at FROM public.invite WHERE id = $I1")" "7 days" "it expires 7 days after it was made"
is "$(q "SELECT count(*) FROM public.invite WHERE token_hash = encode(sha256('$TOK1'::bytea), 'hex')")" 1 "the table keeps the token's SHA-256"
is "$(q "SELECT count(*) FROM public.invite i WHERE row_to_json(i)::text LIKE '%$TOK1%'")" 0 "and never the token"
wait_for 10 mails 1
ok $? "the mail arrived"
is "$(mf 1 'v["subject"]')" "You've been invited to join UMC Hospital" "subject"
is "$(mf 1 'v["envelope"]["rcpt_tos"]')" '["nova.pessoa@x.test"]' "to the invited address"
like "$(mf 1 'v["text"]')" "Ana Souza has invited you to join UMC Hospital as Operator" "the text part names the inviter and the role"
like "$(mf 1 'v["text"]')" "https://app\\.traksense\\.test/accept-invite\\?token=$TOK1" "the text part holds the link"
like "$(mf 1 'v["text"]')" 'Bem-vinda! <b>equipe</b> & cia' "and the message"
like "$(mf 1 'v["html"]')" "href=\"https://app\\.traksense\\.test/accept-invite\\?token=$TOK1\"" "the HTML part links to it"
like "$(mf 1 'v["html"]')" 'Bem-vinda! &lt;b&gt;equipe&lt;/b&gt; &amp; cia' "with the message escaped"

as admin POST /api/team/invites/ --data-binary '{"email":"nova.pessoa@x.test"}'
is "$API_STATUS $API_BODY" '400 {"email":["A pending invite already exists for this email."]}' "a second pending invite: 400"
as admin POST /api/team/invites/ --data-binary '{"email":"VIEWER@umc.test","role":"admin"}'
is "$API_STATUS $API_BODY" '400 {"email":["This user is already a member of the organization."]}' "inviting a member (any case): 400"
as owner GET /api/team/members/stats/
is "$(j 'v["pending_invites"]')" 1 "stats: one pending invite"
as owner GET /api/team/invites/
is "$(j 'v["count"], [i["email"] for i in v["results"]], "token" in v["results"][0]')" '[1, ["nova.pessoa@x.test"], false]' "the list: no token"

# --- validate and accept with a new account -----------------------------------------------------------
pub GET "/api/invites/validate/?token=$TOK1"
is "$API_STATUS $(j 'sorted(v.keys())')" '200 ["email", "expires_at", "id", "invited_by_name", "role", "tenant_name", "tenant_slug"]' "validate (public host): 200"
is "$(j 'v["id"], v["email"], v["role"], v["tenant_name"], v["tenant_slug"], v["invited_by_name"]')" \
	"[$I1, \"nova.pessoa@x.test\", \"operator\", \"UMC Hospital\", \"umc\", \"Ana Souza\"]" "what the accept page shows"
call GET "$H" "/api/invites/validate/?token=$TOK1"
is "$API_STATUS" 200 "validate works on the tenant's host too"
pub GET /api/invites/validate/
is "$API_STATUS $API_BODY" '400 {"detail":"Token is required."}' "validate without a token: 400"
pub GET "/api/invites/validate/?token=nope"
is "$API_STATUS $API_BODY" '404 {"detail":"Invalid invite token."}' "an unknown token: 404"

# A new user cannot log in on the tenant's host before accepting.
call POST "$H" /api/auth/login/ -H 'Content-Type: application/json' --data-binary '{"username_or_email":"nova.pessoa@x.test","password":"Dev@123456"}'
is "$API_BODY" '{"username_or_email":["Credenciais inválidas."]}' "before accepting: no login"
pub POST /api/invites/accept/ --data-binary '{}'
is "$API_STATUS $API_BODY" '400 {"detail":"Token is required."}' "public accept without a token"
pub POST /api/invites/accept/ --data-binary "{\"token\":\"$TOK1\",\"name\":\"   \"}"
is "$API_STATUS $API_BODY" '400 {"detail":"Name is required."}' "without a name"
pub POST /api/invites/accept/ --data-binary "{\"token\":\"$TOK1\",\"name\":\"Maria\"}"
is "$API_STATUS $API_BODY" '400 {"detail":"Password is required."}' "without a password"
pub POST /api/invites/accept/ --data-binary "{\"token\":\"$TOK1\",\"name\":\"Maria\",\"password\":\"1234567\"}"
is "$API_STATUS $API_BODY" '400 {"detail":"Password must be at least 8 characters."}' "a password of 7 characters"
pub POST /api/invites/accept/ --data-binary "{\"token\":\"$TOK1\",\"name\":\"Maria\",\"password\":12345678}"
is "$API_STATUS" 400 "a password that is a number: 400"
pub POST /api/invites/accept/ --data-binary '{"token":"nope","name":"Maria","password":"Dev@123456"}'
is "$API_STATUS $API_BODY" '404 {"detail":"Invalid invite token."}' "an unknown token"
is "$(q "SELECT count(*) FROM public.app_user WHERE email = 'nova.pessoa@x.test'")" 0 "no account made so far"
pub POST /api/invites/accept/ --data-binary "{\"token\":\"$TOK1\",\"name\":\" Maria da Silva \",\"password\":\"$API_PW\"}"
is "$API_STATUS" 201 "accept with signup: 201"
is "$(j 'v["message"], v["user"]["email"], v["user"]["full_name"], v["membership"]')" \
	'["Account created successfully.", "nova.pessoa@x.test", "Maria da Silva", {"role": "operator", "tenant_name": "UMC Hospital", "tenant_slug": "umc"}]' "the account and its membership"
is "$(q "SELECT first_name || '|' || last_name FROM public.app_user WHERE email = 'nova.pessoa@x.test'")" "Maria|da Silva" "the name split at the first space"
is "$(status_of "$I1")" accepted "the invite is accepted"
is "$(q "SELECT m.role || ' ' || m.status || ' ' || ib.email FROM public.membership m JOIN public.app_user u ON u.id = m.user_id JOIN public.app_user ib ON ib.id = m.invited_by_id WHERE u.email = 'nova.pessoa@x.test'")" \
	"operator active owner@umc.test" "an active operator, invited by the owner"
NEW=$(api_token "$H" nova.pessoa@x.test)
call GET "$H" /api/users/me/ -H "Authorization: Bearer $NEW"
is "$API_STATUS $(j 'v["role"], v["email"]')" '200 ["operator", "nova.pessoa@x.test"]' "the login on the tenant's host works, with the invite's role"
pub POST /api/invites/accept/ --data-binary "{\"token\":\"$TOK1\",\"name\":\"Maria\",\"password\":\"$API_PW\"}"
is "$API_STATUS $API_BODY" '400 {"detail":"This invite is no longer valid."}' "the token works once"
pub GET "/api/invites/validate/?token=$TOK1"
is "$API_STATUS $API_BODY" '400 {"detail":"This invite is no longer valid."}' "and validates no more"

# --- an account that exists: log in on the public host, accept there ----------------------------------
as admin POST /api/team/invites/ --data-binary '{"email":"existing@x.test","role":"viewer"}'
is "$API_STATUS" 201 "an admin invites an existing account"
I2=$(j 'v["id"]')
TOK2=$(j 'v["token"]')
pub POST /api/invites/accept/ --data-binary "{\"token\":\"$TOK2\",\"name\":\"Ex\",\"password\":\"$API_PW\"}"
is "$API_STATUS $API_BODY" '400 {"detail":"An account with this email already exists. Please login."}' "the public accept sends them to log in"
is "$(status_of "$I2")" pending "the invite is still pending"
EX=$(api_token "$PUB" existing@x.test)
[ -n "$EX" ]
ok $? "the existing user logs in on the public host"
call POST "$PUB" /api/team/invites/accept/ -H 'Content-Type: application/json' --data-binary "{\"token\":\"$TOK2\"}"
is "$API_STATUS" 401 "accept without credentials: 401"
call POST "$PUB" /api/team/invites/accept/ -H "Authorization: Bearer $OTHER" -H 'Content-Type: application/json' --data-binary "{\"token\":\"$TOK2\"}"
is "$API_STATUS" 401 "a tenant's token on the public host: 401"
call POST "other.localhost:$P" /api/team/invites/accept/ -H "Authorization: Bearer $OTHER" -H 'Content-Type: application/json' --data-binary "{\"token\":\"$TOK2\"}"
is "$API_STATUS $API_BODY" '400 {"detail":"This invite was sent to a different email address."}' "someone else's invite: 400"
call POST "$PUB" /api/team/invites/accept/ -H "Authorization: Bearer $EX" -H 'Content-Type: application/json' --data-binary '{"token":"nope"}'
is "$API_STATUS $API_BODY" '400 {"token":["Invalid invite token."]}' "an unknown token: 400"
call POST "$PUB" /api/team/invites/accept/ -H "Authorization: Bearer $EX" -H 'Content-Type: application/json' --data-binary '{"token":5}'
is "$API_STATUS $API_BODY" '400 {"token":["Not a valid string."]}' "a token that is a number: 400"
call POST "$PUB" /api/team/invites/accept/ -H "Authorization: Bearer $EX" -H 'Content-Type: application/json' --data-binary "{\"token\":\"$TOK2\"}"
is "$API_STATUS $(j 'v["message"], v["membership"]["role"], v["membership"]["user"]["email"], v["membership"]["invited_by_email"]')" \
	'200 ["Invitation accepted successfully.", "viewer", "existing@x.test", "admin@umc.test"]' "the logged-in user accepts: 200"
EXT=$(api_token "$H" existing@x.test)
call GET "$H" /api/users/me/ -H "Authorization: Bearer $EXT"
is "$API_STATUS $(j 'v["role"]')" '200 viewer' "and now logs in on the tenant's host as a viewer"
call POST "$PUB" /api/team/invites/accept/ -H "Authorization: Bearer $EX" -H 'Content-Type: application/json' --data-binary "{\"token\":\"$TOK2\"}"
is "$API_STATUS $API_BODY" '400 {"token":["This invite is no longer valid."]}' "twice: 400"
# A member of the tenant accepting a (new) invite to it on its host: already a member.
I3TOK=$(as owner POST /api/team/invites/ --data-binary '{"email":"third@x.test"}'; j 'v["token"]')
q "INSERT INTO public.app_user (email, password_hash) SELECT 'third@x.test', password_hash FROM public.app_user WHERE email = 'existing@x.test'" >/dev/null
tsk tenant member add umc third@x.test --role viewer >/dev/null
THIRD=$(api_token "$H" third@x.test)
call POST "$H" /api/team/invites/accept/ -H "Authorization: Bearer $THIRD" -H 'Content-Type: application/json' --data-binary "{\"token\":\"$I3TOK\"}"
is "$API_STATUS $API_BODY" '400 {"detail":"You are already a member of this organization."}' "a member accepting: 400"
ATOK=$(tsk tenant token add umc script --role admin | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
call POST "$H" /api/team/invites/accept/ -H "Authorization: Bearer $ATOK" -H 'Content-Type: application/json' --data-binary "{\"token\":\"$I3TOK\"}"
is "$API_STATUS" 403 "an API token without a user cannot accept: 403"

# --- expired -------------------------------------------------------------------------------------------
as owner POST /api/team/invites/ --data-binary '{"email":"late@x.test"}'
I4=$(j 'v["id"]')
TOK4=$(j 'v["token"]')
is "$(j 'v["role"]')" viewer "the default role: viewer"
out=$(TSK_NOW=$(date -u -d '+8 days' +%Y-%m-%dT%H:%M:%SZ) tsk tenant invite list umc | grep late@)
like "$out" '"status":"pending".*"is_valid":false,"is_expired":true' "seen eight days later (TSK_NOW): pending in the table, but expired"
q "UPDATE public.invite SET expires_at = now() - interval '1 second' WHERE id = $I4" >/dev/null
pub GET "/api/invites/validate/?token=$TOK4"
is "$API_STATUS $API_BODY" '400 {"detail":"This invite has expired."}' "validate an expired invite: 400"
is "$(status_of "$I4")" expired "and it is marked expired"
pub GET "/api/invites/validate/?token=$TOK4"
is "$API_STATUS $API_BODY" '400 {"detail":"This invite has expired."}' "still expired"
as owner POST "/api/team/invites/$I4/resend/"
is "$API_STATUS $API_BODY" '400 {"detail":"Only pending invitations can be resent."}' "resend an expired invite: 400"
as owner POST /api/team/invites/ --data-binary '{"email":"late@x.test"}'
is "$API_STATUS" 201 "a new invite for the address"
I5=$(j 'v["id"]')
TOK5=$(j 'v["token"]')
q "UPDATE public.invite SET expires_at = now() - interval '1 second' WHERE id = $I5" >/dev/null
as owner POST "/api/team/invites/$I5/resend/"
is "$API_STATUS $API_BODY" '400 {"detail":"This invitation has expired."}' "resend one whose time is up: 400"
is "$(status_of "$I5")" expired "and it is marked expired"
as owner POST /api/team/invites/ --data-binary '{"email":"late@x.test"}'
I6=$(j 'v["id"]')
TOK6=$(j 'v["token"]')
q "UPDATE public.invite SET expires_at = now() - interval '1 second' WHERE id = $I6" >/dev/null
api_user late@x.test
LATE=$(api_token "$PUB" late@x.test)
call POST "$PUB" /api/team/invites/accept/ -H "Authorization: Bearer $LATE" -H 'Content-Type: application/json' --data-binary "{\"token\":\"$TOK6\"}"
is "$API_STATUS $API_BODY" '400 {"token":["This invite has expired."]}' "accept an expired invite: 400"
is "$(status_of "$I6")" expired "marked expired"
is "$(q "SELECT count(*) FROM public.membership m JOIN public.app_user u ON u.id = m.user_id WHERE u.email = 'late@x.test'")" 0 "no membership"
as owner POST /api/team/invites/ --data-binary '{"email":"late2@x.test"}'
I7=$(j 'v["id"]')
TOK7=$(j 'v["token"]')
q "UPDATE public.invite SET expires_at = now() - interval '1 second' WHERE id = $I7" >/dev/null
pub POST /api/invites/accept/ --data-binary "{\"token\":\"$TOK7\",\"name\":\"Late Two\",\"password\":\"$API_PW\"}"
is "$API_STATUS $API_BODY" '400 {"detail":"This invite is no longer valid."}' "public accept of an expired invite: 400"
is "$(status_of "$I7") $(q "SELECT count(*) FROM public.app_user WHERE email = 'late2@x.test'")" "expired 0" "marked expired, no account"

# --- cancel and resend ---------------------------------------------------------------------------------
as owner POST /api/team/invites/ --data-binary '{"email":"cancel.me@x.test","role":"technician"}'
I8=$(j 'v["id"]')
TOK8=$(j 'v["token"]')
for r in operator technician viewer; do
	as $r DELETE "/api/team/invites/$I8/"
	is "$API_STATUS" 403 "cancel as $r: 403"
	as $r POST "/api/team/invites/$I8/resend/"
	is "$API_STATUS" 403 "resend as $r: 403"
done
call DELETE "other.localhost:$P" "/api/team/invites/$I8/" -H "Authorization: Bearer $OTHER"
is "$API_STATUS" 404 "another tenant's owner cancels it on their host: 404"
is "$(status_of "$I8")" pending "untouched"
n=$(smtp_count)
as admin POST "/api/team/invites/$I8/resend/"
is "$API_STATUS $(j 'v["status"], v["email_sent"]')" '200 ["pending", true]' "resend: 200"
TOK8B=$(j 'v["token"]')
ok $([ "$TOK8B" != "$TOK8" ] && echo 0 || echo 1) "with a new token"
wait_for 10 mails $((n + 1))
like "$(mf $((n + 1)) 'v["text"]')" "accept-invite\\?token=$TOK8B" "a new mail with the new link"
pub GET "/api/invites/validate/?token=$TOK8"
is "$API_STATUS" 404 "the old link is dead"
pub GET "/api/invites/validate/?token=$TOK8B"
is "$API_STATUS" 200 "the new one works"
as admin DELETE "/api/team/invites/$I8/"
is "$API_STATUS $API_BODY" '204 ' "cancel: 204"
is "$(status_of "$I8")" cancelled "cancelled"
as admin DELETE "/api/team/invites/$I8/"
is "$API_STATUS $API_BODY" '400 {"detail":"Only pending invitations can be cancelled."}' "cancel twice: 400"
as admin POST "/api/team/invites/$I8/resend/"
is "$API_STATUS $API_BODY" '400 {"detail":"Only pending invitations can be resent."}' "resend a cancelled invite: 400"
pub GET "/api/invites/validate/?token=$TOK8B"
is "$API_STATUS $API_BODY" '400 {"detail":"This invite is no longer valid."}' "a cancelled invite does not validate"
as admin GET "/api/team/invites/$I8/"
is "$API_STATUS $(j 'v["status"], v["is_valid"]')" '200 ["cancelled", false]' "one invite by id"
for bad in 0 abc 99999 "$I8;DELETE" "1%20OR%201=1"; do
	as admin DELETE "/api/team/invites/$bad/"
	is "$API_STATUS" 404 "cancel invite '$bad': 404"
done

# --- a mail that cannot be sent never fails the request --------------------------------------------------
smtp_stop
as owner POST /api/team/invites/ --data-binary '{"email":"nomail@x.test"}'
is "$API_STATUS $(j 'v["email_sent"]')" '201 false' "the SMTP server is down: still 201, email_sent false"
like "$(j 'v["email_error"]')" 'SMTP' "with the reason"
like "$(j 'v["accept_url"]')" '^https://app\.traksense\.test/accept-invite\?token=' "and the link to send by hand"
like "$(cat "$T/httpd.log")" 'not mailed' "logged"
as owner GET /api/team/invites/
is "$(j '[i["email_sent"] for i in v["results"] if i["email"] == "nomail@x.test"]')" '[false]' "the list shows it"

# --- tsk-tenant invite ----------------------------------------------------------------------------------
smtp_start
export TSK_SMTP_URL=smtp://127.0.0.1:$SMTP_PORT
out=$(tsk tenant invite add umc cli@x.test --role admin --message 'Olá')
is $? 0 "tsk-tenant invite add"
like "$out" '"accept_url":"https://app.traksense.test/accept-invite\?token=[A-Za-z0-9_-]{43}"' "prints the link"
like "$out" '"email_sent":true' "and mails it"
wait_for 10 mails 1
is "$(mf 1 'v["envelope"]["rcpt_tos"]')" '["cli@x.test"]' "the mail arrived"
like "$(mf 1 'v["text"]')" 'Team has invited you to join UMC Hospital as Administrator' "from the operator (no inviter: Team)"
CTOK=$(printf '%s' "$out" | sed -n 's/.*token=\([A-Za-z0-9_-]*\)".*/\1/p')
pub GET "/api/invites/validate/?token=$CTOK"
is "$API_STATUS $(j 'v["invited_by_name"]')" '200 Team' "its link validates"
CID=$(printf '%s' "$out" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
out=$(env -u TSK_SMTP_URL "$TSK_BUILD/tsk-tenant" invite add umc nosmtp@x.test --role viewer 2>"$T/err")
is $? 0 "without smtp_url: still made"
like "$out" '"email_sent":false' "not mailed"
like "$(cat "$T/err")" 'no smtp_url' "and says so"
tsk tenant invite add umc cli@x.test --role admin >/dev/null 2>&1
is $? 2 "a second invite for the address: exit 2"
tsk tenant invite add umc bad-address --role admin >/dev/null 2>&1
is $? 2 "a bad address: exit 2"
tsk tenant invite add umc z@x.test --role king >/dev/null 2>&1
is $? 2 "a bad role: exit 2"
tsk tenant invite add nope z@x.test --role viewer >/dev/null 2>&1
is $? 2 "an unknown tenant: exit 2"
like "$(tsk tenant invite list umc)" '"email":"cli@x.test","role":"admin","status":"pending"' "invite list"
like "$(tsk tenant invite cancel umc "$CID")" '"status":"cancelled"' "invite cancel"
tsk tenant invite cancel umc "$CID" >/dev/null 2>&1
is $? 2 "cancel twice: exit 2"

# --- bad input ------------------------------------------------------------------------------------------
before=$(q "SELECT (SELECT count(*) FROM public.invite), (SELECT count(*) FROM public.app_user), (SELECT count(*) FROM public.membership)")
as owner POST /api/team/invites/ --data-binary '{"email":'
is "$API_STATUS" 400 "bad JSON: 400"
as owner POST /api/team/invites/ --data-binary '[]'
is "$API_STATUS" 400 "an array: 400"
as owner POST /api/team/invites/ --data-binary '{}'
is "$API_STATUS $API_BODY" '400 {"email":["Este campo é obrigatório."]}' "no email: 400"
as owner POST /api/team/invites/ --data-binary '{"email":null}'
is "$API_STATUS $API_BODY" '400 {"email":["Este campo não pode ser nulo."]}' "null email: 400"
as owner POST /api/team/invites/ --data-binary '{"email":42}'
is "$API_STATUS $API_BODY" '400 {"email":["Not a valid string."]}' "a number as email: 400"
as owner POST /api/team/invites/ --data-binary '{"email":"not-an-address"}'
is "$API_STATUS $API_BODY" '400 {"email":["Insira um endereço de email válido."]}' "not an address: 400"
as owner POST /api/team/invites/ --data-binary "{\"email\":\"$(head -c 300 /dev/zero | tr '\0' a)@x.test\"}"
is "$API_STATUS $API_BODY" '400 {"email":["Certifique-se de que este campo não tenha mais de 255 caracteres."]}' "a 307-character address: 400"
as owner POST /api/team/invites/ --data-binary '{"email":"x@y.test","role":"god"}'
is "$API_STATUS $API_BODY" '400 {"role":["\"god\" não é um escolha válido."]}' "a bad role: 400"
as owner POST /api/team/invites/ --data-binary '{"email":"x@y.test","message":{"a":1}}'
is "$API_STATUS $API_BODY" '400 {"message":["Not a valid string."]}' "an object as message: 400"
as owner POST /api/team/invites/ --data-binary "{\"email\":\"x@y.test\",\"message\":\"$(head -c 2001 /dev/zero | tr '\0' m)\"}"
is "$API_STATUS $API_BODY" '400 {"message":["Certifique-se de que este campo não tenha mais de 2000 caracteres."]}' "a message of 2001 characters: 400"
as owner POST /api/team/invites/ --data-binary "{\"email\":\"x@y.test\\r\\nBcc: evil@z.test\"}"
is "$API_STATUS" 400 "an address with a line break: 400"
for sql in "x'); DELETE FROM public.invite; --@y.test" "a@b.c' OR '1'='1" 'o"; DROP TABLE public.membership; --@y.test'; do
	as owner POST /api/team/invites/ --data-binary "$(printf '{"email":"%s","message":"%s"}' "${sql//\"/\\\"}" "${sql//\"/\\\"}")"
	is "$API_STATUS" 400 "SQL in the address: 400"
	pub GET "/api/invites/validate/?token=$(printf '%s' "$sql" | sed 's/ /%20/g;s/;/%3B/g;s/#/%23/g')"
	is "$API_STATUS" 404 "SQL as a token to validate: 404"
	pub POST /api/invites/accept/ --data-binary "$(printf '{"token":"%s","name":"%s","password":"%s"}' "${sql//\"/\\\"}" "${sql//\"/\\\"}" "${sql//\"/\\\"}")"
	is "$API_STATUS" 404 "SQL in the public accept: 404"
	call POST "$PUB" /api/team/invites/accept/ -H "Authorization: Bearer $EX" -H 'Content-Type: application/json' --data-binary "$(printf '{"token":"%s"}' "${sql//\"/\\\"}")"
	is "$API_STATUS" 400 "SQL in the accept's token: 400"
done
as owner POST /api/team/invites/ --data-binary '{"email":"sql@x.test","message":"x'"'"'); DELETE FROM public.invite; --"}'
is "$API_STATUS $(j 'v["message"]')" "201 x'); DELETE FROM public.invite; --" "SQL in a message is just text"
after=$(q "SELECT (SELECT count(*) FROM public.invite) - 1, (SELECT count(*) FROM public.app_user), (SELECT count(*) FROM public.membership)")
is "$after" "$before" "the tables are intact (one invite more: the last one)"
pub POST /api/invites/accept/ --data-binary "{\"token\":\"$(head -c 100000 /dev/zero | tr '\0' t)\",\"name\":\"a\",\"password\":\"12345678\"}"
ok $([ "$API_STATUS" = 413 ] || [ "$API_STATUS" = 404 ] && echo 0 || echo 1) "a 100 kB token: refused ($API_STATUS)"

httpd_stop
is $? 0 "tsk-httpd stops cleanly"
openapi_check
done_testing
