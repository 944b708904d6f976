/* The growable buffer (buf.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

int
tsk_buf_reserve(struct tsk_buf *b, size_t more)
{
	if (b->failed)
		return -1;
	if (b->cap - b->len > more) /* keeps one byte for tsk_buf_cstr's NUL */
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len <= more) {
		if (cap > SIZE_MAX / 2) {
			b->failed = 1;
			return -1;
		}
		cap *= 2;
	}
	char *p = realloc(b->p, cap);
	if (p == NULL) {
		b->failed = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

int
tsk_buf_add(struct tsk_buf *b, const void *p, size_t n)
{
	if (tsk_buf_reserve(b, n) != 0)
		return -1;
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int
tsk_buf_puts(struct tsk_buf *b, const char *s)
{
	return tsk_buf_add(b, s, strlen(s));
}

int
tsk_buf_vprintf(struct tsk_buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	if (b->failed)
		return -1;
	va_copy(aq, ap);
	n = vsnprintf(b->p != NULL ? b->p + b->len : NULL, b->p != NULL ? b->cap - b->len : 0, fmt, aq);
	va_end(aq);
	if (n < 0) {
		b->failed = 1;
		return -1;
	}
	if (b->p != NULL && (size_t)n < b->cap - b->len) {
		b->len += (size_t)n;
		return 0;
	}
	if (tsk_buf_reserve(b, (size_t)n) != 0)
		return -1;
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
tsk_buf_printf(struct tsk_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = tsk_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

int
tsk_buf_varint(struct tsk_buf *b, uint64_t v)
{
	unsigned char t[10];
	size_t n = 0;

	do {
		t[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	return tsk_buf_add(b, t, n);
}

const char *
tsk_buf_cstr(struct tsk_buf *b)
{
	if (tsk_buf_reserve(b, 0) != 0)
		return NULL;
	b->p[b->len] = '\0';
	return b->p;
}

void
tsk_buf_reset(struct tsk_buf *b)
{
	b->len = 0;
	b->failed = 0;
}

void
tsk_buf_free(struct tsk_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->failed = 0;
}

char *
tsk_buf_take(struct tsk_buf *b)
{
	char *p = NULL;

	if (!b->failed && b->len > 0 && tsk_buf_cstr(b) != NULL)
		p = b->p;
	else
		free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->failed = 0;
	return p;
}
