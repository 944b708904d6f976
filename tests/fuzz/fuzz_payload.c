/*
 * libFuzzer target for the payload parsers. An input is "topic\npayload" (split on the first newline)
 * for tsk_payload_parse(); the whole input is also one tsk-ingest line for tsk_payload_parse_line()
 * (envelopes and normalized readings). Besides the sanitizers' findings, it aborts when a parser breaks
 * its contract: a rejection that leaves readings behind or has no stable reason, a reading with another
 * tenant than the topic's, an empty id, a non-finite value, or one that does not survive the JSON-line
 * round trip the spool relies on. Built and run by tests/fuzz/run.sh.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/payload.h"
#include "model/reading.h"
#include "model/topic.h"
#include "core/tsk.h"

#define ARRIVAL_US INT64_C(1760961600000000) /* 2025-10-20T12:00:00Z */

static void
check_reading(const struct tsk_reading *r, const char *slug)
{
	struct tsk_readings back;
	char err[TSK_ERRLEN];
	json_t *j;

	if (r->tenant == NULL || !tsk_topic_slug_valid(r->tenant) || (slug != NULL && strcmp(r->tenant, slug) != 0))
		abort();
	if (r->device_id == NULL || *r->device_id == '\0' || r->sensor_id == NULL || *r->sensor_id == '\0')
		abort();
	if (!isfinite(r->value) || !json_is_object(r->labels))
		abort();
	if ((j = tsk_reading_to_json(r)) == NULL)
		abort();
	tsk_readings_init(&back);
	if (tsk_reading_from_json(j, NULL, &back, err, sizeof err) != TSK_OK || back.n != 1 ||
	    back.v[0].ts_us != r->ts_us || back.v[0].value != r->value || strcmp(back.v[0].sensor_id, r->sensor_id) != 0)
		abort();
	tsk_readings_free(&back);
	json_decref(j);
}

static void
check_result(int rc, const char *err, const struct tsk_readings *out, const struct tsk_payload_info *info,
    const char *slug)
{
	if (rc == TSK_OK) {
		if (info->reason != TSK_PAYLOAD_OK || info->format == NULL || info->readings != out->n)
			abort();
		for (size_t i = 0; i < out->n; i++)
			check_reading(&out->v[i], slug);
	} else {
		if (out->n != 0 || tsk_payload_reason_of(err) != (int)info->reason || info->reason == TSK_PAYLOAD_OK)
			abort();
		if (rc != (info->reason == TSK_PAYLOAD_NOMEM ? TSK_EFAIL : TSK_EINVAL))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *nl = memchr(in, '\n', size);
	size_t tlen = nl != NULL ? (size_t)(nl - in) : size;
	char *topic = strndup(in, tlen), err[TSK_ERRLEN];
	struct tsk_readings out;
	struct tsk_payload_info info;
	struct tsk_topic t;
	int rc;

	if (topic == NULL)
		return 0;
	tsk_readings_init(&out);
	tsk_payload_info_init(&info);

	rc = tsk_payload_parse(NULL, topic, nl != NULL ? nl + 1 : in + size, nl != NULL ? size - tlen - 1 : 0,
	    ARRIVAL_US, &out, &info, err, sizeof err);
	if (tsk_topic_parse(topic, &t, NULL, 0) == TSK_OK) {
		check_result(rc, err, &out, &info, t.slug);
		tsk_topic_free(&t);
	} else if (rc != TSK_EINVAL || info.reason != TSK_PAYLOAD_BAD_TOPIC) {
		abort();
	}
	tsk_readings_clear(&out);

	rc = tsk_payload_parse_line(NULL, in, size, ARRIVAL_US, &out, &info, err, sizeof err);
	check_result(rc, err, &out, &info, NULL);
	tsk_readings_clear(&out);

	/* The same line as seen by `tsk-ingest --tenant umc`: whatever it accepts is umc's. */
	rc = tsk_payload_parse_line("umc", in, size, ARRIVAL_US, &out, &info, err, sizeof err);
	check_result(rc, err, &out, &info, "umc");

	tsk_readings_free(&out);
	tsk_payload_info_free(&info);
	free(topic);
	return 0;
}
