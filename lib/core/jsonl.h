/* JSON lines: a reader that counts lines, and a writer that flushes one object per line. */
#ifndef TSK_JSONL_H
#define TSK_JSONL_H

#include <stdio.h>
#include <jansson.h>

struct tsk_jsonl {
	FILE *f;
	char *line;      /* the current line, without its newline */
	size_t cap;
	size_t len;
	long lineno;     /* 1-based number of the current line */
	size_t max;      /* 0, or the longest line kept: the rest of a longer line is skipped unread */
	int overlong;    /* the current line was longer than max: line holds its first max bytes */
};

void tsk_jsonl_init(struct tsk_jsonl *r, FILE *f);
void tsk_jsonl_free(struct tsk_jsonl *r);
/* Reads the next non-blank line. Returns 1 and sets *out (a new reference) for a JSON value, 0 at end
 * of input, -1 for a line that is not JSON or longer than r->max (err says why, with the column; r->line
 * still holds it). */
int tsk_jsonl_next(struct tsk_jsonl *r, json_t **out, char *err, size_t errlen);
/* Reads the next non-blank raw line: 1, or 0 at end of input. With r->max set, memory stays bounded
 * whatever the input: a longer line comes back cut to max bytes with r->overlong set. */
int tsk_jsonl_next_line(struct tsk_jsonl *r);

/* Bytes as a JSON string (a new reference, or NULL when out of memory): invalid UTF-8 and NUL bytes
 * become U+FFFD, so text from devices (a rejected line, a dead letter) stays valid JSON and still
 * shows what came in. */
json_t *tsk_json_lossy_string(const char *s, size_t len);

/* Writes one compact JSON line. Returns 0, or -1 on a write error. */
int tsk_jsonl_write(FILE *f, json_t *v);

#endif
