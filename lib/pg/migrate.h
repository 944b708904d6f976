/* Schema migrations: sql/public/NNN_name.sql and sql/tenant/NNN_name.sql, compiled into the library. */
#ifndef TSK_MIGRATE_H
#define TSK_MIGRATE_H

#include <stddef.h>
#include <libpq-fe.h>

struct tsk_migration {
	const char *scope;   /* "public" or "tenant" */
	int version;         /* NNN */
	const char *name;
	const char *sql;
};

/* Terminated by an entry whose scope is NULL; in file order (scope, then version). */
extern const struct tsk_migration tsk_migrations[];

/* Applies the public migrations not yet recorded, each in its own transaction. *applied counts them. */
int tsk_migrate_public(PGconn *db, int *applied, char *err, size_t errlen);
/* Applies the tenant migrations not yet recorded to one tenant schema (search_path set to it).
 * in_tx: run inside the caller's open transaction instead of one transaction per migration. */
int tsk_migrate_tenant(PGconn *db, const char *schema, int in_tx, int *applied, char *err, size_t errlen);

/* The engine behind both: applies the entries of `list` whose scope is `kind` and that `scope` has not
 * recorded yet, with search_path set to `schema` when not NULL. Exposed for tests. */
int tsk_migrate_apply(PGconn *db, const struct tsk_migration *list, const char *kind, const char *scope,
    const char *schema, int own_tx, int *count, char *err, size_t errlen);

#endif
