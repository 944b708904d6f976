#!/bin/bash
# trusted_proxies: X-Forwarded-For counts only when the peer is a trusted proxy. From anyone else a
# spoofed header gets no fresh login rate-limit bucket and is not what the access log records; behind a
# trusted proxy the per-address limit, the access log and last_login_ip follow the forwarded address
# (the last one the proxy added, not what the client wrote before it). SIGHUP reloads the list.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
fresh_db t_httpd_proxies
tsk tenant create --slug umc --name UMC --domain umc.localhost >/dev/null
PW='Dev@123456'
echo "$PW" | tsk tenant user add ana@umc.localhost >/dev/null
tsk tenant member add umc ana@umc.localhost --role owner >/dev/null
BAD='400 {"username_or_email":["Credenciais inválidas."]}'
# fail XFF NAME: a failed login (another account each time, so only the address limit can bite).
fail() {
	local xff=$1
	shift
	login "umc.localhost:$HTTPD_PORT" "$1@umc.localhost" wrong-password ${xff:+-H "X-Forwarded-For: $xff"} | cut -c1-3
}
# remote XFF TAG: the client address the access log records for a request with that X-Forwarded-For
# (GET /probe-TAG, a 404, found in the log by its path).
remote() {
	curl -s -o /dev/null -H 'Host: localhost' ${1:+-H "X-Forwarded-For: $1"} "$HTTPD_URL/probe-$2"
	wait_for 10 grep -q " /probe-$2 " "$T/access.log" || return 1
	grep " /probe-$2 " "$T/access.log" | cut -d' ' -f2
}
TSK_TRUSTED_PROXIES=not-an-address "$TSK_BUILD/tsk-httpd" --config /dev/null --listen 127.0.0.1:0 --spool "$T/x.db" 2>"$T/err"
is $? 2 "a trusted_proxies entry that is no address or CIDR: refuses to start (exit 2)"
like "$(cat "$T/err")" 'trusted_proxies: "not-an-address"' "and says which"

# --- no trusted proxy (the default): X-Forwarded-For is ignored ---------------------------------------------
cat >"$T/tsk.conf" <<CONF
access_log = $T/access.log
login_burst = 100
login_address_burst = 2
login_address_rate = 1
CONF
httpd_start --config "$T/tsk.conf" --workers 2
ok $? "a daemon without trusted_proxies"
is "$(fail 1.1.1.1 a1)" 400 "1st failure, X-Forwarded-For 1.1.1.1"
is "$(fail 2.2.2.2 a2)" 400 "2nd failure, X-Forwarded-For 2.2.2.2"
is "$(fail 3.3.3.3 a3)" 429 "a 3rd spoofed address gets no fresh bucket: 429 (the peer's bucket is empty)"
is "$(remote 3.3.3.3 a)" 127.0.0.1 "the access log records the peer, not the header"
httpd_stop
is $? 0 "that daemon stops with status 0"

# --- 127.0.0.1 is a trusted proxy -----------------------------------------------------------------------------
echo "trusted_proxies = 127.0.0.1, 10.255.0.0/16" >>"$T/tsk.conf"
: >"$T/access.log"
httpd_start --config "$T/tsk.conf" --workers 2
ok $? "a daemon with trusted_proxies = 127.0.0.1, 10.255.0.0/16"
is "$(fail 10.0.0.1 b1)" 400 "1st failure from 10.0.0.1 (through the proxy)"
is "$(fail 10.0.0.1 b2)" 400 "2nd failure from 10.0.0.1"
is "$(fail 10.0.0.1 b3)" 429 "3rd from 10.0.0.1: 429"
is "$(fail 10.0.0.2 b4)" 400 "another client behind the proxy has its own bucket: 400"
is "$(fail '10.0.0.99, 10.0.0.1' b5)" 429 "an address the client put before the proxy's hop does not count: still 10.0.0.1, 429"
is "$(fail '10.0.0.1, 10.0.0.3, 10.255.1.1' b6)" 400 "through two trusted proxies: the first untrusted address from the right (10.0.0.3), 400"
is "$(remote '10.0.0.1, 10.0.0.3, 10.255.1.1' b)" 10.0.0.3 "the access log records the client's address"
is "$(fail '' b7)" 400 "the proxy itself, without the header: its own bucket"
like "$(login "umc.localhost:$HTTPD_PORT" ana@umc.localhost "$PW" -H 'X-Forwarded-For: 10.0.0.42')" '^200 ' "a login through the proxy"
is "$(q "SELECT last_login_ip FROM public.app_user WHERE email = 'ana@umc.localhost'")" 10.0.0.42 \
	"stores the client's address as last_login_ip"

# --- SIGHUP: the list is reloaded -------------------------------------------------------------------------
sed -i '/^trusted_proxies/d' "$T/tsk.conf"
kill -HUP "$HTTPD_PID"
n=0
untrusted() { n=$((n + 1)); [ "$(remote 10.0.0.77 "c$n")" = 127.0.0.1 ]; }
wait_for 20 untrusted
ok $? "after SIGHUP without trusted_proxies the header is ignored again"
echo "trusted_proxies = nonsense" >>"$T/tsk.conf"
kill -HUP "$HTTPD_PID"
refused_logged() { grep -q 'SIGHUP: trusted_proxies.*configuration unchanged' "$T/httpd.log"; }
wait_for 10 refused_logged
ok $? "a SIGHUP with a bad list is refused, configuration unchanged"
kill -0 "$HTTPD_PID"
ok $? "the daemon kept running"
httpd_stop
is $? 0 "the daemon stops with status 0 (under make asan: no leak, no error)"
httpd_log_clean
ok $? "no sanitizer report in the daemon's log"
openapi_check
done_testing
