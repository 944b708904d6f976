/* The tenant registry: tenants (one schema each), their domains and settings. */
#ifndef TSK_TENANT_H
#define TSK_TENANT_H

#include <stddef.h>
#include <stdint.h>

#include "core/tsk.h"
#include <jansson.h>
#include <libpq-fe.h>

#include "pg/partition.h"

/* ^[a-z0-9][a-z0-9-]{0,62}$, not "public", not starting with "pg". TSK_OK or TSK_EINVAL + why. */
int tsk_tenant_slug_check(const char *slug, char *err, size_t errlen);
/* The schema named after a valid slug: '-' becomes '_'. out holds TSK_SLUG_MAX + 1 bytes. */
void tsk_tenant_schema_name(const char *slug, char *out);
/* A host name for the domain table: lower case, no port, letters, digits, '-' and '.'. */
int tsk_tenant_domain_check(const char *domain, char *norm, size_t normlen, char *err, size_t errlen);

/* Creates the tenant, its schema (all tenant migrations applied) and its domain (may be NULL), in one
 * transaction: on any failure nothing is left behind. TSK_EEXIST for a taken slug or domain. */
int tsk_tenant_create(PGconn *db, const char *slug, const char *name, const char *domain, char *err,
    size_t errlen);
/* Drops the schema and every row of the tenant, in one transaction. */
int tsk_tenant_delete(PGconn *db, const char *slug, char *err, size_t errlen);
/* [{slug, name, schema, domains:[...], settings, created_at, members}] (a new reference). */
int tsk_tenant_list(PGconn *db, json_t **out, char *err, size_t errlen);
/* One tenant as above, with reading and device counts from its schema. TSK_ENOTFOUND. */
int tsk_tenant_show(PGconn *db, const char *slug, json_t **out, char *err, size_t errlen);
/* Sets (value non-NULL) or removes a key of the tenant's settings; value is JSON text or a string.
 * set: known keys only, the value checked by the key's validator (registry/settings.h), TSK_EINVAL and
 * nothing stored otherwise. unset: any key (so a value stored before validation can be removed); removing
 * a key the tenant does not have changes nothing and succeeds. */
int tsk_tenant_setting(PGconn *db, const char *slug, const char *key, const char *value, char *err,
    size_t errlen);
/* The tenant's settings object (a new reference). */
int tsk_tenant_settings(PGconn *db, const char *slug, json_t **out, char *err, size_t errlen);

/* Told about each tenant that maintain could not maintain: its slug, the status and the message. */
typedef void (*tsk_tenant_report_fn)(void *ctx, const char *slug, int status, const char *msg);

/*
 * `tsk-tenant maintain`: tsk_partition_maintain (pg/partition.h) for one tenant (slug), or every tenant
 * when slug is NULL, each with the retention of its "retention" setting (registry/settings.h: a duration
 * such as "90d" or a number of seconds; absent, "forever" or "none": keep forever). *out (may be NULL)
 * is zeroed, then counts over the tenants.
 * One tenant: TSK_ENOTFOUND for an unknown tenant, TSK_EFAIL (out->failed 1) when its stored retention
 * is not valid, or the failure of maintaining it.
 * Every tenant: a tenant that fails is passed to report (may be NULL) and counted in out->failed, and
 * the others are still maintained; then, when any failed, TSK_EFAIL (TSK_ETEMP when every failure was
 * temporary, a lock or a deadlock). TSK_ETEMP at once when the database connection is lost.
 */
int tsk_tenant_maintain(PGconn *db, const char *slug, int64_t now_us, int ahead, struct tsk_partition_result *out,
    tsk_tenant_report_fn report, void *ctx, char *err, size_t errlen);

int tsk_tenant_domain_add(PGconn *db, const char *slug, const char *domain, char *err, size_t errlen);
int tsk_tenant_domain_rm(PGconn *db, const char *slug, const char *domain, char *err, size_t errlen);
/* [{domain, tenant, primary}] of one tenant, or of all when slug is NULL. */
int tsk_tenant_domain_list(PGconn *db, const char *slug, json_t **out, char *err, size_t errlen);
/* The tenant serving an HTTP Host (port stripped, case folded). slug holds TSK_SLUG_MAX + 1 bytes. */
int tsk_tenant_by_domain(PGconn *db, const char *host, char *slug, char *err, size_t errlen);
/* Whether a tenant with that slug exists: TSK_OK, TSK_ENOTFOUND or an error. */
int tsk_tenant_exists(PGconn *db, const char *slug, char *err, size_t errlen);

/* `tsk-tenant migrate`: public migrations, then every tenant schema. Counts what was applied. */
int tsk_tenant_migrate_all(PGconn *db, int *public_applied, int *tenant_applied, int *tenants, char *err,
    size_t errlen);

#endif
