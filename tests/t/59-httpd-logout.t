#!/bin/bash
# POST /api/auth/logout/ revokes the refresh token it is given (the refresh_token cookie, or "refresh" in
# the body): a refresh with it afterwards is 401 token_not_valid, other sessions' refresh tokens still
# work, and the denylist (public.revoked_token) forgets tokens once they have expired.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
fresh_db t_httpd_logout
tsk tenant create --slug umc --name UMC --domain umc.localhost >/dev/null
PW='Dev@123456'
for u in ana@umc.localhost bia@umc.localhost; do
	echo "$PW" | tsk tenant user add $u >/dev/null
	tsk tenant member add umc $u --role owner >/dev/null
done
httpd_start --config /dev/null --workers 2
ok $? "tsk-httpd answers on its port"
UMC="umc.localhost:$HTTPD_PORT"
O=(-H "Origin: http://$UMC")
NOT_VALID='401 {"detail":"Token is invalid or expired","code":"token_not_valid"}'
refresh() { api POST "$UMC" /api/auth/token/refresh/ -H "Cookie: refresh_token=$1" "${O[@]}"; }
REFRESHED='200 {"message":"Token refreshed successfully","detail":"New access token set in HttpOnly cookie"}'

# Two sessions of ana (two browsers), one of bia.
login "$UMC" ana@umc.localhost "$PW" >/dev/null
AT1=$(cookie access_token) RT1=$(cookie refresh_token)
login "$UMC" ana@umc.localhost "$PW" >/dev/null
AT2=$(cookie access_token) RT2=$(cookie refresh_token)
login "$UMC" bia@umc.localhost "$PW" >/dev/null
BAT=$(cookie access_token) BRT=$(cookie refresh_token)
is "$(refresh "$RT1")" "$REFRESHED" "before the logout the refresh token works"

# --- logout with the browser's cookies -------------------------------------------------------------------
is "$(api POST "$UMC" /api/auth/logout/ -H "Cookie: access_token=$AT1; refresh_token=$RT1" "${O[@]}")" \
	'200 {"message":"Logout realizado com sucesso!"}' "logout with both cookies: 200"
is "$(q "SELECT count(*) FROM public.revoked_token")" 1 "one token in the denylist"
is "$(refresh "$RT1")" "$NOT_VALID" "the logged-out refresh token: 401 token_not_valid"
is "$(refresh "$RT2")" "$REFRESHED" "the same user's other session still refreshes"
is "$(refresh "$BRT")" "$REFRESHED" "and so does another user's"

# --- logout by a script: Bearer, the refresh token in the body ------------------------------------------
is "$(api POST "$UMC" /api/auth/logout/ -H "Authorization: Bearer $BAT" -H 'Content-Type: application/json' \
	--data-binary "{\"refresh\":\"$BRT\"}")" '200 {"message":"Logout realizado com sucesso!"}' "logout with {\"refresh\": ...} in the body: 200"
is "$(refresh "$BRT")" "$NOT_VALID" "that refresh token is refused afterwards"
is "$(api POST "$UMC" /api/auth/logout/ -H "Authorization: Bearer $BAT" -H 'Content-Type: application/json' \
	--data-binary "{\"refresh\":\"$BRT\"}")" '200 {"message":"Logout realizado com sucesso!"}' "logging out twice is harmless"

# Someone else's refresh token is not the caller's to revoke.
is "$(api POST "$UMC" /api/auth/logout/ -H "Authorization: Bearer $BAT" -H 'Content-Type: application/json' \
	--data-binary "{\"refresh\":\"$RT2\"}")" '200 {"message":"Logout realizado com sucesso!"}' "bia's logout naming ana's refresh token: 200"
is "$(refresh "$RT2")" "$REFRESHED" "but ana's token is not revoked"
is "$(api POST "$UMC" /api/auth/logout/ -H "Authorization: Bearer $AT2" --data-binary 'not json')" \
	'200 {"message":"Logout realizado com sucesso!"}' "a body that is not JSON and no cookie: 200, nothing to revoke"
is "$(refresh "$RT2")" "$REFRESHED" "and nothing was revoked"
is "$(api POST "$UMC" /api/auth/logout/ -H "Cookie: refresh_token=$RT2")" \
	'401 {"detail":"Authentication credentials were not provided."}' "logout with only a refresh token: 401 (authentication first)"
is "$(refresh "$RT2")" "$REFRESHED" "which revoked nothing"

# --- a fresh login after the logout works -----------------------------------------------------------------
like "$(login "$UMC" ana@umc.localhost "$PW")" '^200 ' "ana logs in again"
is "$(refresh "$(cookie refresh_token)")" "$REFRESHED" "and the new refresh token works"

# --- entries expired for more than a day are pruned when another token is revoked ------------------------
q "UPDATE public.revoked_token SET expires_at = now() - interval '25 hours'" >/dev/null
api POST "$UMC" /api/auth/logout/ -H "Cookie: access_token=$AT2; refresh_token=$RT2" "${O[@]}" >/dev/null
is "$(q "SELECT count(*) FROM public.revoked_token")" 1 "expired rows are deleted when a token is revoked: only the new one is left"
is "$(refresh "$RT2")" "$NOT_VALID" "and the new one is refused"

httpd_stop
is $? 0 "the daemon stops with status 0 (under make asan: no leak, no error)"
httpd_log_clean
ok $? "no sanitizer report in the daemon's log"
openapi_check
done_testing
