/* Row output in the three formats every tool offers: JSON lines (default), CSV (RFC 4180, CRLF) and an
 * aligned table for people. Rows are JSON objects; columns name the keys for CSV and table. */
#ifndef TSK_OUT_H
#define TSK_OUT_H

#include <stdio.h>
#include <jansson.h>

#include "query/csv.h"

enum tsk_format { TSK_FMT_JSONL, TSK_FMT_CSV, TSK_FMT_TABLE };

/* "jsonl" (or "json"), "csv", "table". TSK_OK or TSK_EINVAL. */
int tsk_format_parse(const char *s, enum tsk_format *out);

struct tsk_out {
	FILE *f;
	enum tsk_format fmt;
	const char *const *cols; /* NULL-terminated; for jsonl NULL means "every key" */
	json_t *rows;            /* table rows, buffered to size the columns */
	struct tsk_csv csv;      /* csv: the one CSV writer (query/csv.h), writing to f */
	int csv_open;
	long n;
	int header_done;
};

/* Starts a stream of rows; every begin needs its tsk_out_end (which frees what begin took). */
void tsk_out_begin(struct tsk_out *o, FILE *f, enum tsk_format fmt, const char *const *cols);
/* Writes (or, for table, keeps) one row. Returns 0, or -1 on a write error. */
int tsk_out_row(struct tsk_out *o, json_t *row);
/* Writes the table, if any, and flushes. Returns 0, or -1 on a write error. */
int tsk_out_end(struct tsk_out *o);
/* Writes every element of a JSON array, begin to end. */
int tsk_out_array(FILE *f, enum tsk_format fmt, const char *const *cols, json_t *arr);

/* For the end of main(): fflush + ferror + fclose of stdout, so `| head` and a full disk are reported.
 * Returns 0 or -1 (and prints "<prog>: write error: ..." on stderr). */
int tsk_close_stdout(void);

#endif
