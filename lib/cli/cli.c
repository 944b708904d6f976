/* The shared command-line layer (cli.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sodium.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/time.h"
#include "pg/db.h"
#include "registry/auth.h"

void
tsk_cli_init(struct tsk_cli *c, const char *prog, const char *usage)
{
	memset(c, 0, sizeof *c);
	c->prog = prog;
	c->usage = usage;
	c->level = TSK_LOG_NORMAL;
	c->now = tsk_now_us();
	tsk_conf_init(&c->conf);
	tsk_log_init(prog, c->level);
}

void
tsk_cli_free(struct tsk_cli *c)
{
	if (c->db != NULL)
		PQfinish(c->db);
	c->db = NULL;
	tsk_conf_free(&c->conf);
}

int
tsk_cli_usage(const char *fmt, ...)
{
	const char *prog = tsk_progname();
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s: try '%s --help'\n", prog, prog);
	return TSK_EXIT_USAGE;
}

/* --help and --version print to stdout, which must then close cleanly. */
static int
print_and_close(const char *text)
{
	fputs(text, stdout);
	return tsk_close_stdout() == 0 ? TSK_EXIT_OK : TSK_EXIT_FAIL;
}

int
tsk_cli_option(struct tsk_cli *c, int opt, const char *arg, int *exit_code)
{
	char version[128];

	switch (opt) {
	case 'd': tsk_conf_set(&c->conf, "database_url", arg); return 1;
	case 'c': c->config = arg; return 1;
	case 't': c->tenant = arg; return 1;
	case 'f': c->format = arg; return 1;
	case 'q': c->level = TSK_LOG_QUIET; return 1;
	case 'v': c->level++; return 1;
	case 'h':
		*exit_code = print_and_close(c->usage);
		return -1;
	case 'V':
		snprintf(version, sizeof version, "%s %s\n", c->prog, TSK_VERSION);
		*exit_code = print_and_close(version);
		return -1;
	case '?':
	case ':':
		/* getopt has said what was wrong */
		fprintf(stderr, "%s: try '%s --help'\n", c->prog, c->prog);
		*exit_code = TSK_EXIT_USAGE;
		return -1;
	}
	return 0;
}

void
tsk_cli_filter_init(struct tsk_cli_filter *cf)
{
	memset(cf, 0, sizeof *cf);
	tsk_filter_init(&cf->f);
}

void
tsk_cli_filter_free(struct tsk_cli_filter *cf)
{
	tsk_filter_free(&cf->f);
}

int
tsk_cli_filter_option(struct tsk_cli *c, struct tsk_cli_filter *cf, int opt, const char *arg)
{
	const char *key;

	switch (opt) {
	case 'b': cf->bucket = arg; cf->given++; return 1;
	case 'D': key = "device"; break;
	case 's': key = "sensor"; break;
	case TSK_CLI_O_SITE: key = "site"; break;
	case TSK_CLI_O_ASSET: key = "asset"; break;
	case TSK_CLI_O_FROM: key = "from"; break;
	case TSK_CLI_O_TO: key = "to"; break;
	case 'n': key = "limit"; cf->limit_given = 1; break;
	case TSK_CLI_O_OFFSET: key = "offset"; break;
	case TSK_CLI_O_ASC: key = "order"; arg = "asc"; break;
	case TSK_CLI_O_ORDER: key = "order"; break;
	default: return 0;
	}
	cf->given++;
	if (tsk_filter_set(&cf->f, key, arg, c->now, c->err, sizeof c->err) != TSK_OK) {
		tsk_cli_usage("%s", c->err);
		return -1;
	}
	return 1;
}

int
tsk_cli_take(struct tsk_cli *c, struct tsk_cli_filter *cf, int opt, const char *arg, int *exit_code)
{
	int taken = tsk_cli_option(c, opt, arg, exit_code);

	if (taken == 0 && cf != NULL && (taken = tsk_cli_filter_option(c, cf, opt, arg)) < 0)
		*exit_code = TSK_EXIT_USAGE;
	return taken;
}

int
tsk_cli_filter_done(struct tsk_cli *c, struct tsk_cli_filter *cf, const char *default_bucket)
{
	const char *b = cf->bucket != NULL ? cf->bucket : default_bucket;

	if (b != NULL && tsk_filter_set(&cf->f, "bucket", b, c->now, c->err, sizeof c->err) != TSK_OK)
		return tsk_cli_usage("%s", c->err);
	if (tsk_filter_check(&cf->f, c->err, sizeof c->err) != TSK_OK)
		return tsk_cli_usage("%s", c->err);
	return TSK_EXIT_OK;
}

int
tsk_cli_setup(struct tsk_cli *c)
{
	tsk_log_init(c->prog, c->level);
	if (tsk_conf_load(&c->conf, c->config, c->err, sizeof c->err) != TSK_OK) {
		tsk_err("%s", c->err);
		return TSK_EXIT_USAGE;
	}
	if (c->format == NULL)
		c->format = tsk_conf_get_default(&c->conf, "format", "jsonl");
	if (tsk_format_parse(c->format, &c->fmt) != TSK_OK)
		return tsk_cli_usage("unknown format \"%s\": jsonl, csv or table", c->format);
	if (c->tenant == NULL)
		c->tenant = tsk_conf_get(&c->conf, "tenant");
	if (c->tenant != NULL && *c->tenant == '\0')
		c->tenant = NULL;
	return TSK_EXIT_OK;
}

static int
connect_to(struct tsk_cli *c, const char *dsn)
{
	int st;

	if (c->db != NULL)
		return TSK_EXIT_OK;
	if ((st = tsk_db_connect(dsn, &c->db, c->err, sizeof c->err)) != TSK_OK) {
		tsk_err("cannot connect to the database: %s", c->err);
		return tsk_exit_code(st);
	}
	return TSK_EXIT_OK;
}

int
tsk_cli_connect(struct tsk_cli *c)
{
	return connect_to(c, tsk_conf_dsn(&c->conf));
}

int
tsk_cli_connect_read(struct tsk_cli *c)
{
	return connect_to(c, tsk_conf_read_dsn(&c->conf));
}

int
tsk_cli_fail(struct tsk_cli *c, int status)
{
	tsk_err("%s", c->err);
	return tsk_exit_code(status);
}

int
tsk_cli_write_error(struct tsk_cli *c)
{
	if (!c->write_failed) {
		c->write_failed = 1;
		c->write_errno = errno != 0 ? errno : EIO;
	}
	__fpurge(stdout);
	clearerr(stdout);
	return TSK_EFAIL;
}

int
tsk_cli_print(struct tsk_cli *c, const char *const *cols, json_t *arr)
{
	int rc = arr != NULL ? tsk_out_array(stdout, c->fmt, cols, arr) : -1;

	json_decref(arr);
	if (rc != 0) {
		tsk_cli_write_error(c);
		return TSK_EXIT_FAIL;
	}
	return TSK_EXIT_OK;
}

int
tsk_cli_print_one(struct tsk_cli *c, const char *const *cols, json_t *obj)
{
	json_t *arr = json_array();

	if (arr != NULL && obj != NULL)
		json_array_append_new(arr, obj);
	else
		json_decref(obj);
	return tsk_cli_print(c, cols, arr);
}

int
tsk_cli_dispatch(struct tsk_cli *c, const struct tsk_cli_command *cmds, size_t ncmds, int argc, char **argv,
    void *ctx)
{
	const struct tsk_cli_command *cmd = NULL;
	int rc;

	if (argc < 1)
		return tsk_cli_usage("no command given");
	for (size_t i = 0; i < ncmds && cmd == NULL; i++)
		if (strcmp(cmds[i].name, argv[0]) == 0)
			cmd = &cmds[i];
	if (cmd == NULL)
		return tsk_cli_usage("unknown command \"%s\"", argv[0]);
	if (argc > 1 && !(cmd->flags & TSK_CLI_TAKES_ARGS))
		return tsk_cli_usage("unexpected argument \"%s\"", argv[1]);
	if ((cmd->flags & TSK_CLI_NEEDS_TENANT) && c->tenant == NULL)
		return tsk_cli_usage("%s needs --tenant SLUG", cmd->name);
	if ((cmd->flags & TSK_CLI_NEEDS_DB) &&
	    (rc = (cmd->flags & TSK_CLI_READS) ? tsk_cli_connect_read(c) : tsk_cli_connect(c)) != TSK_EXIT_OK)
		return rc;
	int64_t t0 = tsk_now_us();
	rc = cmd->fn(ctx, argc - 1, argv + 1);
	tsk_debug("%s took %.3f ms", cmd->name, (double)(tsk_now_us() - t0) / 1000.0);
	return rc;
}

int
tsk_cli_finish(struct tsk_cli *c, int rc)
{
	if (c->write_failed) {
		if (c->write_errno != EPIPE) /* `| head` is not worth a message */
			tsk_err("write error: %s", strerror(c->write_errno));
		rc = TSK_EXIT_FAIL;
	}
	/* Output that did not arrive is a failure, also when some input was rejected (exit 3). */
	if (tsk_close_stdout() != 0 && (rc == TSK_EXIT_OK || rc == TSK_EXIT_PARTIAL))
		rc = TSK_EXIT_FAIL;
	return rc;
}

int
tsk_cli_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end != '\0' || errno != 0 || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int
tsk_cli_size(const char *s, uint64_t *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno != 0 || !(v >= 0))
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': v *= 1024; end++; break;
	case 'm': case 'M': v *= 1024 * 1024; end++; break;
	case 'g': case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
	default: return -1;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0' || v > 1e18)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

/* One line of f into out (outlen bytes), without its line end. The whole line is read even when it is
 * too long, so *len says how long it really was. -1 at end of input with nothing read. */
static int
read_secret_line(FILE *f, char *out, size_t outlen, size_t *len)
{
	size_t n = 0;
	int c, any = 0;

	while ((c = getc(f)) != EOF && c != '\n') {
		any = 1;
		if (n + 1 < outlen)
			out[n] = (char)c;
		n++;
	}
	if (!any && c == EOF)
		return -1;
	if (n > 0 && n < outlen && out[n - 1] == '\r')
		n--;
	out[n < outlen ? n : outlen - 1] = '\0';
	*len = n;
	return 0;
}

static int
read_tty(const char *prompt, char *out, size_t outlen, size_t *len)
{
	struct termios old, noecho;
	int rc;

	fprintf(stderr, "%s", prompt);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) != 0)
		return -1;
	noecho = old;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
	rc = read_secret_line(stdin, out, outlen, len);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return rc;
}

int
tsk_cli_read_password(const char *prompt, int confirm, char *out, size_t outlen, size_t *len, char *err,
    size_t errlen)
{
	char again[TSK_PASSWORD_MAX + 2];
	size_t alen;
	int tty = isatty(STDIN_FILENO), rc = TSK_OK;

	if ((tty ? read_tty(prompt, out, outlen, len) : read_secret_line(stdin, out, outlen, len)) != 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, tty ? "no password read" : "no password on standard input");
	/* Longer than the buffer, or longer than any password may be: refused whole, never truncated. */
	if (*len >= outlen || *len > TSK_PASSWORD_MAX)
		rc = tsk_seterr(err, errlen, TSK_EINVAL, "password longer than %d bytes", TSK_PASSWORD_MAX);
	else if (memchr(out, '\0', *len) != NULL)
		rc = tsk_seterr(err, errlen, TSK_EINVAL, "password contains a NUL byte");
	else if (tty && confirm &&
	    (read_tty("Again: ", again, sizeof again, &alen) != 0 || alen != *len || memcmp(out, again, alen) != 0))
		rc = tsk_seterr(err, errlen, TSK_EINVAL, "the passwords do not match");
	sodium_memzero(again, sizeof again);
	if (rc != TSK_OK)
		sodium_memzero(out, outlen);
	return rc;
}
