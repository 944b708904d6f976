/*
 * tsk-ingest: MQTT (or JSON lines on stdin) into PostgreSQL through a crash-safe sqlite3 spool.
 * Option parsing and orchestration only: parsing is lib/model/payload.c, the spool lib/ingest/spool.c, the
 * pipeline and flusher lib/ingest/ingest.c, the MQTT receiver lib/ingest/mqtt.c, the writer lib/ingest/sink.c.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/conf.h"
#include "ingest/ingest.h"
#include "core/jsonl.h"
#include "core/log.h"
#include "ingest/mqtt.h"
#include "cli/out.h"
#include "model/payload.h"
#include "ingest/spool.h"
#include "ingest/stats.h"
#include "core/time.h"
#include "model/topic.h"
#include "core/tsk.h"

#define PROG "tsk-ingest"
#define DEFAULT_SPOOL "/var/lib/tsk/spool.db"
/* stderr shows this many rejected lines; the rest are only counted (and in --reject FILE). */
#define SHOW_REJECTS 10

static const char usage_text[] =
    "usage: tsk-ingest [options] command\n"
    "\n"
    "Commands:\n"
    "  mqtt     subscribe (QoS 1, persistent session) and ingest until SIGTERM\n"
    "  stdin    ingest JSON lines (envelopes or normalized readings) from standard input\n"
    "  parse    parse JSON lines (or --topic payloads) and print normalized readings; no database\n"
    "  drain    flush the spool into PostgreSQL and exit\n"
    "  stats    counters as JSON (of the running mqtt process, else of the spool)\n"
    "  dead     list dead letters (--reason R, --limit N); dead purge: delete them\n"
    "\n"
    "Options:\n"
    "  -d, --dsn DSN            PostgreSQL (default $TSK_DATABASE_URL, then PG* variables)\n"
    "  -c, --config FILE        configuration file (default $TSK_CONFIG or /etc/tsk/tsk.conf)\n"
    "  -t, --tenant SLUG        tenant of input lines that name none (stdin, parse)\n"
    "      --spool PATH         sqlite3 spool (default " DEFAULT_SPOOL ")\n"
    "      --spool-max SIZE     spool cap in bytes of readings, k/M/G suffixes (default 1G)\n"
    "      --sync normal|full   spool durability: survive a crash (normal) or a power cut (full)\n"
    "      --batch N            readings per PostgreSQL transaction (default 20000)\n"
    "      --flush-interval DUR how long a partial batch may wait (default 200ms)\n"
    "      --no-catalog         do not keep the device/sensor catalog current\n"
    "MQTT:\n"
    "      --archive            keep every accepted message (topic, payload) in its tenant's raw archive\n"
    "      --url URL            mqtt[s]://[user[:pass]@]host[:port] (default mqtt://localhost)\n"
    "      --topic FILTER       subscription, repeatable (default tenants/+/#)\n"
    "      --share GROUP        shared subscription $share/GROUP/FILTER\n"
    "      --client-id ID       fixed client id of the persistent session (default tsk-ingest-HOST)\n"
    "      --qos 0|1            subscription QoS (default 1)\n"
    "      --protocol 5|311     MQTT version (default 5)\n"
    "      --keepalive SECS     (default 60)\n"
    "      --receive-max N      MQTT 5 messages in flight (default 1000)\n"
    "      --session-expiry DUR MQTT 5 session expiry (default: never)\n"
    "      --cafile F, --capath D, --cert F, --key F, --insecure   TLS\n"
    "      --drain-timeout DUR  on SIGTERM, flush the spool for at most DUR (default 10s)\n"
    "stdin and parse:\n"
    "      --reject FILE        rejected lines as JSON lines {line, reason, detail, input}\n"
    "      --retry-for DUR      stdin: wait this long for a database that is down (default 60s)\n"
    "      --topic TOPIC        parse: read each line as a payload published on TOPIC\n"
    "\n"
    "  -q, --quiet  -v, --verbose  -h, --help  -V, --version\n"
    "\n"
    "Exit status: 0 ok, 1 failure, 2 bad usage, 3 some input rejected, 75 database unavailable.\n"
    "See tsk-ingest(1).\n";

struct opts {
	struct tsk_cli cli;
	const char *reject_path;
	const char *topics[TSK_MQTT_MAX_TOPICS];
	int ntopics;
	struct tsk_mqtt_opts m;
	struct tsk_spool_opts so;
	struct tsk_ingest_opts io;
	const char *spool_path;
	int64_t drain_timeout_us;
	const char *dead_reason;
	long dead_limit;
	char client_id[300];
};

static void
log_cb(void *arg, int level, const char *msg)
{
	(void)arg;
	if (level <= 0)
		tsk_warn("%s", msg);
	else if (level == 1)
		tsk_info("%s", msg);
	else
		tsk_debug("%s", msg);
}

/* ---- rejected lines ----------------------------------------------------------------------------- */

struct rejects {
	FILE *f;
	uint64_t n;
	int quiet;
	int werr;   /* errno of the first failed write: by fclose time errno says nothing */
};

static void
on_reject(void *arg, long lineno, const char *reason, const char *detail, const char *line, size_t len)
{
	struct rejects *R = arg;

	R->n++;
	if (!R->quiet && R->n <= SHOW_REJECTS)
		tsk_warn("line %ld: %s%s%s", lineno, reason, detail != NULL && *detail ? ": " : "", detail != NULL ? detail : "");
	if (R->f != NULL) {
		json_t *o = json_pack("{s:I, s:s, s:s}", "line", (json_int_t)lineno, "reason", reason, "detail",
		    detail != NULL ? detail : "");
		if (o != NULL && line != NULL)
			json_object_set_new(o, "input", tsk_json_lossy_string(line, len));
		if (o != NULL && tsk_jsonl_write(R->f, o) != 0 && R->werr == 0)
			R->werr = errno != 0 ? errno : EIO;
		json_decref(o);
	}
}

static int
open_rejects(struct opts *o, struct rejects *R)
{
	memset(R, 0, sizeof *R);
	R->quiet = tsk_log_level() < TSK_LOG_NORMAL;
	if (o->reject_path == NULL)
		return 0;
	if ((R->f = fopen(o->reject_path, "w")) == NULL) {
		tsk_err("%s: %s", o->reject_path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
close_rejects(struct rejects *R)
{
	if (R->n > SHOW_REJECTS && !R->quiet)
		tsk_warn("%llu lines rejected in all%s", (unsigned long long)R->n,
		    R->f != NULL ? " (see the reject file)" : "");
	if (R->f == NULL)
		return 0;
	errno = 0;
	if (fflush(R->f) != 0 && R->werr == 0)
		R->werr = errno;
	if (ferror(R->f) && R->werr == 0)
		R->werr = EIO;
	errno = 0;
	if (fclose(R->f) != 0 && R->werr == 0)
		R->werr = errno != 0 ? errno : EIO;
	R->f = NULL;
	if (R->werr != 0) {
		/* The rejected lines are lost: that is a failure, not a partial success. */
		tsk_err("cannot write the reject file: %s", strerror(R->werr));
		return -1;
	}
	return 0;
}

/* ---- parse -------------------------------------------------------------------------------------- */

static int
cmd_parse(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;

	(void)argc;
	(void)argv;
	const char *topic = o->ntopics > 0 ? o->topics[0] : NULL;
	struct tsk_payload_info info;
	struct tsk_readings rs;
	struct tsk_jsonl rd;
	struct rejects R;
	struct tsk_out out;
	char perr[TSK_ERRLEN];
	int rc = TSK_EXIT_OK, wfail = 0;

	if (open_rejects(o, &R) != 0)
		return TSK_EXIT_FAIL;
	tsk_out_begin(&out, stdout, o->cli.fmt, NULL);
	tsk_readings_init(&rs);
	tsk_payload_info_init(&info);
	tsk_jsonl_init(&rd, stdin);
	rd.max = TSK_ENVELOPE_MAX + 1; /* a longer line is refused as too large, without reading it into memory */
	while (tsk_jsonl_next_line(&rd)) {
		int64_t now = tsk_now_us();
		int prc = topic != NULL
		    ? tsk_payload_parse(o->cli.tenant, topic, rd.line, rd.len, now, &rs, &info, perr, sizeof perr)
		    : tsk_payload_parse_line(o->cli.tenant, rd.line, rd.len, now, &rs, &info, perr, sizeof perr);
		if (prc == TSK_EINVAL) {
			on_reject(&R, rd.lineno, tsk_payload_reason_str(info.reason),
			    info.detail[0] != '\0' ? info.detail : perr, rd.line, rd.len);
			continue;
		}
		if (prc != TSK_OK) {
			tsk_err("line %ld: %s", rd.lineno, perr);
			rc = TSK_EXIT_FAIL;
			break;
		}
		if (rs.n == 0)
			on_reject(&R, rd.lineno, tsk_stats_reason_str(TSK_STATS_NO_READINGS),
			    info.detail[0] != '\0' ? info.detail : "no sensor had a value", rd.line, rd.len);
		for (size_t i = 0; i < rs.n && !wfail; i++) {
			json_t *j = tsk_reading_to_json(&rs.v[i]);
			wfail = j == NULL || tsk_out_row(&out, j) != 0;
			json_decref(j);
		}
		tsk_readings_clear(&rs);
		if (wfail)
			break;
	}
	if (wfail || tsk_out_end(&out) != 0)
		tsk_cli_write_error(&o->cli);
	if (ferror(stdin)) {
		tsk_err("read error: %s", strerror(errno));
		rc = TSK_EXIT_FAIL;
	}
	if (close_rejects(&R) != 0)
		rc = TSK_EXIT_FAIL;
	if (rc == TSK_EXIT_OK && R.n > 0)
		rc = TSK_EXIT_PARTIAL;
	tsk_readings_free(&rs);
	tsk_payload_info_free(&info);
	tsk_jsonl_free(&rd);
	return rc;
}

/* ---- stdin -------------------------------------------------------------------------------------- */

static json_t *
counters_json(struct tsk_stats *st, const char *mode, struct tsk_spool *sp)
{
	struct tsk_stats_spool ss;
	char err[TSK_ERRLEN];
	json_t *j;

	if (sp == NULL || tsk_ingest_spool_stats(sp, &ss, err, sizeof err) != TSK_OK)
		return tsk_stats_to_json(st, mode, NULL);
	j = tsk_stats_to_json(st, mode, &ss);
	json_decref(ss.dead_by);
	return j;
}

/* One object on stdout in the chosen format; a write error is kept for the end of main(). */
static int
print_json(struct opts *o, json_t *j)
{
	return tsk_cli_print_one(&o->cli, NULL, j) == TSK_EXIT_OK ? 0 : -1;
}

static int
cmd_stdin(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;

	(void)argc;
	(void)argv;
	struct tsk_ingest *ing = NULL;
	struct tsk_stats st;
	struct rejects R;
	uint64_t rejected = 0;
	int rc, exitc = TSK_EXIT_FAIL;

	tsk_stats_init(&st);
	if (open_rejects(o, &R) != 0)
		return TSK_EXIT_FAIL;
	if ((rc = tsk_ingest_new(NULL, &o->io, &st, &ing, o->cli.err, sizeof o->cli.err)) != TSK_OK)
		goto out;
	rc = tsk_ingest_lines(ing, stdin, o->cli.tenant, on_reject, &R, &rejected, o->cli.err, sizeof o->cli.err);
out:
	if (rc != TSK_OK)
		tsk_err("%s", o->cli.err);
	exitc = rc == TSK_OK ? (rejected > 0 ? TSK_EXIT_PARTIAL : TSK_EXIT_OK) : tsk_exit_code(rc);
	if (rc == TSK_EINVAL)
		exitc = TSK_EXIT_FAIL;
	/* The counters, also after a failure: they say how far it got. */
	if (print_json(o, counters_json(&st, "stdin", NULL)) != 0)
		exitc = exitc == TSK_EXIT_OK || exitc == TSK_EXIT_PARTIAL ? TSK_EXIT_FAIL : exitc;
	if (close_rejects(&R) != 0 && (exitc == TSK_EXIT_OK || exitc == TSK_EXIT_PARTIAL))
		exitc = TSK_EXIT_FAIL;
	tsk_ingest_free(ing);
	return exitc;
}

/* ---- spool commands ----------------------------------------------------------------------------- */

static int
open_spool(struct opts *o, int must_exist, struct tsk_spool **sp)
{
	struct tsk_spool_opts so = o->so;

	so.must_exist = must_exist;
	return tsk_spool_open(o->spool_path, &so, sp, o->cli.err, sizeof o->cli.err);
}

static int
cmd_drain(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;

	(void)argc;
	(void)argv;
	struct tsk_spool *sp = NULL;
	struct tsk_ingest *ing = NULL;
	struct tsk_stats st;
	int rc, exitc;

	tsk_stats_init(&st);
	rc = open_spool(o, 1, &sp);
	if (rc == TSK_ENOTFOUND) {
		tsk_info("no spool at %s: nothing to drain", o->spool_path);
		return print_json(o, tsk_stats_to_json(&st, "drain", NULL)) == 0 ? TSK_EXIT_OK : TSK_EXIT_FAIL;
	}
	if (rc == TSK_OK)
		rc = tsk_ingest_new(sp, &o->io, &st, &ing, o->cli.err, sizeof o->cli.err);
	if (rc == TSK_OK)
		rc = tsk_ingest_drain(ing, o->cli.err, sizeof o->cli.err);
	if (rc != TSK_OK)
		tsk_err("%s", o->cli.err);
	exitc = tsk_exit_code(rc);
	if (rc == TSK_EINVAL)
		exitc = TSK_EXIT_FAIL;
	/* Corrupt rows were quarantined as dead letters and everything else was stored: like rejected
	 * lines of stdin, exit 3. */
	if (rc == TSK_OK && atomic_load(&tsk_spool_counters(sp)->quarantined) > 0)
		exitc = TSK_EXIT_PARTIAL;
	if (print_json(o, counters_json(&st, "drain", sp)) != 0)
		exitc = exitc == 0 ? TSK_EXIT_FAIL : exitc;
	tsk_ingest_free(ing);
	tsk_spool_close(sp);
	return exitc;
}

static int
cmd_stats(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;

	(void)argc;
	(void)argv;
	struct tsk_spool *sp = NULL;
	struct tsk_stats st;
	char *path = tsk_stats_path(o->spool_path);
	json_t *file = NULL, *out = NULL;
	int rc, exitc = TSK_EXIT_FAIL;

	if (path == NULL)
		return TSK_EXIT_FAIL;
	tsk_stats_init(&st);
	atomic_store(&st.started_us, 0);
	int frc = tsk_stats_read_file(path, &file, o->cli.err, sizeof o->cli.err);
	rc = open_spool(o, 1, &sp);
	if (rc == TSK_ETEMP && frc == TSK_OK) {
		/* Locked: a tsk-ingest process owns the spool and writes this file every second. */
		out = json_incref(file);
		json_object_set_new(out, "running", json_true());
	} else if (rc == TSK_OK) {
		out = counters_json(&st, "spool", sp);
		if (out != NULL) {
			json_object_set_new(out, "running", json_false());
			/* The last run's totals, when it left its stats behind. */
			if (file != NULL)
				json_object_set(out, "last_run", file);
		}
	} else if (rc == TSK_ENOTFOUND && frc == TSK_OK) {
		out = json_incref(file);
		json_object_set_new(out, "running", json_false());
	} else {
		if (rc == TSK_ENOTFOUND)
			snprintf(o->cli.err, sizeof o->cli.err, "no spool at %s", o->spool_path);
		else if (rc == TSK_OK || rc == TSK_ETEMP)
			snprintf(o->cli.err, sizeof o->cli.err, "%s is in use and %s has no counters yet", o->spool_path, path);
		tsk_err("%s", o->cli.err);
		exitc = rc == TSK_ETEMP ? TSK_EXIT_TEMP : TSK_EXIT_FAIL;
		goto done;
	}
	exitc = print_json(o, out) == 0 ? TSK_EXIT_OK : TSK_EXIT_FAIL;
	out = NULL;
done:
	json_decref(out);
	json_decref(file);
	tsk_spool_close(sp);
	free(path);
	return exitc;
}

static int
print_dead(void *arg, const struct tsk_spool_dead *d)
{
	char ts[TSK_TIME_STRLEN];
	struct opts *opts = arg;
	json_t *o;

	o = json_pack("{s:I, s:s, s:s, s:o, s:o, s:I}", "id", (json_int_t)d->id, "received",
	    tsk_time_format(d->received_us, ts), "reason", d->reason != NULL ? d->reason : "",
	    "detail", d->detail != NULL ? json_string(d->detail) : json_null(),
	    "source", d->source != NULL ? tsk_json_lossy_string(d->source, strlen(d->source)) : json_null(),
	    "bytes", (json_int_t)d->len);
	if (o != NULL && d->body != NULL)
		json_object_set_new(o, "body", tsk_json_lossy_string(d->body, d->len));
	return print_json(opts, o) == 0 ? 0 : 1;
}

static int
cmd_dead(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	struct tsk_spool *sp = NULL;
	int purge = argc > 0 && strcmp(argv[0], "purge") == 0, rc;

	if (argc > (purge ? 1 : 0))
		return tsk_cli_usage("usage: dead [--reason R] [--limit N] | dead purge");
	/* The dead letters' own file, shared: this works while tsk-ingest mqtt runs. A spool that has not
	 * been opened since dead letters moved out of it still has them inside: open it (and move them). */
	rc = tsk_spool_dead_open(o->spool_path, &o->so, &sp, o->cli.err, sizeof o->cli.err);
	if (rc == TSK_ENOTFOUND)
		rc = open_spool(o, 1, &sp);
	if (rc != TSK_OK) {
		tsk_err("%s", o->cli.err);
		return tsk_exit_code(rc) == TSK_EXIT_USAGE ? TSK_EXIT_FAIL : tsk_exit_code(rc);
	}
	if (purge) {
		uint64_t n = 0;
		rc = tsk_spool_dead_purge(sp, INT64_MAX, &n, o->cli.err, sizeof o->cli.err);
		if (rc == TSK_OK)
			rc = print_json(o, json_pack("{s:I}", "purged", (json_int_t)n)) == 0 ? TSK_OK : TSK_EFAIL;
	} else {
		rc = tsk_spool_dead_list(sp, o->dead_reason, 0, (size_t)o->dead_limit, print_dead, o, o->cli.err, sizeof o->cli.err);
		if (rc > 0) {
			snprintf(o->cli.err, sizeof o->cli.err, "write error");
			rc = TSK_EFAIL;
		}
	}
	if (rc != TSK_OK)
		tsk_err("%s", o->cli.err);
	tsk_spool_close(sp);
	return rc == TSK_OK ? TSK_EXIT_OK : TSK_EXIT_FAIL;
}

/* ---- mqtt --------------------------------------------------------------------------------------- */

struct mqtt_ctx {
	struct tsk_ingest *ing;
	struct tsk_ingest_group *group; /* the burst being read (the network thread's) */
	int wait_ms;
	int warned;
};

static int
mqtt_msg(void *arg, const char *topic, const void *payload, size_t len, int64_t arrival_us)
{
	struct mqtt_ctx *c = arg;
	char err[TSK_ERRLEN];

	if (tsk_ingest_stage(c->ing, c->group, topic, payload, len, arrival_us, err, sizeof err) == TSK_OK)
		return 0;
	if (!c->warned++)
		tsk_warn("cannot take a message (it stays with the broker): %s", err);
	return 1;
}

/* The burst's spool commit: only after it may its PUBACKs go (lib/ingest/mqtt.h). */
static int
mqtt_commit(void *arg)
{
	struct mqtt_ctx *c = arg;
	char err[TSK_ERRLEN];
	int rc = tsk_ingest_commit(c->ing, c->group, c->wait_ms, err, sizeof err);

	if (rc == TSK_OK)
		return 0;
	if (rc != TSK_EFULL && !c->warned++)
		tsk_warn("cannot spool messages (they stay with the broker): %s", err);
	return 1;
}

static int
mqtt_gate(void *arg)
{
	return tsk_ingest_has_room(((struct mqtt_ctx *)arg)->ing);
}

static void
write_stats(const char *path, struct tsk_stats *st, struct tsk_spool *sp)
{
	char err[TSK_ERRLEN];
	json_t *j = counters_json(st, "mqtt", sp);

	if (j != NULL && tsk_stats_write_file(path, j, err, sizeof err) != TSK_OK)
		tsk_debug("%s", err);
	json_decref(j);
}

static int
cmd_mqtt(void *arg, int argc, char **argv)
{
	struct opts *o = arg;

	(void)argc;
	(void)argv;
	struct tsk_spool *sp = NULL;
	struct tsk_ingest *ing = NULL;
	struct tsk_mqtt *mq = NULL;
	struct mqtt_ctx ctx = { 0 };
	struct tsk_stats st;
	char *stats_path = NULL;
	sigset_t sigs;
	int rc, exitc = TSK_EXIT_FAIL, stuck = 0, sig = 0;

	tsk_stats_init(&st);
	/* Signals are taken by sigtimedwait() in this thread only: block them before any thread starts. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if ((stats_path = tsk_stats_path(o->spool_path)) == NULL)
		goto out;
	if ((rc = open_spool(o, 0, &sp)) != TSK_OK) {
		tsk_err("%s", o->cli.err);
		exitc = tsk_exit_code(rc) == TSK_EXIT_USAGE ? TSK_EXIT_FAIL : tsk_exit_code(rc);
		goto out;
	}
	o->io.spool_max_msgs = o->so.max_msgs;
	o->io.spool_max_bytes = o->so.max_bytes;
	if ((rc = tsk_ingest_new(sp, &o->io, &st, &ing, o->cli.err, sizeof o->cli.err)) != TSK_OK ||
	    (rc = tsk_ingest_start(ing, o->cli.err, sizeof o->cli.err)) != TSK_OK) {
		tsk_err("%s", o->cli.err);
		goto out;
	}
	ctx.ing = ing;
	if ((ctx.group = tsk_ingest_group_new()) == NULL) {
		tsk_err("out of memory");
		goto out;
	}
	/* How long a message may wait for room before we drop the connection instead (see mqtt.h): well
	 * inside the keepalive, so the broker never has to time us out. */
	ctx.wait_ms = o->m.keepalive * 1000 / 2;
	if (ctx.wait_ms > 30000)
		ctx.wait_ms = 30000;
	if ((rc = tsk_mqtt_start(&o->m, mqtt_msg, mqtt_commit, mqtt_gate, log_cb, &ctx, &st, &mq, o->cli.err,
	    sizeof o->cli.err)) != TSK_OK) {
		tsk_err("%s", o->cli.err);
		exitc = rc == TSK_EINVAL ? TSK_EXIT_USAGE : TSK_EXIT_FAIL;
		goto out;
	}
	tsk_info("ingesting from %s into the spool %s", o->m.url != NULL ? o->m.url : "mqtt://localhost", o->spool_path);
	for (;;) {
		struct timespec tick = { 1, 0 };
		write_stats(stats_path, &st, sp);
		if (tsk_ingest_failed(ing, o->cli.err, sizeof o->cli.err)) {
			tsk_err("flusher stopped: %s", o->cli.err);
			break;
		}
		sig = sigtimedwait(&sigs, NULL, &tick);
		if (sig > 0)
			break;
	}
	if (sig > 0)
		tsk_info("%s: stopping", strsignal(sig));
	/* Stop reading first (a receiver waiting for room gives up, its message stays with the broker),
	 * then flush what is spooled, for a bounded time. */
	tsk_ingest_interrupt(ing);
	tsk_mqtt_stop(mq, 2000);
	mq = NULL;
	rc = tsk_ingest_stop(ing, tsk_now_us() + o->drain_timeout_us, &stuck, o->cli.err, sizeof o->cli.err);
	if (rc == TSK_EFAIL)
		tsk_err("%s", o->cli.err);
	else if (rc != TSK_OK)
		tsk_warn("%s", o->cli.err);
	write_stats(stats_path, &st, stuck ? NULL : sp);
	/* A SIGTERM is a normal stop whatever was left spooled: it is safe there for the next start. */
	exitc = sig > 0 && rc != TSK_EFAIL ? TSK_EXIT_OK : TSK_EXIT_FAIL;
	if (stuck)
		_exit(exitc); /* the flusher still holds the spool: leave it to the kernel, as after a crash */
out:
	tsk_mqtt_stop(mq, 2000);
	tsk_ingest_group_free(ctx.group);
	tsk_ingest_free(ing);
	tsk_spool_close(sp);
	free(stats_path);
	return exitc;
}

/* ---- main --------------------------------------------------------------------------------------- */

enum {
	O_SPOOL = 256, O_SPOOL_MAX, O_SYNC, O_BATCH, O_FLUSH, O_NOCAT, O_URL, O_TOPIC, O_SHARE, O_CLIENT, O_QOS,
	O_PROTO, O_KEEP, O_RMAX, O_SEXP, O_CAFILE, O_CAPATH, O_CERT, O_KEY, O_INSECURE, O_DRAIN, O_REJECT,
	O_RETRY, O_REASON, O_LIMIT, O_ARCHIVE
};

static int
set_duration(const char *name, const char *v, int64_t *out)
{
	if (tsk_duration_parse(v, out) != TSK_OK) {
		tsk_cli_usage("bad %s \"%s\" (a duration like 500ms, 10s, 5m)", name, v);
		return -1;
	}
	return 0;
}

static const struct tsk_cli_command commands[] = {
	{ "mqtt", cmd_mqtt, 0 }, { "stdin", cmd_stdin, 0 }, { "parse", cmd_parse, 0 }, { "drain", cmd_drain, 0 },
	{ "stats", cmd_stats, 0 }, { "dead", cmd_dead, TSK_CLI_TAKES_ARGS },
};

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		TSK_CLI_LONGOPTS, { "spool", required_argument, NULL, O_SPOOL },
		{ "spool-max", required_argument, NULL, O_SPOOL_MAX }, { "sync", required_argument, NULL, O_SYNC },
		{ "batch", required_argument, NULL, O_BATCH }, { "flush-interval", required_argument, NULL, O_FLUSH },
		{ "no-catalog", no_argument, NULL, O_NOCAT }, { "url", required_argument, NULL, O_URL },
		{ "topic", required_argument, NULL, O_TOPIC }, { "share", required_argument, NULL, O_SHARE },
		{ "client-id", required_argument, NULL, O_CLIENT }, { "qos", required_argument, NULL, O_QOS },
		{ "protocol", required_argument, NULL, O_PROTO }, { "keepalive", required_argument, NULL, O_KEEP },
		{ "receive-max", required_argument, NULL, O_RMAX }, { "session-expiry", required_argument, NULL, O_SEXP },
		{ "cafile", required_argument, NULL, O_CAFILE }, { "capath", required_argument, NULL, O_CAPATH },
		{ "cert", required_argument, NULL, O_CERT }, { "key", required_argument, NULL, O_KEY },
		{ "insecure", no_argument, NULL, O_INSECURE }, { "drain-timeout", required_argument, NULL, O_DRAIN },
		{ "reject", required_argument, NULL, O_REJECT }, { "retry-for", required_argument, NULL, O_RETRY },
		{ "reason", required_argument, NULL, O_REASON }, { "limit", required_argument, NULL, O_LIMIT },
		{ "archive", no_argument, NULL, O_ARCHIVE }, { NULL, 0, NULL, 0 }
	};
	static struct opts o; /* static: zeroed, and off the stack of a long-running process */
	const char *v;
	int c, rc = TSK_EXIT_USAGE;
	long n;
	int64_t d;

	tsk_cli_init(&o.cli, PROG, usage_text);
	o.m.qos = 1;
	o.drain_timeout_us = 10 * TSK_US_PER_S;
	while ((c = getopt_long(argc, argv, TSK_CLI_SHORTOPTS, longopts, NULL)) != -1) {
		switch (tsk_cli_take(&o.cli, NULL, c, optarg, &rc)) {
		case -1: goto out;     /* --help, --version, or a bad option */
		case 1: continue;      /* a common option */
		}
		switch (c) {
		case O_SPOOL: tsk_conf_set(&o.cli.conf, "spool", optarg); break;
		case O_SPOOL_MAX: tsk_conf_set(&o.cli.conf, "spool_max", optarg); break;
		case O_SYNC: tsk_conf_set(&o.cli.conf, "spool_sync", optarg); break;
		case O_BATCH:
			if (tsk_cli_long(optarg, 1, 1000000, &n) != 0) {
				rc = tsk_cli_usage("--batch must be 1..1000000, not \"%s\"", optarg);
				goto out;
			}
			o.io.batch = (size_t)n;
			break;
		case O_FLUSH:
			if (set_duration("--flush-interval", optarg, &d) != 0)
				goto out;
			o.io.flush_interval_ms = d / 1000 > 0 ? (int)(d / 1000 < 60000 ? d / 1000 : 60000) : 1;
			break;
		case O_NOCAT: o.io.no_catalog = 1; break;
		case O_ARCHIVE: tsk_conf_set(&o.cli.conf, "archive", "yes"); break;
		case O_URL: tsk_conf_set(&o.cli.conf, "mqtt_url", optarg); break;
		case O_TOPIC:
			if (o.ntopics == TSK_MQTT_MAX_TOPICS) {
				rc = tsk_cli_usage("at most %d --topic options", TSK_MQTT_MAX_TOPICS);
				goto out;
			}
			o.topics[o.ntopics++] = optarg;
			break;
		case O_SHARE: o.m.share = optarg; break;
		case O_CLIENT: o.m.client_id = optarg; break;
		case O_QOS:
			if (tsk_cli_long(optarg, 0, 1, &n) != 0) {
				rc = tsk_cli_usage("--qos must be 0 or 1 (QoS 2 is not safe with libmosquitto), not \"%s\"", optarg);
				goto out;
			}
			o.m.qos = (int)n;
			break;
		case O_PROTO:
			if (tsk_cli_long(optarg, 0, 311, &n) != 0 || (n != 5 && n != 311)) {
				rc = tsk_cli_usage("--protocol must be 5 or 311, not \"%s\"", optarg);
				goto out;
			}
			o.m.protocol = (int)n;
			break;
		case O_KEEP:
			if (tsk_cli_long(optarg, 5, 65535, &n) != 0) {
				rc = tsk_cli_usage("--keepalive must be 5..65535 seconds, not \"%s\"", optarg);
				goto out;
			}
			o.m.keepalive = (int)n;
			break;
		case O_RMAX:
			if (tsk_cli_long(optarg, 1, 65535, &n) != 0) {
				rc = tsk_cli_usage("--receive-max must be 1..65535, not \"%s\"", optarg);
				goto out;
			}
			o.m.receive_max = (int)n;
			break;
		case O_SEXP:
			if (set_duration("--session-expiry", optarg, &d) != 0)
				goto out;
			o.m.session_expiry = d / TSK_US_PER_S > 0 ? d / TSK_US_PER_S : 1;
			break;
		case O_CAFILE: o.m.cafile = optarg; break;
		case O_CAPATH: o.m.capath = optarg; break;
		case O_CERT: o.m.certfile = optarg; break;
		case O_KEY: o.m.keyfile = optarg; break;
		case O_INSECURE: o.m.insecure = 1; break;
		case O_DRAIN:
			if (set_duration("--drain-timeout", optarg, &o.drain_timeout_us) != 0)
				goto out;
			break;
		case O_REJECT: o.reject_path = optarg; break;
		case O_RETRY:
			if (set_duration("--retry-for", optarg, &o.io.retry_for_us) != 0)
				goto out;
			break;
		case O_REASON: o.dead_reason = optarg; break;
		case O_LIMIT:
			if (tsk_cli_long(optarg, 0, LONG_MAX, &o.dead_limit) != 0) {
				rc = tsk_cli_usage("--limit must be a count, not \"%s\"", optarg);
				goto out;
			}
			break;
		}
	}
	signal(SIGPIPE, SIG_IGN); /* a dropped connection is an error return, not a death */
	if ((rc = tsk_cli_setup(&o.cli)) != TSK_EXIT_OK)
		goto out;
	o.io.dsn = tsk_conf_dsn(&o.cli.conf);
	o.io.log = log_cb;
	o.spool_path = tsk_conf_get_default(&o.cli.conf, "spool", DEFAULT_SPOOL);
	v = tsk_conf_get_default(&o.cli.conf, "spool_max", "1G");
	if (tsk_cli_size(v, &o.so.max_bytes) != 0) {
		rc = tsk_cli_usage("bad --spool-max \"%s\" (bytes, or with k, M, G)", v);
		goto out;
	}
	v = tsk_conf_get_default(&o.cli.conf, "spool_sync", "normal");
	if (strcmp(v, "normal") != 0 && strcmp(v, "full") != 0) {
		rc = tsk_cli_usage("--sync must be normal or full, not \"%s\"", v);
		goto out;
	}
	o.so.sync_full = strcmp(v, "full") == 0;
	v = tsk_conf_get_default(&o.cli.conf, "archive", "no");
	if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0) {
		rc = tsk_cli_usage("archive must be yes or no, not \"%s\"", v);
		goto out;
	}
	o.io.archive = strcmp(v, "yes") == 0;
	o.so.max_dead = 100000;
	o.m.url = tsk_conf_get(&o.cli.conf, "mqtt_url");
	for (int i = 0; i < o.ntopics; i++)
		o.m.topics[i] = o.topics[i];
	o.m.ntopics = o.ntopics;
	if (o.m.client_id == NULL) {
		char host[256] = "localhost";
		gethostname(host, sizeof host - 1);
		snprintf(o.client_id, sizeof o.client_id, "tsk-ingest-%s", host);
		o.m.client_id = tsk_conf_get_default(&o.cli.conf, "mqtt_client_id", o.client_id);
	}
	rc = tsk_cli_dispatch(&o.cli, commands, sizeof commands / sizeof commands[0], argc - optind, argv + optind, &o);
	rc = tsk_cli_finish(&o.cli, rc);
out:
	tsk_cli_free(&o.cli);
	return rc;
}
