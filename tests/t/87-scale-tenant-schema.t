#!/bin/bash
# Write scaling by tenant: after every migration (and maintain's partitions), each tenant schema is
# self-contained, so Citus 12 schema-based sharding can place each tenant on its own node unchanged
# (tsk(7), SCALING). Checked in pg_catalog, for every tenant schema: no foreign key reaching another
# schema (either way), no view depending on another schema's relations, no sequence in another schema
# or shared across schemas (identity columns, or sequences owned by a column of the same schema), no
# column of another schema's type, no function in a tenant schema depending on or naming another
# schema, no trigger calling a function outside the schema or pg_catalog, partitions beside their
# parent. Then each check is shown to catch a planted violation.
. "$(dirname "$0")/../lib/tap.sh"
fresh_db t_tenant_schema
for s in umc beta-co other; do tsk tenant create --slug $s --name "$s" >/dev/null; done
tsk tenant migrate >/dev/null
tsk tenant maintain >/dev/null
TS="(SELECT schema_name::regnamespace FROM public.tenant)"
SYS="('pg_catalog'::regnamespace, 'information_schema'::regnamespace)"
is "$(q "SELECT count(*) FROM public.tenant")" 3 "three tenant schemas, migrated"
ok $(( $(q "SELECT count(*) FROM pg_class WHERE relnamespace IN $TS AND relkind IN ('r', 'p')") > 30 ? 0 : 1 )) \
	"with their tables (and partitions)"

fk_cross() { q "SELECT count(*) FROM pg_constraint c JOIN pg_class a ON a.oid = c.conrelid JOIN pg_class b ON b.oid = c.confrelid
	WHERE c.contype = 'f' AND a.relnamespace <> b.relnamespace AND (a.relnamespace IN $TS OR b.relnamespace IN $TS)"; }
view_cross() { q "SELECT count(*) FROM pg_rewrite r JOIN pg_class v ON v.oid = r.ev_class
	JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass
	JOIN pg_class t ON t.oid = d.refobjid
	WHERE v.relnamespace IN $TS AND t.relnamespace <> v.relnamespace AND t.relnamespace NOT IN $SYS"; }
# A sequence a tenant table uses (a column default's nextval or an identity), in another schema.
seq_cross() { q "SELECT count(*) FROM pg_depend d JOIN pg_class s ON s.oid = d.refobjid AND s.relkind = 'S'
	JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND ad.oid = d.objid JOIN pg_class t ON t.oid = ad.adrelid
	WHERE d.refclassid = 'pg_class'::regclass AND (t.relnamespace IN $TS OR s.relnamespace IN $TS)
	  AND s.relnamespace <> t.relnamespace"; }
# A sequence used by the tables of more than one schema.
seq_shared() { q "SELECT count(*) FROM (SELECT s.oid FROM pg_depend d JOIN pg_class s ON s.oid = d.refobjid AND s.relkind = 'S'
	JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND ad.oid = d.objid JOIN pg_class t ON t.oid = ad.adrelid
	WHERE d.refclassid = 'pg_class'::regclass GROUP BY s.oid HAVING count(DISTINCT t.relnamespace) > 1) x"; }
# A sequence of a tenant schema that no column of that schema owns (identity: 'i', OWNED BY: 'a').
seq_loose() { q "SELECT count(*) FROM pg_class s WHERE s.relkind = 'S' AND s.relnamespace IN $TS AND NOT EXISTS (
	SELECT 1 FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid WHERE d.classid = 'pg_class'::regclass
	AND d.objid = s.oid AND d.deptype IN ('a', 'i') AND t.relnamespace = s.relnamespace)"; }
type_cross() { q "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid
	WHERE c.relnamespace IN $TS AND a.attnum > 0 AND NOT a.attisdropped
	  AND t.typnamespace NOT IN $SYS AND t.typnamespace <> c.relnamespace"; }
# Functions of a tenant schema: recorded dependencies (BEGIN ATOMIC bodies, argument types) on
# another schema's relations or types, or another schema's name in the body (other bodies are text).
func_cross() { q "SELECT count(*) FROM pg_proc p WHERE p.pronamespace IN $TS AND (
	EXISTS (SELECT 1 FROM pg_depend d JOIN pg_class t ON d.refclassid = 'pg_class'::regclass AND t.oid = d.refobjid
	        WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND t.relnamespace <> p.pronamespace AND t.relnamespace NOT IN $SYS)
	OR EXISTS (SELECT 1 FROM pg_namespace n WHERE n.oid <> p.pronamespace AND n.oid NOT IN $SYS AND n.nspname NOT LIKE 'pg\_%'
	        AND p.prosrc ~* ('\\m' || n.nspname || '\\s*\\.')))"; }
trig_cross() { q "SELECT count(*) FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_proc p ON p.oid = g.tgfoid
	WHERE NOT g.tgisinternal AND c.relnamespace IN $TS AND p.pronamespace NOT IN $SYS AND p.pronamespace <> c.relnamespace"; }
part_cross() { q "SELECT count(*) FROM pg_inherits i JOIN pg_class a ON a.oid = i.inhrelid JOIN pg_class b ON b.oid = i.inhparent
	WHERE a.relnamespace <> b.relnamespace AND (a.relnamespace IN $TS OR b.relnamespace IN $TS)"; }

ok $(( $(q "SELECT count(*) FROM pg_constraint c JOIN pg_class a ON a.oid = c.conrelid WHERE c.contype = 'f' AND a.relnamespace IN $TS") > 0 ? 0 : 1 )) \
	"the tenant schemas have foreign keys ($(q "SELECT count(*) FROM pg_constraint c JOIN pg_class a ON a.oid = c.conrelid WHERE c.contype = 'f' AND a.relnamespace IN $TS"))"
is "$(fk_cross)" 0 "no foreign key from or to a tenant schema crosses schemas"
is "$(view_cross)" 0 "no view in a tenant schema depends on another schema's relations"
ok $(( $(q "SELECT count(*) FROM pg_class WHERE relkind = 'S' AND relnamespace IN $TS") > 0 ? 0 : 1 )) "the tenant schemas have sequences of their own"
is "$(seq_cross)" 0 "no tenant table uses a sequence of another schema"
is "$(seq_shared)" 0 "no sequence is shared across schemas"
is "$(seq_loose)" 0 "every sequence of a tenant schema belongs to a column of that schema (identity or OWNED BY)"
is "$(type_cross)" 0 "no tenant column has a type from another schema"
is "$(func_cross)" 0 "no function of a tenant schema depends on or names another schema ($(q "SELECT count(*) FROM pg_proc WHERE pronamespace IN $TS") functions)"
is "$(trig_cross)" 0 "no trigger on a tenant table calls a function outside its schema"
is "$(part_cross)" 0 "every partition sits in its parent's schema"

# The checks catch what they look for: violations planted in tenant "other", then removed.
q "CREATE VIEW other.v_bad AS SELECT r.device_id, t.slug FROM other.reading r, public.tenant t;
   CREATE TABLE other.bad (id int8 DEFAULT nextval('public.tenant_id_seq'), owner int8 REFERENCES public.app_user (id));
   CREATE TABLE umc.bad (id int8 DEFAULT nextval('public.tenant_id_seq'));
   CREATE SEQUENCE other.loose_seq;
   CREATE TYPE public.mood AS ENUM ('ok'); ALTER TABLE other.bad ADD COLUMN m public.mood;
   CREATE FUNCTION other.f() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM umc.reading';
   CREATE FUNCTION public.tg() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
   CREATE TRIGGER tg BEFORE INSERT ON other.bad FOR EACH ROW EXECUTE FUNCTION public.tg()" >/dev/null
ok $? "violations planted"
is "$(fk_cross)" 1 "caught: a foreign key to public.app_user"
is "$(view_cross)" 1 "caught: a view over public.tenant"
is "$(seq_cross)" 2 "caught: defaults on public's sequence"
is "$(seq_shared)" 1 "caught: one sequence shared by two schemas"
is "$(seq_loose)" 1 "caught: a sequence no column owns"
is "$(type_cross)" 1 "caught: a column of public's type"
is "$(func_cross)" 1 "caught: a function naming another tenant's table"
is "$(trig_cross)" 1 "caught: a trigger calling public's function"
q "DROP VIEW other.v_bad; DROP TABLE other.bad, umc.bad; DROP SEQUENCE other.loose_seq; DROP TYPE public.mood;
   DROP FUNCTION other.f(); DROP FUNCTION public.tg()" >/dev/null
is "$(fk_cross)$(view_cross)$(seq_cross)$(seq_shared)$(seq_loose)$(type_cross)$(func_cross)$(trig_cross)" 00000000 "and clean again"
done_testing
