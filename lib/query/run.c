/*
 * Running a tenant's query (see run.h): the transaction that scopes it to the tenant, and the ways its
 * rows come back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tsk.h"
#include "pg/db.h"
#include "query/run.h"

#define STR_(x) #x
#define STR(x) STR_(x)

int
tsk_run_begin(PGconn *db, const char *tenant, const char *begin, int *own, char *err, size_t errlen)
{
	int rc;

	*own = 0;
	if (tenant == NULL || *tenant == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "no tenant given (--tenant SLUG)");
	if (PQtransactionStatus(db) == PQTRANS_IDLE) {
		if ((rc = tsk_db_cmd(db, begin, err, errlen)) != TSK_OK)
			return rc;
		*own = 1;
	}
	/* search_path for this transaction only (tsk_db_enter_tenant: SET LOCAL semantics). */
	if ((rc = tsk_db_enter_tenant(db, tenant, NULL, err, errlen)) != TSK_OK && *own) {
		tsk_db_rollback(db);
		*own = 0;
	}
	return rc;
}

int
tsk_run_end(PGconn *db, int own, int rc, char *err, size_t errlen)
{
	if (!own)
		return rc;
	if (rc == TSK_OK && PQtransactionStatus(db) == PQTRANS_INTRANS)
		return tsk_db_commit(db, err, errlen);
	tsk_db_rollback(db);
	return rc;
}

int
tsk_run_exec_bin(PGconn *db, const char *sql, const struct tsk_sql *q, PGresult **out, char *err, size_t errlen)
{
	PGresult *res = PQexecParams(db, sql, q != NULL ? q->n : 0, NULL, q != NULL ? q->v : NULL, NULL, NULL, 1);

	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		*out = res;
		return TSK_OK;
	}
	int rc = tsk_db_error(db, res, err, errlen);
	PQclear(res);
	return rc;
}

void
tsk_run_cancel(PGconn *db)
{
	PGcancel *c = PQgetCancel(db);
	char buf[256];

	if (c != NULL) {
		PQcancel(c, buf, sizeof buf);
		PQfreeCancel(c);
	}
}

/*
 * Runs sql through a cursor and calls fn for each row, FETCH_ROWS at a time in binary: memory stays
 * bounded by one batch whatever the result size, and the whole result comes from one snapshot. The
 * cursor lives in the current transaction (tsk_run_begin's); a failure leaves that transaction aborted
 * for tsk_run_end to roll back.
 */
int
tsk_run_cursor(PGconn *db, const char *sql, const struct tsk_sql *q, tsk_run_row_fn fn, void *ctx, char *err,
    size_t errlen)
{
	struct tsk_buf decl = TSK_BUF_INIT;
	PGresult *res = NULL;
	int rc, stop = 0;

	tsk_buf_printf(&decl, "DECLARE tsk_series_cur NO SCROLL CURSOR FOR %s", sql);
	if (tsk_buf_cstr(&decl) == NULL) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}
	if ((rc = tsk_db_exec(db, tsk_buf_cstr(&decl), q->n, q->v, NULL, err, errlen)) != TSK_OK)
		goto out;
	for (;;) {
		if ((rc = tsk_run_exec_bin(db, "FETCH FORWARD " STR(FETCH_ROWS) " FROM tsk_series_cur", NULL, &res, err,
		    errlen)) != TSK_OK)
			goto out;
		int n = PQntuples(res);
		for (int i = 0; i < n && !stop; i++)
			stop = fn(ctx, res, i);
		PQclear(res);
		res = NULL;
		if (stop) {
			rc = stop;
			tsk_seterr(err, errlen, stop, "stopped");
			break;
		}
		if (n < FETCH_ROWS)
			break;
	}
	PQclear(PQexec(db, "CLOSE tsk_series_cur"));
out:
	tsk_buf_free(&decl);
	return rc;
}

/*
 * Runs sql once and receives its rows one at a time (libpq's single-row mode), in binary: one round
 * trip, one snapshot, memory for one row. For answers of moderate size (buckets, a limited number of
 * raw rows), where a cursor's DECLARE/FETCH round trips would cost more than the rows. A callback that
 * stops cancels the rest of the query.
 */
int
tsk_run_rows(PGconn *db, const char *sql, const struct tsk_sql *q, tsk_run_row_fn fn, void *ctx, char *err,
    size_t errlen)
{
	PGresult *res;
	int rc = TSK_OK, stop = 0;

	if (!PQsendQueryParams(db, sql, q->n, NULL, q->v, NULL, NULL, 1))
		return tsk_db_error(db, NULL, err, errlen);
	PQsetSingleRowMode(db);
	while ((res = PQgetResult(db)) != NULL) {
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_SINGLE_TUPLE) {
			if (!stop && rc == TSK_OK && (stop = fn(ctx, res, 0)) != 0)
				tsk_run_cancel(db);
		} else if (st != PGRES_TUPLES_OK && rc == TSK_OK && !stop) {
			rc = tsk_db_error(db, res, err, errlen);
		}
		PQclear(res);
	}
	if (stop) {
		tsk_seterr(err, errlen, stop, "stopped");
		return stop;
	}
	return rc;
}
