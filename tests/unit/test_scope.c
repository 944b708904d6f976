/*
 * Tenant scoping on a pooled connection: two tenants served alternately over ONE PGconn, as a pool
 * (or pgbouncer in transaction mode) reuses it. Every series query and the export must see only its own
 * tenant's rows, and after each call nothing tenant-specific may be left on the connection: search_path
 * is the server's default again and an unqualified `reading` does not resolve.
 * Needs $TSK_TEST_DSN (tests/run); makes and drops a database of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "dbtest.h"
#include "core/buf.h"
#include "core/time.h"
#include "core/tsk.h"
#include "pg/db.h"
#include "pg/migrate.h"
#include "query/export.h"
#include "query/series.h"
#include "registry/tenant.h"

static char default_path[256];

/* Nothing of a tenant survives the call: the default search_path, no transaction, no `reading`. */
static void
clean(PGconn *db, const char *after)
{
	char err[TSK_ERRLEN];
	PGresult *res = NULL;

	is_int(PQtransactionStatus(db), PQTRANS_IDLE, "%s: no transaction left open", after);
	if (tsk_db_exec(db, "SHOW search_path", 0, NULL, &res, err, sizeof err) == TSK_OK) {
		is_str(PQgetvalue(res, 0, 0), default_path, "%s: search_path is the server's default", after);
		PQclear(res);
	} else {
		ok(0, "%s: SHOW search_path: %s", after, err);
	}
	ok(tsk_db_exec(db, "SELECT count(*) FROM reading", 0, NULL, NULL, err, sizeof err) != TSK_OK,
	    "%s: an unqualified reading does not resolve", after);
}

/* Every row of a tenant has its device named after the tenant. */
struct seen {
	const char *dev;
	int rows, foreign;
};

static int
on_bucket(void *ctx, const struct tsk_series_bucket *b)
{
	struct seen *s = ctx;
	s->rows++;
	s->foreign += strcmp(b->device_id, s->dev) != 0;
	return 0;
}

static int
on_reading(void *ctx, const struct tsk_series_reading *r)
{
	struct seen *s = ctx;
	s->rows++;
	s->foreign += strcmp(r->device_id, s->dev) != 0;
	return 0;
}

static int
to_buf(void *ctx, const char *buf, size_t len, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return tsk_buf_add(ctx, buf, len) == 0 ? TSK_OK : TSK_EFAIL;
}

static int
seed(PGconn *db, const char *slug, const char *dev, int nrows, char *err, size_t errlen)
{
	char schema[TSK_SCHEMA_LEN], sql[1024], n[16];
	int rc;

	if ((rc = tsk_tenant_create(db, slug, slug, NULL, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_begin(db, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_enter_tenant(db, slug, schema, err, errlen)) != TSK_OK)
		goto out;
	snprintf(n, sizeof n, "%d", nrows);
	const char *p[] = { dev, n };
	snprintf(sql, sizeof sql,
	    "INSERT INTO reading (device_id, sensor_id, ts, value, unit) SELECT $1, 'temp', TIMESTAMPTZ"
	    " '2025-10-17 09:00:00+00' + i * interval '1 minute', i, 'C' FROM generate_series(1, $2::int) i");
	if ((rc = tsk_db_exec(db, sql, 2, p, NULL, err, errlen)) != TSK_OK ||
	    (rc = tsk_db_exec(db, "INSERT INTO device (device_id) VALUES ($1)", 1, p, NULL, err, errlen)) != TSK_OK ||
	    (rc = tsk_db_exec(db, "INSERT INTO sensor (device_id, sensor_id, unit, last_ts, last_value) VALUES"
	        " ($1, 'temp', 'C', now(), 1)", 1, p, NULL, err, errlen)) != TSK_OK)
		goto out;
	return tsk_db_commit(db, err, errlen);
out:
	tsk_db_rollback(db);
	return rc;
}

int
main(void)
{
	struct dbtest t;
	const char *slugs[2] = { "scope-a", "scope-b" }, *devs[2] = { "dev-a", "dev-b" };
	const int nrows[2] = { 30, 50 };
	char err[TSK_ERRLEN] = "", what[128];
	PGconn *db = NULL;
	PGresult *res = NULL;
	int rc;

	switch (dbtest_open(&t, "tsk_scope")) {
	case 0: return 0;
	case -1: return dbtest_close(&t);
	}
	db = t.db;
	if (tsk_db_exec(db, "SHOW search_path", 0, NULL, &res, err, sizeof err) == TSK_OK) {
		snprintf(default_path, sizeof default_path, "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	for (int t = 0; t < 2; t++)
		ok(seed(db, slugs[t], devs[t], nrows[t], err, sizeof err) == TSK_OK, "tenant %s with %d readings: %s",
		    slugs[t], nrows[t], err);
	clean(db, "seeding");

	/* The session-level form is gone: entering a tenant outside a transaction is refused. */
	ok(tsk_db_enter_tenant(db, slugs[0], NULL, err, sizeof err) == TSK_EFAIL, "enter_tenant outside a transaction"
	    " is refused: %s", err);
	ok(tsk_db_set_schema(db, "public", err, sizeof err) == TSK_EFAIL, "set_schema outside a transaction is"
	    " refused: %s", err);
	clean(db, "the refused calls");

	/* Alternate: A, B, A, B on the same connection. */
	for (int round = 0; round < 4; round++) {
		int t = round % 2;
		struct tsk_filter f;
		struct seen s;

		tsk_filter_init(&f);
		ok(tsk_filter_set(&f, "bucket", "15m", 0, err, sizeof err) == TSK_OK, "bucket 15m");

		s = (struct seen){ devs[t], 0, 0 };
		rc = tsk_series_buckets(db, slugs[t], &f, on_bucket, &s, err, sizeof err);
		snprintf(what, sizeof what, "round %d, %s, buckets", round, slugs[t]);
		ok(rc == TSK_OK && s.rows > 0 && s.foreign == 0, "%s: %d rows, all its own (%s)", what, s.rows,
		    rc == TSK_OK ? "ok" : err);
		clean(db, what);

		s = (struct seen){ devs[t], 0, 0 };
		rc = tsk_series_raw(db, slugs[t], &f, on_reading, &s, err, sizeof err);
		snprintf(what, sizeof what, "round %d, %s, raw (cursor)", round, slugs[t]);
		ok(rc == TSK_OK && s.rows == nrows[t] && s.foreign == 0, "%s: %d rows, all its own (%s)", what, s.rows,
		    rc == TSK_OK ? "ok" : err);
		clean(db, what);

		f.limit = 5;
		s = (struct seen){ devs[t], 0, 0 };
		rc = tsk_series_raw(db, slugs[t], &f, on_reading, &s, err, sizeof err);
		snprintf(what, sizeof what, "round %d, %s, raw (limited)", round, slugs[t]);
		ok(rc == TSK_OK && s.rows == 5 && s.foreign == 0, "%s: %d rows, all its own (%s)", what, s.rows,
		    rc == TSK_OK ? "ok" : err);
		clean(db, what);
		f.limit = -1;

		struct tsk_series_stats st;
		rc = tsk_series_stats(db, slugs[t], &f, &st, err, sizeof err);
		snprintf(what, sizeof what, "round %d, %s, stats", round, slugs[t]);
		ok(rc == TSK_OK && st.count == nrows[t], "%s: count %lld", what, st.count);
		clean(db, what);

		json_t *j = NULL;
		rc = tsk_series_latest(db, slugs[t], devs[t], tsk_now_us(), &j, err, sizeof err);
		snprintf(what, sizeof what, "round %d, %s, latest", round, slugs[t]);
		ok(rc == TSK_OK && json_array_size(j) == 1, "%s: one sensor (%s)", what, rc == TSK_OK ? "ok" : err);
		json_decref(j);
		j = NULL;
		clean(db, what);

		rc = tsk_series_latest(db, slugs[t], devs[1 - t], tsk_now_us(), &j, err, sizeof err);
		snprintf(what, sizeof what, "round %d, %s, latest of the other tenant's device", round, slugs[t]);
		ok(rc == TSK_OK && json_array_size(j) == 0, "%s: nothing", what);
		json_decref(j);
		j = NULL;
		clean(db, what);

		rc = tsk_series_sensors(db, slugs[t], NULL, tsk_now_us(), &j, err, sizeof err);
		snprintf(what, sizeof what, "round %d, %s, sensors", round, slugs[t]);
		ok(rc == TSK_OK && json_array_size(j) == 1 &&
		    strcmp(json_string_value(json_object_get(json_array_get(j, 0), "device_id")), devs[t]) == 0,
		    "%s: its own sensor only (%s)", what, rc == TSK_OK ? "ok" : err);
		json_decref(j);
		j = NULL;
		clean(db, what);

		rc = tsk_series_summary(db, slugs[t], devs[1 - t], tsk_now_us(), &j, err, sizeof err);
		snprintf(what, sizeof what, "round %d, %s, summary of the other tenant's device", round, slugs[t]);
		is_int(rc, TSK_ENOTFOUND, "%s: not found", what);
		json_decref(j);
		j = NULL;
		clean(db, what);

		struct tsk_series_refresh_result rr;
		rc = tsk_series_refresh(db, slugs[t], &rr, err, sizeof err);
		snprintf(what, sizeof what, "round %d, %s, refresh", round, slugs[t]);
		ok(rc == TSK_OK && rr.tenants == 1, "%s (%s)", what, rc == TSK_OK ? "ok" : err);
		clean(db, what);

		for (int layout = TSK_EXPORT_BUCKETS; layout <= TSK_EXPORT_RAW; layout++) {
			struct tsk_buf out = TSK_BUF_INIT;
			struct tsk_csv w;
			uint64_t rows = 0;
			tsk_csv_init(&w, 4096, to_buf, &out);
			rc = tsk_export_query(db, slugs[t], layout, &f, &w, NULL, &rows, err, sizeof err);
			if (rc == TSK_OK)
				rc = tsk_csv_flush(&w);
			const char *text = tsk_buf_cstr(&out);
			snprintf(what, sizeof what, "round %d, %s, export %s", round, slugs[t],
			    tsk_export_layout_name(layout));
			ok(rc == TSK_OK && rows > 0 && text != NULL && strstr(text, devs[t]) != NULL &&
			    strstr(text, devs[1 - t]) == NULL, "%s: %llu rows, all its own (%s)", what,
			    (unsigned long long)rows, rc == TSK_OK ? "ok" : err);
			if (layout == TSK_EXPORT_RAW)
				is_int(rows, nrows[t], "%s: every reading", what);
			tsk_csv_free(&w);
			tsk_buf_free(&out);
			clean(db, what);
		}
		tsk_filter_free(&f);
	}

	/* Inside a caller's transaction block: each call enters its tenant for that transaction (the
	 * statement-by-statement bucket path, not the pipeline), and COMMIT leaves nothing behind. */
	struct tsk_filter f;
	struct seen s;
	tsk_filter_init(&f);
	f.bucket_us = 3600 * TSK_US_PER_S;
	ok(tsk_db_begin(db, err, sizeof err) == TSK_OK, "BEGIN by the caller");
	for (int t = 0; t < 2; t++) {
		s = (struct seen){ devs[t], 0, 0 };
		rc = tsk_series_buckets(db, slugs[t], &f, on_bucket, &s, err, sizeof err);
		ok(rc == TSK_OK && s.rows > 0 && s.foreign == 0, "caller's transaction, %s, buckets: %d rows, all its own"
		    " (%s)", slugs[t], s.rows, rc == TSK_OK ? "ok" : err);
		s = (struct seen){ devs[t], 0, 0 };
		rc = tsk_series_raw(db, slugs[t], &f, on_reading, &s, err, sizeof err);
		ok(rc == TSK_OK && s.rows == nrows[t] && s.foreign == 0, "caller's transaction, %s, raw: %d rows, all its"
		    " own (%s)", slugs[t], s.rows, rc == TSK_OK ? "ok" : err);
		is_int(PQtransactionStatus(db), PQTRANS_INTRANS, "the caller's transaction is still open");
	}
	ok(tsk_db_commit(db, err, sizeof err) == TSK_OK, "COMMIT by the caller");
	clean(db, "a caller's transaction");

	/* An unknown tenant leaves nothing behind either. */
	f.bucket_us = 0;
	s = (struct seen){ "x", 0, 0 };
	is_int(tsk_series_raw(db, "scope-none", &f, on_reading, &s, err, sizeof err), TSK_ENOTFOUND, "unknown tenant");
	clean(db, "an unknown tenant");
	f.bucket_us = 3600 * TSK_US_PER_S;
	is_int(tsk_series_buckets(db, "scope-none", &f, on_bucket, &s, err, sizeof err), TSK_ENOTFOUND,
	    "unknown tenant (buckets)");
	clean(db, "an unknown tenant (buckets)");
	tsk_filter_free(&f);

	return dbtest_close(&t);
}
