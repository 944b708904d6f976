#include "tap.h"
#include "core/time.h"
#include "core/tsk.h"

static void
rfc(const char *in, const char *want)
{
	int64_t us = 0;
	char buf[TSK_TIME_STRLEN];
	int rc = tsk_time_parse_rfc3339(in, &us);
	if (want == NULL) {
		ok(rc == TSK_EINVAL, "rejects \"%s\"", in);
		return;
	}
	ok(rc == TSK_OK, "parses \"%s\"", in);
	is_str(tsk_time_format(us, buf), want, "\"%s\" -> %s", in, want);
}

int
main(void)
{
	int64_t us, now = INT64_C(1760697000) * TSK_US_PER_S; /* 2025-10-17T10:30:00Z */
	char buf[TSK_TIME_STRLEN], num[32];

	rfc("2025-10-17T10:30:00Z", "2025-10-17T10:30:00Z");
	rfc("2025-10-17T10:30:00.5Z", "2025-10-17T10:30:00.5Z");
	rfc("2025-10-17T10:30:00.123456789Z", "2025-10-17T10:30:00.123456Z");
	rfc("2025-10-17T13:30:00+03:00", "2025-10-17T10:30:00Z");
	rfc("2025-10-17T07:30:00-0300", "2025-10-17T10:30:00Z");
	rfc("2025-10-17 10:30:00", "2025-10-17T10:30:00Z");
	rfc("2025-10-17T10:30", "2025-10-17T10:30:00Z");
	rfc("2025-10-17", "2025-10-17T00:00:00Z");
	rfc("2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z");
	rfc("1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.5Z");
	rfc("2025-02-29T00:00:00Z", NULL);
	rfc("2025-13-01T00:00:00Z", NULL);
	rfc("2025-10-17T25:00:00Z", NULL);
	rfc("2025-10-17T10:30:00Zjunk", NULL);
	rfc("x", NULL);
	rfc("", NULL);

	ok(tsk_time_parse("-24h", now, &us) == TSK_OK && us == now - 86400 * TSK_US_PER_S, "-24h");
	ok(tsk_time_parse("+5m", now, &us) == TSK_OK && us == now + 300 * TSK_US_PER_S, "+5m");
	ok(tsk_time_parse("now", now, &us) == TSK_OK && us == now, "now");
	ok(tsk_time_parse("1760697000", now, &us) == TSK_OK && us == now, "epoch seconds");
	ok(tsk_time_parse("1760697000000", now, &us) == TSK_OK && us == now, "epoch milliseconds");
	ok(tsk_time_parse("-x", now, &us) == TSK_EINVAL, "rejects -x");
	ok(tsk_time_parse("12abc", now, &us) == TSK_EINVAL, "rejects 12abc");

	ok(tsk_duration_parse("5m", &us) == TSK_OK && us == 300 * TSK_US_PER_S, "5m");
	ok(tsk_duration_parse("1h30m", &us) == TSK_OK && us == 5400 * TSK_US_PER_S, "1h30m");
	ok(tsk_duration_parse("500ms", &us) == TSK_OK && us == 500000, "500ms");
	ok(tsk_duration_parse("7d", &us) == TSK_OK && us == 7 * 86400 * TSK_US_PER_S, "7d");
	ok(tsk_duration_parse("90", &us) == TSK_OK && us == 90 * TSK_US_PER_S, "bare seconds");
	ok(tsk_duration_parse("0m", &us) == TSK_EINVAL, "rejects 0m");
	ok(tsk_duration_parse("5x", &us) == TSK_EINVAL, "rejects 5x");
	ok(tsk_duration_parse("-5m", &us) == TSK_EINVAL, "rejects -5m");
	ok(tsk_duration_parse("", &us) == TSK_EINVAL, "rejects empty");

	is_str(tsk_time_format(0, buf), "1970-01-01T00:00:00Z", "epoch 0");
	is_str(tsk_fmt_double(23.5, num), "23.5", "23.5 shortest");
	is_str(tsk_fmt_double(0.1, num), "0.1", "0.1 shortest");
	is_str(tsk_fmt_double(-40, num), "-40", "-40 shortest");
	is_str(tsk_fmt_double(1.0 / 3.0, num), "0.3333333333333333", "1/3 round-trips");
	return done_testing();
}
