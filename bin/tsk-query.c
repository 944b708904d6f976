/*
 * tsk-query: bucketed and raw readings of a tenant, latest values, history, device summary, the sensor
 * catalog with online status, and the rollup refresh. Option parsing and output only; the queries are
 * in lib/query/series.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio_ext.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "pg/db.h"
#include "core/jsonl.h"
#include "core/log.h"
#include "cli/out.h"
#include "query/series.h"
#include "core/time.h"
#include "core/tsk.h"

static const char usage_text[] =
    "usage: tsk-query [options] command\n"
    "\n"
    "Commands:\n"
    "  buckets     per bucket, device and sensor: avg, min, max, last, count (rollups + raw tail)\n"
    "  raw         readings, newest first (default --limit 100); --stats adds count/avg/min/max/first/last\n"
    "  latest      the last reading of each sensor of a device (--device)\n"
    "  history     a series for charts: --interval auto|raw|1m|5m|1h (auto picks by the span)\n"
    "  summary     a device's online status and per-sensor last value and 24 h statistics (--device)\n"
    "  sensors     the sensor catalog with online/offline (tenant setting offline_after, default 1h)\n"
    "  refresh     bring the rollups up to date (every tenant unless --tenant); run every minute\n"
    "\n"
    "Filters:\n"
    "  -b, --bucket SIZE    1m 5m 15m 1h 1d or any Nm Nh Nd (default 1h); aligned on 2000-01-01T00:00Z\n"
    "  -D, --device ID      device_id (repeatable)\n"
    "  -s, --sensor ID      sensor_id (repeatable)\n"
    "      --from TIME      inclusive; RFC 3339, relative (-24h) or epoch seconds\n"
    "      --to TIME        inclusive; same forms\n"
    "  -n, --limit N        at most N rows\n"
    "      --offset N       skip N rows first\n"
    "      --asc            oldest first (default newest first)\n"
    "      --stats          raw: statistics over the whole filter\n"
    "  -i, --interval I     history: auto (default), raw, or a bucket size\n"
    "\n"
    "Options:\n"
    "  -d, --dsn DSN        PostgreSQL connection (default $TSK_DATABASE_URL, then PG* variables)\n"
    "  -c, --config FILE    configuration file (default $TSK_CONFIG or /etc/tsk/tsk.conf)\n"
    "  -t, --tenant SLUG    the tenant (required, except for refresh)\n"
    "  -f, --format FMT     jsonl (default), csv (full precision) or table\n"
    "  -q, --quiet          only errors on stderr\n"
    "  -v, --verbose        more detail on stderr\n"
    "  -h, --help           this text\n"
    "  -V, --version        the version\n"
    "\n"
    "Exit status: 0 ok, 1 failure, 2 bad usage or input (no query ran), 75 database unavailable.\n"
    "See tsk-query(1).\n";

struct opts {
	const char *tenant, *interval;
	int stats, limit_set;
	enum tsk_format fmt;
	struct tsk_filter f;
	PGconn *db;
	struct tsk_out out;
	int write_failed, write_errno;
	int64_t now;
	char err[TSK_ERRLEN];
};

static int
fail(struct opts *o, int rc)
{
	tsk_err("%s", o->err);
	return tsk_exit_code(rc);
}

/*
 * A write to stdout failed (a full disk; a reader that went away): keep the first errno, the one that
 * says why, and drop what is still buffered so closing stdout does not fail a second time. main()
 * reports it once.
 */
static int
write_error(struct opts *o)
{
	if (!o->write_failed) {
		o->write_failed = 1;
		o->write_errno = errno;
	}
	__fpurge(stdout);
	clearerr(stdout);
	return TSK_EFAIL;
}

/* Writes a row; a write error stops the query. */
static int
emit(struct opts *o, json_t *row)
{
	int rc = row != NULL ? tsk_out_row(&o->out, row) : -1;

	json_decref(row);
	return rc == 0 ? 0 : write_error(o);
}

static int
finish(struct opts *o, int rc)
{
	if (tsk_out_end(&o->out) != 0)
		write_error(o);
	if (rc == TSK_EFAIL && o->write_failed)
		return TSK_EXIT_FAIL; /* main() says why */
	if (rc != TSK_OK)
		return fail(o, rc);
	return o->write_failed ? TSK_EXIT_FAIL : TSK_EXIT_OK;
}

/* Writes a small answer (and releases it). */
static int
print_rows(struct opts *o, const char *const *cols, json_t *arr)
{
	int rc = tsk_out_array(stdout, o->fmt, cols, arr);

	json_decref(arr);
	if (rc != 0) {
		write_error(o);
		return TSK_EXIT_FAIL;
	}
	return TSK_EXIT_OK;
}

static int
on_bucket(void *ctx, const struct tsk_series_bucket *b)
{
	return emit(ctx, tsk_series_bucket_json(b));
}

static int
on_reading(void *ctx, const struct tsk_series_reading *r)
{
	return emit(ctx, tsk_series_reading_json(r));
}

static int
cmd_buckets(struct opts *o)
{
	static const char *const cols[] = { "bucket", "device_id", "sensor_id", "avg", "min", "max", "last", "count",
		NULL };
	tsk_out_begin(&o->out, stdout, o->fmt, cols);
	return finish(o, tsk_series_buckets(o->db, o->tenant, &o->f, on_bucket, o, o->err, sizeof o->err));
}

static int
cmd_raw(struct opts *o)
{
	static const char *const cols[] = { "ts", "device_id", "sensor_id", "value", "unit", "labels", NULL };
	static const char *const scols[] = { "count", "avg", "min", "max", "first_ts", "last_ts", NULL };
	struct tsk_series_stats st;
	int rc;

	if (!o->limit_set)
		o->f.limit = 100;
	tsk_out_begin(&o->out, stdout, o->fmt, cols);
	rc = tsk_series_raw(o->db, o->tenant, &o->f, on_reading, o, o->err, sizeof o->err);
	if (rc != TSK_OK || !o->stats)
		return finish(o, rc);
	if ((rc = tsk_series_stats(o->db, o->tenant, &o->f, &st, o->err, sizeof o->err)) != TSK_OK)
		return finish(o, rc);
	if (o->fmt == TSK_FMT_JSONL)
		return finish(o, emit(o, json_pack("{s:o}", "stats", tsk_series_stats_json(&st))));
	/* table: the readings, a blank line, then the statistics as a second table */
	if (tsk_out_end(&o->out) != 0)
		write_error(o);
	fputc('\n', stdout);
	tsk_out_begin(&o->out, stdout, o->fmt, scols);
	return finish(o, emit(o, tsk_series_stats_json(&st)));
}

static int
cmd_latest(struct opts *o)
{
	static const char *const cols[] = { "device_id", "sensor_id", "ts", "value", "unit", "online", NULL };
	json_t *arr;
	int rc;

	if (o->f.ndevices != 1)
		return tsk_usage_error("%slatest needs exactly one --device", "");
	if ((rc = tsk_series_latest(o->db, o->tenant, o->f.devices[0], &arr, o->err, sizeof o->err)) != TSK_OK)
		return fail(o, rc);
	return print_rows(o, cols, arr);
}

/* A horizontal bar, 0..width cells in eighths, for value v on the scale lo..hi. */
static json_t *
bar(double v, double lo, double hi, int width)
{
	static const char *const eighth[] = { "", "\u258f", "\u258e", "\u258d", "\u258c", "\u258b", "\u258a", "\u2589" };
	char buf[8 * 3 * 40 + 8] = "";
	int n = hi > lo ? (int)lround((v - lo) / (hi - lo) * width * 8) : width * 4;

	if (n < 1)
		n = 1; /* the minimum still shows */
	for (int i = 0; i < n / 8 && i < 40; i++)
		strcat(buf, "\u2588");
	strcat(buf, eighth[n % 8]);
	return json_string(buf);
}

static int
cmd_history(struct opts *o)
{
	static const char *const cols[] = { "ts", "device_id", "sensor_id", "value", "min", "max", "count", "interval",
		NULL };
	static const char *const tcols[] = { "ts", "device_id", "sensor_id", "value", "min", "max", "count", "chart",
		NULL };
	char chosen[8];
	json_t *arr, *row;
	size_t i;
	int rc;

	rc = tsk_series_history(o->db, o->tenant, &o->f, o->interval, o->now, &arr, chosen, o->err, sizeof o->err);
	if (rc != TSK_OK)
		return fail(o, rc);
	tsk_info("interval %s, %zu points", chosen, json_array_size(arr));
	if (o->fmt == TSK_FMT_TABLE) {
		/* The chart column scales each series (device, sensor) between its own min and max. */
		json_array_foreach(arr, i, row) {
			const char *d = json_string_value(json_object_get(row, "device_id"));
			const char *s = json_string_value(json_object_get(row, "sensor_id"));
			double lo = INFINITY, hi = -INFINITY;
			size_t j;
			json_t *x;
			json_array_foreach(arr, j, x) {
				if (strcmp(d, json_string_value(json_object_get(x, "device_id"))) != 0 ||
				    strcmp(s, json_string_value(json_object_get(x, "sensor_id"))) != 0)
					continue;
				double v = json_number_value(json_object_get(x, "value"));
				lo = v < lo ? v : lo;
				hi = v > hi ? v : hi;
			}
			json_object_set_new(row, "chart", bar(json_number_value(json_object_get(row, "value")), lo, hi, 20));
		}
	}
	return print_rows(o, o->fmt == TSK_FMT_TABLE ? tcols : cols, arr);
}

static int
cmd_summary(struct opts *o)
{
	static const char *const cols[] = { "device_id", "device_online", "sensor_id", "unit", "last_value", "last_ts",
		"online", "count_24h", "avg_24h", "min_24h", "max_24h", NULL };
	json_t *sum, *arr, *s;
	size_t i;
	int rc;

	if (o->f.ndevices != 1)
		return tsk_usage_error("%ssummary needs exactly one --device", "");
	if ((rc = tsk_series_summary(o->db, o->tenant, o->f.devices[0], o->now, &sum, o->err, sizeof o->err)) != TSK_OK)
		return fail(o, rc);
	if (o->fmt == TSK_FMT_JSONL) {
		rc = tsk_jsonl_write(stdout, sum) != 0 || fflush(stdout) != 0 ? write_error(o) : TSK_OK;
		json_decref(sum);
		return rc == TSK_OK ? TSK_EXIT_OK : TSK_EXIT_FAIL;
	}
	/* CSV and table: one row per sensor, with the device's status repeated. */
	arr = json_array();
	json_array_foreach(json_object_get(sum, "sensors"), i, s) {
		json_t *r = json_deep_copy(s);
		json_object_set(r, "device_id", json_object_get(sum, "device_id"));
		json_object_set(r, "device_online", json_object_get(sum, "online"));
		json_array_append_new(arr, r);
	}
	json_decref(sum);
	return print_rows(o, cols, arr);
}

static int
cmd_sensors(struct opts *o)
{
	static const char *const cols[] = { "device_id", "sensor_id", "unit", "type", "last_seen", "last_value", "online",
		NULL };
	json_t *arr;
	int rc;

	if (o->f.ndevices > 1)
		return tsk_usage_error("%ssensors takes at most one --device", "");
	rc = tsk_series_sensors(o->db, o->tenant, o->f.ndevices ? o->f.devices[0] : NULL, o->now, &arr, o->err,
	    sizeof o->err);
	if (rc != TSK_OK)
		return fail(o, rc);
	return print_rows(o, o->fmt == TSK_FMT_JSONL ? NULL : cols, arr);
}

static int
cmd_refresh(struct opts *o)
{
	struct tsk_series_refresh_result r;
	char wm[TSK_TIME_STRLEN];
	json_t *row;
	int rc;

	tsk_progress("refreshing rollups%s%s", o->tenant ? " of " : "", o->tenant ? o->tenant : "");
	rc = tsk_series_refresh(o->db, o->tenant, &r, o->err, sizeof o->err);
	tsk_progress_done();
	if (rc != TSK_OK)
		return fail(o, rc);
	tsk_info("%d tenants: %lld new rows, %lld 1m and %lld 1h buckets recomputed", r.tenants, r.rows, r.buckets_1m,
	    r.buckets_1h);
	row = json_pack("{s:i, s:I, s:I, s:I, s:o}", "tenants", r.tenants, "rows", (json_int_t)r.rows, "buckets_1m",
	    (json_int_t)r.buckets_1m, "buckets_1h", (json_int_t)r.buckets_1h, "watermark",
	    r.tenants > 0 ? json_string(tsk_time_format(r.watermark_us, wm)) : json_null());
	json_t *arr = json_array();
	json_array_append_new(arr, row);
	return print_rows(o, NULL, arr);
}

static const struct {
	const char *name;
	int (*fn)(struct opts *);
	int needs_tenant;
} commands[] = {
	{ "buckets", cmd_buckets, 1 }, { "raw", cmd_raw, 1 }, { "latest", cmd_latest, 1 },
	{ "history", cmd_history, 1 }, { "summary", cmd_summary, 1 }, { "sensors", cmd_sensors, 1 },
	{ "refresh", cmd_refresh, 0 },
};

/* A filter option: validated now, so bad input stops before any connection or query. */
static int
set_filter(struct opts *o, const char *key, const char *value)
{
	if (tsk_filter_set(&o->f, key, value, o->now, o->err, sizeof o->err) != TSK_OK) {
		tsk_err("%s", o->err);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	enum { O_FROM = 256, O_TO, O_OFFSET, O_ASC, O_STATS };
	static const struct option longopts[] = {
		{ "dsn", required_argument, NULL, 'd' }, { "config", required_argument, NULL, 'c' },
		{ "tenant", required_argument, NULL, 't' }, { "format", required_argument, NULL, 'f' },
		{ "bucket", required_argument, NULL, 'b' }, { "device", required_argument, NULL, 'D' },
		{ "sensor", required_argument, NULL, 's' }, { "from", required_argument, NULL, O_FROM },
		{ "to", required_argument, NULL, O_TO }, { "limit", required_argument, NULL, 'n' },
		{ "offset", required_argument, NULL, O_OFFSET }, { "asc", no_argument, NULL, O_ASC },
		{ "stats", no_argument, NULL, O_STATS }, { "interval", required_argument, NULL, 'i' },
		{ "quiet", no_argument, NULL, 'q' }, { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 }
	};
	static struct opts o;
	struct tsk_conf conf;
	const char *config = NULL, *format = NULL, *bucket = "1h";
	int c, level = TSK_LOG_NORMAL, rc = TSK_EXIT_USAGE, bad = 0;
	size_t i;

	tsk_log_init("tsk-query", level);
	tsk_conf_init(&conf);
	tsk_filter_init(&o.f);
	o.now = tsk_now_us();
	while ((c = getopt_long(argc, argv, "d:c:t:f:b:D:s:n:i:qvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': tsk_conf_set(&conf, "database_url", optarg); break;
		case 'c': config = optarg; break;
		case 't': o.tenant = optarg; break;
		case 'f': format = optarg; break;
		case 'b': bucket = optarg; break;
		case 'D': bad |= set_filter(&o, "device", optarg); break;
		case 's': bad |= set_filter(&o, "sensor", optarg); break;
		case O_FROM: bad |= set_filter(&o, "from", optarg); break;
		case O_TO: bad |= set_filter(&o, "to", optarg); break;
		case 'n': bad |= set_filter(&o, "limit", optarg); o.limit_set = 1; break;
		case O_OFFSET: bad |= set_filter(&o, "offset", optarg); break;
		case O_ASC: o.f.order = TSK_ORDER_ASC; break;
		case O_STATS: o.stats = 1; break;
		case 'i': o.interval = optarg; break;
		case 'q': level = TSK_LOG_QUIET; break;
		case 'v': level++; break;
		case 'h': fputs(usage_text, stdout); rc = tsk_close_stdout() == 0 ? 0 : 1; goto out;
		case 'V': printf("tsk-query %s\n", TSK_VERSION); rc = tsk_close_stdout() == 0 ? 0 : 1; goto out;
		default: fprintf(stderr, "try 'tsk-query --help'\n"); goto out;
		}
		if (bad)
			goto out;
	}
	tsk_log_init("tsk-query", level);
	if (tsk_conf_load(&conf, config, o.err, sizeof o.err) != TSK_OK) {
		tsk_err("%s", o.err);
		goto out;
	}
	if (format == NULL)
		format = tsk_conf_get_default(&conf, "format", "jsonl");
	if (tsk_format_parse(format, &o.fmt) != TSK_OK) {
		rc = tsk_usage_error("unknown format \"%s\": jsonl, csv or table", format);
		goto out;
	}
	if (optind >= argc) {
		rc = tsk_usage_error("%sno command given", "");
		goto out;
	}
	if (optind + 1 < argc) {
		rc = tsk_usage_error("unexpected argument \"%s\"", argv[optind + 1]);
		goto out;
	}
	for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, argv[optind]) == 0)
			break;
	if (i == sizeof commands / sizeof commands[0]) {
		rc = tsk_usage_error("unknown command \"%s\"", argv[optind]);
		goto out;
	}
	if (o.tenant == NULL)
		o.tenant = tsk_conf_get(&conf, "tenant");
	if (commands[i].needs_tenant && (o.tenant == NULL || *o.tenant == '\0')) {
		rc = tsk_usage_error("%s needs --tenant SLUG", commands[i].name);
		goto out;
	}
	if (set_filter(&o, "bucket", bucket) != 0)
		goto out;
	if (tsk_filter_check(&o.f, o.err, sizeof o.err) != TSK_OK) {
		tsk_err("%s", o.err);
		goto out;
	}
	if (o.interval != NULL && strcmp(o.interval, "auto") != 0 && strcmp(o.interval, "raw") != 0) {
		int64_t us;
		if (tsk_series_bucket_parse(o.interval, &us, o.err, sizeof o.err) != TSK_OK) {
			rc = tsk_usage_error("unknown interval \"%s\": auto, raw, 1m, 5m, 1h or any Nm, Nh, Nd", o.interval);
			goto out;
		}
	}
	if (o.stats && o.fmt == TSK_FMT_CSV) {
		rc = tsk_usage_error("%s--stats prints a second table: use --format jsonl or table", "");
		goto out;
	}
	if ((c = tsk_db_connect(tsk_conf_dsn(&conf), &o.db, o.err, sizeof o.err)) != TSK_OK) {
		tsk_err("cannot connect to the database: %s", o.err);
		rc = tsk_exit_code(c);
		goto out;
	}
	int64_t t0 = tsk_now_us();
	rc = commands[i].fn(&o);
	tsk_debug("%s took %.3f ms", commands[i].name, (double)(tsk_now_us() - t0) / 1000.0);
	if (o.write_failed) {
		if (o.write_errno != EPIPE) /* `| head` is not worth a message */
			tsk_err("write error: %s", strerror(o.write_errno));
		rc = TSK_EXIT_FAIL;
	}
	if (tsk_close_stdout() != 0 && rc == TSK_EXIT_OK)
		rc = TSK_EXIT_FAIL;
out:
	if (o.db != NULL)
		PQfinish(o.db);
	tsk_filter_free(&o.f);
	tsk_conf_free(&conf);
	return rc;
}
