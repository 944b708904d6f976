/*
 * Query filters, and the one place they become SQL: a WHERE clause, an ORDER BY and a LIMIT/OFFSET
 * whose values all travel as parameters. The series queries (series.h) and the export (export.h) build
 * their statements here, so a filter means the same thing in every command.
 */
#ifndef TSK_FILTER_H
#define TSK_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Row order: newest first is the contract's default. ANY leaves it to the database (fastest; for bulk
 * export). */
enum tsk_order { TSK_ORDER_DESC = 0, TSK_ORDER_ASC = 1, TSK_ORDER_ANY = 2 };

/* Filters shared by every query. Initialize with tsk_filter_init(), fill with tsk_filter_set() (strings,
 * validated, as users type them: one call per command-line option) or directly, and release with
 * tsk_filter_free() (it frees the id arrays, not the strings they point to). */
struct tsk_filter {
	const char **devices; /* device_id = any of these; none means all devices */
	size_t ndevices;
	const char **sensors; /* sensor_id = any of these; none means all sensors */
	size_t nsensors;
	const char **sites;   /* the reading's site = any of these; none means any site (or none) */
	size_t nsites;
	const char **assets;  /* the reading's asset_tag = any of these; none means any */
	size_t nassets;
	int has_from, has_to;
	int64_t from_us, to_us;  /* inclusive bounds on ts, microseconds since the epoch, UTC */
	int64_t bucket_us;       /* bucket size for tsk_series_buckets(); 0 = not set (error there) */
	long long limit;         /* -1 = no limit */
	long long offset;        /* >= 0 */
	enum tsk_order order;
	int no_labels;           /* raw rows: skip labels (row.labels is then NULL); faster for export */
};

void tsk_filter_init(struct tsk_filter *f);
void tsk_filter_free(struct tsk_filter *f);

/*
 * Sets one filter from user text, validating it (TSK_EINVAL with a one-line reason naming the value):
 *   "device", "sensor"  append one id (repeatable; non-empty)
 *   "site", "asset"     append one site or asset tag (repeatable; non-empty)
 *   "from", "to"        RFC 3339, relative ("-24h") or epoch, against `now_us`
 *   "bucket"            1m 5m 15m 1h 1d, any Nm Nh Nd (N >= 1; at most 366d)
 *   "limit", "offset"   a decimal integer >= 0
 *   "order"             "asc", "desc" or "any"
 * The strings for "device"/"sensor"/"site"/"asset" are not copied: they must outlive the filter (argv does).
 */
int tsk_filter_set(struct tsk_filter *f, const char *key, const char *value, int64_t now_us, char *err,
    size_t errlen);
/* Cross-field checks: --from after --to, negative limit or offset, a bucket not in whole minutes.
 * TSK_OK or TSK_EINVAL. */
int tsk_filter_check(const struct tsk_filter *f, char *err, size_t errlen);

/*
 * A statement being built: its text (a struct tsk_buf) and its parameters (copied here). Errors are
 * sticky, as in tsk_buf: build, then check tsk_sql_failed() once.
 *
 * With `settings` set, a parameter is not written as $n but read back with
 * current_setting('tsk_filter.pN'), for statements that take no bind parameters (COPY): the values go
 * in first, as parameters of tsk_sql_settings()' statement (set_config(..., true), local to the
 * transaction), so no value is ever spliced into SQL text either way.
 */
#define TSK_SQL_MAXPARAMS 24

struct tsk_sql {
	struct tsk_buf text;
	int n;                               /* parameters */
	const char *v[TSK_SQL_MAXPARAMS];    /* their values (NULL is SQL NULL), for PQexecParams */
	char *own[TSK_SQL_MAXPARAMS];
	int settings;
	int failed;                          /* out of memory, or too many parameters */
};

void tsk_sql_init(struct tsk_sql *q, int settings);
void tsk_sql_free(struct tsk_sql *q);
int tsk_sql_failed(const struct tsk_sql *q);
/* The text, NUL-terminated (NULL once failed). */
const char *tsk_sql_text(struct tsk_sql *q);
void tsk_sql_printf(struct tsk_sql *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds a parameter (a copy of s; NULL is SQL NULL) and returns its number (0 once failed). */
int tsk_sql_param(struct tsk_sql *q, const char *s);
/* A time as PostgreSQL's timestamptz reads it: RFC 3339 for years 1..294276, "YYYY-...Z BC" for year
 * 0000 and before (PostgreSQL has no year 0), "-infinity" before its range. buf holds TSK_TIME_STRLEN
 * bytes; returns buf. Every time parameter goes through it (tsk_sql_param_time). */
char *tsk_sql_time_literal(int64_t us, char *buf);
int tsk_sql_param_time(struct tsk_sql *q, int64_t us);
int tsk_sql_param_ll(struct tsk_sql *q, long long v);
/* A text[] literal {"a","b"}: quotes and backslashes escaped, so any id goes through as a value. */
int tsk_sql_param_array(struct tsk_sql *q, const char *const *ids, size_t n);
/* Writes a reference to parameter n: "$n" followed by "::cast" when cast is not NULL, or in settings
 * mode "current_setting('tsk_filter.pN')::cast" (cast is then required). */
void tsk_sql_ref(struct tsk_sql *q, int n, const char *cast);
/* Settings mode: the statement that loads the parameters into the settings ("SELECT set_config(...), ...",
 * its parameters are q->v), to run in the same transaction before the statement itself. */
int tsk_sql_settings(const struct tsk_sql *q, struct tsk_buf *out);

/*
 * The filter as SQL. tsk_filter_ids adds the device/sensor parameters once and keeps their numbers, so
 * one statement can repeat the conditions (tsk_filter_id_conds) on several tables; `a` is the column
 * prefix ("r.", "m." or ""). One id is `= $n` (not ANY) so the planner sees a constant and uses the
 * unique index's order.
 */
struct tsk_filter_ids {
	int dev, sen;           /* parameter numbers; 0 = no condition */
	int dev_many, sen_many; /* a text[] of several ids */
};
void tsk_filter_ids(struct tsk_sql *q, const struct tsk_filter *f, struct tsk_filter_ids *ids);
/* " AND device_id = ... AND sensor_id = ..." */
void tsk_filter_id_conds(struct tsk_sql *q, const struct tsk_filter_ids *ids, const char *a);
/* The raw readings' conditions: " AND" ids, site, asset_tag, ts >= from, ts <= to (parameters added in
 * that order). Site and asset tag are the reading's own columns (as ingested with it), so they exist on
 * reading only, not on the rollups: tsk_filter_id_conds never writes them, and a bucket query with
 * either one aggregates the raw rows (tsk_filter_has_tags). */
int tsk_filter_has_tags(const struct tsk_filter *f);
void tsk_filter_where(struct tsk_sql *q, const struct tsk_filter *f);
/* " ORDER BY col [DESC], device_id, sensor_id" (nothing for TSK_ORDER_ANY), then " LIMIT n" and
 * " OFFSET n" when set. */
void tsk_filter_order_page(struct tsk_sql *q, const struct tsk_filter *f, const char *col);

#endif
