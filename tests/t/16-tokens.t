#!/bin/bash
# API tokens: printed once by `token add`, stored only as a hash, listed without the secret, bound to
# their tenant and use (ingest tokens for /ingest only), revoked by name or id.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_tokens
tsk tenant create --slug umc --name "UMC" >/dev/null
tsk tenant create --slug other --name "Other" >/dev/null

token_of() { sed -n 's/.*"token":"\([^"]*\)".*/\1/p' <<<"$1"; }

out=$(tsk tenant token add umc grafana --role viewer)
ok $? "token add SLUG NAME --role ROLE"
like "$out" '"tenant":"umc","name":"grafana","role":"viewer","token":"tsk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}"' \
	"prints the token once, with its record"
tok=$(token_of "$out")
is "$(q "SELECT count(*) FROM public.api_token WHERE token_hash = '$tok' OR token_hash LIKE '%${tok:17}%'")" 0 \
	"the token is not stored"
is "$(q "SELECT prefix FROM public.api_token WHERE name = 'grafana'")" "${tok:4:12}" "its prefix is"

list=$(tsk tenant token list umc)
like "$list" '"name":"grafana","role":"viewer","prefix":"[0-9a-f]{12}"' "token list"
case "$list" in *"${tok:17}"*|*token_hash*) r=1 ;; *) r=0 ;; esac
ok $r "the list holds neither the secret nor the hash"
like "$(tsk tenant -f table token list umc)" '^id +tenant +name +role +prefix' "token list as a table"

out=$(echo "$tok" | tsk tenant token verify umc)
like "$out" '"name":"grafana","role":"viewer","valid":true' "token verify: valid on its tenant"
err=$(echo "$tok" | tsk tenant token verify other 2>&1 >/dev/null)
is $? 1 "refused on another tenant: exit 1"
like "$err" "another tenant" "and says so"
echo "$tok" | tsk tenant token verify umc --ingest >/dev/null 2>&1
is $? 1 "a viewer token is refused for ingest"
echo "${tok:0:30}x${tok:31}" | tsk tenant token verify umc >/dev/null 2>&1
is $? 1 "a tampered token is refused"
echo "not-a-token" | tsk tenant token verify umc >/dev/null 2>&1
is $? 1 "garbage is refused"
like "$(q "SELECT last_used_at IS NOT NULL FROM public.api_token WHERE name = 'grafana'")" t "its use was noted"

# Ingest tokens
out=$(tsk tenant token add umc --ingest)
ok $? "token add SLUG --ingest"
like "$out" '"name":"ingest","role":"ingest"' "named ingest, role ingest"
ing=$(token_of "$out")
like "$(echo "$ing" | tsk tenant token verify umc --ingest)" '"valid":true' "accepted for ingest"
echo "$ing" | tsk tenant token verify umc >/dev/null 2>&1
is $? 1 "and refused by the API"
echo "$ing" | tsk tenant token verify other --ingest >/dev/null 2>&1
is $? 1 "and by another tenant"
tsk tenant token add umc --ingest >/dev/null 2>&1
is $? 2 "a second default ingest token: the name is taken, exit 2"
like "$(tsk tenant token add umc ingest-2 --ingest)" '"name":"ingest-2","role":"ingest"' "a named second one"

# Bad input: exit 2, nothing made
n=$(q "SELECT count(*) FROM public.api_token")
tsk tenant token add umc grafana --role viewer >/dev/null 2>&1
is $? 2 "a live name twice: exit 2"
tsk tenant token add umc x >/dev/null 2>&1
is $? 2 "no --role: exit 2"
tsk tenant token add umc x --role superuser >/dev/null 2>&1
is $? 2 "an unknown role: exit 2"
tsk tenant token add umc 42 --role viewer >/dev/null 2>&1
is $? 2 "a name of digits (ids are): exit 2"
tsk tenant token add umc x --role admin --ingest >/dev/null 2>&1
is $? 2 "--ingest with another role: exit 2"
tsk tenant token add umc --role admin >/dev/null 2>&1
is $? 2 "no name for an API token: exit 2"
tsk tenant token add nope x --role viewer >/dev/null 2>&1
is $? 2 "an unknown tenant: exit 2"
tsk tenant token list nope >/dev/null 2>&1
is $? 2 "token list of an unknown tenant: exit 2"
tsk tenant token frob umc >/dev/null 2>&1
is $? 2 "an unknown token command: exit 2"
is "$(q "SELECT count(*) FROM public.api_token")" "$n" "nothing was made"

# Revoking
out=$(tsk tenant token rm umc grafana)
like "$out" '"name":"grafana","role":"viewer","revoked":true' "token rm SLUG NAME"
echo "$tok" | tsk tenant token verify umc >/dev/null 2>&1
is $? 1 "a revoked token is refused"
like "$(tsk tenant token list umc)" '"name":"grafana".*"revoked_at":"[0-9T:Z-]+"' "the list shows it revoked"
tsk tenant token rm umc grafana >/dev/null 2>&1
is $? 2 "revoking it again: exit 2"
id=$(q "SELECT id FROM public.api_token WHERE name = 'ingest'")
tsk tenant token rm other "$id" >/dev/null 2>&1
is $? 2 "another tenant cannot revoke umc's token by id"
like "$(tsk tenant token rm umc "$id")" "\"id\":$id,.*\"revoked\":true" "token rm SLUG ID"
echo "$ing" | tsk tenant token verify umc --ingest >/dev/null 2>&1
is $? 1 "the revoked ingest token is refused"
like "$(tsk tenant token add umc grafana --role admin)" '"name":"grafana","role":"admin"' \
	"a revoked token's name can be used again"

# A tenant's tokens go with it
tsk tenant token add other ci --role operator >/dev/null
tsk tenant delete other --yes >/dev/null
is "$(q "SELECT count(*) FROM public.api_token WHERE tenant_id IS NULL OR tenant_id NOT IN (SELECT id FROM public.tenant)")" 0 \
	"deleting a tenant deletes its tokens"

# Password generation: every password change bumps it (the sessions of the old password end)
echo 'Dev@123456' | tsk tenant user add gen@umc.localhost >/dev/null
is "$(q "SELECT password_gen FROM public.app_user WHERE email = 'gen@umc.localhost'")" 1 "a new user: generation 1"
echo 'New@1234567' | tsk tenant user passwd gen@umc.localhost >/dev/null
is "$(q "SELECT password_gen FROM public.app_user WHERE email = 'gen@umc.localhost'")" 2 "user passwd: generation 2"

done_testing
