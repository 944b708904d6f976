/*
 * The command-line layer shared by every tool, as mosquitto's client_shared.c is for its clients: the
 * common options (--dsn --config --tenant --format -q -v --help --version), configuration, the database
 * connection, a command table, printf-style usage errors, and the end of main() (stdout checked and
 * closed, the exit code). Each tool's main() is then its own options and orchestration only.
 *
 * Only cli/ prints to stdout or reads the terminal; the library below it returns statuses and fills
 * error buffers. Not thread-safe: one struct tsk_cli per process, used from main's thread.
 */
#ifndef TSK_CLI_H
#define TSK_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "cli/out.h"
#include "core/conf.h"
#include "core/tsk.h"
#include "query/filter.h"

struct tsk_cli {
	const char *prog;        /* "tsk-query": log prefix, --version */
	const char *usage;       /* the --help text */
	struct tsk_conf conf;
	const char *config;      /* --config FILE */
	const char *format;      /* --format as given, else the `format` key, else "jsonl" */
	const char *tenant;      /* --tenant, else the `tenant` key (after tsk_cli_setup) */
	enum tsk_format fmt;
	int level;               /* TSK_LOG_* from -q and -v */
	int64_t now;             /* the tool's clock, read once at init: relative times use it */
	PGconn *db;              /* after tsk_cli_connect */
	int write_failed;        /* stdout failed; the first errno is kept */
	int write_errno;
	char err[TSK_ERRLEN];    /* for library calls */
};

/* The common options, for a tool's getopt_long table and short-option string. */
#define TSK_CLI_SHORTOPTS "d:c:t:f:qvhV"
#define TSK_CLI_LONGOPTS \
	{ "dsn", required_argument, NULL, 'd' }, { "config", required_argument, NULL, 'c' }, \
	{ "tenant", required_argument, NULL, 't' }, { "format", required_argument, NULL, 'f' }, \
	{ "quiet", no_argument, NULL, 'q' }, { "verbose", no_argument, NULL, 'v' }, \
	{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }

void tsk_cli_init(struct tsk_cli *c, const char *prog, const char *usage);
void tsk_cli_free(struct tsk_cli *c);

/*
 * One option from getopt_long. Returns 1 when it was a common option (taken), 0 when it is the tool's
 * own, or -1 when main() must return *exit_code now: --help and --version (printed, 0), or an unknown
 * option (getopt's '?' or ':', 2).
 */
int tsk_cli_option(struct tsk_cli *c, int opt, const char *arg, int *exit_code);

/*
 * The filter options of the tools that read readings (tsk-query, tsk-export): --bucket --device
 * --sensor --site --asset --from --to --limit --offset --asc --order. Each value is checked at once, so bad input
 * stops before any connection.
 */
enum { TSK_CLI_O_FROM = 0x1000, TSK_CLI_O_TO, TSK_CLI_O_OFFSET, TSK_CLI_O_ASC, TSK_CLI_O_ORDER, TSK_CLI_O_SITE,
	TSK_CLI_O_ASSET };
#define TSK_CLI_FILTER_SHORTOPTS "b:D:s:n:"
#define TSK_CLI_FILTER_LONGOPTS \
	{ "bucket", required_argument, NULL, 'b' }, { "device", required_argument, NULL, 'D' }, \
	{ "sensor", required_argument, NULL, 's' }, { "from", required_argument, NULL, TSK_CLI_O_FROM }, \
	{ "to", required_argument, NULL, TSK_CLI_O_TO }, { "limit", required_argument, NULL, 'n' }, \
	{ "offset", required_argument, NULL, TSK_CLI_O_OFFSET }, { "asc", no_argument, NULL, TSK_CLI_O_ASC }, \
	{ "order", required_argument, NULL, TSK_CLI_O_ORDER }, { "site", required_argument, NULL, TSK_CLI_O_SITE }, \
	{ "asset", required_argument, NULL, TSK_CLI_O_ASSET }

struct tsk_cli_filter {
	struct tsk_filter f;
	const char *bucket;   /* --bucket as given (applied by tsk_cli_filter_done), or NULL */
	int given;            /* how many filter options were given */
	int limit_given;      /* --limit was given */
};

void tsk_cli_filter_init(struct tsk_cli_filter *cf);
void tsk_cli_filter_free(struct tsk_cli_filter *cf);
/* Like tsk_cli_option, for the filter options: 1 taken, 0 not one, -1 a bad value (printed; exit 2). */
int tsk_cli_filter_option(struct tsk_cli *c, struct tsk_cli_filter *cf, int opt, const char *arg);
/* The common options and, when cf is not NULL, the filter options, for one getopt_long loop:
 *   switch (tsk_cli_take(&cli, &cf, c, optarg, &rc)) { case -1: goto out; case 1: continue; }
 * 1 taken, 0 the tool's own option, -1 return *exit_code now (--help, --version, a bad option or value). */
int tsk_cli_take(struct tsk_cli *c, struct tsk_cli_filter *cf, int opt, const char *arg, int *exit_code);
/* After the options: the bucket size (given, else default_bucket when not NULL) and the checks that
 * need every option (from <= to). TSK_EXIT_OK, or TSK_EXIT_USAGE after printing why. */
int tsk_cli_filter_done(struct tsk_cli *c, struct tsk_cli_filter *cf, const char *default_bucket);

/* After the options: log level, configuration file, --format (and the `format` key), the `tenant` key.
 * TSK_EXIT_OK, or the exit code after printing why. */
int tsk_cli_setup(struct tsk_cli *c);

/* Connects to the database named by --dsn, the configuration or the PG* variables. TSK_EXIT_OK, or the
 * exit code (75 when the server is unreachable) after printing why. */
int tsk_cli_connect(struct tsk_cli *c);
/* The same for a command that only reads: to read_dsn (a streaming replica) when it is set, else as
 * tsk_cli_connect (see tsk_conf_read_dsn). A command that writes never uses it. */
int tsk_cli_connect_read(struct tsk_cli *c);

/* "<prog>: <message>" and "<prog>: try '<prog> --help'" on stderr; returns TSK_EXIT_USAGE (2). */
int tsk_cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints c->err (filled by a library call that returned `status`) and returns its exit code. */
int tsk_cli_fail(struct tsk_cli *c, int status);

/*
 * A write to stdout failed (a full disk, a reader that went away): keeps the first errno, the one that
 * says why, and drops what is still buffered so that closing stdout does not fail a second time.
 * tsk_cli_finish reports it once. Returns TSK_EFAIL, for `return tsk_cli_write_error(c)`.
 */
int tsk_cli_write_error(struct tsk_cli *c);

/* Writes every row of arr (released here) to stdout in c->fmt; cols name the CSV and table columns
 * (NULL: every key). A write error is recorded (tsk_cli_write_error). Returns an exit code. */
int tsk_cli_print(struct tsk_cli *c, const char *const *cols, json_t *arr);
/* The same for one object. */
int tsk_cli_print_one(struct tsk_cli *c, const char *const *cols, json_t *obj);

/* A tool's command table: fn receives the arguments after the command name. */
enum {
	TSK_CLI_NEEDS_DB = 1,      /* connect before running */
	TSK_CLI_NEEDS_TENANT = 2,  /* --tenant (or the tenant key) is required */
	TSK_CLI_TAKES_ARGS = 4,    /* arguments after the command are allowed */
	TSK_CLI_READS = 8          /* with NEEDS_DB: reads only, so read_dsn (a replica) may serve it */
};
struct tsk_cli_command {
	const char *name;
	int (*fn)(void *ctx, int argc, char **argv); /* returns an exit code */
	int flags;
};

/*
 * Runs argv[0] (the first operand) from the table: a missing or unknown command, stray arguments or a
 * missing tenant are usage errors; connects when the command needs the database; then runs it.
 * Returns the command's exit code.
 */
int tsk_cli_dispatch(struct tsk_cli *c, const struct tsk_cli_command *cmds, size_t ncmds, int argc, char **argv,
    void *ctx);

/* The end of main(): reports a stdout write error (quietly for EPIPE, `| head`), checks fclose(stdout),
 * and turns `rc` 0 or 3 into 1 when stdout failed. Returns the final exit code. */
int tsk_cli_finish(struct tsk_cli *c, int rc);

/*
 * Reads a password: from the terminal without echo (asked twice when confirm), else one line of
 * standard input (its newline removed). out holds outlen bytes, at least TSK_PASSWORD_MAX + 2: a longer
 * line or one with a NUL byte is refused (TSK_EINVAL with why), never cut. *len receives its length.
 */
int tsk_cli_read_password(const char *prompt, int confirm, char *out, size_t outlen, size_t *len, char *err,
    size_t errlen);

/* Number parsing for options: a whole decimal in lo..hi, or a byte size with k/M/G (binary). 0 or -1. */
int tsk_cli_long(const char *s, long lo, long hi, long *out);
int tsk_cli_size(const char *s, uint64_t *out);

#endif
