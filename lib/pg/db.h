/*
 * PostgreSQL access: connect, run parameterized statements, enter a tenant's schema, and classify
 * errors into temporary (retry later: exit 75) and permanent ones.
 * Every value goes in as a parameter; every identifier built from input goes through tsk_db_ident().
 */
#ifndef TSK_DB_H
#define TSK_DB_H

#include <stddef.h>
#include <jansson.h>
#include <libpq-fe.h>

/* Connects with libpq (dsn "" uses the PG* environment), in UTC, quiet notices. TSK_OK or TSK_ETEMP
 * (server unreachable) or TSK_EFAIL (bad credentials, bad DSN). */
int tsk_db_connect(const char *dsn, PGconn **out, char *err, size_t errlen);

/* TSK_ETEMP when the failure is worth retrying (connection lost, server shutting down, out of
 * resources, serialization failure, deadlock), TSK_EEXIST for a unique violation, else TSK_EFAIL. */
int tsk_db_classify(PGconn *db, const PGresult *res);

/* The server's primary message for a failed result (no "ERROR:" prefix, no DETAIL lines), or the
 * connection's message. */
const char *tsk_db_message(PGconn *db, const PGresult *res);
/* A failed result (res may be NULL: a failure on the client side) as tsk_db_exec reports it: err
 * receives tsk_db_message() on one line, and the class (tsk_db_classify) is returned. */
int tsk_db_error(PGconn *db, const PGresult *res, char *err, size_t errlen);

/* Writes tsk_db_message into err on one line, after "what: " when what is not NULL, and returns
 * status: `return tsk_db_seterr(db, res, tsk_db_classify(db, res), "COPY", err, errlen);` */
int tsk_db_seterr(PGconn *db, const PGresult *res, int status, const char *what, char *err, size_t errlen);

/* What a failed result's SQLSTATE says, for callers that treat some failures apart (tsk_db_classify
 * folds them into temporary, exists and permanent). */
enum tsk_db_kind {
	TSK_DB_OTHER = 0,
	TSK_DB_UNIQUE,  /* 23505 unique_violation */
	TSK_DB_DATA,    /* the data was refused: data exception (class 22), another integrity violation (23),
	                 * a program limit such as an index row too large (54) */
	TSK_DB_GONE,    /* the schema (3F000) or the table (42P01) named does not exist */
	TSK_DB_CONFLICT /* the transaction lost to a concurrent one: deadlock detected (40P01) or
	                 * serialization failure (40001); running it again is the cure */
};
enum tsk_db_kind tsk_db_kind(const PGresult *res);

/* Runs one statement with text parameters (NULL entries are SQL NULL). On success *out (when not NULL)
 * receives the result, which the caller PQclear()s. On failure err holds the server's message. */
int tsk_db_exec(PGconn *db, const char *sql, int nparams, const char *const *params, PGresult **out,
    char *err, size_t errlen);
/* tsk_db_exec that also says what kind of failure it was (*kind: TSK_DB_OTHER on success). */
int tsk_db_exec_kind(PGconn *db, const char *sql, int nparams, const char *const *params, PGresult **out,
    enum tsk_db_kind *kind, char *err, size_t errlen);
/* Runs a statement (INSERT, UPDATE, DELETE, ...) and adds the number of rows it affected to *rows
 * (when not NULL). */
int tsk_db_exec_rows(PGconn *db, const char *sql, int nparams, const char *const *params, long long *rows,
    char *err, size_t errlen);
/* Runs a statement with no parameters and no result (BEGIN, SET ...). */
int tsk_db_cmd(PGconn *db, const char *sql, char *err, size_t errlen);

int tsk_db_begin(PGconn *db, char *err, size_t errlen);
int tsk_db_commit(PGconn *db, char *err, size_t errlen);
void tsk_db_rollback(PGconn *db);

/* A quoted identifier (PQescapeIdentifier) the caller frees with PQfreemem, or NULL. */
char *tsk_db_ident(PGconn *db, const char *name);

/*
 * Tenant scoping is per transaction only: a pooled connection (pgbouncer in transaction mode, the HTTP
 * daemon's pool) serves the next tenant with whatever session state the previous one left, so nothing
 * here sets search_path for the session. Both functions use SET LOCAL and refuse to run outside a
 * transaction block (TSK_EFAIL); the schema is left at COMMIT or ROLLBACK.
 *
 * tsk_db_enter_tenant looks the tenant up by slug in public.tenant and sets search_path to its schema,
 * then public, for the current transaction. schema (when not NULL, TSK_SCHEMA_LEN bytes) receives the
 * schema name. TSK_ENOTFOUND for an unknown tenant.
 */
#define TSK_SCHEMA_LEN 64
int tsk_db_enter_tenant(PGconn *db, const char *slug, char *schema, char *err, size_t errlen);
/* Sets search_path to one known schema name (quoted here), then public, for the current transaction. */
int tsk_db_set_schema(PGconn *db, const char *schema, char *err, size_t errlen);
/* BEGIN, then tsk_db_enter_tenant(); on failure nothing is left open. */
int tsk_db_begin_tenant(PGconn *db, const char *slug, char *err, size_t errlen);
/* The end of a transaction that returned rc: COMMIT when rc is TSK_OK (its status), else ROLLBACK and
 * rc: `return tsk_db_end(db, rc, err, errlen);` */
int tsk_db_end(PGconn *db, int rc, char *err, size_t errlen);
/* BEGIN, then tsk_db_set_schema(); on failure nothing is left open. */
int tsk_db_begin_schema(PGconn *db, const char *schema, char *err, size_t errlen);

/* Runs a query whose rows are one JSON text each and returns them as a JSON array (new reference). */
int tsk_db_json_rows(PGconn *db, const char *sql, int nparams, const char *const *params, json_t **out,
    char *err, size_t errlen);

#endif
