/*
 * tsk-httpd: the HTTP daemon (GET /health, GET /metrics, POST /ingest, login and /api/users/me/, the
 * tenant API and its OpenAPI document and pages), on libmicrohttpd.
 * Options, configuration, signals and the access log file only: the daemon is lib/http/.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/time.h"
#include "core/tsk.h"
#include "http/http.h"
#include "notify/mail.h"
#include "panel/panel.h"
#include "query/s3.h"

#define PROG "tsk-httpd"
#define DEFAULT_SPOOL "/var/lib/tsk/httpd-spool.db"

static const char usage_text[] =
    "usage: tsk-httpd [options]\n"
    "\n"
    "Serves GET /health, GET /metrics, POST /ingest (the EMQX HTTP action), the login endpoints\n"
    "(/api/auth/, /api/users/me/), the tenant API (/api/team/, /api/invites/, ...) with its OpenAPI\n"
    "document (/api/schema/, Swagger UI at /api/docs/, ReDoc at /api/redoc/, their files from web_root)\n"
    "and the staff panel (/ops/) until SIGTERM.\n"
    "\n"
    "Options:\n"
    "  -l, --listen ADDR:PORT   address to listen on (default 127.0.0.1:8080)\n"
    "  -w, --workers N          worker threads, one PostgreSQL connection each (default 4)\n"
    "      --spool PATH         the daemon's own sqlite3 spool (default " DEFAULT_SPOOL ")\n"
    "  -d, --dsn DSN            PostgreSQL (default $TSK_DATABASE_URL, then PG* variables)\n"
    "  -c, --config FILE        configuration file (default $TSK_CONFIG or /etc/tsk/tsk.conf)\n"
    "  -q, --quiet  -v, --verbose  -h, --help  -V, --version\n"
    "\n"
    "Configuration keys (tsk.conf(5), or TSK_<KEY> in the environment): listen, workers, httpd_spool,\n"
    "httpd_spool_max, public_hosts, ingest_secret, ingest_body_max, body_max, header_max, request_timeout,\n"
    "request_deadline, max_connections, max_connections_per_address, drain_timeout, access_log,\n"
    "access_log_format, ingest_stats, jwt_secret (required), cookie_secure, login_burst, login_rate,\n"
    "login_address_burst, login_address_rate, trusted_proxies, mqtt_url (checked by GET /health),\n"
    "smtp_url, mail_from, smtp_ca_file, smtp_timeout, frontend_url (mail for team invites and password\n"
    "resets), reset_mail_burst, reset_mail_rate, avatar_bucket, avatar_url (avatars); the staff panel\n"
    "under /ops/: chartjs_dir, export_bucket; s3_endpoint, s3_region, s3_access_key, s3_secret_key (or\n"
    "TSK_S3_*/AWS_* in the environment) for both; web_root.\n"
    "\n"
    "Signals: SIGTERM/SIGINT finish the requests in flight and exit 0; SIGHUP reloads the\n"
    "configuration (public_hosts, ingest_secret, jwt_secret, trusted_proxies, access_log,\n"
    "access_log_format) and reopens the log.\n"
    "Exit status: 0 ok, 1 failure, 2 bad usage, 75 spool locked by another process.\n"
    "See tsk-httpd(1).\n";

/* ---- the access log: a file (reopened on SIGHUP), stderr, or nothing ---------------------------- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_f;     /* NULL: stderr */
static int log_off;

static void
access_line(void *arg, const char *line)
{
	(void)arg;
	pthread_mutex_lock(&log_mu);
	if (!log_off) {
		FILE *f = log_f != NULL ? log_f : stderr;
		fputs(line, f);
		fputc('\n', f);
		fflush(f);
	}
	pthread_mutex_unlock(&log_mu);
}

static int
open_log(const char *path)
{
	FILE *f = NULL;

	if (path != NULL && strcmp(path, "-") != 0 && strcmp(path, "off") != 0 && (f = fopen(path, "a")) == NULL) {
		tsk_err("access_log %s: %s", path, strerror(errno));
		return -1;
	}
	pthread_mutex_lock(&log_mu);
	if (log_f != NULL)
		fclose(log_f);
	log_f = f;
	log_off = path != NULL && strcmp(path, "off") == 0;
	pthread_mutex_unlock(&log_mu);
	return 0;
}

/* ---- configuration ------------------------------------------------------------------------------ */

/*
 * web_root's default, found from where the binary is: PREFIX/share/tsk/web after `make install`
 * (PREFIX/bin/tsk-httpd), else build/web in the build tree (build/tsk-httpd), where make copies the
 * files; the first that is a directory, else the installed one (its files are then 404).
 */
static const char *
default_web_root(void)
{
	static char root[PATH_MAX];
	static const char *const rel[] = { "/../share/tsk/web", "/web" };
	char exe[PATH_MAX - 32], *slash;
	struct stat sb;
	ssize_t n;

	if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) <= 0)
		return "/usr/local/share/tsk/web";
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) != NULL)
		*slash = '\0';
	for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
		snprintf(root, sizeof root, "%s%s", exe, rel[i]);
		if (stat(root, &sb) == 0 && S_ISDIR(sb.st_mode))
			return root;
	}
	snprintf(root, sizeof root, "%s%s", exe, rel[0]);
	return root;
}

struct flag {
	const char *key, *value;
};

struct cfg {
	struct tsk_http_opts o;
	struct tsk_http_settings set;
	int64_t drain_us;
	const char *access_log;
};

static int
size_key(const struct tsk_conf *c, const char *key, const char *def, uint64_t max, uint64_t *out)
{
	const char *v = tsk_conf_get_default(c, key, def);

	if (tsk_cli_size(v, out) != 0 || *out == 0 || *out > max) {
		tsk_cli_usage("bad %s \"%s\" (a size such as 64k or 1M)", key, v);
		return -1;
	}
	return 0;
}

/* A count of login attempts (a burst, or a number per minute): 1..1000000. */
static int
rate_key(const struct tsk_conf *c, const char *key, const char *def, double *out)
{
	const char *v = tsk_conf_get_default(c, key, def);
	long l;

	if (tsk_cli_long(v, 1, 1000000, &l) != 0) {
		tsk_cli_usage("%s must be 1..1000000, not \"%s\"", key, v);
		return -1;
	}
	*out = (double)l;
	return 0;
}

static int
read_cfg(const struct tsk_conf *c, struct cfg *g)
{
	const char *v;
	uint64_t n;
	long l;
	int64_t d;

	memset(g, 0, sizeof *g);
	g->o.listen = tsk_conf_get_default(c, "listen", "127.0.0.1:8080");
	g->o.dsn = tsk_conf_dsn(c);
	/* Not `spool` and `spool_max`: those are tsk-ingest's, in the same file, and a spool serves one
	 * process only. */
	g->o.spool_path = tsk_conf_get_default(c, "httpd_spool", DEFAULT_SPOOL);
	g->o.ingest_stats = tsk_conf_get(c, "ingest_stats");
	if (g->o.ingest_stats == NULL && tsk_conf_get(c, "spool") != NULL) {
		/* tsk-ingest's own stats file, next to its spool */
		static char path[4096];
		snprintf(path, sizeof path, "%s.stats", tsk_conf_get(c, "spool"));
		g->o.ingest_stats = path;
	}
	if (g->o.ingest_stats != NULL && g->o.ingest_stats[0] == '\0')
		g->o.ingest_stats = NULL;
	v = tsk_conf_get_default(c, "workers", "4");
	if (tsk_cli_long(v, 1, 1024, &l) != 0)
		return tsk_cli_usage("workers must be 1..1024, not \"%s\"", v), -1;
	g->o.workers = (unsigned)l;
	v = tsk_conf_get_default(c, "max_connections", "10000");
	if (tsk_cli_long(v, 1, 1000000, &l) != 0)
		return tsk_cli_usage("max_connections must be 1..1000000, not \"%s\"", v), -1;
	g->o.max_conns = (unsigned)l;
	v = tsk_conf_get_default(c, "max_connections_per_address", "0");
	if (tsk_cli_long(v, 0, 1000000, &l) != 0)
		return tsk_cli_usage("max_connections_per_address must be 0..1000000, not \"%s\"", v), -1;
	g->o.max_conns_per_addr = (unsigned)l;
	v = tsk_conf_get_default(c, "request_timeout", "30s");
	if (tsk_duration_parse(v, &d) != TSK_OK || d < TSK_US_PER_S)
		return tsk_cli_usage("request_timeout must be a duration of at least 1s, not \"%s\"", v), -1;
	g->o.timeout_s = (unsigned)(d / TSK_US_PER_S);
	v = tsk_conf_get_default(c, "request_deadline", "60s");
	if (tsk_duration_parse(v, &d) != TSK_OK || d < TSK_US_PER_S || d > 86400 * TSK_US_PER_S)
		return tsk_cli_usage("request_deadline must be a duration of 1s to 1d, not \"%s\"", v), -1;
	g->o.deadline_s = (unsigned)(d / TSK_US_PER_S);
	v = tsk_conf_get_default(c, "drain_timeout", "10s");
	if (tsk_duration_parse(v, &g->drain_us) != TSK_OK)
		return tsk_cli_usage("drain_timeout must be a duration, not \"%s\"", v), -1;
	if (size_key(c, "ingest_body_max", "1M", UINT64_C(64) << 20, &n) != 0)
		return -1;
	g->o.ingest_body_max = (size_t)n;
	if (size_key(c, "body_max", "64k", UINT64_C(64) << 20, &n) != 0)
		return -1;
	g->o.body_max = (size_t)n;
	if (size_key(c, "header_max", "32k", UINT64_C(1) << 20, &n) != 0)
		return -1;
	g->o.header_max = (size_t)n;
	if (size_key(c, "httpd_spool_max", "1G", UINT64_MAX, &n) != 0)
		return -1;
	g->o.spool_max_bytes = n;
	g->set.public_hosts = tsk_conf_get_default(c, "public_hosts", "localhost,api");
	g->set.ingest_secret = tsk_conf_get(c, "ingest_secret");
	g->set.trusted_proxies = tsk_conf_get(c, "trusted_proxies");
	v = tsk_conf_get_default(c, "access_log_format", "text");
	if (strcmp(v, "text") != 0 && strcmp(v, "json") != 0)
		return tsk_cli_usage("access_log_format must be text or json, not \"%s\"", v), -1;
	g->set.access_json = strcmp(v, "json") == 0;
	g->access_log = tsk_conf_get_default(c, "access_log", "-");
	g->o.access = access_line;
	g->o.ingest_token = tsk_http_ingest_token_db;
	g->o.jwt_secret = tsk_conf_get(c, "jwt_secret");
	g->o.mqtt_url = tsk_conf_get(c, "mqtt_url");
	g->set.jwt_secret = g->o.jwt_secret;
	g->o.conf = c; /* the account endpoints' settings: mail, frontend_url, avatar store */
	v = tsk_conf_get_default(c, "cookie_secure", "no");
	if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
		return tsk_cli_usage("cookie_secure must be yes or no, not \"%s\"", v), -1;
	g->o.cookie_secure = strcmp(v, "yes") == 0;
	/* Mail for invites: optional, but a half-made setting (smtp_url without mail_from) is an error. */
	if (tsk_conf_get(c, "smtp_url") != NULL && tsk_conf_get(c, "smtp_url")[0] != '\0') {
		char err[TSK_ERRLEN];
		if (tsk_mail_conf_load(c, &g->o.mail, err, sizeof err) != TSK_OK)
			return tsk_cli_usage("%s", err), -1;
	}
	g->o.frontend_url = tsk_conf_get_default(c, "frontend_url", "http://localhost:5173");
	if (strncmp(g->o.frontend_url, "http://", 7) != 0 && strncmp(g->o.frontend_url, "https://", 8) != 0)
		return tsk_cli_usage("frontend_url must start with http:// or https://, not \"%s\"", g->o.frontend_url), -1;
	if (rate_key(c, "login_burst", "5", &g->o.login_burst) != 0 ||
	    rate_key(c, "login_rate", "1", &g->o.login_per_minute) != 0 ||
	    rate_key(c, "login_address_burst", "20", &g->o.login_addr_burst) != 0 ||
	    rate_key(c, "login_address_rate", "10", &g->o.login_addr_per_minute) != 0)
		return -1;
	g->o.web_root = tsk_conf_get(c, "web_root");
	if (g->o.web_root == NULL || g->o.web_root[0] == '\0')
		g->o.web_root = default_web_root();
	return 0;
}

/* SIGHUP: the file again, with the same command-line flags on top. */
static void
reload(struct tsk_cli *cli, const struct flag *flags, int nflags, struct tsk_http *h, struct tsk_conf *keep)
{
	struct tsk_conf nc;
	struct cfg g;
	char err[TSK_ERRLEN];

	tsk_conf_init(&nc);
	for (int i = 0; i < nflags; i++)
		tsk_conf_set(&nc, flags[i].key, flags[i].value);
	if (tsk_conf_load(&nc, cli->config, err, sizeof err) != TSK_OK) {
		tsk_err("SIGHUP: %s (configuration unchanged)", err);
		tsk_conf_free(&nc);
		return;
	}
	if (read_cfg(&nc, &g) != 0) {
		tsk_err("SIGHUP: configuration unchanged");
		tsk_conf_free(&nc);
		return;
	}
	if (g.set.jwt_secret == NULL) {
		tsk_err("SIGHUP: no jwt_secret (configuration unchanged)");
		tsk_conf_free(&nc);
		return;
	}
	if (tsk_http_reload(h, &g.set, err, sizeof err) != TSK_OK) {
		tsk_err("SIGHUP: %s (configuration unchanged)", err);
		tsk_conf_free(&nc);
		return;
	}
	if (open_log(g.access_log) != 0) {
		tsk_err("SIGHUP: cannot reopen the access log (the other settings are reloaded)");
		tsk_conf_free(&nc);
		return;
	}
	/* The strings of the new settings were copied by the daemon; keep the new conf for the rest. */
	tsk_conf_free(keep);
	*keep = nc;
	tsk_info("SIGHUP: configuration reloaded, log reopened");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		TSK_CLI_LONGOPTS, { "listen", required_argument, NULL, 'l' }, { "workers", required_argument, NULL, 'w' },
		{ "spool", required_argument, NULL, 's' }, { NULL, 0, NULL, 0 }
	};
	static struct tsk_cli cli;
	struct flag flags[8];
	int nflags = 0, c, rc = TSK_EXIT_USAGE, sig = 0;
	struct tsk_http *h = NULL;
	struct tsk_panel *panel = NULL;
	struct tsk_conf cur;
	struct cfg g;
	sigset_t sigs;

	tsk_conf_init(&cur);
	tsk_cli_init(&cli, PROG, usage_text);
	while ((c = getopt_long(argc, argv, TSK_CLI_SHORTOPTS "l:w:", longopts, NULL)) != -1) {
		switch (tsk_cli_option(&cli, c, optarg, &rc)) {
		case -1: goto out;
		case 1:
			if (c == 'd' && nflags < 8)
				flags[nflags++] = (struct flag){ "database_url", optarg };
			continue;
		}
		const char *key = c == 'l' ? "listen" : c == 'w' ? "workers" : c == 's' ? "httpd_spool" : NULL;
		if (key == NULL) {
			rc = tsk_cli_usage("unknown option");
			goto out;
		}
		tsk_conf_set(&cli.conf, key, optarg);
		if (nflags < 8)
			flags[nflags++] = (struct flag){ key, optarg };
	}
	if (optind < argc) {
		rc = tsk_cli_usage("unexpected argument \"%s\"", argv[optind]);
		goto out;
	}
	if ((rc = tsk_cli_setup(&cli)) != TSK_EXIT_OK)
		goto out;
	rc = TSK_EXIT_USAGE;
	if (read_cfg(&cli.conf, &g) != 0)
		goto out;
	rc = TSK_EXIT_FAIL;
	if (open_log(g.access_log) != 0)
		goto out;
	if (g.set.ingest_secret == NULL || g.set.ingest_secret[0] == '\0')
		tsk_warn("no ingest_secret: every POST /ingest is refused with 401");

	/* Signals go to this thread's sigtimedwait only: block them before any thread starts. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	/* The staff panel under /ops/ (lib/panel/); its export jobs go to the S3 store when one is set. */
	struct tsk_panel_opts po;
	struct tsk_s3_config s3;
	memset(&po, 0, sizeof po);
	po.dsn = g.o.dsn;
	po.chartjs_dir = tsk_conf_get(&cli.conf, "chartjs_dir");
	po.export_bucket = tsk_conf_get(&cli.conf, "export_bucket");
	po.cookie_secure = g.o.cookie_secure;
	if (tsk_s3_config_load(&cli.conf, NULL, NULL, &s3, cli.err, sizeof cli.err) == TSK_OK && s3.access_key != NULL &&
	    *s3.access_key)
		po.s3 = &s3;
	else
		tsk_info("no S3 store (s3_endpoint and its keys): the panel's export jobs wait");
	if (tsk_panel_new(&po, &panel, cli.err, sizeof cli.err) != TSK_OK) {
		tsk_err("%s", cli.err);
		rc = TSK_EXIT_FAIL;
		goto out;
	}
	g.o.ops = tsk_panel_route;
	g.o.ops_arg = panel;
	int st = tsk_http_start(&g.o, &g.set, &h, cli.err, sizeof cli.err);
	if (st != TSK_OK) {
		tsk_err("%s", cli.err);
		rc = st == TSK_EINVAL ? TSK_EXIT_USAGE : tsk_exit_code(st);
		goto out;
	}
	tsk_info("listening on %s (%u workers), spool %s", g.o.listen, g.o.workers, g.o.spool_path);
	for (;;) {
		sig = sigwaitinfo(&sigs, NULL);
		if (sig == SIGHUP) {
			reload(&cli, flags, nflags, h, &cur);
			continue;
		}
		if (sig > 0)
			break;
	}
	tsk_info("%s: stopping", strsignal(sig));
	st = tsk_http_stop(h, tsk_now_us() + g.drain_us, cli.err, sizeof cli.err);
	if (st != TSK_OK)
		tsk_warn("%s", cli.err);
	/* A stop by signal is a normal stop, even with messages left spooled: they are safe in the file. */
	rc = st == TSK_EFAIL ? TSK_EXIT_FAIL : TSK_EXIT_OK;
out:
	tsk_http_free(h);
	tsk_panel_free(panel);
	open_log("-");
	tsk_conf_free(&cur);
	tsk_cli_free(&cli);
	return rc;
}
