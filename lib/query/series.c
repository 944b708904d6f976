/*
 * Bucketed and raw queries over a tenant's readings, and the incremental refresh of the rollups
 * reading_1m and reading_1h. See series.h for the semantics; the comments here say why the SQL has the
 * shape it has.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/db.h"
#include "query/series.h"
#include "registry/tenant.h"
#include "core/time.h"
#include "core/tsk.h"

#define MINUTE_US (INT64_C(60) * TSK_US_PER_S)
#define HOUR_US   (INT64_C(3600) * TSK_US_PER_S)
#define DAY_US    (INT64_C(86400) * TSK_US_PER_S)
/* 2000-01-01T00:00:00Z: date_bin's origin here, and PostgreSQL's binary timestamp epoch. */
#define ORIGIN_US (INT64_C(946684800) * TSK_US_PER_S)
#define ORIGIN_SQL "TIMESTAMPTZ '2000-01-01 00:00:00+00'"
#define FETCH_ROWS 10000
/*
 * The average: the exact decimal sum (each value's shortest round-trip text, as numeric) over the count,
 * divided with 40 decimals so the cast to float8 rounds correctly (numeric's default of 16 decimals can
 * land on the wrong side of a midpoint between two doubles). It depends neither on the order of the
 * additions nor on how the rows were grouped into rollup buckets.
 */
#define AVG_SQL(sum, count) "(" sum "::numeric(1000, 40) / nullif(" count ", 0))::float8"
#define MAXPARAMS 24
#define STR_(x) #x
#define STR(x) STR_(x)

/* ---- filters ---- */

void
tsk_series_filter_init(struct tsk_series_filter *f)
{
	memset(f, 0, sizeof *f);
	f->limit = -1;
}

void
tsk_series_filter_free(struct tsk_series_filter *f)
{
	free(f->devices);
	free(f->sensors);
	f->devices = f->sensors = NULL;
	f->ndevices = f->nsensors = 0;
}

static int
add_id(const char ***arr, size_t *n, const char *v)
{
	const char **a = realloc(*arr, (*n + 1) * sizeof *a);

	if (a == NULL)
		return -1;
	a[(*n)++] = v;
	*arr = a;
	return 0;
}

static int
parse_count(const char *key, const char *v, long long *out, char *err, size_t errlen)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || n < 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "invalid %s \"%s\": a whole number >= 0", key, v);
	*out = n;
	return TSK_OK;
}

int
tsk_series_filter_set(struct tsk_series_filter *f, const char *key, const char *value, int64_t now_us,
    char *err, size_t errlen)
{
	int64_t t;

	if (value == NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "%s needs a value", key);
	if (strcmp(key, "device") == 0 || strcmp(key, "sensor") == 0) {
		int dev = key[0] == 'd';
		if (*value == '\0')
			return tsk_seterr(err, errlen, TSK_EINVAL, "empty %s id", key);
		if (add_id(dev ? &f->devices : &f->sensors, dev ? &f->ndevices : &f->nsensors, value) != 0)
			return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		return TSK_OK;
	}
	if (strcmp(key, "from") == 0 || strcmp(key, "to") == 0) {
		if (tsk_time_parse(value, now_us, &t) != TSK_OK)
			return tsk_seterr(err, errlen, TSK_EINVAL,
			    "invalid %s time \"%s\": use RFC 3339 (2025-10-17T10:30:00Z), relative (-24h) or epoch seconds",
			    key, value);
		if (key[0] == 'f') {
			f->has_from = 1;
			f->from_us = t;
		} else {
			f->has_to = 1;
			f->to_us = t;
		}
		return TSK_OK;
	}
	if (strcmp(key, "bucket") == 0)
		return tsk_series_bucket_parse(value, &f->bucket_us, err, errlen);
	if (strcmp(key, "limit") == 0)
		return parse_count(key, value, &f->limit, err, errlen);
	if (strcmp(key, "offset") == 0)
		return parse_count(key, value, &f->offset, err, errlen);
	if (strcmp(key, "order") == 0) {
		if (strcmp(value, "asc") == 0)
			f->order = TSK_SERIES_ASC;
		else if (strcmp(value, "desc") == 0)
			f->order = TSK_SERIES_DESC;
		else if (strcmp(value, "any") == 0)
			f->order = TSK_SERIES_ANY;
		else
			return tsk_seterr(err, errlen, TSK_EINVAL, "invalid order \"%s\": asc, desc or any", value);
		return TSK_OK;
	}
	return tsk_seterr(err, errlen, TSK_EINVAL, "unknown filter \"%s\"", key);
}

int
tsk_series_filter_check(const struct tsk_series_filter *f, char *err, size_t errlen)
{
	char a[TSK_TIME_STRLEN], b[TSK_TIME_STRLEN];

	if (f->has_from && f->has_to && f->from_us > f->to_us)
		return tsk_seterr(err, errlen, TSK_EINVAL, "--from %s is after --to %s", tsk_time_format(f->from_us, a),
		    tsk_time_format(f->to_us, b));
	if (f->limit < -1 || f->offset < 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "limit and offset must be >= 0");
	if (f->bucket_us < 0 || f->bucket_us % MINUTE_US != 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "the bucket size must be a whole number of minutes");
	return TSK_OK;
}

int
tsk_series_bucket_parse(const char *s, int64_t *us, char *err, size_t errlen)
{
	char *end;
	long long n;
	int64_t unit;

	errno = 0;
	n = s != NULL && s[0] >= '1' && s[0] <= '9' ? strtoll(s, &end, 10) : 0;
	if (n <= 0 || errno != 0 || end[0] == '\0' || end[1] != '\0')
		goto bad;
	switch (end[0]) {
	case 'm': unit = MINUTE_US; break;
	case 'h': unit = HOUR_US; break;
	case 'd': unit = DAY_US; break;
	default: goto bad;
	}
	if (n > 366 * DAY_US / unit)
		return tsk_seterr(err, errlen, TSK_EINVAL, "bucket \"%s\" is too large: at most 366d", s);
	*us = n * unit;
	return TSK_OK;
bad:
	return tsk_seterr(err, errlen, TSK_EINVAL,
	    "unknown bucket \"%s\": use 1m, 5m, 15m, 1h, 1d or any Nm, Nh, Nd", s != NULL ? s : "");
}

int64_t
tsk_series_bucket_start(int64_t ts_us, int64_t bucket_us)
{
	int64_t d = ts_us - ORIGIN_US, q = d / bucket_us;

	if (d % bucket_us != 0 && d < 0)
		q--; /* floor, like date_bin, for times before the origin */
	return ORIGIN_US + q * bucket_us;
}

/* ---- small builders: SQL text and its parameters ---- */

struct sb {
	char *s;
	size_t len, cap;
	int oom;
};

static void __attribute__((format(printf, 2, 3)))
sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s != NULL ? b->s + b->len : NULL, b->s != NULL ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->s != NULL && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap + (size_t)n + 1) * 2;
		char *p = realloc(b->s, cap);
		if (p == NULL) {
			b->oom = 1;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
}

struct qp {
	int n;
	const char *v[MAXPARAMS];
	char *own[MAXPARAMS];
	int oom;
};

/* Adds a copy of s (NULL is SQL NULL) and returns its $number. */
static int
qp_add(struct qp *q, const char *s)
{
	if (q->n >= MAXPARAMS) {
		q->oom = 1;
		return 0;
	}
	q->own[q->n] = s != NULL ? strdup(s) : NULL;
	if (s != NULL && q->own[q->n] == NULL)
		q->oom = 1;
	q->v[q->n] = q->own[q->n];
	return ++q->n;
}

static int
qp_time(struct qp *q, int64_t us)
{
	char buf[TSK_TIME_STRLEN];
	return qp_add(q, tsk_time_format(us, buf));
}

static int
qp_ll(struct qp *q, long long v)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%lld", v);
	return qp_add(q, buf);
}

/* A text[] literal {"a","b"}: quotes and backslashes escaped, so any id goes through as a value. */
static int
qp_array(struct qp *q, const char *const *ids, size_t n)
{
	struct sb b = { 0 };
	int idx;

	sb_printf(&b, "{");
	for (size_t i = 0; i < n; i++) {
		sb_printf(&b, "%s\"", i > 0 ? "," : "");
		for (const char *p = ids[i]; *p; p++)
			sb_printf(&b, "%s%c", *p == '"' || *p == '\\' ? "\\" : "", *p);
		sb_printf(&b, "\"");
	}
	sb_printf(&b, "}");
	if (b.oom) {
		free(b.s);
		q->oom = 1;
		return 0;
	}
	idx = qp_add(q, b.s);
	free(b.s);
	return idx;
}

static void
qp_free(struct qp *q)
{
	for (int i = 0; i < q->n; i++)
		free(q->own[i]);
	q->n = 0;
}

/* The device/sensor conditions of a filter, as " AND ..." on columns prefixed by `a` ("r." or ""). The
 * parameters are added once and their numbers kept in ids[2], so a query can repeat the condition. */
struct idparams {
	int dev, sen;
	int dev_many, sen_many;
};

static void
id_params(struct qp *q, const struct tsk_series_filter *f, struct idparams *ip)
{
	memset(ip, 0, sizeof *ip);
	if (f->ndevices == 1)
		ip->dev = qp_add(q, f->devices[0]);
	else if (f->ndevices > 1) {
		ip->dev = qp_array(q, f->devices, f->ndevices);
		ip->dev_many = 1;
	}
	if (f->nsensors == 1)
		ip->sen = qp_add(q, f->sensors[0]);
	else if (f->nsensors > 1) {
		ip->sen = qp_array(q, f->sensors, f->nsensors);
		ip->sen_many = 1;
	}
}

static void
id_conds(struct sb *b, const struct idparams *ip, const char *a)
{
	/* One id is `= $n` (not ANY) so the planner sees a constant and uses the unique index's order. */
	if (ip->dev != 0)
		sb_printf(b, ip->dev_many ? " AND %sdevice_id = ANY($%d::text[])" : " AND %sdevice_id = $%d", a, ip->dev);
	if (ip->sen != 0)
		sb_printf(b, ip->sen_many ? " AND %ssensor_id = ANY($%d::text[])" : " AND %ssensor_id = $%d", a, ip->sen);
}

/* ---- binary result decoding (resultFormat 1) ---- */

static uint64_t
be64(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | u[i];
	return v;
}

static int64_t
get_ts(const PGresult *r, int row, int col)
{
	/* timestamptz travels as int64 microseconds since 2000-01-01 (integer datetimes, PostgreSQL >= 10). */
	return (int64_t)be64(PQgetvalue(r, row, col)) + ORIGIN_US;
}

static double
get_f8(const PGresult *r, int row, int col)
{
	uint64_t v = be64(PQgetvalue(r, row, col));
	double d;

	memcpy(&d, &v, sizeof d);
	return d;
}

static long long
get_i8(const PGresult *r, int row, int col)
{
	return (long long)be64(PQgetvalue(r, row, col));
}

static const char *
get_text(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* ---- running a query ---- */

/* Sets search_path to the tenant's schema, then public, for the current transaction only (set_config's
 * is_local: a pooled connection keeps nothing of the tenant after COMMIT or ROLLBACK), in one round trip
 * (schema names come from the registry and are quoted by the server's quote_ident; the slug is a
 * parameter). */
static int
enter(PGconn *db, const char *tenant, char *err, size_t errlen)
{
	const char *p[] = { tenant };
	PGresult *res;
	int rc, n;

	if (tenant == NULL || *tenant == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "no tenant given (--tenant SLUG)");
	if (PQtransactionStatus(db) != PQTRANS_INTRANS)
		return tsk_seterr(err, errlen, TSK_EFAIL, "a tenant's schema is entered only inside a transaction");
	rc = tsk_db_exec(db, "SELECT set_config('search_path', quote_ident(schema_name) || ', public', true)"
	    " FROM public.tenant WHERE slug = $1", 1, p, &res, err, errlen);
	if (rc != TSK_OK)
		return rc;
	n = PQntuples(res);
	PQclear(res);
	if (n != 1)
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "unknown tenant \"%s\"", tenant);
	return TSK_OK;
}

/*
 * The transaction a tenant's statements run in: opened here (with `begin`) unless the caller already
 * has one, and the tenant entered for it. scope_end commits or rolls back what scope_begin opened; in
 * a caller's transaction block the schema stays entered until that transaction ends.
 */
static int
scope_begin(PGconn *db, const char *tenant, const char *begin, int *own, char *err, size_t errlen)
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
	if ((rc = enter(db, tenant, err, errlen)) != TSK_OK && *own) {
		tsk_db_rollback(db);
		*own = 0;
	}
	return rc;
}

static int
scope_end(PGconn *db, int own, int rc, char *err, size_t errlen)
{
	if (!own)
		return rc;
	if (rc == TSK_OK && PQtransactionStatus(db) == PQTRANS_INTRANS)
		return tsk_db_commit(db, err, errlen);
	tsk_db_rollback(db);
	return rc;
}

/* The server's (or libpq's) error as one line, and its class. */
static int
db_error(PGconn *db, const PGresult *res, char *err, size_t errlen)
{
	int rc = tsk_db_classify(db, res);

	snprintf(err, errlen, "%s", res != NULL && *PQresultErrorMessage(res) ? PQresultErrorMessage(res) :
	    PQerrorMessage(db));
	err[strcspn(err, "\n")] = '\0';
	return rc;
}

static int
exec_bin(PGconn *db, const char *sql, const struct qp *q, PGresult **out, char *err, size_t errlen)
{
	PGresult *res = PQexecParams(db, sql, q->n, NULL, q->v, NULL, NULL, 1);

	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		*out = res;
		return TSK_OK;
	}
	int rc = db_error(db, res, err, errlen);
	PQclear(res);
	return rc;
}

typedef int (*row_fn)(void *ctx, const PGresult *res, int row);

/*
 * Runs sql through a cursor and calls fn for each row, FETCH_ROWS at a time in binary: memory stays
 * bounded by one batch whatever the result size, and the whole result comes from one snapshot.
 */
static int
stream(PGconn *db, const char *sql, const struct qp *q, row_fn fn, void *ctx, char *err, size_t errlen)
{
	int own_tx = PQtransactionStatus(db) == PQTRANS_IDLE, rc, stop = 0;
	struct sb decl = { 0 };
	PGresult *res = NULL;

	if (own_tx && (rc = tsk_db_cmd(db, "BEGIN READ ONLY", err, errlen)) != TSK_OK)
		return rc;
	sb_printf(&decl, "DECLARE tsk_series_cur NO SCROLL CURSOR FOR %s", sql);
	if (decl.oom) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto cleanup;
	}
	if ((rc = tsk_db_exec(db, decl.s, q->n, q->v, NULL, err, errlen)) != TSK_OK)
		goto cleanup;
	for (;;) {
		const struct qp none = { 0 };
		if ((rc = exec_bin(db, "FETCH FORWARD " STR(FETCH_ROWS) " FROM tsk_series_cur", &none, &res, err,
		    errlen)) != TSK_OK)
			goto cleanup;
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
	if (own_tx) {
		if (stop == 0)
			rc = tsk_db_cmd(db, "COMMIT", err, errlen);
		else
			tsk_db_rollback(db);
	} else {
		PQclear(PQexec(db, "CLOSE tsk_series_cur"));
	}
	free(decl.s);
	return rc;
cleanup:
	if (own_tx)
		tsk_db_rollback(db);
	free(decl.s);
	return rc;
}

/*
 * Runs sql once and receives its rows one at a time (libpq's single-row mode), in binary: one round
 * trip, one snapshot, memory for one row. For answers of moderate size (buckets, a limited number of
 * raw rows), where a cursor's BEGIN/DECLARE/FETCH/COMMIT round trips would cost more than the rows.
 * A callback that stops cancels the rest of the query.
 */
static int
stream_rows(PGconn *db, const char *sql, const struct qp *q, row_fn fn, void *ctx, char *err, size_t errlen)
{
	PGresult *res;
	int rc = TSK_OK, stop = 0;

	if (!PQsendQueryParams(db, sql, q->n, NULL, q->v, NULL, NULL, 1))
		return db_error(db, NULL, err, errlen);
	PQsetSingleRowMode(db);
	while ((res = PQgetResult(db)) != NULL) {
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_SINGLE_TUPLE) {
			if (!stop && rc == TSK_OK && (stop = fn(ctx, res, 0)) != 0) {
				PGcancel *c = PQgetCancel(db);
				char buf[256];
				if (c != NULL) {
					PQcancel(c, buf, sizeof buf);
					PQfreeCancel(c);
				}
			}
		} else if (st != PGRES_TUPLES_OK && rc == TSK_OK && !stop) {
			rc = db_error(db, res, err, errlen);
		}
		PQclear(res);
	}
	if (stop) {
		tsk_seterr(err, errlen, stop, "stopped");
		return stop;
	}
	return rc;
}

/* ---- buckets ---- */

/*
 * The bucket query. Final buckets of size B are aligned with date_bin and split into three kinds:
 *  - whole and clean: inside [from, to] and holding no row ingested after the watermark: merged from the
 *    rollup (reading_1h when B is a whole number of hours, else reading_1m: both divide B and share the
 *    origin, so a final bucket is exactly a union of rollup buckets);
 *  - whole and dirty: some row in it was ingested after the watermark (the unrefreshed tail, late
 *    rows): every raw row of the bucket;
 *  - partial, at the --from and --to edges: the raw rows inside [from, to].
 * The rollup rows and the raw rows are turned into the same partial form (sum, count, min, max, last,
 * last_ts) and merged by one GROUP BY, so a bucket never mixes the two kinds of source.
 *
 * The watermark comes in as a value, read by an earlier statement, so the planner sees it and walks the
 * ingested_at index for the (usually empty) dirty set instead of every row of the sensor. An earlier
 * read can only be older than what the query's own snapshot would see: rows between the two watermarks
 * then count as dirty and are read raw, which is still exact. With watermark NULL the query reads it
 * from the transaction-local setting tsk.watermark, set by an earlier statement of the same pipeline: the
 * planner still sees the value (it folds current_setting() when it estimates), without a round trip.
 */
#define WATERMARK_GUC "tsk.watermark"
#define WATERMARK_GUC_SQL "current_setting('" WATERMARK_GUC "')::timestamptz"

/* What buckets_sql writes: the whole query; the query for a range with no dirty bucket (rollup and
 * edges only: nothing to plan over the raw rows but the edges); or just whether there is a dirty bucket. */
enum bq { BQ_FULL, BQ_CLEAN, BQ_DIRTY };

static int
buckets_sql(const struct tsk_series_filter *f, const char *watermark, enum bq kind, struct sb *s, struct qp *q)
{
	char iv[48];
	int64_t bsz = f->bucket_us, wl = 0, wh = 0;
	int has_wl = f->has_from, has_wh = f->has_to;
	struct idparams ip;
	int pB = 0, pF = 0, pT = 0, pWL = 0, pWH = 0;
	const char *src = bsz % HOUR_US == 0 ? "reading_1h" : "reading_1m";

	if (has_wl) {
		wl = tsk_series_bucket_start(f->from_us, bsz);
		if (wl < f->from_us)
			wl += bsz;
	}
	if (has_wh)
		wh = tsk_series_bucket_start(f->to_us + 1, bsz); /* whole buckets end at or before to + 1us */
	if (has_wl && has_wh && wl >= wh)
		wl = wh = f->to_us + 1; /* no whole bucket: everything is an edge */
	/* Clean, no edge, and the rollup's own size: each bucket is one rollup row, nothing to merge. */
	int direct = kind == BQ_CLEAN && (bsz == HOUR_US || bsz == MINUTE_US) && !(f->has_from && f->from_us < wl) &&
	    !(f->has_to && wh <= f->to_us);
	snprintf(iv, sizeof iv, "%" PRId64 " microseconds", bsz);
	if (kind != BQ_DIRTY && !direct)
		pB = qp_add(q, iv);
	id_params(q, f, &ip);
	/* A parameter the text does not use would have no type: add the edges' bounds only when used. */
	if (kind != BQ_DIRTY && f->has_from && f->from_us < wl)
		pF = qp_time(q, f->from_us);
	if (kind != BQ_DIRTY && f->has_to && wh <= f->to_us)
		pT = qp_time(q, f->to_us);
	if (has_wl)
		pWL = qp_time(q, wl);
	if (has_wh)
		pWH = qp_time(q, wh);

	if (direct) {
		sb_printf(s, "SELECT m.bucket AS b, m.device_id, m.sensor_id, " AVG_SQL("m.sum", "m.count") ", m.min, m.max,"
		    " m.last, m.count FROM %s m WHERE true", src);
		id_conds(s, &ip, "m.");
		if (has_wl)
			sb_printf(s, " AND m.bucket >= $%d", pWL);
		if (has_wh)
			sb_printf(s, " AND m.bucket < $%d", pWH);
		goto order;
	}
	if (kind == BQ_CLEAN) {
		sb_printf(s, "WITH parts AS (");
		goto rollup;
	}
	if (kind == BQ_DIRTY)
		sb_printf(s, "SELECT EXISTS (SELECT 1");
	else
		sb_printf(s, "WITH dirty AS MATERIALIZED (SELECT DISTINCT device_id, sensor_id, date_bin($%d::interval, ts, "
		    ORIGIN_SQL ") AS b", pB);
	sb_printf(s, " FROM reading WHERE ingested_at > ");
	if (watermark != NULL)
		sb_printf(s, "$%d::timestamptz", qp_add(q, watermark));
	else
		sb_printf(s, WATERMARK_GUC_SQL);
	id_conds(s, &ip, "");
	if (has_wl)
		sb_printf(s, " AND ts >= $%d", pWL);
	if (has_wh)
		sb_printf(s, " AND ts < $%d", pWH);
	if (kind == BQ_DIRTY) {
		sb_printf(s, ")");
		return s->oom || q->oom ? -1 : 0;
	}
	sb_printf(s, "), parts AS (");
rollup:

	/* whole, clean buckets from the rollup */
	sb_printf(s, "SELECT date_bin($%d::interval, m.bucket, " ORIGIN_SQL ") AS b, m.device_id, m.sensor_id, m.sum,"
	    " m.count, m.min, m.max, m.last, m.last_ts FROM %s m WHERE true", pB, src);
	id_conds(s, &ip, "m.");
	if (has_wl)
		sb_printf(s, " AND m.bucket >= $%d", pWL);
	if (has_wh)
		sb_printf(s, " AND m.bucket < $%d", pWH);
	if (kind == BQ_FULL) {
		sb_printf(s, " AND NOT EXISTS (SELECT 1 FROM dirty d WHERE d.device_id = m.device_id AND d.sensor_id ="
		    " m.sensor_id AND d.b = date_bin($%d::interval, m.bucket, " ORIGIN_SQL "))", pB);

		/* whole, dirty buckets from the raw rows (dirty only holds whole buckets) */
		sb_printf(s, " UNION ALL SELECT d.b, r.device_id, r.sensor_id, r.value::text::numeric, 1::bigint, r.value,"
		    " r.value, r.value, r.ts FROM dirty d JOIN reading r ON r.device_id = d.device_id AND r.sensor_id ="
		    " d.sensor_id AND r.ts >= d.b AND r.ts < d.b + $%d::interval", pB);
		/* the same bounds as constants, so the planner prunes partitions instead of planning them all */
		if (has_wl)
			sb_printf(s, " AND r.ts >= $%d", pWL);
		if (has_wh)
			sb_printf(s, " AND r.ts < $%d", pWH);
	}

	/* partial buckets at the edges, from the raw rows */
	if (pF != 0) {
		sb_printf(s, " UNION ALL SELECT date_bin($%d::interval, r.ts, " ORIGIN_SQL "), r.device_id, r.sensor_id,"
		    " r.value::text::numeric, 1::bigint, r.value, r.value, r.value, r.ts FROM reading r"
		    " WHERE r.ts >= $%d AND r.ts < $%d", pB, pF, pWL);
		id_conds(s, &ip, "r.");
	}
	if (pT != 0) {
		sb_printf(s, " UNION ALL SELECT date_bin($%d::interval, r.ts, " ORIGIN_SQL "), r.device_id, r.sensor_id,"
		    " r.value::text::numeric, 1::bigint, r.value, r.value, r.value, r.ts FROM reading r"
		    " WHERE r.ts >= $%d AND r.ts <= $%d", pB, pWH, pT);
		id_conds(s, &ip, "r.");
	}
	sb_printf(s, ") SELECT b, device_id, sensor_id, " AVG_SQL("sum(sum)", "sum(count)") ", min(min), max(max),"
	    " (array_agg(last ORDER BY last_ts DESC))[1], sum(count)::bigint FROM parts GROUP BY b, device_id, sensor_id");
order:
	if (f->order == TSK_SERIES_DESC)
		sb_printf(s, " ORDER BY b DESC, device_id, sensor_id");
	else if (f->order == TSK_SERIES_ASC)
		sb_printf(s, " ORDER BY b, device_id, sensor_id");
	if (f->limit >= 0)
		sb_printf(s, " LIMIT $%d", qp_ll(q, f->limit));
	if (f->offset > 0)
		sb_printf(s, " OFFSET $%d", qp_ll(q, f->offset));
	return s->oom || q->oom ? -1 : 0;
}

struct bucket_ctx {
	tsk_series_bucket_fn fn;
	void *ctx;
};

static int
bucket_row(void *ctx, const PGresult *r, int i)
{
	struct bucket_ctx *c = ctx;
	struct tsk_series_bucket b;

	b.bucket_us = get_ts(r, i, 0);
	b.device_id = PQgetvalue(r, i, 1);
	b.sensor_id = PQgetvalue(r, i, 2);
	b.avg = get_f8(r, i, 3);
	b.min = get_f8(r, i, 4);
	b.max = get_f8(r, i, 5);
	b.last = get_f8(r, i, 6);
	b.count = get_i8(r, i, 7);
	return c->fn(c->ctx, &b);
}

/*
 * A buckets call in two round trips, libpq's pipeline mode, one REPEATABLE READ transaction (one
 * snapshot for the watermark, the check and the query, as exact as the single statement it replaces):
 *  batch 1: BEGIN; enter the tenant and copy the watermark into the setting tsk.watermark (both
 *           set_config(..., true): they last until the transaction ends, never past it); is there a
 *           dirty bucket in the range? An unknown slug sets search_path to pg_catalog alone, so the
 *           next statement fails and the rollback ends it.
 *  batch 2: the bucket query (reading the watermark from tsk.watermark, see buckets_sql), rows in
 *           single-row mode; COMMIT.
 * Each run of tsk-query is a new connection, whose backend pays for every first use of a catalog
 * entry, a buffer page and a code path: the dirty buckets are usually none, and then the query
 * neither plans nor runs the raw-row branches over the partitions (a few ms on a fresh backend).
 * Nothing of the tenant survives the transaction: the connection may serve another tenant next.
 */
#define BEGIN_PIPE_SQL "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
#define ENTER_PIPE_SQL \
	"SELECT s IS NOT NULL, set_config('search_path', coalesce(s || ', public', 'pg_catalog'), true)" \
	" FROM (SELECT (SELECT quote_ident(schema_name) FROM public.tenant WHERE slug = $1) AS s) t"
#define WATERMARK_PIPE_SQL \
	"SELECT set_config('" WATERMARK_GUC "', coalesce((SELECT watermark FROM rollup_state WHERE name = 'reading')," \
	" '-infinity')::text, true)"

struct pipe {
	PGconn *db;
	int rc, stop, found, dirty;
	row_fn fn;
	void *ctx;
	char *err;
	size_t errlen;
};

/* Reads the results of one pipelined statement (up to its NULL). step: 0 BEGIN/COMMIT, 1 enter,
 * 2 watermark, 3 dirty check, 4 the rows. */
static void
pipe_read(struct pipe *p, int step)
{
	PGresult *res;

	if (step == 4 && p->rc == TSK_OK)
		PQsetSingleRowMode(p->db); /* when it cannot, the rows come in one result: handled too */
	while ((res = PQgetResult(p->db)) != NULL) {
		ExecStatusType st = PQresultStatus(res);
		if (st != PGRES_TUPLES_OK && st != PGRES_SINGLE_TUPLE && st != PGRES_COMMAND_OK) {
			/* The first error says why; after an unknown tenant, the next one's is expected. */
			if (p->rc == TSK_OK && !p->stop && p->found != 0)
				p->rc = db_error(p->db, res, p->err, p->errlen);
			if (p->rc == TSK_OK && !p->stop)
				p->rc = TSK_EFAIL;
		} else if (step == 1 && st == PGRES_TUPLES_OK) {
			p->found = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
		} else if (step == 3 && st == PGRES_TUPLES_OK) {
			p->dirty = PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] != 'f';
		} else if (step == 4 && p->rc == TSK_OK && !p->stop && st != PGRES_COMMAND_OK) {
			for (int i = 0; i < PQntuples(res) && !p->stop; i++)
				p->stop = p->fn(p->ctx, res, i);
			if (p->stop) {
				PGcancel *c = PQgetCancel(p->db);
				char buf[256];
				if (c != NULL) {
					PQcancel(c, buf, sizeof buf);
					PQfreeCancel(c);
				}
			}
		}
		PQclear(res);
		if (PQstatus(p->db) != CONNECTION_OK)
			break;
	}
}

/* Reads (and drops) whatever is left up to the sync point's result: the NULL ending each statement's
 * results is skipped (a few at most: a stream of them means the connection is gone). */
static void
pipe_sync(struct pipe *p)
{
	PGresult *res;

	for (int nulls = 0; nulls < 16 && PQstatus(p->db) == CONNECTION_OK;) {
		if ((res = PQgetResult(p->db)) == NULL) {
			nulls++;
			continue;
		}
		nulls = 0;
		int done = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
		PQclear(res);
		if (done)
			break;
	}
}

static int
buckets_pipeline(PGconn *db, const char *tenant, const struct tsk_series_filter *f, row_fn fn, void *ctx,
    char *err, size_t errlen)
{
	struct pipe p = { db, TSK_OK, 0, -1, 1, fn, ctx, err, errlen };
	const char *tp[] = { tenant };
	struct sb s = { 0 }, ds = { 0 };
	struct qp q = { 0 }, dq = { 0 };
	int synced = 0;

	if (buckets_sql(f, NULL, BQ_DIRTY, &ds, &dq) != 0) {
		p.rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}
	if (!PQenterPipelineMode(db)) {
		p.rc = db_error(db, NULL, err, errlen);
		goto out;
	}
	if (!PQsendQueryParams(db, BEGIN_PIPE_SQL, 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQsendQueryParams(db, ENTER_PIPE_SQL, 1, NULL, tp, NULL, NULL, 0) ||
	    !PQsendQueryParams(db, WATERMARK_PIPE_SQL, 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQsendQueryParams(db, ds.s, dq.n, NULL, dq.v, NULL, NULL, 0) || !PQsendFlushRequest(db) ||
	    PQflush(db) != 0) {
		p.rc = db_error(db, NULL, err, errlen);
		goto end;
	}
	for (int step = 0; step <= 3; step++)
		pipe_read(&p, step);
	if (p.rc != TSK_OK || p.found != 1)
		goto end;
	if (buckets_sql(f, NULL, p.dirty ? BQ_FULL : BQ_CLEAN, &s, &q) != 0) {
		p.rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto end;
	}
	if (!PQsendQueryParams(db, s.s, q.n, NULL, q.v, NULL, NULL, 1) ||
	    !PQsendQueryParams(db, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) || !PQpipelineSync(db)) {
		p.rc = db_error(db, NULL, err, errlen);
		goto end;
	}
	synced = 1;
	pipe_read(&p, 4);
	pipe_read(&p, 0);
end:
	if (!synced && PQstatus(db) == CONNECTION_OK)
		synced = PQpipelineSync(db);
	if (synced)
		pipe_sync(&p);
	else if (p.rc == TSK_OK)
		p.rc = db_error(db, NULL, err, errlen);
	if (!PQexitPipelineMode(db) && p.rc == TSK_OK)
		p.rc = db_error(db, NULL, err, errlen);
	/* After an error, an unknown tenant or a stop, the transaction is still open (aborted or not). */
	if (PQtransactionStatus(db) != PQTRANS_IDLE)
		tsk_db_rollback(db);
out:
	free(s.s);
	free(ds.s);
	qp_free(&q);
	qp_free(&dq);
	if (p.found == 0)
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "unknown tenant \"%s\"", tenant);
	if (p.stop) {
		tsk_seterr(err, errlen, p.stop, "stopped");
		return p.stop;
	}
	return p.rc;
}

int
tsk_series_buckets(PGconn *db, const char *tenant, const struct tsk_series_filter *f, tsk_series_bucket_fn fn,
    void *ctx, char *err, size_t errlen)
{
	struct sb s = { 0 };
	struct qp q = { 0 };
	struct bucket_ctx c = { fn, ctx };
	PGresult *res;
	char wm[64];
	int rc, own = 0;

	if ((rc = tsk_series_filter_check(f, err, errlen)) != TSK_OK)
		return rc;
	if (f->bucket_us <= 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "no bucket size given (--bucket 1h)");
	if (tenant == NULL || *tenant == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "no tenant given (--tenant SLUG)");
	/* In a caller's transaction block, an error in the batch would abort it: statement by statement. */
	if (PQtransactionStatus(db) == PQTRANS_IDLE && PQpipelineStatus(db) == PQ_PIPELINE_OFF) {
		rc = buckets_pipeline(db, tenant, f, bucket_row, &c, err, errlen);
		goto out;
	}
	if ((rc = scope_begin(db, tenant, "BEGIN READ ONLY", &own, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_exec(db, "SELECT coalesce((SELECT watermark FROM rollup_state WHERE name = 'reading'),"
	    " '-infinity')", 0, NULL, &res, err, errlen)) != TSK_OK)
		goto cleanup;
	snprintf(wm, sizeof wm, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (buckets_sql(f, wm, BQ_FULL, &s, &q) != 0) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto cleanup;
	}
	rc = stream_rows(db, s.s, &q, bucket_row, &c, err, errlen);
cleanup:
	rc = scope_end(db, own, rc, err, errlen);
out:
	free(s.s);
	qp_free(&q);
	return rc;
}

/* ---- raw rows and their statistics ---- */

static void
raw_where(const struct tsk_series_filter *f, struct sb *s, struct qp *q)
{
	struct idparams ip;

	id_params(q, f, &ip);
	sb_printf(s, " FROM reading WHERE true");
	id_conds(s, &ip, "");
	if (f->has_from)
		sb_printf(s, " AND ts >= $%d", qp_time(q, f->from_us));
	if (f->has_to)
		sb_printf(s, " AND ts <= $%d", qp_time(q, f->to_us));
}

struct raw_ctx {
	tsk_series_reading_fn fn;
	void *ctx;
};

static int
raw_row(void *ctx, const PGresult *r, int i)
{
	struct raw_ctx *c = ctx;
	struct tsk_series_reading x;

	x.ts_us = get_ts(r, i, 0);
	x.device_id = PQgetvalue(r, i, 1);
	x.sensor_id = PQgetvalue(r, i, 2);
	x.value = get_f8(r, i, 3);
	x.unit = get_text(r, i, 4);
	x.labels = get_text(r, i, 5);
	return c->fn(c->ctx, &x);
}

int
tsk_series_raw(PGconn *db, const char *tenant, const struct tsk_series_filter *f, tsk_series_reading_fn fn,
    void *ctx, char *err, size_t errlen)
{
	struct sb s = { 0 };
	struct qp q = { 0 };
	struct raw_ctx c = { fn, ctx };
	int rc, own;

	if ((rc = tsk_series_filter_check(f, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = scope_begin(db, tenant, "BEGIN READ ONLY", &own, err, errlen)) != TSK_OK)
		return rc;
	sb_printf(&s, "SELECT ts, device_id, sensor_id, value, unit, %s", f->no_labels ? "NULL::text" : "labels::text");
	raw_where(f, &s, &q);
	if (f->order == TSK_SERIES_DESC)
		sb_printf(&s, " ORDER BY ts DESC, device_id, sensor_id");
	else if (f->order == TSK_SERIES_ASC)
		sb_printf(&s, " ORDER BY ts, device_id, sensor_id");
	if (f->limit >= 0)
		sb_printf(&s, " LIMIT $%d", qp_ll(&q, f->limit));
	if (f->offset > 0)
		sb_printf(&s, " OFFSET $%d", qp_ll(&q, f->offset));
	if (s.oom || q.oom) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto cleanup;
	}
	/* A bounded answer in one round trip; an unbounded one through a cursor, a batch at a time. */
	if (f->limit >= 0 && f->limit + f->offset <= FETCH_ROWS)
		rc = stream_rows(db, s.s, &q, raw_row, &c, err, errlen);
	else
		rc = stream(db, s.s, &q, raw_row, &c, err, errlen);
cleanup:
	rc = scope_end(db, own, rc, err, errlen);
	free(s.s);
	qp_free(&q);
	return rc;
}

int
tsk_series_stats(PGconn *db, const char *tenant, const struct tsk_series_filter *f, struct tsk_series_stats *out,
    char *err, size_t errlen)
{
	struct sb s = { 0 };
	struct qp q = { 0 };
	PGresult *res = NULL;
	int rc, own;

	memset(out, 0, sizeof *out);
	if ((rc = tsk_series_filter_check(f, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = scope_begin(db, tenant, "BEGIN READ ONLY", &own, err, errlen)) != TSK_OK)
		return rc;
	/* The average is the exact decimal sum over the count, as in the rollups and `buckets`. */
	sb_printf(&s, "SELECT count(*)::bigint, " AVG_SQL("sum(value::text::numeric)", "count(*)") ", min(value),"
	    " max(value), min(ts), max(ts)");
	raw_where(f, &s, &q);
	if (s.oom || q.oom) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto cleanup;
	}
	if ((rc = exec_bin(db, s.s, &q, &res, err, errlen)) != TSK_OK)
		goto cleanup;
	out->count = get_i8(res, 0, 0);
	if (out->count > 0) {
		out->avg = get_f8(res, 0, 1);
		out->min = get_f8(res, 0, 2);
		out->max = get_f8(res, 0, 3);
		out->first_us = get_ts(res, 0, 4);
		out->last_us = get_ts(res, 0, 5);
	}
cleanup:
	rc = scope_end(db, own, rc, err, errlen);
	PQclear(res);
	free(s.s);
	qp_free(&q);
	return rc;
}

/* ---- JSON forms ---- */

static json_t *
jtime(int64_t us)
{
	char buf[TSK_TIME_STRLEN];
	return json_string(tsk_time_format(us, buf));
}

json_t *
tsk_series_bucket_json(const struct tsk_series_bucket *b)
{
	return json_pack("{s:o, s:s, s:s, s:f, s:f, s:f, s:f, s:I}", "bucket", jtime(b->bucket_us), "device_id",
	    b->device_id, "sensor_id", b->sensor_id, "avg", b->avg, "min", b->min, "max", b->max, "last", b->last,
	    "count", (json_int_t)b->count);
}

json_t *
tsk_series_reading_json(const struct tsk_series_reading *r)
{
	json_t *labels = r->labels != NULL ? json_loads(r->labels, 0, NULL) : NULL;

	return json_pack("{s:o, s:s, s:s, s:f, s:s?, s:o}", "ts", jtime(r->ts_us), "device_id", r->device_id,
	    "sensor_id", r->sensor_id, "value", r->value, "unit", r->unit, "labels",
	    labels != NULL ? labels : json_object());
}

json_t *
tsk_series_stats_json(const struct tsk_series_stats *s)
{
	if (s->count == 0)
		return json_pack("{s:I, s:n, s:n, s:n, s:n, s:n}", "count", (json_int_t)0, "avg", "min", "max",
		    "first_ts", "last_ts");
	return json_pack("{s:I, s:f, s:f, s:f, s:o, s:o}", "count", (json_int_t)s->count, "avg", s->avg, "min",
	    s->min, "max", s->max, "first_ts", jtime(s->first_us), "last_ts", jtime(s->last_us));
}

/* ---- latest, history, summary, sensors ---- */

/* The tenant's offline_after setting in microseconds (default 1h). */
static int
offline_after(PGconn *db, const char *tenant, int64_t *us, char *err, size_t errlen)
{
	json_t *settings = NULL, *v;
	int rc;

	*us = HOUR_US;
	if ((rc = tsk_tenant_settings(db, tenant, &settings, err, errlen)) != TSK_OK)
		return rc;
	v = json_object_get(settings, "offline_after");
	if (json_is_string(v)) {
		if (tsk_duration_parse(json_string_value(v), us) != TSK_OK)
			rc = tsk_seterr(err, errlen, TSK_EINVAL, "tenant %s: setting offline_after \"%s\" is not a duration",
			    tenant, json_string_value(v));
	} else if (json_is_number(v) && json_number_value(v) > 0) {
		*us = (int64_t)(json_number_value(v) * 1e6); /* a bare number is seconds */
	}
	json_decref(settings);
	return rc;
}

/* Sensors of one device, from the unique index without reading every row: a loose index scan that
 * jumps from one sensor_id to the next. */
#define DEVICE_SENSORS_SQL \
	"WITH RECURSIVE s AS ((SELECT sensor_id FROM reading WHERE device_id = $1 ORDER BY sensor_id LIMIT 1)" \
	" UNION ALL SELECT (SELECT r.sensor_id FROM reading r WHERE r.device_id = $1 AND r.sensor_id > s.sensor_id" \
	" ORDER BY r.sensor_id LIMIT 1) FROM s WHERE s.sensor_id IS NOT NULL)"

static void fix_times(json_t *arr, const char *const *keys);

int
tsk_series_latest(PGconn *db, const char *tenant, const char *device, json_t **out, char *err, size_t errlen)
{
	static const char *const tkeys[] = { "ts", NULL };
	int64_t off;
	char offs[32];
	int rc, own;

	if (device == NULL || *device == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "latest needs a device (--device ID)");
	if ((rc = scope_begin(db, tenant, "BEGIN READ ONLY", &own, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = offline_after(db, tenant, &off, err, errlen)) != TSK_OK)
		return scope_end(db, own, rc, err, errlen);
	snprintf(offs, sizeof offs, "%" PRId64 " microseconds", off);
	const char *p[] = { device, offs };
	rc = tsk_db_json_rows(db,
	    DEVICE_SENSORS_SQL
	    " SELECT json_build_object('device_id', $1::text, 'sensor_id', s.sensor_id,"
	    " 'ts', to_char(l.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'value', l.value,"
	    " 'unit', l.unit, 'online', l.ts > now() - $2::interval)::text"
	    " FROM s CROSS JOIN LATERAL (SELECT ts, value, unit FROM reading r WHERE r.device_id = $1"
	    " AND r.sensor_id = s.sensor_id ORDER BY ts DESC LIMIT 1) l WHERE s.sensor_id IS NOT NULL"
	    " ORDER BY s.sensor_id",
	    2, p, out, err, errlen);
	rc = scope_end(db, own, rc, err, errlen);
	if (rc == TSK_OK)
		fix_times(*out, tkeys);
	return rc;
}

/* Timestamps built in SQL carry microseconds; print them the way tsk_time_format does. */
static void
fix_times(json_t *arr, const char *const *keys)
{
	size_t i;
	json_t *row;

	json_array_foreach(arr, i, row) {
		for (const char *const *k = keys; *k != NULL; k++) {
			json_t *v = json_object_get(row, *k);
			int64_t us;
			if (json_is_string(v) && tsk_time_parse_rfc3339(json_string_value(v), &us) == TSK_OK)
				json_object_set_new(row, *k, jtime(us));
		}
	}
}

struct history_ctx {
	json_t *rows;
	const char *interval;
};

static int
history_bucket(void *ctx, const struct tsk_series_bucket *b)
{
	struct history_ctx *h = ctx;

	return json_array_append_new(h->rows, json_pack("{s:o, s:s, s:s, s:f, s:f, s:f, s:I, s:s}", "ts",
	    jtime(b->bucket_us), "device_id", b->device_id, "sensor_id", b->sensor_id, "value", b->avg, "min", b->min,
	    "max", b->max, "count", (json_int_t)b->count, "interval", h->interval)) == 0 ? 0 : TSK_EFAIL;
}

static int
history_raw(void *ctx, const struct tsk_series_reading *r)
{
	struct history_ctx *h = ctx;

	return json_array_append_new(h->rows, json_pack("{s:o, s:s, s:s, s:f, s:f, s:f, s:I, s:s}", "ts",
	    jtime(r->ts_us), "device_id", r->device_id, "sensor_id", r->sensor_id, "value", r->value, "min", r->value,
	    "max", r->value, "count", (json_int_t)1, "interval", h->interval)) == 0 ? 0 : TSK_EFAIL;
}

int
tsk_series_history(PGconn *db, const char *tenant, const struct tsk_series_filter *f, const char *interval,
    int64_t now_us, json_t **out, char *chosen, char *err, size_t errlen)
{
	struct tsk_series_filter h = *f;
	struct history_ctx c;
	const char *iv = interval != NULL ? interval : "auto";
	int rc;

	if (!h.has_to) {
		h.has_to = 1;
		h.to_us = now_us;
	}
	if (!h.has_from) {
		h.has_from = 1;
		h.from_us = h.to_us - DAY_US;
	}
	if ((rc = tsk_series_filter_check(&h, err, errlen)) != TSK_OK)
		return rc;
	if (strcmp(iv, "auto") == 0) {
		int64_t span = h.to_us - h.from_us;
		iv = span <= HOUR_US ? "raw" : span <= 6 * HOUR_US ? "1m" : span <= DAY_US ? "5m" : "1h";
	}
	if (strcmp(iv, "raw") != 0 && (rc = tsk_series_bucket_parse(iv, &h.bucket_us, err, errlen)) != TSK_OK)
		return tsk_seterr(err, errlen, TSK_EINVAL, "unknown interval \"%s\": auto, raw, 1m, 5m, 1h or any Nm, Nh, Nd",
		    iv);
	h.order = TSK_SERIES_ASC;
	c.rows = json_array();
	c.interval = iv;
	if (c.rows == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	if (strcmp(iv, "raw") == 0) {
		h.no_labels = 1;
		rc = tsk_series_raw(db, tenant, &h, history_raw, &c, err, errlen);
	} else {
		rc = tsk_series_buckets(db, tenant, &h, history_bucket, &c, err, errlen);
	}
	if (rc != TSK_OK) {
		json_decref(c.rows);
		return rc;
	}
	if (chosen != NULL)
		snprintf(chosen, 8, "%s", iv);
	*out = c.rows;
	return TSK_OK;
}

int
tsk_series_summary(PGconn *db, const char *tenant, const char *device, int64_t now_us, json_t **out, char *err,
    size_t errlen)
{
	static const char *const tkeys[] = { "last_ts", NULL };
	char nows[TSK_TIME_STRLEN], offs[32];
	json_t *sensors = NULL;
	int64_t off, last = INT64_MIN;
	size_t i;
	json_t *row;
	int rc, own;

	if (device == NULL || *device == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "summary needs a device (--device ID)");
	if ((rc = scope_begin(db, tenant, "BEGIN READ ONLY", &own, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = offline_after(db, tenant, &off, err, errlen)) != TSK_OK)
		return scope_end(db, own, rc, err, errlen);
	snprintf(offs, sizeof offs, "%" PRId64 " microseconds", off);
	tsk_time_format(now_us, nows);
	const char *p[] = { device, nows, offs };
	rc = tsk_db_json_rows(db,
	    DEVICE_SENSORS_SQL
	    " SELECT json_build_object('sensor_id', s.sensor_id, 'unit', l.unit, 'last_value', l.value,"
	    " 'last_ts', to_char(l.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
	    " 'online', l.ts > $2::timestamptz - $3::interval, 'count_24h', d.n, 'avg_24h', d.avg,"
	    " 'min_24h', d.min, 'max_24h', d.max)::text"
	    " FROM s CROSS JOIN LATERAL (SELECT ts, value, unit FROM reading r WHERE r.device_id = $1"
	    " AND r.sensor_id = s.sensor_id ORDER BY ts DESC LIMIT 1) l"
	    " CROSS JOIN LATERAL (SELECT count(*) AS n, " AVG_SQL("sum(value::text::numeric)", "count(*)") " AS avg,"
	    " min(value) AS min, max(value) AS max FROM reading r WHERE r.device_id = $1 AND r.sensor_id = s.sensor_id"
	    " AND r.ts > $2::timestamptz - interval '24 hours' AND r.ts <= $2::timestamptz) d"
	    " WHERE s.sensor_id IS NOT NULL ORDER BY s.sensor_id",
	    3, p, &sensors, err, errlen);
	rc = scope_end(db, own, rc, err, errlen);
	if (rc != TSK_OK)
		return rc;
	if (json_array_size(sensors) == 0) {
		json_decref(sensors);
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "device \"%s\" has no readings in tenant %s", device, tenant);
	}
	fix_times(sensors, tkeys);
	json_array_foreach(sensors, i, row) {
		int64_t us;
		if (tsk_time_parse_rfc3339(json_string_value(json_object_get(row, "last_ts")), &us) == TSK_OK && us > last)
			last = us;
	}
	/* The contract's device rule: online when it sent a reading in the last 5 minutes. */
	*out = json_pack("{s:s, s:b, s:o, s:o}", "device_id", device, "online", last > now_us - 5 * MINUTE_US,
	    "last_seen", jtime(last), "sensors", sensors);
	return *out != NULL ? TSK_OK : tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
}

int
tsk_series_sensors(PGconn *db, const char *tenant, const char *device, int64_t now_us, json_t **out, char *err,
    size_t errlen)
{
	static const char *const tkeys[] = { "last_seen", "last_ts", NULL };
	char nows[TSK_TIME_STRLEN], offs[32];
	int64_t off;
	int rc, own;

	if ((rc = scope_begin(db, tenant, "BEGIN READ ONLY", &own, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = offline_after(db, tenant, &off, err, errlen)) != TSK_OK)
		return scope_end(db, own, rc, err, errlen);
	snprintf(offs, sizeof offs, "%" PRId64 " microseconds", off);
	tsk_time_format(now_us, nows);
	const char *p[] = { nows, offs, device };
	/* Online when the last reading arrived (last_seen; else its timestamp) within offline_after: a
	 * device with a wrong clock that keeps sending is still online. */
	rc = tsk_db_json_rows(db,
	    "SELECT json_build_object('device_id', device_id, 'sensor_id', sensor_id, 'unit', unit, 'type', type,"
	    " 'last_seen', to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
	    " 'last_ts', to_char(last_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
	    " 'last_value', last_value,"
	    " 'online', coalesce(coalesce(last_seen, last_ts) > $1::timestamptz - $2::interval, false))::text"
	    " FROM sensor WHERE $3::text IS NULL OR device_id = $3 ORDER BY device_id, sensor_id",
	    3, p, out, err, errlen);
	rc = scope_end(db, own, rc, err, errlen);
	if (rc == TSK_OK)
		fix_times(*out, tkeys);
	return rc;
}

/* ---- refresh ---- */

/*
 * The watermark and the race it must not lose. A row counts toward the rollups once its ingested_at is
 * at or below the watermark, so the refresh may only move the watermark past times at which no row can
 * still become visible. ingested_at defaults to now(), the start of the inserting transaction, and that
 * transaction may commit long after. So the new watermark is the least of
 *   - clock_timestamp() minus a safety margin (rollup_state.lag, 1 minute by default), which covers
 *     writers that stamp ingested_at themselves a little in the past, and
 *   - just before the start of the oldest transaction open in this database (pg_stat_activity.xact_start,
 *     the very value now() returns in that transaction): a row not yet committed was stamped at or
 *     after its transaction started, so it stays above the watermark.
 * It is read before the refresh transaction begins (pg_stat_activity is a per-transaction snapshot), so
 * a transaction that commits between that read and the refresh's snapshot is visible to the refresh,
 * and one that starts after it stamps a later time. Chosen over xmin tracking because xmin is neither
 * indexed nor stable (wraparound, freezing), while ingested_at has an index: a refresh reads only the
 * new rows. A long open transaction only holds the watermark back (queries then read more raw rows);
 * it never loses a row. (A role without pg_read_all_stats sees no xact_start of other roles' sessions:
 * then the margin alone guards; run the refresh as the role that ingests, or grant pg_read_all_stats.)
 */
#define CANDIDATE_SQL \
	"SELECT least(clock_timestamp() - coalesce((SELECT lag FROM rollup_state WHERE name = 'reading')," \
	" interval '1 minute'), (SELECT min(xact_start) - interval '1 microsecond' FROM pg_stat_activity" \
	" WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'))"

/* Every 1m bucket touched by rows ingested in (old, new], recomputed from all raw rows of the bucket
 * (an upsert: the bucket's row is replaced, never added to). The redundant date_bin equality lets the
 * planner hash-join a large dirty set; the range lets it walk the unique index for a small one. */
#define DIRTY_SQL \
	"CREATE TEMP TABLE tsk_dirty ON COMMIT DROP AS SELECT device_id, sensor_id, date_bin('1 minute', ts, " \
	ORIGIN_SQL ") AS bucket, count(*) AS n FROM reading WHERE ingested_at > $1 AND ingested_at <= $2" \
	" GROUP BY 1, 2, 3"

#define ROLLUP_COLS "(bucket, device_id, sensor_id, sum, count, min, max, last, last_ts)"
#define UPSERT_TAIL \
	" ON CONFLICT (device_id, sensor_id, bucket) DO UPDATE SET sum = EXCLUDED.sum, count = EXCLUDED.count," \
	" min = EXCLUDED.min, max = EXCLUDED.max, last = EXCLUDED.last, last_ts = EXCLUDED.last_ts"

#define REFRESH_1M_SQL \
	"INSERT INTO reading_1m " ROLLUP_COLS " SELECT d.bucket, d.device_id, d.sensor_id," \
	" sum(r.value::text::numeric), count(*), min(r.value), max(r.value), (array_agg(r.value ORDER BY r.ts DESC))[1]," \
	" max(r.ts) FROM tsk_dirty d JOIN reading r ON r.device_id = d.device_id AND r.sensor_id = d.sensor_id" \
	" AND r.ts >= d.bucket AND r.ts < d.bucket + interval '1 minute'" \
	" AND date_bin('1 minute', r.ts, " ORIGIN_SQL ") = d.bucket GROUP BY 1, 2, 3" UPSERT_TAIL

/* The first refresh of a tenant reads everything once, without the join. */
#define REFRESH_1M_ALL_SQL \
	"INSERT INTO reading_1m " ROLLUP_COLS " SELECT date_bin('1 minute', ts, " ORIGIN_SQL "), device_id, sensor_id," \
	" sum(value::text::numeric), count(*), min(value), max(value), (array_agg(value ORDER BY ts DESC))[1], max(ts)" \
	" FROM reading GROUP BY 1, 2, 3" UPSERT_TAIL

/* 1h buckets over the touched hours, merged from reading_1m (exact: numeric sums, last by last_ts). */
#define REFRESH_1H_SQL \
	"INSERT INTO reading_1h " ROLLUP_COLS " SELECT h.bucket, h.device_id, h.sensor_id, sum(m.sum), sum(m.count)," \
	" min(m.min), max(m.max), (array_agg(m.last ORDER BY m.last_ts DESC))[1], max(m.last_ts)" \
	" FROM (SELECT DISTINCT device_id, sensor_id, date_bin('1 hour', bucket, " ORIGIN_SQL ") AS bucket FROM tsk_dirty) h" \
	" JOIN reading_1m m ON m.device_id = h.device_id AND m.sensor_id = h.sensor_id AND m.bucket >= h.bucket" \
	" AND m.bucket < h.bucket + interval '1 hour' GROUP BY 1, 2, 3" UPSERT_TAIL

#define REFRESH_1H_ALL_SQL \
	"INSERT INTO reading_1h " ROLLUP_COLS " SELECT date_bin('1 hour', bucket, " ORIGIN_SQL "), device_id, sensor_id," \
	" sum(sum), sum(count), min(min), max(max), (array_agg(last ORDER BY last_ts DESC))[1], max(last_ts)" \
	" FROM reading_1m GROUP BY 1, 2, 3" UPSERT_TAIL

static int
refresh_one(PGconn *db, const char *tenant, struct tsk_series_refresh_result *out, char *err, size_t errlen)
{
	PGresult *res = NULL;
	char cand[64], old[64], wm[64];
	long long n1m = 0, n1h = 0, rows = 0;
	int rc, first, own;

	/* The candidate comes from a transaction of its own, before the refresh's (see CANDIDATE_SQL). */
	if ((rc = scope_begin(db, tenant, "BEGIN READ ONLY", &own, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_exec(db, CANDIDATE_SQL, 0, NULL, &res, err, errlen)) == TSK_OK) {
		snprintf(cand, sizeof cand, "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		res = NULL;
	}
	if ((rc = scope_end(db, own, rc, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_begin(db, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = enter(db, tenant, err, errlen)) != TSK_OK)
		goto cleanup;
	/* The row lock serializes refreshes of one tenant; a second one waits, then finds little to do. */
	if ((rc = tsk_db_cmd(db, "INSERT INTO rollup_state (name) VALUES ('reading') ON CONFLICT DO NOTHING", err,
	    errlen)) != TSK_OK)
		goto cleanup;
	const char *pc[] = { cand };
	if ((rc = tsk_db_exec(db, "SELECT watermark, greatest(watermark, $1::timestamptz), watermark = '-infinity'"
	    " FROM rollup_state WHERE name = 'reading' FOR UPDATE", 1, pc, &res, err, errlen)) != TSK_OK)
		goto cleanup;
	snprintf(old, sizeof old, "%s", PQgetvalue(res, 0, 0));
	snprintf(wm, sizeof wm, "%s", PQgetvalue(res, 0, 1));
	first = PQgetvalue(res, 0, 2)[0] == 't';
	PQclear(res);
	res = NULL;
	const char *p[] = { old, wm };
	if (first) {
		/* Nothing was ever aggregated: one pass over every row, no dirty set to join. */
		if ((rc = tsk_db_exec_rows(db, REFRESH_1M_ALL_SQL, 0, NULL, &n1m, err, errlen)) != TSK_OK ||
		    (rc = tsk_db_exec_rows(db, REFRESH_1H_ALL_SQL, 0, NULL, &n1h, err, errlen)) != TSK_OK)
			goto cleanup;
		if ((rc = tsk_db_exec(db, "SELECT coalesce(sum(count), 0)::bigint FROM reading_1m", 0, NULL, &res, err,
		    errlen)) != TSK_OK)
			goto cleanup;
	} else {
		if ((rc = tsk_db_exec_rows(db, DIRTY_SQL, 2, p, NULL, err, errlen)) != TSK_OK ||
		    (rc = tsk_db_cmd(db, "ANALYZE tsk_dirty", err, errlen)) != TSK_OK ||
		    (rc = tsk_db_exec_rows(db, REFRESH_1M_SQL, 0, NULL, &n1m, err, errlen)) != TSK_OK ||
		    (rc = tsk_db_exec_rows(db, REFRESH_1H_SQL, 0, NULL, &n1h, err, errlen)) != TSK_OK)
			goto cleanup;
		if ((rc = tsk_db_exec(db, "SELECT coalesce(sum(n), 0)::bigint FROM tsk_dirty", 0, NULL, &res, err,
		    errlen)) != TSK_OK)
			goto cleanup;
	}
	rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	res = NULL;
	const char *pw[] = { wm };
	if ((rc = tsk_db_exec(db, "UPDATE rollup_state SET watermark = $1, refreshed_at = now() WHERE name = 'reading'"
	    " RETURNING (extract(epoch FROM watermark) * 1000000)::bigint", 1, pw, &res, err, errlen)) != TSK_OK)
		goto cleanup;
	if (out != NULL) {
		out->tenants++;
		out->rows += rows;
		out->buckets_1m += n1m;
		out->buckets_1h += n1h;
		out->watermark_us = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	}
	PQclear(res);
	res = NULL;
	return tsk_db_commit(db, err, errlen);
cleanup:
	PQclear(res);
	tsk_db_rollback(db);
	return rc;
}

int
tsk_series_refresh(PGconn *db, const char *tenant, struct tsk_series_refresh_result *out, char *err,
    size_t errlen)
{
	PGresult *res;
	int rc;

	if (out != NULL)
		memset(out, 0, sizeof *out);
	if (tenant != NULL)
		return refresh_one(db, tenant, out, err, errlen);
	if ((rc = tsk_db_exec(db, "SELECT slug FROM public.tenant ORDER BY slug", 0, NULL, &res, err, errlen)) != TSK_OK)
		return rc;
	for (int i = 0; i < PQntuples(res) && rc == TSK_OK; i++) {
		rc = refresh_one(db, PQgetvalue(res, i, 0), out, err, errlen);
		/* A tenant deleted since the list was read is not a failure. */
		if (rc == TSK_ENOTFOUND)
			rc = TSK_OK;
	}
	PQclear(res);
	return rc;
}
