/*
 * The tenant API's telemetry endpoints (the original system's telemetry API; routes in tsk_api_telemetry_routes,
 * plumbing in api.h), each open to any member of the host's tenant (TSK_CAP_READ; the original let any
 * authenticated user of any tenant read):
 *
 *   GET /api/telemetry/raw/                          the raw message archive (telemetry), 50 a page
 *   GET /api/telemetry/readings/                     readings, 50 a page
 *   GET /api/telemetry/series/                       buckets (tsk_series_buckets: tsk-query's numbers)
 *   GET /api/telemetry/latest/{device_id}/           each sensor's newest reading
 *   GET /api/telemetry/history/{device_id}/          raw or bucketed, auto interval (tsk_series_*)
 *   GET /api/telemetry/device/{device_id}/summary/   status, per-sensor 24 h statistics
 *   GET /api/telemetry/assets/{asset_tag}/history/   an asset's readings, capped, with the
 *                                                    original's truncation envelope
 *
 * Times are rendered as the original renders them: serializer fields (readings' ts and
 * created_at, the archive's timestamp and created_at, series' bucket) in America/Sao_Paulo
 * ("2025-10-18T07:00:00-03:00"); the values its views format with isoformat() in UTC ("+00:00"); the
 * ones it hands to the JSON encoder as they are with "Z". Numbers are written in their shortest form
 * that reads back exactly (core/jsonl.c), so they compare equal to tsk-query's.
 *
 * The reading table has no id column (its key is (device_id, sensor_id, ts)): a reading's "id" is a
 * synthetic, stable 53-bit number derived from that key (READING_ID_SQL), the same for the same reading
 * in every answer, safe as a JavaScript number; not a row counter.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "core/buf.h"
#include "core/jsonl.h"
#include "core/time.h"
#include "core/tsk.h"
#include "http/api.h"
#include "http/api_telemetry.h"
#include "http/http_impl.h"
#include "pg/db.h"
#include "query/filter.h"
#include "query/series.h"

#define SERIES_LIMIT 500
#define SERIES_MAX 5000
#define ASSET_RAW_CAP 10000
#define ASSET_AGG_CAP 2000
#define MAX_SENSORS 64
#define MINUTE (INT64_C(60) * TSK_US_PER_S)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)

/* A reading's synthetic id: its key hashed to 53 bits (see the top of this file). */
#define READING_ID_SQL(a) \
	"(hashtextextended(" a "device_id || chr(31) || " a "sensor_id || chr(31) || (extract(epoch FROM " a "ts) * 1000000)::int8::text," \
	" 0) & 9007199254740991)"
/* A time as microseconds since the epoch, exactly (extract() is numeric). */
#define US_SQL(col) "(extract(epoch FROM " col ") * 1000000)::int8"

/* ---- America/Sao_Paulo ------------------------------------------------------------------------------
 * The original renders serializer times in its TIME_ZONE. The zone's transitions come from the system's
 * tz database (TZif, read once); without it, -03:00 (the zone's offset since 2019, when DST ended). */

#define TZ_MAX 400
static struct {
	int n;
	int64_t at[TZ_MAX];
	int32_t off[TZ_MAX];
	int32_t first;
} sp = { 0, { 0 }, { 0 }, -10800 };
static pthread_once_t sp_once = PTHREAD_ONCE_INIT;

static int32_t
be32(const unsigned char *p)
{
	return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

static void
sp_load(void)
{
	const char *dir = getenv("TZDIR");
	unsigned char buf[16384];
	char path[512];
	FILE *f;
	size_t len;

	snprintf(path, sizeof path, "%s/America/Sao_Paulo", dir != NULL && *dir ? dir : "/usr/share/zoneinfo");
	if ((f = fopen(path, "rb")) == NULL)
		return;
	len = fread(buf, 1, sizeof buf, f);
	fclose(f);
	if (len < 44 || memcmp(buf, "TZif", 4) != 0)
		return;
	/* The version 1 block: counts, then timecnt transition times, their type indexes, the types. */
	int32_t timecnt = be32(buf + 32), typecnt = be32(buf + 36);
	size_t need = 44 + (size_t)timecnt * 5 + (size_t)typecnt * 6;
	if (timecnt < 0 || typecnt <= 0 || timecnt > TZ_MAX || need > len)
		return;
	const unsigned char *times = buf + 44, *idx = times + timecnt * 4, *types = idx + timecnt;
	sp.first = be32(types);
	for (int32_t i = 0; i < timecnt; i++) {
		if (idx[i] >= typecnt)
			return;
		sp.at[i] = (int64_t)be32(times + 4 * i) * TSK_US_PER_S;
		sp.off[i] = be32(types + 6 * idx[i]);
	}
	sp.n = timecnt;
}

/* Seconds east of UTC at us. */
static int32_t
sp_offset(int64_t us)
{
	int lo = 0, hi;

	pthread_once(&sp_once, sp_load);
	hi = sp.n;
	if (hi == 0 || us < sp.at[0])
		return sp.n == 0 ? -10800 : sp.first;
	while (hi - lo > 1) {
		int mid = (lo + hi) / 2;
		if (sp.at[mid] <= us)
			lo = mid;
		else
			hi = mid;
	}
	return sp.off[lo];
}

enum iso { ISO_SP, ISO_UTC, ISO_Z };

/* Python's isoformat(): microseconds only when not zero; ISO_SP with the zone's offset, ISO_UTC with
 * "+00:00", ISO_Z with "Z". */
#define ISO_LEN 80

static char *
iso_str(int64_t us, enum iso mode, char *buf)
{
	int32_t off = mode == ISO_SP ? sp_offset(us) : 0;
	int64_t l = us + (int64_t)off * TSK_US_PER_S;
	int64_t secs = l / TSK_US_PER_S - (l % TSK_US_PER_S < 0);
	int64_t micro = l - secs * TSK_US_PER_S;
	int64_t days = secs / 86400 - (secs % 86400 < 0);
	int64_t sod = secs - days * 86400;
	int y, m, d, n;

	tsk_time_civil(days, &y, &m, &d);
	n = snprintf(buf, ISO_LEN, "%04d-%02d-%02dT%02d:%02d:%02d", y, m, d, (int)(sod / 3600), (int)(sod / 60 % 60),
	    (int)(sod % 60));
	if (micro != 0)
		n += snprintf(buf + n, ISO_LEN - (size_t)n, ".%06d", (int)micro);
	if (mode == ISO_Z) {
		snprintf(buf + n, ISO_LEN - (size_t)n, "Z");
	} else {
		int32_t a = off < 0 ? -off : off;
		n += snprintf(buf + n, ISO_LEN - (size_t)n, "%c%02d:%02d", off < 0 ? '-' : '+', (int)(a / 3600),
		    (int)(a / 60 % 60));
		if (a % 60 != 0)
			snprintf(buf + n, ISO_LEN - (size_t)n, ":%02d", (int)(a % 60));
	}
	return buf;
}

static json_t *
iso(int64_t us, enum iso mode)
{
	char buf[ISO_LEN];

	return json_string(iso_str(us, mode, buf));
}

/* ---- arguments ------------------------------------------------------------------------------------ */

/* A query argument; an empty one is no argument (as the original's views and filters treat it). */
static const char *
arg(struct tsk_api_ctx *c, const char *name)
{
	const char *v = tsk_api_arg(c, name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* Python's int(): optional spaces around an optional sign and decimal digits. */
static int
parse_int(const char *s, long long *out)
{
	char *end;

	errno = 0;
	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)s[*s == '-' || *s == '+']))
		return -1;
	*out = strtoll(s, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	return errno != 0 || *end != '\0' ? -1 : 0;
}

static int
parse_num(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return end == s || *end != '\0' || errno != 0 || !isfinite(*out) ? -1 : 0;
}

/* 1 when an ISO time carries no offset (a date alone, or no Z/+hh:mm/-hh:mm after the date). */
static int
naive(const char *s)
{
	return strlen(s) <= 10 || strpbrk(s + 10, "Zz+-") == NULL;
}

/*
 * An ISO 8601 time from a query argument (tsk_time_parse_rfc3339's forms). An unescaped '+' of an
 * offset arrives as a space ("10:00:00 03:00"), as a form decoder reads it: taken as the '+' it was.
 * sp_naive: a time without an offset is Sao Paulo's wall clock (the asset history's rule), else UTC.
 */
static int
parse_time(const char *s, int sp_naive, int64_t *us)
{
	char b[64];
	size_t n = strlen(s);

	if (n >= sizeof b)
		return -1;
	memcpy(b, s, n + 1);
	if (n > 16 && b[n - 6] == ' ' && isdigit((unsigned char)b[n - 5]) && isdigit((unsigned char)b[n - 4]) &&
	    b[n - 3] == ':' && isdigit((unsigned char)b[n - 2]) && isdigit((unsigned char)b[n - 1]))
		b[n - 6] = '+';
	if (tsk_time_parse_rfc3339(b, us) != TSK_OK)
		return -1;
	if (sp_naive && naive(b)) {
		int64_t wall = *us;
		int32_t off = sp_offset(wall + 3 * HOUR); /* a first guess at the instant, then its own offset */
		off = sp_offset(wall - (int64_t)off * TSK_US_PER_S);
		*us = wall - (int64_t)off * TSK_US_PER_S;
	}
	return 0;
}

/* ?format=: 0 JSON, 1 CSV, or -1 after answering 400. */
static int
want_csv(struct tsk_api_ctx *c)
{
	const char *f = arg(c, "format");

	if (f == NULL || strcmp(f, "json") == 0)
		return 0;
	if (strcmp(f, "csv") == 0)
		return 1;
	tsk_api_detail(c, 400, "Invalid format. Must be one of: json, csv");
	return -1;
}

/* ---- answers -------------------------------------------------------------------------------------- */

/* 200 with body, its numbers in shortest round-trip form (core/jsonl.c; jansson would write 17 digits).
 * Takes the reference. */
static void
reply(struct tsk_api_ctx *c, int status, json_t *body)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (body == NULL) {
		tsk_api_detail(c, 500, "out of memory");
		return;
	}
	if ((f = open_memstream(&text, &len)) == NULL || tsk_jsonl_write(f, body) != 0 || fclose(f) != 0) {
		json_decref(body);
		free(text);
		tsk_api_detail(c, 500, "out of memory");
		return;
	}
	json_decref(body);
	if (len > 0 && text[len - 1] == '\n')
		text[--len] = '\0';
	c->out->status = status;
	c->out->content_type = "application/json";
	c->out->body = text;
	c->out->len = len;
}

/* tsk_api_page_reply, its numbers rewritten in the shortest form (it writes with jansson: 17 digits). */
static void
page_reply(struct tsk_api_ctx *c, int64_t count, json_t *rows)
{
	json_t *body;

	tsk_api_page_reply(c, count, rows);
	if (c->out->status != 200 || c->out->body == NULL)
		return;
	if ((body = json_loadb(c->out->body, c->out->len, 0, NULL)) == NULL)
		return;
	free(c->out->body);
	c->out->body = NULL;
	reply(c, 200, body);
}

/* A library or database failure: 400 for bad input, 404 for a tenant gone meanwhile, else 503. */
static void
failed(struct tsk_api_ctx *c, int rc, const char *what, const char *err)
{
	if (rc == TSK_EINVAL)
		tsk_api_detail(c, 400, err);
	else if (rc == TSK_ENOTFOUND)
		tsk_api_detail(c, 404, "Not found.");
	else
		tsk_api_db_error(c, what, err);
}

/* The tenant's read-only transaction on the worker's connection. */
static int
enter(struct tsk_api_ctx *c, char *err, size_t errlen)
{
	int rc;

	if ((rc = tsk_db_cmd(c->db, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_enter_tenant(c->db, c->who.tenant, NULL, err, errlen)) != TSK_OK)
		tsk_db_rollback(c->db);
	return rc;
}

static int
leave(struct tsk_api_ctx *c, int rc, char *err, size_t errlen)
{
	if (rc == TSK_OK)
		return tsk_db_commit(c->db, err, errlen);
	tsk_db_rollback(c->db);
	return rc;
}

static int64_t
col_i8(const PGresult *r, int i, int col)
{
	return strtoll(PQgetvalue(r, i, col), NULL, 10);
}

static json_t *
col_num(const PGresult *r, int i, int col)
{
	return PQgetisnull(r, i, col) ? json_null() : json_real(strtod(PQgetvalue(r, i, col), NULL));
}

static json_t *
col_str(const PGresult *r, int i, int col)
{
	return PQgetisnull(r, i, col) ? json_null() : json_string(PQgetvalue(r, i, col));
}

static json_t *
col_json(const PGresult *r, int i, int col)
{
	json_t *v = PQgetisnull(r, i, col) ? NULL : json_loads(PQgetvalue(r, i, col), JSON_DECODE_ANY, NULL);

	return v != NULL ? v : json_null();
}

/* A reading as the original's ReadingSerializer writes it. Columns: id, device_id, sensor_id, value,
 * labels, ts (us), created_at (us). */
#define READING_COLS(a) READING_ID_SQL(a) ", " a "device_id, " a "sensor_id, " a "value, " a "labels::text, " \
	US_SQL(a "ts") ", " US_SQL(a "ingested_at")

static json_t *
reading_row(const PGresult *r, int i)
{
	return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t)col_i8(r, i, 0), "device_id",
	    col_str(r, i, 1), "sensor_id", col_str(r, i, 2), "value", col_num(r, i, 3), "labels", col_json(r, i, 4),
	    "ts", iso(col_i8(r, i, 5), ISO_SP), "created_at", iso(col_i8(r, i, 6), ISO_SP));
}

/* ---- GET /api/telemetry/series/ ----------------------------------------------------------- */

/* A JSON string: '"', '\\' and control characters escaped (the text is UTF-8 already: PostgreSQL's). */
static void
put_jstr(struct tsk_buf *b, const char *s)
{
	tsk_buf_add(b, "\"", 1);
	for (const char *p = s; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;
		size_t run = strcspn(p, "\"\\\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14"
		    "\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f");
		if (run > 0) {
			tsk_buf_add(b, p, run);
			p += run - 1;
		} else if (ch == '"' || ch == '\\') {
			tsk_buf_printf(b, "\\%c", ch);
		} else {
			tsk_buf_printf(b, "\\u%04x", ch);
		}
	}
	tsk_buf_add(b, "\"", 1);
}

/* series' rows, written straight into the answer's text: the answer of a dashboard's every refresh,
 * where building a jansson tree and dumping it cost more than the query. */
static int
series_row(void *ctx, const struct tsk_series_bucket *r)
{
	struct tsk_buf *b = ctx;
	char t[ISO_LEN], n[4][32];

	tsk_buf_puts(b, b->len > 1 ? ",{\"bucket\":\"" : "{\"bucket\":\"");
	tsk_buf_puts(b, iso_str(r->bucket_us, ISO_SP, t));
	tsk_buf_puts(b, "\",\"device_id\":");
	put_jstr(b, r->device_id);
	tsk_buf_puts(b, ",\"sensor_id\":");
	put_jstr(b, r->sensor_id);
	tsk_buf_printf(b, ",\"avg_value\":%s,\"min_value\":%s,\"max_value\":%s,\"last_value\":%s,\"count\":%lld}",
	    tsk_fmt_double(r->avg, n[0]), tsk_fmt_double(r->min, n[1]), tsk_fmt_double(r->max, n[2]),
	    tsk_fmt_double(r->last, n[3]), r->count);
	return tsk_buf_failed(b) ? TSK_EFAIL : 0;
}

/* The bucket sizes the series and history endpoints take (the original's 1m, 5m, 1h, and 15m, 1d). */
static int
bucket_size(const char *s, int64_t *us)
{
	static const struct { const char *name; int64_t us; } sizes[] = {
		{ "1m", MINUTE }, { "5m", 5 * MINUTE }, { "15m", 15 * MINUTE }, { "1h", HOUR }, { "1d", DAY },
	};

	for (size_t i = 0; s != NULL && i < sizeof sizes / sizeof sizes[0]; i++)
		if (strcmp(s, sizes[i].name) == 0) {
			*us = sizes[i].us;
			return 0;
		}
	return -1;
}

static void
series(struct tsk_api_ctx *c)
{
	const char *dev = arg(c, "device_id"), *sen = arg(c, "sensor_id"), *from = arg(c, "from"), *to = arg(c, "to");
	const char *lim = arg(c, "limit"), *off = arg(c, "offset");
	struct tsk_filter f;
	long long limit = SERIES_LIMIT, offset = 0;
	char err[TSK_ERRLEN];
	struct tsk_buf rows = TSK_BUF_INIT;
	int csv, rc;

	tsk_filter_init(&f);
	if ((csv = want_csv(c)) < 0)
		return;
	if (bucket_size(tsk_api_arg(c, "bucket"), &f.bucket_us) != 0) {
		tsk_api_detail(c, 400, "Invalid bucket. Must be one of: 1m, 5m, 15m, 1h, 1d");
		return;
	}
	if ((lim != NULL && (parse_int(lim, &limit) != 0 || limit < 0)) ||
	    (off != NULL && (parse_int(off, &offset) != 0 || offset < 0))) {
		tsk_api_detail(c, 400, "Invalid limit or offset parameter");
		return;
	}
	if ((from != NULL && parse_time(from, 0, &f.from_us) != 0) || (to != NULL && parse_time(to, 0, &f.to_us) != 0)) {
		tsk_api_detail(c, 400, "Invalid from or to parameter: use ISO 8601 (2025-10-17T10:30:00Z)");
		return;
	}
	f.has_from = from != NULL;
	f.has_to = to != NULL;
	if ((dev != NULL && tsk_filter_set(&f, "device", dev, 0, err, sizeof err) != TSK_OK) ||
	    (sen != NULL && tsk_filter_set(&f, "sensor", sen, 0, err, sizeof err) != TSK_OK)) {
		tsk_filter_free(&f);
		tsk_api_detail(c, 500, "out of memory");
		return;
	}
	f.order = TSK_ORDER_DESC;
	f.offset = offset;
	/* JSON: at most SERIES_MAX rows (the original's min(limit, 5000)); CSV streams every row unless a
	 * limit is asked for. */
	f.limit = csv ? (lim != NULL ? limit : -1) : (limit < SERIES_MAX ? limit : SERIES_MAX);
	if (f.has_from && f.has_to && f.from_us > f.to_us)
		f.limit = 0; /* an empty range: no rows (the library would call it an error) */
	if (f.limit == 0)
		f.has_from = f.has_to = 0;
	if (csv) {
		tsk_api_telemetry_csv(c, TSK_API_CSV_BUCKETS, &f, NULL, "series.csv");
		tsk_filter_free(&f);
		return;
	}
	tsk_buf_add(&rows, "[", 1);
	rc = f.limit == 0 ? TSK_OK : tsk_series_buckets(c->db, c->who.tenant, &f, series_row, &rows, err, sizeof err);
	tsk_filter_free(&f);
	tsk_buf_add(&rows, "]", 1);
	if (rc == TSK_OK && tsk_buf_cstr(&rows) == NULL)
		rc = tsk_seterr(err, sizeof err, TSK_EFAIL, "out of memory");
	if (rc != TSK_OK) {
		tsk_buf_free(&rows);
		failed(c, rc, "series", err);
		return;
	}
	c->out->status = 200;
	c->out->content_type = "application/json";
	c->out->len = rows.len;
	c->out->body = tsk_buf_take(&rows);
}

/* ---- GET /api/telemetry/history/{device_id}/ ---------------------------------------------- */

static int
history_bucket(void *ctx, const struct tsk_series_bucket *b)
{
	return json_array_append_new(ctx, json_pack("{s:o, s:s, s:f, s:f, s:f, s:f, s:I}", "bucket",
	    iso(b->bucket_us, ISO_Z), "sensor_id", b->sensor_id, "avg_value", b->avg, "min_value", b->min, "max_value",
	    b->max, "last_value", b->last, "count", (json_int_t)b->count)) == 0 ? 0 : TSK_EFAIL;
}

static int
history_raw(void *ctx, const struct tsk_series_reading *r)
{
	return json_array_append_new(ctx, json_pack("{s:o, s:s, s:f}", "ts", iso(r->ts_us, ISO_Z), "sensor_id",
	    r->sensor_id, "value", r->value)) == 0 ? 0 : TSK_EFAIL;
}

/* The sensor_id arguments that are not empty: how many. */
static size_t
sensor_args(struct tsk_api_ctx *c, const char **out)
{
	const char *all[MAX_SENSORS];
	size_t n = tsk_api_args(c, "sensor_id", all, MAX_SENSORS), k = 0;

	for (size_t i = 0; i < n; i++)
		if (all[i][0] != '\0')
			out[k++] = all[i];
	return k;
}

static void
history(struct tsk_api_ctx *c)
{
	const char *from = arg(c, "from"), *to = arg(c, "to"), *lim = arg(c, "limit"), *iv = arg(c, "interval");
	const char *sensors[MAX_SENSORS];
	size_t nsensors = sensor_args(c, sensors);
	struct tsk_filter f;
	long long limit = SERIES_LIMIT;
	char err[TSK_ERRLEN];
	json_t *data, *ids;
	int csv, rc, raw;

	tsk_filter_init(&f);
	if ((csv = want_csv(c)) < 0)
		return;
	f.to_us = tsk_now_us();
	if ((from != NULL && parse_time(from, 0, &f.from_us) != 0) || (to != NULL && parse_time(to, 0, &f.to_us) != 0)) {
		tsk_api_detail(c, 400, "Invalid date format: use ISO 8601 (2025-10-17T10:30:00Z)");
		return;
	}
	if (from == NULL)
		f.from_us = f.to_us - DAY;
	f.has_from = f.has_to = 1;
	if (f.from_us >= f.to_us) {
		tsk_api_detail(c, 400, "Invalid time range: from must be before to");
		return;
	}
	if (lim != NULL && (parse_int(lim, &limit) != 0 || limit < 0)) {
		tsk_api_detail(c, 400, "Invalid limit parameter");
		return;
	}
	if (iv == NULL || strcmp(iv, "auto") == 0) {
		int64_t span = f.to_us - f.from_us;
		/* exactly one hour is still raw (the asset history's rule differs, see there) */
		iv = span <= HOUR ? "raw" : span <= 6 * HOUR ? "1m" : span <= DAY ? "5m" : "1h";
	}
	raw = strcmp(iv, "raw") == 0;
	if (!raw && bucket_size(iv, &f.bucket_us) != 0) {
		tsk_api_detail(c, 400, "Invalid interval. Must be one of: raw, 1m, 5m, 15m, 1h, 1d, auto");
		return;
	}
	if (tsk_filter_set(&f, "device", c->arg[0], 0, err, sizeof err) != TSK_OK) {
		tsk_api_detail(c, 500, "out of memory");
		return;
	}
	for (size_t i = 0; i < nsensors; i++)
		if (tsk_filter_set(&f, "sensor", sensors[i], 0, err, sizeof err) != TSK_OK) {
			tsk_filter_free(&f);
			tsk_api_detail(c, 500, "out of memory");
			return;
		}
	f.order = TSK_ORDER_ASC;
	f.no_labels = 1;
	f.limit = csv && lim == NULL ? -1 : limit < SERIES_MAX ? limit : csv ? limit : SERIES_MAX;
	if (csv) {
		tsk_api_telemetry_csv(c, raw ? TSK_API_CSV_READINGS : TSK_API_CSV_BUCKETS, &f, NULL, "history.csv");
		tsk_filter_free(&f);
		return;
	}
	data = json_array();
	if (data == NULL)
		rc = tsk_seterr(err, sizeof err, TSK_EFAIL, "out of memory");
	else if (f.limit == 0)
		rc = TSK_OK;
	else if (raw)
		rc = tsk_series_raw(c->db, c->who.tenant, &f, history_raw, data, err, sizeof err);
	else
		rc = tsk_series_buckets(c->db, c->who.tenant, &f, history_bucket, data, err, sizeof err);
	if (rc != TSK_OK) {
		tsk_filter_free(&f);
		json_decref(data);
		failed(c, rc, "history", err);
		return;
	}
	ids = nsensors > 0 ? json_array() : json_null();
	for (size_t i = 0; i < nsensors; i++)
		json_array_append_new(ids, json_string(sensors[i]));
	reply(c, 200, json_pack("{s:s, s:o, s:s, s:o, s:o, s:I, s:o}", "device_id", c->arg[0], "sensor_ids", ids,
	    "interval", iv, "from", iso(f.from_us, ISO_UTC), "to", iso(f.to_us, ISO_UTC), "count",
	    (json_int_t)json_array_size(data), "data", data));
	tsk_filter_free(&f);
}

/* ---- GET /api/telemetry/latest/{device_id}/[?sensor_id=] ---------------------------------- */

/* Each sensor's newest reading: a loose index scan over the device's sensors (one jump per sensor_id
 * through the unique key), then the newest row of each. */
#define LATEST_SQL \
	"WITH RECURSIVE s AS ((SELECT sensor_id FROM reading WHERE device_id = $1 AND ($2::text IS NULL OR sensor_id = $2)" \
	" ORDER BY sensor_id LIMIT 1)" \
	" UNION ALL SELECT (SELECT r.sensor_id FROM reading r WHERE r.device_id = $1 AND r.sensor_id > s.sensor_id" \
	" AND ($2::text IS NULL OR r.sensor_id = $2) ORDER BY r.sensor_id LIMIT 1) FROM s WHERE s.sensor_id IS NOT NULL)" \
	" SELECT " READING_COLS("l.") " FROM s CROSS JOIN LATERAL (SELECT * FROM reading r WHERE r.device_id = $1" \
	" AND r.sensor_id = s.sensor_id ORDER BY ts DESC LIMIT 1) l WHERE s.sensor_id IS NOT NULL ORDER BY s.sensor_id"

static void
latest(struct tsk_api_ctx *c)
{
	const char *p[] = { c->arg[0], arg(c, "sensor_id") };
	char err[TSK_ERRLEN];
	PGresult *res = NULL;
	json_t *readings;
	int64_t newest = INT64_MIN;
	int rc, n;

	if ((rc = enter(c, err, sizeof err)) == TSK_OK)
		rc = tsk_db_exec(c->db, LATEST_SQL, 2, p, &res, err, sizeof err);
	if ((rc = leave(c, rc, err, sizeof err)) != TSK_OK) {
		PQclear(res);
		failed(c, rc, "latest", err);
		return;
	}
	if ((n = PQntuples(res)) == 0) {
		PQclear(res);
		tsk_api_detail(c, 404, "No readings found for this device");
		return;
	}
	readings = json_array();
	for (int i = 0; i < n; i++) {
		json_array_append_new(readings, reading_row(res, i));
		if (col_i8(res, i, 5) > newest)
			newest = col_i8(res, i, 5);
	}
	PQclear(res);
	reply(c, 200, json_pack("{s:s, s:o, s:i, s:o}", "device_id", c->arg[0], "timestamp", iso(newest, ISO_UTC),
	    "count", n, "readings", readings));
}

/* ---- GET /api/telemetry/device/{device_id}/summary/ ---------------------------------------- */

#define ONLINE_US (5 * MINUTE)

/* Per sensor: newest reading (ts, value, type and unit from its labels) and the 24 h window's stats. */
#define SUMMARY_SQL \
	"WITH RECURSIVE s AS ((SELECT sensor_id FROM reading WHERE device_id = $1 ORDER BY sensor_id LIMIT 1)" \
	" UNION ALL SELECT (SELECT r.sensor_id FROM reading r WHERE r.device_id = $1 AND r.sensor_id > s.sensor_id" \
	" ORDER BY r.sensor_id LIMIT 1) FROM s WHERE s.sensor_id IS NOT NULL)" \
	" SELECT s.sensor_id, " US_SQL("l.ts") ", l.value, coalesce(l.labels->>'type', 'unknown')," \
	" coalesce(l.labels->>'unit', l.unit, ''), d.n, d.avg, d.min, d.max, d.sd, " US_SQL("d.first") ", " US_SQL("d.last") \
	" FROM s CROSS JOIN LATERAL (SELECT ts, value, labels, unit FROM reading r WHERE r.device_id = $1" \
	" AND r.sensor_id = s.sensor_id ORDER BY ts DESC LIMIT 1) l" \
	" CROSS JOIN LATERAL (SELECT count(*) AS n, avg(value) AS avg, min(value) AS min, max(value) AS max," \
	" stddev_samp(value) AS sd, min(ts) AS first, max(ts) AS last FROM reading r WHERE r.device_id = $1" \
	" AND r.sensor_id = s.sensor_id AND r.ts >= $2::timestamptz - interval '24 hours' AND r.ts <= $2::timestamptz) d" \
	" WHERE s.sensor_id IS NOT NULL ORDER BY s.sensor_id"

static double
round2(double x)
{
	return round(x * 100.0) / 100.0;
}

static void
summary(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN], nows[TSK_TIME_STRLEN];
	int64_t now = tsk_now_us(), newest = INT64_MIN, first = INT64_MAX, last = INT64_MIN;
	long long total = 0;
	int online = 0, active = 0, rc, n;
	PGresult *res = NULL;
	json_t *sensors, *stats;

	tsk_sql_time_literal(now, nows);
	const char *p[] = { c->arg[0], nows };
	if ((rc = enter(c, err, sizeof err)) == TSK_OK)
		rc = tsk_db_exec(c->db, SUMMARY_SQL, 2, p, &res, err, sizeof err);
	if ((rc = leave(c, rc, err, sizeof err)) != TSK_OK) {
		PQclear(res);
		failed(c, rc, "summary", err);
		return;
	}
	if ((n = PQntuples(res)) == 0) {
		PQclear(res);
		tsk_api_detail(c, 404, "Device not found or no readings");
		return;
	}
	sensors = json_array();
	for (int i = 0; i < n; i++) {
		int64_t ts = col_i8(res, i, 1);
		long long cnt = col_i8(res, i, 5);
		int on = ts >= now - ONLINE_US;

		online += on;
		if (ts > newest)
			newest = ts;
		if (cnt > 0) {
			active++;
			total += cnt;
			if (col_i8(res, i, 10) < first)
				first = col_i8(res, i, 10);
			if (col_i8(res, i, 11) > last)
				last = col_i8(res, i, 11);
			stats = json_pack("{s:o, s:o, s:o, s:o, s:I}", "avg", col_num(res, i, 6), "min", col_num(res, i, 7), "max",
			    col_num(res, i, 8), "stddev", col_num(res, i, 9), "count", (json_int_t)cnt);
		} else {
			stats = json_pack("{s:n, s:n, s:n, s:n, s:I}", "avg", "min", "max", "stddev", "count", (json_int_t)0);
		}
		json_array_append_new(sensors, json_pack("{s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:o}", "sensor_id",
		    col_str(res, i, 0), "sensor_name", col_str(res, i, 0), "sensor_type", col_str(res, i, 3), "unit",
		    col_str(res, i, 4), "is_online", on, "last_value", col_num(res, i, 2), "last_reading_at", iso(ts, ISO_UTC),
		    "statistics_24h", stats));
	}
	PQclear(res);
	/* (newest - oldest) / count over the window, as the original computes it */
	json_t *interval, *interval_s;
	if (total > 0) {
		double secs = (double)(last - first) / 1e6 / (double)total;
		char buf[32];
		snprintf(buf, sizeof buf, "%llds", (long long)secs);
		interval = json_string(buf);
		interval_s = json_real(round2(secs));
	} else {
		interval = json_string("N/A");
		interval_s = json_null();
	}
	reply(c, 200, json_pack("{s:s, s:s, s:o, s:o, s:{s:I, s:i, s:o, s:o, s:f, s:i, s:i}}", "device_id", c->arg[0],
	    "status", newest >= now - ONLINE_US ? "ONLINE" : "OFFLINE", "last_seen", iso(newest, ISO_UTC), "sensors",
	    sensors, "statistics", "total_readings_24h", (json_int_t)total, "sensor_count", active > 0 ? active : n,
	    "avg_interval", interval, "avg_interval_seconds", interval_s, "avg_readings_per_hour",
	    round2((double)total / 24.0), "sensors_total", n, "sensors_online", online));
}

/*
 * One page of a list endpoint: the count and the page's rows from one snapshot (cnt and sel built with
 * the same conditions; both freed here). A row function turns each row into JSON; then the page
 * envelope. Answers the failure itself.
 */
static void
page_query(struct tsk_api_ctx *c, struct tsk_sql *cnt, struct tsk_sql *sel, json_t *(*row)(const PGresult *, int),
    const char *what)
{
	PGresult *cres = NULL, *res = NULL;
	char err[TSK_ERRLEN];
	json_t *rows;
	int rc;

	if (tsk_sql_failed(cnt) || tsk_sql_failed(sel))
		rc = tsk_seterr(err, sizeof err, TSK_EFAIL, "out of memory");
	else if ((rc = enter(c, err, sizeof err)) == TSK_OK) {
		if ((rc = tsk_db_exec(c->db, tsk_sql_text(cnt), cnt->n, cnt->v, &cres, err, sizeof err)) == TSK_OK)
			rc = tsk_db_exec(c->db, tsk_sql_text(sel), sel->n, sel->v, &res, err, sizeof err);
		rc = leave(c, rc, err, sizeof err);
	}
	tsk_sql_free(cnt);
	tsk_sql_free(sel);
	if (rc != TSK_OK) {
		PQclear(cres);
		PQclear(res);
		failed(c, rc, what, err);
		return;
	}
	rows = json_array();
	for (int i = 0; i < PQntuples(res); i++)
		json_array_append_new(rows, row(res, i));
	int64_t count = col_i8(cres, 0, 0);
	PQclear(cres);
	PQclear(res);
	page_reply(c, count, rows);
}

/* ---- GET /api/telemetry/readings/ --------------------------------------------------------- */

/* A field error in the original's words (django-filter, pt-BR), collected in errs. */
static void
field_error(json_t *errs, const char *field, const char *msg)
{
	json_object_set_new(errs, field, json_pack("[s]", msg));
}

/* Parses the filters shared by readings' JSON and CSV answers into f and x; 0, or -1 after a 400. */
static int
readings_filter(struct tsk_api_ctx *c, struct tsk_filter *f, struct tsk_api_csv_extra *x)
{
	const char *dev = arg(c, "device_id"), *sen = arg(c, "sensor_id"), *from = arg(c, "ts_from"), *to = arg(c, "ts_to");
	const char *vmin = arg(c, "value_min"), *vmax = arg(c, "value_max");
	json_t *errs = json_object();
	char err[TSK_ERRLEN];

	memset(x, 0, sizeof *x);
	if (from != NULL && parse_time(from, 0, &f->from_us) != 0)
		field_error(errs, "ts_from", "Informe uma data/hora válida.");
	if (to != NULL && parse_time(to, 0, &f->to_us) != 0)
		field_error(errs, "ts_to", "Informe uma data/hora válida.");
	if (vmin != NULL && parse_num(vmin, &x->vmin) != 0)
		field_error(errs, "value_min", "Informe um número.");
	if (vmax != NULL && parse_num(vmax, &x->vmax) != 0)
		field_error(errs, "value_max", "Informe um número.");
	if (json_object_size(errs) > 0) {
		tsk_api_json(c, 400, errs);
		return -1;
	}
	json_decref(errs);
	f->has_from = from != NULL;
	f->has_to = to != NULL;
	x->has_vmin = vmin != NULL;
	x->has_vmax = vmax != NULL;
	if ((dev != NULL && tsk_filter_set(f, "device", dev, 0, err, sizeof err) != TSK_OK) ||
	    (sen != NULL && tsk_filter_set(f, "sensor", sen, 0, err, sizeof err) != TSK_OK)) {
		tsk_api_detail(c, 500, "out of memory");
		return -1;
	}
	f->order = TSK_ORDER_DESC;
	return 0;
}

static void
readings(struct tsk_api_ctx *c)
{
	struct tsk_filter f;
	struct tsk_api_csv_extra x;
	struct tsk_sql cnt, sel;
	int64_t offset;
	int csv;

	tsk_filter_init(&f);
	if ((csv = want_csv(c)) < 0 || readings_filter(c, &f, &x) != 0) {
		tsk_filter_free(&f);
		return;
	}
	if (csv) {
		f.no_labels = 1;
		tsk_api_telemetry_csv(c, TSK_API_CSV_READINGS, &f, &x, "readings.csv");
		tsk_filter_free(&f);
		return;
	}
	if (!tsk_api_page(c, &offset)) {
		tsk_filter_free(&f);
		return;
	}
	/* The count and the page from one snapshot, with the same conditions. */
	tsk_sql_init(&cnt, 0);
	tsk_sql_init(&sel, 0);
	for (int k = 0; k < 2; k++) {
		struct tsk_sql *s = k == 0 ? &cnt : &sel;
		tsk_sql_printf(s, k == 0 ? "SELECT count(*) FROM reading WHERE true" : "SELECT " READING_COLS("") " FROM reading WHERE true");
		tsk_filter_where(s, &f);
		if (x.has_vmin)
			tsk_sql_printf(s, " AND value >= $%d::float8", tsk_sql_param(s, arg(c, "value_min")));
		if (x.has_vmax)
			tsk_sql_printf(s, " AND value <= $%d::float8", tsk_sql_param(s, arg(c, "value_max")));
	}
	tsk_sql_printf(&sel, " ORDER BY ts DESC, device_id, sensor_id LIMIT %d OFFSET $%d", TSK_API_PAGE_SIZE,
	    tsk_sql_param_ll(&sel, (long long)offset));
	tsk_filter_free(&f);
	page_query(c, &cnt, &sel, reading_row, "readings");
}

/* ---- GET /api/telemetry/raw/ -------------------------------------------------------------- */

#define TELEMETRY_COLS "id, device_id, topic, payload::text, " US_SQL("\"timestamp\"") ", " US_SQL("created_at")

static json_t *
message_row(const PGresult *r, int i)
{
	return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t)col_i8(r, i, 0), "device_id", col_str(r, i, 1),
	    "topic", col_str(r, i, 2), "payload", col_json(r, i, 3), "timestamp", iso(col_i8(r, i, 4), ISO_SP), "created_at",
	    iso(col_i8(r, i, 5), ISO_SP));
}

static void
raw(struct tsk_api_ctx *c)
{
	const char *dev = arg(c, "device_id"), *topic = arg(c, "topic"), *from = arg(c, "timestamp_from");
	const char *to = arg(c, "timestamp_to");
	struct tsk_filter f;
	struct tsk_api_csv_extra x;
	struct tsk_sql cnt, sel;
	json_t *errs;
	char err[TSK_ERRLEN];
	int64_t offset;
	int csv;

	tsk_filter_init(&f);
	if ((csv = want_csv(c)) < 0)
		return;
	errs = json_object();
	if (from != NULL && parse_time(from, 0, &f.from_us) != 0)
		field_error(errs, "timestamp_from", "Informe uma data/hora válida.");
	if (to != NULL && parse_time(to, 0, &f.to_us) != 0)
		field_error(errs, "timestamp_to", "Informe uma data/hora válida.");
	if (json_object_size(errs) > 0) {
		tsk_api_json(c, 400, errs);
		return;
	}
	json_decref(errs);
	f.has_from = from != NULL;
	f.has_to = to != NULL;
	if (csv) {
		memset(&x, 0, sizeof x);
		x.topic = topic;
		if (dev != NULL && tsk_filter_set(&f, "device", dev, 0, err, sizeof err) != TSK_OK) {
			tsk_api_detail(c, 500, "out of memory");
			return;
		}
		tsk_api_telemetry_csv(c, TSK_API_CSV_TELEMETRY, &f, &x, "raw.csv");
		tsk_filter_free(&f);
		return;
	}
	if (!tsk_api_page(c, &offset))
		return;
	tsk_sql_init(&cnt, 0);
	tsk_sql_init(&sel, 0);
	for (int k = 0; k < 2; k++) {
		struct tsk_sql *s = k == 0 ? &cnt : &sel;
		tsk_sql_printf(s, k == 0 ? "SELECT count(*) FROM telemetry WHERE true" : "SELECT " TELEMETRY_COLS " FROM telemetry WHERE true");
		if (dev != NULL)
			tsk_sql_printf(s, " AND device_id = $%d", tsk_sql_param(s, dev));
		if (topic != NULL)
			tsk_sql_printf(s, " AND strpos(lower(topic), lower($%d)) > 0", tsk_sql_param(s, topic));
		if (f.has_from)
			tsk_sql_printf(s, " AND \"timestamp\" >= $%d", tsk_sql_param_time(s, f.from_us));
		if (f.has_to)
			tsk_sql_printf(s, " AND \"timestamp\" <= $%d", tsk_sql_param_time(s, f.to_us));
	}
	tsk_sql_printf(&sel, " ORDER BY \"timestamp\" DESC, id DESC LIMIT %d OFFSET $%d", TSK_API_PAGE_SIZE,
	    tsk_sql_param_ll(&sel, (long long)offset));
	page_query(c, &cnt, &sel, message_row, "raw");
}

/* ---- GET /api/telemetry/assets/{asset_tag}/history/ ---------------------------------------- */

static void
asset_error(struct tsk_api_ctx *c, const char *msg, const char *value)
{
	char buf[300];

	snprintf(buf, sizeof buf, "%s%.200s", msg, value != NULL ? value : "");
	tsk_api_json(c, 400, json_pack("{s:s}", "error", buf));
}

static void
asset_history(struct tsk_api_ctx *c)
{
	const char *from = arg(c, "from"), *to = arg(c, "to"), *iv = arg(c, "interval");
	const char *sensors[MAX_SENSORS];
	size_t nsensors = sensor_args(c, sensors);
	int64_t from_us, to_us = tsk_now_us(), bucket = 0;
	char err[TSK_ERRLEN], ivs[48];
	struct tsk_sql s;
	PGresult *res = NULL;
	json_t *data;
	int rc, raw, cap, n;

	if (from != NULL && parse_time(from, 1, &from_us) != 0) {
		asset_error(c, "Invalid timestamp format: ", from);
		return;
	}
	if (to != NULL && parse_time(to, 1, &to_us) != 0) {
		asset_error(c, "Invalid timestamp format: ", to);
		return;
	}
	if (from == NULL)
		from_us = to_us - DAY;
	if (from_us > to_us) {
		asset_error(c, "Invalid time range: from must be before to", NULL);
		return;
	}
	if (iv == NULL || strcmp(iv, "auto") == 0) {
		int64_t span = to_us - from_us;
		/* under one hour is raw (history/ says "at most an hour") */
		iv = span < HOUR ? "raw" : span <= 6 * HOUR ? "1m" : span <= DAY ? "5m" : "1h";
	}
	raw = strcmp(iv, "raw") == 0;
	if (!raw && bucket_size(iv, &bucket) != 0)
		bucket = 5 * MINUTE; /* the original buckets an unknown interval at 5 minutes */
	cap = raw ? ASSET_RAW_CAP : ASSET_AGG_CAP;

	tsk_sql_init(&s, 0);
	if (raw) {
		tsk_sql_printf(&s, "SELECT sensor_id, " US_SQL("ts") ", value FROM reading WHERE asset_tag = $%d",
		    tsk_sql_param(&s, c->arg[0]));
	} else {
		snprintf(ivs, sizeof ivs, "%" PRId64 " microseconds", bucket);
		tsk_sql_printf(&s, "SELECT sensor_id, " US_SQL("b") ", avg, min, max, n FROM (SELECT sensor_id,"
		    " date_bin($%d::interval, ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS b, avg(value) AS avg, min(value) AS min,"
		    " max(value) AS max, count(*) AS n FROM reading WHERE asset_tag = $%d", tsk_sql_param(&s, ivs),
		    tsk_sql_param(&s, c->arg[0]));
	}
	tsk_sql_printf(&s, " AND ts >= $%d AND ts <= $%d", tsk_sql_param_time(&s, from_us), tsk_sql_param_time(&s, to_us));
	if (nsensors > 0) {
		tsk_sql_printf(&s, " AND sensor_id = ANY($%d::text[])", tsk_sql_param_array(&s, sensors, nsensors));
	}
	if (raw)
		tsk_sql_printf(&s, " ORDER BY sensor_id, ts LIMIT %d", cap);
	else
		tsk_sql_printf(&s, " GROUP BY 1, 2) g ORDER BY sensor_id, b LIMIT %d", cap);
	if (tsk_sql_failed(&s)) {
		tsk_sql_free(&s);
		tsk_api_detail(c, 500, "out of memory");
		return;
	}
	if ((rc = enter(c, err, sizeof err)) == TSK_OK)
		rc = tsk_db_exec(c->db, tsk_sql_text(&s), s.n, s.v, &res, err, sizeof err);
	rc = leave(c, rc, err, sizeof err);
	tsk_sql_free(&s);
	if (rc != TSK_OK) {
		PQclear(res);
		failed(c, rc, "asset history", err);
		return;
	}
	data = json_array();
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		if (raw)
			json_array_append_new(data, json_pack("{s:o, s:o, s:o}", "sensor_id", col_str(res, i, 0), "ts",
			    iso(col_i8(res, i, 1), ISO_UTC), "value", col_num(res, i, 2)));
		else
			json_array_append_new(data, json_pack("{s:o, s:o, s:o, s:o, s:o, s:I}", "sensor_id", col_str(res, i, 0),
			    "ts", iso(col_i8(res, i, 1), ISO_UTC), "avg_value", col_num(res, i, 2), "min_value", col_num(res, i, 3),
			    "max_value", col_num(res, i, 4), "count", (json_int_t)col_i8(res, i, 5)));
	}
	PQclear(res);
	/* The original selects up to the cap and calls a full answer truncated (it cannot tell more from
	 * exactly the cap), with only the data and the warning. */
	if (n >= cap) {
		reply(c, 200, json_pack("{s:o, s:s, s:b, s:i}", "data", data, "warning", raw ?
		    "Result truncated to 10000 readings. Use aggregation intervals (1m, 5m, 15m, 1h) for larger time ranges." :
		    "Result truncated to 2000 buckets. Use coarser intervals (15m, 1h) for larger time ranges.",
		    "truncated", 1, "limit", cap));
		return;
	}
	reply(c, 200, json_pack("{s:s, s:o, s:o, s:s, s:i, s:o}", "asset_tag", c->arg[0], "from", iso(from_us, ISO_UTC),
	    "to", iso(to_us, ISO_UTC), "interval", iv, "count", n, "data", data));
}

const struct tsk_api_route tsk_api_telemetry_routes[] = {
	{ .method = "GET", .pattern = "/api/telemetry/raw/", .cap = TSK_CAP_READ, .fn = raw, .hosts = TSK_API_TENANT },
	{ .method = "GET", .pattern = "/api/telemetry/readings/", .cap = TSK_CAP_READ, .fn = readings, .hosts = TSK_API_TENANT },
	{ .method = "GET", .pattern = "/api/telemetry/series/", .cap = TSK_CAP_READ, .fn = series, .hosts = TSK_API_TENANT },
	{ .method = "GET", .pattern = "/api/telemetry/latest/{}/", .cap = TSK_CAP_READ, .fn = latest, .hosts = TSK_API_TENANT },
	{ .method = "GET", .pattern = "/api/telemetry/history/{}/", .cap = TSK_CAP_READ, .fn = history, .hosts = TSK_API_TENANT },
	{ .method = "GET", .pattern = "/api/telemetry/device/{}/summary/", .cap = TSK_CAP_READ, .fn = summary, .hosts = TSK_API_TENANT },
	{ .method = "GET", .pattern = "/api/telemetry/assets/{}/history/", .cap = TSK_CAP_READ, .fn = asset_history, .hosts = TSK_API_TENANT },
	{ .method = NULL },
};
