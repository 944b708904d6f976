/*
 * Export: the CSV layouts of tsk-formats(5), rows converted from tsk-query's JSON lines or streamed from
 * the database, and the places a CSV goes (standard output, a file replaced atomically, an S3 object).
 *
 *   buckets: bucket,device_id,sensor_id,avg,min,max,last,count
 *   raw:     ts,device_id,sensor_id,value,unit
 * Times RFC 3339 UTC, numbers with two decimals, count an integer, CRLF, RFC 4180 quoting (lib/query/csv.h).
 */
#ifndef TSK_EXPORT_H
#define TSK_EXPORT_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "query/csv.h"
#include "query/s3.h"
#include "query/series.h"

/* The longest JSON line tsk_export_jsonl reads; a longer one is rejected (and skipped unread). */
#define TSK_EXPORT_LINE_MAX (1024 * 1024)

enum tsk_export_layout { TSK_EXPORT_AUTO = 0, TSK_EXPORT_BUCKETS, TSK_EXPORT_RAW };

/* "auto", "buckets" (or "bucket"), "raw". TSK_OK or TSK_EINVAL. */
int tsk_export_layout_parse(const char *s, enum tsk_export_layout *out);
const char *tsk_export_layout_name(enum tsk_export_layout l);
/* The header's column names (NULL-terminated), NULL for AUTO. */
const char *const *tsk_export_columns(enum tsk_export_layout l);

/*
 * Writes one JSON row (a tsk-query bucket or reading object; other keys are ignored). With *layout AUTO
 * the row decides the layout, the header is written first and *layout is set; after that a row of the
 * other layout is refused. TSK_OK; TSK_EINVAL when the row is refused (err says why, nothing written);
 * or the writer's failure (w->status, w->err).
 */
int tsk_export_json_row(struct tsk_csv *w, enum tsk_export_layout *layout, json_t *row, char *err, size_t errlen);

/* Refused input lines are reported here (line number, reason) and skipped. */
typedef void (*tsk_export_reject_fn)(void *ctx, long lineno, const char *why);

struct tsk_export_stats {
	uint64_t lines;    /* non-blank input lines */
	uint64_t rows;     /* data rows written (not the header) */
	uint64_t rejected; /* lines refused */
};

/*
 * JSON lines from `in` to the end, as tsk_export_json_row(). A forced layout writes its header even
 * when no row follows. Refused lines go to `reject` and are counted; the function still returns TSK_OK
 * (the caller exits 3 when st->rejected > 0). Fails for a read error, a writer failure, or when *stop
 * becomes non-zero (a signal: "interrupted").
 */
int tsk_export_jsonl(FILE *in, struct tsk_csv *w, enum tsk_export_layout *layout, tsk_export_reject_fn reject,
    void *ctx, const volatile sig_atomic_t *stop, struct tsk_export_stats *st, char *err, size_t errlen);

/*
 * `tsk-export buckets|raw`: the header, then every row of tsk_series_buckets() or tsk_series_raw() (no
 * labels) as it arrives from the database's cursor, in constant memory. *rows (may be NULL) counts the
 * data rows. TSK_ENOTFOUND for an unknown tenant, TSK_EINVAL for a bad filter (both before any query
 * runs), the writer's failure, "interrupted" when *stop becomes non-zero, or the database's error.
 */
int tsk_export_query(PGconn *db, const char *tenant, enum tsk_export_layout layout, const struct tsk_filter *f,
    struct tsk_csv *w, const volatile sig_atomic_t *stop, uint64_t *rows, char *err, size_t errlen);

/*
 * Where the CSV goes. Open one, hand tsk_export_dest_write to tsk_csv_init as the sink, then either
 * commit (the output becomes visible) or abort (nothing changes: the temporary file is removed, the
 * multipart upload aborted). Free in both cases.
 *  stdout: plain write(2) to file descriptor 1.
 *  file:   a temporary file in the target's directory (mode of the file it replaces, else 0666 & ~umask),
 *          fsync, rename over the target, fsync of the directory: a reader sees the old file or the whole
 *          new one, never a part, even after a crash.
 *  s3:     lib/query/s3.h.
 */
enum tsk_export_dest_kind { TSK_DEST_STDOUT, TSK_DEST_FILE, TSK_DEST_S3 };

struct tsk_export_dest {
	enum tsk_export_dest_kind kind;
	int fd;
	char *path, *tmp;
	struct tsk_s3_upload *s3;
	const volatile sig_atomic_t *stop;
	uint64_t bytes;
};

void tsk_export_dest_stdout(struct tsk_export_dest *d, const volatile sig_atomic_t *stop);
int tsk_export_dest_file(struct tsk_export_dest *d, const char *path, const volatile sig_atomic_t *stop, char *err,
    size_t errlen);
/* url is s3://BUCKET/KEY; c->cancel is set to stop here. */
int tsk_export_dest_s3(struct tsk_export_dest *d, const struct tsk_s3_config *c, const char *url, char *err,
    size_t errlen);
/* A tsk_csv_sink_fn; ctx is the struct tsk_export_dest. */
int tsk_export_dest_write(void *ctx, const char *buf, size_t len, char *err, size_t errlen);
int tsk_export_dest_commit(struct tsk_export_dest *d, char *err, size_t errlen);
/* TSK_OK, or the status of a clean-up that failed (err says what was left behind). */
int tsk_export_dest_abort(struct tsk_export_dest *d, char *err, size_t errlen);
void tsk_export_dest_free(struct tsk_export_dest *d);
/* "standard output", the file's path or the s3:// URL, for messages. */
const char *tsk_export_dest_name(const struct tsk_export_dest *d);

#endif
