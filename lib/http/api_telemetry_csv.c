/*
 * CSV answers of the telemetry endpoints (?format=csv), streamed (http.h, tsk_http_reply_stream): the
 * rows come from the same library functions as the JSON answers and as tsk-export (tsk_series_buckets,
 * tsk_series_raw through its cursor), written by the same CSV writer (lib/query/csv.c), and leave
 * through the stream's ring as the client reads. Memory per answer: the ring, the writer's buffer and
 * one batch of the cursor, whatever the number of rows.
 *
 * Why a connection of its own: the stream outlives the handler, and the worker's connection serves the
 * worker's next request meanwhile; a transaction left open on it would be in that request's way (and
 * the worker drops a connection it finds in a transaction). The dedicated connection is opened with the
 * worker connection's own parameters (PQconninfo), so it goes where the daemon's connections go.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#include "core/log.h"
#include "core/tsk.h"
#include "http/api_telemetry.h"
#include "http/http_impl.h"
#include "pg/db.h"
#include "query/csv.h"
#include "query/export.h"
#include "query/run.h"
#include "query/series.h"

#define CSV_BUF (32 * 1024)

struct csv_job {
	enum tsk_api_csv_kind kind;
	PGconn *db;
	PGcancel *cancel;
	char tenant[TSK_SLUG_MAX + 1];
	struct tsk_filter f;
	char **strs;              /* the filter's strings, copied */
	size_t nstrs;
	struct tsk_api_csv_extra x;
	char *topic;
	struct tsk_http_stream *s;
	struct tsk_csv w;
	char err[TSK_ERRLEN];
};

static int
sink(void *ctx, const char *buf, size_t len, char *err, size_t errlen)
{
	struct csv_job *j = ctx;

	if (tsk_http_stream_write(j->s, buf, len) != 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "the client has gone");
	return TSK_OK;
}

static int
on_bucket(void *ctx, const struct tsk_series_bucket *b)
{
	struct csv_job *j = ctx;

	tsk_csv_time(&j->w, b->bucket_us);
	tsk_csv_cstr(&j->w, b->device_id);
	tsk_csv_cstr(&j->w, b->sensor_id);
	tsk_csv_num2(&j->w, b->avg);
	tsk_csv_num2(&j->w, b->min);
	tsk_csv_num2(&j->w, b->max);
	tsk_csv_num2(&j->w, b->last);
	tsk_csv_int(&j->w, b->count);
	return tsk_csv_end_row(&j->w) != TSK_OK ? TSK_EFAIL : 0;
}

static int
on_reading(void *ctx, const struct tsk_series_reading *r)
{
	struct csv_job *j = ctx;

	if ((j->x.has_vmin && !(r->value >= j->x.vmin)) || (j->x.has_vmax && !(r->value <= j->x.vmax)))
		return 0;
	tsk_csv_time(&j->w, r->ts_us);
	tsk_csv_cstr(&j->w, r->device_id);
	tsk_csv_cstr(&j->w, r->sensor_id);
	tsk_csv_num2(&j->w, r->value);
	tsk_csv_cstr(&j->w, r->unit);
	return tsk_csv_end_row(&j->w) != TSK_OK ? TSK_EFAIL : 0;
}

/* The raw message archive's rows (binary: id int8, device_id, topic, payload as text, two times). */
static int
on_message(void *ctx, const PGresult *r, int i)
{
	struct csv_job *j = ctx;

	tsk_csv_int(&j->w, tsk_run_i8(r, i, 0));
	tsk_csv_cstr(&j->w, tsk_run_text(r, i, 1));
	tsk_csv_str(&j->w, PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2));
	tsk_csv_str(&j->w, PQgetvalue(r, i, 3), (size_t)PQgetlength(r, i, 3));
	tsk_csv_time(&j->w, tsk_run_ts(r, i, 4));
	tsk_csv_time(&j->w, tsk_run_ts(r, i, 5));
	return tsk_csv_end_row(&j->w) != TSK_OK ? TSK_EFAIL : 0;
}

static const char *const telemetry_cols[] = { "id", "device_id", "topic", "payload", "timestamp", "created_at",
	NULL };

static int
telemetry_rows(struct csv_job *j)
{
	struct tsk_sql s;
	int rc;

	tsk_sql_init(&s, 0);
	tsk_sql_printf(&s, "SELECT id, device_id, topic, payload::text, \"timestamp\", created_at FROM telemetry WHERE true");
	if (j->f.ndevices > 0)
		tsk_sql_printf(&s, " AND device_id = $%d", tsk_sql_param(&s, j->f.devices[0]));
	if (j->topic != NULL)
		tsk_sql_printf(&s, " AND strpos(lower(topic), lower($%d)) > 0", tsk_sql_param(&s, j->topic));
	if (j->f.has_from)
		tsk_sql_printf(&s, " AND \"timestamp\" >= $%d", tsk_sql_param_time(&s, j->f.from_us));
	if (j->f.has_to)
		tsk_sql_printf(&s, " AND \"timestamp\" <= $%d", tsk_sql_param_time(&s, j->f.to_us));
	tsk_sql_printf(&s, " ORDER BY \"timestamp\" DESC, id DESC");
	if (tsk_sql_failed(&s))
		rc = tsk_seterr(j->err, sizeof j->err, TSK_EFAIL, "out of memory");
	else
		rc = tsk_run_cursor(j->db, tsk_sql_text(&s), &s, on_message, j, j->err, sizeof j->err);
	tsk_sql_free(&s);
	return rc;
}

static int
run(void *arg, struct tsk_http_stream *s)
{
	struct csv_job *j = arg;
	const char *const *cols;
	int rc;

	j->s = s;
	cols = j->kind == TSK_API_CSV_BUCKETS ? tsk_export_columns(TSK_EXPORT_BUCKETS) :
	    j->kind == TSK_API_CSV_READINGS ? tsk_export_columns(TSK_EXPORT_RAW) : telemetry_cols;
	if (tsk_csv_header(&j->w, cols) != TSK_OK)
		return j->w.status;
	if (j->kind == TSK_API_CSV_BUCKETS)
		rc = tsk_series_buckets(j->db, j->tenant, &j->f, on_bucket, j, j->err, sizeof j->err);
	else if (j->kind == TSK_API_CSV_READINGS)
		rc = tsk_series_raw(j->db, j->tenant, &j->f, on_reading, j, j->err, sizeof j->err);
	else
		rc = telemetry_rows(j);
	if (rc == TSK_OK && tsk_csv_flush(&j->w) != TSK_OK)
		rc = j->w.status;
	if (rc == TSK_OK)
		rc = tsk_db_commit(j->db, j->err, sizeof j->err);
	if (rc != TSK_OK && j->w.status == TSK_OK)
		tsk_warn("CSV answer cut short: %s", j->err); /* not when the client went away */
	return rc;
}

static void
cancel(void *arg)
{
	struct csv_job *j = arg;
	char buf[256];

	if (j->cancel != NULL)
		PQcancel(j->cancel, buf, sizeof buf);
}

static void
job_free(void *arg)
{
	struct csv_job *j = arg;

	if (j == NULL)
		return;
	if (j->cancel != NULL)
		PQfreeCancel(j->cancel);
	if (j->db != NULL)
		PQfinish(j->db); /* an open transaction ends with the session */
	tsk_csv_free(&j->w);
	tsk_filter_free(&j->f);
	for (size_t i = 0; i < j->nstrs; i++)
		free(j->strs[i]);
	free(j->strs);
	free(j->topic);
	free(j);
}

/* Copies the filter's id strings into the job, so they outlive the request's arguments. */
static int
copy_ids(struct csv_job *j, const char **ids, size_t n, const char ***out)
{
	const char **a;

	*out = NULL;
	if (n == 0)
		return 0;
	if ((a = calloc(n, sizeof *a)) == NULL)
		return -1;
	*out = a;
	for (size_t i = 0; i < n; i++) {
		char *s = strdup(ids[i]), **m = realloc(j->strs, (j->nstrs + 1) * sizeof *m);
		if (s == NULL || m == NULL) {
			free(s);
			if (m != NULL)
				j->strs = m;
			return -1;
		}
		j->strs = m;
		j->strs[j->nstrs++] = s;
		a[i] = s;
	}
	return 0;
}

/* A connection of its own, with the worker connection's parameters. NULL with err set. */
static PGconn *
dedicated(PGconn *like, char *err, size_t errlen)
{
	PQconninfoOption *o = PQconninfo(like);
	const char *k[64], *v[64];
	size_t n = 0;
	PGconn *db;

	if (o == NULL) {
		tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		return NULL;
	}
	for (PQconninfoOption *p = o; p->keyword != NULL && n + 1 < 64; p++)
		if (p->val != NULL && p->val[0] != '\0') {
			k[n] = p->keyword;
			v[n++] = p->val;
		}
	k[n] = v[n] = NULL;
	db = PQconnectdbParams(k, v, 0);
	PQconninfoFree(o);
	if (db == NULL || PQstatus(db) != CONNECTION_OK) {
		tsk_seterr(err, errlen, TSK_ETEMP, "%s", db != NULL ? PQerrorMessage(db) : "out of memory");
		PQfinish(db);
		return NULL;
	}
	return db;
}

void
tsk_api_telemetry_csv(struct tsk_api_ctx *c, enum tsk_api_csv_kind kind, const struct tsk_filter *f,
    const struct tsk_api_csv_extra *x, const char *filename)
{
	static const struct tsk_http_producer producer = { run, cancel, job_free };
	struct csv_job *j = calloc(1, sizeof *j);
	char err[TSK_ERRLEN], disp[128];
	int rc;

	if (j == NULL) {
		tsk_api_detail(c, 500, "out of memory");
		return;
	}
	j->kind = kind;
	snprintf(j->tenant, sizeof j->tenant, "%s", c->who.tenant);
	j->f = *f;
	j->f.devices = j->f.sensors = j->f.sites = j->f.assets = NULL;
	if (x != NULL)
		j->x = *x;
	j->x.topic = NULL;
	if (copy_ids(j, f->devices, f->ndevices, &j->f.devices) != 0 ||
	    copy_ids(j, f->sensors, f->nsensors, &j->f.sensors) != 0 ||
	    copy_ids(j, f->sites, f->nsites, &j->f.sites) != 0 || copy_ids(j, f->assets, f->nassets, &j->f.assets) != 0 ||
	    (x != NULL && x->topic != NULL && (j->topic = strdup(x->topic)) == NULL) ||
	    tsk_csv_init(&j->w, CSV_BUF, sink, j) != TSK_OK) {
		job_free(j);
		tsk_api_detail(c, 500, "out of memory");
		return;
	}
	j->w.excel_safe = 1;
	if ((j->db = dedicated(c->db, err, sizeof err)) == NULL) {
		job_free(j);
		tsk_api_db_error(c, "CSV connection", err);
		return;
	}
	/* One snapshot for the whole answer; the tenant's schema for this transaction only. */
	if ((rc = tsk_db_cmd(j->db, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", err, sizeof err)) != TSK_OK ||
	    (rc = tsk_db_enter_tenant(j->db, j->tenant, NULL, err, sizeof err)) != TSK_OK ||
	    (j->cancel = PQgetCancel(j->db)) == NULL) {
		job_free(j);
		tsk_api_db_error(c, "CSV transaction", err);
		return;
	}
	if (tsk_http_reply_stream(c->out, 200, "text/csv; charset=utf-8", &producer, j, err, sizeof err) != TSK_OK) {
		job_free(j);
		tsk_api_db_error(c, "CSV stream", err);
		return;
	}
	snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", filename);
	tsk_http_reply_header(c->out, "Content-Disposition", disp);
}
