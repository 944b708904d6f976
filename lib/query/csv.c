#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/csv.h"
#include "core/time.h"
#include "core/tsk.h"

int
tsk_csv_init(struct tsk_csv *w, size_t cap, tsk_csv_sink_fn sink, void *ctx)
{
	memset(w, 0, sizeof *w);
	w->size = cap != 0 ? cap : TSK_CSV_BUFSIZE;
	w->sink = sink;
	w->ctx = ctx;
	if (tsk_buf_reserve(&w->buf, w->size) != 0) {
		snprintf(w->err, sizeof w->err, "out of memory");
		return w->status = TSK_EFAIL;
	}
	return TSK_OK;
}

void
tsk_csv_free(struct tsk_csv *w)
{
	tsk_buf_free(&w->buf);
	w->size = 0;
}

int
tsk_csv_flush(struct tsk_csv *w)
{
	if (w->status != TSK_OK)
		return w->status;
	if (w->buf.len == 0)
		return TSK_OK;
	w->status = w->sink(w->ctx, w->buf.p, w->buf.len, w->err, sizeof w->err);
	if (w->status == TSK_OK)
		w->bytes += w->buf.len;
	w->buf.len = 0;
	return w->status;
}

/* Room for n more bytes: flush, and grow only for a field larger than the whole buffer. */
static int
reserve(struct tsk_csv *w, size_t n)
{
	if (w->status != TSK_OK)
		return w->status;
	if (w->size - w->buf.len < n) {
		if (tsk_csv_flush(w) != TSK_OK)
			return w->status;
		if (w->size < n)
			w->size = n;
	}
	if (tsk_buf_need(&w->buf, n) != 0) {
		snprintf(w->err, sizeof w->err, "out of memory for a %zu-byte field", n);
		return w->status = TSK_EFAIL;
	}
	return TSK_OK;
}

/* The separator before a field (room for it is part of every reservation). */
static inline void
sep(struct tsk_csv *w)
{
	if (w->col++ > 0)
		w->buf.p[w->buf.len++] = ',';
}

int
tsk_csv_dangerous(const char *s, size_t n)
{
	return n > 0 && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r');
}

int
tsk_csv_str(struct tsk_csv *w, const char *s, size_t n)
{
	size_t quotes = 0, i;
	int quote = 0, prefix = 0;

	for (i = 0; i < n; i++) {
		char c = s[i];
		if (c == '"')
			quotes++;
		if (c == '"' || c == ',' || c == '\r' || c == '\n')
			quote = 1;
	}
	if (w->excel_safe) {
		prefix = tsk_csv_dangerous(s, n);
		if (prefix || memchr(s, ';', n) != NULL)
			quote = 1;
	}
	if (reserve(w, n + quotes + 4) != TSK_OK)
		return w->status;
	sep(w);
	if (!quote) {
		memcpy(w->buf.p + w->buf.len, s, n);
		w->buf.len += n;
		return TSK_OK;
	}
	char *p = w->buf.p + w->buf.len;
	*p++ = '"';
	if (prefix)
		*p++ = '\'';
	for (i = 0; i < n; i++) {
		if (s[i] == '"')
			*p++ = '"';
		*p++ = s[i];
	}
	*p++ = '"';
	w->buf.len = (size_t)(p - w->buf.p);
	return TSK_OK;
}

int
tsk_csv_cstr(struct tsk_csv *w, const char *s)
{
	return s == NULL ? tsk_csv_empty(w) : tsk_csv_str(w, s, strlen(s));
}

int
tsk_csv_empty(struct tsk_csv *w)
{
	if (reserve(w, 1) != TSK_OK)
		return w->status;
	sep(w);
	return TSK_OK;
}

int
tsk_csv_num2(struct tsk_csv *w, double d)
{
	if (reserve(w, TSK_CSV_NUMLEN + 1) != TSK_OK)
		return w->status;
	sep(w);
	w->buf.len += tsk_csv_fmt2(d, w->buf.p + w->buf.len);
	return TSK_OK;
}

int
tsk_csv_int(struct tsk_csv *w, long long v)
{
	char tmp[24];
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	int n = 0;

	if (reserve(w, sizeof tmp + 1) != TSK_OK)
		return w->status;
	sep(w);
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		w->buf.p[w->buf.len++] = '-';
	while (n > 0)
		w->buf.p[w->buf.len++] = tmp[--n];
	return TSK_OK;
}

int
tsk_csv_time(struct tsk_csv *w, int64_t us)
{
	if (reserve(w, TSK_CSV_TIMELEN + 1) != TSK_OK)
		return w->status;
	sep(w);
	w->buf.len += tsk_csv_fmt_time(us, w->buf.p + w->buf.len);
	return TSK_OK;
}

int
tsk_csv_end_row(struct tsk_csv *w)
{
	if (reserve(w, 2) != TSK_OK)
		return w->status;
	w->buf.p[w->buf.len++] = '\r';
	w->buf.p[w->buf.len++] = '\n';
	w->col = 0;
	w->rows++;
	return TSK_OK;
}

int
tsk_csv_header(struct tsk_csv *w, const char *const *cols)
{
	for (int i = 0; cols[i] != NULL; i++)
		tsk_csv_cstr(w, cols[i]);
	return tsk_csv_end_row(w);
}

/* Writes u with at least `min` digits, most significant first; returns the number of digits. */
static size_t
put_digits(char *p, unsigned long long u, int min)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0 || n < min);
	for (int i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return (size_t)n;
}

static size_t
put_str(char *buf, const char *s)
{
	size_t n = strlen(s);
	memcpy(buf, s, n + 1);
	return n;
}

size_t
tsk_csv_fmt2(double d, char *buf)
{
	if (isnan(d))
		return put_str(buf, "NaN");
	if (isinf(d))
		return put_str(buf, d > 0 ? "Infinity" : "-Infinity");
	/* d * 100 is off from the exact product by at most half an ulp, so rounding it to an integer gives
	 * printf's answer unless the product sits within that error of a half (x.5): leave those, and
	 * magnitudes past 2^53 / 100, to printf, which rounds the exact binary value. */
	double t = d * 100.0, at = fabs(t);
	size_t n;
	if (at < 1e15 && fabs(at - floor(at) - 0.5) > at * 4.5e-16) {
		unsigned long long u = (unsigned long long)llround(at);
		char *p = buf;
		if (d < 0 && u != 0)
			*p++ = '-';
		p += put_digits(p, u / 100, 1);
		*p++ = '.';
		*p++ = (char)('0' + u / 10 % 10);
		*p++ = (char)('0' + u % 10);
		*p = '\0';
		return (size_t)(p - buf);
	}
	n = (size_t)snprintf(buf, TSK_CSV_NUMLEN, "%.2f", d);
	if (strcmp(buf, "-0.00") == 0)
		return put_str(buf, "0.00");
	return n;
}

static inline char *
two(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

size_t
tsk_csv_fmt_time(int64_t us, char *buf)
{
	int64_t secs = us >= 0 ? us / TSK_US_PER_S : -((-us + TSK_US_PER_S - 1) / TSK_US_PER_S);
	int64_t frac = us - secs * TSK_US_PER_S;
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int rem = (int)(secs - days * 86400);
	int y, m, d;
	char *p = buf;

	tsk_time_civil(days, &y, &m, &d);
	if (y < 0 || y > 9999) {
		tsk_time_format(us, buf);
		return strlen(buf);
	}
	p += put_digits(p, (unsigned)y, 4);
	*p++ = '-';
	p = two(p, m);
	*p++ = '-';
	p = two(p, d);
	*p++ = 'T';
	p = two(p, rem / 3600);
	*p++ = ':';
	p = two(p, rem / 60 % 60);
	*p++ = ':';
	p = two(p, rem % 60);
	if (frac != 0) {
		int digits = 6;
		*p++ = '.';
		while (frac % 10 == 0) {
			frac /= 10;
			digits--;
		}
		p += put_digits(p, (unsigned long long)frac, digits);
	}
	*p++ = 'Z';
	*p = '\0';
	return (size_t)(p - buf);
}
