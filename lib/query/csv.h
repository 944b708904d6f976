/*
 * CSV writer for exports (RFC 4180): fields separated by ',', rows ended by CRLF, a field quoted when it
 * holds ',', '"', CR or LF (a '"' inside is doubled). Numbers are written with exactly two decimals,
 * counts as integers, times as RFC 3339 UTC with 'Z', all hand-formatted: an export of ten million rows
 * spends its time here, and snprintf would be most of it.
 *
 * The writer fills a buffer and hands it to a sink callback when full (and at tsk_csv_flush), so memory
 * stays constant whatever the number of rows. Once the sink fails the writer stays failed: every later
 * call returns the same status and err keeps the first reason.
 */
#ifndef TSK_CSV_H
#define TSK_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Receives len bytes; returns TSK_OK or a status with err filled. */
typedef int (*tsk_csv_sink_fn)(void *ctx, const char *buf, size_t len, char *err, size_t errlen);

struct tsk_csv {
	struct tsk_buf buf; /* rows not yet handed to the sink */
	size_t size;        /* handed over before it would pass this (a larger field raises it) */
	int col;            /* fields written in the current row */
	int status;         /* TSK_OK, or the sink's first failure */
	uint64_t rows;      /* rows ended, header included */
	uint64_t bytes;     /* bytes handed to the sink */
	tsk_csv_sink_fn sink;
	void *ctx;
	int excel_safe;     /* set after tsk_csv_init: text fields neutralized for spreadsheets (below) */
	char err[512];
};

#define TSK_CSV_BUFSIZE (256 * 1024)

/* TSK_OK, or TSK_EFAIL when the buffer cannot be allocated. cap 0 means TSK_CSV_BUFSIZE. */
int tsk_csv_init(struct tsk_csv *w, size_t cap, tsk_csv_sink_fn sink, void *ctx);
void tsk_csv_free(struct tsk_csv *w);

/*
 * excel_safe (tsk-export --excel-safe, and any other writer of CSV meant for a spreadsheet): a text field
 * (tsk_csv_str, tsk_csv_cstr) that starts with '=', '+', '-', '@', a tab or a carriage return, which a
 * spreadsheet would read as a formula (CSV injection, OWASP), is written with a single quote in front
 * and quoted: "'=1+2". A text field holding ';' is quoted too, so a spreadsheet that splits on ';'
 * cannot start a new cell inside it. Numbers, counts and times (tsk_csv_num2, tsk_csv_int,
 * tsk_csv_time) are never touched: -1.50 stays a number.
 */
int tsk_csv_dangerous(const char *s, size_t len);

/* Fields of the current row, in order. Each returns the writer's status (TSK_OK while healthy). */
int tsk_csv_str(struct tsk_csv *w, const char *s, size_t len); /* quoted when needed */
int tsk_csv_cstr(struct tsk_csv *w, const char *s);            /* NULL writes an empty field */
int tsk_csv_num2(struct tsk_csv *w, double d);                 /* two decimals */
int tsk_csv_int(struct tsk_csv *w, long long v);
int tsk_csv_time(struct tsk_csv *w, int64_t us);               /* RFC 3339 UTC */
int tsk_csv_empty(struct tsk_csv *w);
/* Ends the row with CRLF. */
int tsk_csv_end_row(struct tsk_csv *w);
/* Writes a whole row of column names. */
int tsk_csv_header(struct tsk_csv *w, const char *const *cols);
/* Hands what is buffered to the sink. */
int tsk_csv_flush(struct tsk_csv *w);

/*
 * The formatters behind the fields, for tests and other writers. Each writes a NUL-terminated string
 * and returns its length.
 * tsk_csv_fmt2: what printf("%.2f") prints, except that a value rounding to zero never has a sign
 *   ("0.00", not "-0.00"), and NaN and infinities are "NaN", "Infinity", "-Infinity" (PostgreSQL's
 *   spelling). buf holds TSK_CSV_NUMLEN bytes.
 * tsk_csv_fmt_time: exactly tsk_time_format(). buf holds TSK_CSV_TIMELEN bytes.
 */
#define TSK_CSV_NUMLEN 352
#define TSK_CSV_TIMELEN 40
size_t tsk_csv_fmt2(double d, char *buf);
size_t tsk_csv_fmt_time(int64_t us, char *buf);

#endif
