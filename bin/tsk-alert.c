/*
 * tsk-alert: alert rules, their evaluation into alerts (pending, firing, nodata, resolved), and what
 * people do to alerts. Option parsing and orchestration only; the work is in lib/alert/.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <time.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/alert.h"
#include "cli/cli.h"
#include "core/conf.h"
#include "core/jsonl.h"
#include "core/log.h"
#include "core/time.h"
#include "core/tsk.h"
#include "notify/mail.h"

static const char usage_text[] =
    "usage: tsk-alert [options] command [args]\n"
    "\n"
    "Rules (--tenant SLUG):\n"
    "  rule add                  rules from standard input, one JSON object a line (the API's create\n"
    "                            body; equipment: the asset's id or tag); prints each as a JSON line\n"
    "  rule list [--enabled true|false] [--severity S] [--equipment ID]\n"
    "  rule show ID | rm ID | enable ID | disable ID\n"
    "  rule set ID               changes from one JSON object on standard input (parameters replace all)\n"
    "Evaluation:\n"
    "  eval [--at TIME] [--stale DURATION]\n"
    "                            judge every enabled rule (all tenants, or --tenant) as of TIME (default\n"
    "                            now); prints the state changes as JSON lines; run every minute\n"
    "Alerts (--tenant SLUG):\n"
    "  list [--status active|acknowledged|resolved] [--severity S] [--rule ID] [--asset TAG] [--limit N]\n"
    "  show ID\n"
    "  ack ID [--notes TEXT]     acknowledge: no more repeat notifications\n"
    "  resolve ID [--notes TEXT] resolve by hand (a new alert needs 30 minutes and the condition again)\n"
    "  silence ID --until TIME   no notification before TIME\n"
    "  cleanup [--days N]        delete alerts resolved more than N days ago (default 90; all tenants,\n"
    "                            or --tenant); run daily\n"
    "Notifications:\n"
    "  notify [--once] [--interval SECS]\n"
    "                            deliver the outbox (e-mail: smtp_url, mail_from; webhooks: the tenant's\n"
    "                            webhook_url and webhook_secret), retrying with backoff; a service, or\n"
    "                            one pass with --once\n"
    "\n"
    "Options:\n"
    "  -d, --dsn DSN        PostgreSQL connection (default $TSK_DATABASE_URL, then PG* variables)\n"
    "  -c, --config FILE    configuration file (default $TSK_CONFIG or /etc/tsk/tsk.conf)\n"
    "  -t, --tenant SLUG    the tenant\n"
    "  -f, --format FMT     jsonl (default), csv or table\n"
    "      --at TIME        the instant to evaluate as of (RFC 3339, or -5m style relative; default now,\n"
    "                       or TSK_NOW)\n"
    "  -q, --quiet          only errors on stderr\n"
    "  -v, --verbose        more detail on stderr\n"
    "  -h, --help           this text\n"
    "  -V, --version        the version\n"
    "\n"
    "Exit status: 0 ok, 1 failure, 2 bad usage or input (nothing changed), 3 some input lines refused,\n"
    "75 database unavailable. See tsk-alert(1).\n";

struct opts {
	struct tsk_cli cli;
	const char *at, *stale, *enabled, *severity, *status, *asset, *notes, *until, *limit, *days, *interval;
	int once;
	int64_t equipment, rule;
};

static int
fail(struct opts *o, int rc)
{
	return tsk_cli_fail(&o->cli, rc);
}

/* A positive decimal id, or 0. */
static int64_t
parse_id(const char *s)
{
	char *end;
	long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return 0;
	v = strtoll(s, &end, 10);
	return *end == '\0' && v > 0 ? (int64_t)v : 0;
}

static int
print_one(struct opts *o, json_t *v)
{
	return tsk_cli_print_one(&o->cli, NULL, v);
}

static int
need_tenant(struct opts *o)
{
	if (o->cli.tenant == NULL || o->cli.tenant[0] == '\0')
		return tsk_cli_usage("this command needs --tenant SLUG");
	return 0;
}

/* rule add: one rule a line; a bad line is reported with its number and the others still go in. */
static int
rule_add(struct opts *o)
{
	struct tsk_jsonl r;
	json_t *v, *out;
	int got, bad = 0, good = 0, rc, exitc = TSK_EXIT_OK;
	char lerr[TSK_ERRLEN];

	tsk_jsonl_init(&r, stdin);
	r.max = 1 << 20;
	while ((got = tsk_jsonl_next(&r, &v, lerr, sizeof lerr)) != 0) {
		if (got < 0) {
			tsk_err("line %ld: %s", r.lineno, lerr);
			bad++;
			continue;
		}
		rc = tsk_alert_rule_add(o->cli.db, o->cli.tenant, v, 0, &out, o->cli.err, sizeof o->cli.err);
		json_decref(v);
		if (rc == TSK_EINVAL || rc == TSK_ENOTFOUND) {
			tsk_err("line %ld: %s", r.lineno, o->cli.err);
			bad++;
			continue;
		}
		if (rc != TSK_OK) {
			exitc = fail(o, rc);
			break;
		}
		good++;
		if (print_one(o, out) != TSK_EXIT_OK) {
			exitc = TSK_EXIT_FAIL;
			break;
		}
	}
	tsk_jsonl_free(&r);
	if (exitc != TSK_EXIT_OK)
		return exitc;
	tsk_info("%d rules added, %d lines refused", good, bad);
	return bad == 0 ? TSK_EXIT_OK : good > 0 ? TSK_EXIT_PARTIAL : TSK_EXIT_USAGE;
}

static int
rule_set(struct opts *o, int64_t id)
{
	struct tsk_jsonl r;
	json_t *v = NULL, *out;
	int rc;

	tsk_jsonl_init(&r, stdin);
	r.max = 1 << 20;
	rc = tsk_jsonl_next(&r, &v, o->cli.err, sizeof o->cli.err);
	tsk_jsonl_free(&r);
	if (rc <= 0)
		return tsk_cli_usage("rule set ID reads one JSON object on standard input%s%s", rc < 0 ? ": " : "",
		    rc < 0 ? o->cli.err : "");
	rc = tsk_alert_rule_set(o->cli.db, o->cli.tenant, id, v, &out, o->cli.err, sizeof o->cli.err);
	json_decref(v);
	return rc != TSK_OK ? fail(o, rc) : print_one(o, out);
}

static int
cmd_rule(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	json_t *out;
	int64_t id;
	int rc;

	if ((rc = need_tenant(o)) != 0)
		return rc;
	if (argc < 1)
		return tsk_cli_usage("rule add|list|show|set|enable|disable|rm");
	if (strcmp(argv[0], "add") == 0 && argc == 1)
		return rule_add(o);
	if (strcmp(argv[0], "list") == 0 && argc == 1) {
		struct tsk_alert_rule_filter f = { o->enabled, o->severity, o->equipment };
		rc = tsk_alert_rule_list(o->cli.db, o->cli.tenant, &f, &out, o->cli.err, sizeof o->cli.err);
		return rc != TSK_OK ? fail(o, rc) : tsk_cli_print(&o->cli, NULL, out);
	}
	if (argc != 2 || (id = parse_id(argv[1])) == 0)
		return tsk_cli_usage("rule %s needs one rule id", argv[0]);
	if (strcmp(argv[0], "show") == 0)
		rc = tsk_alert_rule_show(o->cli.db, o->cli.tenant, id, &out, o->cli.err, sizeof o->cli.err);
	else if (strcmp(argv[0], "set") == 0)
		return rule_set(o, id);
	else if (strcmp(argv[0], "enable") == 0 || strcmp(argv[0], "disable") == 0)
		rc = tsk_alert_rule_enable(o->cli.db, o->cli.tenant, id, argv[0][0] == 'e', &out, o->cli.err,
		    sizeof o->cli.err);
	else if (strcmp(argv[0], "rm") == 0) {
		rc = tsk_alert_rule_rm(o->cli.db, o->cli.tenant, id, o->cli.err, sizeof o->cli.err);
		out = rc == TSK_OK ? json_pack("{s:I, s:b}", "id", (json_int_t)id, "deleted", 1) : NULL;
	} else
		return tsk_cli_usage("unknown rule command \"%s\"", argv[0]);
	return rc != TSK_OK ? fail(o, rc) : print_one(o, out);
}

static void
print_change(void *arg, json_t *change)
{
	struct opts *o = arg;

	if (tsk_jsonl_write(stdout, change) != 0)
		tsk_cli_write_error(&o->cli);
}

static void
warn_tenant(void *arg, const char *slug, const char *msg)
{
	(void)arg;
	tsk_err("eval %s: %s", slug, msg);
}

static int
cmd_eval(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	struct tsk_alert_eval_result r;
	int64_t at = o->cli.now, stale = 0;
	int rc;

	(void)argv;
	if (argc != 0)
		return tsk_cli_usage("eval takes no arguments");
	if (o->at != NULL && tsk_time_parse(o->at, o->cli.now, &at) != 0)
		return tsk_cli_usage("--at: \"%s\" is not a time (RFC 3339, or relative like -5m)", o->at);
	if (o->stale != NULL && (tsk_duration_parse(o->stale, &stale) != 0 || stale < 60000000LL ||
	    stale > 7 * 86400000000LL))
		return tsk_cli_usage("--stale: \"%s\" is not a duration from 1m to 7d", o->stale);
	rc = tsk_alert_eval(o->cli.db, o->cli.tenant, at, (int)(stale / 1000000), print_change, o, &r, warn_tenant,
	    o->cli.err, sizeof o->cli.err);
	tsk_info("%d tenants, %d rules, %d parameters: %d changes, %d notifications queued, %d tenants failed", r.tenants,
	    r.rules, r.parameters, r.changes, r.notifications, r.failed);
	if (rc != TSK_OK)
		return r.failed > 0 && o->cli.tenant == NULL ? tsk_exit_code(rc) : fail(o, rc);
	return TSK_EXIT_OK;
}

static int
cmd_list(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	struct tsk_alert_filter f = { o->status, o->severity, o->asset, o->rule, 0, 0 };
	json_t *out;
	int rc;

	(void)argv;
	if ((rc = need_tenant(o)) != 0)
		return rc;
	if (argc != 0)
		return tsk_cli_usage("list takes no arguments");
	if (o->limit != NULL && (f.limit = parse_id(o->limit)) == 0)
		return tsk_cli_usage("--limit: a positive number");
	rc = tsk_alert_list(o->cli.db, o->cli.tenant, &f, &out, NULL, o->cli.err, sizeof o->cli.err);
	if (rc == TSK_EINVAL)
		return tsk_cli_usage("%s", o->cli.err);
	return rc != TSK_OK ? fail(o, rc) : tsk_cli_print(&o->cli, NULL, out);
}

/* show, ack, resolve, silence: one alert id. */
static int
cmd_alert(void *ctx, int argc, char **argv, int what)
{
	struct opts *o = ctx;
	json_t *out = NULL;
	int64_t id, until;
	int rc;

	if ((rc = need_tenant(o)) != 0)
		return rc;
	if (argc != 1 || (id = parse_id(argv[0])) == 0)
		return tsk_cli_usage("this command needs one alert id");
	switch (what) {
	case 's':
		rc = tsk_alert_show(o->cli.db, o->cli.tenant, id, &out, o->cli.err, sizeof o->cli.err);
		break;
	case 'a':
		rc = tsk_alert_ack(o->cli.db, o->cli.tenant, id, 0, o->notes, o->cli.now, &out, o->cli.err, sizeof o->cli.err);
		break;
	case 'r':
		rc = tsk_alert_resolve(o->cli.db, o->cli.tenant, id, 0, o->notes, o->cli.now, &out, o->cli.err,
		    sizeof o->cli.err);
		break;
	default:
		if (o->until == NULL || tsk_time_parse(o->until, o->cli.now, &until) != 0)
			return tsk_cli_usage("silence needs --until TIME (RFC 3339, or relative like +2h)");
		rc = tsk_alert_silence(o->cli.db, o->cli.tenant, id, until, &out, o->cli.err, sizeof o->cli.err);
	}
	return rc != TSK_OK ? fail(o, rc) : print_one(o, out);
}

static int cmd_show(void *c, int n, char **v) { return cmd_alert(c, n, v, 's'); }
static int cmd_ack(void *c, int n, char **v) { return cmd_alert(c, n, v, 'a'); }
static int cmd_resolve(void *c, int n, char **v) { return cmd_alert(c, n, v, 'r'); }
static int cmd_silence(void *c, int n, char **v) { return cmd_alert(c, n, v, 'S'); }

static int
cmd_cleanup(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	long long deleted = 0;
	int64_t days = 0;
	int rc;

	(void)argv;
	if (argc != 0)
		return tsk_cli_usage("cleanup takes no arguments");
	if (o->days != NULL && ((days = parse_id(o->days)) == 0 || days > 36500))
		return tsk_cli_usage("--days: a number of days, 1 to 36500");
	rc = tsk_alert_cleanup(o->cli.db, o->cli.tenant, o->cli.now, (int)days, &deleted, o->cli.err, sizeof o->cli.err);
	if (rc != TSK_OK)
		return fail(o, rc);
	return print_one(o, json_pack("{s:I}", "deleted", (json_int_t)deleted));
}

static volatile int stop_flag;

static void
on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* notify: passes over the outbox until SIGTERM (or one with --once). */
static int
cmd_notify(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	struct tsk_mail_conf mc;
	struct tsk_alert_notify_opts no = { 0 };
	struct tsk_alert_notify_result r;
	struct sigaction sa;
	long interval = 5;
	int rc;

	(void)argv;
	if (argc != 0)
		return tsk_cli_usage("notify takes no arguments");
	if (o->interval != NULL) {
		char *end;
		interval = strtol(o->interval, &end, 10);
		if (end == o->interval || *end != '\0' || interval < 1 || interval > 3600)
			return tsk_cli_usage("--interval: seconds, 1 to 3600");
	}
	if (tsk_mail_conf_load(&o->cli.conf, &mc, o->cli.err, sizeof o->cli.err) == TSK_OK)
		no.mail = &mc;
	else
		tsk_warn("e-mail is not configured (%s): e-mail notifications wait", o->cli.err);
	no.frontend_url = tsk_conf_get(&o->cli.conf, "frontend_url");
	no.cancel = &stop_flag;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (!o->once)
		tsk_info("notify: delivering every %ld s until SIGTERM", interval);
	for (;;) {
		/* TSK_NOW fixes the clock for tests; a service follows the real one. */
		int64_t now = getenv("TSK_NOW") != NULL ? o->cli.now : tsk_now_us();
		rc = tsk_alert_notify(o->cli.db, &no, o->cli.tenant, now, &r, o->cli.err, sizeof o->cli.err);
		if (r.sent + r.retried + r.failed > 0 || o->once)
			tsk_info("notifications: %d sent, %d to retry, %d failed", r.sent, r.retried, r.failed);
		if (o->once || stop_flag)
			break;
		if (rc != TSK_OK) {
			tsk_err("%s", o->cli.err);
			if (PQstatus(o->cli.db) != CONNECTION_OK)
				PQreset(o->cli.db);
		}
		struct timespec ts = { interval, 0 };
		while (!stop_flag && nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		if (stop_flag)
			break;
	}
	if (rc != TSK_OK && o->once)
		return fail(o, rc);
	if (o->once)
		return print_one(o, json_pack("{s:i, s:i, s:i}", "sent", r.sent, "retried", r.retried, "failed", r.failed));
	return TSK_EXIT_OK;
}

#define DB_ARGS (TSK_CLI_NEEDS_DB | TSK_CLI_TAKES_ARGS)
static const struct tsk_cli_command commands[] = {
	{ "rule", cmd_rule, DB_ARGS }, { "eval", cmd_eval, DB_ARGS }, { "list", cmd_list, DB_ARGS },
	{ "show", cmd_show, DB_ARGS }, { "ack", cmd_ack, DB_ARGS }, { "resolve", cmd_resolve, DB_ARGS },
	{ "silence", cmd_silence, DB_ARGS }, { "cleanup", cmd_cleanup, DB_ARGS }, { "notify", cmd_notify, DB_ARGS },
};

int
main(int argc, char **argv)
{
	enum { O_AT = 256, O_STALE, O_ENABLED, O_SEVERITY, O_EQUIPMENT, O_STATUS, O_RULE, O_ASSET, O_NOTES, O_UNTIL,
		O_LIMIT, O_DAYS, O_ONCE, O_INTERVAL };
	static const struct option longopts[] = {
		TSK_CLI_LONGOPTS,
		{ "at", required_argument, NULL, O_AT }, { "stale", required_argument, NULL, O_STALE },
		{ "enabled", required_argument, NULL, O_ENABLED }, { "severity", required_argument, NULL, O_SEVERITY },
		{ "equipment", required_argument, NULL, O_EQUIPMENT }, { "status", required_argument, NULL, O_STATUS },
		{ "rule", required_argument, NULL, O_RULE }, { "asset", required_argument, NULL, O_ASSET },
		{ "notes", required_argument, NULL, O_NOTES }, { "until", required_argument, NULL, O_UNTIL },
		{ "limit", required_argument, NULL, O_LIMIT }, { "days", required_argument, NULL, O_DAYS },
		{ "once", no_argument, NULL, O_ONCE }, { "interval", required_argument, NULL, O_INTERVAL },
		{ NULL, 0, NULL, 0 }
	};
	static struct opts o;
	int c, rc = TSK_EXIT_USAGE;

	tsk_cli_init(&o.cli, "tsk-alert", usage_text);
	while ((c = getopt_long(argc, argv, TSK_CLI_SHORTOPTS, longopts, NULL)) != -1) {
		switch (tsk_cli_take(&o.cli, NULL, c, optarg, &rc)) {
		case -1: goto out;
		case 1: continue;
		}
		switch (c) {
		case O_AT: o.at = optarg; break;
		case O_STALE: o.stale = optarg; break;
		case O_ENABLED: o.enabled = optarg; break;
		case O_SEVERITY: o.severity = optarg; break;
		case O_EQUIPMENT:
			if ((o.equipment = parse_id(optarg)) == 0) {
				rc = tsk_cli_usage("--equipment: an asset id");
				goto out;
			}
			break;
		case O_STATUS: o.status = optarg; break;
		case O_RULE:
			if ((o.rule = parse_id(optarg)) == 0) {
				rc = tsk_cli_usage("--rule: a rule id");
				goto out;
			}
			break;
		case O_ASSET: o.asset = optarg; break;
		case O_NOTES: o.notes = optarg; break;
		case O_UNTIL: o.until = optarg; break;
		case O_LIMIT: o.limit = optarg; break;
		case O_DAYS: o.days = optarg; break;
		case O_ONCE: o.once = 1; break;
		case O_INTERVAL: o.interval = optarg; break;
		}
	}
	if ((rc = tsk_cli_setup(&o.cli)) != TSK_EXIT_OK)
		goto out;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = tsk_cli_dispatch(&o.cli, commands, sizeof commands / sizeof commands[0], argc - optind, argv + optind, &o);
	rc = tsk_cli_finish(&o.cli, rc);
	curl_global_cleanup();
out:
	tsk_cli_free(&o.cli);
	return rc;
}
