/*
 * Series: bucketed and raw queries over a tenant's readings, and the rollups behind them.
 *
 * Buckets are aligned with date_bin() and the origin 2000-01-01T00:00:00Z: a 1h bucket starts on the
 * hour, a 1d bucket at midnight UTC, a 15m bucket at :00/:15/:30/:45, and an odd size like 7m at
 * multiples of 7 minutes since that origin. Per (bucket, device_id, sensor_id) a row carries avg, min,
 * max, last (the value at the greatest ts; two readings of one sensor cannot share a ts because of the
 * unique key, so there is no tie to break) and count. `buckets` reads the rollups reading_1m (for Nm
 * sizes) and reading_1h (for Nh and Nd sizes) for whole buckets and the raw rows for the rest (partial
 * buckets at the --from/--to edges and the tail the last refresh has not covered), so its numbers are
 * exactly those of a date_bin aggregation over the raw rows restricted to from <= ts <= to.
 *
 * Streaming functions call a row callback and keep constant memory; a callback returning non-zero
 * stops the query, and that value is returned as is (err then says "stopped"). Strings handed to a
 * callback are valid only during the call.
 *
 * All functions take the tenant's slug and run in a transaction of their own (or in the caller's, when
 * one is open) that enters the tenant's schema with a transaction-local search_path: nothing of the
 * tenant stays on the connection after that transaction, so a pooled connection can serve another
 * tenant next. They return TSK_ENOTFOUND ("unknown tenant ...") when there is no such tenant;
 * otherwise TSK_OK, TSK_EINVAL for a filter that fails tsk_filter_check() (filter.h), TSK_ETEMP
 * (database unavailable) or TSK_EFAIL.
 *
 * The code: filter.c (filters and their SQL), buckets.c (bucket sizes, the bucket query), raw.c (raw
 * rows, stats, latest, history, summary, sensors), refresh.c (rollup refresh and watermark), run.c
 * (the tenant's transaction, cursors, single-row mode).
 */
#ifndef TSK_SERIES_H
#define TSK_SERIES_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "query/filter.h"

/* "1m" → 60 s ... in microseconds. TSK_OK or TSK_EINVAL (err says what is accepted). */
int tsk_series_bucket_parse(const char *s, int64_t *us, char *err, size_t errlen);
/* The start of the bucket holding ts (date_bin with origin 2000-01-01T00:00:00Z). */
int64_t tsk_series_bucket_start(int64_t ts_us, int64_t bucket_us);

/* One bucket row. */
struct tsk_series_bucket {
	int64_t bucket_us; /* the bucket's start */
	const char *device_id, *sensor_id;
	double avg, min, max, last;
	long long count;
};
typedef int (*tsk_series_bucket_fn)(void *ctx, const struct tsk_series_bucket *row);

/* Bucket rows matching f (f->bucket_us must be set), ordered by bucket (f->order; ties by device_id,
 * sensor_id ascending), after f->offset, at most f->limit. Streams. Outside a transaction block it runs
 * as one read-only REPEATABLE READ transaction in two round trips (libpq pipeline mode). */
int tsk_series_buckets(PGconn *db, const char *tenant, const struct tsk_filter *f,
    tsk_series_bucket_fn fn, void *ctx, char *err, size_t errlen);

/* One raw reading. */
struct tsk_series_reading {
	int64_t ts_us;
	const char *device_id, *sensor_id;
	double value;
	const char *unit;   /* NULL when the reading has none */
	const char *labels; /* JSON object text; NULL when f->no_labels */
	const char *site, *asset_tag; /* NULL when the reading has none */
};
typedef int (*tsk_series_reading_fn)(void *ctx, const struct tsk_series_reading *row);

/* Raw readings matching f (bucket ignored), ordered by ts (f->order; ties by device_id, sensor_id),
 * after f->offset, at most f->limit. Streams in constant memory, whatever the number of rows. */
int tsk_series_raw(PGconn *db, const char *tenant, const struct tsk_filter *f,
    tsk_series_reading_fn fn, void *ctx, char *err, size_t errlen);

/* Statistics over every raw reading matching f (limit/offset ignored). count 0 leaves the rest 0. */
struct tsk_series_stats {
	long long count;
	double avg, min, max;
	int64_t first_us, last_us; /* ts of the oldest and newest reading */
};
int tsk_series_stats(PGconn *db, const char *tenant, const struct tsk_filter *f,
    struct tsk_series_stats *out, char *err, size_t errlen);

/* JSON forms (new references), as tsk-query prints them: timestamps RFC 3339 UTC with Z, numbers
 * that read back exactly. bucket: {bucket, device_id, sensor_id, avg, min, max, last, count};
 * reading: {ts, device_id, sensor_id, value, unit, labels}; stats: {count, avg, min, max, first_ts,
 * last_ts} (nulls when count is 0). */
json_t *tsk_series_bucket_json(const struct tsk_series_bucket *b);
json_t *tsk_series_reading_json(const struct tsk_series_reading *r);
json_t *tsk_series_stats_json(const struct tsk_series_stats *s);

/*
 * Small answers, returned as JSON arrays (new references):
 * The online rule, the same in all three: a sensor is online when its last reading arrived (the catalog's
 * last_seen; without one, its newest reading's ts) within the tenant's offline_after setting (default
 * 1h) before now_us; a device is online when one of its sensors is.
 * latest:  one row per sensor of the device: {device_id, sensor_id, ts, value, unit, online}.
 * history: interval "auto" (span <= 1h raw, <= 6h 1m, <= 24h 5m, else 1h), "raw", or a bucket size;
 *          f's from/to default to the last 24 h; rows {ts, device_id, sensor_id, value, min, max, count,
 *          interval} with value = avg for buckets (min = max = value, count = 1 for raw), oldest first.
 *          *chosen (may be NULL) receives the interval actually used ("raw", "1m", ...; 8 bytes).
 * summary: one object {device_id, online (one of its sensors is), last_seen, sensors: [{sensor_id,
 *          unit, last_value, last_ts, online, count_24h, avg_24h, min_24h, max_24h}]}; TSK_ENOTFOUND for
 *          an unknown device.
 * sensors: the catalog {device_id, sensor_id, unit, type, last_seen, last_ts, last_value, online}, online
 *          derived at read time; device may be NULL.
 */
int tsk_series_latest(PGconn *db, const char *tenant, const char *device, int64_t now_us, json_t **out,
    char *err, size_t errlen);
int tsk_series_history(PGconn *db, const char *tenant, const struct tsk_filter *f, const char *interval,
    int64_t now_us, json_t **out, char *chosen, char *err, size_t errlen);
int tsk_series_summary(PGconn *db, const char *tenant, const char *device, int64_t now_us, json_t **out,
    char *err, size_t errlen);
int tsk_series_sensors(PGconn *db, const char *tenant, const char *device, int64_t now_us, json_t **out,
    char *err, size_t errlen);

/*
 * Rollups. tsk_series_refresh() brings reading_1m and reading_1h of one tenant up to date with the rows
 * ingested since its watermark: a bucket those rows touch that has no rollup row yet gets their aggregate
 * (nothing older can be in it), one that has a row is recomputed from all its raw rows (late data and
 * duplicates are exact); then the hours that contain them. Safe to run concurrently with itself (it locks the tenant's rollup_state
 * row; a second caller waits, then finds little left) and with ingest: the watermark stays
 * rollup_state.lag (1 minute) behind the clock and before the start of the oldest open transaction, so
 * a row committed late is never skipped. tenant NULL refreshes every tenant in turn.
 */
struct tsk_series_refresh_result {
	int tenants;           /* tenants refreshed */
	long long rows;        /* raw rows newly seen since the previous watermark */
	long long buckets_1m;  /* 1m buckets recomputed */
	long long buckets_1h;  /* 1h buckets recomputed */
	int64_t watermark_us;  /* the new watermark (the last tenant's, when refreshing all) */
};
int tsk_series_refresh(PGconn *db, const char *tenant, struct tsk_series_refresh_result *out, char *err,
    size_t errlen);

#endif
