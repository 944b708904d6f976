/*
 * Filters from user text, and the SQL they become (see filter.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/time.h"
#include "core/tsk.h"
#include "query/filter.h"
#include "query/run.h"
#include "query/series.h"

/* ---- filters ---- */

void
tsk_filter_init(struct tsk_filter *f)
{
	memset(f, 0, sizeof *f);
	f->limit = -1;
}

void
tsk_filter_free(struct tsk_filter *f)
{
	free(f->devices);
	free(f->sensors);
	free(f->sites);
	free(f->assets);
	f->devices = f->sensors = f->sites = f->assets = NULL;
	f->ndevices = f->nsensors = f->nsites = f->nassets = 0;
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
tsk_filter_set(struct tsk_filter *f, const char *key, const char *value, int64_t now_us, char *err, size_t errlen)
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
	if (strcmp(key, "site") == 0 || strcmp(key, "asset") == 0) {
		int site = key[0] == 's';
		if (*value == '\0')
			return tsk_seterr(err, errlen, TSK_EINVAL, "empty %s", site ? "site" : "asset tag");
		if (add_id(site ? &f->sites : &f->assets, site ? &f->nsites : &f->nassets, value) != 0)
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
			f->order = TSK_ORDER_ASC;
		else if (strcmp(value, "desc") == 0)
			f->order = TSK_ORDER_DESC;
		else if (strcmp(value, "any") == 0)
			f->order = TSK_ORDER_ANY;
		else
			return tsk_seterr(err, errlen, TSK_EINVAL, "invalid order \"%s\": asc, desc or any", value);
		return TSK_OK;
	}
	return tsk_seterr(err, errlen, TSK_EINVAL, "unknown filter \"%s\"", key);
}

int
tsk_filter_check(const struct tsk_filter *f, char *err, size_t errlen)
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

/* ---- statements: text and parameters ---- */

void
tsk_sql_init(struct tsk_sql *q, int settings)
{
	memset(q, 0, sizeof *q);
	q->settings = settings;
}

void
tsk_sql_free(struct tsk_sql *q)
{
	for (int i = 0; i < q->n; i++)
		free(q->own[i]);
	tsk_buf_free(&q->text);
	q->n = 0;
	q->failed = 0;
}

int
tsk_sql_failed(const struct tsk_sql *q)
{
	return q->failed || tsk_buf_failed(&q->text);
}

const char *
tsk_sql_text(struct tsk_sql *q)
{
	return tsk_sql_failed(q) ? NULL : tsk_buf_cstr(&q->text);
}

void
tsk_sql_printf(struct tsk_sql *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tsk_buf_vprintf(&q->text, fmt, ap);
	va_end(ap);
}

int
tsk_sql_param(struct tsk_sql *q, const char *s)
{
	if (q->n >= TSK_SQL_MAXPARAMS) {
		q->failed = 1;
		return 0;
	}
	q->own[q->n] = s != NULL ? strdup(s) : NULL;
	if (s != NULL && q->own[q->n] == NULL)
		q->failed = 1;
	q->v[q->n] = q->own[q->n];
	return ++q->n;
}

/*
 * PostgreSQL's timestamptz runs from 4714-11-24 BC (Julian day 0) to 294276 AD, and has no year 0: RFC
 * 3339's (proleptic, astronomical) year 0000 is 1 BC, -0001 is 2 BC. tsk_time_format() writes the
 * astronomical year, which PostgreSQL refuses for years <= 0 ("date/time field value out of range"), so
 * a time goes to the server in its own spelling: "0001-06-01T00:00:00Z BC" for 0000-06-01. Before the
 * server's first instant the bound is '-infinity' (no stored row is earlier); int64 microseconds never
 * reach past its last one.
 */
#define PG_MIN_US INT64_C(-210866803200000000) /* 4714-11-24T00:00:00Z BC, in Unix microseconds */

char *
tsk_sql_time_literal(int64_t us, char *buf)
{
	if (us < PG_MIN_US) {
		snprintf(buf, TSK_TIME_STRLEN, "-infinity");
		return buf;
	}
	tsk_time_format(us, buf);
	if (buf[0] == '0' && strncmp(buf, "0000-", 5) == 0) {
		memcpy(buf, "0001", 4);
		strcat(buf, " BC");
	} else if (buf[0] == '-') {
		/* Years -0001 and before: tsk_time_format() writes "-001-..."; rewrite the year as 1 - y BC. */
		int64_t secs = us / TSK_US_PER_S - (us % TSK_US_PER_S < 0);
		int64_t days = secs / 86400 - (secs % 86400 < 0);
		int y, m, d;
		const char *rest = strchr(buf + 1, '-');
		char tail[TSK_TIME_STRLEN];

		tsk_time_civil(days, &y, &m, &d);
		snprintf(tail, sizeof tail, "%s", rest != NULL ? rest : "");
		snprintf(buf, TSK_TIME_STRLEN, "%04d%.24s BC", 1 - y, tail); /* tail: "-MM-DDTHH:MM:SS.ffffffZ" */
	}
	return buf;
}

int
tsk_sql_param_time(struct tsk_sql *q, int64_t us)
{
	char buf[TSK_TIME_STRLEN];
	return tsk_sql_param(q, tsk_sql_time_literal(us, buf));
}

int
tsk_sql_param_ll(struct tsk_sql *q, long long v)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%lld", v);
	return tsk_sql_param(q, buf);
}

int
tsk_sql_param_array(struct tsk_sql *q, const char *const *ids, size_t n)
{
	struct tsk_buf b = TSK_BUF_INIT;
	int idx;

	tsk_buf_puts(&b, "{");
	for (size_t i = 0; i < n; i++) {
		tsk_buf_puts(&b, i > 0 ? ",\"" : "\"");
		for (const char *p = ids[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				tsk_buf_add(&b, "\\", 1);
			tsk_buf_add(&b, p, 1);
		}
		tsk_buf_puts(&b, "\"");
	}
	tsk_buf_puts(&b, "}");
	if (tsk_buf_cstr(&b) == NULL) {
		tsk_buf_free(&b);
		q->failed = 1;
		return 0;
	}
	idx = tsk_sql_param(q, tsk_buf_cstr(&b));
	tsk_buf_free(&b);
	return idx;
}

void
tsk_sql_ref(struct tsk_sql *q, int n, const char *cast)
{
	if (q->settings)
		tsk_sql_printf(q, "current_setting('tsk_filter.p%d')::%s", n, cast != NULL ? cast : "text");
	else if (cast != NULL)
		tsk_sql_printf(q, "$%d::%s", n, cast);
	else
		tsk_sql_printf(q, "$%d", n);
}

int
tsk_sql_settings(const struct tsk_sql *q, struct tsk_buf *out)
{
	tsk_buf_puts(out, "SELECT 1");
	for (int i = 1; i <= q->n; i++)
		tsk_buf_printf(out, ", set_config('tsk_filter.p%d', $%d, true)", i, i);
	return tsk_buf_cstr(out) != NULL ? 0 : -1;
}

/* ---- the filter as SQL ---- */

void
tsk_filter_ids(struct tsk_sql *q, const struct tsk_filter *f, struct tsk_filter_ids *ids)
{
	memset(ids, 0, sizeof *ids);
	if (f->ndevices == 1)
		ids->dev = tsk_sql_param(q, f->devices[0]);
	else if (f->ndevices > 1) {
		ids->dev = tsk_sql_param_array(q, f->devices, f->ndevices);
		ids->dev_many = 1;
	}
	if (f->nsensors == 1)
		ids->sen = tsk_sql_param(q, f->sensors[0]);
	else if (f->nsensors > 1) {
		ids->sen = tsk_sql_param_array(q, f->sensors, f->nsensors);
		ids->sen_many = 1;
	}
}

static void
id_cond(struct tsk_sql *q, const char *a, const char *col, int n, int many)
{
	if (n == 0)
		return;
	if (many) {
		tsk_sql_printf(q, " AND %s%s = ANY(", a, col);
		tsk_sql_ref(q, n, "text[]");
		tsk_sql_printf(q, ")");
	} else {
		tsk_sql_printf(q, " AND %s%s = ", a, col);
		tsk_sql_ref(q, n, q->settings ? "text" : NULL);
	}
}

void
tsk_filter_id_conds(struct tsk_sql *q, const struct tsk_filter_ids *ids, const char *a)
{
	id_cond(q, a, "device_id", ids->dev, ids->dev_many);
	id_cond(q, a, "sensor_id", ids->sen, ids->sen_many);
}

int
tsk_filter_has_tags(const struct tsk_filter *f)
{
	return f->nsites > 0 || f->nassets > 0;
}

/* " AND col = $n" for one value, " AND col = ANY($n::text[])" for several. */
static void
tag_cond(struct tsk_sql *q, const char *col, const char *const *v, size_t n)
{
	if (n == 1)
		id_cond(q, "", col, tsk_sql_param(q, v[0]), 0);
	else if (n > 1)
		id_cond(q, "", col, tsk_sql_param_array(q, v, n), 1);
}

void
tsk_filter_where(struct tsk_sql *q, const struct tsk_filter *f)
{
	struct tsk_filter_ids ids;

	tsk_filter_ids(q, f, &ids);
	tsk_filter_id_conds(q, &ids, "");
	tag_cond(q, "site", f->sites, f->nsites);
	tag_cond(q, "asset_tag", f->assets, f->nassets);
	if (f->has_from) {
		tsk_sql_printf(q, " AND ts >= ");
		tsk_sql_ref(q, tsk_sql_param_time(q, f->from_us), q->settings ? "timestamptz" : NULL);
	}
	if (f->has_to) {
		tsk_sql_printf(q, " AND ts <= ");
		tsk_sql_ref(q, tsk_sql_param_time(q, f->to_us), q->settings ? "timestamptz" : NULL);
	}
}

void
tsk_filter_order_page(struct tsk_sql *q, const struct tsk_filter *f, const char *col)
{
	if (f->order == TSK_ORDER_DESC)
		tsk_sql_printf(q, " ORDER BY %s DESC, device_id, sensor_id", col);
	else if (f->order == TSK_ORDER_ASC)
		tsk_sql_printf(q, " ORDER BY %s, device_id, sensor_id", col);
	if (f->limit >= 0) {
		tsk_sql_printf(q, " LIMIT ");
		tsk_sql_ref(q, tsk_sql_param_ll(q, f->limit), q->settings ? "bigint" : NULL);
	}
	if (f->offset > 0) {
		tsk_sql_printf(q, " OFFSET ");
		tsk_sql_ref(q, tsk_sql_param_ll(q, f->offset), q->settings ? "bigint" : NULL);
	}
}
