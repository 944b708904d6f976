#!/bin/bash
# Registry faults (issue 8): tenant settings are validated on `set` and a bad one (stored before that,
# or by hand in SQL) stops neither maintain for the other tenants nor the queries of other tenants;
# emails are valid UTF-8 and normalized the same way everywhere; the password limits hold.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_faults
for t in aaa umc zzz; do tsk tenant create --slug $t --name "T $t" >/dev/null; done
export TSK_NOW=$(q "SELECT extract(epoch FROM date_trunc('second', now()))::bigint")
settings() { q "SELECT settings::text FROM public.tenant WHERE slug = '$1'"; }

# --- 1. Settings validated on set ---
for kv in "retention 5x" "retention -30d" "retention 0" "retention 30x" "retention inf" "retention \"1e3\"" \
	"retention 0x10" "retention true" "offline_after soon" "offline_after 0" "offline_after -5m" \
	"offline_after {}" "max_future 0s" "max_future forever" "raw_retention forever" "raw_retention -1" \
	"archive_messages yes" "offline_after 99999999w"; do
	set -- $kv
	err=$(tsk tenant set umc "$1" "$2" 2>&1 >/dev/null)
	is $? 2 "set $1 $2: exit 2"
done
like "$(tsk tenant set umc retention 5x 2>&1)" 'retention.*"5x" is not a duration' "says why"
err=$(tsk tenant set umc colour blue 2>&1)
is $? 2 "an unknown key: exit 2"
like "$err" 'unknown setting "colour" \(known: archive_messages, max_future, offline_after, raw_retention, retention, webhook_secret, webhook_url\)' \
	"lists the known keys"
is "$(settings umc)" '{}' "nothing stored by the refused sets"
for kv in "retention 30d" "retention forever" "retention none" "retention 2592000" "offline_after 90m" \
	"offline_after 1h30m" "offline_after 1.5h" "max_future 1d" "raw_retention 7d" "archive_messages true"; do
	set -- $kv
	tsk tenant set umc "$1" "$2" >/dev/null
	ok $? "set $1 $2"
done
is "$(settings umc)" '{"retention": 2592000, "max_future": "1d", "offline_after": "1.5h", "raw_retention": "7d", "archive_messages": true}' \
	"the valid values are stored"
tsk tenant unset umc no_such_key >/dev/null
ok $? "unset of an unknown (or absent) key: exit 0, nothing to remove"
q "UPDATE public.tenant SET settings = settings || '{\"colour\": \"blue\"}' WHERE slug = 'umc'" >/dev/null
tsk tenant unset umc colour >/dev/null
ok $? "unset removes an unknown key stored earlier"
is "$(q "SELECT settings ? 'colour' FROM public.tenant WHERE slug = 'umc'")" f "and it is gone"
tsk tenant maintain >/dev/null
ok $? "maintain with valid settings: exit 0"

# --- 1. A bad value already in the database ---
q "UPDATE public.tenant SET settings = '{\"retention\": \"5x\"}' WHERE slug = 'umc'" >/dev/null
q "DROP TABLE IF EXISTS aaa.reading_p2000_01; DROP TABLE IF EXISTS zzz.reading_p2000_01" >/dev/null
q "SET search_path = zzz; INSERT INTO reading (device_id, sensor_id, ts, value) VALUES ('d', 's', '2000-01-15Z', 1)" >/dev/null
out=$(tsk tenant maintain 2>"$T/err")
is $? 1 "maintain with one bad stored retention: exit 1 at the end"
like "$(cat "$T/err")" 'tenant umc: setting retention "5x" is not a duration' "reports the tenant and why"
like "$(cat "$T/err")" '1 of 3 tenants could not be maintained' "and the summary"
like "$out" '"tenants":2,.*"rows_moved":1,.*"failed":1' "the others are maintained (zzz, after umc, too)"
is "$(q "SELECT to_regclass('zzz.reading_p2000_01') IS NOT NULL")" t "zzz's late row got its partition"
tsk tenant maintain umc >/dev/null 2>&1
is $? 1 "maintain of that one tenant: exit 1"
q "UPDATE public.tenant SET settings = '{\"retention\": -30}' WHERE slug = 'umc'" >/dev/null
tsk tenant maintain umc >/dev/null 2>&1
is $? 1 "a negative number of seconds is not a retention either"
q "UPDATE public.tenant SET settings = '{\"retention\": \"\"}' WHERE slug = 'umc'" >/dev/null
tsk tenant maintain umc >/dev/null
ok $? "the empty retention stored by older versions still means forever"
q "DROP SCHEMA aaa CASCADE" >/dev/null
out=$(tsk tenant maintain 2>"$T/err")
is $? 1 "a tenant whose schema is gone: exit 1"
like "$(cat "$T/err")" '^tsk-tenant: tenant aaa: ' "reported"
like "$out" '"tenants":2,.*"failed":1' "the other two maintained"

# A bad offline_after stored by hand: that tenant's query fails with a message, the others answer.
q "UPDATE public.tenant SET settings = '{\"offline_after\": \"soon\"}' WHERE slug = 'umc'" >/dev/null
err=$(tsk query -t umc sensors 2>&1)
rc=$?
ok $((rc == 0 || rc >= 3)) "sensors of the tenant with the bad setting: a clean failure (exit $rc), no crash"
like "$err" 'offline_after "soon" is not a duration' "naming the setting"
tsk query -t zzz sensors >/dev/null
ok $? "sensors of another tenant still work"
tsk tenant set umc offline_after 2h >/dev/null && tsk query -t umc sensors >/dev/null
ok $? "set fixes it"

# --- 2. Emails ---
pw() { printf '%s\n' 'Pass@12345'; }
err=$(pw | tsk tenant user add $'\xff@x.y' 2>&1)
is $? 2 "user add of invalid UTF-8: exit 2"
like "$err" 'invalid email address: not valid UTF-8' "with a clear message"
for sub in passwd rm; do
	pw | tsk tenant user $sub $'\xff@x.y' >/dev/null 2>&1
	is $? 2 "user $sub of invalid UTF-8: exit 2"
done
tsk tenant member add umc $'\xff@x.y' --role viewer >/dev/null 2>&1
is $? 2 "member add of invalid UTF-8: exit 2"
pw | tsk tenant user verify $'\xff@x.y' >/dev/null 2>&1
is $? 1 "verify of invalid UTF-8: exit 1 (like any email that matches no user)"
out=$(pw | tsk tenant user add 'Ü@x.y')
ok $? "user add Ü@x.y"
like "$out" '"email":"ü@x.y"' "stored lower case (Unicode-aware)"
is "$(q "SELECT count(*) FROM public.app_user WHERE email = 'ü@x.y'")" 1 "one row, lower case"
pw | tsk tenant user add 'ü@x.y' >/dev/null 2>&1
is $? 2 "ü@x.y is the same user: exit 2 (exists)"
printf 'Other@12345\n' | tsk tenant user passwd 'ü@X.Y' >/dev/null
ok $? "passwd via ü@X.Y"
printf 'Other@12345\n' | tsk tenant user verify 'Ü@x.y' >/dev/null
ok $? "verify via Ü@x.y"
tsk tenant member add umc 'Ü@X.Y' --role owner >/dev/null
ok $? "member add via Ü@X.Y"
like "$(tsk tenant member list umc)" '"email":"ü@x.y","role":"owner"' "one member, normalized"
printf 'Other@12345\n' | tsk tenant user add 'ẞ@x.y' >/dev/null
tsk tenant member add umc 'ß@x.y' --role owner >/dev/null
ok $? "ẞ and ß: the same user"
tsk tenant member rm umc 'ü@x.y' >/dev/null
ok $? "member rm via ü@x.y"
tsk tenant user rm 'Ü@X.Y' >/dev/null
ok $? "user rm via Ü@X.Y"
is "$(q "SELECT count(*) FROM public.app_user WHERE email = 'ü@x.y'")" 0 "gone"

# --- 3. Password limits ---
head -c 1048576 /dev/zero | tr '\0' a >"$T/big"
err=$(tsk tenant user add big@x.y <"$T/big" 2>&1 >/dev/null)
is $? 2 "a 1 MB password: exit 2"
like "$err" 'password longer than 1024 bytes' "says why"
is "$(q "SELECT count(*) FROM public.app_user WHERE email = 'big@x.y'")" 0 "and nothing created"
err=$(printf 'abcd\0efgh12\n' | tsk tenant user add nul@x.y 2>&1 >/dev/null)
is $? 2 "a password with a NUL byte: exit 2"
like "$err" 'password contains a NUL byte' "says why"
is "$(q "SELECT count(*) FROM public.app_user WHERE email = 'nul@x.y'")" 0 "and nothing created"
p1024=$(head -c 1024 /dev/zero | tr '\0' b)
printf '%s\n' "$p1024" | tsk tenant user add long@x.y >/dev/null
ok $? "a 1024-byte password: add"
printf '%s\n' "$p1024" | tsk tenant user verify long@x.y >/dev/null
ok $? "and verify"
err=$(printf '%sb\n' "$p1024" | tsk tenant user verify long@x.y 2>&1 >/dev/null)
is $? 2 "verify of 1025 bytes whose first 1024 are the password: refused, exit 2 (never truncated)"
like "$err" 'password longer than 1024 bytes' "says why"
printf '%sb\n' "$p1024" | tsk tenant user add long2@x.y >/dev/null 2>&1
is $? 2 "a 1025-byte password: add exits 2"
done_testing
