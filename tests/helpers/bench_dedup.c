/*
 * bench_dedup: parse time of one standard payload whose sensor ids all collide under the duplicate
 * table's old unkeyed hash (FNV-1a, computed here as it was), against a payload of plain ids of the same
 * size. Prints figures, never pass/fail (tests/unit/test_payload_dedup.c asserts on probe counts).
 *
 * usage: bench_dedup [N]     N sensors per message (default and most: TSK_PAYLOAD_MAX_RECORDS)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/payload.h"
#include "../unit/dedup_attack.h"
#include "core/buf.h"
#include "core/time.h"
#include "core/tsk.h"

#define STAMP DEDUP_STAMP

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
parse_time(const char *m, size_t *probes, size_t *readings)
{
	struct tsk_readings out;
	struct tsk_payload_info info;
	char err[TSK_ERRLEN];
	double t0, best = 1e9;

	tsk_readings_init(&out);
	tsk_payload_info_init(&info);
	for (int k = 0; k < 3; k++) {
		t0 = now_s();
		if (tsk_payload_parse(NULL, "tenants/umc/assets/CH-01/telemetry", m, strlen(m), 0, &out, &info, err,
		    sizeof err) != TSK_OK) {
			fprintf(stderr, "bench_dedup: %s\n", err);
			exit(1);
		}
		if (now_s() - t0 < best)
			best = now_s() - t0;
		*probes = info.dedup_probes;
		*readings = out.n;
		tsk_readings_clear(&out);
	}
	tsk_payload_info_free(&info);
	tsk_readings_free(&out);
	return best;
}

int
main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : TSK_PAYLOAD_MAX_RECORDS, mask = 63, probes, readings;
	int64_t ts;
	char *bad, *plain;
	double tb, tp;

	tsk_time_parse_rfc3339(STAMP, &ts);
	while ((n + 1) * 2 > mask + 1) /* the old table's final size */
		mask = mask * 2 + 1;
	bad = message(n, 1, mask, ts);
	plain = message(n, 0, mask, ts);
	tb = parse_time(bad, &probes, &readings);
	printf("colliding ids: %zu bytes, %zu readings, %zu probes, %.1f ms\n", strlen(bad), readings, probes, tb * 1e3);
	tp = parse_time(plain, &probes, &readings);
	printf("plain ids:     %zu bytes, %zu readings, %zu probes, %.1f ms\n", strlen(plain), readings, probes, tp * 1e3);
	printf("ratio colliding/plain: %.2f\n", tb / tp);
	free(bad);
	free(plain);
	return 0;
}
