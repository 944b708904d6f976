/*
 * A database of the unit test's own on the suite's PostgreSQL (TSK_TEST_DSN, exported by tests/run),
 * with the public schema migrated; dropped again at the end. Include after tap.h.
 *
 *   struct dbtest t;
 *   switch (dbtest_open(&t, "tsk_login")) { case 0: return 0; case -1: return dbtest_close(&t); }
 *   ... t.db ...
 *   return dbtest_close(&t);
 */
#ifndef TSK_DBTEST_H
#define TSK_DBTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <libpq-fe.h>

#include "core/tsk.h"
#include "pg/db.h"
#include "pg/migrate.h"

struct dbtest {
	PGconn *admin, *db;
	char name[64];
	int created;
};

/* 1 ready, 0 skipped (no TSK_TEST_DSN: the plan is printed), -1 failed (the failure is a test). */
static inline int
dbtest_open(struct dbtest *t, const char *prefix)
{
	const char *dsn = getenv("TSK_TEST_DSN");
	char err[TSK_ERRLEN] = "", sql[128], *dsn2;
	int rc;

	memset(t, 0, sizeof *t);
	if (dsn == NULL) {
		printf("1..0 # SKIP no TSK_TEST_DSN (run through tests/run)\n");
		return 0;
	}
	if (!ok(tsk_db_connect(dsn, &t->admin, err, sizeof err) == TSK_OK, "connects to the test server: %s", err))
		return -1;
	snprintf(t->name, sizeof t->name, "%s_%d", prefix, (int)getpid());
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", t->name);
	if (!ok(tsk_db_cmd(t->admin, sql, err, sizeof err) == TSK_OK, "a database of its own: %s", err))
		return -1;
	t->created = 1;
	if ((dsn2 = malloc(strlen(dsn) + sizeof t->name + 16)) == NULL)
		return -1;
	sprintf(dsn2, "%s dbname=%s", dsn, t->name);
	rc = tsk_db_connect(dsn2, &t->db, err, sizeof err);
	free(dsn2);
	if (!ok(rc == TSK_OK, "connects to it: %s", err))
		return -1;
	if (!ok(tsk_migrate_public(t->db, NULL, err, sizeof err) == TSK_OK, "public schema migrated: %s", err))
		return -1;
	return 1;
}

/* One value of a query on db, "" when it has no row, "error" when it fails (a static buffer). */
static inline const char *
dbtest_val(PGconn *db, const char *sql)
{
	static char out[512];
	char err[TSK_ERRLEN];
	PGresult *res;

	out[0] = '\0';
	if (tsk_db_exec(db, sql, 0, NULL, &res, err, sizeof err) != TSK_OK)
		return "error";
	if (PQntuples(res) > 0)
		snprintf(out, sizeof out, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return out;
}

/* Drops the database; returns done_testing()'s status, for `return dbtest_close(&t);`. */
static inline int
dbtest_close(struct dbtest *t)
{
	char err[TSK_ERRLEN] = "", sql[128];

	if (t->db != NULL)
		PQfinish(t->db);
	if (t->created) {
		snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", t->name);
		ok(tsk_db_cmd(t->admin, sql, err, sizeof err) == TSK_OK, "the database dropped: %s", err);
	}
	if (t->admin != NULL)
		PQfinish(t->admin);
	return done_testing();
}

#endif
