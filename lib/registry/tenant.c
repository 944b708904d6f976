#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/db.h"
#include "pg/migrate.h"
#include "pg/partition.h"
#include "registry/settings.h"
#include "registry/tenant.h"
#include "core/text.h"
#include "core/time.h"
#include "core/tsk.h"

int
tsk_tenant_slug_check(const char *slug, char *err, size_t errlen)
{
	size_t n = slug != NULL ? strlen(slug) : 0;

	if (n == 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "empty tenant slug");
	if (n > TSK_SLUG_MAX)
		return tsk_seterr(err, errlen, TSK_EINVAL, "tenant slug longer than %d characters", TSK_SLUG_MAX);
	if (!islower((unsigned char)slug[0]) && !isdigit((unsigned char)slug[0]))
		return tsk_seterr(err, errlen, TSK_EINVAL,
		    "invalid tenant slug \"%s\": must start with a lower-case letter or digit", slug);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)slug[i];
		if (!(c >= 'a' && c <= 'z') && !isdigit(c) && c != '-')
			return tsk_seterr(err, errlen, TSK_EINVAL,
			    "invalid tenant slug \"%s\": only a-z, 0-9 and '-' are allowed", slug);
	}
	if (strcmp(slug, "public") == 0 || strncmp(slug, "pg", 2) == 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "tenant slug \"%s\" is reserved", slug);
	return TSK_OK;
}

void
tsk_tenant_schema_name(const char *slug, char *out)
{
	size_t i;

	for (i = 0; slug[i] != '\0' && i < TSK_SLUG_MAX; i++)
		out[i] = slug[i] == '-' ? '_' : slug[i];
	out[i] = '\0';
}

int
tsk_tenant_domain_check(const char *domain, char *norm, size_t normlen, char *err, size_t errlen)
{
	size_t n = 0;

	if (domain == NULL || *domain == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "empty domain");
	for (const char *p = domain; *p && *p != ':'; p++) {
		unsigned char c = (unsigned char)tolower((unsigned char)*p);
		if (!isalnum(c) && c != '-' && c != '.')
			return tsk_seterr(err, errlen, TSK_EINVAL, "invalid domain \"%s\"", domain);
		if (n + 1 >= normlen || n >= 253)
			return tsk_seterr(err, errlen, TSK_EINVAL, "domain too long");
		norm[n++] = (char)c;
	}
	norm[n] = '\0';
	if (n == 0 || norm[0] == '.' || norm[0] == '-' || norm[n - 1] == '.' || strstr(norm, "..") != NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "invalid domain \"%s\"", domain);
	return TSK_OK;
}

/* Runs a statement on one domain row of tenant slug ($1 the domain, $2 the slug). TSK_OK when it changed
 * one row; when it changed none, the tenant's TSK_ENOTFOUND, or 1 (the tenant exists: the caller says
 * what was wrong with the domain). */
static int
domain_row(PGconn *db, const char *sql, int np, const char *const *p, const char *slug, char *err, size_t errlen)
{
	long long n = 0;
	int rc = tsk_db_exec_rows(db, sql, np, p, &n, err, errlen);

	if (rc != TSK_OK || n == 1)
		return rc;
	if ((rc = tsk_tenant_exists(db, slug, err, errlen)) != TSK_OK)
		return rc;
	return 1;
}

static int
add_domain(PGconn *db, const char *slug, const char *domain, int primary, char *err, size_t errlen)
{
	char norm[256];
	const char *p[] = { norm, slug, primary ? "true" : "false" };
	int rc;

	if ((rc = tsk_tenant_domain_check(domain, norm, sizeof norm, err, errlen)) != TSK_OK)
		return rc;
	rc = domain_row(db,
	    "INSERT INTO public.domain (domain, tenant_id, is_primary) SELECT $1, id, $3 FROM public.tenant "
	    "WHERE slug = $2 ON CONFLICT (domain) DO NOTHING", 3, p, slug, err, errlen);
	if (rc != 1)
		return rc;
	return tsk_seterr(err, errlen, TSK_EEXIST, "domain \"%s\" is taken", norm);
}

/* Runs a statement on the tenant's row of public.tenant ($1 the slug): TSK_OK when it found that row,
 * TSK_ENOTFOUND when there is none. */
static int
tenant_row(PGconn *db, const char *sql, int np, const char *const *p, char *err, size_t errlen)
{
	long long n = 0;
	int rc = tsk_db_exec_rows(db, sql, np, p, &n, err, errlen);

	if (rc == TSK_OK && n != 1)
		rc = tsk_seterr(err, errlen, TSK_ENOTFOUND, "unknown tenant \"%s\"", p[0]);
	return rc;
}

int
tsk_tenant_exists(PGconn *db, const char *slug, char *err, size_t errlen)
{
	const char *p[] = { slug };

	return tenant_row(db, "SELECT 1 FROM public.tenant WHERE slug = $1", 1, p, err, errlen);
}

int
tsk_tenant_create(PGconn *db, const char *slug, const char *name, const char *domain, char *err, size_t errlen)
{
	char schema[TSK_SLUG_MAX + 1], sql[256], norm[256];
	const char *p[] = { slug, schema, name };
	char *qschema = NULL;
	PGresult *res = NULL;
	int rc;

	if ((rc = tsk_tenant_slug_check(slug, err, errlen)) != TSK_OK)
		return rc;
	if (name == NULL || *name == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "the tenant needs a name (--name)");
	if (domain != NULL && (rc = tsk_tenant_domain_check(domain, norm, sizeof norm, err, errlen)) != TSK_OK)
		return rc;
	tsk_tenant_schema_name(slug, schema);
	if ((rc = tsk_db_begin(db, err, errlen)) != TSK_OK)
		return rc;
	/* "a-b" and "a_b" cannot both exist (slugs have no '_'), but a hand-made schema could: refuse it. */
	rc = tsk_db_exec(db,
	    "SELECT (SELECT count(*) FROM public.tenant WHERE slug = $1 OR schema_name = $2),"
	    " (SELECT count(*) FROM pg_namespace WHERE nspname = $2)", 2, p, &res, err, errlen);
	if (rc != TSK_OK)
		goto fail;
	if (strcmp(PQgetvalue(res, 0, 0), "0") != 0) {
		rc = tsk_seterr(err, errlen, TSK_EEXIST, "tenant \"%s\" exists already", slug);
		goto fail;
	}
	if (strcmp(PQgetvalue(res, 0, 1), "0") != 0) {
		rc = tsk_seterr(err, errlen, TSK_EEXIST, "schema \"%s\" exists already", schema);
		goto fail;
	}
	PQclear(res);
	res = NULL;
	rc = tsk_db_exec(db, "INSERT INTO public.tenant (slug, schema_name, name) VALUES ($1, $2, $3)", 3, p, NULL,
	    err, errlen);
	if (rc == TSK_EEXIST)
		rc = tsk_seterr(err, errlen, TSK_EEXIST, "tenant \"%s\" exists already", slug);
	if (rc != TSK_OK)
		goto fail;
	if ((qschema = tsk_db_ident(db, schema)) == NULL) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "cannot quote \"%s\"", schema);
		goto fail;
	}
	snprintf(sql, sizeof sql, "CREATE SCHEMA %s", qschema);
	if ((rc = tsk_db_cmd(db, sql, err, errlen)) != TSK_OK)
		goto fail;
	if ((rc = tsk_migrate_tenant(db, schema, 1, NULL, err, errlen)) != TSK_OK)
		goto fail;
	if (domain != NULL && (rc = add_domain(db, slug, norm, 1, err, errlen)) != TSK_OK)
		goto fail;
	rc = tsk_db_commit(db, err, errlen);
	PQfreemem(qschema);
	return rc;
fail:
	PQclear(res);
	PQfreemem(qschema);
	tsk_db_rollback(db);
	return rc;
}

int
tsk_tenant_delete(PGconn *db, const char *slug, char *err, size_t errlen)
{
	const char *p[] = { slug };
	char sql[256];
	char *q = NULL;
	PGresult *res = NULL;
	int rc;

	if ((rc = tsk_db_begin(db, err, errlen)) != TSK_OK)
		return rc;
	rc = tsk_db_exec(db, "DELETE FROM public.tenant WHERE slug = $1 RETURNING schema_name", 1, p, &res, err,
	    errlen);
	if (rc != TSK_OK)
		goto fail;
	if (PQntuples(res) != 1) {
		rc = tsk_seterr(err, errlen, TSK_ENOTFOUND, "unknown tenant \"%s\"", slug);
		goto fail;
	}
	const char *schema = PQgetvalue(res, 0, 0);
	const char *p2[] = { schema };
	if ((q = tsk_db_ident(db, schema)) == NULL) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "cannot quote schema");
		goto fail;
	}
	snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", q);
	if ((rc = tsk_db_cmd(db, sql, err, errlen)) != TSK_OK ||
	    (rc = tsk_db_exec(db, "DELETE FROM public.schema_migration WHERE scope = $1", 1, p2, NULL, err,
	        errlen)) != TSK_OK)
		goto fail;
	PQclear(res);
	PQfreemem(q);
	return tsk_db_commit(db, err, errlen);
fail:
	PQclear(res);
	PQfreemem(q);
	tsk_db_rollback(db);
	return rc;
}

#define TENANT_SELECT \
	"SELECT json_build_object('slug', t.slug, 'name', t.name, 'schema', t.schema_name," \
	" 'domains', coalesce((SELECT json_agg(d.domain ORDER BY d.is_primary DESC, d.domain)" \
	"   FROM public.domain d WHERE d.tenant_id = t.id), '[]'::json)," \
	" 'members', (SELECT count(*) FROM public.membership m WHERE m.tenant_id = t.id)," \
	" 'settings', t.settings," \
	" 'created_at', to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))::text" \
	" FROM public.tenant t"

int
tsk_tenant_list(PGconn *db, json_t **out, char *err, size_t errlen)
{
	return tsk_db_json_rows(db, TENANT_SELECT " ORDER BY t.slug", 0, NULL, out, err, errlen);
}

int
tsk_tenant_show(PGconn *db, const char *slug, json_t **out, char *err, size_t errlen)
{
	const char *p[] = { slug };
	json_t *arr, *t;
	PGresult *res;
	char schema[TSK_SCHEMA_LEN];
	int rc;

	if ((rc = tsk_db_json_rows(db, TENANT_SELECT " WHERE t.slug = $1", 1, p, &arr, err, errlen)) != TSK_OK)
		return rc;
	if (json_array_size(arr) != 1) {
		json_decref(arr);
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "unknown tenant \"%s\"", slug);
	}
	t = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	snprintf(schema, sizeof schema, "%s", json_string_value(json_object_get(t, "schema")));
	/* Counts come from the tenant's own schema, reached through a quoted search_path. */
	if ((rc = tsk_db_begin(db, err, errlen)) == TSK_OK &&
	    (rc = tsk_db_set_schema(db, schema, err, errlen)) == TSK_OK &&
	    (rc = tsk_db_exec(db, "SELECT (SELECT count(*) FROM reading), (SELECT count(*) FROM device),"
	        " (SELECT count(*) FROM sensor)", 0, NULL, &res, err, errlen)) == TSK_OK) {
		json_object_set_new(t, "readings", json_integer(strtoll(PQgetvalue(res, 0, 0), NULL, 10)));
		json_object_set_new(t, "devices", json_integer(strtoll(PQgetvalue(res, 0, 1), NULL, 10)));
		json_object_set_new(t, "sensors", json_integer(strtoll(PQgetvalue(res, 0, 2), NULL, 10)));
		PQclear(res);
	}
	tsk_db_rollback(db);
	if (rc != TSK_OK) {
		json_decref(t);
		return rc;
	}
	*out = t;
	return TSK_OK;
}

int
tsk_tenant_setting(PGconn *db, const char *slug, const char *key, const char *value, char *err, size_t errlen)
{
	json_t *v = NULL;
	char *text = NULL;
	int rc;

	if (key == NULL || *key == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "empty setting name");
	if (!tsk_utf8_valid(key, strlen(key)))
		return tsk_seterr(err, errlen, TSK_EINVAL, "setting name not valid UTF-8");
	if (value != NULL) {
		/* JSON when it parses (numbers, true, {...}), else the plain string. */
		v = json_loads(value, JSON_DECODE_ANY, NULL);
		if (v == NULL)
			v = json_string(value);
		if (v == NULL)
			return tsk_seterr(err, errlen, TSK_EINVAL, "setting %s: the value is not valid UTF-8", key);
		/* Known keys only, each checked by its validator (registry/settings.c): nothing is stored that
		 * maintain, ingest or the queries could not read back. */
		if ((rc = tsk_setting_check(key, v, err, errlen)) != TSK_OK) {
			json_decref(v);
			return rc;
		}
		text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		json_decref(v);
		if (text == NULL)
			return tsk_seterr(err, errlen, TSK_EINVAL, "invalid value for %s", key);
	}
	/* unset takes any key, known or not, so a value stored before validation can be removed. */
	const char *p[] = { slug, key, text };
	rc = tenant_row(db, value != NULL
	    ? "UPDATE public.tenant SET settings = jsonb_set(settings, ARRAY[$2], $3::jsonb) WHERE slug = $1"
	    : "UPDATE public.tenant SET settings = settings - $2 WHERE slug = $1",
	    value != NULL ? 3 : 2, p, err, errlen);
	free(text);
	return rc;
}

int
tsk_tenant_settings(PGconn *db, const char *slug, json_t **out, char *err, size_t errlen)
{
	const char *p[] = { slug };
	json_t *arr;
	int rc = tsk_db_json_rows(db, "SELECT settings::text FROM public.tenant WHERE slug = $1", 1, p, &arr, err, errlen);

	if (rc != TSK_OK)
		return rc;
	if (json_array_size(arr) != 1) {
		json_decref(arr);
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "unknown tenant \"%s\"", slug);
	}
	*out = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	return TSK_OK;
}

/* The tenant's retention in microseconds; 0 means keep forever (registry/settings.h). A value that is
 * not valid (stored before validation, or by hand) is TSK_EFAIL: stored data, not the caller's input. */
static int
retention(PGconn *db, const char *tenant, int64_t *us, int64_t *raw_us, char *err, size_t errlen)
{
	json_t *settings = NULL;
	int rc;

	*us = 0;
	if ((rc = tsk_tenant_settings(db, tenant, &settings, err, errlen)) != TSK_OK)
		return rc;
	if (tsk_setting_duration(settings, tenant, "retention", us, err, errlen) != TSK_OK ||
	    tsk_setting_duration(settings, tenant, "raw_retention", raw_us, err, errlen) != TSK_OK)
		rc = TSK_EFAIL;
	json_decref(settings);
	return rc;
}

static int
maintain_one(PGconn *db, const char *slug, int64_t now_us, int ahead, struct tsk_partition_result *r, char *err,
    size_t errlen)
{
	int64_t ret, raw;
	int rc = retention(db, slug, &ret, &raw, err, errlen);

	return rc != TSK_OK ? rc : tsk_partition_maintain(db, slug, now_us, ahead, ret, raw, r, err, errlen);
}

int
tsk_tenant_maintain(PGconn *db, const char *slug, int64_t now_us, int ahead, struct tsk_partition_result *out,
    tsk_tenant_report_fn report, void *ctx, char *err, size_t errlen)
{
	struct tsk_partition_result local;
	struct tsk_partition_result *r = out != NULL ? out : &local;
	char first[TSK_SLUG_MAX + 1] = "";
	PGresult *res;
	int rc, n;

	memset(r, 0, sizeof *r);
	if (slug != NULL) {
		if ((rc = maintain_one(db, slug, now_us, ahead, r, err, errlen)) != TSK_OK && rc != TSK_ENOTFOUND &&
		    rc != TSK_ETEMP)
			r->failed++;
		return rc;
	}
	if ((rc = tsk_db_exec(db, "SELECT slug FROM public.tenant ORDER BY slug", 0, NULL, &res, err, errlen)) != TSK_OK)
		return rc;
	n = PQntuples(res);
	/* One tenant's failure (a bad setting, a broken schema, a lock not granted in time) does not stop
	 * the others: each is reported and counted, and the run fails at the end, TSK_ETEMP when every
	 * failure was temporary (a retry may do). Only a lost database connection stops it. */
	int temp = 1;
	for (int i = 0; i < n; i++) {
		const char *t = PQgetvalue(res, i, 0);
		rc = maintain_one(db, t, now_us, ahead, r, err, errlen);
		if (rc == TSK_OK || rc == TSK_ENOTFOUND) /* deleted meanwhile */
			continue;
		if (PQstatus(db) != CONNECTION_OK) {
			PQclear(res);
			return TSK_ETEMP;
		}
		if (r->failed++ == 0)
			snprintf(first, sizeof first, "%s", t);
		if (rc != TSK_ETEMP)
			temp = 0;
		if (report != NULL)
			report(ctx, t, rc, err);
	}
	PQclear(res);
	if (r->failed > 0)
		return tsk_seterr(err, errlen, temp ? TSK_ETEMP : TSK_EFAIL,
		    "%d of %d tenants could not be maintained (first: %s)", r->failed, n, first);
	return TSK_OK;
}

int
tsk_tenant_domain_add(PGconn *db, const char *slug, const char *domain, char *err, size_t errlen)
{
	return add_domain(db, slug, domain, 0, err, errlen);
}

int
tsk_tenant_domain_rm(PGconn *db, const char *slug, const char *domain, char *err, size_t errlen)
{
	char norm[256];
	const char *p[] = { norm, slug };
	int rc;

	if ((rc = tsk_tenant_domain_check(domain, norm, sizeof norm, err, errlen)) != TSK_OK)
		return rc;
	rc = domain_row(db, "DELETE FROM public.domain d USING public.tenant t WHERE d.tenant_id = t.id"
	    " AND d.domain = $1 AND t.slug = $2", 2, p, slug, err, errlen);
	if (rc != 1)
		return rc;
	return tsk_seterr(err, errlen, TSK_ENOTFOUND, "tenant \"%s\" has no domain \"%s\"", slug, norm);
}

int
tsk_tenant_domain_list(PGconn *db, const char *slug, json_t **out, char *err, size_t errlen)
{
	const char *p[] = { slug };
	int rc;

	if (slug != NULL && (rc = tsk_tenant_exists(db, slug, err, errlen)) != TSK_OK)
		return rc;
	return tsk_db_json_rows(db,
	    "SELECT json_build_object('domain', d.domain, 'tenant', t.slug, 'primary', d.is_primary)::text"
	    " FROM public.domain d JOIN public.tenant t ON t.id = d.tenant_id"
	    " WHERE $1::text IS NULL OR t.slug = $1 ORDER BY t.slug, d.domain", 1, p, out, err, errlen);
}

int
tsk_tenant_by_domain(PGconn *db, const char *host, char *slug, char *err, size_t errlen)
{
	char norm[256];
	const char *p[] = { norm };
	PGresult *res;
	int rc;

	if ((rc = tsk_tenant_domain_check(host, norm, sizeof norm, err, errlen)) != TSK_OK)
		return rc;
	rc = tsk_db_exec(db, "SELECT t.slug FROM public.domain d JOIN public.tenant t ON t.id = d.tenant_id"
	    " WHERE d.domain = $1", 1, p, &res, err, errlen);
	if (rc != TSK_OK)
		return rc;
	if (PQntuples(res) == 1)
		snprintf(slug, TSK_SLUG_MAX + 1, "%s", PQgetvalue(res, 0, 0));
	else
		rc = tsk_seterr(err, errlen, TSK_ENOTFOUND, "no tenant serves \"%s\"", norm);
	PQclear(res);
	return rc;
}

int
tsk_tenant_migrate_all(PGconn *db, int *public_applied, int *tenant_applied, int *tenants, char *err,
    size_t errlen)
{
	PGresult *res;
	int rc, n;

	*tenant_applied = *tenants = 0;
	if ((rc = tsk_migrate_public(db, public_applied, err, errlen)) != TSK_OK)
		return rc;
	rc = tsk_db_exec(db, "SELECT schema_name FROM public.tenant ORDER BY slug", 0, NULL, &res, err, errlen);
	if (rc != TSK_OK)
		return rc;
	for (int i = 0; i < PQntuples(res); i++) {
		if ((rc = tsk_migrate_tenant(db, PQgetvalue(res, i, 0), 0, &n, err, errlen)) != TSK_OK)
			break;
		*tenant_applied += n;
		(*tenants)++;
	}
	PQclear(res);
	return rc;
}
