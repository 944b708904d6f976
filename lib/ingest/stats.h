/*
 * Ingest counters: one set per process, updated by any thread (each field is an atomic), rendered as
 * one JSON object. A running `tsk-ingest mqtt` writes that object to a stats file next to its spool
 * (`SPOOL.stats`) once a second, replacing it atomically (write + rename), so `tsk-ingest stats` and
 * tsk-httpd's /metrics can read the counters of a process whose spool they cannot open (it is locked).
 */
#ifndef TSK_STATS_H
#define TSK_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "model/payload.h"

/* Rejection reasons: the parser's (payload.h, indexes 1 .. TSK_PAYLOAD_NREASONS-1) and the sink's. */
enum {
	TSK_STATS_UNKNOWN_TENANT = TSK_PAYLOAD_NREASONS, /* "unknown tenant": the slug names no tenant */
	TSK_STATS_DB_REJECTED,                            /* "database rejected": PostgreSQL refused it */
	TSK_STATS_NO_READINGS,                            /* "no readings": parsed, but every sensor was skipped */
	TSK_STATS_FUTURE,                                 /* "too far in the future": a reading's time is more than
	                                                   * the tenant's max_future after its arrival */
	TSK_STATS_NREASONS
};

struct tsk_stats {
	_Atomic uint64_t received;      /* messages (MQTT) or input lines (stdin) */
	_Atomic uint64_t accepted;      /* messages that parsed (including those with no readings) */
	_Atomic uint64_t readings;      /* readings parsed from accepted messages */
	_Atomic uint64_t spooled;       /* messages committed to the spool */
	_Atomic uint64_t stored;        /* rows inserted into reading */
	_Atomic uint64_t duplicates;    /* readings that were stored already */
	_Atomic uint64_t archived;      /* raw messages written to the archive (telemetry) */
	_Atomic uint64_t rejected;      /* messages rejected, all reasons */
	_Atomic uint64_t rejected_by[TSK_STATS_NREASONS];
	_Atomic uint64_t skipped;       /* readings skipped inside accepted messages (payload.h skip reasons) */
	_Atomic uint64_t skipped_by[TSK_SKIP_NREASONS];
	_Atomic uint64_t dead_dropped;  /* rejected messages the dead-letter table had no room for */
	_Atomic uint64_t batches;       /* transactions committed */
	_Atomic uint64_t flush_errors;  /* failed flush attempts (database down, ...) */
	_Atomic uint64_t conflicts;     /* transactions run again after losing to a concurrent writer
	                                   (deadlock, serialization failure): "flush": {"conflicts"} */
	_Atomic uint64_t full_waits;    /* times a receiver waited for room in the spool */
	_Atomic uint64_t mqtt_connects, mqtt_disconnects;
	_Atomic int mqtt_connected, db_up;
	_Atomic int64_t started_us, last_flush_us, last_error_us;
};

void tsk_stats_init(struct tsk_stats *st);
/* The stable string of a rejection reason index ("not json", "unknown tenant", ...). */
const char *tsk_stats_reason_str(int reason);
/* Counts one rejected message. */
void tsk_stats_reject(struct tsk_stats *st, int reason);
/* Counts the skipped sensors of a parsed message. */
void tsk_stats_skips(struct tsk_stats *st, const struct tsk_payload_info *info);

/* Spool figures to add to the JSON (all optional: pass NULL when there is no spool). */
struct tsk_stats_spool {
	uint64_t msgs, readings, bytes, dead, file_bytes, wal_bytes;
	int64_t oldest_us;  /* 0 when empty */
	uint64_t quarantined; /* corrupt rows moved to the dead letters by this process */
	json_t *dead_by;    /* {reason: n} of the dead-letter table, borrowed; may be NULL */
};

/* {"mode", "pid", "started", "updated", "uptime_s", "received", "accepted", "readings", "spooled",
 *  "stored", "duplicates", "rejected", "rejected_by": {...}, "skipped", "skipped_by": {...}, "spool": {"depth", "readings", "bytes",
 *  "oldest_age_s", "dead", "dead_by", "quarantined", "file_bytes", "wal_bytes"}, "flush": {...}, "db": {...},
 *  "mqtt": {...}} as a new reference (NULL when out of memory). */
json_t *tsk_stats_to_json(const struct tsk_stats *st, const char *mode, const struct tsk_stats_spool *sp);

/* The stats file of a spool: "<spool>.stats" (a malloc'd string, or NULL). */
char *tsk_stats_path(const char *spool_path);
/* Writes obj to path atomically (a temporary file in the same directory, then rename). TSK_OK/TSK_EFAIL. */
int tsk_stats_write_file(const char *path, json_t *obj, char *err, size_t errlen);
/* Reads it back. TSK_OK, TSK_ENOTFOUND, or TSK_EFAIL (unreadable, not JSON). */
int tsk_stats_read_file(const char *path, json_t **out, char *err, size_t errlen);

#endif
