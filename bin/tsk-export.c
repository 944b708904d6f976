/*
 * tsk-export: CSV (RFC 4180, CRLF, header row) from tsk-query's JSON lines on standard input, or from its
 * own streaming query (`tsk-export buckets|raw --tenant SLUG ...`), to standard output, a file replaced
 * atomically (-o) or an S3-compatible store (--s3). Option parsing and orchestration only; the work is in
 * lib/query/export.c, lib/query/csv.c and lib/query/s3.c.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include "cli/cli.h"
#include "core/conf.h"
#include "query/csv.h"
#include "pg/db.h"
#include "query/export.h"
#include "core/log.h"
#include "cli/out.h"
#include "query/series.h"
#include "core/time.h"
#include "core/tsk.h"

static const char usage_text[] =
    "usage: tsk-export [options] [-o FILE | --s3 s3://BUCKET/KEY]  < JSON lines\n"
    "       tsk-export [options] buckets|raw --tenant SLUG [filters] [-o FILE | --s3 s3://BUCKET/KEY]\n"
    "\n"
    "Writes CSV (RFC 4180, CRLF line ends, a header row, numbers with two decimals):\n"
    "  buckets: bucket,device_id,sensor_id,avg,min,max,last,count\n"
    "  raw:     ts,device_id,sensor_id,value,unit\n"
    "With no command, reads tsk-query's JSON lines (bucket rows or readings) from standard input; the first\n"
    "row sets the layout unless --layout says it. Lines that are not such rows are reported with their line\n"
    "number and skipped (exit 3); the other rows are still written.\n"
    "\n"
    "Commands (stream from the database in constant memory):\n"
    "  buckets     per (bucket, device, sensor): avg, min, max, last, count\n"
    "  raw         the readings themselves\n"
    "Filters (as tsk-query):\n"
    "  -t, --tenant SLUG      the tenant (required)\n"
    "  -b, --bucket SIZE      1m 5m 15m 1h 1d, or any Nm Nh Nd (buckets; default 1h)\n"
    "  -D, --device ID        only this device (repeatable)\n"
    "  -s, --sensor ID        only this sensor (repeatable)\n"
    "      --site S           only readings of this site (repeatable)\n"
    "      --asset A          only readings of this asset tag (repeatable)\n"
    "      --from TIME        from this time on, inclusive (RFC 3339, -24h, epoch seconds)\n"
    "      --to TIME          up to this time, inclusive\n"
    "  -n, --limit N          at most N rows (default: all of them)\n"
    "      --offset N         skip the first N rows\n"
    "      --asc              oldest first (default newest first)\n"
    "      --order O          desc (default), asc, or any: the database's order, fastest for bulk exports\n"
    "\n"
    "Output:\n"
    "  -o, --output FILE      write FILE atomically (temporary file, fsync, rename); default standard output\n"
    "      --s3 URL           upload to s3://BUCKET/KEY (TSK_S3_ENDPOINT, TSK_S3_REGION, AWS_ACCESS_KEY_ID,\n"
    "                         AWS_SECRET_ACCESS_KEY or TSK_S3_ACCESS_KEY, TSK_S3_SECRET_KEY)\n"
    "      --s3-endpoint URL  the S3-compatible store, e.g. http://127.0.0.1:9000 (path-style requests)\n"
    "  -l, --layout L         auto (default), buckets or raw: the layout of standard input\n"
    "      --excel-safe       text cells starting with = + - @ TAB CR get a ' in front (CSV injection);\n"
    "                         numbers stay numbers\n"
    "\n"
    "Options:\n"
    "  -d, --dsn DSN          PostgreSQL connection (default $TSK_DATABASE_URL, then PG* variables)\n"
    "  -c, --config FILE      configuration file (default $TSK_CONFIG or /etc/tsk/tsk.conf)\n"
    "  -q, --quiet            only errors on stderr\n"
    "  -v, --verbose          a summary line at the end\n"
    "  -h, --help             this text\n"
    "  -V, --version          the version\n"
    "\n"
    "Exit status: 0 ok, 1 failure (nothing published), 2 bad usage or input (nothing run), 3 some input\n"
    "lines rejected (the rest written), 75 database or store temporarily unavailable. See tsk-export(1).\n";

#define MAX_REJECTS_SHOWN 100

struct opts {
	struct tsk_cli cli;
	struct tsk_cli_filter cf;
	enum tsk_export_layout layout;
	const char *output, *s3url, *s3endpoint;
	struct tsk_export_dest dest;
	struct tsk_csv csv;
	int dest_open;
	uint64_t rejected;
	struct timespec last_progress;
	int no_progress;
	int excel_safe;
};

/* Set by SIGINT, SIGTERM, SIGHUP: the loops stop, the output is abandoned, then the signal is re-raised. */
static volatile sig_atomic_t stop_signal;
/* The running query's cancel handle: PQcancel() is safe in a signal handler (libpq's documentation), so
 * a signal during a long sort stops the server's work instead of waiting for the first row. */
static PGcancel *volatile query_cancel;

static void
on_signal(int sig)
{
	char buf[256];

	stop_signal = sig;
	if (query_cancel != NULL)
		PQcancel(query_cancel, buf, sizeof buf);
}

static void
catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a read of standard input or a write to a pipe returns EINTR, so the loops notice. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* A file size limit (ulimit -f) becomes a write error (EFBIG) that removes the temporary file, rather
	 * than a kill that leaves it behind. */
	signal(SIGXFSZ, SIG_IGN);
}

static void
on_reject(void *ctx, long lineno, const char *why)
{
	struct opts *o = ctx;

	if (++o->rejected <= MAX_REJECTS_SHOWN)
		tsk_err("line %ld: %s", lineno, why);
	else if (o->rejected == MAX_REJECTS_SHOWN + 1)
		tsk_err("more rejected lines follow; only their number is reported");
}

static void
human_bytes(uint64_t b, char *buf, size_t len)
{
	if (b >= (1u << 30))
		snprintf(buf, len, "%.1f GiB", (double)b / (1u << 30));
	else if (b >= (1u << 20))
		snprintf(buf, len, "%.1f MiB", (double)b / (1u << 20));
	else
		snprintf(buf, len, "%.1f KiB", (double)b / 1024);
}

/* The writer's sink: the destination, plus a progress line at most four times a second. */
static int
sink(void *ctx, const char *buf, size_t len, char *err, size_t errlen)
{
	struct opts *o = ctx;
	struct timespec now;
	char size[32];
	int rc = tsk_export_dest_write(&o->dest, buf, len, err, errlen);

	if (o->no_progress)
		return rc;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((now.tv_sec - o->last_progress.tv_sec) * 1000 + (now.tv_nsec - o->last_progress.tv_nsec) / 1000000 >= 250) {
		o->last_progress = now;
		human_bytes(o->dest.bytes, size, sizeof size);
		tsk_progress("%llu rows, %s to %s", (unsigned long long)(o->csv.rows > 0 ? o->csv.rows - 1 : 0), size,
		    tsk_export_dest_name(&o->dest));
	}
	return rc;
}

static int
open_dest(struct opts *o, const struct tsk_conf *conf)
{
	struct tsk_s3_config c;
	int rc;

	if (o->s3url != NULL) {
		if ((rc = tsk_s3_config_load(conf, o->s3endpoint, &stop_signal, &c, o->cli.err, sizeof o->cli.err)) != TSK_OK)
			return rc;
		rc = tsk_export_dest_s3(&o->dest, &c, o->s3url, o->cli.err, sizeof o->cli.err);
	} else if (o->output != NULL && strcmp(o->output, "-") != 0) {
		rc = tsk_export_dest_file(&o->dest, o->output, &stop_signal, o->cli.err, sizeof o->cli.err);
	} else {
		tsk_export_dest_stdout(&o->dest, &stop_signal);
		/* CSV going to the terminal itself would be garbled by a progress line rewriting itself there. */
		o->no_progress = isatty(STDOUT_FILENO);
		rc = TSK_OK;
	}
	o->dest_open = 1;
	if (rc == TSK_OK)
		rc = tsk_csv_init(&o->csv, 0, sink, o);
	o->csv.excel_safe = o->excel_safe;
	if (rc != TSK_OK && o->cli.err[0] == '\0')
		snprintf(o->cli.err, sizeof o->cli.err, "%s", o->csv.err);
	return rc;
}

/* Publishes the output, or abandons it when rc says the export failed. Returns the final status;
 * `usage` keeps a bad-input status (nothing was exported) instead of making it a failure. */
static int
finish(struct opts *o, int rc, int usage)
{
	char why[TSK_ERRLEN];
	int arc;

	if (rc == TSK_OK && tsk_csv_flush(&o->csv) != TSK_OK)
		rc = tsk_seterr(o->cli.err, sizeof o->cli.err, o->csv.status, "%s", o->csv.err);
	if (rc == TSK_OK && stop_signal)
		rc = tsk_seterr(o->cli.err, sizeof o->cli.err, TSK_EFAIL, "interrupted");
	if (rc == TSK_OK)
		rc = tsk_export_dest_commit(&o->dest, o->cli.err, sizeof o->cli.err);
	if (rc != TSK_OK) {
		/* Once output has started, a failure is never "bad usage, nothing done". */
		if (!usage && (rc == TSK_EINVAL || rc == TSK_ENOTFOUND || rc == TSK_EEXIST))
			rc = TSK_EFAIL;
		tsk_progress_done();
		tsk_err("%s", o->cli.err);
		if ((arc = tsk_export_dest_abort(&o->dest, why, sizeof why)) != TSK_OK)
			tsk_err("%s", why);
	}
	return rc;
}

/* Returns the exit code. */
/* " in 3 parts" for a multipart upload, else "". */
static const char *
parts_note(struct opts *o)
{
	static char buf[32];

	buf[0] = '\0';
	if (o->dest.kind == TSK_DEST_S3 && tsk_s3_upload_parts(o->dest.s3) > 0)
		snprintf(buf, sizeof buf, " in %d parts", tsk_s3_upload_parts(o->dest.s3));
	return buf;
}

static int
run_stdin(struct opts *o)
{
	struct tsk_export_stats st;
	int rc;

	rc = tsk_export_jsonl(stdin, &o->csv, &o->layout, on_reject, o, &stop_signal, &st, o->cli.err, sizeof o->cli.err);
	if ((rc = finish(o, rc, 0)) != TSK_OK)
		return tsk_exit_code(rc);
	tsk_progress_done();
	tsk_info("%llu rows (%s) written to %s%s from %llu lines", (unsigned long long)st.rows,
	    tsk_export_layout_name(o->layout), tsk_export_dest_name(&o->dest), parts_note(o), (unsigned long long)st.lines);
	if (st.rejected > 0) {
		tsk_err("%llu of %llu lines rejected; %llu rows written", (unsigned long long)st.rejected,
		    (unsigned long long)st.lines, (unsigned long long)st.rows);
		return TSK_EXIT_PARTIAL;
	}
	return TSK_EXIT_OK;
}

/* `buckets` or `raw` from the database. Returns the exit code. */
static int
run_query(struct opts *o)
{
	uint64_t rows = 0;
	int rc;

	if ((rc = tsk_cli_connect_read(&o->cli)) != TSK_EXIT_OK) { /* reads only: read_dsn may serve it */
		tsk_export_dest_abort(&o->dest, o->cli.err, sizeof o->cli.err);
		return rc;
	}
	query_cancel = PQgetCancel(o->cli.db);
	rc = tsk_export_query(o->cli.db, o->cli.tenant, o->layout, &o->cf.f, &o->csv, &stop_signal, &rows, o->cli.err, sizeof o->cli.err);
	PGcancel *c = query_cancel;
	query_cancel = NULL;
	PQfreeCancel(c);
	/* An unknown tenant or a bad filter is found before any row: bad usage, and nothing is published. */
	rc = finish(o, rc, rows == 0);
	if (rc != TSK_OK)
		return tsk_exit_code(rc);
	tsk_progress_done();
	tsk_info("%llu rows (%s) written to %s%s", (unsigned long long)rows, tsk_export_layout_name(o->layout),
	    tsk_export_dest_name(&o->dest), parts_note(o));
	return TSK_EXIT_OK;
}

int
main(int argc, char **argv)
{
	enum { O_S3 = 256, O_S3_ENDPOINT, O_EXCEL_SAFE };
	static const struct option longopts[] = {
		TSK_CLI_LONGOPTS, TSK_CLI_FILTER_LONGOPTS,
		{ "output", required_argument, NULL, 'o' }, { "layout", required_argument, NULL, 'l' },
		{ "s3", required_argument, NULL, O_S3 }, { "s3-endpoint", required_argument, NULL, O_S3_ENDPOINT },
		{ "excel-safe", no_argument, NULL, O_EXCEL_SAFE },
		{ NULL, 0, NULL, 0 }
	};
	static struct opts o;
	const char *cmd = NULL;
	int c, rc = TSK_EXIT_USAGE, st, layout_set = 0;

	tsk_cli_init(&o.cli, "tsk-export", usage_text);
	tsk_cli_filter_init(&o.cf);
	while ((c = getopt_long(argc, argv, TSK_CLI_SHORTOPTS TSK_CLI_FILTER_SHORTOPTS "o:l:", longopts, NULL)) != -1) {
		switch (tsk_cli_take(&o.cli, &o.cf, c, optarg, &rc)) {
		case -1: goto out;     /* --help, --version, or a bad option or value */
		case 1: continue;      /* a common or filter option */
		}
		switch (c) {
		case 'o': o.output = optarg; break;
		case 'l':
			if (tsk_export_layout_parse(optarg, &o.layout) != TSK_OK) {
				rc = tsk_cli_usage("unknown layout \"%s\": auto, buckets or raw", optarg);
				goto out;
			}
			layout_set = 1;
			break;
		case O_S3: o.s3url = optarg; break;
		case O_S3_ENDPOINT: o.s3endpoint = optarg; break;
		case O_EXCEL_SAFE: o.excel_safe = 1; break;
		}
	}
	if ((rc = tsk_cli_setup(&o.cli)) != TSK_EXIT_OK)
		goto out;
	rc = TSK_EXIT_USAGE;
	if (o.cli.fmt != TSK_FMT_CSV && strcmp(o.cli.format, "jsonl") != 0) {
		rc = tsk_cli_usage("tsk-export always writes CSV; --format %s is for tsk-query", o.cli.format);
		goto out;
	}
	if (o.output != NULL && o.s3url != NULL) {
		rc = tsk_cli_usage("-o and --s3 cannot be combined");
		goto out;
	}
	if (optind < argc) {
		cmd = argv[optind];
		if (strcmp(cmd, "buckets") != 0 && strcmp(cmd, "raw") != 0) {
			rc = tsk_cli_usage("unknown command \"%s\": buckets or raw (or none, to read standard input)", cmd);
			goto out;
		}
		if (optind + 1 < argc) {
			rc = tsk_cli_usage("unexpected argument \"%s\"", argv[optind + 1]);
			goto out;
		}
		if (layout_set) {
			rc = tsk_cli_usage("--layout is for standard input; the command sets the layout");
			goto out;
		}
		tsk_export_layout_parse(cmd, &o.layout);
		if (o.cli.tenant == NULL) {
			rc = tsk_cli_usage("%s needs --tenant SLUG", cmd);
			goto out;
		}
		if ((rc = tsk_cli_filter_done(&o.cli, &o.cf, o.layout == TSK_EXPORT_BUCKETS ? "1h" : NULL)) != TSK_EXIT_OK)
			goto out;
	} else if (o.cf.given > 0 || o.cli.tenant != NULL) {
		rc = tsk_cli_usage("filters and --tenant need a command: buckets or raw");
		goto out;
	}
	catch_signals();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((st = open_dest(&o, &o.cli.conf)) != TSK_OK) {
		tsk_err("%s", o.cli.err);
		rc = tsk_exit_code(st);
		goto out;
	}
	rc = cmd != NULL ? run_query(&o) : run_stdin(&o);
	rc = tsk_cli_finish(&o.cli, rc);
out:
	if (o.dest_open)
		tsk_export_dest_free(&o.dest);
	tsk_cli_filter_free(&o.cf);
	tsk_csv_free(&o.csv);
	tsk_cli_free(&o.cli);
	curl_global_cleanup();
	if (stop_signal) {
		/* Die of the signal, so a shell or supervisor sees what happened. */
		signal(stop_signal, SIG_DFL);
		raise(stop_signal);
	}
	return rc;
}
