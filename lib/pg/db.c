#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/db.h"
#include "core/tsk.h"

static void
quiet_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static void
copy_message(char *err, size_t errlen, const char *msg)
{
	size_t n;

	snprintf(err, errlen, "%s", msg != NULL && *msg ? msg : "unknown database error");
	n = strlen(err);
	while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
	/* Keep errors on one line: libpq adds DETAIL/HINT lines. */
	for (char *p = err; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

const char *
tsk_db_message(PGconn *db, const PGresult *res)
{
	const char *m = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (m == NULL || *m == '\0')
		m = res != NULL && *PQresultErrorMessage(res) ? PQresultErrorMessage(res) : PQerrorMessage(db);
	return m;
}

int
tsk_db_error(PGconn *db, const PGresult *res, char *err, size_t errlen)
{
	return tsk_db_seterr(db, res, tsk_db_classify(db, res), NULL, err, errlen);
}

int
tsk_db_seterr(PGconn *db, const PGresult *res, int status, const char *what, char *err, size_t errlen)
{
	char m[TSK_ERRLEN];

	copy_message(m, sizeof m, tsk_db_message(db, res));
	if (what != NULL)
		return tsk_seterr(err, errlen, status, "%s: %s", what, m);
	return tsk_seterr(err, errlen, status, "%s", m);
}

enum tsk_db_kind
tsk_db_kind(const PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (state == NULL)
		return TSK_DB_OTHER;
	if (strcmp(state, "23505") == 0)
		return TSK_DB_UNIQUE;
	if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0 || strncmp(state, "54", 2) == 0)
		return TSK_DB_DATA;
	if (strcmp(state, "3F000") == 0 || strcmp(state, "42P01") == 0)
		return TSK_DB_GONE;
	if (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0)
		return TSK_DB_CONFLICT;
	return TSK_DB_OTHER;
}

int
tsk_db_connect(const char *dsn, PGconn **out, char *err, size_t errlen)
{
	static const char *const keys[] = { "application_name", "options", "connect_timeout", "dbname", NULL };
	const char *vals[] = { "tsk", "-c TimeZone=UTC -c client_min_messages=warning", "10",
		dsn != NULL ? dsn : "", NULL };
	PGconn *db;

	/* expand_dbname=1: dsn may be a URI or key=value string. libpq processes the keys in order and the
	 * last value wins, so dbname comes last: what the user's DSN sets overrides these defaults. */
	db = PQconnectdbParams(keys, vals, 1);
	if (db == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	if (PQstatus(db) != CONNECTION_OK) {
		const char *m = PQerrorMessage(db);
		/* Authentication and unknown-database errors will not fix themselves; the rest might. */
		int st = (strstr(m, "authentication") || strstr(m, "does not exist") || strstr(m, "invalid"))
		    ? TSK_EFAIL : TSK_ETEMP;
		copy_message(err, errlen, m);
		PQfinish(db);
		return st;
	}
	PQsetNoticeProcessor(db, quiet_notice, NULL);
	/* Partition bounds and day buckets are computed in UTC; a DSN with its own options must not move
	 * them. */
	const char *tz = PQparameterStatus(db, "TimeZone");
	if (tz == NULL || (strcmp(tz, "UTC") != 0 && strcmp(tz, "Etc/UTC") != 0)) {
		PGresult *res = PQexec(db, "SET TimeZone = 'UTC'");
		int bad = PQresultStatus(res) != PGRES_COMMAND_OK;
		PQclear(res);
		if (bad) {
			copy_message(err, errlen, PQerrorMessage(db));
			PQfinish(db);
			return TSK_ETEMP;
		}
	}
	*out = db;
	return TSK_OK;
}

int
tsk_db_classify(PGconn *db, const PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (PQstatus(db) != CONNECTION_OK)
		return TSK_ETEMP;
	if (state == NULL)
		return TSK_ETEMP; /* no SQLSTATE: the failure happened on the client side of the connection */
	if (strncmp(state, "08", 2) == 0 ||     /* connection exception */
	    strncmp(state, "53", 2) == 0 ||     /* insufficient resources */
	    strncmp(state, "57P", 3) == 0 ||    /* admin shutdown, crash shutdown, cannot connect now */
	    strcmp(state, "40001") == 0 ||      /* serialization failure */
	    strcmp(state, "40P01") == 0 ||      /* deadlock detected */
	    strcmp(state, "55P03") == 0)        /* lock not available */
		return TSK_ETEMP;
	if (strcmp(state, "23505") == 0)
		return TSK_EEXIST;
	return TSK_EFAIL;
}

int
tsk_db_exec_kind(PGconn *db, const char *sql, int nparams, const char *const *params, PGresult **out,
    enum tsk_db_kind *kind, char *err, size_t errlen)
{
	PGresult *res = PQexecParams(db, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (kind != NULL)
		*kind = TSK_DB_OTHER;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (out != NULL)
			*out = res;
		else
			PQclear(res);
		return TSK_OK;
	}
	int rc = tsk_db_error(db, res, err, errlen);
	if (kind != NULL)
		*kind = tsk_db_kind(res);
	PQclear(res);
	if (out != NULL)
		*out = NULL;
	return rc;
}

int
tsk_db_exec(PGconn *db, const char *sql, int nparams, const char *const *params, PGresult **out,
    char *err, size_t errlen)
{
	return tsk_db_exec_kind(db, sql, nparams, params, out, NULL, err, errlen);
}

int
tsk_db_exec_rows(PGconn *db, const char *sql, int nparams, const char *const *params, long long *rows, char *err,
    size_t errlen)
{
	PGresult *res;
	int rc = tsk_db_exec(db, sql, nparams, params, &res, err, errlen);

	if (rc != TSK_OK)
		return rc;
	if (rows != NULL)
		*rows += strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return TSK_OK;
}

int
tsk_db_cmd(PGconn *db, const char *sql, char *err, size_t errlen)
{
	return tsk_db_exec(db, sql, 0, NULL, NULL, err, errlen);
}

int
tsk_db_begin(PGconn *db, char *err, size_t errlen)
{
	return tsk_db_cmd(db, "BEGIN", err, errlen);
}

int
tsk_db_commit(PGconn *db, char *err, size_t errlen)
{
	return tsk_db_cmd(db, "COMMIT", err, errlen);
}

void
tsk_db_rollback(PGconn *db)
{
	PQclear(PQexec(db, "ROLLBACK"));
}

char *
tsk_db_ident(PGconn *db, const char *name)
{
	return PQescapeIdentifier(db, name, strlen(name));
}

/* SET LOCAL outside a transaction block only warns and changes nothing: refuse instead. */
static int
in_transaction(PGconn *db, char *err, size_t errlen)
{
	if (PQtransactionStatus(db) != PQTRANS_INTRANS)
		return tsk_seterr(err, errlen, TSK_EFAIL, "a tenant's schema is entered only inside a transaction");
	return TSK_OK;
}

int
tsk_db_set_schema(PGconn *db, const char *schema, char *err, size_t errlen)
{
	char sql[256];
	char *q;
	int rc;

	if ((rc = in_transaction(db, err, errlen)) != TSK_OK)
		return rc;
	if ((q = tsk_db_ident(db, schema)) == NULL)
		return tsk_db_seterr(db, NULL, TSK_EFAIL, "cannot quote schema name", err, errlen);
	snprintf(sql, sizeof sql, "SET LOCAL search_path TO %s, public", q);
	PQfreemem(q);
	rc = tsk_db_cmd(db, sql, err, errlen);
	return rc;
}

int
tsk_db_begin_schema(PGconn *db, const char *schema, char *err, size_t errlen)
{
	int rc;

	if ((rc = tsk_db_begin(db, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_set_schema(db, schema, err, errlen)) != TSK_OK)
		tsk_db_rollback(db);
	return rc;
}

int
tsk_db_begin_tenant(PGconn *db, const char *slug, char *err, size_t errlen)
{
	int rc;

	if ((rc = tsk_db_begin(db, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_enter_tenant(db, slug, NULL, err, errlen)) != TSK_OK)
		tsk_db_rollback(db);
	return rc;
}

int
tsk_db_end(PGconn *db, int rc, char *err, size_t errlen)
{
	if (rc != TSK_OK) {
		tsk_db_rollback(db);
		return rc;
	}
	return tsk_db_commit(db, err, errlen);
}

int
tsk_db_enter_tenant(PGconn *db, const char *slug, char *schema, char *err, size_t errlen)
{
	const char *params[] = { slug };
	PGresult *res;
	char buf[TSK_SCHEMA_LEN];
	int rc;

	if ((rc = in_transaction(db, err, errlen)) != TSK_OK)
		return rc;
	/* One round trip: the lookup and set_config(..., is_local true), the server quoting the schema name. */
	rc = tsk_db_exec(db, "SELECT schema_name, set_config('search_path', quote_ident(schema_name) || ', public', true)"
	    " FROM public.tenant WHERE slug = $1", 1, params, &res, err, errlen);
	if (rc != TSK_OK)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "unknown tenant \"%s\"", slug);
	}
	snprintf(buf, sizeof buf, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (schema != NULL)
		memcpy(schema, buf, sizeof buf);
	return TSK_OK;
}

/* Runs a query whose rows are one JSON text each; returns them as an array. */
int
tsk_db_json_rows(PGconn *db, const char *sql, int n, const char *const *p, json_t **out, char *err, size_t errlen)
{
	PGresult *res;
	int rc = tsk_db_exec(db, sql, n, p, &res, err, errlen);

	if (rc != TSK_OK)
		return rc;
	json_t *arr = json_array();
	for (int i = 0; i < PQntuples(res) && arr != NULL; i++) {
		json_t *v = json_loads(PQgetvalue(res, i, 0), 0, NULL);
		if (v == NULL || json_array_append_new(arr, v) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	PQclear(res);
	if (arr == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	*out = arr;
	return TSK_OK;
}
