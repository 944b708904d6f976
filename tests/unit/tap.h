/* A tiny TAP producer for the C unit tests: `prove` reads what these print. */
#ifndef TSK_TAP_H
#define TSK_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...) tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__, __VA_ARGS__)
#define is_dbl(got, want, ...) tap_is_dbl((got), (want), __FILE__, __LINE__, __VA_ARGS__)

static inline int
tap_vok(int pass, const char *file, int line, const char *fmt, va_list ap)
{
	tap_n++;
	printf("%sok %d - ", pass ? "" : "not ", tap_n);
	vprintf(fmt, ap);
	printf("\n");
	if (!pass) {
		tap_failed++;
		printf("#   Failed at %s line %d\n", file, line);
	}
	fflush(stdout);
	return pass;
}

static inline int __attribute__((format(printf, 4, 5)))
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = tap_vok(pass, file, line, fmt, ap);
	va_end(ap);
	return r;
}

static inline int __attribute__((format(printf, 5, 6)))
tap_is_str(const char *got, const char *want, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int pass = (got == NULL && want == NULL) || (got != NULL && want != NULL && strcmp(got, want) == 0);
	va_start(ap, fmt);
	tap_vok(pass, file, line, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#          got: %s%s%s\n#     expected: %s%s%s\n", got ? "'" : "", got ? got : "NULL",
		    got ? "'" : "", want ? "'" : "", want ? want : "NULL", want ? "'" : "");
	return pass;
}

static inline int __attribute__((format(printf, 5, 6)))
tap_is_int(long long got, long long want, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_vok(got == want, file, line, fmt, ap);
	va_end(ap);
	if (got != want)
		printf("#          got: %lld\n#     expected: %lld\n", got, want);
	return got == want;
}

static inline int __attribute__((format(printf, 5, 6)))
tap_is_dbl(double got, double want, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int pass = got == want || fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want));
	va_start(ap, fmt);
	tap_vok(pass, file, line, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#          got: %.17g\n#     expected: %.17g\n", got, want);
	return pass;
}

/* Ends the plan; the exit status is the number of failures (capped), as Test::More does. */
static inline int
done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed > 254 ? 254 : tap_failed;
}

#endif
