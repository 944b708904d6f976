#include <stdio.h>
#include <string.h>

#include "pg/db.h"
#include "pg/migrate.h"
#include "core/tsk.h"

/* One advisory lock serializes every migration run, so two `migrate` calls cannot interleave. */
#define LOCK_SQL "SELECT pg_advisory_xact_lock(7254130001)"

static int
ensure_table(PGconn *db, char *err, size_t errlen)
{
	return tsk_db_cmd(db,
	    "CREATE TABLE IF NOT EXISTS public.schema_migration ("
	    " scope text NOT NULL, version int NOT NULL, name text NOT NULL,"
	    " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (scope, version))",
	    err, errlen);
}

static int
is_applied(PGconn *db, const char *scope, int version, int *applied, char *err, size_t errlen)
{
	char v[16];
	const char *p[] = { scope, v };
	PGresult *res;
	int rc;

	snprintf(v, sizeof v, "%d", version);
	rc = tsk_db_exec(db, "SELECT 1 FROM public.schema_migration WHERE scope = $1 AND version = $2", 2, p,
	    &res, err, errlen);
	if (rc != TSK_OK)
		return rc;
	*applied = PQntuples(res) > 0;
	PQclear(res);
	return TSK_OK;
}

static int
apply_one(PGconn *db, const struct tsk_migration *m, const char *scope, char *err, size_t errlen)
{
	char v[16];
	const char *p[] = { scope, v, m->name };
	PGresult *res;
	int rc;

	/* PQexec, not PQexecParams: a migration file holds several statements and no parameters. */
	res = PQexec(db, m->sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = tsk_db_classify(db, res);
		tsk_seterr(err, errlen, rc, "migration %s/%03d_%s: %s", m->scope, m->version, m->name,
		    tsk_db_message(db, res));
		err[strcspn(err, "\n")] = '\0';
		PQclear(res);
		return rc;
	}
	PQclear(res);
	snprintf(v, sizeof v, "%d", m->version);
	return tsk_db_exec(db, "INSERT INTO public.schema_migration (scope, version, name) VALUES ($1, $2, $3)",
	    3, p, NULL, err, errlen);
}

/* Applies pending migrations of `kind` to `scope`. With own_tx each migration runs in a transaction of
 * its own (a failure keeps the ones before it and leaves the schema as the failed one found it);
 * without, the caller's transaction holds them all. */
int
tsk_migrate_apply(PGconn *db, const struct tsk_migration *list, const char *kind, const char *scope,
    const char *schema, int own_tx, int *count, char *err, size_t errlen)
{
	int rc = TSK_OK, applied;

	if (count != NULL)
		*count = 0;
	if ((rc = ensure_table(db, err, errlen)) != TSK_OK)
		return rc;
	for (const struct tsk_migration *m = list; m->scope != NULL; m++) {
		if (strcmp(m->scope, kind) != 0)
			continue;
		if (own_tx && (rc = tsk_db_begin(db, err, errlen)) != TSK_OK)
			return rc;
		if ((rc = tsk_db_cmd(db, LOCK_SQL, err, errlen)) != TSK_OK ||
		    (rc = is_applied(db, scope, m->version, &applied, err, errlen)) != TSK_OK)
			goto fail;
		if (!applied) {
			if (schema != NULL && (rc = tsk_db_set_schema(db, schema, err, errlen)) != TSK_OK)
				goto fail;
			if ((rc = apply_one(db, m, scope, err, errlen)) != TSK_OK)
				goto fail;
			if (count != NULL)
				(*count)++;
		}
		if (own_tx && (rc = tsk_db_commit(db, err, errlen)) != TSK_OK)
			return rc;
	}
	return TSK_OK;
fail:
	if (own_tx)
		tsk_db_rollback(db);
	return rc;
}

int
tsk_migrate_public(PGconn *db, int *applied, char *err, size_t errlen)
{
	return tsk_migrate_apply(db, tsk_migrations, "public", "public", NULL, 1, applied, err, errlen);
}

int
tsk_migrate_tenant(PGconn *db, const char *schema, int in_tx, int *applied, char *err, size_t errlen)
{
	return tsk_migrate_apply(db, tsk_migrations, "tenant", schema, schema, !in_tx, applied, err, errlen);
}
