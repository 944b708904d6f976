#!/bin/bash
# SIGHUP reloads jwt_secret: tokens signed with the old secret (access and refresh) are refused after the
# reload, logins get tokens signed with the new one; a secret that is too short leaves the configuration
# as it was.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
unset TSK_JWT_SECRET   # the secret comes from the file, so that SIGHUP can change it
fresh_db t_httpd_jwt_reload
tsk tenant create --slug umc --name UMC --domain umc.localhost >/dev/null
PW='Dev@123456'
echo "$PW" | tsk tenant user add ana@umc.localhost >/dev/null
tsk tenant member add umc ana@umc.localhost --role owner >/dev/null
OLD=old-secret-0123456789abcdef-0123456789abcdef
NEW=new-secret-0123456789abcdef-0123456789abcdef
printf 'jwt_secret = %s\naccess_log = %s\n' "$OLD" "$T/access.log" >"$T/tsk.conf"
httpd_start --config "$T/tsk.conf" --workers 2
ok $? "tsk-httpd answers on its port"
UMC="umc.localhost:$HTTPD_PORT"
O=(-H "Origin: http://$UMC")
me() { api GET "$UMC" /api/users/me/ -H "Authorization: Bearer $1" | cut -c1-3; }
refresh() { api POST "$UMC" /api/auth/token/refresh/ -H "Cookie: refresh_token=$1" "${O[@]}" | cut -c1-3; }

login "$UMC" ana@umc.localhost "$PW" >/dev/null
AT=$(cookie access_token) RT=$(cookie refresh_token)
is "$(me "$AT")" 200 "a token signed with the first secret works"
is "$(refresh "$RT")" 200 "and its refresh token"

# --- a secret that is too short: SIGHUP changes nothing --------------------------------------------------
printf 'jwt_secret = short\naccess_log = %s\n' "$T/access.log" >"$T/tsk.conf"
kill -HUP "$HTTPD_PID"
refused_logged() { grep -q 'SIGHUP: .*jwt_secret.*configuration unchanged' "$T/httpd.log"; }
wait_for 10 refused_logged
ok $? "SIGHUP with a short jwt_secret: refused, configuration unchanged"
is "$(me "$AT")" 200 "the old token still works"

# --- the new secret -------------------------------------------------------------------------------------
printf 'jwt_secret = %s\naccess_log = %s\n' "$NEW" "$T/access.log" >"$T/tsk.conf"
kill -HUP "$HTTPD_PID"
old_refused() { [ "$(me "$AT")" = 401 ]; }
wait_for 10 old_refused
ok $? "after SIGHUP with a new jwt_secret the old access token is refused (401)"
is "$(api GET "$UMC" /api/users/me/ -H "Cookie: access_token=$AT")" \
	'401 {"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"AccessToken","token_type":"access","message":"Token is invalid or expired"}]}' \
	"also as a cookie: 401 token_not_valid"
is "$(refresh "$RT")" 401 "and so is the old refresh token"
like "$(login "$UMC" ana@umc.localhost "$PW")" '^200 ' "a new login works"
AT2=$(cookie access_token) RT2=$(cookie refresh_token)
is "$(me "$AT2")" 200 "its access token works"
is "$(refresh "$RT2")" 200 "and its refresh token"
kill -0 "$HTTPD_PID"
ok $? "the daemon kept running through both SIGHUPs"

httpd_stop
is $? 0 "the daemon stops with status 0 (under make asan: no leak, no error)"
httpd_log_clean
ok $? "no sanitizer report in the daemon's log"
openapi_check
done_testing
