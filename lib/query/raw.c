/*
 * Raw readings (streamed through a cursor or in single-row mode), their statistics, and the small
 * answers built on them: latest, history, summary, sensors. See series.h for the semantics.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/time.h"
#include "core/tsk.h"
#include "pg/db.h"
#include "query/run.h"
#include "query/series.h"
#include "registry/settings.h"
#include "registry/tenant.h"

/* ---- raw rows and their statistics ---- */

struct raw_ctx {
	tsk_series_reading_fn fn;
	void *ctx;
};

static int
raw_row(void *ctx, const PGresult *r, int i)
{
	struct raw_ctx *c = ctx;
	struct tsk_series_reading x;

	x.ts_us = tsk_run_ts(r, i, 0);
	x.device_id = PQgetvalue(r, i, 1);
	x.sensor_id = PQgetvalue(r, i, 2);
	x.value = tsk_run_f8(r, i, 3);
	x.unit = tsk_run_text(r, i, 4);
	x.labels = tsk_run_text(r, i, 5);
	x.site = tsk_run_text(r, i, 6);
	x.asset_tag = tsk_run_text(r, i, 7);
	return c->fn(c->ctx, &x);
}

int
tsk_series_raw(PGconn *db, const char *tenant, const struct tsk_filter *f, tsk_series_reading_fn fn,
    void *ctx, char *err, size_t errlen)
{
	struct tsk_sql s;
	struct raw_ctx c = { fn, ctx };
	int rc, own;

	if ((rc = tsk_filter_check(f, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_run_begin(db, tenant, "BEGIN READ ONLY", &own, err, errlen)) != TSK_OK)
		return rc;
	tsk_sql_init(&s, 0);
	tsk_sql_printf(&s, "SELECT ts, device_id, sensor_id, value, unit, %s, site, asset_tag FROM reading WHERE true",
	    f->no_labels ? "NULL::text" : "labels::text");
	tsk_filter_where(&s, f);
	tsk_filter_order_page(&s, f, "ts");
	if (tsk_sql_failed(&s)) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto cleanup;
	}
	/* A bounded answer in one round trip; an unbounded one through a cursor, a batch at a time. */
	if (f->limit >= 0 && f->limit + f->offset <= FETCH_ROWS)
		rc = tsk_run_rows(db, tsk_sql_text(&s), &s, raw_row, &c, err, errlen);
	else
		rc = tsk_run_cursor(db, tsk_sql_text(&s), &s, raw_row, &c, err, errlen);
cleanup:
	rc = tsk_run_end(db, own, rc, err, errlen);
	tsk_sql_free(&s);
	return rc;
}

int
tsk_series_stats(PGconn *db, const char *tenant, const struct tsk_filter *f, struct tsk_series_stats *out,
    char *err, size_t errlen)
{
	struct tsk_sql s;
	PGresult *res = NULL;
	int rc, own;

	memset(out, 0, sizeof *out);
	if ((rc = tsk_filter_check(f, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_run_begin(db, tenant, "BEGIN READ ONLY", &own, err, errlen)) != TSK_OK)
		return rc;
	/* The average is the exact decimal sum over the count, as in the rollups and `buckets`. */
	tsk_sql_init(&s, 0);
	tsk_sql_printf(&s, "SELECT count(*)::bigint, " AVG_SQL("sum(value::text::numeric)", "count(*)") ", min(value),"
	    " max(value), min(ts), max(ts) FROM reading WHERE true");
	tsk_filter_where(&s, f);
	if (tsk_sql_failed(&s)) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto cleanup;
	}
	if ((rc = tsk_run_exec_bin(db, tsk_sql_text(&s), &s, &res, err, errlen)) != TSK_OK)
		goto cleanup;
	out->count = tsk_run_i8(res, 0, 0);
	if (out->count > 0) {
		out->avg = tsk_run_f8(res, 0, 1);
		out->min = tsk_run_f8(res, 0, 2);
		out->max = tsk_run_f8(res, 0, 3);
		out->first_us = tsk_run_ts(res, 0, 4);
		out->last_us = tsk_run_ts(res, 0, 5);
	}
cleanup:
	rc = tsk_run_end(db, own, rc, err, errlen);
	PQclear(res);
	tsk_sql_free(&s);
	return rc;
}

/* ---- JSON forms ---- */

json_t *
tsk_series_reading_json(const struct tsk_series_reading *r)
{
	json_t *labels = r->labels != NULL ? json_loads(r->labels, 0, NULL) : NULL;

	return json_pack("{s:o, s:s, s:s, s:f, s:s?, s:o, s:s?, s:s?}", "ts", tsk_run_jtime(r->ts_us), "device_id",
	    r->device_id, "sensor_id", r->sensor_id, "value", r->value, "unit", r->unit, "labels",
	    labels != NULL ? labels : json_object(), "site", r->site, "asset_tag", r->asset_tag);
}

json_t *
tsk_series_stats_json(const struct tsk_series_stats *s)
{
	if (s->count == 0)
		return json_pack("{s:I, s:n, s:n, s:n, s:n, s:n}", "count", (json_int_t)0, "avg", "min", "max",
		    "first_ts", "last_ts");
	return json_pack("{s:I, s:f, s:f, s:f, s:o, s:o}", "count", (json_int_t)s->count, "avg", s->avg, "min",
	    s->min, "max", s->max, "first_ts", tsk_run_jtime(s->first_us), "last_ts", tsk_run_jtime(s->last_us));
}

/* ---- latest, history, summary, sensors ---- */

/* The tenant's offline_after setting in microseconds (its default when unset), read as every tool
 * reads settings (registry/settings.h). */
static int
offline_after(PGconn *db, const char *tenant, int64_t *us, char *err, size_t errlen)
{
	json_t *settings = NULL;
	int rc;

	if ((rc = tsk_tenant_settings(db, tenant, &settings, err, errlen)) != TSK_OK)
		return rc;
	rc = tsk_setting_duration(settings, tenant, "offline_after", us, err, errlen);
	json_decref(settings);
	return rc;
}

/* The read-only transaction of latest, summary and sensors, with what the online rule needs as query
 * parameters: offline_after as an interval (offs, 32 bytes) and the tool's now (nows,
 * TSK_TIME_STRLEN bytes). On failure nothing is left open. */
static int
begin_online(PGconn *db, const char *tenant, int64_t now_us, char *offs, char *nows, int *own, char *err,
    size_t errlen)
{
	int64_t off;
	int rc;

	if ((rc = tsk_run_begin(db, tenant, "BEGIN READ ONLY", own, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = offline_after(db, tenant, &off, err, errlen)) != TSK_OK)
		return tsk_run_end(db, *own, rc, err, errlen);
	snprintf(offs, 32, "%" PRId64 " microseconds", off);
	tsk_sql_time_literal(now_us, nows);
	return TSK_OK;
}

/*
 * The one online rule (tsk-query(1), ONLINE): a sensor is online when its last reading arrived within the
 * tenant's offline_after (default 1h) before now; a device is online when one of its sensors is. The
 * arrival is the catalog's last_seen (the time the ingest sink wrote the reading: a device with a wrong
 * clock that keeps sending stays online); a sensor without it (a catalog row without last_seen, or no
 * catalog row: readings loaded by other means) falls back to its newest reading's ts. `c` is the
 * sensor row, `fallback` the newest ts (or NULL), $now and $off the parameters holding now and
 * offline_after.
 */
#define ONLINE_SQL(c, fallback, now, off) \
	"coalesce(coalesce(" c ".last_seen, " c ".last_ts, " fallback ") > " now "::timestamptz - " off "::interval, false)"

/* Sensors of one device, from the unique index without reading every row: a loose index scan that
 * jumps from one sensor_id to the next. */
#define DEVICE_SENSORS_SQL \
	"WITH RECURSIVE s AS ((SELECT sensor_id FROM reading WHERE device_id = $1 ORDER BY sensor_id LIMIT 1)" \
	" UNION ALL SELECT (SELECT r.sensor_id FROM reading r WHERE r.device_id = $1 AND r.sensor_id > s.sensor_id" \
	" ORDER BY r.sensor_id LIMIT 1) FROM s WHERE s.sensor_id IS NOT NULL)"

static void fix_times(json_t *arr, const char *const *keys);

int
tsk_series_latest(PGconn *db, const char *tenant, const char *device, int64_t now_us, json_t **out, char *err,
    size_t errlen)
{
	static const char *const tkeys[] = { "ts", NULL };
	char offs[32], nows[TSK_TIME_STRLEN];
	int rc, own;

	if (device == NULL || *device == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "latest needs a device (--device ID)");
	if ((rc = begin_online(db, tenant, now_us, offs, nows, &own, err, errlen)) != TSK_OK)
		return rc;
	const char *p[] = { device, offs, nows };
	rc = tsk_db_json_rows(db,
	    DEVICE_SENSORS_SQL
	    " SELECT json_build_object('device_id', $1::text, 'sensor_id', s.sensor_id,"
	    " 'ts', to_char(l.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'value', l.value,"
	    " 'unit', l.unit, 'online', " ONLINE_SQL("c", "l.ts", "$3", "$2") ")::text"
	    " FROM s CROSS JOIN LATERAL (SELECT ts, value, unit FROM reading r WHERE r.device_id = $1"
	    " AND r.sensor_id = s.sensor_id ORDER BY ts DESC LIMIT 1) l"
	    " LEFT JOIN sensor c ON c.device_id = $1 AND c.sensor_id = s.sensor_id WHERE s.sensor_id IS NOT NULL"
	    " ORDER BY s.sensor_id",
	    3, p, out, err, errlen);
	rc = tsk_run_end(db, own, rc, err, errlen);
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
				json_object_set_new(row, *k, tsk_run_jtime(us));
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
	    tsk_run_jtime(b->bucket_us), "device_id", b->device_id, "sensor_id", b->sensor_id, "value", b->avg, "min", b->min,
	    "max", b->max, "count", (json_int_t)b->count, "interval", h->interval)) == 0 ? 0 : TSK_EFAIL;
}

static int
history_raw(void *ctx, const struct tsk_series_reading *r)
{
	struct history_ctx *h = ctx;

	return json_array_append_new(h->rows, json_pack("{s:o, s:s, s:s, s:f, s:f, s:f, s:I, s:s}", "ts",
	    tsk_run_jtime(r->ts_us), "device_id", r->device_id, "sensor_id", r->sensor_id, "value", r->value, "min", r->value,
	    "max", r->value, "count", (json_int_t)1, "interval", h->interval)) == 0 ? 0 : TSK_EFAIL;
}

int
tsk_series_history(PGconn *db, const char *tenant, const struct tsk_filter *f, const char *interval,
    int64_t now_us, json_t **out, char *chosen, char *err, size_t errlen)
{
	struct tsk_filter h = *f;
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
	if ((rc = tsk_filter_check(&h, err, errlen)) != TSK_OK)
		return rc;
	if (strcmp(iv, "auto") == 0) {
		int64_t span = h.to_us - h.from_us;
		iv = span <= HOUR_US ? "raw" : span <= 6 * HOUR_US ? "1m" : span <= DAY_US ? "5m" : "1h";
	}
	if (strcmp(iv, "raw") != 0 && (rc = tsk_series_bucket_parse(iv, &h.bucket_us, err, errlen)) != TSK_OK)
		return tsk_seterr(err, errlen, TSK_EINVAL, "unknown interval \"%s\": auto, raw, 1m, 5m, 1h or any Nm, Nh, Nd",
		    iv);
	h.order = TSK_ORDER_ASC;
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
	int64_t last = INT64_MIN;
	size_t i;
	json_t *row;
	int rc, own, online = 0;

	if (device == NULL || *device == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "summary needs a device (--device ID)");
	if ((rc = begin_online(db, tenant, now_us, offs, nows, &own, err, errlen)) != TSK_OK)
		return rc;
	const char *p[] = { device, nows, offs };
	rc = tsk_db_json_rows(db,
	    DEVICE_SENSORS_SQL
	    " SELECT json_build_object('sensor_id', s.sensor_id, 'unit', l.unit, 'last_value', l.value,"
	    " 'last_ts', to_char(l.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
	    " 'online', " ONLINE_SQL("c", "l.ts", "$2", "$3") ", 'count_24h', d.n, 'avg_24h', d.avg,"
	    " 'min_24h', d.min, 'max_24h', d.max)::text"
	    " FROM s CROSS JOIN LATERAL (SELECT ts, value, unit FROM reading r WHERE r.device_id = $1"
	    " AND r.sensor_id = s.sensor_id ORDER BY ts DESC LIMIT 1) l"
	    " CROSS JOIN LATERAL (SELECT count(*) AS n, " AVG_SQL("sum(value::text::numeric)", "count(*)") " AS avg,"
	    " min(value) AS min, max(value) AS max FROM reading r WHERE r.device_id = $1 AND r.sensor_id = s.sensor_id"
	    " AND r.ts > $2::timestamptz - interval '24 hours' AND r.ts <= $2::timestamptz) d"
	    " LEFT JOIN sensor c ON c.device_id = $1 AND c.sensor_id = s.sensor_id"
	    " WHERE s.sensor_id IS NOT NULL ORDER BY s.sensor_id",
	    3, p, &sensors, err, errlen);
	rc = tsk_run_end(db, own, rc, err, errlen);
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
		online |= json_is_true(json_object_get(row, "online"));
	}
	/* The one rule (ONLINE_SQL): the device is online when one of its sensors is. */
	*out = json_pack("{s:s, s:b, s:o, s:o}", "device_id", device, "online", online,
	    "last_seen", tsk_run_jtime(last), "sensors", sensors);
	return *out != NULL ? TSK_OK : tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
}

int
tsk_series_sensors(PGconn *db, const char *tenant, const char *device, int64_t now_us, json_t **out, char *err,
    size_t errlen)
{
	static const char *const tkeys[] = { "last_seen", "last_ts", NULL };
	char nows[TSK_TIME_STRLEN], offs[32];
	int rc, own;

	if ((rc = begin_online(db, tenant, now_us, offs, nows, &own, err, errlen)) != TSK_OK)
		return rc;
	const char *p[] = { nows, offs, device };
	/* The one online rule (ONLINE_SQL); every sensor listed here has a catalog row. */
	rc = tsk_db_json_rows(db,
	    "SELECT json_build_object('device_id', device_id, 'sensor_id', sensor_id, 'unit', unit, 'type', type,"
	    " 'last_seen', to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
	    " 'last_ts', to_char(last_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
	    " 'last_value', last_value,"
	    " 'online', " ONLINE_SQL("sensor", "NULL", "$1", "$2") ")::text"
	    " FROM sensor WHERE $3::text IS NULL OR device_id = $3 ORDER BY device_id, sensor_id",
	    3, p, out, err, errlen);
	rc = tsk_run_end(db, own, rc, err, errlen);
	if (rc == TSK_OK)
		fix_times(*out, tkeys);
	return rc;
}
