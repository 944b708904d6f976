#!/bin/bash
# The team API on a tenant host (lib/http/api_team.c, lib/registry/team.c): every members endpoint by
# role (owner, admin, operator, technician, viewer, no member, another tenant's owner, no credentials),
# the answers' shapes, role and status changes, the soft removal, the last-active-owner rule (also two
# demotions of the two owners at once), an inactive or suspended membership that no longer logs in,
# and hostile input (bad JSON, wrong types, huge strings, SQL in every field and parameter).
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
fresh_db t_team
tsk tenant create --slug umc --name 'UMC Hospital' --domain umc.localhost >/dev/null
tsk tenant create --slug other --name Other --domain other.localhost >/dev/null
for r in owner admin operator technician viewer; do api_user $r@umc.test umc $r; done
api_user owner2@umc.test umc owner
api_user admin2@umc.test umc admin
api_user outsider@x.test
api_user boss@other.test other owner
httpd_start --config /dev/null --workers 4
ok $? "tsk-httpd runs"
P=$HTTPD_PORT
H=umc.localhost:$P
declare -A TK
for r in owner admin operator technician viewer owner2 admin2; do TK[$r]=$(api_token "$H" $r@umc.test); done
OTHER=$(api_token other.localhost:$P boss@other.test)
PUBLIC=$(api_token localhost:$P outsider@x.test)
[ -n "${TK[owner]}" ] && [ -n "${TK[viewer]}" ] && [ -n "$OTHER" ] && [ -n "$PUBLIC" ]
ok $? "every test user has a token"
as() { local who=$1 m=$2 path=$3; shift 3; call "$m" "$H" "$path" -H "Authorization: Bearer ${TK[$who]}" "$@"; }
jsonb() { as "$@" -H 'Content-Type: application/json'; }
# j EXPR: a Python expression on the answer v, printed (strings bare, the rest as JSON).
j() { printf '%s' "$API_BODY" | /usr/bin/python3 -c "import json,sys; v=json.load(sys.stdin); r=$1; print(r if isinstance(r,str) else json.dumps(r, sort_keys=True, ensure_ascii=False))"; }
mid() { q "SELECT m.id FROM public.membership m JOIN public.app_user u ON u.id = m.user_id WHERE u.email = '$1'"; }
tables() { q "SELECT (SELECT count(*) FROM public.membership), (SELECT count(*) FROM public.app_user), (SELECT count(*) FROM public.invite), (SELECT count(*) FROM public.tenant)"; }

# --- who may: owners and admins only ------------------------------------------------------------------
for path in /api/team/members/ /api/team/members/stats/ "/api/team/members/$(mid viewer@umc.test)/"; do
	for r in owner admin; do
		as $r GET "$path"
		is "$API_STATUS" 200 "GET $path as $r: 200"
	done
	for r in operator technician viewer; do
		as $r GET "$path"
		is "$API_STATUS $API_BODY" '403 {"detail":"You do not have permission to perform this action."}' "GET $path as $r: 403"
	done
	call GET "$H" "$path"
	is "$API_STATUS $API_BODY" '401 {"detail":"Authentication credentials were not provided."}' "GET $path without credentials: 401"
	call GET "$H" "$path" -H "Authorization: Bearer $OTHER"
	is "$API_STATUS" 401 "GET $path with another tenant's owner's token: 401"
	call GET "$H" "$path" -H "Authorization: Bearer $PUBLIC"
	is "$API_STATUS" 401 "GET $path with a non-member's (public-site) token: 401"
	call GET "localhost:$P" "$path" -H "Authorization: Bearer $PUBLIC"
	is "$API_STATUS" 404 "GET $path on the public host: 404 (tenant hosts only)"
done
for r in operator technician viewer; do
	jsonb $r PATCH "/api/team/members/$(mid viewer@umc.test)/" --data-binary '{"role":"admin"}'
	is "$API_STATUS" 403 "PATCH a member as $r: 403"
	as $r DELETE "/api/team/members/$(mid owner@umc.test)/"
	is "$API_STATUS" 403 "DELETE a member as $r: 403"
done
call PATCH "$H" "/api/team/members/$(mid viewer@umc.test)/" -H "Authorization: Bearer $OTHER" -H 'Content-Type: application/json' --data-binary '{"role":"admin"}'
is "$API_STATUS" 401 "PATCH with another tenant's token: 401"
is "$(q "SELECT role FROM public.membership WHERE id = $(mid viewer@umc.test)")" viewer "nothing changed by the refused requests"

# --- the list's shape ----------------------------------------------------------------------------------
as owner GET /api/team/members/
is "$(j 'v["count"], v["next"], v["previous"]')" '[7, null, null]' "the page envelope: 7 members, one page"
is "$(j 'sorted(v["results"][0].keys())')" '["can_delete_tenant", "can_manage_team", "can_write", "id", "invited_by_email", "joined_at", "role", "status", "updated_at", "user"]' \
	"a member's fields"
is "$(j 'sorted(v["results"][0]["user"].keys())')" '["avatar", "email", "first_name", "full_name", "id", "initials", "last_name", "username"]' \
	"a member's user fields"
is "$(j '[ (m["user"]["email"], m["role"], m["status"], m["can_manage_team"], m["can_write"], m["can_delete_tenant"]) for m in v["results"] if m["user"]["email"] in ("owner@umc.test","admin@umc.test","operator@umc.test","technician@umc.test","viewer@umc.test")]' | /usr/bin/python3 -c 'import json,sys; print(json.dumps(sorted(json.load(sys.stdin))))')" \
	'[["admin@umc.test", "admin", "active", true, true, false], ["operator@umc.test", "operator", "active", false, true, false], ["owner@umc.test", "owner", "active", true, true, true], ["technician@umc.test", "technician", "active", false, false, false], ["viewer@umc.test", "viewer", "active", false, false, false]]' \
	"roles, statuses and capabilities (a technician cannot write)"
like "$(j 'v["results"][0]["joined_at"]')" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' "joined_at in UTC"
as owner GET /api/team/members/?page=2
is "$API_STATUS $API_BODY" '404 {"detail":"Página inválida."}' "a page past the last: 404"
as owner GET "/api/team/members/$(mid viewer@umc.test)/"
is "$(j 'v["user"]["email"], v["role"], v["user"]["full_name"], v["user"]["initials"]')" '["viewer@umc.test", "viewer", "viewer@umc.test", "V"]' "one member by id"
as owner GET "/api/team/members/$(mid boss@other.test)/"
is "$API_STATUS $API_BODY" '404 {"detail":"Não encontrado."}' "another tenant's membership id: 404"
for bad in 0 -1 abc 1.5 99999999999999999999 "1%20OR%201=1"; do
	as owner GET "/api/team/members/$bad/"
	is "$API_STATUS" 404 "member id '$bad': 404"
done
as owner GET /api/team/members/stats/
is "$API_BODY" '{"total_members":7,"active_members":7,"pending_invites":0,"members_by_role":{"admin":2,"operator":1,"owner":2,"technician":1,"viewer":1},"members_by_status":{"active":7}}' "stats"

# --- changes -------------------------------------------------------------------------------------------
V=$(mid viewer@umc.test)
jsonb admin PATCH "/api/team/members/$V/" --data-binary '{"role":"operator"}'
is "$API_STATUS $(j 'v["role"], v["status"], v["can_write"]')" '200 ["operator", "active", true]' "an admin makes the viewer an operator"
jsonb owner PUT "/api/team/members/$V/" --data-binary '{"role":"viewer","status":"suspended"}'
is "$API_STATUS $(j 'v["role"], v["status"], v["can_write"], v["can_manage_team"]')" '200 ["viewer", "suspended", false, false]' "PUT: role and status"
as viewer GET /api/users/me/
is "$API_STATUS" 401 "a suspended member's token stops working"
call POST "$H" /api/auth/login/ -H 'Content-Type: application/json' --data-binary '{"username_or_email":"viewer@umc.test","password":"Dev@123456"}'
is "$API_BODY" '{"username_or_email":["Credenciais inválidas."]}' "and a suspended member cannot log in"
jsonb owner PATCH "/api/team/members/$V/" --data-binary '{"status":"active"}'
is "$API_STATUS $(j 'v["status"]')" '200 active' "made active again"
TK[viewer]=$(api_token "$H" viewer@umc.test)
as viewer GET /api/users/me/
is "$API_STATUS" 200 "and it logs in again"
as admin DELETE "/api/team/members/$V/"
is "$API_STATUS" 204 "DELETE: 204"
is "$API_BODY" "" "with no body"
is "$(q "SELECT status FROM public.membership WHERE id = $V")" inactive "a soft removal: the membership stays, inactive"
as viewer GET /api/users/me/
is "$API_STATUS" 401 "an inactive member's token stops working"
call POST "$H" /api/auth/login/ -H 'Content-Type: application/json' --data-binary '{"username_or_email":"viewer@umc.test","password":"Dev@123456"}'
is "$API_BODY" '{"username_or_email":["Credenciais inválidas."]}' "and cannot log in"
as owner GET /api/team/members/stats/
is "$(j 'v["total_members"], v["active_members"], v["members_by_status"]')" '[7, 6, {"active": 6, "inactive": 1}]' "stats count the inactive member apart"
as owner DELETE "/api/team/members/$(mid boss@other.test)/"
is "$API_STATUS" 404 "DELETE another tenant's membership: 404"
is "$(q "SELECT status FROM public.membership WHERE id = $(mid boss@other.test)")" active "which is untouched"
tsk tenant member add umc viewer@umc.test --role viewer >/dev/null
is "$(q "SELECT status FROM public.membership WHERE id = $V")" active "tsk-tenant member add makes a membership active again"

# --- the last active owner -----------------------------------------------------------------------------
O1=$(mid owner@umc.test)
O2=$(mid owner2@umc.test)
jsonb admin PATCH "/api/team/members/$O2/" --data-binary '{"role":"admin"}'
is "$API_STATUS" 200 "one of two owners may be demoted"
jsonb admin PATCH "/api/team/members/$O1/" --data-binary '{"role":"admin"}'
is "$API_STATUS $API_BODY" '400 {"role":["Cannot change role: tenant must have at least one active owner."]}' "the last owner may not be demoted"
jsonb admin PATCH "/api/team/members/$O1/" --data-binary '{"status":"inactive"}'
is "$API_STATUS $API_BODY" '400 {"status":["Cannot change status: tenant must have at least one active owner."]}' "nor made inactive"
jsonb owner PATCH "/api/team/members/$O1/" --data-binary '{"status":"suspended","role":"owner"}'
is "$API_STATUS" 400 "nor suspended (by themself)"
as admin DELETE "/api/team/members/$O1/"
is "$API_STATUS $API_BODY" '400 {"detail":"Cannot remove the last owner from the organization."}' "nor removed"
jsonb owner PATCH "/api/team/members/$O1/" --data-binary '{"role":"owner"}'
is "$API_STATUS" 200 "an owner staying owner is fine"
is "$(q "SELECT count(*) FROM public.membership WHERE tenant_id = (SELECT id FROM public.tenant WHERE slug = 'umc') AND role = 'owner' AND status = 'active'")" 1 "one active owner"
# An inactive owner does not count as the one owner.
jsonb owner PATCH "/api/team/members/$O2/" --data-binary '{"role":"owner","status":"inactive"}'
is "$API_STATUS" 200 "an inactive owner is allowed"
as owner DELETE "/api/team/members/$O1/"
is "$API_STATUS" 400 "but does not count: the last active owner still may not leave"
out=$(tsk tenant member rm umc owner@umc.test 2>&1)
is $? 2 "nor be removed by tsk-tenant member rm"
jsonb owner PATCH "/api/team/members/$O2/" --data-binary '{"status":"active"}'
is "$API_STATUS" 200 "two active owners again"

# Two admins demote the two owners at the same moment: whatever the order, one owner stays. Each
# request goes to a daemon of its own (two requests on one daemon may share a worker thread, one after
# the other). Round 1 makes the worst interleaving happen for sure: a session of the test holds a SHARE
# lock on the memberships, so each request gets as far as its write and waits there (without the
# tenant's lock both would have counted the other owner by then); rounds 2-5 run free.
A_URL=$HTTPD_URL A_PID=$HTTPD_PID
HTTPD_SPOOL=$T/spool2.db httpd_start --config /dev/null --workers 2
ok $? "a second tsk-httpd on the same database"
B_URL=$HTTPD_URL B_PID=$HTTPD_PID
HTTPD_URL=$A_URL HTTPD_PID=$A_PID
share_locked() { [ "$(q "SELECT count(*) FROM pg_locks WHERE relation = 'public.membership'::regclass AND mode = 'ShareLock' AND granted")" = 1 ]; }
waiting() { [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")" -ge 2 ]; }
for round in 1 2 3 4 5; do
	if [ $round = 1 ]; then
		hold_begin "BEGIN; LOCK TABLE public.membership IN SHARE MODE;"
		wait_for 30 share_locked
	fi
	curl -s -o "$T/c1" -w '%{http_code}' -X PATCH -H "Host: $H" -H "Authorization: Bearer ${TK[admin]}" -H 'Content-Type: application/json' \
		--data-binary '{"role":"viewer"}' "$HTTPD_URL/api/team/members/$O1/" >"$T/s1" &
	p1=$!
	curl -s -o "$T/c2" -w '%{http_code}' -X PATCH -H "Host: $H" -H "Authorization: Bearer ${TK[admin2]}" -H 'Content-Type: application/json' \
		--data-binary '{"role":"viewer"}' "$B_URL/api/team/members/$O2/" >"$T/s2" &
	p2=$!
	if [ $round = 1 ]; then
		wait_for 30 waiting
		ok $? "round 1: both requests wait behind the held lock"
		hold_end
	fi
	wait $p1 $p2
	s="$(cat "$T/s1") $(cat "$T/s2")"
	owners=$(q "SELECT count(*) FROM public.membership WHERE id IN ($O1, $O2) AND role = 'owner' AND status = 'active'")
	is "$owners" 1 "round $round: two demotions at once ($s): exactly one owner remains"
	case "$s" in "200 400"|"400 200") r=0 ;; *) r=1 ;; esac
	ok $r "round $round: one demotion succeeded, the other was refused"
	# Both owners again for the next round (by the CLI, which takes the same locks).
	tsk tenant member add umc owner@umc.test --role owner >/dev/null
	tsk tenant member add umc owner2@umc.test --role owner >/dev/null
done

# --- bad input -----------------------------------------------------------------------------------------
before=$(tables)
A=$(mid admin@umc.test)
jsonb owner PATCH "/api/team/members/$A/" --data-binary '{"role":'
is "$API_STATUS $(j 'v["detail"][:16]')" '400 JSON parse error' "bad JSON: 400"
jsonb owner PATCH "/api/team/members/$A/" --data-binary '["role","admin"]'
like "$API_STATUS $API_BODY" '^400 \{"non_field_errors":' "a JSON array: 400"
jsonb owner PATCH "/api/team/members/$A/" --data-binary '{"role":"superuser"}'
is "$API_STATUS $API_BODY" '400 {"role":["\"superuser\" não é um escolha válido."]}' "an unknown role: 400"
jsonb owner PATCH "/api/team/members/$A/" --data-binary '{"role":5}'
is "$API_STATUS $API_BODY" '400 {"role":["\"5\" não é um escolha válido."]}' "a number as role: 400"
jsonb owner PATCH "/api/team/members/$A/" --data-binary '{"role":null}'
is "$API_STATUS $API_BODY" '400 {"role":["Este campo não pode ser nulo."]}' "null role: 400"
jsonb owner PATCH "/api/team/members/$A/" --data-binary '{"status":["active"]}'
is "$API_STATUS" 400 "a list as status: 400"
jsonb owner PATCH "/api/team/members/$A/" --data-binary '{"status":"deleted"}'
is "$API_STATUS $API_BODY" '400 {"status":["\"deleted\" não é um escolha válido."]}' "an unknown status: 400"
jsonb owner PATCH "/api/team/members/$A/" --data-binary '{"role":"admin\u0000"}'
is "$API_STATUS" 400 "a role with a NUL: 400"
huge=$(head -c 60000 /dev/zero | tr '\0' a)
jsonb owner PATCH "/api/team/members/$A/" --data-binary "{\"role\":\"$huge\"}"
is "$API_STATUS" 400 "a 60 kB role: 400"
for sql in "admin'; DELETE FROM public.membership; --" "owner' OR '1'='1" 'viewer"); DROP TABLE public.invite; --'; do
	body=$(printf '{"role":"%s","status":"%s"}' "${sql//\"/\\\"}" "${sql//\"/\\\"}")
	jsonb owner PATCH "/api/team/members/$A/" --data-binary "$body"
	is "$API_STATUS" 400 "SQL in role and status: 400 ($sql)"
done
for sql in "1;DELETE%20FROM%20public.membership" "1'%20OR%20'1'='1" "(SELECT%201)"; do
	jsonb owner PATCH "/api/team/members/$sql/" --data-binary '{"role":"viewer"}'
	is "$API_STATUS" 404 "SQL in the id: 404"
	as owner GET "/api/team/members/?page=$sql"
	is "$API_STATUS" 404 "SQL in page: 404"
done
jsonb owner PATCH "/api/team/members/$A/" --data-binary '{"role":"admin","id":1,"user":{"id":1},"tenant_id":2,"invited_by_email":"x@y.z"}'
is "$API_STATUS $(j 'v["id"], v["user"]["email"]')" "200 [$A, \"admin@umc.test\"]" "read-only fields in the body are ignored"
is "$(tables)" "$before" "the tables are intact (same members, users, invites and tenants)"
is "$(q "SELECT role || ' ' || status FROM public.membership WHERE id = $A")" "admin active" "and the admin is still an active admin"
call POST "$H" /api/team/members/ -H "Authorization: Bearer ${TK[owner]}"
is "$API_STATUS" 405 "POST /api/team/members/: 405 (members join by invite)"
like "$(grep -i '^Allow:' "$T/api.hdr")" 'GET' "with Allow"

httpd_stop
is $? 0 "tsk-httpd stops cleanly"
kill -TERM "$B_PID"
wait "$B_PID"
is $? 0 "and the second one too"
openapi_check
done_testing
