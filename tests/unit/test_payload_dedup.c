/*
 * The per-message duplicate table (issue 8, item 1): sensor ids chosen to collide under the old unkeyed
 * hash (FNV-1a, computed here as it was) must not make a message cost more than a linear number of
 * probes, and the cap on records per message holds exactly. Counts, not times: the timing comparison is
 * tests/bench/dedup.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/payload.h"
#include "tap.h"
#include "dedup_attack.h"
#include "core/buf.h"
#include "core/time.h"
#include "core/tsk.h"

#define TOPIC "tenants/umc/devices/GW/sensors/x"
#define STD_TOPIC "tenants/umc/assets/CH-01/telemetry"
#define STAMP DEDUP_STAMP

static void
probes(void)
{
	struct tsk_readings out;
	struct tsk_payload_info info;
	char err[TSK_ERRLEN], *m;
	int64_t ts;
	size_t n = 400, mask = 1023; /* 400 readings end in a table of 1024 slots */
	size_t collide_probes, plain_probes;

	tsk_time_parse_rfc3339(STAMP, &ts);
	tsk_readings_init(&out);
	tsk_payload_info_init(&info);

	m = message(n, 1, mask, ts);
	ok(tsk_payload_parse(NULL, STD_TOPIC, m, strlen(m), ts, &out, &info, err, sizeof err) == TSK_OK &&
	    out.n == n, "a message of %zu ids colliding under the old hash is accepted whole", n);
	collide_probes = info.dedup_probes;
	free(m);
	tsk_readings_clear(&out);

	m = message(n, 0, mask, ts);
	ok(tsk_payload_parse(NULL, STD_TOPIC, m, strlen(m), ts, &out, &info, err, sizeof err) == TSK_OK &&
	    out.n == n, "a message of %zu plain ids is accepted whole", n);
	plain_probes = info.dedup_probes;
	free(m);
	tsk_readings_clear(&out);

	printf("# probes: %zu for colliding ids, %zu for plain ones (%zu readings)\n", collide_probes, plain_probes, n);
	/* Linear: a half-full table with a good hash averages under 2.5 probes per lookup (insertions and
	 * the rehashes of its growth included); the old hash took about n*n/2 = 80 000 here. */
	ok(collide_probes <= 4 * n, "colliding ids cost at most 4 probes per reading (%zu)", collide_probes);
	ok(plain_probes <= 4 * n, "plain ids cost at most 4 probes per reading (%zu)", plain_probes);

	/* The keyed hash still finds duplicates. */
	m = "{\"device_id\": \"GW\", \"sensors\": [{\"sensor_id\": \"a\", \"value\": 1}, {\"sensor_id\": \"b\", \"value\": 2},"
	    " {\"sensor_id\": \"a\", \"value\": 3}]}";
	ok(tsk_payload_parse(NULL, STD_TOPIC, m, strlen(m), ts, &out, &info, err, sizeof err) == TSK_OK && out.n == 2 &&
	    info.skips[TSK_SKIP_DUPLICATE] == 1 && out.v[0].value == 1, "a duplicate is still skipped, the first wins");
	tsk_readings_clear(&out);

	tsk_payload_info_free(&info);
	tsk_readings_free(&out);
}

static char *
senml(size_t records)
{
	struct tsk_buf b = { 0 };

	tsk_buf_printf(&b, "[{\"bn\": \"GW\", \"bt\": 1760961000}");
	for (size_t i = 1; i < records; i++)
		tsk_buf_printf(&b, ", {\"n\": \"r%zu\", \"v\": 1}", i);
	tsk_buf_printf(&b, "]");
	return tsk_buf_take(&b);
}

static void
cap(void)
{
	struct tsk_readings out;
	struct tsk_payload_info info;
	char err[TSK_ERRLEN], *m;
	int64_t ts;

	tsk_time_parse_rfc3339(STAMP, &ts);
	tsk_readings_init(&out);
	tsk_payload_info_init(&info);

	m = message(TSK_PAYLOAD_MAX_RECORDS, 0, 0, ts);
	ok(tsk_payload_parse(NULL, STD_TOPIC, m, strlen(m), ts, &out, &info, err, sizeof err) == TSK_OK &&
	    out.n == TSK_PAYLOAD_MAX_RECORDS, "%d sensors: accepted, as many readings", TSK_PAYLOAD_MAX_RECORDS);
	free(m);
	tsk_readings_clear(&out);

	m = message(TSK_PAYLOAD_MAX_RECORDS + 1, 0, 0, ts);
	ok(tsk_payload_parse(NULL, STD_TOPIC, m, strlen(m), ts, &out, &info, err, sizeof err) == TSK_EINVAL &&
	    info.reason == TSK_PAYLOAD_TOO_MANY && strcmp(err, "too many records") == 0 && out.n == 0,
	    "%d sensors: rejected, \"%s\" (%s)", TSK_PAYLOAD_MAX_RECORDS + 1, err, info.detail);
	free(m);

	m = senml(TSK_PAYLOAD_MAX_RECORDS);
	ok(tsk_payload_parse(NULL, TOPIC, m, strlen(m), ts, &out, &info, err, sizeof err) == TSK_OK &&
	    out.n == TSK_PAYLOAD_MAX_RECORDS - 1, "SenML of %d records: accepted, one reading fewer",
	    TSK_PAYLOAD_MAX_RECORDS);
	free(m);
	tsk_readings_clear(&out);

	m = senml(TSK_PAYLOAD_MAX_RECORDS + 1);
	ok(tsk_payload_parse(NULL, TOPIC, m, strlen(m), ts, &out, &info, err, sizeof err) == TSK_EINVAL &&
	    info.reason == TSK_PAYLOAD_TOO_MANY && out.n == 0, "SenML of %d records: rejected, \"%s\"",
	    TSK_PAYLOAD_MAX_RECORDS + 1, err);
	free(m);
	is_str(tsk_payload_reason_str(TSK_PAYLOAD_TOO_MANY), "too many records", "the reason's stable string");

	tsk_payload_info_free(&info);
	tsk_readings_free(&out);
}

int
main(void)
{
	probes();
	cap();
	return done_testing();
}
