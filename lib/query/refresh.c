/*
 * The incremental refresh of the rollups reading_1m and reading_1h, and its watermark. See series.h for
 * the contract; the comment on CANDIDATE_SQL says why the watermark cannot lose a row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tsk.h"
#include "pg/db.h"
#include "query/run.h"
#include "query/series.h"

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

/*
 * Every 1m bucket touched by rows ingested in (old, new], with the partial aggregate of those rows, and
 * whether the bucket already has a rollup row (`old`). A bucket without one had no row at or below the
 * old watermark (each such row was counted by an earlier refresh, which wrote the bucket's row), so the
 * new rows are all it holds up to the new watermark: its rollup row is their aggregate, inserted as is
 * (REFRESH_1M_NEW_SQL). A bucket with a row is recomputed from all its raw rows, an upsert that replaces
 * the row, never adds to it (REFRESH_1M_SQL). Rows ingested after the new watermark may or may not be in
 * a rollup row: a bucket holding any is dirty to a query (buckets.c) and read raw, and the next refresh
 * recomputes it. Where the time went before (2 M new readings, 2 cores): joining every new bucket back to
 * its raw rows (two sorts of 2 M rows and a merge join) cost as much as the aggregation itself, and the
 * upsert's speculative insertion a fifth more than a plain insert; the 1h step took half (REFRESH_1H_SQL).
 */
#define DIRTY_SQL \
	"CREATE TEMP TABLE tsk_dirty ON COMMIT DROP AS SELECT a.*, m.bucket IS NOT NULL AS old FROM (SELECT device_id," \
	" sensor_id, date_bin('1 minute', ts, " ORIGIN_SQL ") AS bucket, count(*) AS n, sum(value::text::numeric) AS sum," \
	" min(value) AS min, max(value) AS max, (array_agg(value ORDER BY ts DESC))[1] AS last, max(ts) AS last_ts" \
	" FROM reading WHERE ingested_at > $1 AND ingested_at <= $2 GROUP BY 1, 2, 3) a LEFT JOIN reading_1m m" \
	" ON m.device_id = a.device_id AND m.sensor_id = a.sensor_id AND m.bucket = a.bucket"

#define ROLLUP_COLS "(bucket, device_id, sensor_id, sum, count, min, max, last, last_ts)"
#define UPSERT_TAIL \
	" ON CONFLICT (device_id, sensor_id, bucket) DO UPDATE SET sum = EXCLUDED.sum, count = EXCLUDED.count," \
	" min = EXCLUDED.min, max = EXCLUDED.max, last = EXCLUDED.last, last_ts = EXCLUDED.last_ts"

/* Buckets with a rollup row: recomputed from all their raw rows. The redundant date_bin equality lets the
 * planner hash-join a large set; the range lets it walk the unique index for a small one. Grouped in the
 * key's order, so the rows reach the key in its order. */
#define REFRESH_1M_SQL \
	"INSERT INTO reading_1m " ROLLUP_COLS " SELECT d.bucket, d.device_id, d.sensor_id," \
	" sum(r.value::text::numeric), count(*), min(r.value), max(r.value), (array_agg(r.value ORDER BY r.ts DESC))[1]," \
	" max(r.ts) FROM tsk_dirty d JOIN reading r ON r.device_id = d.device_id AND r.sensor_id = d.sensor_id" \
	" AND r.ts >= d.bucket AND r.ts < d.bucket + interval '1 minute'" \
	" AND date_bin('1 minute', r.ts, " ORIGIN_SQL ") = d.bucket WHERE d.old GROUP BY 2, 3, 1" UPSERT_TAIL

/* Buckets without one: the new rows' aggregate. A plain insert: refreshes of a tenant are serialized by
 * the rollup_state row lock, and nothing else writes the rollups. */
#define REFRESH_1M_NEW_SQL \
	"INSERT INTO reading_1m " ROLLUP_COLS " SELECT bucket, device_id, sensor_id, sum, n, min, max, last, last_ts" \
	" FROM tsk_dirty WHERE NOT old ORDER BY device_id, sensor_id, bucket"

/* The first refresh of a tenant reads everything once, without the join; grouped in the key's order,
 * so the rows reach the key in its order. */
#define REFRESH_1M_ALL_SQL \
	"INSERT INTO reading_1m " ROLLUP_COLS " SELECT date_bin('1 minute', ts, " ORIGIN_SQL "), device_id, sensor_id," \
	" sum(value::text::numeric), count(*), min(value), max(value), (array_agg(value ORDER BY ts DESC))[1], max(ts)" \
	" FROM reading GROUP BY 2, 3, 1" UPSERT_TAIL

/* 1h buckets over the touched hours, merged from reading_1m (exact: numeric sums, last by last_ts). Each
 * touched hour reads its own (at most 60) rows through reading_1m's key, a LATERAL range scan: as a join,
 * the planner merge-joined on (device_id, sensor_id) alone and filtered the hour range afterwards, every
 * hour of a sensor against every minute row of it (66 M rows dropped by the join filter for 2 M new
 * readings, half of the refresh's time). The 1m step has just written a row for every touched minute,
 * so an hour here is never empty; the rows go out in the key's order, as the 1m step's. */
#define REFRESH_1H_SQL \
	"INSERT INTO reading_1h " ROLLUP_COLS " SELECT h.bucket, h.device_id, h.sensor_id, a.sum, a.count, a.min," \
	" a.max, a.last, a.last_ts" \
	" FROM (SELECT DISTINCT device_id, sensor_id, date_bin('1 hour', bucket, " ORIGIN_SQL ") AS bucket FROM tsk_dirty) h" \
	" CROSS JOIN LATERAL (SELECT sum(m.sum) AS sum, sum(m.count) AS count, min(m.min) AS min, max(m.max) AS max," \
	" (array_agg(m.last ORDER BY m.last_ts DESC))[1] AS last, max(m.last_ts) AS last_ts FROM reading_1m m" \
	" WHERE m.device_id = h.device_id AND m.sensor_id = h.sensor_id AND m.bucket >= h.bucket" \
	" AND m.bucket < h.bucket + interval '1 hour') a WHERE a.count IS NOT NULL" \
	" ORDER BY h.device_id, h.sensor_id, h.bucket" UPSERT_TAIL

#define REFRESH_1H_ALL_SQL \
	"INSERT INTO reading_1h " ROLLUP_COLS " SELECT date_bin('1 hour', bucket, " ORIGIN_SQL "), device_id, sensor_id," \
	" sum(sum), sum(count), min(min), max(max), (array_agg(last ORDER BY last_ts DESC))[1], max(last_ts)" \
	" FROM reading_1m GROUP BY 2, 3, 1" UPSERT_TAIL

static int
refresh_one(PGconn *db, const char *tenant, struct tsk_series_refresh_result *out, char *err, size_t errlen)
{
	PGresult *res = NULL;
	char cand[64], old[64], wm[64];
	long long n1m = 0, n1m_new = 0, n1h = 0, rows = 0;
	int rc, first, own;

	/* The candidate comes from a transaction of its own, before the refresh's (see CANDIDATE_SQL). */
	if ((rc = tsk_run_begin(db, tenant, "BEGIN READ ONLY", &own, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_exec(db, CANDIDATE_SQL, 0, NULL, &res, err, errlen)) == TSK_OK) {
		snprintf(cand, sizeof cand, "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		res = NULL;
	}
	if ((rc = tsk_run_end(db, own, rc, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_begin(db, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_enter_tenant(db, tenant, NULL, err, errlen)) != TSK_OK)
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
		    (rc = tsk_db_exec_rows(db, REFRESH_1M_NEW_SQL, 0, NULL, &n1m_new, err, errlen)) != TSK_OK ||
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
		out->buckets_1m += n1m + n1m_new;
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
