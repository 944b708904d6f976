/*
 * tsk-query: bucketed and raw readings of a tenant, latest values, history, device summary, the sensor
 * catalog with online status, and the rollup refresh. Option parsing and output only; the queries are
 * in lib/query/series.c.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
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
    "      --site S         the reading's site (repeatable)\n"
    "      --asset A        the reading's asset_tag (repeatable)\n"
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
	struct tsk_cli cli;
	struct tsk_cli_filter cf;
	const char *interval;
	int stats;
	struct tsk_out out;
};

static int
fail(struct opts *o, int rc)
{
	return tsk_cli_fail(&o->cli, rc);
}

static int
write_error(struct opts *o)
{
	return tsk_cli_write_error(&o->cli);
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
	if (rc == TSK_EFAIL && o->cli.write_failed)
		return TSK_EXIT_FAIL; /* main() says why */
	if (rc != TSK_OK)
		return fail(o, rc);
	return o->cli.write_failed ? TSK_EXIT_FAIL : TSK_EXIT_OK;
}

/* Writes a small answer (and releases it). */
static int
print_rows(struct opts *o, const char *const *cols, json_t *arr)
{
	return tsk_cli_print(&o->cli, cols, arr);
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
cmd_buckets(void *arg, int argc, char **argv)
{
	struct opts *o = arg;

	(void)argc;
	(void)argv;
	static const char *const cols[] = { "bucket", "device_id", "sensor_id", "avg", "min", "max", "last", "count",
		NULL };
	tsk_out_begin(&o->out, stdout, o->cli.fmt, cols);
	return finish(o, tsk_series_buckets(o->cli.db, o->cli.tenant, &o->cf.f, on_bucket, o, o->cli.err, sizeof o->cli.err));
}

static int
cmd_raw(void *arg, int argc, char **argv)
{
	struct opts *o = arg;

	(void)argc;
	(void)argv;
	static const char *const cols[] = { "ts", "device_id", "sensor_id", "value", "unit", "labels", "site", "asset_tag",
		NULL };
	static const char *const scols[] = { "count", "avg", "min", "max", "first_ts", "last_ts", NULL };
	struct tsk_series_stats st;
	int rc;

	if (!o->cf.limit_given)
		o->cf.f.limit = 100;
	tsk_out_begin(&o->out, stdout, o->cli.fmt, cols);
	rc = tsk_series_raw(o->cli.db, o->cli.tenant, &o->cf.f, on_reading, o, o->cli.err, sizeof o->cli.err);
	if (rc != TSK_OK || !o->stats)
		return finish(o, rc);
	if ((rc = tsk_series_stats(o->cli.db, o->cli.tenant, &o->cf.f, &st, o->cli.err, sizeof o->cli.err)) != TSK_OK)
		return finish(o, rc);
	if (o->cli.fmt == TSK_FMT_JSONL)
		return finish(o, emit(o, json_pack("{s:o}", "stats", tsk_series_stats_json(&st))));
	/* table: the readings, a blank line, then the statistics as a second table */
	if (tsk_out_end(&o->out) != 0)
		write_error(o);
	fputc('\n', stdout);
	tsk_out_begin(&o->out, stdout, o->cli.fmt, scols);
	return finish(o, emit(o, tsk_series_stats_json(&st)));
}

static int
cmd_latest(void *arg, int argc, char **argv)
{
	struct opts *o = arg;

	(void)argc;
	(void)argv;
	static const char *const cols[] = { "device_id", "sensor_id", "ts", "value", "unit", "online", NULL };
	json_t *arr;
	int rc;

	if (o->cf.f.ndevices != 1)
		return tsk_cli_usage("latest needs exactly one --device");
	if ((rc = tsk_series_latest(o->cli.db, o->cli.tenant, o->cf.f.devices[0], o->cli.now, &arr, o->cli.err, sizeof o->cli.err)) != TSK_OK)
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
cmd_history(void *arg, int argc, char **argv)
{
	struct opts *o = arg;

	(void)argc;
	(void)argv;
	static const char *const cols[] = { "ts", "device_id", "sensor_id", "value", "min", "max", "count", "interval",
		NULL };
	static const char *const tcols[] = { "ts", "device_id", "sensor_id", "value", "min", "max", "count", "chart",
		NULL };
	char chosen[8];
	json_t *arr, *row;
	size_t i;
	int rc;

	rc = tsk_series_history(o->cli.db, o->cli.tenant, &o->cf.f, o->interval, o->cli.now, &arr, chosen, o->cli.err, sizeof o->cli.err);
	if (rc != TSK_OK)
		return fail(o, rc);
	tsk_info("interval %s, %zu points", chosen, json_array_size(arr));
	if (o->cli.fmt == TSK_FMT_TABLE) {
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
	return print_rows(o, o->cli.fmt == TSK_FMT_TABLE ? tcols : cols, arr);
}

static int
cmd_summary(void *arg, int argc, char **argv)
{
	struct opts *o = arg;

	(void)argc;
	(void)argv;
	static const char *const cols[] = { "device_id", "device_online", "sensor_id", "unit", "last_value", "last_ts",
		"online", "count_24h", "avg_24h", "min_24h", "max_24h", NULL };
	json_t *sum, *arr, *s;
	size_t i;
	int rc;

	if (o->cf.f.ndevices != 1)
		return tsk_cli_usage("summary needs exactly one --device");
	if ((rc = tsk_series_summary(o->cli.db, o->cli.tenant, o->cf.f.devices[0], o->cli.now, &sum, o->cli.err, sizeof o->cli.err)) != TSK_OK)
		return fail(o, rc);
	if (o->cli.fmt == TSK_FMT_JSONL) {
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
cmd_sensors(void *arg, int argc, char **argv)
{
	struct opts *o = arg;

	(void)argc;
	(void)argv;
	static const char *const cols[] = { "device_id", "sensor_id", "unit", "type", "last_seen", "last_value", "online",
		NULL };
	json_t *arr;
	int rc;

	if (o->cf.f.ndevices > 1)
		return tsk_cli_usage("sensors takes at most one --device");
	rc = tsk_series_sensors(o->cli.db, o->cli.tenant, o->cf.f.ndevices ? o->cf.f.devices[0] : NULL, o->cli.now, &arr, o->cli.err,
	    sizeof o->cli.err);
	if (rc != TSK_OK)
		return fail(o, rc);
	return print_rows(o, o->cli.fmt == TSK_FMT_JSONL ? NULL : cols, arr);
}

static int
cmd_refresh(void *arg, int argc, char **argv)
{
	struct opts *o = arg;

	(void)argc;
	(void)argv;
	struct tsk_series_refresh_result r;
	char wm[TSK_TIME_STRLEN];
	json_t *row;
	int rc;

	tsk_progress("refreshing rollups%s%s", o->cli.tenant ? " of " : "", o->cli.tenant ? o->cli.tenant : "");
	rc = tsk_series_refresh(o->cli.db, o->cli.tenant, &r, o->cli.err, sizeof o->cli.err);
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

/* Every command but refresh only reads: read_dsn (a replica) may serve it; refresh writes the rollups. */
#define DB_TENANT (TSK_CLI_NEEDS_DB | TSK_CLI_NEEDS_TENANT | TSK_CLI_READS)
static const struct tsk_cli_command commands[] = {
	{ "buckets", cmd_buckets, DB_TENANT }, { "raw", cmd_raw, DB_TENANT }, { "latest", cmd_latest, DB_TENANT },
	{ "history", cmd_history, DB_TENANT }, { "summary", cmd_summary, DB_TENANT },
	{ "sensors", cmd_sensors, DB_TENANT }, { "refresh", cmd_refresh, TSK_CLI_NEEDS_DB },
};

int
main(int argc, char **argv)
{
	enum { O_STATS = 256 };
	static const struct option longopts[] = {
		TSK_CLI_LONGOPTS, TSK_CLI_FILTER_LONGOPTS,
		{ "stats", no_argument, NULL, O_STATS }, { "interval", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 }
	};
	static struct opts o;
	int c, rc = TSK_EXIT_USAGE;

	tsk_cli_init(&o.cli, "tsk-query", usage_text);
	tsk_cli_filter_init(&o.cf);
	while ((c = getopt_long(argc, argv, TSK_CLI_SHORTOPTS TSK_CLI_FILTER_SHORTOPTS "i:", longopts, NULL)) != -1) {
		switch (tsk_cli_take(&o.cli, &o.cf, c, optarg, &rc)) {
		case -1: goto out;     /* --help, --version, or a bad option or value */
		case 1: continue;      /* a common or filter option */
		}
		switch (c) {
		case O_STATS: o.stats = 1; break;
		case 'i': o.interval = optarg; break;
		}
	}
	if ((rc = tsk_cli_setup(&o.cli)) != TSK_EXIT_OK || (rc = tsk_cli_filter_done(&o.cli, &o.cf, "1h")) != TSK_EXIT_OK)
		goto out;
	rc = TSK_EXIT_USAGE;
	if (o.interval != NULL && strcmp(o.interval, "auto") != 0 && strcmp(o.interval, "raw") != 0) {
		int64_t us;
		if (tsk_series_bucket_parse(o.interval, &us, o.cli.err, sizeof o.cli.err) != TSK_OK) {
			rc = tsk_cli_usage("unknown interval \"%s\": auto, raw, 1m, 5m, 1h or any Nm, Nh, Nd", o.interval);
			goto out;
		}
	}
	if (o.stats && o.cli.fmt == TSK_FMT_CSV) {
		rc = tsk_cli_usage("--stats prints a second table: use --format jsonl or table");
		goto out;
	}
	rc = tsk_cli_dispatch(&o.cli, commands, sizeof commands / sizeof commands[0], argc - optind, argv + optind, &o);
	rc = tsk_cli_finish(&o.cli, rc);
out:
	tsk_cli_filter_free(&o.cf);
	tsk_cli_free(&o.cli);
	return rc;
}
