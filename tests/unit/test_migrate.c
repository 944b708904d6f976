/* Migrations against the test PostgreSQL ($TSK_TEST_DSN): applied once, recorded, a failed one leaves
 * its schema as it was; plus database error classes. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "pg/db.h"
#include "pg/migrate.h"
#include "tap.h"
#include "core/tsk.h"

static int
exists(PGconn *db, const char *schema, const char *table)
{
	char q[256];
	PGresult *res;
	int n;

	snprintf(q, sizeof q, "SELECT 1 FROM pg_tables WHERE schemaname = '%s' AND tablename = '%s'", schema, table);
	res = PQexec(db, q);
	n = PQntuples(res);
	PQclear(res);
	return n;
}

int
main(void)
{
	const char *dsn = getenv("TSK_TEST_DSN");
	char err[TSK_ERRLEN], schema[64], sql[128];
	PGconn *db = NULL, *bad = NULL;
	int n = -1, rc;

	if (dsn == NULL) {
		printf("1..0 # SKIP no TSK_TEST_DSN (run through tests/run)\n");
		return 0;
	}
	rc = tsk_db_connect(dsn, &db, err, sizeof err);
	if (!ok(rc == TSK_OK, "connects to the test database"))
		return done_testing();
	snprintf(schema, sizeof schema, "mig_test_%d", (int)getpid());
	snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
	ok(tsk_db_cmd(db, sql, err, sizeof err) == TSK_OK, "scratch schema");

	const struct tsk_migration broken[] = {
		{ "tenant", 1, "one", "CREATE TABLE t1 (x int);" },
		{ "tenant", 2, "two", "CREATE TABLE t2 (x int); SELECT 1/0;" },
		{ "public", 1, "other scope", "SELECT 1;" },
		{ NULL, 0, NULL, NULL },
	};
	const struct tsk_migration fixed[] = {
		{ "tenant", 1, "one", "CREATE TABLE t1 (x int);" },
		{ "tenant", 2, "two", "CREATE TABLE t2 (x int);" },
		{ NULL, 0, NULL, NULL },
	};
	rc = tsk_migrate_apply(db, broken, "tenant", schema, schema, 1, &n, err, sizeof err);
	ok(rc == TSK_EFAIL, "a failing migration fails the run");
	ok(strstr(err, "two") != NULL && strstr(err, "division by zero") != NULL, "the error names the migration and the cause: %s", err);
	is_int(n, 1, "the migration before it was applied");
	ok(exists(db, schema, "t1") == 1, "t1 exists");
	ok(exists(db, schema, "t2") == 0, "t2 of the failed migration was rolled back");

	rc = tsk_migrate_apply(db, fixed, "tenant", schema, schema, 1, &n, err, sizeof err);
	ok(rc == TSK_OK, "the fixed migration applies");
	is_int(n, 1, "only the pending migration ran");
	ok(exists(db, schema, "t2") == 1, "t2 exists now");
	rc = tsk_migrate_apply(db, fixed, "tenant", schema, schema, 1, &n, err, sizeof err);
	ok(rc == TSK_OK && n == 0, "a second run is a no-op");

	snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
	tsk_db_cmd(db, sql, err, sizeof err);
	snprintf(sql, sizeof sql, "DELETE FROM public.schema_migration WHERE scope = '%s'", schema);
	tsk_db_cmd(db, sql, err, sizeof err);

	/* Error classes: a violated unique key, a syntax error, a server that is not there. */
	tsk_db_cmd(db, "CREATE TEMP TABLE u (k int PRIMARY KEY)", err, sizeof err);
	tsk_db_cmd(db, "INSERT INTO u VALUES (1)", err, sizeof err);
	is_int(tsk_db_cmd(db, "INSERT INTO u VALUES (1)", err, sizeof err), TSK_EEXIST, "unique violation is EEXIST");
	is_int(tsk_db_cmd(db, "SELEC 1", err, sizeof err), TSK_EFAIL, "syntax error is permanent");
	const char *params[] = { "x'; DROP TABLE u; --" };
	PGresult *res;
	ok(tsk_db_exec(db, "SELECT $1::text", 1, params, &res, err, sizeof err) == TSK_OK &&
	    strcmp(PQgetvalue(res, 0, 0), params[0]) == 0, "parameters travel as values");
	PQclear(res);
	rc = tsk_db_connect("host=127.0.0.1 port=1 connect_timeout=2", &bad, err, sizeof err);
	is_int(rc, TSK_ETEMP, "an unreachable server is a temporary failure");
	is_int(tsk_exit_code(rc), 75, "which exits 75");
	PQfinish(db);

	/* The user's DSN wins over the tools' defaults, but the session stays in UTC. */
	char dsn2[512];
	snprintf(dsn2, sizeof dsn2, "%s application_name=mine options='-c TimeZone=America/Sao_Paulo'", dsn);
	ok(tsk_db_connect(dsn2, &db, err, sizeof err) == TSK_OK, "connects with the user's options");
	is_str(PQparameterStatus(db, "application_name"), "mine", "the DSN's application_name wins");
	is_str(PQparameterStatus(db, "TimeZone"), "UTC", "the session is still in UTC");
	PQfinish(db);
	return done_testing();
}
