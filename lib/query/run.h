/*
 * Internal to lib/query: how a tenant's query runs. Every statement of a tenant runs inside a
 * transaction that entered the tenant's schema with a transaction-local search_path (tsk_run_begin ..
 * tsk_run_end), so a pooled connection carries nothing of one tenant into the next; rows come back in
 * binary through a cursor (constant memory) or libpq's single-row mode (one round trip).
 */
#ifndef TSK_QUERY_RUN_H
#define TSK_QUERY_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "core/time.h"
#include "query/filter.h"

#define MINUTE_US (INT64_C(60) * TSK_US_PER_S)
#define HOUR_US   (INT64_C(3600) * TSK_US_PER_S)
#define DAY_US    (INT64_C(86400) * TSK_US_PER_S)
/* 2000-01-01T00:00:00Z: date_bin's origin here, and PostgreSQL's binary timestamp epoch. */
#define ORIGIN_US (INT64_C(946684800) * TSK_US_PER_S)
#define ORIGIN_SQL "TIMESTAMPTZ '2000-01-01 00:00:00+00'"
/* Rows per FETCH of a cursor, and the largest answer read in single-row mode instead. */
#define FETCH_ROWS 10000
/*
 * The average: the exact decimal sum (each value's shortest round-trip text, as numeric) over the count,
 * divided with 40 decimals so the cast to float8 rounds correctly (numeric's default of 16 decimals can
 * land on the wrong side of a midpoint between two doubles). It depends neither on the order of the
 * additions nor on how the rows were grouped into rollup buckets.
 */
#define AVG_SQL(sum, count) "(" sum "::numeric(1000, 40) / nullif(" count ", 0))::float8"

/*
 * Opens the transaction a tenant's statements run in (with `begin`, e.g. "BEGIN READ ONLY") unless the
 * caller already has one (*own says which), and enters the tenant's schema for it: TSK_EINVAL without a
 * tenant, TSK_ENOTFOUND for an unknown one (nothing left open then). tsk_run_end commits (rc TSK_OK) or
 * rolls back what tsk_run_begin opened and returns the final status; in a caller's transaction block
 * the schema stays entered until that transaction ends.
 */
int tsk_run_begin(PGconn *db, const char *tenant, const char *begin, int *own, char *err, size_t errlen);
int tsk_run_end(PGconn *db, int own, int rc, char *err, size_t errlen);

/* Runs q with binary results; *out is the result (PQclear it). */
int tsk_run_exec_bin(PGconn *db, const char *sql, const struct tsk_sql *q, PGresult **out, char *err,
    size_t errlen);

typedef int (*tsk_run_row_fn)(void *ctx, const PGresult *res, int row);
/* Through a cursor (inside the current transaction), FETCH_ROWS at a time, in binary. A callback's
 * non-zero return stops and is returned (err "stopped"). */
int tsk_run_cursor(PGconn *db, const char *sql, const struct tsk_sql *q, tsk_run_row_fn fn, void *ctx, char *err,
    size_t errlen);
/* One statement, rows one at a time (single-row mode), in binary; a stop cancels the rest. */
int tsk_run_rows(PGconn *db, const char *sql, const struct tsk_sql *q, tsk_run_row_fn fn, void *ctx, char *err,
    size_t errlen);
/* Cancels the statement running on db (a callback asked to stop). */
void tsk_run_cancel(PGconn *db);

/* Binary result decoding (resultFormat 1). */
static inline uint64_t
tsk_run_be64(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | u[i];
	return v;
}

/* timestamptz travels as int64 microseconds since 2000-01-01 (integer datetimes, PostgreSQL >= 10). */
static inline int64_t
tsk_run_ts(const PGresult *r, int row, int col)
{
	return (int64_t)tsk_run_be64(PQgetvalue(r, row, col)) + ORIGIN_US;
}

static inline double
tsk_run_f8(const PGresult *r, int row, int col)
{
	uint64_t v = tsk_run_be64(PQgetvalue(r, row, col));
	double d;

	memcpy(&d, &v, sizeof d);
	return d;
}

static inline long long
tsk_run_i8(const PGresult *r, int row, int col)
{
	return (long long)tsk_run_be64(PQgetvalue(r, row, col));
}

static inline const char *
tsk_run_text(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* A time as JSON: RFC 3339 UTC with Z, as tsk_time_format writes it. */
static inline json_t *
tsk_run_jtime(int64_t us)
{
	char buf[TSK_TIME_STRLEN];
	return json_string(tsk_time_format(us, buf));
}

#endif
