/*
 * The ingest spool: a crash-safe sqlite3 (WAL) store-and-forward queue between the receivers (MQTT,
 * stdin, HTTP) and PostgreSQL.
 *
 *   receiver:  parse -> tsk_spool_put() -> (commit done) -> PUBACK / next line
 *   flusher:   tsk_spool_peek() -> COPY + INSERT ... ON CONFLICT DO NOTHING -> COMMIT -> tsk_spool_ack()
 *
 * A message (the readings parsed from one MQTT message or one input line) is one row, appended in one
 * sqlite transaction. When tsk_spool_put returns TSK_OK the row is committed: with the default
 * synchronous=NORMAL it survives a crash or SIGKILL of the process; with opts.sync_full it also survives
 * a power cut or kernel crash (an fsync per commit, at many times the cost). Rows leave the spool only
 * through tsk_spool_ack, which the flusher calls after its PostgreSQL COMMIT; a crash between the two
 * replays the batch, and the unique key on reading(device_id, sensor_id, ts) absorbs the duplicates.
 *
 * Threads: one handle serves every thread of the process. It holds two sqlite connections to the spool:
 * a write connection (put, put_batch, ack), serialised by a mutex, and a read connection (peek, stats),
 * serialised by a second mutex; and a third, to the dead-letter file (dead_*), under a third mutex. WAL lets the read
 * connection run while the write connection commits, so a flusher's peek never stalls the MQTT thread's
 * puts; ack is a write and takes turns with puts (sqlite allows one writer at a time anyway).
 * Callbacks run with the read mutex held: they may call put/ack but not peek/stats/dead_*.
 *
 * Processes: one process, and one handle, per spool file. tsk_spool_open takes an exclusive flock(2)
 * on the file and fails with TSK_ETEMP while another process (or another handle in this process) has
 * it: two tsk-ingest instances configured with one spool path is a mistake this catches. The depth
 * counters, and so the cap, are exact because every write goes through the one handle. sqlite runs
 * with its "unix-excl" VFS (locks taken once per process, WAL index in memory: half the CPU per put),
 * so an sqlite3 shell cannot read the file while it is open ("database is locked"); use the counters
 * and tsk_spool_stats, or stop the tool. Local filesystems only.
 *
 * Opening checks the file and never repairs, empties or recreates it: a file that is not an sqlite
 * database, is torn or truncated, fails PRAGMA quick_check (or integrity_check), or carries another
 * application_id or schema version, is refused with TSK_EFAIL and a message naming the file, and its
 * bytes are left as they were. A message row whose checksum does not match (a changed byte sqlite
 * cannot see) does not stop the spool: it is counted on open (counters.corrupt_seen) and quarantined
 * as a dead letter when peek reaches it. A zero-length file is
 * accepted as a new, empty spool: it is what a crash during the very first open leaves behind, and it
 * holds nothing to lose; but a zero-length file next to a non-empty "-wal" log is refused, because
 * sqlite would delete that log.
 *
 * Dead letters are kept in a file of their own beside the spool, "<spool>.dead" (PRAGMA application_id
 * 0x54534B44 "TSKD"; table dead below), opened with sqlite's default VFS in WAL mode: unlike the spool
 * it is shared, so another process may list and purge dead letters while tsk-ingest runs
 * (tsk_spool_dead_open). A spool written before keeps them in its own dead table: the first open moves
 * them to the file.
 *
 * Format (schema version 1, PRAGMA user_version; PRAGMA application_id 0x54534B53 "TSKS"):
 *   msg(id INTEGER PRIMARY KEY, tenant TEXT, received_us INTEGER, n INTEGER, body BLOB)
 *   dead(id INTEGER PRIMARY KEY, received_us INTEGER, reason TEXT, detail TEXT, source TEXT, body BLOB)
 *   (in the spool: empty once moved; in "<spool>.dead": the dead letters)
 * msg.body is a compact binary encoding of the normalized readings: a version byte, the reading count,
 * then per reading its strings (length-prefixed), ts_us as 8 bytes, the value as its 8 IEEE-754 bytes
 * (so every double, -0.0 included, comes back bit for bit), present/absent flags for unit, site and
 * asset_tag, and labels as compact JSON; format 2 (version byte 2) then adds the message as received
 * (topic and payload bytes, length-prefixed), kept only for a tenant not known when it was spooled;
 * format 3 (version byte 3) is format 2 for a message to archive (tsk_spool_msg.archive), then its
 * msg_key and time (8 bytes each) and its device_id (a presence byte, then the string); it may hold no
 * reading;
 * a CRC-32 of (id, received_us, tenant, payload) ends it. sqlite
 * has no page checksums, so this CRC is what catches a flipped byte inside a row.
 */
#ifndef TSK_SPOOL_H
#define TSK_SPOOL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "model/reading.h"

#define TSK_SPOOL_SCHEMA_VERSION 1
#define TSK_SPOOL_APPLICATION_ID 0x54534B53 /* "TSKS" */

struct tsk_spool;

/* All-zero (or a NULL pointer) means the defaults. */
struct tsk_spool_opts {
	int sync_full;           /* 1: synchronous=FULL, survives power loss; 0: NORMAL, survives a crash */
	uint64_t max_msgs;       /* cap on spooled messages; 0: none */
	uint64_t max_bytes;      /* cap on the encoded bodies (about 40 bytes + strings a reading); 0: none */
	uint64_t max_dead;       /* cap on dead letters; 0: none */
	int busy_timeout_ms;     /* 0: 5000 */
	int full_check;          /* PRAGMA integrity_check instead of quick_check on open */
	int must_exist;          /* TSK_ENOTFOUND instead of creating a missing file */
};

/* One message for tsk_spool_put_batch. */
struct tsk_spool_msg {
	const char *tenant;             /* non-empty; readings whose tenant is NULL belong to it */
	const struct tsk_reading *r;
	size_t n;                       /* at least 1 */
	int64_t received_us;
	/* Optional: the message as received, kept with it (body format 2) so that a dead letter can show
	 * it if the tenant turns out not to exist. NULL topic: not kept. */
	const char *topic;
	const void *raw;
	size_t raw_len;
	/* Optional: 1 to archive the message (body format 3): topic and raw are then required, raw being
	 * the payload's JSON text, kept whole; n may be 0. The sink's tsk_sink_msg fields: */
	int archive;
	int64_t key;                    /* msg_key (tsk_sink_msg_key) */
	int64_t ts_us;                  /* the message's time */
	const char *device_id;          /* may be NULL */
};

/* One spooled message in a batch: its readings are batch.readings.v[first .. first + n). */
struct tsk_spool_entry {
	int64_t id;
	int64_t received_us;
	char *tenant;                   /* owned */
	size_t first, n;
	size_t bytes;                   /* encoded size, for the depth counters */
	char *topic;                    /* owned: the message as received, when it was kept; else NULL */
	unsigned char *raw;             /* owned, raw_len bytes (NULL when topic is) */
	size_t raw_len;
	int archive;                    /* format 3: to archive (topic, raw, key, ts_us, device_id) */
	int64_t key, ts_us;
	char *device_id;                /* owned, may be NULL */
};

/* What tsk_spool_peek fills. Every reading has its tenant set, so a sink can group by it. */
struct tsk_spool_batch {
	struct tsk_spool_entry *msg;    /* oldest first */
	size_t nmsg, cap;
	struct tsk_readings readings;   /* every reading of every message, in spool order */
};

struct tsk_spool_stats {
	uint64_t msgs, readings, bytes; /* depth: waiting to be flushed */
	int64_t oldest_us;              /* received_us of the oldest waiting message; 0 when empty */
	uint64_t dead;                  /* dead letters kept */
	uint64_t file_bytes, wal_bytes; /* on disk: the database file and its -wal log */
};

/* Plain fields to read at any time from any thread (each read is an atomic load). Totals count since
 * tsk_spool_open; depth_* are exact current values (loaded from the file on open). */
struct tsk_spool_counters {
	_Atomic uint64_t put_msgs, put_readings, put_bytes;
	_Atomic uint64_t put_full;      /* messages refused with TSK_EFULL: the cap was reached */
	_Atomic uint64_t put_errors;    /* puts that failed for another reason */
	_Atomic uint64_t peek_msgs;     /* messages handed out by peek (a replayed batch counts again) */
	_Atomic uint64_t ack_msgs, ack_readings;
	_Atomic uint64_t dead_put, dead_full;
	_Atomic uint64_t depth_msgs, depth_readings, depth_bytes, depth_dead;
	_Atomic uint64_t corrupt_seen;  /* rows whose checksum failed when the file was opened */
	_Atomic uint64_t quarantined;   /* such rows peek moved into the dead letters */
};

/* The dead-letter reason of a message row whose checksum failed (see tsk_spool_peek). */
#define TSK_SPOOL_QUARANTINE_REASON "corrupt spool row"

/* One dead letter, as tsk_spool_dead_list hands it to the callback (valid during the call only). */
struct tsk_spool_dead {
	int64_t id;
	int64_t received_us;
	const char *reason;             /* short class: "parse", "unknown_tenant", ... */
	const char *detail;             /* human-readable, or NULL */
	const char *source;             /* topic, "stdin:42", ..., or NULL */
	const void *body;               /* the raw payload as received, or NULL */
	size_t len;
};

/* Opens or creates the spool at path. TSK_OK; TSK_ENOTFOUND (opts->must_exist); TSK_ETEMP (locked by
 * another process, or busy); TSK_EFAIL (unusable file, corrupt, I/O; err names the file and why). */
int tsk_spool_open(const char *path, const struct tsk_spool_opts *opts, struct tsk_spool **out,
    char *err, size_t errlen);
/* Opens only the dead letters of the spool at spool_path ("<spool>.dead"): no lock on the spool, so
 * it works while a tsk-ingest process has the spool open. Only tsk_spool_dead_*, tsk_spool_stats (its
 * dead field) and tsk_spool_close may be used on the handle. TSK_ENOTFOUND when there is no such file
 * (no spool, or one not opened since dead letters moved out of it). */
int tsk_spool_dead_open(const char *spool_path, const struct tsk_spool_opts *opts, struct tsk_spool **out,
    char *err, size_t errlen);
/* Closes both connections (the last close checkpoints the log into the database file and removes
 * it). Only once no other thread uses the handle. NULL is a no-op. */
void tsk_spool_close(struct tsk_spool *sp);

/* Appends one message and commits. TSK_OK: durable (see above). TSK_EFULL: the cap would be exceeded
 * (or the disk is full): nothing was stored, stop reading and retry after the flusher acks. An empty
 * spool always takes one message, however large, so an oversized message cannot wedge the stream.
 * TSK_EINVAL: tenant empty, no readings, or a reading without device_id/sensor_id. */
int tsk_spool_put(struct tsk_spool *sp, const char *tenant, const struct tsk_reading *r, size_t n,
    int64_t received_us, char *err, size_t errlen);
/* tsk_spool_put of one message as tsk_spool_put_batch takes it (with its topic, payload, archive). */
int tsk_spool_put_msg(struct tsk_spool *sp, const struct tsk_spool_msg *m, char *err, size_t errlen);
/* Appends messages in one transaction (stdin mode). Stores the longest prefix that fits under the cap
 * and sets *done to its length: TSK_OK when that is all of them, TSK_EFULL when not. On any other
 * error nothing is stored and *done is 0. */
int tsk_spool_put_batch(struct tsk_spool *sp, const struct tsk_spool_msg *m, size_t n, size_t *done,
    char *err, size_t errlen);

void tsk_spool_batch_init(struct tsk_spool_batch *b);
void tsk_spool_batch_clear(struct tsk_spool_batch *b);  /* frees the contents, keeps the arrays */
void tsk_spool_batch_free(struct tsk_spool_batch *b);
/* Replaces b's contents with the oldest messages, without removing them: at most max_msgs (>= 1)
 * messages and at most max_readings readings (0: no limit), but always the oldest message when the
 * spool is not empty, however many readings it holds. b->nmsg == 0: the spool is empty. A row whose
 * checksum fails is quarantined on the way: moved, with its stored bytes, into the dead letters (reason
 * TSK_SPOOL_QUARANTINE_REASON, counted in counters.quarantined) and deleted from the queue, and the
 * batch goes on with the next row. TSK_EFAIL when sqlite fails, or a sound row cannot be decoded (out
 * of memory): the batch is then empty. */
int tsk_spool_peek(struct tsk_spool *sp, size_t max_msgs, size_t max_readings, struct tsk_spool_batch *b,
    char *err, size_t errlen);
/* Deletes exactly the batch's message ids, then clears b. Call only after the data is committed
 * downstream. The deletes commit in chunks of 256 ids so that puts can run in between; after a failure
 * (or a crash) part of the batch may be gone, and calling ack again with the same batch is harmless. */
int tsk_spool_ack(struct tsk_spool *sp, struct tsk_spool_batch *b, char *err, size_t errlen);

/* Stores a rejected message. reason is a short class to count by; body the raw payload (may be NULL).
 * TSK_EFULL when opts.max_dead is reached (nothing stored; counted in dead_full). */
int tsk_spool_dead_put(struct tsk_spool *sp, int64_t received_us, const char *reason, const char *detail,
    const char *source, const void *body, size_t len, char *err, size_t errlen);
/* Dead letters with this reason (NULL: all). */
int tsk_spool_dead_count(struct tsk_spool *sp, const char *reason, uint64_t *n, char *err, size_t errlen);
/* Calls cb once per reason, most frequent first; a non-zero return from cb stops and is returned. */
int tsk_spool_dead_reasons(struct tsk_spool *sp, int (*cb)(void *arg, const char *reason, uint64_t n),
    void *arg, char *err, size_t errlen);
/* Calls cb for up to max dead letters (0: no limit) with id > after_id, and this reason (NULL: any),
 * oldest first; a non-zero return from cb stops and is returned. */
int tsk_spool_dead_list(struct tsk_spool *sp, const char *reason, int64_t after_id, size_t max,
    int (*cb)(void *arg, const struct tsk_spool_dead *d), void *arg, char *err, size_t errlen);
/* Deletes dead letters with id <= upto_id; *deleted (may be NULL) says how many. */
int tsk_spool_dead_purge(struct tsk_spool *sp, int64_t upto_id, uint64_t *deleted, char *err, size_t errlen);

int tsk_spool_stats(struct tsk_spool *sp, struct tsk_spool_stats *st, char *err, size_t errlen);
const struct tsk_spool_counters *tsk_spool_counters(const struct tsk_spool *sp);

#endif
