/*
 * Bucketed queries: bucket sizes and their alignment, and the bucket query that merges the rollups
 * (reading_1m, reading_1h) with the raw rows they do not cover yet. See series.h for the semantics; the
 * comments here say why the SQL has the shape it has.
 */
#include <inttypes.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/time.h"
#include "core/tsk.h"
#include "pg/db.h"
#include "query/run.h"
#include "query/series.h"

/* ---- bucket sizes ---- */

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
buckets_sql(const struct tsk_filter *f, const char *watermark, enum bq kind, struct tsk_sql *s)
{
	char iv[48];
	int64_t bsz = f->bucket_us, wl = 0, wh = 0;
	int has_wl = f->has_from, has_wh = f->has_to;
	struct tsk_filter_ids ip;
	int pB = 0, pF = 0, pT = 0, pWL = 0, pWH = 0;
	const char *src = bsz % HOUR_US == 0 ? "reading_1h" : "reading_1m";

	/* --site/--asset: the rollups keep no site or asset tag (a reading's own), so the buckets are the
	 * raw rows' aggregation, with the same sums, last and bounds as the rollup path (exact either way). */
	if (tsk_filter_has_tags(f)) {
		if (kind == BQ_DIRTY) {
			tsk_sql_printf(s, "SELECT false");
			return tsk_sql_failed(s) ? -1 : 0;
		}
		snprintf(iv, sizeof iv, "%" PRId64 " microseconds", bsz);
		pB = tsk_sql_param(s, iv);
		tsk_sql_printf(s, "SELECT date_bin($%d::interval, ts, " ORIGIN_SQL ") AS b, device_id, sensor_id, "
		    AVG_SQL("sum(value::text::numeric)", "count(*)") ", min(value), max(value),"
		    " (array_agg(value ORDER BY ts DESC))[1], count(*)::bigint FROM reading WHERE true", pB);
		tsk_filter_where(s, f);
		tsk_sql_printf(s, " GROUP BY 1, device_id, sensor_id");
		goto order;
	}

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
		pB = tsk_sql_param(s, iv);
	tsk_filter_ids(s, f, &ip);
	/* A parameter the text does not use would have no type: add the edges' bounds only when used. */
	if (kind != BQ_DIRTY && f->has_from && f->from_us < wl)
		pF = tsk_sql_param_time(s, f->from_us);
	if (kind != BQ_DIRTY && f->has_to && wh <= f->to_us)
		pT = tsk_sql_param_time(s, f->to_us);
	if (has_wl)
		pWL = tsk_sql_param_time(s, wl);
	if (has_wh)
		pWH = tsk_sql_param_time(s, wh);

	if (direct) {
		tsk_sql_printf(s, "SELECT m.bucket AS b, m.device_id, m.sensor_id, " AVG_SQL("m.sum", "m.count") ", m.min, m.max,"
		    " m.last, m.count FROM %s m WHERE true", src);
		tsk_filter_id_conds(s, &ip, "m.");
		if (has_wl)
			tsk_sql_printf(s, " AND m.bucket >= $%d", pWL);
		if (has_wh)
			tsk_sql_printf(s, " AND m.bucket < $%d", pWH);
		goto order;
	}
	if (kind == BQ_CLEAN) {
		tsk_sql_printf(s, "WITH parts AS (");
		goto rollup;
	}
	if (kind == BQ_DIRTY)
		tsk_sql_printf(s, "SELECT EXISTS (SELECT 1");
	else
		tsk_sql_printf(s, "WITH dirty AS MATERIALIZED (SELECT DISTINCT device_id, sensor_id, date_bin($%d::interval, ts, "
		    ORIGIN_SQL ") AS b", pB);
	tsk_sql_printf(s, " FROM reading WHERE ingested_at > ");
	if (watermark != NULL)
		tsk_sql_printf(s, "$%d::timestamptz", tsk_sql_param(s, watermark));
	else
		tsk_sql_printf(s, WATERMARK_GUC_SQL);
	tsk_filter_id_conds(s, &ip, "");
	if (has_wl)
		tsk_sql_printf(s, " AND ts >= $%d", pWL);
	if (has_wh)
		tsk_sql_printf(s, " AND ts < $%d", pWH);
	if (kind == BQ_DIRTY) {
		tsk_sql_printf(s, ")");
		return tsk_sql_failed(s) ? -1 : 0;
	}
	tsk_sql_printf(s, "), parts AS (");
rollup:

	/* whole, clean buckets from the rollup */
	tsk_sql_printf(s, "SELECT date_bin($%d::interval, m.bucket, " ORIGIN_SQL ") AS b, m.device_id, m.sensor_id, m.sum,"
	    " m.count, m.min, m.max, m.last, m.last_ts FROM %s m WHERE true", pB, src);
	tsk_filter_id_conds(s, &ip, "m.");
	if (has_wl)
		tsk_sql_printf(s, " AND m.bucket >= $%d", pWL);
	if (has_wh)
		tsk_sql_printf(s, " AND m.bucket < $%d", pWH);
	if (kind == BQ_FULL) {
		tsk_sql_printf(s, " AND NOT EXISTS (SELECT 1 FROM dirty d WHERE d.device_id = m.device_id AND d.sensor_id ="
		    " m.sensor_id AND d.b = date_bin($%d::interval, m.bucket, " ORIGIN_SQL "))", pB);

		/* whole, dirty buckets from the raw rows (dirty only holds whole buckets) */
		tsk_sql_printf(s, " UNION ALL SELECT d.b, r.device_id, r.sensor_id, r.value::text::numeric, 1::bigint, r.value,"
		    " r.value, r.value, r.ts FROM dirty d JOIN reading r ON r.device_id = d.device_id AND r.sensor_id ="
		    " d.sensor_id AND r.ts >= d.b AND r.ts < d.b + $%d::interval", pB);
		/* the same bounds as constants, so the planner prunes partitions instead of planning them all */
		if (has_wl)
			tsk_sql_printf(s, " AND r.ts >= $%d", pWL);
		if (has_wh)
			tsk_sql_printf(s, " AND r.ts < $%d", pWH);
	}

	/* partial buckets at the edges, from the raw rows */
	if (pF != 0) {
		tsk_sql_printf(s, " UNION ALL SELECT date_bin($%d::interval, r.ts, " ORIGIN_SQL "), r.device_id, r.sensor_id,"
		    " r.value::text::numeric, 1::bigint, r.value, r.value, r.value, r.ts FROM reading r"
		    " WHERE r.ts >= $%d AND r.ts < $%d", pB, pF, pWL);
		tsk_filter_id_conds(s, &ip, "r.");
	}
	if (pT != 0) {
		tsk_sql_printf(s, " UNION ALL SELECT date_bin($%d::interval, r.ts, " ORIGIN_SQL "), r.device_id, r.sensor_id,"
		    " r.value::text::numeric, 1::bigint, r.value, r.value, r.value, r.ts FROM reading r"
		    " WHERE r.ts >= $%d AND r.ts <= $%d", pB, pWH, pT);
		tsk_filter_id_conds(s, &ip, "r.");
	}
	tsk_sql_printf(s, ") SELECT b, device_id, sensor_id, " AVG_SQL("sum(sum)", "sum(count)") ", min(min), max(max),"
	    " (array_agg(last ORDER BY last_ts DESC))[1], sum(count)::bigint FROM parts GROUP BY b, device_id, sensor_id");
order:
	tsk_filter_order_page(s, f, "b");
	return tsk_sql_failed(s) ? -1 : 0;
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

	b.bucket_us = tsk_run_ts(r, i, 0);
	b.device_id = PQgetvalue(r, i, 1);
	b.sensor_id = PQgetvalue(r, i, 2);
	b.avg = tsk_run_f8(r, i, 3);
	b.min = tsk_run_f8(r, i, 4);
	b.max = tsk_run_f8(r, i, 5);
	b.last = tsk_run_f8(r, i, 6);
	b.count = tsk_run_i8(r, i, 7);
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
	tsk_run_row_fn fn;
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
				p->rc = tsk_db_error(p->db, res, p->err, p->errlen);
			if (p->rc == TSK_OK && !p->stop)
				p->rc = TSK_EFAIL;
		} else if (step == 1 && st == PGRES_TUPLES_OK) {
			p->found = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
		} else if (step == 3 && st == PGRES_TUPLES_OK) {
			p->dirty = PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] != 'f';
		} else if (step == 4 && p->rc == TSK_OK && !p->stop && st != PGRES_COMMAND_OK) {
			for (int i = 0; i < PQntuples(res) && !p->stop; i++)
				p->stop = p->fn(p->ctx, res, i);
			if (p->stop)
				tsk_run_cancel(p->db);
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
buckets_pipeline(PGconn *db, const char *tenant, const struct tsk_filter *f, tsk_run_row_fn fn, void *ctx,
    char *err, size_t errlen)
{
	struct pipe p = { db, TSK_OK, 0, -1, 1, fn, ctx, err, errlen };
	const char *tp[] = { tenant };
	struct tsk_sql s, ds;
	int synced = 0;

	tsk_sql_init(&s, 0);
	tsk_sql_init(&ds, 0);
	if (buckets_sql(f, NULL, BQ_DIRTY, &ds) != 0) {
		p.rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}
	if (!PQenterPipelineMode(db)) {
		p.rc = tsk_db_error(db, NULL, err, errlen);
		goto out;
	}
	if (!PQsendQueryParams(db, BEGIN_PIPE_SQL, 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQsendQueryParams(db, ENTER_PIPE_SQL, 1, NULL, tp, NULL, NULL, 0) ||
	    !PQsendQueryParams(db, WATERMARK_PIPE_SQL, 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQsendQueryParams(db, tsk_sql_text(&ds), ds.n, NULL, ds.v, NULL, NULL, 0) || !PQsendFlushRequest(db) ||
	    PQflush(db) != 0) {
		p.rc = tsk_db_error(db, NULL, err, errlen);
		goto end;
	}
	for (int step = 0; step <= 3; step++)
		pipe_read(&p, step);
	if (p.rc != TSK_OK || p.found != 1)
		goto end;
	if (buckets_sql(f, NULL, p.dirty ? BQ_FULL : BQ_CLEAN, &s) != 0) {
		p.rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto end;
	}
	if (!PQsendQueryParams(db, tsk_sql_text(&s), s.n, NULL, s.v, NULL, NULL, 1) ||
	    !PQsendQueryParams(db, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) || !PQpipelineSync(db)) {
		p.rc = tsk_db_error(db, NULL, err, errlen);
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
		p.rc = tsk_db_error(db, NULL, err, errlen);
	if (!PQexitPipelineMode(db) && p.rc == TSK_OK)
		p.rc = tsk_db_error(db, NULL, err, errlen);
	/* After an error, an unknown tenant or a stop, the transaction is still open (aborted or not). */
	if (PQtransactionStatus(db) != PQTRANS_IDLE)
		tsk_db_rollback(db);
out:
	tsk_sql_free(&s);
	tsk_sql_free(&ds);
	if (p.found == 0)
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "unknown tenant \"%s\"", tenant);
	if (p.stop) {
		tsk_seterr(err, errlen, p.stop, "stopped");
		return p.stop;
	}
	return p.rc;
}

int
tsk_series_buckets(PGconn *db, const char *tenant, const struct tsk_filter *f, tsk_series_bucket_fn fn,
    void *ctx, char *err, size_t errlen)
{
	struct tsk_sql s;
	struct bucket_ctx c = { fn, ctx };
	PGresult *res;
	char wm[64];
	int rc, own = 0;

	tsk_sql_init(&s, 0);
	if ((rc = tsk_filter_check(f, err, errlen)) != TSK_OK)
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
	if ((rc = tsk_run_begin(db, tenant, "BEGIN READ ONLY", &own, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_exec(db, "SELECT coalesce((SELECT watermark FROM rollup_state WHERE name = 'reading'),"
	    " '-infinity')", 0, NULL, &res, err, errlen)) != TSK_OK)
		goto cleanup;
	snprintf(wm, sizeof wm, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (buckets_sql(f, wm, BQ_FULL, &s) != 0) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto cleanup;
	}
	rc = tsk_run_rows(db, tsk_sql_text(&s), &s, bucket_row, &c, err, errlen);
cleanup:
	rc = tsk_run_end(db, own, rc, err, errlen);
out:
	tsk_sql_free(&s);
	return rc;
}

/* ---- JSON form ---- */

json_t *
tsk_series_bucket_json(const struct tsk_series_bucket *b)
{
	return json_pack("{s:o, s:s, s:s, s:f, s:f, s:f, s:f, s:I}", "bucket", tsk_run_jtime(b->bucket_us), "device_id",
	    b->device_id, "sensor_id", b->sensor_id, "avg", b->avg, "min", b->min, "max", b->max, "last", b->last,
	    "count", (json_int_t)b->count);
}
