/*
 * Monthly partitions of reading, created ahead and dropped past retention (see partition.h).
 * Partition bounds are DDL, which takes no parameters: they are times computed here (never user text)
 * and still go through PQescapeLiteral; table names go through PQescapeIdentifier.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/db.h"
#include "pg/partition.h"
#include "core/time.h"
#include "core/tsk.h"

#define MAXMONTHS 4096

static void
ym(int64_t us, int *y, int *m)
{
	char buf[TSK_TIME_STRLEN];

	tsk_time_format(us, buf);
	*y = atoi(buf);
	*m = atoi(buf + 5);
}

/* The start of the UTC month holding us, moved by `add` months. */
static int64_t
month_start(int64_t us, int add)
{
	char buf[32];
	int y, m;
	int64_t out = 0;

	ym(us, &y, &m);
	m += add;
	while (m > 12) {
		m -= 12;
		y++;
	}
	while (m < 1) {
		m += 12;
		y--;
	}
	snprintf(buf, sizeof buf, "%04d-%02d-01T00:00:00Z", y, m);
	tsk_time_parse_rfc3339(buf, &out);
	return out;
}

int64_t
tsk_partition_cutoff(int64_t now_us, int64_t retention_us)
{
	return month_start(now_us - retention_us, 0);
}

struct part {
	char name[TSK_SCHEMA_LEN];
	int64_t lo, hi;
};

/* The dated partitions of reading with their bounds (the default partition is not listed). */
static int
list_parts(PGconn *db, struct part **out, int *n, char *err, size_t errlen)
{
	PGresult *res;
	int rc;

	rc = tsk_db_exec(db,
	    "SELECT c.relname, (extract(epoch FROM b[1]::timestamptz) * 1000000)::bigint,"
	    " (extract(epoch FROM b[2]::timestamptz) * 1000000)::bigint"
	    " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
	    " CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)') b"
	    " WHERE i.inhparent = 'reading'::regclass AND b IS NOT NULL ORDER BY 2",
	    0, NULL, &res, err, errlen);
	if (rc != TSK_OK)
		return rc;
	*n = PQntuples(res);
	*out = calloc((size_t)*n + 1, sizeof **out);
	if (*out == NULL) {
		PQclear(res);
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	}
	for (int i = 0; i < *n; i++) {
		snprintf((*out)[i].name, sizeof (*out)[i].name, "%s", PQgetvalue(res, i, 0));
		(*out)[i].lo = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		(*out)[i].hi = strtoll(PQgetvalue(res, i, 2), NULL, 10);
	}
	PQclear(res);
	return TSK_OK;
}

static int
overlaps(const struct part *p, int n, int64_t lo, int64_t hi)
{
	for (int i = 0; i < n; i++)
		if (p[i].lo < hi && lo < p[i].hi)
			return 1;
	return 0;
}

#define COLS "device_id, sensor_id, ts, value, unit, labels, site, asset_tag, ingested_at"

/*
 * Creates the partition [lo, hi) as reading_pYYYY_MM. The default partition is locked first (ingest into
 * it waits a moment), its rows of that month move into a plain table, and the table is attached: in one
 * transaction, so every row is in exactly one place whatever happens. ATTACH checks the default holds no
 * row of the range any more and builds the partition's indexes.
 */
static int
create_month(PGconn *db, const char *schema, int64_t lo, int64_t hi, int *created, long long *moved, char *err, size_t errlen)
{
	char name[32], los[TSK_TIME_STRLEN], his[TSK_TIME_STRLEN], sql[1024];
	char *qn = NULL, *qlo = NULL, *qhi = NULL;
	const char *p[] = { los, his };
	PGresult *res = NULL;
	int y, m, rc;

	ym(lo, &y, &m);
	snprintf(name, sizeof name, "reading_p%04d_%02d", y, m);
	tsk_time_format(lo, los);
	tsk_time_format(hi, his);
	if ((rc = tsk_db_begin_schema(db, schema, err, errlen)) != TSK_OK)
		return rc;
	qn = tsk_db_ident(db, name);
	qlo = PQescapeLiteral(db, los, strlen(los));
	qhi = PQescapeLiteral(db, his, strlen(his));
	if (qn == NULL || qlo == NULL || qhi == NULL) {
		rc = tsk_db_seterr(db, NULL, TSK_EFAIL, "cannot quote", err, errlen);
		goto cleanup;
	}
	/* The lock also serializes two maintainers: the second one then sees the table and skips it. */
	if ((rc = tsk_db_cmd(db, "LOCK TABLE reading_default IN ACCESS EXCLUSIVE MODE", err, errlen)) != TSK_OK)
		goto cleanup;
	const char *pn[] = { name };
	if ((rc = tsk_db_exec(db, "SELECT to_regclass(quote_ident($1)) IS NOT NULL", 1, pn, &res, err, errlen)) != TSK_OK)
		goto cleanup;
	int exists = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	res = NULL;
	if (exists) {
		tsk_db_rollback(db);
		goto done;
	}
	snprintf(sql, sizeof sql, "CREATE TABLE %s (LIKE reading INCLUDING DEFAULTS)", qn);
	if ((rc = tsk_db_cmd(db, sql, err, errlen)) != TSK_OK)
		goto cleanup;
	snprintf(sql, sizeof sql, "WITH moved AS (DELETE FROM reading_default WHERE ts >= $1 AND ts < $2 RETURNING "
	    COLS ") INSERT INTO %s (" COLS ") SELECT " COLS " FROM moved", qn);
	if ((rc = tsk_db_exec_rows(db, sql, 2, p, moved, err, errlen)) != TSK_OK)
		goto cleanup;
	snprintf(sql, sizeof sql, "ALTER TABLE reading ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%s)", qn, qlo, qhi);
	if ((rc = tsk_db_cmd(db, sql, err, errlen)) != TSK_OK)
		goto cleanup;
	if ((rc = tsk_db_commit(db, err, errlen)) != TSK_OK)
		goto out;
	(*created)++;
done:
	rc = TSK_OK;
	goto out;
cleanup:
	tsk_db_rollback(db);
out:
	PQfreemem(qn);
	PQfreemem(qlo);
	PQfreemem(qhi);
	return rc;
}

/* Drops the partitions wholly before the cutoff, and trims the default partition and the rollups at the
 * same boundary (month-aligned, so no rollup bucket straddles it). One transaction. */
static int
apply_retention(PGconn *db, const char *schema, const struct part *parts, int n, int64_t cut, struct tsk_partition_result *r,
    char *err, size_t errlen)
{
	char cuts[TSK_TIME_STRLEN], sql[256];
	const char *p[] = { cuts };
	int rc;

	tsk_time_format(cut, cuts);
	if ((rc = tsk_db_begin_schema(db, schema, err, errlen)) != TSK_OK)
		return rc;
	for (int i = 0; i < n; i++) {
		if (parts[i].hi > cut)
			continue;
		char *qn = tsk_db_ident(db, parts[i].name);
		if (qn == NULL) {
			rc = tsk_db_seterr(db, NULL, TSK_EFAIL, "cannot quote", err, errlen);
			goto cleanup;
		}
		snprintf(sql, sizeof sql, "DROP TABLE %s", qn);
		PQfreemem(qn);
		if ((rc = tsk_db_cmd(db, sql, err, errlen)) != TSK_OK)
			goto cleanup;
		r->dropped++;
	}
	if ((rc = tsk_db_exec_rows(db, "DELETE FROM reading_default WHERE ts < $1", 1, p, &r->rows_deleted, err,
	    errlen)) != TSK_OK ||
	    (rc = tsk_db_exec_rows(db, "DELETE FROM reading_1m WHERE bucket < $1", 1, p, &r->rollup_deleted, err,
	    errlen)) != TSK_OK ||
	    (rc = tsk_db_exec_rows(db, "DELETE FROM reading_1h WHERE bucket < $1", 1, p, &r->rollup_deleted, err,
	    errlen)) != TSK_OK)
		goto cleanup;
	return tsk_db_commit(db, err, errlen);
cleanup:
	tsk_db_rollback(db);
	return rc;
}

static int
maintain_one(PGconn *db, const char *tenant, int64_t now_us, int ahead, int64_t ret,
    struct tsk_partition_result *r, char *err, size_t errlen)
{
	struct part *parts = NULL;
	int nparts = 0, rc;
	int64_t cut = INT64_MIN, first = month_start(now_us, 0), end = month_start(now_us, ahead + 1);
	int64_t *months = NULL;
	int nmonths = 0;
	PGresult *res = NULL;

	char schema[TSK_SCHEMA_LEN];

	/* The tenant's schema is entered per transaction (tsk_db_enter_tenant); this one only checks it. */
	if ((rc = tsk_db_begin(db, err, errlen)) != TSK_OK)
		return rc;
	rc = tsk_db_enter_tenant(db, tenant, schema, err, errlen);
	tsk_db_rollback(db);
	if (rc != TSK_OK)
		return rc;
	if (ret > 0)
		cut = tsk_partition_cutoff(now_us, ret);
	if ((months = calloc(MAXMONTHS, sizeof *months)) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	for (int i = 0; i <= ahead && nmonths < MAXMONTHS; i++)
		months[nmonths++] = month_start(now_us, i);

	/* Months of rows sitting in the default partition (late data, or partitions never made): they get a
	 * partition of their own, unless they are past retention (deleted below) or beyond the months made
	 * ahead (a clock far in the future: those rows stay in the default partition, still queried). */
	char cuts[TSK_TIME_STRLEN], ends[TSK_TIME_STRLEN];
	tsk_time_format(cut == INT64_MIN ? INT64_C(-62135596800000000) : cut, cuts); /* 0001-01-01 */
	tsk_time_format(end, ends);
	const char *p[] = { cuts, ends };
	if ((rc = tsk_db_begin_schema(db, schema, err, errlen)) != TSK_OK)
		goto cleanup;
	if ((rc = tsk_db_exec(db, "SELECT DISTINCT (extract(epoch FROM date_trunc('month', ts)) * 1000000)::bigint"
	    " FROM reading_default WHERE ts >= $1 AND ts < $2 ORDER BY 1", 2, p, &res, err, errlen)) != TSK_OK)
		goto cleanup;
	for (int i = 0; i < PQntuples(res) && nmonths < MAXMONTHS; i++) {
		int64_t mo = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		if (mo < first)
			months[nmonths++] = mo;
	}
	PQclear(res);
	res = NULL;

	rc = list_parts(db, &parts, &nparts, err, errlen);
	tsk_db_rollback(db);
	if (rc != TSK_OK)
		goto cleanup;
	for (int i = 0; i < nmonths; i++) {
		int64_t lo = months[i], hi = month_start(lo, 1);
		if (hi <= cut || overlaps(parts, nparts, lo, hi))
			continue;
		if ((rc = create_month(db, schema, lo, hi, &r->created, &r->rows_moved, err, errlen)) != TSK_OK)
			goto cleanup;
	}
	if (cut != INT64_MIN) {
		free(parts);
		parts = NULL;
		if ((rc = tsk_db_begin_schema(db, schema, err, errlen)) != TSK_OK)
			goto cleanup;
		rc = list_parts(db, &parts, &nparts, err, errlen);
		tsk_db_rollback(db);
		if (rc != TSK_OK || (rc = apply_retention(db, schema, parts, nparts, cut, r, err, errlen)) != TSK_OK)
			goto cleanup;
	}
	r->tenants++;
cleanup:
	if (PQtransactionStatus(db) != PQTRANS_IDLE)
		tsk_db_rollback(db);
	PQclear(res);
	free(parts);
	free(months);
	return rc;
}

int
tsk_partition_maintain(PGconn *db, const char *tenant, int64_t now_us, int ahead, int64_t retention_us,
    struct tsk_partition_result *out, char *err, size_t errlen)
{
	struct tsk_partition_result local;

	if (ahead < 0 || ahead > 120)
		return tsk_seterr(err, errlen, TSK_EINVAL, "months ahead must be between 0 and 120");
	if (out == NULL)
		memset(out = &local, 0, sizeof local);
	return maintain_one(db, tenant, now_us, ahead, retention_us, out, err, errlen);
}
