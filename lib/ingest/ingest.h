/*
 * The ingest pipeline shared by tsk-ingest (and tsk-httpd's POST /ingest): parse a message, commit it
 * to the spool (or dead-letter it with the reason), and a flusher that moves the spool into PostgreSQL
 * through the sink and deletes from the spool only after COMMIT.
 *
 *   receiver thread(s):  tsk_ingest_message()  parse -> tsk_spool_put() (committed) -> return -> PUBACK
 *   flusher thread:      peek -> tsk_sink_write() (COMMIT) -> dead-letter unknown tenants -> ack
 *
 * Back-pressure: when the spool is at its cap tsk_ingest_message waits for the flusher to make room
 * (bounded by its wait argument) and then returns TSK_EFULL without storing anything; the caller must
 * then not acknowledge the message (see mqtt.h for how the MQTT receiver does that).
 *
 * Without a spool (tsk_ingest_lines, for `tsk-ingest stdin`) readings go straight to the sink in
 * batches: the input can be replayed, and the unique key makes a replay harmless.
 */
#ifndef TSK_INGEST_H
#define TSK_INGEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ingest/spool.h"
#include "ingest/stats.h"

struct tsk_ingest;

/* level: 0 warning, 1 info, 2 debug; msg is one line without the program name. */
typedef void (*tsk_ingest_log_fn)(void *arg, int level, const char *msg);

/* All-zero means the defaults. */
struct tsk_ingest_opts {
	const char *dsn;            /* PostgreSQL; "" or NULL: the PG* environment */
	size_t batch;               /* readings per transaction; 0: 20000 */
	int flush_interval_ms;      /* how long a partial batch may wait for more; 0: 200 */
	int no_catalog;             /* skip the device/sensor catalog upserts */
	int archive;                /* keep every accepted message (topic, payload) in its tenant's raw archive
	                               (telemetry), through the spool, in the transaction of its readings; a
	                               message with no storable reading is then archived, not dead-lettered */
	uint64_t spool_max_msgs, spool_max_bytes; /* the caps the spool was opened with (for has_room) */
	int64_t retry_for_us;       /* stdin: give up (TSK_ETEMP) after the database was down this long;
	                               0: 60 s */
	tsk_ingest_log_fn log;      /* may be NULL */
	void *log_arg;
};

/* sp may be NULL (stdin mode: no spool, no flusher). st is the process's counters (not owned). */
int tsk_ingest_new(struct tsk_spool *sp, const struct tsk_ingest_opts *opts, struct tsk_stats *st,
    struct tsk_ingest **out, char *err, size_t errlen);
/* Stops the flusher if it runs (without draining) and frees. The spool is not closed. */
void tsk_ingest_free(struct tsk_ingest *ing);

/*
 * One MQTT message. TSK_OK: either committed to the spool, or rejected and dead-lettered (counted);
 * either way it may be acknowledged. TSK_EFULL: the spool stayed full for wait_ms (-1: until
 * tsk_ingest_interrupt): nothing was stored, do not acknowledge. TSK_EFAIL: the spool failed (err):
 * nothing was stored, do not acknowledge. Thread-safe.
 */
int tsk_ingest_message(struct tsk_ingest *ing, const char *topic, const void *payload, size_t len,
    int64_t arrival_us, int wait_ms, char *err, size_t errlen);
/*
 * The same in two steps, so that one spool transaction can commit a burst of messages (the MQTT
 * receiver's): tsk_ingest_stage parses a message into a group (a rejected one is dead-lettered and
 * counted at once: it may be acknowledged), tsk_ingest_commit commits every staged message in one
 * transaction and empties the group. Only after TSK_OK from the commit may any of the group's messages
 * be acknowledged; after TSK_EFULL or TSK_EFAIL none may (some may have been stored: the redelivery is
 * absorbed as duplicates). One group per receiver thread.
 */
struct tsk_ingest_group;
struct tsk_ingest_group *tsk_ingest_group_new(void);
void tsk_ingest_group_free(struct tsk_ingest_group *g);
size_t tsk_ingest_group_size(const struct tsk_ingest_group *g); /* messages staged */
/* TSK_OK (staged, or rejected and dead-lettered) or TSK_EFAIL (out of memory: acknowledge nothing). */
int tsk_ingest_stage(struct tsk_ingest *ing, struct tsk_ingest_group *g, const char *topic, const void *payload,
    size_t len, int64_t arrival_us, char *err, size_t errlen);
int tsk_ingest_commit(struct tsk_ingest *ing, struct tsk_ingest_group *g, int wait_ms, char *err, size_t errlen);

/* Wakes receivers waiting in tsk_ingest_message or _commit and makes them return TSK_EFULL (shutdown). */
void tsk_ingest_interrupt(struct tsk_ingest *ing);
/* 1 when the spool is below 90% of its caps (a receiver paused for a full spool may resume). */
int tsk_ingest_has_room(struct tsk_ingest *ing);

/* One flush: the oldest batch of the spool into PostgreSQL. *moved (may be NULL) receives the number
 * of messages taken off the spool (0: it was empty). TSK_OK, TSK_ETEMP (database down: the batch stays
 * spooled), TSK_EFAIL (the spool failed). Not to be called while the flusher thread runs. */
int tsk_ingest_flush(struct tsk_ingest *ing, size_t *moved, char *err, size_t errlen);
/* Flushes until the spool is empty (TSK_OK), or returns the first error. */
int tsk_ingest_drain(struct tsk_ingest *ing, char *err, size_t errlen);

/* Starts the flusher thread: it flushes whenever a batch is ready or flush_interval passed, and while
 * the database is down retries with a backoff (200 ms doubling to 5 s), forever. */
int tsk_ingest_start(struct tsk_ingest *ing, char *err, size_t errlen);
/* Asks the flusher to drain what is spooled, waits for it until deadline_us (tsk_now_us() clock), and
 * stops it. TSK_OK when the spool was emptied; TSK_ETEMP when it was not (database down or time up:
 * the rest stays spooled for the next run); TSK_EFAIL when the flusher had failed (err). When the
 * deadline passes with the flusher stuck in a database call, the thread is left behind (detached) and
 * the caller must not free the ingest or close the spool: it should just exit. *stuck says so. */
int tsk_ingest_stop(struct tsk_ingest *ing, int64_t deadline_us, int *stuck, char *err, size_t errlen);
/* Non-zero once the flusher hit an error it cannot retry (a corrupt spool row): err says which. */
int tsk_ingest_failed(struct tsk_ingest *ing, char *err, size_t errlen);

/* Spool figures and the dead-letter reasons for tsk_stats_to_json. dead_by is a new reference the
 * caller releases (json_decref(sp->dead_by)). */
int tsk_ingest_spool_stats(struct tsk_spool *sp, struct tsk_stats_spool *out, char *err, size_t errlen);

/*
 * stdin mode: JSON lines (envelopes or normalized readings, see tsk_payload_parse_line) from `in` into
 * PostgreSQL in batches, `tenant` (may be NULL) for lines without one. Every rejected line is passed to
 * on_reject (line number, reason string, detail, the line as read (NULL when no longer at hand), its
 * length). A tenant is checked when a line names it, so lines of unknown tenants are rejected with
 * their text. While the database is down the batch is retried with a backoff for retry_for_us.
 * TSK_OK (*rejected says how many lines were rejected), TSK_ETEMP (database down for too long:
 * everything before the failed batch is committed, so rerunning the same input is safe), TSK_EFAIL.
 */
typedef void (*tsk_ingest_reject_fn)(void *arg, long lineno, const char *reason, const char *detail,
    const char *line, size_t len);
int tsk_ingest_lines(struct tsk_ingest *ing, FILE *in, const char *tenant, tsk_ingest_reject_fn on_reject,
    void *arg, uint64_t *rejected, char *err, size_t errlen);

#endif
