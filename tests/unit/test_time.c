#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "core/time.h"
#include "core/tsk.h"

/* tsk_now_us() with TSK_NOW set to env (NULL: unset), in a child process because the value is read
 * once per process. *later is what it returns after the environment has changed (a fixed clock stays). */
static int
now_with(const char *env, int64_t *out, int64_t *later)
{
	int fd[2];
	int64_t r[2] = { 0, 0 };

	if (pipe(fd) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		if (env != NULL)
			setenv("TSK_NOW", env, 1);
		else
			unsetenv("TSK_NOW");
		r[0] = tsk_now_us();
		setenv("TSK_NOW", "2001-01-01T00:00:00Z", 1);
		r[1] = tsk_now_us();
		_exit(write(fd[1], r, sizeof r) == (ssize_t)sizeof r ? 0 : 1);
	}
	close(fd[1]);
	ssize_t n = read(fd[0], r, sizeof r);
	close(fd[0]);
	int status;
	waitpid(pid, &status, 0);
	if (n != (ssize_t)sizeof r || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	*out = r[0];
	*later = r[1];
	return 0;
}

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

	/* TSK_NOW: a fixed clock for tests and reproducible reports. */
	int64_t later;
	ok(now_with("2025-10-17T10:30:00Z", &us, &later) == 0 && us == now, "TSK_NOW as RFC 3339");
	ok(later == now, "read once: a later change of the environment is not seen");
	ok(now_with("2025-10-17T13:30:00.25+03:00", &us, &later) == 0 && us == now + 250000, "TSK_NOW with an offset and a fraction");
	ok(now_with("1760697000", &us, &later) == 0 && us == now && later == now, "TSK_NOW as epoch seconds");
	ok(now_with("1760697000.5", &us, &later) == 0 && us == now + 500000, "TSK_NOW as epoch seconds with a fraction");
	ok(tsk_time_parse("-6h", us, &us) == TSK_OK && us == now + 500000 - 6 * 3600 * TSK_US_PER_S, "relative times count from it");
	int64_t before = (int64_t)time(NULL) * TSK_US_PER_S, fixed = INT64_C(978307200) * TSK_US_PER_S;
	/* The real clock: not before this test started, and a later TSK_NOW is not seen either. */
	ok(now_with(NULL, &us, &later) == 0 && us >= before && later >= us && later != fixed, "TSK_NOW unset: the real clock");
	ok(now_with("", &us, &later) == 0 && us >= before && later >= us && later != fixed, "TSK_NOW empty: the real clock");
	ok(now_with("yesterday", &us, &later) == 0 && us >= before && later >= us && later != fixed, "TSK_NOW unparseable: the real clock");
	ok(now_with("-6h", &us, &later) == 0 && us >= before, "TSK_NOW relative: not accepted (the real clock)");
	is_str(tsk_fmt_double(23.5, num), "23.5", "23.5 shortest");
	is_str(tsk_fmt_double(0.1, num), "0.1", "0.1 shortest");
	is_str(tsk_fmt_double(-40, num), "-40", "-40 shortest");
	is_str(tsk_fmt_double(1.0 / 3.0, num), "0.3333333333333333", "1/3 round-trips");
	return done_testing();
}
