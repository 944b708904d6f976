/* Time: RFC 3339, epoch seconds and milliseconds, relative times and durations. All times are int64
 * microseconds since the Unix epoch, UTC. */
#ifndef TSK_TIME_H
#define TSK_TIME_H

#include <stddef.h>
#include <stdint.h>

#define TSK_US_PER_S  INT64_C(1000000)
#define TSK_TIME_STRLEN 40

int64_t tsk_now_us(void);

/* RFC 3339 / ISO 8601: "2025-10-17T10:30:00Z", "2025-10-17 10:30:00.123+03:00", "2025-10-17T10:30"
 * (naive means UTC), "2025-10-17" (midnight UTC). TSK_OK or TSK_EINVAL. */
int tsk_time_parse_rfc3339(const char *s, int64_t *out);

/* Anything a user may type for a point in time: RFC 3339 as above, "now", a relative "-24h"/"+5m"
 * (against `now`), or epoch digits (seconds; above 1e12 milliseconds). TSK_OK or TSK_EINVAL. */
int tsk_time_parse(const char *s, int64_t now, int64_t *out);

/* "30s", "5m", "1h", "7d", "2w", "500ms", "1h30m"; a bare number is seconds. Positive only. */
int tsk_duration_parse(const char *s, int64_t *out);

/* Writes "2025-10-17T10:30:00Z", or with the fraction ("…:00.123Z", trailing zeros trimmed) when the
 * time is not a whole second. buf must hold TSK_TIME_STRLEN bytes. Returns buf. */
char *tsk_time_format(int64_t us, char *buf);

/* The proleptic Gregorian date of a day number (days since 1970-01-01). */
void tsk_time_civil(int64_t days, int *y, int *m, int *d);

/* Shortest decimal form of d that reads back as the same double ("23.5", "0.1", "1e+300").
 * buf must hold 32 bytes. Returns buf. */
char *tsk_fmt_double(double d, char *buf);

#endif
