/*
 * spool_fill: puts N messages of one reading each into a spool, for the shell tests (a spool with a
 * known content, without a broker or a stopped database).
 *
 * usage: spool_fill SPOOL TENANT N [DEVICE [AHEAD]]   reading i: DEVICE (default "d1") / "s1", value i,
 *                                    received at 2025-10-20T00:00:00Z + i seconds, its time AHEAD
 *                                    seconds (default 0) after that
 */
#include <stdio.h>
#include <stdlib.h>

#include "model/reading.h"
#include "ingest/spool.h"
#include "core/time.h"
#include "core/tsk.h"

int
main(int argc, char **argv)
{
	struct tsk_spool *sp;
	struct tsk_readings rs;
	char err[TSK_ERRLEN];
	int64_t t0, ahead;
	long n;

	if (argc < 4 || (n = strtol(argv[3], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: spool_fill SPOOL TENANT N [DEVICE [AHEAD]]\n");
		return 2;
	}
	tsk_time_parse_rfc3339("2025-10-20T00:00:00Z", &t0);
	ahead = argc > 5 ? strtoll(argv[5], NULL, 10) * TSK_US_PER_S : 0;
	if (tsk_spool_open(argv[1], NULL, &sp, err, sizeof err) != TSK_OK) {
		fprintf(stderr, "spool_fill: %s\n", err);
		return 1;
	}
	tsk_readings_init(&rs);
	for (long i = 0; i < n; i++) {
		tsk_readings_clear(&rs);
		tsk_readings_add(&rs, argv[2], argc > 4 ? argv[4] : "d1", "s1", t0 + i * TSK_US_PER_S + ahead, (double)i, "celsius",
		    NULL, NULL, NULL);
		if (tsk_spool_put(sp, argv[2], rs.v, rs.n, t0 + i * TSK_US_PER_S, err, sizeof err) != TSK_OK) {
			fprintf(stderr, "spool_fill: %s\n", err);
			return 1;
		}
	}
	tsk_readings_free(&rs);
	tsk_spool_close(sp);
	return 0;
}
