#!/bin/bash
# tsk-tenant: tenants, schemas, domains, settings, bad input refused with exit 2 and nothing changed.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_tenant

out=$(tsk tenant create --slug uberlandia-medical-center --name "Uberlândia Medical Center" --domain UMC.localhost:8000)
ok $? "create a tenant"
like "$out" '"schema":"uberlandia_medical_center"' "slug - becomes _ in the schema name"
like "$out" '"domains":\["umc.localhost"\]' "domain stored lower case without the port"
is "$(q "SELECT count(*) FROM pg_tables WHERE schemaname = 'uberlandia_medical_center' AND tablename IN ('reading','device','sensor')")" 3 \
	"the tenant schema has reading, device and sensor"
is "$(q "SELECT count(*) FROM public.schema_migration WHERE scope = 'uberlandia_medical_center'")" \
	"$(grep -c . <<<"$(ls sql/tenant/*.sql)")" "every tenant migration is recorded for the new schema"
is "$(q "SELECT partstrat FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'uberlandia_medical_center' AND c.relname = 'reading'")" r \
	"reading is range-partitioned"
tsk tenant create --slug b2 --name "Second" >/dev/null
ok $? "a second tenant"

fingerprint() {
	q "SELECT (SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace),
	          (SELECT count(*) FROM pg_class), (SELECT string_agg(slug, ',' ORDER BY slug) FROM public.tenant),
	          (SELECT count(*) FROM public.domain), (SELECT count(*) FROM public.app_user)"
}
before=$(fingerprint)
for bad in 'a;drop schema public cascade--' 'UMC' 'has space' "quo'te" 'dq"x' 'semi;colon' public pg_x pgadmin \
	-lead '' "$(printf 'a%.0s' $(seq 1 64))" 'umc_underscore' 'ümc'; do
	err=$(tsk tenant create --slug "$bad" --name X 2>&1 >/dev/null)
	is "$?" 2 "slug '$bad' refused with exit 2"
	like "$err" '^tsk-tenant: ' "one line prefixed with the tool's name ($err)"
done
tsk tenant create --slug "$(printf 'a%.0s' $(seq 1 63))" --name "Sixty-three" >/dev/null
ok $? "a 63-character slug is accepted"
tsk tenant delete "$(printf 'a%.0s' $(seq 1 63))" --yes >/dev/null
tsk tenant create --slug b2 --name Dup >/dev/null 2>&1
is $? 2 "duplicate slug: exit 2"
tsk tenant create --slug c3 --name C --domain umc.localhost >/dev/null 2>&1
is $? 2 "duplicate domain: exit 2"
is "$(q "SELECT count(*) FROM public.tenant WHERE slug = 'c3'")" 0 "the tenant with a taken domain was not created"
is "$(q "SELECT count(*) FROM pg_namespace WHERE nspname = 'c3'")" 0 "nor its schema"
tsk tenant create --slug c3 --name C --domain "x'; drop table tenant; --" >/dev/null 2>&1
is $? 2 "an injected domain is refused"
tsk tenant create --slug c3 >/dev/null 2>&1
is $? 2 "create without --name: exit 2"
is "$(fingerprint)" "$before" "the refused commands changed nothing"

tsk tenant show nope >/dev/null 2>&1
is $? 2 "show of an unknown tenant: exit 2"
tsk tenant delete nope --yes >/dev/null 2>&1
is $? 2 "delete of an unknown tenant: exit 2"
tsk tenant domain add nope x.example >/dev/null 2>&1
is $? 2 "domain add to an unknown tenant: exit 2"
tsk tenant bogus >/dev/null 2>&1
is $? 2 "unknown command: exit 2"
tsk tenant --format xml list >/dev/null 2>&1
is $? 2 "unknown format: exit 2"

# Domains
out=$(tsk tenant domain add b2 b2.example.com)
like "$out" '"domain":"b2.example.com"' "domain add"
tsk tenant domain add uberlandia-medical-center b2.example.com >/dev/null 2>&1
is $? 2 "a domain serves one tenant only"
is "$(tsk tenant domain list b2 | wc -l)" 1 "domain list of one tenant"
is "$(tsk tenant domain list | wc -l)" 2 "domain list of all tenants"
tsk tenant domain rm b2 b2.example.com >/dev/null
ok $? "domain rm"
tsk tenant domain rm b2 b2.example.com >/dev/null 2>&1
is $? 2 "removing a missing domain: exit 2"

# Settings
out=$(tsk tenant set b2 offline_after 30m)
like "$out" '"offline_after":"30m"' "set a string setting"
out=$(tsk tenant set b2 archive_messages true)
like "$out" '"archive_messages":true' "set a JSON setting"
out=$(tsk tenant unset b2 archive_messages)
like "$out" '"settings":\{"offline_after":"30m"\}' "unset"

# Formats
out=$(tsk tenant list --format csv)
like "$(printf '%s' "$out" | head -n 1)" '^slug,name,schema,domains,members,created_at' "csv header"
is "$(printf '%s\n' "$out" | grep -c $'\r$')" 3 "three CRLF lines (header + 2 tenants)"
out=$(tsk tenant list --format table)
like "$out" '^slug +name' "table header aligned"
like "$out" 'Uberlândia Medical Center' "table keeps UTF-8"

# Isolation: rows written in one tenant's schema are invisible from the other through every path.
q "INSERT INTO uberlandia_medical_center.device (device_id) VALUES ('GW-1');
   INSERT INTO uberlandia_medical_center.sensor (device_id, sensor_id) VALUES ('GW-1', 't1');
   INSERT INTO uberlandia_medical_center.reading (device_id, sensor_id, ts, value) VALUES
     ('GW-1', 't1', '2025-10-17T10:30:00Z', 23.5), ('GW-1', 't1', '2025-10-17T10:31:00Z', 24)" >/dev/null
a=$(tsk tenant show uberlandia-medical-center)
b=$(tsk tenant show b2)
like "$a" '"readings":2,"devices":1,"sensors":1' "tenant a sees its rows"
like "$b" '"readings":0,"devices":0,"sensors":0' "tenant b sees none of them"
is "$(q "SELECT count(*) FROM b2.reading")" 0 "b2's reading table is empty"

# Delete
tsk tenant delete b2 >/dev/null 2>&1
is $? 2 "delete without --yes is refused"
is "$(q "SELECT count(*) FROM public.tenant WHERE slug = 'b2'")" 1 "and the tenant is still there"
tsk tenant delete b2 b2 >/dev/null
ok $? "delete confirmed by typing the slug again"
is "$(q "SELECT count(*) FROM pg_namespace WHERE nspname = 'b2'")" 0 "the schema is dropped"
is "$(q "SELECT count(*) FROM public.schema_migration WHERE scope = 'b2'")" 0 "its migration records are gone"
is "$(q "SELECT count(*) FROM uberlandia_medical_center.reading")" 2 "the other tenant is untouched"

# Migrate is idempotent and reaches every tenant.
out=$(tsk tenant migrate)
is "$out" '{"public_applied":0,"tenant_applied":0,"tenants":1}' "a second migrate applies nothing"

# Connection failures are temporary (exit 75) so cron and systemd retry.
tsk tenant --dsn "host=127.0.0.1 port=1 user=tsk dbname=x connect_timeout=2" list >/dev/null 2>&1
is $? 75 "database down: exit 75"

out=$(tsk tenant --help)
like "$out" 'usage: tsk-tenant' "--help"
is "$(tsk tenant --version)" "tsk-tenant $(sed -n 's/^VERSION *:= *//p' Makefile)" "--version"
tsk tenant list >/dev/full 2>/dev/null
is $? 1 "a write error on stdout is reported (exit 1)"
done_testing
