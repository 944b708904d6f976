/* lib/query/csv.c: hand-formatted numbers and times agree with printf and tsk_time_format; RFC 4180 quoting;
 * a sink that fails stops the writer. */
#include <stdint.h>

#include "query/csv.h"
#include "tap.h"
#include "core/time.h"
#include "core/tsk.h"

struct mem {
	char buf[4096];
	size_t len;
	int fail_after; /* calls before the sink fails; -1 never */
	int calls;
};

static int
mem_sink(void *ctx, const char *buf, size_t len, char *err, size_t errlen)
{
	struct mem *m = ctx;

	if (m->fail_after >= 0 && m->calls++ >= m->fail_after)
		return tsk_seterr(err, errlen, TSK_EFAIL, "disk full");
	if (m->len + len < sizeof m->buf) {
		memcpy(m->buf + m->len, buf, len);
		m->len += len;
		m->buf[m->len] = '\0';
	}
	return TSK_OK;
}

/* printf's %.2f with the two documented differences (no "-0.00"; NaN and infinities spelled out). */
static const char *
want2(double d, char *buf)
{
	if (isnan(d))
		return "NaN";
	if (isinf(d))
		return d > 0 ? "Infinity" : "-Infinity";
	snprintf(buf, TSK_CSV_NUMLEN, "%.2f", d);
	return strcmp(buf, "-0.00") == 0 ? "0.00" : buf;
}

/* xorshift64*: reproducible, and covers every bit pattern of a double. */
static uint64_t rng = 88172645463325252ULL;
static uint64_t
next(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static void
numbers(void)
{
	static const double fixed[] = { 0, -0.0, 1, -1, 0.005, -0.005, 0.015, 0.125, 0.375, 2.675, 1.005, 23.5,
		-5.555, 30.005, 1e15, 1e16, 123456789012.345, 9007199254740993.0, 1e300, -1e300, 5e-324,
		0.994999999999999995559, 0.995, 99.995, 0.1 + 0.2, NAN, INFINITY, -INFINITY };
	char got[TSK_CSV_NUMLEN], want[TSK_CSV_NUMLEN];
	int bad = 0;

	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
		size_t n = tsk_csv_fmt2(fixed[i], got);
		is_str(got, want2(fixed[i], want), "fmt2(%.17g)", fixed[i]);
		ok(n == strlen(got), "fmt2(%.17g) returns the length", fixed[i]);
	}
	/* Sensor-like values (random hundredths and thousandths), halves, and arbitrary bit patterns. */
	for (int i = 0; i < 600000 && bad < 5; i++) {
		double d;
		uint64_t r = next();
		switch (i % 4) {
		case 0: d = (double)(int64_t)(r % 2000001 - 1000000) / 1000.0; break;
		case 1: d = ((double)(int64_t)(r % 200001 - 100000) + 0.5) / 100.0; break;
		case 2: d = (double)(int64_t)(r % 20000001) / 7.0 - 1e6; break;
		default: memcpy(&d, &r, sizeof d); break;
		}
		tsk_csv_fmt2(d, got);
		if (strcmp(got, want2(d, want)) != 0) {
			bad++;
			printf("# fmt2(%.17g) = %s, printf %s\n", d, got, want);
		}
	}
	ok(bad == 0, "fmt2 agrees with printf %%.2f on 600 000 values");
}

static void
times(void)
{
	static const int64_t fixed[] = { 0, 1, -1, 999999, 1000000, 1760697000000000, 1760697000500000,
		1760697000123456, 1760697000120000, -62135596800000000 /* 0001-01-01 */, 253402300799999999 /* 9999 */,
		951782400000000 /* 2000-02-29 */, -86400000000 };
	char got[TSK_CSV_TIMELEN], want[TSK_TIME_STRLEN];
	int bad = 0;

	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
		tsk_csv_fmt_time(fixed[i], got);
		is_str(got, tsk_time_format(fixed[i], want), "fmt_time(%lld)", (long long)fixed[i]);
	}
	for (int i = 0; i < 200000 && bad < 5; i++) {
		/* 1900 .. 2100, microsecond resolution, some whole seconds */
		int64_t us = (int64_t)(next() % UINT64_C(6311390400000000)) - INT64_C(2208988800000000);
		if (i % 3 == 0)
			us -= us % 1000000;
		tsk_csv_fmt_time(us, got);
		if (strcmp(got, tsk_time_format(us, want)) != 0) {
			bad++;
			printf("# fmt_time(%lld) = %s, tsk_time_format %s\n", (long long)us, got, want);
		}
	}
	ok(bad == 0, "fmt_time agrees with tsk_time_format on 200 000 times");
}

static void
rows(void)
{
	static const char *const cols[] = { "a", "b,c", NULL };
	struct mem m = { .fail_after = -1 };
	struct tsk_csv w;

	ok(tsk_csv_init(&w, 64, mem_sink, &m) == TSK_OK, "init with a 64-byte buffer");
	tsk_csv_header(&w, cols);
	tsk_csv_cstr(&w, "plain");
	tsk_csv_cstr(&w, "com,ma");
	tsk_csv_cstr(&w, "say \"hi\"");
	tsk_csv_cstr(&w, "two\nlines");
	tsk_csv_cstr(&w, "cr\r");
	tsk_csv_cstr(&w, NULL);
	tsk_csv_cstr(&w, "");
	tsk_csv_int(&w, -9223372036854775807LL - 1);
	tsk_csv_int(&w, 0);
	tsk_csv_num2(&w, -1.239);
	tsk_csv_time(&w, 1760697000000000);
	tsk_csv_end_row(&w);
	/* A field longer than the buffer is still written whole. */
	char big[300];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	tsk_csv_cstr(&w, big);
	tsk_csv_end_row(&w);
	ok(tsk_csv_flush(&w) == TSK_OK, "flush");
	char want[1024];
	snprintf(want, sizeof want, "a,\"b,c\"\r\nplain,\"com,ma\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\r\",,,"
	    "-9223372036854775808,0,-1.24,2025-10-17T10:30:00Z\r\n%s\r\n", big);
	is_str(m.buf, want, "RFC 4180 quoting, empty fields, integers, numbers, times, CRLF");
	is_int(w.rows, 3, "three rows counted");
	is_int(w.bytes, strlen(want), "bytes counted");
	tsk_csv_free(&w);

	/* excel_safe: text starting with = + - @ TAB CR gets a quote in front (and is quoted), ';' is quoted;
	 * numbers, counts and times are never touched, other text neither. */
	struct mem e = { .fail_after = -1 };
	tsk_csv_init(&w, 64, mem_sink, &e);
	w.excel_safe = 1;
	tsk_csv_cstr(&w, "=HYPERLINK(\"x\")");
	tsk_csv_cstr(&w, "+1");
	tsk_csv_cstr(&w, "-2");
	tsk_csv_cstr(&w, "@SUM(A1)");
	tsk_csv_cstr(&w, "\tx");
	tsk_csv_cstr(&w, "\rx");
	tsk_csv_cstr(&w, "a;b");
	tsk_csv_cstr(&w, "a=b");
	tsk_csv_cstr(&w, "");
	tsk_csv_num2(&w, -1.5);
	tsk_csv_int(&w, -3);
	tsk_csv_end_row(&w);
	tsk_csv_flush(&w);
	is_str(e.buf, "\"'=HYPERLINK(\"\"x\"\")\",\"'+1\",\"'-2\",\"'@SUM(A1)\",\"'\tx\",\"'\rx\",\"a;b\",a=b,,-1.50,-3\r\n",
	    "excel_safe: formula-like text neutralized, numbers kept");
	tsk_csv_free(&w);

	struct mem f = { .fail_after = 1 };
	tsk_csv_init(&w, 16, mem_sink, &f);
	int rc = TSK_OK;
	for (int i = 0; i < 100 && rc == TSK_OK; i++)
		rc = tsk_csv_cstr(&w, "0123456789");
	is_int(rc, TSK_EFAIL, "a failing sink fails the writer");
	is_int(tsk_csv_end_row(&w), TSK_EFAIL, "and it stays failed");
	is_str(w.err, "disk full", "with the sink's reason");
	tsk_csv_free(&w);
}

int
main(void)
{
	numbers();
	times();
	rows();
	return done_testing();
}
