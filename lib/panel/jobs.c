/*
 * Export jobs (the original's async export): a row in public.export_job, run by the panel's
 * worker thread into the S3 store (CSV timestamp,sensor_id,value,unit, oldest first), a presigned GET
 * link valid 24 hours, cancel, and the list (the user's own jobs; a superuser sees all).
 *
 * Any daemon's worker may run any job: a pending row is claimed with FOR UPDATE SKIP LOCKED, so two
 * daemons on one database never run the same job. A request wakes the worker; it also looks every
 * couple of seconds for jobs other daemons queued.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "core/log.h"
#include "core/time.h"
#include "panel/panel_impl.h"
#include "pg/db.h"
#include "query/csv.h"
#include "query/export.h"
#include "query/series.h"

#define LINK_TTL (24 * 3600)

/* ---- the worker ---------------------------------------------------------------------------------- */

struct run {
	struct tsk_panel *p;
	struct tsk_csv *w;
};

static int
job_row(void *ctx, const struct tsk_series_reading *r)
{
	struct run *run = ctx;

	if (run->p->cancel)
		return 1;
	tsk_csv_time(run->w, r->ts_us);
	tsk_csv_cstr(run->w, r->sensor_id);
	tsk_csv_num2(run->w, r->value);
	tsk_csv_cstr(run->w, r->unit);
	return tsk_csv_end_row(run->w) != TSK_OK ? 2 : 0;
}

/* Runs job id: TSK_OK with the object's URL, rows and bytes, or a status with err. */
static int
run_job(struct tsk_panel *p, PGconn *db, const char *id, const char *slug, const char *sensor, const char *from,
    const char *to, char *key, size_t keylen, long long *rows, long long *bytes, char *err, size_t errlen)
{
	static const char *const cols[] = { "timestamp", "sensor_id", "value", "unit", NULL };
	struct tsk_export_dest d;
	struct tsk_filter f;
	struct tsk_csv w;
	struct run run = { p, &w };
	char url[1200], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int64_t us;
	int rc;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", &tm);
	snprintf(key, keylen, "export_%s_%s_%s.csv", id, slug, stamp);
	snprintf(url, sizeof url, "s3://%s/%s", p->bucket, key);
	tsk_filter_init(&f);
	if (sensor != NULL && *sensor)
		tsk_filter_set(&f, "sensor", sensor, 0, NULL, 0);
	if (from != NULL && tsk_time_parse_rfc3339(from, &us) == TSK_OK)
		f.has_from = 1, f.from_us = us;
	if (to != NULL && tsk_time_parse_rfc3339(to, &us) == TSK_OK)
		f.has_to = 1, f.to_us = us;
	f.limit = -1;
	f.order = TSK_ORDER_ASC;
	f.no_labels = 1;
	memset(&d, 0, sizeof d);
	if ((rc = tsk_export_dest_s3(&d, &p->s3, url, err, errlen)) != TSK_OK) {
		tsk_filter_free(&f);
		return rc;
	}
	if (tsk_csv_init(&w, 0, tsk_export_dest_write, &d) != TSK_OK) {
		tsk_filter_free(&f);
		tsk_export_dest_free(&d);
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	}
	w.excel_safe = 1;
	tsk_csv_header(&w, cols);
	rc = tsk_series_raw(db, slug, &f, job_row, &run, err, errlen);
	if (rc == 1 || (rc != TSK_OK && p->cancel)) {
		pthread_mutex_lock(&p->mu);
		int stopping = p->stop;
		pthread_mutex_unlock(&p->mu);
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "%s", stopping ? "interrupted: tsk-httpd stopped" : "Cancelado pelo usuário");
	}
	else if (rc == 2)
		rc = tsk_seterr(err, errlen, w.status, "%s", w.err);
	if (rc == TSK_OK && (rc = tsk_csv_flush(&w)) != TSK_OK)
		snprintf(err, errlen, "%s", w.err);
	if (rc == TSK_OK)
		rc = tsk_export_dest_commit(&d, err, errlen);
	if (rc != TSK_OK) {
		char e2[TSK_ERRLEN];
		tsk_export_dest_abort(&d, e2, sizeof e2);
	}
	*rows = (long long)w.rows - 1;
	*bytes = (long long)w.bytes;
	tsk_csv_free(&w);
	tsk_export_dest_free(&d);
	tsk_filter_free(&f);
	return rc;
}

/* Claims one pending job and runs it. 1 when there was one, 0 when none, -1 on a database failure. */
static int
one_job(struct tsk_panel *p, PGconn *db)
{
	char err[TSK_ERRLEN], key[600], rows_s[24], bytes_s[24];
	long long rows = 0, bytes = 0;
	char *link = NULL;
	PGresult *res;
	int rc;

	if (tsk_db_exec(db, "UPDATE public.export_job j SET status = 'processing', started_at = now() FROM public.tenant t "
	    "WHERE j.id = (SELECT id FROM public.export_job WHERE status = 'pending' ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1) "
	    "AND t.id = j.tenant_id RETURNING j.id::text, t.slug, j.params->>'sensor_id', j.params->>'from', j.params->>'to'",
	    0, NULL, &res, err, sizeof err) != TSK_OK) {
		tsk_warn("export jobs: %s", err);
		return -1;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	char *id = strdup(PQgetvalue(res, 0, 0)), *slug = strdup(PQgetvalue(res, 0, 1));
	char *sensor = PQgetisnull(res, 0, 2) ? NULL : strdup(PQgetvalue(res, 0, 2));
	char *from = PQgetisnull(res, 0, 3) ? NULL : strdup(PQgetvalue(res, 0, 3));
	char *to = PQgetisnull(res, 0, 4) ? NULL : strdup(PQgetvalue(res, 0, 4));
	PQclear(res);
	if (id == NULL || slug == NULL) {
		rc = tsk_seterr(err, sizeof err, TSK_EFAIL, "out of memory");
	} else {
		atomic_store(&p->current_job, strtoll(id, NULL, 10));
		p->cancel = 0;
		rc = run_job(p, db, id, slug, sensor, from, to, key, sizeof key, &rows, &bytes, err, sizeof err);
		atomic_store(&p->current_job, 0);
		if (rc == TSK_OK)
			rc = tsk_s3_presign_get(&p->s3, p->bucket, key, (int64_t)time(NULL), LINK_TTL, &link, err, sizeof err);
	}
	if (id != NULL && rc == TSK_OK) {
		char loc[700];
		snprintf(loc, sizeof loc, "s3://%s/%s", p->bucket, key);
		snprintf(rows_s, sizeof rows_s, "%lld", rows);
		snprintf(bytes_s, sizeof bytes_s, "%lld", bytes);
		const char *v[5] = { id, rows_s, bytes_s, loc, link };
		if (tsk_db_exec(db, "UPDATE public.export_job SET status = 'completed', rows = $2::bigint, "
		    "file_size_bytes = $3::bigint, location = $4, file_url = $5, finished_at = now(), "
		    "expires_at = now() + interval '24 hours' WHERE id = $1::bigint AND status = 'processing'", 5, v, NULL, err,
		    sizeof err) != TSK_OK)
			tsk_warn("export job %s: %s", id, err);
		else
			tsk_info("export job %s: %lld rows to %s", id, rows, loc);
	} else if (id != NULL) {
		const char *v[2] = { id, err };
		char e2[TSK_ERRLEN];
		tsk_warn("export job %s failed: %s", id, err);
		if (tsk_db_exec(db, "UPDATE public.export_job SET status = 'failed', error = $2, finished_at = now() "
		    "WHERE id = $1::bigint AND status = 'processing'", 2, v, NULL, e2, sizeof e2) != TSK_OK)
			tsk_warn("export job %s: %s", id, e2);
	}
	free(link);
	free(id);
	free(slug);
	free(sensor);
	free(from);
	free(to);
	return 1;
}

static void *
worker(void *arg)
{
	struct tsk_panel *p = arg;
	PGconn *db = NULL;
	char err[TSK_ERRLEN];
	int warned = 0;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		pthread_mutex_unlock(&p->mu);
		if (db != NULL && PQstatus(db) != CONNECTION_OK) {
			PQfinish(db);
			db = NULL;
		}
		if (db == NULL && tsk_db_connect(p->dsn, &db, err, sizeof err) != TSK_OK) {
			if (!warned++)
				tsk_warn("export jobs: %s", err);
			db = NULL;
		}
		int r = 0;
		if (db != NULL) {
			warned = 0;
			while ((r = one_job(p, db)) == 1) {
				pthread_mutex_lock(&p->mu);
				int stop = p->stop;
				pthread_mutex_unlock(&p->mu);
				if (stop)
					break;
			}
		}
		pthread_mutex_lock(&p->mu);
		if (!p->stop && !p->kick) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 2;
			pthread_cond_timedwait(&p->cv, &p->mu, &ts);
		}
		p->kick = 0;
	}
	pthread_mutex_unlock(&p->mu);
	if (db != NULL)
		PQfinish(db);
	return NULL;
}

int
jobs_start(struct tsk_panel *p, char *err, size_t errlen)
{
	if (!p->has_s3)
		return TSK_OK;
	if (pthread_create(&p->worker, NULL, worker, p) != 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "cannot start the export worker");
	p->worker_started = 1;
	return TSK_OK;
}

void
jobs_stop(struct tsk_panel *p)
{
	if (!p->worker_started)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	p->cancel = 1;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->worker, NULL);
	p->worker_started = 0;
}

/* ---- pages --------------------------------------------------------------------------------------- */

static void
td(struct tsk_buf *b, PGresult *res, int i, int col)
{
	tsk_buf_puts(b, "<td>");
	if (!PQgetisnull(res, i, col))
		html_esc(b, PQgetvalue(res, i, col));
	tsk_buf_puts(b, "</td>");
}

void
view_exports(struct ctx *c)
{
	struct tsk_buf b = TSK_BUF_INIT;
	char uid[24], err[TSK_ERRLEN];
	const char *v[2], *msg = form_get(&c->form, "msg");
	PGresult *res;

	snprintf(uid, sizeof uid, "%lld", (long long)c->user.user_id);
	v[0] = uid;
	v[1] = c->is_superuser ? "t" : "f";
	if (tsk_db_exec(c->db, "SELECT j.id, t.slug, j.params->>'sensor_id', j.params->>'from', j.params->>'to', j.status, "
	    "j.rows, round(j.file_size_bytes / 1048576.0, 2), to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), "
	    "to_char(j.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), j.error, j.requested_by, "
	    "j.status = 'completed' AND j.expires_at > now() AND j.file_url IS NOT NULL "
	    "FROM public.export_job j JOIN public.tenant t ON t.id = j.tenant_id "
	    "WHERE j.user_id = $1::bigint OR $2::boolean ORDER BY j.created_at DESC, j.id DESC LIMIT 50", 2, v, &res, err,
	    sizeof err) != TSK_OK) {
		tsk_warn("ops exports: %s", err);
		reply_text(c, 503, "database unavailable\n");
		return;
	}
	page_begin(c, &b, "Export jobs");
	if (msg != NULL && *msg) {
		tsk_buf_puts(&b, "<p class=\"ok\" id=\"msg\">");
		html_esc(&b, msg);
		tsk_buf_puts(&b, "</p>");
	}
	if (!c->p->has_s3)
		tsk_buf_puts(&b, "<p class=\"error\">No S3 store is configured (s3_endpoint, s3 keys): jobs wait.</p>");
	tsk_buf_puts(&b, "<form method=\"post\" action=\"/ops/exports/request/\" class=\"card\" id=\"job-form\">");
	csrf_field(c, &b);
	tsk_buf_puts(&b, "<label>Tenant <select name=\"tenant_slug\" id=\"job-tenant\" required>");
	tenant_options(c, &b, NULL);
	tsk_buf_puts(&b, "</select></label><label>Sensor (empty: all) <input name=\"sensor_id\" id=\"job-sensor\"></label>"
	    "<label>From (ISO-8601) <input name=\"from_timestamp\" id=\"job-from\"></label>"
	    "<label>To (ISO-8601) <input name=\"to_timestamp\" id=\"job-to\"></label>"
	    "<button type=\"submit\" id=\"job-submit\">Request export</button></form>"
	    "<div class=\"table\"><table id=\"jobs\"><thead><tr><th>#</th><th>Tenant</th><th>Sensor</th><th>From</th><th>To</th>"
	    "<th>Status</th><th>Rows</th><th>MB</th><th>Created (UTC)</th><th>Expires (UTC)</th><th>By</th><th></th></tr></thead><tbody>\n");
	for (int i = 0; i < PQntuples(res); i++) {
		const char *id = PQgetvalue(res, i, 0), *status = PQgetvalue(res, i, 5);
		tsk_buf_printf(&b, "<tr id=\"job-%s\" data-status=\"%s\"><td>%s</td>", id, status, id);
		td(&b, res, i, 1);
		td(&b, res, i, 2);
		td(&b, res, i, 3);
		td(&b, res, i, 4);
		tsk_buf_puts(&b, "<td class=\"status\">");
		html_esc(&b, status);
		if (!PQgetisnull(res, i, 10)) {
			tsk_buf_puts(&b, ": ");
			html_esc(&b, PQgetvalue(res, i, 10));
		}
		tsk_buf_puts(&b, "</td>");
		td(&b, res, i, 6);
		td(&b, res, i, 7);
		td(&b, res, i, 8);
		td(&b, res, i, 9);
		td(&b, res, i, 11);
		tsk_buf_puts(&b, "<td>");
		if (strcmp(PQgetvalue(res, i, 12), "t") == 0)
			tsk_buf_printf(&b, "<a class=\"download\" href=\"/ops/exports/%s/download/\">Download</a>", id);
		if (strcmp(status, "pending") == 0 || strcmp(status, "processing") == 0) {
			tsk_buf_printf(&b, "<form class=\"inline\" method=\"post\" action=\"/ops/exports/%s/cancel/\">", id);
			csrf_field(c, &b);
			tsk_buf_puts(&b, "<button type=\"submit\" class=\"cancel\">Cancel</button></form>");
		}
		tsk_buf_puts(&b, "</td></tr>\n");
	}
	PQclear(res);
	tsk_buf_puts(&b, "</tbody></table></div>");
	page_end(&b);
	reply_html(c, 200, &b);
}

void
view_export_request(struct ctx *c)
{
	struct filter_form ff;
	char uid[24], err[TSK_ERRLEN], loc[80];
	json_t *params;
	char *pj;
	PGresult *res;

	if (filter_form_parse(c, &ff, 1, 1000) != 0)
		return;
	params = json_pack("{s:s?, s:s?, s:s?}", "sensor_id", ff.sensor[0] ? ff.sensor : NULL, "from",
	    ff.from_s[0] ? ff.from_s : NULL, "to", ff.to_s[0] ? ff.to_s : NULL);
	pj = json_dumps(params, JSON_COMPACT);
	snprintf(uid, sizeof uid, "%lld", (long long)c->user.user_id);
	const char *v[4] = { ff.tenant, uid, c->user.email, pj != NULL ? pj : "{}" };
	int rc = tsk_db_exec(c->db, "INSERT INTO public.export_job (tenant_id, user_id, requested_by, kind, params) "
	    "SELECT id, $2::bigint, $3, 'raw', $4::jsonb FROM public.tenant WHERE slug = $1 RETURNING id::text", 4, v, &res,
	    err, sizeof err);
	free(pj);
	if (rc != TSK_OK || PQntuples(res) != 1) {
		if (rc == TSK_OK)
			PQclear(res);
		json_decref(params);
		tsk_warn("ops export request: %s", err);
		reply_text(c, 503, "database unavailable\n");
		return;
	}
	snprintf(loc, sizeof loc, "/ops/exports/?msg=Export+%s+requested", PQgetvalue(res, 0, 0));
	json_object_set_new(params, "job_id", json_integer(strtoll(PQgetvalue(res, 0, 0), NULL, 10)));
	PQclear(res);
	pthread_mutex_lock(&c->p->mu);
	c->p->kick = 1;
	pthread_cond_signal(&c->p->cv);
	pthread_mutex_unlock(&c->p->mu);
	reply_redirect(c, loc);
	audit(c, "export_async", ff.tenant, params, -1);
}

/* The job's tenant and file_url when the user may see it (owner or superuser). 1 found, 0 not, -1 error. */
static int
job_of(struct ctx *c, long long id, PGresult **res)
{
	char ids[24], uid[24], err[TSK_ERRLEN];
	const char *v[3];

	snprintf(ids, sizeof ids, "%lld", id);
	snprintf(uid, sizeof uid, "%lld", (long long)c->user.user_id);
	v[0] = ids;
	v[1] = uid;
	v[2] = c->is_superuser ? "t" : "f";
	if (tsk_db_exec(c->db, "SELECT t.slug, j.status, j.file_url, j.status = 'completed' AND j.expires_at > now() "
	    "AND j.file_url IS NOT NULL FROM public.export_job j JOIN public.tenant t ON t.id = j.tenant_id "
	    "WHERE j.id = $1::bigint AND (j.user_id = $2::bigint OR $3::boolean)", 3, v, res, err, sizeof err) != TSK_OK) {
		tsk_warn("ops export job: %s", err);
		return -1;
	}
	if (PQntuples(*res) == 0) {
		PQclear(*res);
		return 0;
	}
	return 1;
}

void
view_export_download(struct ctx *c, long long id)
{
	PGresult *res;
	int r = job_of(c, id, &res);

	if (r < 0) {
		reply_text(c, 503, "database unavailable\n");
		return;
	}
	if (r == 0) {
		reply_redirect(c, "/ops/exports/?msg=Export+not+found");
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 3), "t") != 0) {
		PQclear(res);
		reply_redirect(c, "/ops/exports/?msg=Export+not+available+for+download");
		return;
	}
	reply_redirect(c, PQgetvalue(res, 0, 2));
	audit(c, "export_download", PQgetvalue(res, 0, 0), json_pack("{s:I}", "job_id", (json_int_t)id), -1);
	PQclear(res);
}

void
view_export_cancel(struct ctx *c, long long id)
{
	char ids[24], err[TSK_ERRLEN];
	const char *v[1];
	long long n = 0;
	PGresult *res;
	int r = job_of(c, id, &res);

	if (r < 0) {
		reply_text(c, 503, "database unavailable\n");
		return;
	}
	if (r == 0) {
		reply_redirect(c, "/ops/exports/?msg=Export+not+found");
		return;
	}
	snprintf(ids, sizeof ids, "%lld", id);
	v[0] = ids;
	if (tsk_db_exec_rows(c->db, "UPDATE public.export_job SET status = 'failed', error = 'Cancelado pelo usuário', "
	    "finished_at = now() WHERE id = $1::bigint AND status IN ('pending', 'processing')", 1, v, &n, err,
	    sizeof err) != TSK_OK) {
		PQclear(res);
		reply_text(c, 503, "database unavailable\n");
		return;
	}
	if (n > 0 && atomic_load(&c->p->current_job) == id)
		c->p->cancel = 1;
	audit(c, "export_cancel", PQgetvalue(res, 0, 0), json_pack("{s:I}", "job_id", (json_int_t)id), n);
	PQclear(res);
	reply_redirect(c, n > 0 ? "/ops/exports/?msg=Export+cancelled" : "/ops/exports/?msg=Only+pending+or+processing+exports+can+be+cancelled");
}
