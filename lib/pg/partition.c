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
#define TSK_US_PER_DAY (INT64_C(86400) * 1000000)

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

/* What differs between the partitioned tables: reading by month of ts, telemetry (the raw message
 * archive) by day of created_at. */
struct ptable {
	const char *table, *deflt, *key, *cols;
};

#define COLS "device_id, sensor_id, ts, value, unit, labels, site, asset_tag, ingested_at"
#define TCOLS "id, device_id, topic, payload, \"timestamp\", created_at, msg_key"

static const struct ptable T_READING = { "reading", "reading_default", "ts", COLS };
static const struct ptable T_TELEMETRY = { "telemetry", "telemetry_default", "created_at", TCOLS };

/* The dated partitions of t with their bounds (the default partition is not listed). */
static int
list_parts(PGconn *db, const struct ptable *t, struct part **out, int *n, char *err, size_t errlen)
{
	const char *pt[] = { t->table };
	PGresult *res;
	int rc;

	rc = tsk_db_exec(db,
	    "SELECT c.relname, (extract(epoch FROM b[1]::timestamptz) * 1000000)::bigint,"
	    " (extract(epoch FROM b[2]::timestamptz) * 1000000)::bigint"
	    " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
	    " CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)') b"
	    " WHERE i.inhparent = $1::regclass AND b IS NOT NULL ORDER BY 2",
	    1, pt, &res, err, errlen);
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

/*
 * Creates the partition [lo, hi) of t named `name` (reading_pYYYY_MM, telemetry_pYYYYMMDD). The default partition is locked first (ingest into
 * it waits a moment), its rows of that month move into a plain table, and the table is attached: in one
 * transaction, so every row is in exactly one place whatever happens. ATTACH checks the default holds no
 * row of the range any more and builds the partition's indexes.
 */
static int
create_part(PGconn *db, const char *schema, const struct ptable *t, const char *name, int64_t lo, int64_t hi,
    int *created, long long *moved, char *err, size_t errlen)
{
	char los[TSK_TIME_STRLEN], his[TSK_TIME_STRLEN], sql[1024];
	char *qn = NULL, *qlo = NULL, *qhi = NULL;
	const char *p[] = { los, his };
	PGresult *res = NULL;
	int rc;

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
	snprintf(sql, sizeof sql, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", t->deflt);
	if ((rc = tsk_db_cmd(db, sql, err, errlen)) != TSK_OK)
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
	snprintf(sql, sizeof sql, "CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS)", qn, t->table);
	if ((rc = tsk_db_cmd(db, sql, err, errlen)) != TSK_OK)
		goto cleanup;
	snprintf(sql, sizeof sql, "WITH moved AS (DELETE FROM %s WHERE %s >= $1 AND %s < $2 RETURNING %s)"
	    " INSERT INTO %s (%s) SELECT %s FROM moved", t->deflt, t->key, t->key, t->cols, qn, t->cols, t->cols);
	if ((rc = tsk_db_exec_rows(db, sql, 2, p, moved, err, errlen)) != TSK_OK)
		goto cleanup;
	snprintf(sql, sizeof sql, "ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%s)", t->table, qn, qlo,
	    qhi);
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

/* The start of the UTC day holding us. */
static int64_t
day_start(int64_t us)
{
	int64_t d = us / TSK_US_PER_DAY;

	if (us % TSK_US_PER_DAY < 0)
		d--;
	return d * TSK_US_PER_DAY;
}

int64_t
tsk_partition_raw_cutoff(int64_t now_us, int64_t raw_retention_us)
{
	return day_start(now_us - raw_retention_us);
}

/*
 * The raw message archive (telemetry, by UTC day of created_at): the days from today to
 * TSK_PARTITION_RAW_AHEAD days ahead, and every day not past retention with rows in the default
 * partition, get a partition; partitions wholly before the cutoff (the start of the day holding
 * now - raw_ret) are dropped and the default partition's rows before it deleted, in one transaction.
 * A partition is dropped only when its last microsecond is older than now - raw_ret: a row younger
 * than the retention is never removed. A tenant whose schema predates the archive is left alone.
 */
static int
maintain_raw(PGconn *db, const char *schema, int64_t now_us, int64_t raw_ret, struct tsk_partition_result *r,
    char *err, size_t errlen)
{
	int64_t cut = tsk_partition_raw_cutoff(now_us, raw_ret), today = day_start(now_us);
	int64_t end = today + (TSK_PARTITION_RAW_AHEAD + 1) * TSK_US_PER_DAY;
	int64_t *days = NULL;
	struct part *parts = NULL;
	int ndays = 0, nparts = 0, rc;
	PGresult *res = NULL;
	char cuts[TSK_TIME_STRLEN], ends[TSK_TIME_STRLEN], sql[256];
	const char *p[] = { cuts, ends };

	if ((rc = tsk_db_begin_schema(db, schema, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_exec(db, "SELECT to_regclass('telemetry') IS NOT NULL", 0, NULL, &res, err, errlen)) != TSK_OK)
		goto cleanup;
	int exists = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	res = NULL;
	if (!exists)
		goto cleanup;
	tsk_time_format(cut, cuts);
	tsk_time_format(end, ends);
	if ((rc = tsk_db_exec(db, "SELECT DISTINCT (extract(epoch FROM date_trunc('day', created_at, 'UTC')) * 1000000)::bigint"
	    " FROM telemetry_default WHERE created_at >= $1 AND created_at < $2 ORDER BY 1", 2, p, &res, err, errlen)) != TSK_OK)
		goto cleanup;
	if ((days = calloc((size_t)PQntuples(res) + TSK_PARTITION_RAW_AHEAD + 1, sizeof *days)) == NULL) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto cleanup;
	}
	for (int i = 0; i <= TSK_PARTITION_RAW_AHEAD; i++)
		days[ndays++] = today + i * TSK_US_PER_DAY;
	for (int i = 0; i < PQntuples(res); i++) {
		int64_t d = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		if (d < today)
			days[ndays++] = d;
	}
	PQclear(res);
	res = NULL;
	rc = list_parts(db, &T_TELEMETRY, &parts, &nparts, err, errlen);
	tsk_db_rollback(db);
	if (rc != TSK_OK)
		goto cleanup;
	for (int i = 0; i < ndays; i++) {
		int64_t lo = days[i], hi = lo + TSK_US_PER_DAY;
		char name[32], ds[TSK_TIME_STRLEN];
		if (hi <= cut || overlaps(parts, nparts, lo, hi))
			continue;
		tsk_time_format(lo, ds);
		snprintf(name, sizeof name, "telemetry_p%.4s%.2s%.2s", ds, ds + 5, ds + 8);
		if ((rc = create_part(db, schema, &T_TELEMETRY, name, lo, hi, &r->raw_created, &r->raw_moved, err,
		    errlen)) != TSK_OK)
			goto cleanup;
	}
	/* Retention, in one transaction: the partition list is read again inside it. */
	free(parts);
	parts = NULL;
	if ((rc = tsk_db_begin_schema(db, schema, err, errlen)) != TSK_OK)
		goto cleanup;
	if ((rc = list_parts(db, &T_TELEMETRY, &parts, &nparts, err, errlen)) != TSK_OK)
		goto cleanup;
	for (int i = 0; i < nparts; i++) {
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
		r->raw_dropped++;
	}
	if ((rc = tsk_db_exec_rows(db, "DELETE FROM telemetry_default WHERE created_at < $1", 1, p, &r->raw_deleted, err,
	    errlen)) != TSK_OK)
		goto cleanup;
	rc = tsk_db_commit(db, err, errlen);
cleanup:
	if (PQtransactionStatus(db) != PQTRANS_IDLE)
		tsk_db_rollback(db);
	PQclear(res);
	free(parts);
	free(days);
	return rc;
}

static int
maintain_one(PGconn *db, const char *tenant, int64_t now_us, int ahead, int64_t ret, int64_t raw_ret,
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

	rc = list_parts(db, &T_READING, &parts, &nparts, err, errlen);
	tsk_db_rollback(db);
	if (rc != TSK_OK)
		goto cleanup;
	for (int i = 0; i < nmonths; i++) {
		int64_t lo = months[i], hi = month_start(lo, 1);
		char name[32];
		int y, m;
		if (hi <= cut || overlaps(parts, nparts, lo, hi))
			continue;
		ym(lo, &y, &m);
		snprintf(name, sizeof name, "reading_p%04d_%02d", y, m);
		if ((rc = create_part(db, schema, &T_READING, name, lo, hi, &r->created, &r->rows_moved, err, errlen)) != TSK_OK)
			goto cleanup;
	}
	if (cut != INT64_MIN) {
		free(parts);
		parts = NULL;
		if ((rc = tsk_db_begin_schema(db, schema, err, errlen)) != TSK_OK)
			goto cleanup;
		rc = list_parts(db, &T_READING, &parts, &nparts, err, errlen);
		tsk_db_rollback(db);
		if (rc != TSK_OK || (rc = apply_retention(db, schema, parts, nparts, cut, r, err, errlen)) != TSK_OK)
			goto cleanup;
	}
	if ((rc = maintain_raw(db, schema, now_us, raw_ret, r, err, errlen)) != TSK_OK)
		goto cleanup;
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
    int64_t raw_retention_us, struct tsk_partition_result *out, char *err, size_t errlen)
{
	struct tsk_partition_result local;

	if (ahead < 0 || ahead > 120)
		return tsk_seterr(err, errlen, TSK_EINVAL, "months ahead must be between 0 and 120");
	if (raw_retention_us <= 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "the raw retention must be positive");
	if (out == NULL)
		memset(out = &local, 0, sizeof local);
	return maintain_one(db, tenant, now_us, ahead, retention_us, raw_retention_us, out, err, errlen);
}
