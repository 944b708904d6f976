/*
 * The one growable byte buffer of libtsk: SQL text, binary COPY rows, spool records, upload parts.
 * A failed allocation makes the buffer sticky-failed: every later call returns -1 and leaves it as it
 * was, so a builder can append many pieces and check once (tsk_buf_failed) at the end.
 * Not thread-safe; a zeroed struct is an empty buffer.
 */
#ifndef TSK_BUF_H
#define TSK_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct tsk_buf {
	char *p;       /* NULL until the first byte; NUL-terminated only through tsk_buf_cstr */
	size_t len, cap;
	int failed;    /* an allocation failed: the contents are incomplete */
};

#define TSK_BUF_INIT { NULL, 0, 0, 0 }

/* Room for `more` bytes past len (capacity grows by doubling, from 256). 0, or -1 when out of memory. */
int tsk_buf_reserve(struct tsk_buf *b, size_t more);
/* Appends n bytes. 0 or -1. */
int tsk_buf_add(struct tsk_buf *b, const void *p, size_t n);
/* Appends a NUL-terminated string (without its NUL). 0 or -1. */
int tsk_buf_puts(struct tsk_buf *b, const char *s);
/* Appends formatted text. 0 or -1. */
int tsk_buf_printf(struct tsk_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tsk_buf_vprintf(struct tsk_buf *b, const char *fmt, va_list ap);
/* Appends v as an unsigned LEB128 varint (1 to 10 bytes). 0 or -1. */
int tsk_buf_varint(struct tsk_buf *b, uint64_t v);
/* The contents as a C string (a NUL is kept after len, not counted); NULL once failed. */
const char *tsk_buf_cstr(struct tsk_buf *b);
/* Empties the buffer, keeping its memory and clearing a failure. */
void tsk_buf_reset(struct tsk_buf *b);
/* Frees the memory; the buffer is empty and usable again. */
void tsk_buf_free(struct tsk_buf *b);
/* Hands the memory to the caller (free() it) and leaves the buffer empty; NULL if failed or empty. */
char *tsk_buf_take(struct tsk_buf *b);

static inline int
tsk_buf_failed(const struct tsk_buf *b)
{
	return b->failed;
}

/* tsk_buf_reserve for hot paths: the common case (room already there) costs one comparison, without a
 * call. After it returns 0 the caller may store up to `more` bytes at b->p + b->len directly and then
 * advance b->len by what it wrote. */
static inline int
tsk_buf_need(struct tsk_buf *b, size_t more)
{
	if (!b->failed && b->cap - b->len > more)
		return 0;
	return tsk_buf_reserve(b, more);
}

#endif
