/*
 * The telemetry pages of the ops panel (the original system): the filter form, the aggregated
 * table, the drill-down, the dashboard, the chart JSON and the synchronous CSV. Every number comes from
 * the series library (query/series.h), so it equals `tsk-query buckets` and `tsk-query raw --stats`.
 */
#include <errno.h>
#include <math.h>
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
#include "query/series.h"

#define EXPORT_MAX 10000
#define CHART_SENSORS_MAX 10

static const char *const buckets_allowed[] = { "1m", "5m", "15m", "1h", "1d", NULL };

/* ---- the filter form ----------------------------------------------------------------------------- */

static void
add_error(struct tsk_buf *e, const char *field, const char *msg)
{
	tsk_buf_printf(e, "%s%s: %s", e->len ? "; " : "", field, msg);
}

/* The original's sanitizer: every character outside [A-Za-z0-9_.-] is removed. */
static void
sanitize_id(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (; in != NULL && *in && o + 1 < outlen; in++) {
		char ch = *in;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		    ch == '-' || ch == '.')
			out[o++] = ch;
	}
	out[o] = '\0';
}

static int
parse_int(const char *s, long long *out)
{
	char *end;

	if (s == NULL || *s == '\0' || strlen(s) > 18)
		return -1;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

static void
time_field(struct tsk_buf *e, const struct form *f, const char *name, char *text, size_t tlen, int *has, int64_t *us)
{
	const char *v = form_get(f, name);

	*has = 0;
	text[0] = '\0';
	if (v == NULL || *v == '\0')
		return;
	if (strlen(v) >= tlen || tsk_time_parse_rfc3339(v, us) != TSK_OK) {
		add_error(e, name, "Enter a valid date/time.");
		return;
	}
	snprintf(text, tlen, "%s", v);
	*has = 1;
}

/* limit_max < 0: the limit is clamped to [1, -limit_max] instead of refused (the drill-down's). */
static int
parse_common(struct ctx *c, struct filter_form *ff, long long limit_def, long long limit_max, const char *bucket_def,
    int need_tenant)
{
	const struct form *f = &c->form;
	struct tsk_buf e = TSK_BUF_INIT;
	const char *v;
	long long n;
	char err[TSK_ERRLEN];
	int found;

	memset(ff, 0, sizeof *ff);
	v = form_get(f, "tenant_slug");
	if (v == NULL || *v == '\0') {
		if (need_tenant)
			add_error(&e, "tenant_slug", "This field is required.");
	} else if (strlen(v) > 100) {
		add_error(&e, "tenant_slug", "Ensure this value has at most 100 characters.");
	} else if (strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(v)) {
		add_error(&e, "tenant_slug", "Enter a valid “slug” consisting of letters, numbers, underscores or hyphens.");
	} else {
		snprintf(ff->tenant, sizeof ff->tenant, "%s", v);
	}
	v = form_get(f, "device_id");
	if (v != NULL && strlen(v) > 255)
		add_error(&e, "device_id", "Ensure this value has at most 255 characters.");
	else
		sanitize_id(v, ff->device, sizeof ff->device);
	v = form_get(f, "sensor_id");
	if (v != NULL && strlen(v) > 255)
		add_error(&e, "sensor_id", "Ensure this value has at most 255 characters.");
	else
		sanitize_id(v, ff->sensor, sizeof ff->sensor);
	time_field(&e, f, "from_timestamp", ff->from_s, sizeof ff->from_s, &ff->has_from, &ff->from_us);
	time_field(&e, f, "to_timestamp", ff->to_s, sizeof ff->to_s, &ff->has_to, &ff->to_us);
	if (ff->has_from && ff->has_to && ff->from_us > ff->to_us)
		add_error(&e, "__all__", "from_timestamp must not be after to_timestamp.");
	v = form_get(f, "bucket");
	if (v == NULL || *v == '\0')
		v = bucket_def;
	for (int i = 0; buckets_allowed[i] != NULL; i++)
		if (strcmp(v, buckets_allowed[i]) == 0)
			snprintf(ff->bucket, sizeof ff->bucket, "%s", v);
	if (ff->bucket[0] == '\0') {
		if (limit_max < 0) {
			snprintf(ff->bucket, sizeof ff->bucket, "%s", bucket_def); /* the chart API: invalid means the default */
		} else {
			char m[128];
			snprintf(m, sizeof m, "Select a valid choice. %.40s is not one of the available choices.", v);
			add_error(&e, "bucket", m);
		}
	}
	if (ff->bucket[0] != '\0')
		tsk_series_bucket_parse(ff->bucket, &ff->bucket_us, err, sizeof err);
	ff->limit = limit_def;
	v = form_get(f, "limit");
	if (v != NULL && *v != '\0') {
		if (parse_int(v, &n) != 0) {
			if (limit_max >= 0)
				add_error(&e, "limit", "Enter a whole number.");
		} else if (limit_max < 0) {
			ff->limit = n < 1 ? 1 : n > -limit_max ? -limit_max : n;
		} else if (n < 1) {
			add_error(&e, "limit", "Ensure this value is greater than or equal to 1.");
		} else if (n > limit_max) {
			char m[96];
			snprintf(m, sizeof m, "Ensure this value is less than or equal to %lld.", limit_max);
			add_error(&e, "limit", m);
		} else {
			ff->limit = n;
		}
	}
	v = form_get(f, "offset");
	if (v != NULL && *v != '\0') {
		if (parse_int(v, &n) != 0)
			add_error(&e, "offset", "Enter a whole number.");
		else if (n < 0)
			add_error(&e, "offset", "Ensure this value is greater than or equal to 0.");
		else
			ff->offset = n;
	}
	if (e.len > 0) {
		struct tsk_buf m = TSK_BUF_INIT;
		tsk_buf_printf(&m, "Invalid parameters: %s\n", tsk_buf_cstr(&e));
		reply_text(c, 400, tsk_buf_cstr(&m) != NULL ? tsk_buf_cstr(&m) : "Invalid parameters\n");
		tsk_buf_free(&m);
		tsk_buf_free(&e);
		return -1;
	}
	tsk_buf_free(&e);
	if (ff->tenant[0] == '\0')
		return 0;
	if ((found = tenant_name(c->db, ff->tenant, ff->tenant_name, sizeof ff->tenant_name)) < 0) {
		reply_text(c, 503, "database unavailable\n");
		return -1;
	}
	if (!found) {
		char m[200];
		snprintf(m, sizeof m, "Tenant '%s' not found\n", ff->tenant);
		reply_text(c, 400, m);
		return -1;
	}
	return 0;
}

int
filter_form_parse(struct ctx *c, struct filter_form *ff, long long limit_def, long long limit_max)
{
	return parse_common(c, ff, limit_def, limit_max, "1m", 1);
}

void
filter_form_filter(const struct filter_form *ff, struct tsk_filter *f)
{
	tsk_filter_init(f);
	if (ff->device[0] != '\0')
		tsk_filter_set(f, "device", ff->device, 0, NULL, 0);
	if (ff->sensor[0] != '\0')
		tsk_filter_set(f, "sensor", ff->sensor, 0, NULL, 0);
	f->has_from = ff->has_from;
	f->from_us = ff->from_us;
	f->has_to = ff->has_to;
	f->to_us = ff->to_us;
	f->bucket_us = ff->bucket_us;
	f->limit = ff->limit;
	f->offset = ff->offset;
	f->order = TSK_ORDER_DESC;
}

static void
qparam(struct tsk_buf *b, const char *k, const char *v)
{
	if (v == NULL || *v == '\0')
		return;
	tsk_buf_puts(b, b->len ? "&" : "");
	tsk_buf_puts(b, k);
	tsk_buf_puts(b, "=");
	url_esc(b, v);
}

void
filter_form_query(const struct filter_form *ff, struct tsk_buf *b)
{
	char lim[24];

	snprintf(lim, sizeof lim, "%lld", ff->limit);
	qparam(b, "tenant_slug", ff->tenant);
	qparam(b, "device_id", ff->device);
	qparam(b, "sensor_id", ff->sensor);
	qparam(b, "from_timestamp", ff->from_s);
	qparam(b, "to_timestamp", ff->to_s);
	qparam(b, "bucket", ff->bucket);
	qparam(b, "limit", lim);
}

json_t *
filter_form_json(const struct filter_form *ff)
{
	json_t *o = json_object();

	if (ff->device[0])
		json_object_set_new(o, "device_id", json_string(ff->device));
	if (ff->sensor[0])
		json_object_set_new(o, "sensor_id", json_string(ff->sensor));
	if (ff->from_s[0])
		json_object_set_new(o, "from_timestamp", json_string(ff->from_s));
	if (ff->to_s[0])
		json_object_set_new(o, "to_timestamp", json_string(ff->to_s));
	if (ff->bucket[0])
		json_object_set_new(o, "bucket", json_string(ff->bucket));
	json_object_set_new(o, "limit", json_integer(ff->limit));
	json_object_set_new(o, "offset", json_integer(ff->offset));
	return o;
}

/* Hidden inputs carrying the filter (for the export form). */
static void
hidden(struct tsk_buf *b, const char *k, const char *v)
{
	if (v == NULL || *v == '\0')
		return;
	tsk_buf_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"", k);
	html_esc(b, v);
	tsk_buf_puts(b, "\">");
}

static void
input(struct tsk_buf *b, const char *label, const char *name, const char *type, const char *value, const char *extra)
{
	tsk_buf_printf(b, "<label>%s <input type=\"%s\" name=\"%s\" id=\"%s\" value=\"", label, type, name, name);
	html_esc(b, value);
	tsk_buf_printf(b, "\"%s></label>", extra != NULL ? extra : "");
}

static void
bucket_select(struct tsk_buf *b, const char *cur)
{
	tsk_buf_puts(b, "<label>Bucket <select name=\"bucket\" id=\"bucket\">");
	for (int i = 0; buckets_allowed[i] != NULL; i++)
		tsk_buf_printf(b, "<option%s>%s</option>", strcmp(cur, buckets_allowed[i]) == 0 ? " selected" : "",
		    buckets_allowed[i]);
	tsk_buf_puts(b, "</select></label>");
}

/* The filter form, pre-filled (ff may be NULL). */
static void
filter_html(struct ctx *c, struct tsk_buf *b, const struct filter_form *ff)
{
	char lim[24];

	snprintf(lim, sizeof lim, "%lld", ff != NULL ? ff->limit : 200);
	tsk_buf_puts(b, "<form method=\"get\" action=\"/ops/telemetry/\" class=\"card\" id=\"filter\">"
	    "<label>Tenant <select name=\"tenant_slug\" id=\"tenant_slug\" required>");
	tenant_options(c, b, ff != NULL ? ff->tenant : NULL);
	tsk_buf_puts(b, "</select></label>");
	input(b, "Device", "device_id", "text", ff != NULL ? ff->device : "", " maxlength=\"255\"");
	input(b, "Sensor", "sensor_id", "text", ff != NULL ? ff->sensor : "", " maxlength=\"255\"");
	input(b, "From (ISO-8601)", "from_timestamp", "text", ff != NULL ? ff->from_s : "",
	    " placeholder=\"2025-10-17T10:00:00Z\"");
	input(b, "To (ISO-8601)", "to_timestamp", "text", ff != NULL ? ff->to_s : "", " placeholder=\"2025-10-17T12:00:00Z\"");
	bucket_select(b, ff != NULL ? ff->bucket : "1m");
	input(b, "Limit", "limit", "number", lim, " min=\"1\" max=\"1000\"");
	tsk_buf_puts(b, "<button type=\"submit\" id=\"query\">Query Telemetry</button></form>\n");
}

/* ---- pages --------------------------------------------------------------------------------------- */

void
view_home(struct ctx *c)
{
	struct tsk_buf b = TSK_BUF_INIT;

	page_begin(c, &b, "Telemetry query");
	tsk_buf_puts(&b, "<p>Choose a tenant and filters; every query is recorded in the audit log.</p>");
	filter_html(c, &b, NULL);
	page_end(&b);
	reply_html(c, 200, &b);
}

static void
fmt_num(struct tsk_buf *b, double d)
{
	tsk_buf_printf(b, "%.2f", d);
}

static void
iso(int64_t us, char *buf)
{
	tsk_time_format(us, buf);
}

static void
series_error(struct ctx *c, int rc, const char *err)
{
	char m[TSK_ERRLEN + 32];

	if (rc == TSK_EINVAL) {
		snprintf(m, sizeof m, "Invalid parameters: %s\n", err);
		reply_text(c, 400, m);
	} else if (rc == TSK_ENOTFOUND) {
		reply_text(c, 400, "Tenant not found\n");
	} else {
		tsk_warn("ops: %s", err);
		reply_text(c, 503, "database unavailable\n");
	}
}

struct table {
	struct ctx *c;
	struct tsk_buf *b;
	const struct filter_form *ff;
	long long rows;
};

static int
table_row(void *ctx, const struct tsk_series_bucket *r)
{
	struct table *t = ctx;
	struct tsk_buf *b = t->b;
	char ts[TSK_TIME_STRLEN];

	iso(r->bucket_us, ts);
	tsk_buf_printf(b, "<tr><td>%s</td><td>", ts);
	html_esc(b, r->device_id);
	tsk_buf_puts(b, "</td><td>");
	html_esc(b, r->sensor_id);
	tsk_buf_puts(b, "</td><td class=\"n\">");
	fmt_num(b, r->avg);
	tsk_buf_puts(b, "</td><td class=\"n\">");
	fmt_num(b, r->min);
	tsk_buf_puts(b, "</td><td class=\"n\">");
	fmt_num(b, r->max);
	tsk_buf_puts(b, "</td><td class=\"n\">");
	fmt_num(b, r->last);
	tsk_buf_printf(b, "</td><td class=\"n\">%lld</td><td><a class=\"drill\" href=\"/ops/telemetry/drilldown/?tenant_slug=", r->count);
	url_esc(b, t->ff->tenant);
	tsk_buf_puts(b, "&amp;device_id=");
	url_esc(b, r->device_id);
	tsk_buf_puts(b, "&amp;sensor_id=");
	url_esc(b, r->sensor_id);
	tsk_buf_puts(b, "\">Drill-down</a></td></tr>\n");
	t->rows++;
	return 0;
}

static int
count_row(void *ctx, const struct tsk_series_bucket *r)
{
	(void)r;
	(*(long long *)ctx)++;
	return 0;
}

void
view_telemetry(struct ctx *c)
{
	struct filter_form ff;
	struct tsk_filter f;
	struct tsk_buf b = TSK_BUF_INIT, q = TSK_BUF_INIT;
	struct table t;
	char err[TSK_ERRLEN];
	long long total = 0;
	int rc;

	if (filter_form_parse(c, &ff, 200, 1000) != 0)
		return;
	filter_form_filter(&ff, &f);
	page_begin(c, &b, "Telemetry");
	tsk_buf_puts(&b, "<p>Tenant <strong>");
	html_esc(&b, ff.tenant_name);
	tsk_buf_puts(&b, "</strong> (");
	html_esc(&b, ff.tenant);
	tsk_buf_puts(&b, ")</p>");
	filter_html(c, &b, &ff);
	tsk_buf_puts(&b, "<div class=\"table\"><table id=\"results\"><thead><tr><th>Bucket</th><th>Device</th>"
	    "<th>Sensor</th><th>Avg</th><th>Min</th><th>Max</th><th>Last</th><th>Count</th><th></th></tr></thead><tbody>\n");
	memset(&t, 0, sizeof t);
	t.c = c;
	t.b = &b;
	t.ff = &ff;
	rc = tsk_series_buckets(c->db, ff.tenant, &f, table_row, &t, err, sizeof err);
	if (rc == TSK_OK) {
		/* The total: every row the filter has, counted by the same query without its page. */
		f.limit = -1;
		f.offset = 0;
		f.order = TSK_ORDER_ANY;
		rc = tsk_series_buckets(c->db, ff.tenant, &f, count_row, &total, err, sizeof err);
	}
	tsk_filter_free(&f);
	if (rc != TSK_OK) {
		tsk_buf_free(&b);
		series_error(c, rc, err);
		return;
	}
	tsk_buf_puts(&b, "</tbody></table></div>");
	if (t.rows == 0)
		tsk_buf_puts(&b, "<p id=\"empty\">No data for these filters.</p>");
	filter_form_query(&ff, &q);
	tsk_buf_printf(&b, "<div class=\"pager\"><span id=\"total\" data-total=\"%lld\">Rows %lld–%lld of %lld</span>", total,
	    t.rows ? ff.offset + 1 : 0, ff.offset + t.rows, total);
	if (ff.offset > 0) {
		tsk_buf_puts(&b, "<a id=\"prev\" href=\"/ops/telemetry/?");
		html_esc(&b, tsk_buf_cstr(&q));
		tsk_buf_printf(&b, "&amp;offset=%lld\">« Previous</a>", ff.offset > ff.limit ? ff.offset - ff.limit : 0);
	}
	if (ff.offset + ff.limit < total) {
		tsk_buf_puts(&b, "<a id=\"next\" href=\"/ops/telemetry/?");
		html_esc(&b, tsk_buf_cstr(&q));
		tsk_buf_printf(&b, "&amp;offset=%lld\">Next »</a>", ff.offset + ff.limit);
	}
	tsk_buf_puts(&b, "</div><form method=\"post\" action=\"/ops/telemetry/export/\" id=\"export\">");
	csrf_field(c, &b);
	hidden(&b, "tenant_slug", ff.tenant);
	hidden(&b, "device_id", ff.device);
	hidden(&b, "sensor_id", ff.sensor);
	hidden(&b, "from_timestamp", ff.from_s);
	hidden(&b, "to_timestamp", ff.to_s);
	hidden(&b, "bucket", ff.bucket);
	tsk_buf_puts(&b, "<button type=\"submit\" id=\"export-csv\">Export CSV (up to 10 000 rows)</button></form>");
	page_end(&b);
	tsk_buf_free(&q);
	reply_html(c, 200, &b);
	audit(c, "view_list", ff.tenant, filter_form_json(&ff), total);
}

/* ---- drill-down ---------------------------------------------------------------------------------- */

struct drill {
	struct tsk_buf *b;
	json_t *points;   /* newest first while reading; reversed for the chart */
	long long rows;
};

static int
drill_row(void *ctx, const struct tsk_series_reading *r)
{
	struct drill *d = ctx;
	char ts[TSK_TIME_STRLEN];

	iso(r->ts_us, ts);
	tsk_buf_printf(d->b, "<tr><td>%s</td><td>", ts);
	html_esc(d->b, r->device_id);
	tsk_buf_puts(d->b, "</td><td>");
	html_esc(d->b, r->sensor_id);
	tsk_buf_puts(d->b, "</td><td class=\"n\">");
	tsk_buf_printf(d->b, "%.4f", r->value);
	tsk_buf_puts(d->b, "</td><td><code>");
	html_esc(d->b, r->labels != NULL ? r->labels : "{}");
	tsk_buf_puts(d->b, "</code></td></tr>\n");
	json_array_append_new(d->points, json_pack("{s:s, s:f, s:I}", "x", ts, "y", r->value, "us", (json_int_t)r->ts_us));
	d->rows++;
	return 0;
}

/* Per bucket of the chart's band: min and max. */
struct band {
	int64_t *start;
	double *min, *max;
	size_t n, cap;
};

static int
band_row(void *ctx, const struct tsk_series_bucket *r)
{
	struct band *bd = ctx;

	if (bd->n > 0 && bd->start[bd->n - 1] == r->bucket_us) {
		if (r->min < bd->min[bd->n - 1])
			bd->min[bd->n - 1] = r->min;
		if (r->max > bd->max[bd->n - 1])
			bd->max[bd->n - 1] = r->max;
		return 0;
	}
	if (bd->n == bd->cap) {
		size_t nc = bd->cap ? bd->cap * 2 : 256;
		int64_t *s = realloc(bd->start, nc * sizeof *s);
		if (s == NULL)
			return -1;
		bd->start = s;
		double *a = realloc(bd->min, nc * sizeof *a);
		if (a == NULL)
			return -1;
		bd->min = a;
		double *z = realloc(bd->max, nc * sizeof *z);
		if (z == NULL)
			return -1;
		bd->max = z;
		bd->cap = nc;
	}
	bd->start[bd->n] = r->bucket_us;
	bd->min[bd->n] = r->min;
	bd->max[bd->n] = r->max;
	bd->n++;
	return 0;
}

void
view_drilldown(struct ctx *c)
{
	struct filter_form ff;
	struct tsk_filter f;
	struct tsk_series_stats st;
	struct tsk_buf b = TSK_BUF_INIT;
	struct drill d;
	struct band bd;
	char err[TSK_ERRLEN], a[TSK_TIME_STRLEN], z[TSK_TIME_STRLEN];
	const char *t = form_get(&c->form, "tenant_slug"), *s = form_get(&c->form, "sensor_id");
	json_t *chart, *data;
	int rc;

	if (t == NULL || *t == '\0' || s == NULL || *s == '\0') {
		reply_text(c, 400, "tenant_slug and sensor_id are required\n");
		return;
	}
	if (parse_common(c, &ff, 500, -1000, "1m", 1) != 0)
		return;
	if (ff.sensor[0] == '\0') {
		reply_text(c, 400, "tenant_slug and sensor_id are required\n");
		return;
	}
	filter_form_filter(&ff, &f);
	f.offset = 0;
	page_begin(c, &b, "Drill-down");
	tsk_buf_puts(&b, "<p>Tenant <strong>");
	html_esc(&b, ff.tenant_name);
	tsk_buf_puts(&b, "</strong>, sensor <strong id=\"sensor\">");
	html_esc(&b, ff.sensor);
	tsk_buf_puts(&b, "</strong>");
	if (ff.device[0]) {
		tsk_buf_puts(&b, ", device <strong id=\"device\">");
		html_esc(&b, ff.device);
		tsk_buf_puts(&b, "</strong>");
	}
	tsk_buf_puts(&b, "</p>");
	rc = tsk_series_stats(c->db, ff.tenant, &f, &st, err, sizeof err);
	if (rc != TSK_OK) {
		tsk_filter_free(&f);
		tsk_buf_free(&b);
		series_error(c, rc, err);
		return;
	}
	iso(st.first_us, a);
	iso(st.last_us, z);
	tsk_buf_printf(&b, "<dl class=\"stats card\" id=\"stats\"><div><dt>Readings</dt><dd id=\"stat-count\">%lld</dd></div>",
	    st.count);
	if (st.count > 0)
		tsk_buf_printf(&b, "<div><dt>Average</dt><dd id=\"stat-avg\">%.4f</dd></div><div><dt>Min</dt><dd id=\"stat-min\">%.4f</dd></div>"
		    "<div><dt>Max</dt><dd id=\"stat-max\">%.4f</dd></div><div><dt>First</dt><dd>%s</dd></div><div><dt>Last</dt><dd>%s</dd></div>",
		    st.avg, st.min, st.max, a, z);
	tsk_buf_printf(&b, "</dl><div class=\"chart\"><canvas id=\"chart\" role=\"img\" aria-label=\"readings\"></canvas></div>"
	    "<h2>Newest %lld readings</h2><div class=\"table\"><table id=\"readings\"><thead><tr><th>Time</th><th>Device</th>"
	    "<th>Sensor</th><th>Value</th><th>Labels</th></tr></thead><tbody>\n", ff.limit);
	memset(&d, 0, sizeof d);
	d.b = &b;
	d.points = json_array();
	rc = tsk_series_raw(c->db, ff.tenant, &f, drill_row, &d, err, sizeof err);
	memset(&bd, 0, sizeof bd);
	if (rc == TSK_OK && d.rows > 0) {
		/* The band: min and max of each bucket the shown readings fall in. */
		json_t *oldest = json_array_get(d.points, json_array_size(d.points) - 1), *newest = json_array_get(d.points, 0);
		f.has_from = f.has_to = 1;
		f.from_us = (int64_t)json_integer_value(json_object_get(oldest, "us"));
		f.to_us = (int64_t)json_integer_value(json_object_get(newest, "us"));
		f.limit = -1;
		f.order = TSK_ORDER_ASC;
		rc = tsk_series_buckets(c->db, ff.tenant, &f, band_row, &bd, err, sizeof err);
	}
	tsk_filter_free(&f);
	if (rc != TSK_OK) {
		json_decref(d.points);
		free(bd.start), free(bd.min), free(bd.max);
		tsk_buf_free(&b);
		series_error(c, rc, err);
		return;
	}
	tsk_buf_puts(&b, "</tbody></table></div>");
	data = json_array();
	for (size_t i = json_array_size(d.points); i-- > 0;) {
		json_t *p = json_array_get(d.points, i);
		int64_t us = (int64_t)json_integer_value(json_object_get(p, "us")), start = tsk_series_bucket_start(us, ff.bucket_us);
		double y = json_real_value(json_object_get(p, "y")), lo = y, hi = y;
		for (size_t k = 0; k < bd.n; k++)
			if (bd.start[k] == start) {
				lo = bd.min[k];
				hi = bd.max[k];
				break;
			}
		json_array_append_new(data, json_pack("{s:O, s:f, s:f, s:f}", "x", json_object_get(p, "x"), "y", y, "min", lo,
		    "max", hi));
	}
	free(bd.start), free(bd.min), free(bd.max);
	json_decref(d.points);
	chart = json_pack("{s:s, s:s, s:[{s:s, s:s, s:o}]}", "kind", "drilldown", "bucket", ff.bucket, "datasets", "label",
	    ff.sensor, "sensor_id", ff.sensor, "data", data);
	html_json(&b, "chart-data", chart);
	tsk_buf_puts(&b, "<script src=\"/ops/static/chart.js\"></script><script src=\"/ops/static/charts.js\"></script>");
	page_end(&b);
	reply_html(c, 200, &b);
	json_t *fj = filter_form_json(&ff);
	audit(c, "view_drilldown", ff.tenant, fj, d.rows);
}

/* ---- charts -------------------------------------------------------------------------------------- */

struct series {
	json_t *data;
	int64_t last;
	double sum;
	long long count;
};

static int
series_row(void *ctx, const struct tsk_series_bucket *r)
{
	struct series *s = ctx;
	size_t n = json_array_size(s->data);
	char ts[TSK_TIME_STRLEN];

	/* Several devices with the sensor id: one point per bucket, as the original's GROUP BY bucket. */
	if (n > 0 && s->last == r->bucket_us) {
		json_t *p = json_array_get(s->data, n - 1);
		double mn = json_real_value(json_object_get(p, "min")), mx = json_real_value(json_object_get(p, "max"));
		s->sum += r->avg * (double)r->count;
		s->count += r->count;
		json_object_set_new(p, "y", json_real(s->sum / (double)s->count));
		json_object_set_new(p, "min", json_real(r->min < mn ? r->min : mn));
		json_object_set_new(p, "max", json_real(r->max > mx ? r->max : mx));
		json_object_set_new(p, "count", json_integer(s->count));
		return 0;
	}
	iso(r->bucket_us, ts);
	s->last = r->bucket_us;
	s->sum = r->avg * (double)r->count;
	s->count = r->count;
	json_array_append_new(s->data, json_pack("{s:s, s:f, s:f, s:f, s:I}", "x", ts, "y", r->avg, "min", r->min, "max",
	    r->max, "count", (json_int_t)r->count));
	return 0;
}

/* Sensor ids from every sensor_ids field (comma lists, repeated fields), sanitized; *n of them. */
static int
sensor_list(struct ctx *c, char ids[][256], int max, int *n)
{
	*n = 0;
	for (int i = 0; i < c->form.n; i++) {
		if (strcmp(c->form.k[i], "sensor_ids") != 0)
			continue;
		char *copy = strdup(c->form.v[i]), *save = NULL;
		if (copy == NULL)
			return -1;
		for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
			char id[256];
			if (strlen(tok) > 255)
				continue;
			sanitize_id(tok, id, sizeof id);
			if (id[0] == '\0')
				continue;
			int dup = 0;
			for (int k = 0; k < *n && k < max; k++)
				dup |= strcmp(ids[k], id) == 0;
			if (dup)
				continue;
			if (*n < max)
				snprintf(ids[*n], 256, "%s", id);
			(*n)++;
		}
		free(copy);
	}
	return 0;
}

/* The chart-data object for n sensors; NULL with err on a database failure. */
static json_t *
chart_json(struct ctx *c, const struct filter_form *ff, char ids[][256], int n, long long *points, int *rc, char *err,
    size_t errlen)
{
	json_t *o, *sets = json_array();

	*points = 0;
	for (int i = 0; i < n; i++) {
		struct tsk_filter f;
		struct series s = { json_array(), 0, 0, 0 };
		tsk_filter_init(&f);
		tsk_filter_set(&f, "sensor", ids[i], 0, NULL, 0);
		f.has_from = ff->has_from, f.from_us = ff->from_us, f.has_to = ff->has_to, f.to_us = ff->to_us;
		f.bucket_us = ff->bucket_us;
		f.limit = ff->limit;
		f.order = TSK_ORDER_ASC;
		*rc = tsk_series_buckets(c->db, ff->tenant, &f, series_row, &s, err, errlen);
		tsk_filter_free(&f);
		if (*rc != TSK_OK) {
			json_decref(s.data);
			json_decref(sets);
			return NULL;
		}
		*points += (long long)json_array_size(s.data);
		json_array_append_new(sets, json_pack("{s:s, s:s, s:o}", "label", ids[i], "sensor_id", ids[i], "data", s.data));
	}
	o = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s?, s:s?, s:o}", "kind", "dashboard", "tenant", "slug", ff->tenant, "name",
	    ff->tenant_name, "bucket", ff->bucket, "from_timestamp", ff->from_s[0] ? ff->from_s : NULL, "to_timestamp",
	    ff->to_s[0] ? ff->to_s : NULL, "datasets", sets);
	if (o != NULL && !ff->from_s[0])
		json_object_set_new(o, "from_timestamp", json_null());
	if (o != NULL && !ff->to_s[0])
		json_object_set_new(o, "to_timestamp", json_null());
	return o;
}

static void
json_reply(struct ctx *c, int status, json_t *o)
{
	c->out->status = status;
	c->out->content_type = "application/json";
	c->out->body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (c->out->body == NULL) {
		c->out->status = 500;
		c->out->body = strdup("{\"error\":\"out of memory\"}");
	}
	c->out->len = c->out->body != NULL ? strlen(c->out->body) : 0;
	tsk_http_reply_header(c->out, "Cache-Control", "no-store");
	tsk_http_reply_header(c->out, "X-Content-Type-Options", "nosniff");
}

void
view_chart_data(struct ctx *c)
{
	struct filter_form ff;
	char ids[CHART_SENSORS_MAX][256], err[TSK_ERRLEN], m[200];
	const char *t = form_get(&c->form, "tenant_slug");
	long long points;
	int n, rc, found;
	json_t *o, *fj;

	if (sensor_list(c, ids, CHART_SENSORS_MAX, &n) != 0 || t == NULL || *t == '\0' || n == 0) {
		json_reply(c, 400, json_pack("{s:s}", "error", "tenant_slug and sensor_ids are required"));
		return;
	}
	if (n > CHART_SENSORS_MAX) {
		json_reply(c, 400, json_pack("{s:s}", "error", "Maximum 10 sensors allowed"));
		return;
	}
	/* The form's checks, with the API's leniency: bucket falls back to 5m, limit is clamped. */
	{
		struct form keep = c->form;
		struct form only;
		memset(&only, 0, sizeof only);
		for (int i = 0; i < keep.n; i++)
			if (strcmp(keep.k[i], "tenant_slug") != 0) {
				only.k[only.n] = keep.k[i];
				only.v[only.n++] = keep.v[i];
			}
		c->form = only;
		rc = parse_common(c, &ff, 500, -1000, "5m", 0);
		c->form = keep;
		if (rc != 0) {
			free(c->out->body);
			free(c->out->headers);
			memset(c->out, 0, sizeof *c->out);
			json_reply(c, 400, json_pack("{s:s}", "error", "Invalid parameters"));
			return;
		}
	}
	if (strlen(t) > 100 || (found = tenant_name(c->db, t, ff.tenant_name, sizeof ff.tenant_name)) == 0) {
		snprintf(m, sizeof m, "Tenant '%.100s' not found", t);
		json_reply(c, 404, json_pack("{s:s}", "error", m));
		return;
	}
	if (found < 0) {
		json_reply(c, 503, json_pack("{s:s}", "error", "database unavailable"));
		return;
	}
	snprintf(ff.tenant, sizeof ff.tenant, "%s", t);
	if ((o = chart_json(c, &ff, ids, n, &points, &rc, err, sizeof err)) == NULL) {
		json_reply(c, rc == TSK_EINVAL ? 400 : 503, json_pack("{s:s}", "error", rc == TSK_EINVAL ? err : "database unavailable"));
		return;
	}
	json_object_del(o, "kind");
	json_reply(c, 200, o);
	fj = filter_form_json(&ff);
	json_object_set_new(fj, "sensor_ids", json_string(form_get(&c->form, "sensor_ids")));
	audit(c, "view_chart", ff.tenant, fj, points);
}

void
view_dashboard(struct ctx *c)
{
	struct filter_form ff;
	struct tsk_buf b = TSK_BUF_INIT;
	char ids[CHART_SENSORS_MAX][256], err[TSK_ERRLEN], schema[TSK_SCHEMA_LEN];
	long long points = 0;
	int n, rc;
	PGresult *res = NULL;
	json_t *o = NULL, *fj;

	if (parse_common(c, &ff, 500, -1000, "5m", 0) != 0)
		return;
	if (sensor_list(c, ids, CHART_SENSORS_MAX, &n) != 0 || n > CHART_SENSORS_MAX) {
		reply_text(c, 400, "Maximum 10 sensors allowed\n");
		return;
	}
	page_begin(c, &b, "Dashboard");
	tsk_buf_puts(&b, "<form method=\"get\" action=\"/ops/dashboard/\" class=\"card\" id=\"dash\">"
	    "<label>Tenant <select name=\"tenant_slug\" id=\"tenant_slug\">");
	tenant_options(c, &b, ff.tenant);
	tsk_buf_puts(&b, "</select></label>");
	input(&b, "From (ISO-8601)", "from_timestamp", "text", ff.from_s, NULL);
	input(&b, "To (ISO-8601)", "to_timestamp", "text", ff.to_s, NULL);
	bucket_select(&b, ff.bucket);
	if (ff.tenant[0] != '\0') {
		/* available_sensors: the tenant's distinct sensor ids (50 at most), as the original. */
		if (tsk_db_begin(c->db, err, sizeof err) == TSK_OK &&
		    tsk_db_enter_tenant(c->db, ff.tenant, schema, err, sizeof err) == TSK_OK &&
		    tsk_db_exec(c->db, "SELECT DISTINCT sensor_id FROM reading ORDER BY sensor_id LIMIT 50", 0, NULL, &res, err,
		    sizeof err) == TSK_OK) {
			tsk_buf_puts(&b, "<fieldset class=\"card\"><legend>Sensors (up to 10)</legend>");
			for (int i = 0; i < PQntuples(res); i++) {
				const char *s = PQgetvalue(res, i, 0);
				int on = 0;
				for (int k = 0; k < n; k++)
					on |= strcmp(ids[k], s) == 0;
				tsk_buf_puts(&b, "<label><span><input type=\"checkbox\" name=\"sensor_ids\" value=\"");
				html_esc(&b, s);
				tsk_buf_printf(&b, "\"%s> ", on ? " checked" : "");
				html_esc(&b, s);
				tsk_buf_puts(&b, "</span></label>");
			}
			tsk_buf_puts(&b, "</fieldset>");
			PQclear(res);
		} else {
			tsk_warn("ops dashboard: %s", err);
		}
		tsk_db_rollback(c->db);
	}
	tsk_buf_puts(&b, "<button type=\"submit\" id=\"show\">Show</button></form>");
	if (ff.tenant[0] != '\0' && n > 0) {
		if ((o = chart_json(c, &ff, ids, n, &points, &rc, err, sizeof err)) == NULL) {
			tsk_buf_free(&b);
			series_error(c, rc, err);
			return;
		}
		tsk_buf_printf(&b, "<p id=\"summary\">%d sensors, %lld points.</p><div class=\"chart\"><canvas id=\"chart\" role=\"img\" "
		    "aria-label=\"sensors\"></canvas></div>", n, points);
		html_json(&b, "chart-data", o);
		tsk_buf_puts(&b, "<script src=\"/ops/static/chart.js\"></script><script src=\"/ops/static/charts.js\"></script>");
	}
	page_end(&b);
	reply_html(c, 200, &b);
	if (ff.tenant[0] != '\0') {
		fj = filter_form_json(&ff);
		json_t *arr = json_array();
		for (int i = 0; i < n; i++)
			json_array_append_new(arr, json_string(ids[i]));
		json_object_set_new(fj, "sensor_ids", arr);
		audit(c, "view_dashboard", ff.tenant, fj, points);
	}
}

/* ---- the synchronous CSV ------------------------------------------------------------------------- */

static int
buf_sink(void *ctx, const char *buf, size_t len, char *err, size_t errlen)
{
	if (tsk_buf_add(ctx, buf, len) != 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	return TSK_OK;
}

static int
csv_row(void *ctx, const struct tsk_series_bucket *r)
{
	struct tsk_csv *w = ctx;
	char ts[40];
	time_t t = (time_t)(r->bucket_us / 1000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	/* Python's isoformat() of a UTC datetime, as the original wrote it. */
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
	tsk_csv_cstr(w, ts);
	tsk_csv_cstr(w, r->device_id);
	tsk_csv_cstr(w, r->sensor_id);
	tsk_csv_num2(w, r->avg);
	tsk_csv_num2(w, r->min);
	tsk_csv_num2(w, r->max);
	tsk_csv_num2(w, r->last);
	tsk_csv_int(w, r->count);
	return tsk_csv_end_row(w);
}

void
view_export_csv(struct ctx *c)
{
	static const char *const cols[] = { "bucket", "device_id", "sensor_id", "avg", "min", "max", "last", "count", NULL };
	struct filter_form ff;
	struct tsk_filter f;
	struct tsk_buf body = TSK_BUF_INIT;
	struct tsk_csv w;
	char err[TSK_ERRLEN], disp[200], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	if (filter_form_parse(c, &ff, EXPORT_MAX, EXPORT_MAX) != 0)
		return;
	filter_form_filter(&ff, &f);
	f.offset = 0;
	if (tsk_csv_init(&w, 0, buf_sink, &body) != TSK_OK) {
		tsk_filter_free(&f);
		reply_text(c, 500, "out of memory\n");
		return;
	}
	w.excel_safe = 1;
	tsk_csv_header(&w, cols);
	rc = tsk_series_buckets(c->db, ff.tenant, &f, csv_row, &w, err, sizeof err);
	tsk_filter_free(&f);
	if (rc == TSK_OK)
		rc = tsk_csv_flush(&w);
	long long rows = (long long)w.rows - 1;
	tsk_csv_free(&w);
	if (rc != TSK_OK || tsk_buf_failed(&body)) {
		tsk_buf_free(&body);
		series_error(c, rc, err);
		return;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", &tm);
	snprintf(disp, sizeof disp, "attachment; filename=\"telemetry_%s_%s.csv\"", ff.tenant, stamp);
	c->out->status = 200;
	c->out->content_type = "text/csv; charset=utf-8";
	c->out->len = body.len;
	c->out->body = tsk_buf_take(&body);
	if (c->out->body == NULL)
		c->out->body = strdup("");
	tsk_http_reply_header(c->out, "Content-Disposition", disp);
	tsk_http_reply_header(c->out, "Cache-Control", "no-store");
	tsk_http_reply_header(c->out, "X-Content-Type-Options", "nosniff");
	audit(c, "export_csv", ff.tenant, filter_form_json(&ff), rows);
}
