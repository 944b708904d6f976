/*
 * Partitions and retention of a tenant's `reading` table (`tsk-tenant maintain`).
 *
 * Partitions are monthly (UTC calendar months, named reading_pYYYY_MM). Monthly rather than daily: a
 * month of one reading a minute from 1000 sensors is ~43 million rows, a comfortable partition size,
 * and years of keep-forever data stay at tens of partitions per tenant instead of thousands (planning
 * time and catalog size grow with the partition count, per tenant). The price is retention granularity:
 * a partition is dropped only once it is wholly older than the retention, so up to a month more than the
 * retention is kept; the rollups and the default partition are trimmed at the same boundary so queries
 * stay consistent.
 *
 * The DEFAULT partition catches every row no dated partition covers (late or future timestamps), so no
 * row is ever refused. PostgreSQL refuses to create a partition whose range holds rows of the default
 * partition, so a new month is made as a plain table, the default's rows of that month are moved into
 * it, and it is attached, all in one transaction with the default partition locked: a row is never lost
 * nor visible twice.
 */
#ifndef TSK_PARTITION_H
#define TSK_PARTITION_H

#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#define TSK_PARTITION_AHEAD 3 /* months created ahead of the current one */
#define TSK_PARTITION_RAW_AHEAD 3 /* days of the raw message archive created ahead of today */

struct tsk_partition_result {
	int tenants;                 /* tenants maintained */
	int created;                 /* partitions created (ahead, or for rows found in the default) */
	int dropped;                 /* partitions dropped past retention */
	long long rows_moved;        /* rows moved out of the default partition */
	long long rows_deleted;      /* rows deleted from the default partition past retention */
	long long rollup_deleted;    /* rollup rows deleted past retention */
	int failed;                  /* tenants that could not be maintained (tsk_tenant_maintain) */
	/* The raw message archive (telemetry, daily partitions by created_at, kept raw_retention): */
	int raw_created;             /* its partitions created */
	int raw_dropped;             /* its partitions dropped past raw_retention */
	long long raw_moved;         /* its rows moved out of its default partition */
	long long raw_deleted;       /* its default partition's rows deleted past raw_retention */
};

/*
 * Maintains one tenant (slug): creates the partitions of the current month and `ahead` months after it,
 * creates a partition for every month (not past retention, not after the last month created ahead) that
 * has rows in the default partition and moves those rows, drops partitions wholly older than
 * retention_us (0: keep forever), deletes rows of the default partition and rollup buckets older than the
 * same boundary. Idempotent; results add up into *out (may be NULL). now_us is the current time (the
 * tests pass their own). TSK_ENOTFOUND for an unknown tenant.
 * The raw message archive (telemetry) is kept the same way by UTC day of created_at: today and
 * TSK_PARTITION_RAW_AHEAD days ahead, days with rows in its default partition, and the days wholly before
 * tsk_partition_raw_cutoff(now_us, raw_retention_us) (> 0) dropped.
 * The retentions are tenant settings (retention, raw_retention): tsk_tenant_maintain (registry/tenant.h)
 * reads them and maintains one tenant or all of them.
 */
int tsk_partition_maintain(PGconn *db, const char *tenant, int64_t now_us, int ahead, int64_t retention_us,
    int64_t raw_retention_us, struct tsk_partition_result *out, char *err, size_t errlen);

/* The retention boundary for a retention of `retention_us` at now_us: the start of the UTC month holding
 * now - retention. Rows with ts before it are dropped. */
int64_t tsk_partition_cutoff(int64_t now_us, int64_t retention_us);
/* The raw archive's boundary: the start of the UTC day holding now - raw_retention. */
int64_t tsk_partition_raw_cutoff(int64_t now_us, int64_t raw_retention_us);

#endif
