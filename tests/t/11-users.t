#!/bin/bash
# Users and memberships: argon2id passwords never printed, roles, a tenant always keeps one owner.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_users
tsk tenant create --slug umc --name "UMC" >/dev/null
tsk tenant create --slug other --name "Other" >/dev/null

out=$(echo 'Dev@123456' | tsk tenant user add Owner@UMC.localhost)
ok $? "user add reads the password from stdin"
like "$out" '"email":"owner@umc.localhost"' "email stored lower case"
case "$out" in *Dev@123456*|*argon2*) r=1 ;; *) r=0 ;; esac
ok $r "neither the password nor its hash is printed"
like "$(q "SELECT password_hash FROM public.app_user WHERE email = 'owner@umc.localhost'")" '^\$argon2id\$' \
	"stored as an argon2id hash"
echo 'Dev@123456' | tsk tenant user add owner@umc.localhost >/dev/null 2>&1
is $? 2 "duplicate user: exit 2"
echo 'short' | tsk tenant user add weak@umc.localhost >/dev/null 2>&1
is $? 2 "a password under 8 characters is refused"
tsk tenant user add nopw@umc.localhost </dev/null >/dev/null 2>&1
is $? 2 "no password on stdin: exit 2"
echo 'Dev@123456' | tsk tenant user add 'not-an-email' >/dev/null 2>&1
is $? 2 "invalid email: exit 2"
echo 'Staff@123456' | tsk tenant user add staff@localhost.local --staff >/dev/null
like "$(tsk tenant user list)" '"email":"staff@localhost.local","staff":true' "--staff"

out=$(echo 'Dev@123456' | tsk tenant user verify owner@umc.localhost)
like "$out" '"valid":true' "verify with the right password"
echo 'Wrong@123456' | tsk tenant user verify owner@umc.localhost >/dev/null 2>&1
is $? 1 "verify with a wrong password: exit 1"
echo 'New@1234567' | tsk tenant user passwd owner@umc.localhost >/dev/null
echo 'Dev@123456' | tsk tenant user verify owner@umc.localhost >/dev/null 2>&1
is $? 1 "after passwd the old password fails"
echo 'New@1234567' | tsk tenant user verify owner@umc.localhost >/dev/null
ok $? "and the new one works"
echo 'x@12345678' | tsk tenant user passwd ghost@umc.localhost >/dev/null 2>&1
is $? 2 "passwd of an unknown user: exit 2"

# Memberships and roles
echo 'Op@1234567' | tsk tenant user add op@umc.localhost >/dev/null
out=$(tsk tenant member add umc owner@umc.localhost --role owner)
like "$out" '"role":"owner"' "member add owner"
tsk tenant member add umc op@umc.localhost --role superuser >/dev/null 2>&1
is $? 2 "unknown role: exit 2"
for role in admin operator technician viewer; do
	tsk tenant member add umc op@umc.localhost --role $role >/dev/null
	is "$(q "SELECT role FROM public.membership m JOIN public.app_user u ON u.id = m.user_id WHERE u.email = 'op@umc.localhost'")" $role "role $role"
done
tsk tenant member add umc ghost@umc.localhost --role viewer >/dev/null 2>&1
is $? 2 "member add of an unknown user: exit 2"
tsk tenant member add nope op@umc.localhost --role viewer >/dev/null 2>&1
is $? 2 "member add to an unknown tenant: exit 2"
tsk tenant member rm umc owner@umc.localhost >/dev/null 2>&1
is $? 2 "removing the last owner is refused"
tsk tenant member add umc owner@umc.localhost --role admin >/dev/null 2>&1
is $? 2 "demoting the last owner is refused"
echo 'Dev@123456' | tsk tenant user rm owner@umc.localhost >/dev/null 2>&1
is $? 2 "deleting the last owner's user is refused"
is "$(q "SELECT role FROM public.membership m JOIN public.app_user u ON u.id = m.user_id WHERE u.email = 'owner@umc.localhost'")" owner \
	"the owner is still owner"
tsk tenant member add umc op@umc.localhost --role owner >/dev/null
tsk tenant member add umc owner@umc.localhost --role admin >/dev/null
ok $? "with a second owner, the first can be demoted"
tsk tenant member rm umc owner@umc.localhost >/dev/null
ok $? "and removed"
is "$(tsk tenant member list umc | wc -l)" 1 "one member left"
tsk tenant member add other staff@localhost.local --role viewer >/dev/null
is "$(tsk tenant member list other | grep -c umc.localhost)" 0 "members of one tenant do not show in another"
is "$(tsk tenant member list umc | grep -c staff@)" 0 "and the other way round"
tsk tenant user rm owner@umc.localhost >/dev/null
ok $? "a user with no last-owner duty can be removed"
tsk tenant user rm owner@umc.localhost >/dev/null 2>&1
is $? 2 "removing it twice: exit 2"
done_testing
