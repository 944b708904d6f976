/*
 * tsk-tenant: tenants (one schema each), domains, users, memberships, settings, schema migrations.
 * Option parsing and orchestration only; the work is in lib/registry/tenant.c, lib/registry/account.c,
 * lib/registry/apitoken.c, lib/pg/migrate.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "cli/cli.h"
#include "registry/account.h"
#include "registry/apitoken.h"
#include "registry/auth.h"
#include "registry/catalog.h"
#include "core/conf.h"
#include "pg/db.h"
#include "core/log.h"
#include "cli/out.h"
#include "pg/partition.h"
#include "notify/invite.h"
#include "notify/mail.h"
#include "registry/team.h"
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
    "  set SLUG KEY VALUE | unset SLUG KEY              tenant settings: offline_after, retention,\n"
    "                                                   max_future, raw_retention (durations: 30d, 1h,\n"
    "                                                   90m), archive_messages (true/false)\n"
    "  domain add SLUG HOST | rm SLUG HOST | list [SLUG]\n"
    "Users and members:\n"
    "  user add EMAIL [--staff] | passwd EMAIL | rm EMAIL | list | verify EMAIL\n"
    "      (passwords are read from the terminal, or one line of standard input)\n"
    "  member add SLUG EMAIL --role ROLE | rm SLUG EMAIL | list SLUG\n"
    "      roles: owner admin operator technician viewer\n"
    "  invite add SLUG EMAIL --role ROLE [--message M]  invite someone: prints the accept link once and\n"
    "                                                   mails it when smtp_url is set (frontend_url)\n"
    "  invite list SLUG | cancel SLUG ID\n"
    "API tokens:\n"
    "  token add SLUG NAME --role ROLE                  a token for scripts, printed once\n"
    "  token add SLUG [NAME] --ingest                   a token POST /ingest accepts (name: ingest)\n"
    "  token list SLUG | rm SLUG NAME|ID                list (never the secret), revoke\n"
    "  token verify SLUG [--ingest]                     check a token read like a password\n"
    "Schema:\n"
    "  migrate                                          apply pending migrations everywhere\n"
    "  maintain [SLUG]                                  reading partitions ahead, retention, catalog\n"
    "                                                   refresh (all tenants when no SLUG); run daily\n"
    "Mail:\n"
    "  mail test ADDRESS [--name NAME]                  send a test message (smtp_url, mail_from)\n"
    "Catalog (--tenant SLUG; rows are JSON objects with the API's fields, see tsk-tenant(1)):\n"
    "  site|asset|device|sensor add                     one JSON object a line on stdin; prints each row\n"
    "  site|asset|device|sensor list [FIELD=VALUE...]   filters; --search TEXT --ordering [-]FIELD,...\n"
    "                                                   --limit N --offset N\n"
    "  site|asset|device|sensor show ID                 (an asset also by tag, a device by client id)\n"
    "  site|asset|device|sensor set ID JSON             change the fields given (JSON, or a line of stdin)\n"
    "  site|asset|device|sensor rm ID                   delete (a site with assets is refused)\n"
    "  catalog refresh [SLUG]                           sensors and devices online/offline, availability\n"
    "                                                   (every tenant when no SLUG); run hourly\n"
    "\n"
    "Options:\n"
    "  -d, --dsn DSN        PostgreSQL connection (default $TSK_DATABASE_URL, then PG* variables)\n"
    "  -c, --config FILE    configuration file (default $TSK_CONFIG or /etc/tsk/tsk.conf)\n"
    "  -t, --tenant SLUG    the tenant, instead of the SLUG argument\n"
    "  -f, --format FMT     jsonl (default), csv or table\n"
    "      --yes            confirm a destructive command\n"
    "      --search TEXT    a catalog list: substring of names, tags, ...\n"
    "      --ordering F,-G  a catalog list's order; --limit N --offset N: its page\n"
    "  -q, --quiet          only errors on stderr\n"
    "  -v, --verbose        more detail on stderr\n"
    "  -h, --help           this text\n"
    "  -V, --version        the version\n"
    "\n"
    "Exit status: 0 ok, 1 failure, 2 bad usage or input (nothing changed), 75 database unavailable.\n"
    "See tsk-tenant(1) and tsk(7).\n";

struct opts {
	struct tsk_cli cli;
	const char *name, *slug, *domain, *role, *message;
	int staff, yes, ingest;
	const char *search, *ordering;
	long limit, offset;
};

/* Prints a library failure as one line and maps it to the exit code. */
static int
fail(struct opts *o, int rc)
{
	return tsk_cli_fail(&o->cli, rc);
}

static const char *
tenant_arg(struct opts *o, int argc, char **argv, int i)
{
	if (i < argc)
		return argv[i];
	return o->cli.tenant;
}

static int
print_array(struct opts *o, json_t *arr, const char *const *cols)
{
	return tsk_cli_print(&o->cli, cols, arr);
}

static int
print_one(struct opts *o, json_t *obj, const char *const *cols)
{
	return tsk_cli_print_one(&o->cli, cols, obj);
}

#define DB_ARGS (TSK_CLI_NEEDS_DB | TSK_CLI_TAKES_ARGS)

static const char *const tenant_cols[] = { "slug", "name", "schema", "domains", "members", "created_at", NULL };

static int
show(struct opts *o, const char *slug)
{
	static const char *const cols[] = { "slug", "name", "schema", "domains", "members", "devices", "sensors",
		"readings", "settings", NULL };
	json_t *t;
	int rc = tsk_tenant_show(o->cli.db, slug, &t, o->cli.err, sizeof o->cli.err);

	if (rc != TSK_OK)
		return fail(o, rc);
	return print_one(o, t, cols);
}

static int
cmd_create(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	const char *slug = o->slug != NULL ? o->slug : tenant_arg(o, argc, argv, 0);
	int rc;

	if (slug == NULL || o->name == NULL)
		return tsk_cli_usage("create needs --slug SLUG and --name NAME");
	rc = tsk_tenant_create(o->cli.db, slug, o->name, o->domain, o->cli.err, sizeof o->cli.err);
	if (rc != TSK_OK)
		return fail(o, rc);
	tsk_info("created tenant %s", slug);
	return show(o, slug);
}

static int
cmd_list(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	json_t *arr;
	int rc;

	(void)argc;
	(void)argv;
	if ((rc = tsk_tenant_list(o->cli.db, &arr, o->cli.err, sizeof o->cli.err)) != TSK_OK)
		return fail(o, rc);
	return print_array(o, arr, tenant_cols);
}

static int
cmd_show(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	const char *slug = tenant_arg(o, argc, argv, 0);

	if (slug == NULL)
		return tsk_cli_usage("show needs a tenant slug");
	return show(o, slug);
}

static int
cmd_delete(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	const char *slug = tenant_arg(o, argc, argv, 0);
	int rc;

	if (slug == NULL)
		return tsk_cli_usage("delete needs a tenant slug");
	/* The slug typed a second time also confirms: `delete umc umc`. */
	if (!o->yes && !(argc >= 2 && strcmp(argv[1], slug) == 0))
		return tsk_cli_usage("refusing to delete \"%s\" and all its data without --yes", slug);
	if ((rc = tsk_tenant_delete(o->cli.db, slug, o->cli.err, sizeof o->cli.err)) != TSK_OK)
		return fail(o, rc);
	return print_one(o, json_pack("{s:s, s:b}", "slug", slug, "deleted", 1), NULL);
}

static int
cmd_set(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	int unset = strcmp(argv[-1], "unset") == 0, rc;

	if (argc != (unset ? 2 : 3))
		return tsk_cli_usage(unset ? "unset needs SLUG KEY" : "set needs SLUG KEY VALUE");
	rc = tsk_tenant_setting(o->cli.db, argv[0], argv[1], unset ? NULL : argv[2], o->cli.err, sizeof o->cli.err);
	if (rc != TSK_OK)
		return fail(o, rc);
	json_t *s;
	if ((rc = tsk_tenant_settings(o->cli.db, argv[0], &s, o->cli.err, sizeof o->cli.err)) != TSK_OK)
		return fail(o, rc);
	return print_one(o, json_pack("{s:s, s:o}", "slug", argv[0], "settings", s), NULL);
}

static int
cmd_domain(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	static const char *const cols[] = { "domain", "tenant", "primary", NULL };
	json_t *arr;
	int rc;

	if (argc >= 1 && strcmp(argv[0], "list") == 0) {
		if ((rc = tsk_tenant_domain_list(o->cli.db, tenant_arg(o, argc, argv, 1), &arr, o->cli.err, sizeof o->cli.err)) != TSK_OK)
			return fail(o, rc);
		return print_array(o, arr, cols);
	}
	if (argc != 3 || (strcmp(argv[0], "add") != 0 && strcmp(argv[0], "rm") != 0))
		return tsk_cli_usage("usage: domain add SLUG HOST | domain rm SLUG HOST | domain list [SLUG]");
	rc = argv[0][0] == 'a' ? tsk_tenant_domain_add(o->cli.db, argv[1], argv[2], o->cli.err, sizeof o->cli.err)
	                       : tsk_tenant_domain_rm(o->cli.db, argv[1], argv[2], o->cli.err, sizeof o->cli.err);
	if (rc != TSK_OK)
		return fail(o, rc);
	if ((rc = tsk_tenant_domain_list(o->cli.db, argv[1], &arr, o->cli.err, sizeof o->cli.err)) != TSK_OK)
		return fail(o, rc);
	return print_array(o, arr, cols);
}

static int
cmd_user(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	static const char *const cols[] = { "email", "staff", "active", "tenants", "created_at", NULL };
	char pw[TSK_PASSWORD_MAX + 2];
	size_t pwlen;
	json_t *arr;
	int rc, staff = 0;

	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		if ((rc = tsk_user_list(o->cli.db, &arr, o->cli.err, sizeof o->cli.err)) != TSK_OK)
			return fail(o, rc);
		return print_array(o, arr, cols);
	}
	if (argc != 2)
		return tsk_cli_usage("usage: user add|passwd|rm|verify EMAIL, user list");
	const char *sub = argv[0], *email = argv[1];
	if (strcmp(sub, "add") == 0 || strcmp(sub, "passwd") == 0 || strcmp(sub, "verify") == 0) {
		int verify = sub[0] == 'v';
		/* A password that cannot be one (too long, a NUL byte) is bad input: exit 2, also for verify. */
		rc = tsk_cli_read_password("Password: ", !verify, pw, sizeof pw, &pwlen, o->cli.err, sizeof o->cli.err);
		if (rc != TSK_OK)
			return fail(o, rc);
		if (rc == TSK_OK) {
			if (sub[0] == 'a')
				rc = tsk_user_add(o->cli.db, email, pw, o->staff, o->cli.err, sizeof o->cli.err);
			else if (sub[0] == 'p')
				rc = tsk_user_passwd(o->cli.db, email, pw, o->cli.err, sizeof o->cli.err);
			else
				rc = tsk_user_verify(o->cli.db, email, pw, &staff, o->cli.err, sizeof o->cli.err);
		}
		sodium_memzero(pw, sizeof pw);
		if (rc == TSK_EINVAL && verify) {
			tsk_err("%s", o->cli.err);
			return TSK_EXIT_FAIL; /* a wrong password is an answer, not a usage error */
		}
		if (rc != TSK_OK)
			return fail(o, rc);
		if (verify)
			return print_one(o, json_pack("{s:s, s:b, s:b}", "email", email, "valid", 1, "staff", staff), NULL);
	} else if (strcmp(sub, "rm") == 0) {
		if ((rc = tsk_user_rm(o->cli.db, email, o->cli.err, sizeof o->cli.err)) != TSK_OK)
			return fail(o, rc);
		return print_one(o, json_pack("{s:s, s:b}", "email", email, "deleted", 1), NULL);
	} else {
		return tsk_cli_usage("unknown user command \"%s\"", sub);
	}
	/* add and passwd answer with the user's record (never the hash), found by the normalized email. */
	char norm[256];
	if ((rc = tsk_email_normalize(o->cli.db, email, norm, sizeof norm, o->cli.err, sizeof o->cli.err)) != TSK_OK ||
	    (rc = tsk_user_list(o->cli.db, &arr, o->cli.err, sizeof o->cli.err)) != TSK_OK)
		return fail(o, rc);
	json_t *one = json_array();
	size_t i;
	json_t *u;
	json_array_foreach(arr, i, u) {
		if (strcmp(json_string_value(json_object_get(u, "email")), norm) == 0)
			json_array_append(one, u);
	}
	json_decref(arr);
	return print_array(o, one, cols);
}

static int
cmd_member(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	static const char *const cols[] = { "tenant", "email", "role", "status", "since", NULL };
	json_t *arr;
	int rc;

	if (argc >= 1 && strcmp(argv[0], "list") == 0) {
		const char *slug = tenant_arg(o, argc, argv, 1);
		if (slug == NULL)
			return tsk_cli_usage("member list needs a tenant slug");
		if ((rc = tsk_member_list(o->cli.db, slug, &arr, o->cli.err, sizeof o->cli.err)) != TSK_OK)
			return fail(o, rc);
		return print_array(o, arr, cols);
	}
	if (argc == 3 && strcmp(argv[0], "add") == 0) {
		if (o->role == NULL)
			return tsk_cli_usage("member add needs --role ROLE");
		rc = tsk_member_add(o->cli.db, argv[1], argv[2], o->role, o->cli.err, sizeof o->cli.err);
	} else if (argc == 3 && strcmp(argv[0], "rm") == 0) {
		rc = tsk_member_rm(o->cli.db, argv[1], argv[2], o->cli.err, sizeof o->cli.err);
	} else {
		return tsk_cli_usage("usage: member add SLUG EMAIL --role ROLE | member rm SLUG EMAIL | member list SLUG");
	}
	if (rc != TSK_OK)
		return fail(o, rc);
	if ((rc = tsk_member_list(o->cli.db, argv[1], &arr, o->cli.err, sizeof o->cli.err)) != TSK_OK)
		return fail(o, rc);
	return print_array(o, arr, cols);
}

/* Invites: lib/registry/team.c, mailed by lib/notify/invite.c when smtp_url is configured. The token
 * and its link are printed by `add` and never again (the table keeps its hash). */
static int
cmd_invite(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	static const char *const cols[] = { "id", "email", "role", "status", "expires_at", "email_sent", NULL };
	static const char *const add_cols[] = { "id", "tenant", "email", "role", "expires_at", "accept_url",
		"email_sent", NULL };
	enum tsk_team_why why;
	struct tsk_invite_info info;
	struct tsk_mail_conf mc, *mail = NULL;
	char token[TSK_INVITE_TOKEN_LEN + 1], link[2048], merr[TSK_ERRLEN];
	int64_t count = 0, now = tsk_now_us();
	json_t *arr, *inv;
	int rc, sent;

	if (argc == 2 && strcmp(argv[0], "list") == 0) {
		if ((rc = tsk_tenant_exists(o->cli.db, argv[1], o->cli.err, sizeof o->cli.err)) != TSK_OK ||
		    (rc = tsk_invite_list(o->cli.db, argv[1], now, 0, INT64_MAX, &count, &arr, o->cli.err,
		    sizeof o->cli.err)) != TSK_OK)
			return fail(o, rc);
		return print_array(o, arr, cols);
	}
	if (argc == 3 && strcmp(argv[0], "cancel") == 0) {
		char *end;
		long long id = strtoll(argv[2], &end, 10);
		if (*end != '\0' || end == argv[2] || id < 1)
			return tsk_cli_usage("invite cancel SLUG ID: ID is the invite's number (invite list)");
		if ((rc = tsk_tenant_exists(o->cli.db, argv[1], o->cli.err, sizeof o->cli.err)) != TSK_OK ||
		    (rc = tsk_invite_cancel(o->cli.db, argv[1], id, &why, o->cli.err, sizeof o->cli.err)) != TSK_OK)
			return fail(o, rc);
		if ((rc = tsk_invite_get(o->cli.db, argv[1], id, now, &inv, o->cli.err, sizeof o->cli.err)) != TSK_OK)
			return fail(o, rc);
		return print_one(o, inv, cols);
	}
	if (argc != 3 || strcmp(argv[0], "add") != 0)
		return tsk_cli_usage("usage: invite add SLUG EMAIL --role ROLE [--message TEXT] | invite list SLUG |"
		    " invite cancel SLUG ID");
	if (o->role == NULL)
		return tsk_cli_usage("invite add needs --role ROLE");
	/* A half-made mail setting is an error before anything is created; no smtp_url means no mail. */
	if (tsk_conf_get(&o->cli.conf, "smtp_url") != NULL && tsk_conf_get(&o->cli.conf, "smtp_url")[0] != '\0') {
		if ((rc = tsk_mail_conf_load(&o->cli.conf, &mc, o->cli.err, sizeof o->cli.err)) != TSK_OK)
			return fail(o, rc);
		mail = &mc;
	}
	if ((rc = tsk_tenant_exists(o->cli.db, argv[1], o->cli.err, sizeof o->cli.err)) != TSK_OK)
		return fail(o, rc);
	rc = tsk_invite_create(o->cli.db, argv[1], 0, argv[2], o->role, o->message, now, token, &info, &why, o->cli.err,
	    sizeof o->cli.err);
	if (rc != TSK_OK)
		return fail(o, rc);
	const char *furl = tsk_conf_get_default(&o->cli.conf, "frontend_url", TSK_FRONTEND_URL_DEFAULT);
	sent = mail != NULL && tsk_invite_mail(o->cli.db, mail, furl, &info, token, now, merr, sizeof merr) == TSK_OK;
	if (mail == NULL)
		tsk_invite_mail(o->cli.db, NULL, furl, &info, token, now, merr, sizeof merr);
	if (!sent)
		tsk_warn("invite %lld: not mailed: %s (send the link yourself)", (long long)info.id, merr);
	tsk_invite_link(furl, token, link, sizeof link);
	sodium_memzero(token, sizeof token);
	if ((rc = tsk_invite_get(o->cli.db, argv[1], info.id, now, &inv, o->cli.err, sizeof o->cli.err)) != TSK_OK)
		return fail(o, rc);
	json_object_set_new(inv, "tenant", json_string(argv[1]));
	json_object_set_new(inv, "accept_url", json_string(link));
	rc = print_one(o, inv, add_cols);
	sodium_memzero(link, sizeof link);
	return rc;
}

/* API tokens: lib/registry/apitoken.c. The token itself is printed by `add` and never again. */
static int
cmd_token(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	static const char *const cols[] = { "id", "tenant", "name", "role", "prefix", "created_at", "last_used_at",
		"revoked_at", NULL };
	static const char *const add_cols[] = { "id", "tenant", "name", "role", "token", NULL };
	char token[TSK_APITOKEN_LEN + 1];
	struct tsk_apitoken t;
	const char *role;
	json_t *arr;
	int rc;

	if (argc == 2 && strcmp(argv[0], "list") == 0) {
		if ((rc = tsk_apitoken_list(o->cli.db, argv[1], &arr, o->cli.err, sizeof o->cli.err)) != TSK_OK)
			return fail(o, rc);
		return print_array(o, arr, cols);
	}
	if (argc == 3 && strcmp(argv[0], "rm") == 0) {
		if ((rc = tsk_apitoken_revoke(o->cli.db, argv[1], argv[2], &t, o->cli.err, sizeof o->cli.err)) != TSK_OK)
			return fail(o, rc);
		return print_one(o, json_pack("{s:I, s:s, s:s, s:s, s:b}", "id", (json_int_t)t.id, "tenant", t.tenant,
		    "name", t.name, "role", t.role, "revoked", 1), NULL);
	}
	if (argc == 2 && strcmp(argv[0], "verify") == 0) {
		/* Read like a password: no echo on a terminal, else one line of standard input. */
		char line[TSK_PASSWORD_MAX + 2];
		size_t len;
		if ((rc = tsk_cli_read_password("Token: ", 0, line, sizeof line, &len, o->cli.err, sizeof o->cli.err)) != TSK_OK)
			return fail(o, rc);
		rc = tsk_apitoken_verify(o->cli.db, line, argv[1], o->ingest ? TSK_APITOKEN_INGEST : TSK_APITOKEN_API, &t,
		    o->cli.err, sizeof o->cli.err);
		sodium_memzero(line, sizeof line);
		if (rc == TSK_EINVAL) {
			tsk_err("%s", o->cli.err);
			return TSK_EXIT_FAIL; /* a refused token is an answer, not a usage error */
		}
		if (rc != TSK_OK)
			return fail(o, rc);
		return print_one(o, json_pack("{s:I, s:s, s:s, s:s, s:b}", "id", (json_int_t)t.id, "tenant", t.tenant,
		    "name", t.name, "role", t.role, "valid", 1), NULL);
	}
	if ((argc == 2 || argc == 3) && strcmp(argv[0], "add") == 0) {
		if (o->ingest && o->role != NULL && strcmp(o->role, "ingest") != 0)
			return tsk_cli_usage("token add: --ingest makes a token of role ingest; leave out --role");
		role = o->ingest ? "ingest" : o->role;
		if (role == NULL)
			return tsk_cli_usage("token add needs --role ROLE or --ingest");
		if (argc == 2 && strcmp(role, "ingest") != 0)
			return tsk_cli_usage("token add needs a NAME (only an ingest token has a default name)");
		rc = tsk_apitoken_create(o->cli.db, argv[1], argc == 3 ? argv[2] : NULL, role, token, &t, o->cli.err,
		    sizeof o->cli.err);
		if (rc != TSK_OK)
			return fail(o, rc);
		tsk_info("token %s of %s: shown this once, store it now", t.name, t.tenant);
		rc = print_one(o, json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)t.id, "tenant", t.tenant,
		    "name", t.name, "role", t.role, "token", token), add_cols);
		sodium_memzero(token, sizeof token);
		return rc;
	}
	return tsk_cli_usage("usage: token add SLUG NAME --role ROLE | token add SLUG [NAME] --ingest |"
	    " token list SLUG | token rm SLUG NAME|ID | token verify SLUG [--ingest]");
}

static int
cmd_migrate(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	int pub, ten, tenants, rc;

	(void)argc;
	(void)argv;
	rc = tsk_tenant_migrate_all(o->cli.db, &pub, &ten, &tenants, o->cli.err, sizeof o->cli.err);
	if (rc != TSK_OK)
		return fail(o, rc);
	tsk_info("applied %d public and %d tenant migrations over %d tenants", pub, ten, tenants);
	return print_one(o, json_pack("{s:i, s:i, s:i}", "public_applied", pub, "tenant_applied", ten, "tenants",
	    tenants), NULL);
}

/* Each tenant that could not be maintained, as it happens: the run goes on with the others. */
static void
maintain_report(void *ctx, const char *slug, int status, const char *msg)
{
	char prefix[TSK_SLUG_MAX + 16];

	(void)ctx;
	(void)status;
	/* Messages about a tenant's settings name it already. */
	snprintf(prefix, sizeof prefix, "tenant %s: ", slug);
	if (strncmp(msg, prefix, strlen(prefix)) == 0)
		tsk_err("%s", msg);
	else
		tsk_err("%s%s", prefix, msg);
}

static int catalog_refresh(struct opts *o, const char *slug, int print, long long *changed, int *failed);

/* Partitions ahead, rows out of the default partition, retention: lib/pg/partition.c; then the catalog's
 * online/availability refresh of the same tenants (lib/registry/catalog.c). */
static int
cmd_maintain(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	struct tsk_partition_result r;
	int rc;

	rc = tsk_tenant_maintain(o->cli.db, tenant_arg(o, argc, argv, 0), tsk_now_us(), TSK_PARTITION_AHEAD, &r,
	    maintain_report, o, o->cli.err, sizeof o->cli.err);
	/* Tenants failed (reported above): the counts of the others still print, then exit 1. */
	if (rc != TSK_OK && r.failed == 0)
		return fail(o, rc);
	tsk_info("%d tenants: %d partitions created, %d dropped, %lld rows moved, %lld deleted, %d failed", r.tenants,
	    r.created, r.dropped, r.rows_moved, r.rows_deleted, r.failed);
	long long changed = 0;
	int cfailed = 0, crc;
	char merr[sizeof o->cli.err];
	memcpy(merr, o->cli.err, sizeof merr);
	crc = catalog_refresh(o, tenant_arg(o, argc, argv, 0), 0, &changed, &cfailed);
	memcpy(o->cli.err, merr, sizeof merr);
	int out = print_one(o, json_pack("{s:i, s:i, s:i, s:I, s:I, s:I, s:i, s:i, s:i, s:I, s:I, s:I, s:i}", "tenants",
	    r.tenants, "created", r.created, "dropped", r.dropped, "rows_moved", (json_int_t)r.rows_moved, "rows_deleted",
	    (json_int_t)r.rows_deleted, "rollup_deleted", (json_int_t)r.rollup_deleted, "failed", r.failed,
	    "raw_created", r.raw_created, "raw_dropped", r.raw_dropped, "raw_moved", (json_int_t)r.raw_moved,
	    "raw_deleted", (json_int_t)r.raw_deleted, "catalog_changed", (json_int_t)changed, "catalog_failed", cfailed),
	    NULL);
	if (rc != TSK_OK)
		return fail(o, rc);
	return out != TSK_EXIT_OK ? out : crc;
}

/* --- the catalog: lib/registry/catalog.c ------------------------------------------------------------ */

static const char *const *
cat_cols(enum tsk_cat_kind k)
{
	static const char *const site[] = { "id", "name", "timezone", "company", "sector", "subsector", "is_active", NULL };
	static const char *const asset[] = { "id", "tag", "name", "site", "site_name", "asset_type", "status",
		"health_score", "is_active", NULL };
	static const char *const device[] = { "id", "name", "mqtt_client_id", "serial_number", "asset", "device_type",
		"status", "availability", "last_seen", NULL };
	static const char *const sensor[] = { "id", "tag", "device", "mqtt_client_id", "metric_type", "unit",
		"is_online", "last_value", "last_reading_at", NULL };

	switch (k) {
	case TSK_CAT_SITE: return site;
	case TSK_CAT_ASSET: return asset;
	case TSK_CAT_DEVICE: return device;
	default: return sensor;
	}
}

/* `add`: one JSON object a line; a bad line is reported with its number and the rest go on (exit 3). */
static int
cat_add(struct opts *o, enum tsk_cat_kind k)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0, bad = 0;
	int rc, out = TSK_EXIT_OK;

	while ((len = getline(&line, &cap, stdin)) >= 0) {
		json_error_t je;
		json_t *in, *row;
		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		if ((in = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
			tsk_err("line %ld: not JSON: %s", lineno, je.text);
			bad++;
			continue;
		}
		/* An array is a group: all its rows are created in one transaction, or none. */
		size_t at = 0;
		if (json_is_array(in))
			rc = tsk_cat_add_many(o->cli.db, o->cli.tenant, k, in, &row, &at, o->cli.err, sizeof o->cli.err);
		else
			rc = tsk_cat_add(o->cli.db, o->cli.tenant, k, in, &row, o->cli.err, sizeof o->cli.err);
		if (rc == TSK_EINVAL) {
			if (json_is_array(in))
				tsk_err("line %ld: element %zu: %s", lineno, at + 1, o->cli.err);
			else
				tsk_err("line %ld: %s", lineno, o->cli.err);
			json_decref(in);
			bad++;
			continue;
		}
		if (rc == TSK_OK && json_is_array(in)) {
			json_decref(in);
			if ((out = print_array(o, row, cat_cols(k))) != TSK_EXIT_OK)
				break;
			fflush(stdout);
			continue;
		}
		json_decref(in);
		if (rc != TSK_OK) {
			/* The tenant, the database: nothing later can go better. */
			free(line);
			return fail(o, rc);
		}
		if ((out = print_one(o, row, cat_cols(k))) != TSK_EXIT_OK)
			break;
		fflush(stdout);
	}
	free(line);
	if (ferror(stdin)) {
		tsk_err("reading standard input failed");
		return TSK_EXIT_FAIL;
	}
	if (out != TSK_EXIT_OK)
		return out;
	return bad > 0 ? TSK_EXIT_PARTIAL : TSK_EXIT_OK;
}

/* list filters: FIELD=VALUE, the value as JSON when it reads as a JSON scalar (3, true, null), else text. */
static int
cat_list(struct opts *o, enum tsk_cat_kind k, int argc, char **argv)
{
	struct tsk_cat_query q = { .search = o->search, .ordering = o->ordering, .limit = o->limit, .offset = o->offset };
	json_t *filters = json_object(), *rows;
	int rc;

	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (eq == NULL || eq == argv[i]) {
			json_decref(filters);
			return tsk_cli_usage("list: \"%s\" is not a FIELD=VALUE filter", argv[i]);
		}
		json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
		if (v == NULL || json_is_object(v) || json_is_array(v)) {
			json_decref(v);
			v = json_string(eq + 1);
		}
		*eq = '\0';
		json_object_set_new(filters, argv[i], v);
		*eq = '=';
	}
	q.filters = filters;
	rc = tsk_cat_list(o->cli.db, o->cli.tenant, k, &q, NULL, &rows, o->cli.err, sizeof o->cli.err);
	json_decref(filters);
	if (rc != TSK_OK)
		return fail(o, rc);
	return print_array(o, rows, cat_cols(k));
}

static int
cmd_catalog_kind(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	enum tsk_cat_kind k;
	long long id;
	json_t *row = NULL;
	int rc;

	if (tsk_cat_kind_parse(argv[-1], &k) != 0)
		return tsk_cli_usage("unknown command \"%s\"", argv[-1]);
	if (argc < 1)
		return tsk_cli_usage("usage: %s add|list|show|set|rm --tenant SLUG", argv[-1]);
	const char *sub = argv[0];
	if (strcmp(sub, "add") == 0 && argc == 1)
		return cat_add(o, k);
	if (strcmp(sub, "list") == 0)
		return cat_list(o, k, argc - 1, argv + 1);
	if (!((strcmp(sub, "show") == 0 && argc == 2) || (strcmp(sub, "rm") == 0 && argc == 2) ||
	    (strcmp(sub, "set") == 0 && (argc == 2 || argc == 3))))
		return tsk_cli_usage("usage: %s add | list [FIELD=VALUE...] | show ID | set ID JSON | rm ID", argv[-1]);
	if ((rc = tsk_cat_resolve(o->cli.db, o->cli.tenant, k, argv[1], &id, o->cli.err, sizeof o->cli.err)) != TSK_OK)
		return fail(o, rc);
	if (sub[0] == 's' && sub[1] == 'h') {
		rc = tsk_cat_show(o->cli.db, o->cli.tenant, k, id, &row, o->cli.err, sizeof o->cli.err);
	} else if (sub[0] == 'r') {
		if ((rc = tsk_cat_rm(o->cli.db, o->cli.tenant, k, id, o->cli.err, sizeof o->cli.err)) == TSK_OK)
			row = json_pack("{s:I, s:b}", "id", (json_int_t)id, "deleted", 1);
	} else {
		json_error_t je;
		json_t *in;
		if (argc == 3) {
			in = json_loads(argv[2], JSON_REJECT_DUPLICATES, &je);
		} else {
			in = json_loadf(stdin, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &je);
		}
		if (in == NULL)
			return tsk_cli_usage("set: not JSON: %s", je.text);
		rc = tsk_cat_set(o->cli.db, o->cli.tenant, k, id, in, &row, o->cli.err, sizeof o->cli.err);
		json_decref(in);
	}
	if (rc != TSK_OK)
		return fail(o, rc);
	return print_one(o, row, sub[0] == 'r' ? NULL : cat_cols(k));
}

/* The online/availability refresh of one tenant, or of every tenant (slug NULL); a JSON line each.
 * A tenant that fails is reported and the others still run (exit 1 at the end). */
static int
catalog_refresh(struct opts *o, const char *slug, int print, long long *changed, int *failed)
{
	json_t *list = NULL, *t;
	size_t i;
	int rc, out = TSK_EXIT_OK;

	*failed = 0;
	*changed = 0;
	if (slug != NULL)
		list = json_pack("[{s:s}]", "slug", slug);
	else if ((rc = tsk_tenant_list(o->cli.db, &list, o->cli.err, sizeof o->cli.err)) != TSK_OK)
		return fail(o, rc);
	json_array_foreach(list, i, t) {
		const char *s = json_string_value(json_object_get(t, "slug"));
		struct tsk_cat_refresh r;
		if ((rc = tsk_cat_refresh(o->cli.db, s, o->cli.now, &r, o->cli.err, sizeof o->cli.err)) != TSK_OK) {
			if (rc == TSK_ETEMP || (slug != NULL && print)) {
				json_decref(list);
				return fail(o, rc);
			}
			tsk_err("tenant %s: catalog refresh: %s", s, o->cli.err);
			(*failed)++;
			continue;
		}
		*changed += r.sensors_changed + r.devices_changed + r.availability_changed;
		if (!print)
			continue;
		out = print_one(o, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "tenant", s, "job",
		    "catalog refresh", "sensors", (json_int_t)r.sensors, "sensors_online", (json_int_t)r.sensors_online,
		    "sensors_changed", (json_int_t)r.sensors_changed, "devices", (json_int_t)r.devices, "devices_online",
		    (json_int_t)r.devices_online, "devices_changed", (json_int_t)r.devices_changed, "availability_changed",
		    (json_int_t)r.availability_changed), NULL);
		if (out != TSK_EXIT_OK)
			break;
	}
	json_decref(list);
	return out != TSK_EXIT_OK ? out : *failed > 0 ? TSK_EXIT_FAIL : TSK_EXIT_OK;
}

static int
cmd_catalog(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	long long changed;
	int failed;

	if (argc < 1 || argc > 2 || strcmp(argv[0], "refresh") != 0)
		return tsk_cli_usage("usage: catalog refresh [SLUG]");
	return catalog_refresh(o, tenant_arg(o, argc, argv, 1), 1, &changed, &failed);
}

/* mail test ADDRESS: one message with both parts through the configured server, to check the setup. */
static int
cmd_mail(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	struct tsk_mail_conf mc;
	struct tsk_mail m = {
		.subject = "TrakSense: mensagem de teste (configuração de e-mail)",
		.text = "Esta é uma mensagem de teste do TrakSense.\n\n"
			"Se você a recebeu, o envio de e-mail (smtp_url, mail_from) está funcionando.\n",
		.html = "<p>Esta é uma mensagem de teste do <b>TrakSense</b>.</p>"
			"<p>Se você a recebeu, o envio de e-mail (<code>smtp_url</code>, <code>mail_from</code>) "
			"está funcionando.</p>",
	};
	int rc;

	if (argc != 2 || strcmp(argv[0], "test") != 0)
		return tsk_cli_usage("mail test ADDRESS");
	m.to = argv[1];
	m.to_name = o->name;
	if ((rc = tsk_mail_conf_load(&o->cli.conf, &mc, o->cli.err, sizeof o->cli.err)) != TSK_OK ||
	    (rc = tsk_mail_send(&mc, &m, o->cli.err, sizeof o->cli.err)) != TSK_OK)
		return fail(o, rc);
	return print_one(o, json_pack("{s:s, s:s}", "sent", m.to, "subject", m.subject), NULL);
}

static const struct tsk_cli_command commands[] = {
	{ "create", cmd_create, DB_ARGS }, { "list", cmd_list, TSK_CLI_NEEDS_DB }, { "show", cmd_show, DB_ARGS },
	{ "delete", cmd_delete, DB_ARGS }, { "set", cmd_set, DB_ARGS }, { "unset", cmd_set, DB_ARGS },
	{ "domain", cmd_domain, DB_ARGS }, { "user", cmd_user, DB_ARGS }, { "member", cmd_member, DB_ARGS },
	{ "token", cmd_token, DB_ARGS }, { "invite", cmd_invite, DB_ARGS },
	{ "migrate", cmd_migrate, TSK_CLI_NEEDS_DB }, { "maintain", cmd_maintain, DB_ARGS },
	{ "mail", cmd_mail, TSK_CLI_TAKES_ARGS },
	{ "site", cmd_catalog_kind, DB_ARGS | TSK_CLI_NEEDS_TENANT }, { "asset", cmd_catalog_kind, DB_ARGS | TSK_CLI_NEEDS_TENANT },
	{ "device", cmd_catalog_kind, DB_ARGS | TSK_CLI_NEEDS_TENANT },
	{ "sensor", cmd_catalog_kind, DB_ARGS | TSK_CLI_NEEDS_TENANT }, { "catalog", cmd_catalog, DB_ARGS },
};

int
main(int argc, char **argv)
{
	enum { O_NAME = 256, O_SLUG, O_DOMAIN, O_ROLE, O_STAFF, O_YES, O_INGEST, O_SEARCH, O_ORDERING, O_LIMIT,
		O_OFFSET, O_MESSAGE };
	static const struct option longopts[] = {
		TSK_CLI_LONGOPTS,
		{ "name", required_argument, NULL, O_NAME }, { "slug", required_argument, NULL, O_SLUG },
		{ "domain", required_argument, NULL, O_DOMAIN }, { "role", required_argument, NULL, O_ROLE },
		{ "staff", no_argument, NULL, O_STAFF }, { "yes", no_argument, NULL, O_YES },
		{ "ingest", no_argument, NULL, O_INGEST }, { "search", required_argument, NULL, O_SEARCH },
		{ "ordering", required_argument, NULL, O_ORDERING }, { "limit", required_argument, NULL, O_LIMIT },
		{ "offset", required_argument, NULL, O_OFFSET }, { "message", required_argument, NULL, O_MESSAGE },
		{ NULL, 0, NULL, 0 }
	};
	static struct opts o;
	int c, rc = TSK_EXIT_USAGE;

	tsk_cli_init(&o.cli, "tsk-tenant", usage_text);
	while ((c = getopt_long(argc, argv, TSK_CLI_SHORTOPTS, longopts, NULL)) != -1) {
		switch (tsk_cli_take(&o.cli, NULL, c, optarg, &rc)) {
		case -1: goto out;     /* --help, --version, or a bad option */
		case 1: continue;      /* a common option */
		}
		switch (c) {
		case O_NAME: o.name = optarg; break;
		case O_SLUG: o.slug = optarg; break;
		case O_DOMAIN: o.domain = optarg; break;
		case O_ROLE: o.role = optarg; break;
		case O_STAFF: o.staff = 1; break;
		case O_YES: o.yes = 1; break;
		case O_INGEST: o.ingest = 1; break;
		case O_SEARCH: o.search = optarg; break;
		case O_ORDERING: o.ordering = optarg; break;
		case O_LIMIT:
		case O_OFFSET:
			if (tsk_cli_long(optarg, c == O_LIMIT ? 1 : 0, 1000000000L, c == O_LIMIT ? &o.limit : &o.offset) != 0) {
				rc = tsk_cli_usage("--%s: \"%s\" is not a whole number", c == O_LIMIT ? "limit" : "offset", optarg);
				goto out;
			}
			break;
		case O_MESSAGE: o.message = optarg; break;
		}
	}
	if ((rc = tsk_cli_setup(&o.cli)) != TSK_EXIT_OK)
		goto out;
	rc = tsk_cli_dispatch(&o.cli, commands, sizeof commands / sizeof commands[0], argc - optind, argv + optind, &o);
	rc = tsk_cli_finish(&o.cli, rc);
out:
	tsk_cli_free(&o.cli);
	return rc;
}
