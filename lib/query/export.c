#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "query/export.h"
#include "query/run.h"
#include "pg/db.h"
#include "core/jsonl.h"
#include "core/time.h"
#include "core/tsk.h"

static const char *const bucket_cols[] = { "bucket", "device_id", "sensor_id", "avg", "min", "max", "last", "count",
	NULL };
static const char *const raw_cols[] = { "ts", "device_id", "sensor_id", "value", "unit", NULL };

int
tsk_export_layout_parse(const char *s, enum tsk_export_layout *out)
{
	if (s == NULL)
		return TSK_EINVAL;
	if (strcmp(s, "auto") == 0)
		*out = TSK_EXPORT_AUTO;
	else if (strcmp(s, "buckets") == 0 || strcmp(s, "bucket") == 0)
		*out = TSK_EXPORT_BUCKETS;
	else if (strcmp(s, "raw") == 0)
		*out = TSK_EXPORT_RAW;
	else
		return TSK_EINVAL;
	return TSK_OK;
}

const char *
tsk_export_layout_name(enum tsk_export_layout l)
{
	return l == TSK_EXPORT_BUCKETS ? "buckets" : l == TSK_EXPORT_RAW ? "raw" : "auto";
}

const char *const *
tsk_export_columns(enum tsk_export_layout l)
{
	return l == TSK_EXPORT_BUCKETS ? bucket_cols : l == TSK_EXPORT_RAW ? raw_cols : NULL;
}

/* ---- JSON rows ---- */

static const char *
layout_row_name(enum tsk_export_layout l)
{
	return l == TSK_EXPORT_BUCKETS ? "bucket row" : "reading";
}

/* One row, checked and converted, before anything is written: a refused row leaves no partial line. */
struct row {
	enum tsk_export_layout layout;
	int64_t t;                 /* bucket or ts */
	const char *dev, *sen, *unit;
	size_t ndev, nsen, nunit;
	double num[4];             /* avg, min, max, last; or value */
	long long count;
};

static int
get_str(json_t *obj, const char *key, enum tsk_export_layout l, const char **out, size_t *len, char *err,
    size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "%s without \"%s\"", layout_row_name(l), key);
	if (!json_is_string(v) || json_string_length(v) == 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "%s: \"%s\" is not a non-empty string", layout_row_name(l), key);
	*out = json_string_value(v);
	*len = json_string_length(v);
	return TSK_OK;
}

static int
get_time(json_t *obj, const char *key, enum tsk_export_layout l, int64_t *out, char *err, size_t errlen)
{
	const char *s;
	size_t len;
	int rc = get_str(obj, key, l, &s, &len, err, errlen);

	if (rc != TSK_OK)
		return rc;
	if (strlen(s) != len || tsk_time_parse_rfc3339(s, out) != TSK_OK)
		return tsk_seterr(err, errlen, TSK_EINVAL, "%s: \"%s\" is not an RFC 3339 time: \"%.64s\"",
		    layout_row_name(l), key, s);
	return TSK_OK;
}

static int
get_num(json_t *obj, const char *key, enum tsk_export_layout l, double *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "%s without \"%s\"", layout_row_name(l), key);
	if (!json_is_number(v))
		return tsk_seterr(err, errlen, TSK_EINVAL, "%s: \"%s\" is not a number", layout_row_name(l), key);
	*out = json_number_value(v);
	return TSK_OK;
}

static int
get_count(json_t *obj, long long *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, "count");
	double d;

	if (v == NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "bucket row without \"count\"");
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (long long)json_integer_value(v);
		return TSK_OK;
	}
	if (json_is_real(v) && (d = json_real_value(v)) >= 0 && d < 9e18 && d == (double)(long long)d) {
		*out = (long long)d;
		return TSK_OK;
	}
	return tsk_seterr(err, errlen, TSK_EINVAL, "bucket row: \"count\" is not a whole number >= 0");
}

static int
parse_bucket(json_t *obj, struct row *r, char *err, size_t errlen)
{
	const enum tsk_export_layout l = TSK_EXPORT_BUCKETS;
	static const char *const nums[] = { "avg", "min", "max", "last" };

	r->layout = l;
	if (get_time(obj, "bucket", l, &r->t, err, errlen) || get_str(obj, "device_id", l, &r->dev, &r->ndev, err, errlen) ||
	    get_str(obj, "sensor_id", l, &r->sen, &r->nsen, err, errlen))
		return TSK_EINVAL;
	for (int i = 0; i < 4; i++)
		if (get_num(obj, nums[i], l, &r->num[i], err, errlen))
			return TSK_EINVAL;
	return get_count(obj, &r->count, err, errlen);
}

static int
parse_raw(json_t *obj, struct row *r, char *err, size_t errlen)
{
	const enum tsk_export_layout l = TSK_EXPORT_RAW;
	json_t *unit = json_object_get(obj, "unit");

	r->layout = l;
	if (get_time(obj, "ts", l, &r->t, err, errlen) || get_str(obj, "device_id", l, &r->dev, &r->ndev, err, errlen) ||
	    get_str(obj, "sensor_id", l, &r->sen, &r->nsen, err, errlen) || get_num(obj, "value", l, &r->num[0], err, errlen))
		return TSK_EINVAL;
	r->unit = NULL;
	if (unit != NULL && !json_is_null(unit)) {
		if (!json_is_string(unit))
			return tsk_seterr(err, errlen, TSK_EINVAL, "reading: \"unit\" is neither a string nor null");
		r->unit = json_string_value(unit);
		r->nunit = json_string_length(unit);
	}
	return TSK_OK;
}

static int
write_row(struct tsk_csv *w, const struct row *r)
{
	tsk_csv_time(w, r->t);
	tsk_csv_str(w, r->dev, r->ndev);
	tsk_csv_str(w, r->sen, r->nsen);
	if (r->layout == TSK_EXPORT_BUCKETS) {
		for (int i = 0; i < 4; i++)
			tsk_csv_num2(w, r->num[i]);
		tsk_csv_int(w, r->count);
	} else {
		tsk_csv_num2(w, r->num[0]);
		if (r->unit != NULL)
			tsk_csv_str(w, r->unit, r->nunit);
		else
			tsk_csv_empty(w);
	}
	return tsk_csv_end_row(w);
}

/* The layout a row claims by its keys: "bucket" makes a bucket row, "ts" with "value" a reading. */
static enum tsk_export_layout
row_layout(json_t *obj)
{
	if (json_object_get(obj, "bucket") != NULL)
		return TSK_EXPORT_BUCKETS;
	if (json_object_get(obj, "ts") != NULL && json_object_get(obj, "value") != NULL)
		return TSK_EXPORT_RAW;
	return TSK_EXPORT_AUTO;
}

int
tsk_export_json_row(struct tsk_csv *w, enum tsk_export_layout *layout, json_t *obj, char *err, size_t errlen)
{
	enum tsk_export_layout l;
	struct row r;
	int rc;

	if (!json_is_object(obj))
		return tsk_seterr(err, errlen, TSK_EINVAL, "not a JSON object");
	l = row_layout(obj);
	if (l == TSK_EXPORT_AUTO) {
		if (*layout == TSK_EXPORT_AUTO)
			return tsk_seterr(err, errlen, TSK_EINVAL, "neither a bucket row (bucket, device_id, sensor_id, avg, "
			    "min, max, last, count) nor a reading (ts, device_id, sensor_id, value, unit)");
		l = *layout; /* the layout's own checks say what is missing */
	} else if (*layout != TSK_EXPORT_AUTO && l != *layout) {
		return tsk_seterr(err, errlen, TSK_EINVAL, "%s: one export holds one layout",
		    l == TSK_EXPORT_RAW ? "a reading after bucket rows" : "a bucket row after readings");
	}
	rc = l == TSK_EXPORT_BUCKETS ? parse_bucket(obj, &r, err, errlen) : parse_raw(obj, &r, err, errlen);
	if (rc != TSK_OK)
		return rc;
	if (*layout == TSK_EXPORT_AUTO) {
		*layout = l;
		if (tsk_csv_header(w, tsk_export_columns(l)) != TSK_OK)
			return w->status;
	}
	return write_row(w, &r);
}

int
tsk_export_jsonl(FILE *in, struct tsk_csv *w, enum tsk_export_layout *layout, tsk_export_reject_fn reject,
    void *ctx, const volatile sig_atomic_t *stop, struct tsk_export_stats *st, char *err, size_t errlen)
{
	struct tsk_jsonl r;
	char why[TSK_ERRLEN];
	json_t *obj;
	int n, rc = TSK_OK;

	memset(st, 0, sizeof *st);
	tsk_jsonl_init(&r, in);
	r.max = TSK_EXPORT_LINE_MAX; /* a row is a few hundred bytes: a huge line is refused, not read whole */
	if (*layout != TSK_EXPORT_AUTO && tsk_csv_header(w, tsk_export_columns(*layout)) != TSK_OK) {
		rc = tsk_seterr(err, errlen, w->status, "%s", w->err);
		goto out;
	}
	for (;;) {
		if (stop != NULL && *stop) {
			rc = tsk_seterr(err, errlen, TSK_EFAIL, "interrupted");
			goto out;
		}
		errno = 0;
		n = tsk_jsonl_next(&r, &obj, why, sizeof why);
		if (n == 0)
			break;
		st->lines++;
		if (n < 0) {
			st->rejected++;
			/* tsk_jsonl_next puts "line N: " in front; the callback gets the number on its own. */
			const char *p = strstr(why, ": ");
			reject(ctx, r.lineno, p != NULL ? p + 2 : why);
			continue;
		}
		rc = tsk_export_json_row(w, layout, obj, why, sizeof why);
		json_decref(obj);
		if (rc == TSK_EINVAL) {
			st->rejected++;
			reject(ctx, r.lineno, why);
			rc = TSK_OK;
			continue;
		}
		if (rc != TSK_OK) {
			rc = tsk_seterr(err, errlen, rc, "%s", w->err);
			goto out;
		}
		st->rows++;
	}
	if (ferror(in)) {
		if (stop != NULL && *stop)
			rc = tsk_seterr(err, errlen, TSK_EFAIL, "interrupted");
		else
			rc = tsk_seterr(err, errlen, TSK_EFAIL, "read error on input after line %ld: %s", r.lineno,
			    strerror(errno != 0 ? errno : EIO));
	}
out:
	tsk_jsonl_free(&r);
	return rc;
}

/* ---- rows from the database ---- */

struct query_ctx {
	struct tsk_csv *w;
	const volatile sig_atomic_t *stop;
	uint64_t rows;
};

/* Row callbacks: non-zero stops the cursor (a failed writer or a signal). */
static int
on_bucket(void *ctx, const struct tsk_series_bucket *b)
{
	struct query_ctx *q = ctx;

	tsk_csv_time(q->w, b->bucket_us);
	tsk_csv_cstr(q->w, b->device_id);
	tsk_csv_cstr(q->w, b->sensor_id);
	tsk_csv_num2(q->w, b->avg);
	tsk_csv_num2(q->w, b->min);
	tsk_csv_num2(q->w, b->max);
	tsk_csv_num2(q->w, b->last);
	tsk_csv_int(q->w, b->count);
	if (tsk_csv_end_row(q->w) != TSK_OK || (q->stop != NULL && *q->stop))
		return TSK_EFAIL;
	q->rows++;
	return 0;
}

/*
 * Raw readings through COPY (...) TO STDOUT (FORMAT binary) instead of tsk_series_raw()'s cursor.
 * Why: a cursor is fetched in batches, and while the client formats one batch the server waits for the
 * next FETCH, and the other way round: measured at 0.57 of `psql \copy`'s rows per second on two
 * cores. COPY streams: the server keeps producing rows into the socket while the client formats them,
 * and the binary format spares the server the text conversion of floats and times (the client does
 * it, by hand, in lib/query/csv.c). COPY takes no bind parameters, so the filter values still travel as
 * parameters, into transaction-local settings (set_config(..., true)) that the query reads back with
 * current_setting() (tsk_sql settings mode, filter.h): no value is ever spliced into SQL text. The
 * conditions, order and paging come from the same builder as tsk_series_raw()'s (tests/t/42 checks
 * both give the same bytes).
 */
#define PG_EPOCH_US INT64_C(946684800000000) /* 2000-01-01 in Unix microseconds */

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* One binary COPY tuple (5 fields) as a CSV row. TSK_OK, TSK_EFAIL for a malformed message, or the
 * writer's status. */
static int
copy_row(struct tsk_csv *w, const unsigned char *p, size_t len, char *err, size_t errlen)
{
	const unsigned char *end = p + len, *f[5];
	int32_t flen[5];

	if (len < 2 || (int16_t)(p[0] << 8 | p[1]) != 5)
		return tsk_seterr(err, errlen, TSK_EFAIL, "unexpected COPY row from the server");
	p += 2;
	for (int i = 0; i < 5; i++) {
		if (end - p < 4)
			return tsk_seterr(err, errlen, TSK_EFAIL, "truncated COPY row from the server");
		flen[i] = (int32_t)be32(p);
		p += 4;
		f[i] = p;
		if (flen[i] > 0) {
			if (end - p < flen[i])
				return tsk_seterr(err, errlen, TSK_EFAIL, "truncated COPY row from the server");
			p += flen[i];
		}
	}
	if (flen[0] != 8 || flen[1] < 0 || flen[2] < 0 || flen[3] != 8)
		return tsk_seterr(err, errlen, TSK_EFAIL, "unexpected COPY field from the server");
	int64_t ts = (int64_t)be64(f[0]);
	if (ts == INT64_MAX || ts == INT64_MIN)
		tsk_csv_cstr(w, ts > 0 ? "infinity" : "-infinity");
	else
		tsk_csv_time(w, ts + PG_EPOCH_US);
	tsk_csv_str(w, (const char *)f[1], (size_t)flen[1]);
	tsk_csv_str(w, (const char *)f[2], (size_t)flen[2]);
	uint64_t bits = be64(f[3]);
	double v;
	memcpy(&v, &bits, sizeof v);
	tsk_csv_num2(w, v);
	if (flen[4] >= 0)
		tsk_csv_str(w, (const char *)f[4], (size_t)flen[4]);
	else
		tsk_csv_empty(w);
	return tsk_csv_end_row(w);
}

/* Stops a running COPY OUT: cancel it on the server, then read to the end of the stream. */
static void
copy_stop(PGconn *db)
{
	char *row;

	tsk_run_cancel(db);
	while (PQgetCopyData(db, &row, 0) > 0)
		PQfreemem(row);
}

static int
raw_copy(PGconn *db, const char *tenant, const struct tsk_filter *f, struct query_ctx *q, char *err, size_t errlen)
{
	static const char header[] = "PGCOPY\n\377\r\n";
	struct tsk_sql sql;
	struct tsk_buf set = TSK_BUF_INIT;
	int rc, header_seen = 0, own = 0;
	PGresult *res = NULL;

	if ((rc = tsk_filter_check(f, err, errlen)) != TSK_OK)
		return rc;
	if (tenant == NULL || *tenant == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "no tenant given (--tenant SLUG)");
	/* The filter's SQL is tsk_series_raw()'s (filter.h), its values read back from settings. */
	tsk_sql_init(&sql, 1);
	tsk_sql_printf(&sql, "COPY (SELECT ts, device_id, sensor_id, value, unit FROM reading WHERE true");
	tsk_filter_where(&sql, f);
	tsk_filter_order_page(&sql, f, "ts");
	tsk_sql_printf(&sql, ") TO STDOUT (FORMAT binary)");
	if (tsk_sql_failed(&sql) || tsk_sql_settings(&sql, &set) != 0) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}

	/* The tenant's schema, like the filter values, lasts for this transaction only. */
	if ((own = PQtransactionStatus(db) == PQTRANS_IDLE) && (rc = tsk_db_cmd(db, "BEGIN READ ONLY", err, errlen)) != TSK_OK)
		goto out;
	if ((rc = tsk_db_enter_tenant(db, tenant, NULL, err, errlen)) != TSK_OK ||
	    (rc = tsk_db_exec(db, tsk_buf_cstr(&set), sql.n, sql.v, NULL, err, errlen)) != TSK_OK)
		goto rollback;
	res = PQexec(db, tsk_sql_text(&sql));
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		rc = tsk_db_error(db, res, err, errlen);
		goto rollback;
	}
	PQclear(res);
	res = NULL;
	for (;;) {
		char *buf;
		int len = PQgetCopyData(db, &buf, 0);
		if (len < 0)
			break;
		const unsigned char *p = (const unsigned char *)buf;
		size_t left = (size_t)len;
		/* The 19-byte file header (signature, flags, extension length) leads the first message. */
		if (!header_seen) {
			if (left < 19 || memcmp(p, header, 11) != 0) {
				PQfreemem(buf);
				copy_stop(db);
				rc = tsk_seterr(err, errlen, TSK_EFAIL, "not a binary COPY stream");
				goto rollback;
			}
			uint32_t ext = be32(p + 15);
			p += 19;
			left -= 19;
			p += ext <= left ? ext : left;
			left -= ext <= left ? ext : left;
			header_seen = 1;
		}
		/* One tuple per message; the trailer is a field count of -1. */
		if (left == 0 || (left == 2 && p[0] == 0xff && p[1] == 0xff)) {
			PQfreemem(buf);
			continue;
		}
		rc = copy_row(q->w, p, left, err, errlen);
		PQfreemem(buf);
		if (rc == TSK_OK && q->stop != NULL && *q->stop)
			rc = tsk_seterr(err, errlen, TSK_EFAIL, "interrupted");
		if (rc != TSK_OK) {
			if (q->w->status != TSK_OK)
				rc = tsk_seterr(err, errlen, q->w->status, "%s", q->w->err);
			copy_stop(db);
			goto rollback;
		}
		q->rows++;
	}
	res = PQgetResult(db);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = tsk_db_error(db, res, err, errlen);
		goto rollback;
	}
	PQclear(res);
	res = NULL;
	if (own)
		rc = tsk_db_cmd(db, "COMMIT", err, errlen);
	goto out;
rollback:
	/* Drain whatever results are left so the connection is usable, then end the transaction. */
	PQclear(res);
	res = NULL;
	while ((res = PQgetResult(db)) != NULL)
		PQclear(res);
	if (own)
		tsk_db_rollback(db);
out:
	PQclear(res);
	tsk_sql_free(&sql);
	tsk_buf_free(&set);
	return rc;
}

int
tsk_export_query(PGconn *db, const char *tenant, enum tsk_export_layout layout, const struct tsk_filter *f,
    struct tsk_csv *w, const volatile sig_atomic_t *stop, uint64_t *rows, char *err, size_t errlen)
{
	struct query_ctx q = { w, stop, 0 };
	int rc;

	if (layout == TSK_EXPORT_AUTO)
		return tsk_seterr(err, errlen, TSK_EINVAL, "an export query is buckets or raw");
	if (tsk_csv_header(w, tsk_export_columns(layout)) != TSK_OK)
		return tsk_seterr(err, errlen, w->status, "%s", w->err);
	if (layout == TSK_EXPORT_BUCKETS) {
		rc = tsk_series_buckets(db, tenant, f, on_bucket, &q, err, errlen);
	} else {
		rc = raw_copy(db, tenant, f, &q, err, errlen);
	}
	if (rows != NULL)
		*rows = q.rows;
	if (rc == TSK_OK)
		return TSK_OK;
	/* A stop from a callback (or a statement cancelled by the signal handler) says "stopped" or the
	 * server's "canceling statement"; say what really happened. */
	if (w->status != TSK_OK)
		return tsk_seterr(err, errlen, w->status, "%s", w->err);
	if (stop != NULL && *stop)
		return tsk_seterr(err, errlen, TSK_EFAIL, "interrupted");
	return rc;
}

/* ---- destinations ---- */

void
tsk_export_dest_stdout(struct tsk_export_dest *d, const volatile sig_atomic_t *stop)
{
	memset(d, 0, sizeof *d);
	d->kind = TSK_DEST_STDOUT;
	d->fd = STDOUT_FILENO;
	d->stop = stop;
}

int
tsk_export_dest_file(struct tsk_export_dest *d, const char *path, const volatile sig_atomic_t *stop, char *err,
    size_t errlen)
{
	char *dcopy = NULL, *bcopy = NULL;
	struct stat st;
	mode_t mode;
	int rc = TSK_OK;

	memset(d, 0, sizeof *d);
	d->kind = TSK_DEST_FILE;
	d->fd = -1;
	d->stop = stop;
	if (path == NULL || *path == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "empty output file name");
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s: is a directory", path);
		/* A pipe or device is written in place: there is nothing to replace atomically. */
		if (!S_ISREG(st.st_mode))
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s: not a regular file (use > %s instead of -o)", path, path);
		mode = st.st_mode & 07777;
	} else {
		mode_t mask = umask(0);
		umask(mask);
		mode = 0666 & ~mask;
	}
	dcopy = strdup(path);
	bcopy = strdup(path);
	d->path = strdup(path);
	if (dcopy == NULL || bcopy == NULL || d->path == NULL) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}
	const char *dir = dirname(dcopy), *base = basename(bcopy);
	/* The temporary file lives next to the target: rename(2) is atomic only within one file system. */
	if ((d->tmp = malloc(strlen(dir) + strlen(base) + 16)) == NULL) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}
	sprintf(d->tmp, "%s/.%s.XXXXXX", dir, base);
	d->fd = mkostemp(d->tmp, O_CLOEXEC);
	if (d->fd < 0) {
		rc = tsk_seterr(err, errlen, errno == ENOENT || errno == ENOTDIR ? TSK_EINVAL : TSK_EFAIL,
		    "cannot create a file in %s: %s", dir, strerror(errno));
		free(d->tmp);
		d->tmp = NULL;
		goto out;
	}
	if (fchmod(d->fd, mode) != 0) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "%s: %s", d->tmp, strerror(errno));
		goto out;
	}
out:
	free(dcopy);
	free(bcopy);
	return rc;
}

int
tsk_export_dest_s3(struct tsk_export_dest *d, const struct tsk_s3_config *c, const char *url, char *err,
    size_t errlen)
{
	char *bucket = NULL, *key = NULL;
	int rc;

	memset(d, 0, sizeof *d);
	d->kind = TSK_DEST_S3;
	d->fd = -1;
	d->stop = c->cancel;
	if ((rc = tsk_s3_parse_url(url, &bucket, &key, err, errlen)) != TSK_OK)
		return rc;
	if ((d->path = strdup(url)) == NULL)
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	else
		rc = tsk_s3_upload_open(c, bucket, key, &d->s3, err, errlen);
	free(bucket);
	free(key);
	return rc;
}

const char *
tsk_export_dest_name(const struct tsk_export_dest *d)
{
	return d->kind == TSK_DEST_STDOUT ? "standard output" : d->path != NULL ? d->path : "?";
}

static int
write_all(struct tsk_export_dest *d, const char *buf, size_t len, char *err, size_t errlen)
{
	while (len > 0) {
		ssize_t n = write(d->fd, buf, len);
		if (n < 0) {
			if (errno == EINTR && (d->stop == NULL || !*d->stop))
				continue;
			if (errno == EINTR)
				return tsk_seterr(err, errlen, TSK_EFAIL, "interrupted");
			return tsk_seterr(err, errlen, TSK_EFAIL, "write error on %s: %s", tsk_export_dest_name(d),
			    strerror(errno));
		}
		buf += n;
		len -= (size_t)n;
	}
	return TSK_OK;
}

int
tsk_export_dest_write(void *ctx, const char *buf, size_t len, char *err, size_t errlen)
{
	struct tsk_export_dest *d = ctx;
	int rc;

	if (d->kind == TSK_DEST_S3)
		rc = tsk_s3_upload_write(d->s3, buf, len, err, errlen);
	else
		rc = write_all(d, buf, len, err, errlen);
	if (rc == TSK_OK)
		d->bytes += len;
	return rc;
}

int
tsk_export_dest_commit(struct tsk_export_dest *d, char *err, size_t errlen)
{
	char *dcopy;
	int dfd, rc = TSK_OK;

	switch (d->kind) {
	case TSK_DEST_STDOUT:
		return TSK_OK; /* the caller closes stdout and checks that */
	case TSK_DEST_S3:
		return tsk_s3_upload_finish(d->s3, err, errlen);
	case TSK_DEST_FILE:
		break;
	}
	/* Data on disk before the name points at it (close(2): "a successful close does not guarantee that
	 * the data has been successfully saved to disk"); then the rename; then the directory entry. */
	if (fsync(d->fd) != 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "write error on %s: %s", d->path, strerror(errno));
	rc = close(d->fd);
	d->fd = -1;
	if (rc != 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "write error on %s: %s", d->path, strerror(errno));
	if (rename(d->tmp, d->path) != 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "cannot rename %s to %s: %s", d->tmp, d->path, strerror(errno));
	free(d->tmp);
	d->tmp = NULL;
	if ((dcopy = strdup(d->path)) == NULL)
		return TSK_OK;
	dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(dcopy);
	return TSK_OK;
}

int
tsk_export_dest_abort(struct tsk_export_dest *d, char *err, size_t errlen)
{
	int rc = TSK_OK;

	if (d->kind == TSK_DEST_S3 && d->s3 != NULL)
		return tsk_s3_upload_abort(d->s3, err, errlen);
	if (d->kind != TSK_DEST_FILE)
		return TSK_OK;
	if (d->fd >= 0) {
		close(d->fd);
		d->fd = -1;
	}
	if (d->tmp != NULL && unlink(d->tmp) != 0 && errno != ENOENT)
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "cannot remove %s: %s", d->tmp, strerror(errno));
	free(d->tmp);
	d->tmp = NULL;
	return rc;
}

void
tsk_export_dest_free(struct tsk_export_dest *d)
{
	char err[TSK_ERRLEN];

	/* A destination freed without commit is abandoned, never half-published. */
	if (d->kind == TSK_DEST_FILE && d->tmp != NULL)
		tsk_export_dest_abort(d, err, sizeof err);
	if (d->fd >= 0 && d->kind == TSK_DEST_FILE)
		close(d->fd);
	d->fd = -1;
	tsk_s3_upload_free(d->s3);
	d->s3 = NULL;
	free(d->path);
	d->path = NULL;
}
