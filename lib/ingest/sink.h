/*
 * The sink: the batching writer from normalized readings into the tenants' `reading` tables.
 *
 * One call writes one batch in one PostgreSQL transaction. The common case, a batch without
 * duplicates, costs what a plain COPY costs:
 *   BEGIN
 *   COPY pg_temp.tsk_cat FROM STDIN (FORMAT binary)      one row per (tenant, device, sensor) of the
 *                                                        batch, aggregated here: its newest reading
 *   per tenant in the batch:
 *     COPY "schema".reading FROM STDIN (FORMAT binary)   that tenant's readings, in batch order
 *   [COPY pg_temp.tsk_arch FROM STDIN (FORMAT binary)]   the messages to archive (tsk_sink_write_archive)
 *   per tenant: WITH dev AS (device upsert) sensor upsert from tsk_cat: one upsert per key, not per reading
 *   [per tenant: INSERT INTO "schema".telemetry ... RETURNING id]
 *   COMMIT
 * The statements up to the last COPY go as one simple query (each COPY follows the one before without
 * a round trip of its own), the rest as one libpq pipeline: about 5 round trips for a batch of one
 * tenant. When a COPY meets an existing (device_id, sensor_id, ts) (unique_violation) the transaction
 * is rolled back and the batch is written staged instead, and so are the next few batches (a replay
 * after a crash brings duplicates in runs):
 *   BEGIN; COPY tsk_cat; COPY pg_temp.tsk_stage (every reading, tagged with its tenant's group)
 *   per tenant: WITH dev, sen (catalog) INSERT INTO "schema".reading SELECT ... FROM tsk_stage
 *               WHERE grp = $1 ON CONFLICT (device_id, sensor_id, ts) DO NOTHING
 *   COMMIT                              (tsk_stage, tsk_cat and tsk_arch are ON COMMIT DELETE ROWS)
 *
 * The tenant of a reading is its `tenant` field (the MQTT topic's slug): the sink looks the slug up in
 * public.tenant and writes only into that tenant's schema (quoted with PQescapeIdentifier). A reading
 * whose tenant does not exist is not written and is flagged in `unknown[]`, for the caller to
 * dead-letter or reject.
 *
 * Counts are exact: `stored` is the number of rows the COPYs or INSERTs added, `duplicates` the
 * readings that hit an existing row or an earlier reading of the same batch (the first one wins: rows
 * go in batch order). The only blur is a COMMIT whose outcome is unknown because the connection broke
 * during it: that returns TSK_ETEMP, and the caller's retry then counts the rows as duplicates.
 *
 * Not thread-safe: one sink per thread.
 */
#ifndef TSK_SINK_H
#define TSK_SINK_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "model/reading.h"

struct tsk_sink;

/* All-zero (or NULL) means the defaults. */
struct tsk_sink_opts {
	int no_catalog;     /* 1: skip the device/sensor catalog upserts */
};

struct tsk_sink_result {
	uint64_t stored;      /* rows inserted into reading */
	uint64_t duplicates;  /* readings that were already there (or twice in the batch) */
	uint64_t unknown;     /* readings of tenants that do not exist: not written, flagged in unknown[] */
	unsigned tenants;     /* tenants written to */
};

/* Creates a sink for `dsn` (libpq connection string; "" uses the PG* environment). Does not connect:
 * the first write (or tsk_sink_connect) does, so a sink can be created while the database is down. */
int tsk_sink_open(const char *dsn, const struct tsk_sink_opts *opts, struct tsk_sink **out, char *err,
    size_t errlen);
void tsk_sink_close(struct tsk_sink *s);

/* Connects (when not connected), creates the staging table and loads the tenant list. TSK_OK, TSK_ETEMP
 * (database unreachable: retry later) or TSK_EFAIL (bad credentials, missing schema). */
int tsk_sink_connect(struct tsk_sink *s, char *err, size_t errlen);
/* 1 while the sink holds a connection that has not failed. */
int tsk_sink_connected(const struct tsk_sink *s);
/* Drops the connection (the next write reconnects). */
void tsk_sink_disconnect(struct tsk_sink *s);
/* The sink's connection (NULL when not connected), for a thread that owns the sink and runs its own
 * short statements on the same connection between writes (tsk-httpd's workers: health checks, Host
 * lookups), so that each thread holds one connection. Such statements must leave no transaction
 * open; a failed connection is dropped with tsk_sink_disconnect. */
PGconn *tsk_sink_db(struct tsk_sink *s);

/*
 * Writes n readings (any mix of tenants) in one transaction. `as_of_us` is the newest arrival time of
 * the readings: a tenant missing from the cached tenant list is looked up again unless the list was
 * read after that time, so a tenant created a moment ago is found and a missing one is decided on
 * fresh data. `unknown` (may be NULL) receives n flags: 1 for readings of unknown tenants.
 *
 * TSK_OK: committed; res filled. TSK_ETEMP: the database is unreachable or the transaction hit a
 * transient error; nothing is committed (or, rarely, the outcome of COMMIT is unknown); retry later.
 * TSK_EINVAL: the database refused the data (a value out of range, an id too long for the index):
 * nothing is committed; the caller should split the batch to find the bad message.
 * TSK_EFAIL: any other refusal (permissions, a broken schema, out of memory): no reading is to blame;
 * nothing is committed.
 */
int tsk_sink_write(struct tsk_sink *s, const struct tsk_reading *r, size_t n, int64_t as_of_us,
    unsigned char *unknown, struct tsk_sink_result *res, char *err, size_t errlen);

/* How far after its arrival a reading's time may be, when the tenant's settings do not say
 * (max_future, a duration): one day. */
#define TSK_SINK_MAX_FUTURE_DEFAULT (INT64_C(86400) * 1000000)

/* tsk_sink_tenant_exists, and the tenant's max_future setting in *max_future_us (the default when it is
 * absent or not a duration). The settings are read with the tenant list, which is read again when it
 * is older than a minute. */
int tsk_sink_tenant_limits(struct tsk_sink *s, const char *slug, int64_t as_of_us, int64_t *max_future_us, char *err,
    size_t errlen);

/* The cached tenant list: when it was read (0: never), how many, the i-th slug (sorted, strcmp). */
int64_t tsk_sink_loaded_us(const struct tsk_sink *s);
size_t tsk_sink_ntenants(const struct tsk_sink *s);
const char *tsk_sink_tenant_slug(const struct tsk_sink *s, size_t i);

/* Transactions this sink ran again because they lost to a concurrent writer (deadlock detected,
 * serialization failure): up to 10 times each, after a short jittered pause. */
uint64_t tsk_sink_conflicts(const struct tsk_sink *s);
/* 1 when the last tsk_sink_write failed (TSK_ETEMP) because of such conflicts, retries exhausted: the
 * database is up, another writer is in the way. */
int tsk_sink_last_conflict(const struct tsk_sink *s);

/*
 * tsk_sink_write that also says which readings it inserted: stored[i] (n flags) is 1 for a reading
 * this write added, 0 for a duplicate (of a row already there or of an earlier reading of the batch)
 * or a reading of an unknown tenant. For a caller that writes several messages in one transaction
 * (tsk-httpd's group commit) and owes each its own exact counts. All flags are 0 unless TSK_OK.
 * Costs a RETURNING on the staged path, and nothing on the direct one.
 */
int tsk_sink_write_each(struct tsk_sink *s, const struct tsk_reading *r, size_t n, int64_t as_of_us,
    unsigned char *unknown, unsigned char *stored, struct tsk_sink_result *res, char *err, size_t errlen);

/*
 * The raw message archive: one row per message in its tenant's `telemetry` table, written in the same
 * transaction as the readings (one COPY into a temporary table and one INSERT ... RETURNING per tenant
 * of the batch), so a message's archive row and its readings are committed together or not at all.
 */
struct tsk_sink_msg {
	const char *tenant;      /* slug; a message of an unknown tenant is not archived (unknown set) */
	const char *device_id;   /* may be NULL */
	const char *topic;       /* NULL: this message is not archived (skipped; id and unknown 0) */
	const char *payload;     /* JSON text, stored as jsonb (text that is not JSON: TSK_EINVAL) */
	size_t payload_len;
	int64_t ts_us;           /* the message's own time ("timestamp") */
	int64_t received_us;     /* its arrival (created_at) */
	int64_t key;             /* msg_key, drawn once when the message arrived (tsk_sink_msg_key): a message
	                          * written again with the same key and arrival adds no second row */
	int64_t id;              /* out: the row's id; 0 when not written by this call (unknown tenant, or
	                          * archived before with the same key and arrival) */
	int unknown;             /* out: 1 when its tenant does not exist */
};

/* tsk_sink_write_each (stored may be NULL) that also archives the nm messages m (their readings are
 * among r, but need not be: a message may have none). TSK_OK: committed, every m[i].id set; otherwise
 * nothing is committed and every id is 0. */
int tsk_sink_write_archive(struct tsk_sink *s, const struct tsk_reading *r, size_t n, struct tsk_sink_msg *m, size_t nm,
    int64_t as_of_us, unsigned char *unknown, unsigned char *stored, struct tsk_sink_result *res, char *err,
    size_t errlen);
/* A new msg_key: distinct from every other this process draws, random across processes. Thread-safe. */
int64_t tsk_sink_msg_key(void);

/* Whether the tenant exists, with the same caching rule as tsk_sink_write: TSK_OK, TSK_ENOTFOUND, or
 * TSK_ETEMP/TSK_EFAIL when the database cannot say. */
int tsk_sink_tenant_exists(struct tsk_sink *s, const char *slug, int64_t as_of_us, char *err, size_t errlen);

#endif
