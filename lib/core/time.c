#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/time.h"
#include "core/tsk.h"

/* TSK_NOW, when set to an RFC 3339 time or epoch seconds, is a fixed clock for tests and reproducible
 * reports. It is read once, on the first call; later changes to the environment are not seen. An
 * unparseable value is ignored (the real clock). The state is atomic: any thread may make the first
 * call, and two racing first calls compute the same answer. */
static _Atomic int now_state; /* 0 not read yet, 1 real clock, 2 fixed */
static _Atomic int64_t now_fixed;

static int
now_env(int64_t *out)
{
	const char *s = getenv("TSK_NOW");
	char *end;

	if (s == NULL || *s == '\0')
		return -1;
	if (tsk_time_parse_rfc3339(s, out) == TSK_OK)
		return 0;
	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (*end != '\0' || errno != 0 || !isfinite(v) || v > 9.0e12)
		return -1;
	*out = (int64_t)llround(v * 1e6);
	return 0;
}

int64_t
tsk_now_us(void)
{
	struct timespec ts;
	int st = atomic_load_explicit(&now_state, memory_order_acquire);

	if (st == 0) {
		int64_t fixed;
		if (now_env(&fixed) == 0) {
			atomic_store_explicit(&now_fixed, fixed, memory_order_relaxed);
			st = 2;
		} else {
			st = 1;
		}
		atomic_store_explicit(&now_state, st, memory_order_release);
	}
	if (st == 2)
		return atomic_load_explicit(&now_fixed, memory_order_relaxed);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * TSK_US_PER_S + ts.tv_nsec / 1000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void
tsk_time_civil(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yy + (*m <= 2));
}

static int
digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int
days_in_month(int y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 ? 28 + leap : dm[m - 1];
}

int
tsk_time_parse_rfc3339(const char *s, int64_t *out)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, se = 0;
	int64_t frac = 0, off = 0;

	if (s == NULL || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d))
		return TSK_EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return TSK_EINVAL;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
			return TSK_EINVAL;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &se))
				return TSK_EINVAL;
			if (*p == '.' || *p == ',') {
				int64_t scale = 100000;
				p++;
				if (!isdigit((unsigned char)*p))
					return TSK_EINVAL;
				for (; isdigit((unsigned char)*p); p++) {
					frac += (*p - '0') * scale;
					scale /= 10;
				}
			}
		}
		/* 60 is a leap second: accepted and folded into the next second, as PostgreSQL does. */
		if (h > 23 || mi > 59 || se > 60)
			return TSK_EINVAL;
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
			if (digits(&p, 2, &oh))
				return TSK_EINVAL;
			if (*p == ':')
				p++;
			if (*p != '\0' && digits(&p, 2, &om))
				return TSK_EINVAL;
			if (oh > 23 || om > 59)
				return TSK_EINVAL;
			off = sign * ((int64_t)oh * 3600 + om * 60);
		}
	}
	if (*p != '\0')
		return TSK_EINVAL;
	int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se - off;
	*out = secs * TSK_US_PER_S + frac;
	return TSK_OK;
}

int
tsk_duration_parse(const char *s, int64_t *out)
{
	const char *p = s;
	int64_t total = 0;

	if (s == NULL || *s == '\0')
		return TSK_EINVAL;
	while (*p != '\0') {
		char *end;
		int64_t unit;
		errno = 0;
		double n = strtod(p, &end);
		if (end == p || errno != 0 || n < 0 || !isfinite(n))
			return TSK_EINVAL;
		p = end;
		if (strncmp(p, "ms", 2) == 0) {
			unit = 1000;
			p += 2;
		} else if (strncmp(p, "us", 2) == 0) {
			unit = 1;
			p += 2;
		} else {
			switch (*p) {
			case 's': unit = TSK_US_PER_S; break;
			case 'm': unit = 60 * TSK_US_PER_S; break;
			case 'h': unit = 3600 * TSK_US_PER_S; break;
			case 'd': unit = 86400 * TSK_US_PER_S; break;
			case 'w': unit = 7 * 86400 * TSK_US_PER_S; break;
			case '\0':
				if (p != s + strlen(s) || total != 0)
					return TSK_EINVAL;
				unit = TSK_US_PER_S;
				p--; /* bare number: seconds */
				break;
			default:
				return TSK_EINVAL;
			}
			p++;
		}
		if (n * (double)unit > 9.0e18)
			return TSK_EINVAL;
		total += (int64_t)llround(n * (double)unit);
	}
	if (total <= 0)
		return TSK_EINVAL;
	*out = total;
	return TSK_OK;
}

int
tsk_time_parse(const char *s, int64_t now, int64_t *out)
{
	int64_t d;

	if (s == NULL || *s == '\0')
		return TSK_EINVAL;
	if (strcmp(s, "now") == 0) {
		*out = now;
		return TSK_OK;
	}
	if (s[0] == '-' || s[0] == '+') {
		if (tsk_duration_parse(s + 1, &d) != TSK_OK)
			return TSK_EINVAL;
		*out = s[0] == '-' ? now - d : now + d;
		return TSK_OK;
	}
	if (tsk_time_parse_rfc3339(s, out) == TSK_OK)
		return TSK_OK;
	/* Epoch digits, optionally with a fraction: seconds, or milliseconds above 1e12. */
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (*end != '\0' || errno != 0 || !isfinite(v) || v < 0 || !isdigit((unsigned char)s[0]) || v > 9.0e15)
		return TSK_EINVAL;
	*out = v > 1e12 ? (int64_t)llround(v * 1000.0) : (int64_t)llround(v * 1e6);
	return TSK_OK;
}

char *
tsk_time_format(int64_t us, char *buf)
{
	int64_t secs = us >= 0 ? us / TSK_US_PER_S : -((-us + TSK_US_PER_S - 1) / TSK_US_PER_S);
	int64_t frac = us - secs * TSK_US_PER_S;
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64_t rem = secs - days * 86400;
	int y, m, d;

	tsk_time_civil(days, &y, &m, &d);
	int n = snprintf(buf, TSK_TIME_STRLEN, "%04d-%02d-%02dT%02d:%02d:%02d", y, m, d, (int)(rem / 3600),
	    (int)(rem / 60 % 60), (int)(rem % 60));
	if (frac != 0) {
		char f[24];
		snprintf(f, sizeof f, "%06lld", (long long)frac);
		for (int i = 5; i > 0 && f[i] == '0'; i--)
			f[i] = '\0';
		n += snprintf(buf + n, TSK_TIME_STRLEN - n, ".%s", f);
	}
	snprintf(buf + n, TSK_TIME_STRLEN - n, "Z");
	return buf;
}

char *
tsk_fmt_double(double d, char *buf)
{
	if (isnan(d) || isinf(d)) {
		strcpy(buf, "null");
		return buf;
	}
	if (d == trunc(d) && fabs(d) < 1e15) {
		snprintf(buf, 32, "%.0f", d == 0 ? 0.0 : d); /* no "-0", no "4e+01" */
		return buf;
	}
	/* Most readings are decimals with a few places: x / 10^k with x and 10^k exact is correctly
	 * rounded, so when it gives d back, "x with k decimals" reads back as d too, and the first such k
	 * is the shortest form (what %g would write: fixed notation in this range, no trailing zero).
	 * Integer formatting, no floating-point printf. */
	double a = fabs(d);
	if (a >= 1e-4 && a < 1e15) {
		double p10 = 1;
		unsigned long long pw = 1;
		for (int k = 1; k <= 9; k++) {
			p10 *= 10;
			pw *= 10;
			double xs = round(d * p10);
			if (fabs(xs) >= 9007199254740992.0) /* 2^53: x no longer exact */
				break;
			if (xs / p10 == d) {
				long long x = (long long)xs;
				unsigned long long u = x < 0 ? -(unsigned long long)x : (unsigned long long)x;
				char t[64]; /* at most 18 bytes: u < 2^53 */
				snprintf(t, sizeof t, "%s%llu.%0*llu", x < 0 ? "-" : "", u / pw, k, u % pw);
				memcpy(buf, t, strlen(t) + 1);
				return buf;
			}
		}
	}
	/* A double reads back from its 15 significant digits whenever some shorter form does (DBL_DIG), and
	 * %g drops the trailing zeros: so 15, 16, 17 find the shortest form, in at most three tries instead
	 * of up to seventeen (a JSON answer of buckets spends its time here). Subnormals have fewer digits
	 * of precision: every length is tried for them. */
	for (int prec = fabs(d) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
		snprintf(buf, 32, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return buf;
}
