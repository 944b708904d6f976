/*
 * tsk-tenant: tenants (one schema each), domains, users, memberships, settings, schema migrations.
 * Option parsing and orchestration only; the work is in lib/registry/tenant.c, lib/registry/account.c, lib/pg/migrate.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "registry/account.h"
#include "registry/auth.h"
#include "core/conf.h"
#include "pg/db.h"
#include "core/log.h"
#include "cli/out.h"
#include "pg/partition.h"
#include "registry/tenant.h"
#include "core/time.h"
#include "core/tsk.h"

static const char usage_text[] =
    "usage: tsk-tenant [options] command [args]\n"
    "\n"
    "Tenants:\n"
    "  create --slug SLUG --name NAME [--domain HOST]   create a tenant and its schema\n"
    "  list                                             all tenants\n"
    "  show SLUG                                        one tenant, with row counts\n"
    "  delete SLUG --yes                                drop the tenant and its schema\n"
    "  set SLUG KEY VALUE | unset SLUG KEY              tenant settings (offline_after, retention, ...)\n"
    "  domain add SLUG HOST | rm SLUG HOST | list [SLUG]\n"
    "Users and members:\n"
    "  user add EMAIL [--staff] | passwd EMAIL | rm EMAIL | list | verify EMAIL\n"
    "      (passwords are read from the terminal, or one line of standard input)\n"
    "  member add SLUG EMAIL --role ROLE | rm SLUG EMAIL | list SLUG\n"
    "      roles: owner admin operator technician viewer\n"
    "Schema:\n"
    "  migrate                                          apply pending migrations everywhere\n"
    "  maintain [SLUG]                                  reading partitions ahead, retention (all tenants\n"
    "                                                   when no SLUG); run daily from cron or systemd\n"
    "\n"
    "Options:\n"
    "  -d, --dsn DSN        PostgreSQL connection (default $TSK_DATABASE_URL, then PG* variables)\n"
    "  -c, --config FILE    configuration file (default $TSK_CONFIG or /etc/tsk/tsk.conf)\n"
    "  -t, --tenant SLUG    the tenant, instead of the SLUG argument\n"
    "  -f, --format FMT     jsonl (default), csv or table\n"
    "      --yes            confirm a destructive command\n"
    "  -q, --quiet          only errors on stderr\n"
    "  -v, --verbose        more detail on stderr\n"
    "  -h, --help           this text\n"
    "  -V, --version        the version\n"
    "\n"
    "Exit status: 0 ok, 1 failure, 2 bad usage or input (nothing changed), 75 database unavailable.\n"
    "See tsk-tenant(1) and tsk(7).\n";

struct opts {
	const char *tenant, *name, *slug, *domain, *role;
	int staff, yes;
	enum tsk_format fmt;
	PGconn *db;
	char err[TSK_ERRLEN];
};

/* Prints a library failure as one line and maps it to the exit code. */
static int
fail(struct opts *o, int rc)
{
	tsk_err("%s", o->err);
	return tsk_exit_code(rc);
}

static const char *
tenant_arg(struct opts *o, int argc, char **argv, int i)
{
	if (i < argc)
		return argv[i];
	return o->tenant;
}

static int
print_array(struct opts *o, json_t *arr, const char *const *cols)
{
	int rc = tsk_out_array(stdout, o->fmt, cols, arr);
	json_decref(arr);
	return rc == 0 ? TSK_EXIT_OK : TSK_EXIT_FAIL;
}

static int
print_one(struct opts *o, json_t *obj, const char *const *cols)
{
	json_t *arr = json_array();
	json_array_append_new(arr, obj);
	return print_array(o, arr, cols);
}

static const char *const tenant_cols[] = { "slug", "name", "schema", "domains", "members", "created_at", NULL };

static int
show(struct opts *o, const char *slug)
{
	static const char *const cols[] = { "slug", "name", "schema", "domains", "members", "devices", "sensors",
		"readings", "settings", NULL };
	json_t *t;
	int rc = tsk_tenant_show(o->db, slug, &t, o->err, sizeof o->err);

	if (rc != TSK_OK)
		return fail(o, rc);
	return print_one(o, t, cols);
}

static int
cmd_create(struct opts *o, int argc, char **argv)
{
	const char *slug = o->slug != NULL ? o->slug : tenant_arg(o, argc, argv, 0);
	int rc;

	if (slug == NULL || o->name == NULL)
		return tsk_usage_error("%screate needs --slug SLUG and --name NAME", "");
	rc = tsk_tenant_create(o->db, slug, o->name, o->domain, o->err, sizeof o->err);
	if (rc != TSK_OK)
		return fail(o, rc);
	tsk_info("created tenant %s", slug);
	return show(o, slug);
}

static int
cmd_list(struct opts *o, int argc, char **argv)
{
	json_t *arr;
	int rc;

	(void)argc;
	(void)argv;
	if ((rc = tsk_tenant_list(o->db, &arr, o->err, sizeof o->err)) != TSK_OK)
		return fail(o, rc);
	return print_array(o, arr, tenant_cols);
}

static int
cmd_show(struct opts *o, int argc, char **argv)
{
	const char *slug = tenant_arg(o, argc, argv, 0);

	if (slug == NULL)
		return tsk_usage_error("%sshow needs a tenant slug", "");
	return show(o, slug);
}

static int
cmd_delete(struct opts *o, int argc, char **argv)
{
	const char *slug = tenant_arg(o, argc, argv, 0);
	int rc;

	if (slug == NULL)
		return tsk_usage_error("%sdelete needs a tenant slug", "");
	/* The slug typed a second time also confirms: `delete umc umc`. */
	if (!o->yes && !(argc >= 2 && strcmp(argv[1], slug) == 0))
		return tsk_usage_error("refusing to delete \"%s\" and all its data without --yes", slug);
	if ((rc = tsk_tenant_delete(o->db, slug, o->err, sizeof o->err)) != TSK_OK)
		return fail(o, rc);
	return print_one(o, json_pack("{s:s, s:b}", "slug", slug, "deleted", 1), NULL);
}

static int
cmd_set(struct opts *o, int argc, char **argv)
{
	int unset = strcmp(argv[-1], "unset") == 0, rc;

	if (argc != (unset ? 2 : 3))
		return tsk_usage_error(unset ? "%sunset needs SLUG KEY" : "%sset needs SLUG KEY VALUE", "");
	rc = tsk_tenant_setting(o->db, argv[0], argv[1], unset ? NULL : argv[2], o->err, sizeof o->err);
	if (rc != TSK_OK)
		return fail(o, rc);
	json_t *s;
	if ((rc = tsk_tenant_settings(o->db, argv[0], &s, o->err, sizeof o->err)) != TSK_OK)
		return fail(o, rc);
	return print_one(o, json_pack("{s:s, s:o}", "slug", argv[0], "settings", s), NULL);
}

static int
cmd_domain(struct opts *o, int argc, char **argv)
{
	static const char *const cols[] = { "domain", "tenant", "primary", NULL };
	json_t *arr;
	int rc;

	if (argc >= 1 && strcmp(argv[0], "list") == 0) {
		if ((rc = tsk_tenant_domain_list(o->db, tenant_arg(o, argc, argv, 1), &arr, o->err, sizeof o->err)) != TSK_OK)
			return fail(o, rc);
		return print_array(o, arr, cols);
	}
	if (argc != 3 || (strcmp(argv[0], "add") != 0 && strcmp(argv[0], "rm") != 0))
		return tsk_usage_error("%susage: domain add SLUG HOST | domain rm SLUG HOST | domain list [SLUG]", "");
	rc = argv[0][0] == 'a' ? tsk_tenant_domain_add(o->db, argv[1], argv[2], o->err, sizeof o->err)
	                       : tsk_tenant_domain_rm(o->db, argv[1], argv[2], o->err, sizeof o->err);
	if (rc != TSK_OK)
		return fail(o, rc);
	if ((rc = tsk_tenant_domain_list(o->db, argv[1], &arr, o->err, sizeof o->err)) != TSK_OK)
		return fail(o, rc);
	return print_array(o, arr, cols);
}

static int
read_password(struct opts *o, char *pw, size_t len)
{
	return tsk_auth_read_password("Password: ", 1, pw, len, o->err, sizeof o->err);
}

static int
cmd_user(struct opts *o, int argc, char **argv)
{
	static const char *const cols[] = { "email", "staff", "active", "tenants", "created_at", NULL };
	char pw[256];
	json_t *arr;
	int rc, staff = 0;

	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		if ((rc = tsk_user_list(o->db, &arr, o->err, sizeof o->err)) != TSK_OK)
			return fail(o, rc);
		return print_array(o, arr, cols);
	}
	if (argc != 2)
		return tsk_usage_error("%susage: user add|passwd|rm|verify EMAIL, user list", "");
	const char *sub = argv[0], *email = argv[1];
	if (strcmp(sub, "add") == 0 || strcmp(sub, "passwd") == 0 || strcmp(sub, "verify") == 0) {
		int verify = sub[0] == 'v';
		rc = verify ? tsk_auth_read_password("Password: ", 0, pw, sizeof pw, o->err, sizeof o->err)
		            : read_password(o, pw, sizeof pw);
		if (rc == TSK_OK) {
			if (sub[0] == 'a')
				rc = tsk_user_add(o->db, email, pw, o->staff, o->err, sizeof o->err);
			else if (sub[0] == 'p')
				rc = tsk_user_passwd(o->db, email, pw, o->err, sizeof o->err);
			else
				rc = tsk_user_verify(o->db, email, pw, &staff, o->err, sizeof o->err);
		}
		sodium_memzero(pw, sizeof pw);
		if (rc == TSK_EINVAL && verify) {
			tsk_err("%s", o->err);
			return TSK_EXIT_FAIL; /* a wrong password is an answer, not a usage error */
		}
		if (rc != TSK_OK)
			return fail(o, rc);
		if (verify)
			return print_one(o, json_pack("{s:s, s:b, s:b}", "email", email, "valid", 1, "staff", staff), NULL);
	} else if (strcmp(sub, "rm") == 0) {
		if ((rc = tsk_user_rm(o->db, email, o->err, sizeof o->err)) != TSK_OK)
			return fail(o, rc);
		return print_one(o, json_pack("{s:s, s:b}", "email", email, "deleted", 1), NULL);
	} else {
		return tsk_usage_error("unknown user command \"%s\"", sub);
	}
	/* add and passwd answer with the user's record (never the hash). */
	if ((rc = tsk_user_list(o->db, &arr, o->err, sizeof o->err)) != TSK_OK)
		return fail(o, rc);
	json_t *one = json_array();
	size_t i;
	json_t *u;
	json_array_foreach(arr, i, u) {
		if (strcasecmp(json_string_value(json_object_get(u, "email")), email) == 0)
			json_array_append(one, u);
	}
	json_decref(arr);
	return print_array(o, one, cols);
}

static int
cmd_member(struct opts *o, int argc, char **argv)
{
	static const char *const cols[] = { "tenant", "email", "role", "since", NULL };
	json_t *arr;
	int rc;

	if (argc >= 1 && strcmp(argv[0], "list") == 0) {
		const char *slug = tenant_arg(o, argc, argv, 1);
		if (slug == NULL)
			return tsk_usage_error("%smember list needs a tenant slug", "");
		if ((rc = tsk_member_list(o->db, slug, &arr, o->err, sizeof o->err)) != TSK_OK)
			return fail(o, rc);
		return print_array(o, arr, cols);
	}
	if (argc == 3 && strcmp(argv[0], "add") == 0) {
		if (o->role == NULL)
			return tsk_usage_error("%smember add needs --role ROLE", "");
		rc = tsk_member_add(o->db, argv[1], argv[2], o->role, o->err, sizeof o->err);
	} else if (argc == 3 && strcmp(argv[0], "rm") == 0) {
		rc = tsk_member_rm(o->db, argv[1], argv[2], o->err, sizeof o->err);
	} else {
		return tsk_usage_error("%susage: member add SLUG EMAIL --role ROLE | member rm SLUG EMAIL | member list SLUG", "");
	}
	if (rc != TSK_OK)
		return fail(o, rc);
	if ((rc = tsk_member_list(o->db, argv[1], &arr, o->err, sizeof o->err)) != TSK_OK)
		return fail(o, rc);
	return print_array(o, arr, cols);
}

static int
cmd_migrate(struct opts *o, int argc, char **argv)
{
	int pub, ten, tenants, rc;

	(void)argc;
	(void)argv;
	rc = tsk_tenant_migrate_all(o->db, &pub, &ten, &tenants, o->err, sizeof o->err);
	if (rc != TSK_OK)
		return fail(o, rc);
	tsk_info("applied %d public and %d tenant migrations over %d tenants", pub, ten, tenants);
	return print_one(o, json_pack("{s:i, s:i, s:i}", "public_applied", pub, "tenant_applied", ten, "tenants",
	    tenants), NULL);
}

/* Partitions ahead, rows out of the default partition, retention: lib/pg/partition.c. */
static int
cmd_maintain(struct opts *o, int argc, char **argv)
{
	struct tsk_partition_result r;
	int rc;

	rc = tsk_tenant_maintain(o->db, tenant_arg(o, argc, argv, 0), tsk_now_us(), TSK_PARTITION_AHEAD, &r,
	    o->err, sizeof o->err);
	if (rc != TSK_OK)
		return fail(o, rc);
	tsk_info("%d tenants: %d partitions created, %d dropped, %lld rows moved, %lld deleted", r.tenants, r.created,
	    r.dropped, r.rows_moved, r.rows_deleted);
	return print_one(o, json_pack("{s:i, s:i, s:i, s:I, s:I, s:I}", "tenants", r.tenants, "created", r.created,
	    "dropped", r.dropped, "rows_moved", (json_int_t)r.rows_moved, "rows_deleted", (json_int_t)r.rows_deleted,
	    "rollup_deleted", (json_int_t)r.rollup_deleted), NULL);
}

static const struct {
	const char *name;
	int (*fn)(struct opts *, int, char **);
} commands[] = {
	{ "create", cmd_create }, { "list", cmd_list }, { "show", cmd_show }, { "delete", cmd_delete },
	{ "set", cmd_set }, { "unset", cmd_set }, { "domain", cmd_domain }, { "user", cmd_user },
	{ "member", cmd_member }, { "migrate", cmd_migrate }, { "maintain", cmd_maintain },
};

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dsn", required_argument, NULL, 'd' }, { "config", required_argument, NULL, 'c' },
		{ "tenant", required_argument, NULL, 't' }, { "format", required_argument, NULL, 'f' },
		{ "name", required_argument, NULL, 'n' }, { "slug", required_argument, NULL, 's' },
		{ "domain", required_argument, NULL, 'D' }, { "role", required_argument, NULL, 'r' },
		{ "staff", no_argument, NULL, 'S' }, { "yes", no_argument, NULL, 'y' },
		{ "quiet", no_argument, NULL, 'q' }, { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 }
	};
	struct opts o = { 0 };
	struct tsk_conf conf;
	const char *config = NULL, *format = NULL;
	int c, level = TSK_LOG_NORMAL, rc = TSK_EXIT_USAGE;

	tsk_log_init("tsk-tenant", level);
	tsk_conf_init(&conf);
	while ((c = getopt_long(argc, argv, "d:c:t:f:qvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': tsk_conf_set(&conf, "database_url", optarg); break;
		case 'c': config = optarg; break;
		case 't': o.tenant = optarg; break;
		case 'f': format = optarg; break;
		case 'n': o.name = optarg; break;
		case 's': o.slug = optarg; break;
		case 'D': o.domain = optarg; break;
		case 'r': o.role = optarg; break;
		case 'S': o.staff = 1; break;
		case 'y': o.yes = 1; break;
		case 'q': level = TSK_LOG_QUIET; break;
		case 'v': level++; break;
		case 'h': fputs(usage_text, stdout); rc = tsk_close_stdout() == 0 ? 0 : 1; goto out;
		case 'V': printf("tsk-tenant %s\n", TSK_VERSION); rc = tsk_close_stdout() == 0 ? 0 : 1; goto out;
		default: fprintf(stderr, "try 'tsk-tenant --help'\n"); goto out;
		}
	}
	tsk_log_init("tsk-tenant", level);
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
	const char *cmd = argv[optind];
	size_t i;
	for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, cmd) == 0)
			break;
	if (i == sizeof commands / sizeof commands[0]) {
		rc = tsk_usage_error("unknown command \"%s\"", cmd);
		goto out;
	}
	if ((c = tsk_db_connect(tsk_conf_dsn(&conf), &o.db, o.err, sizeof o.err)) != TSK_OK) {
		tsk_err("cannot connect to the database: %s", o.err);
		rc = tsk_exit_code(c);
		goto out;
	}
	rc = commands[i].fn(&o, argc - optind - 1, argv + optind + 1);
	if (tsk_close_stdout() != 0 && rc == TSK_EXIT_OK)
		rc = TSK_EXIT_FAIL;
out:
	if (o.db != NULL)
		PQfinish(o.db);
	tsk_conf_free(&conf);
	return rc;
}
