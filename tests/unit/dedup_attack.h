/*
 * Standard payloads whose sensor ids all collide in the duplicate table the payload parser used to have
 * (unkeyed FNV-1a, linear probing): the attack the keyed table defends against. Shared by
 * tests/unit/test_payload_dedup.c (probe counts) and tests/helpers/bench_dedup.c (times).
 */
#ifndef TSK_DEDUP_ATTACK_H
#define TSK_DEDUP_ATTACK_H

#include <stdint.h>
#include <stdio.h>

#include "core/buf.h"

#define DEDUP_STAMP "2025-10-20T12:00:00Z"

/* The old table's slot: FNV-1a over device '/' sensor, the time mixed in, masked to the table size. */
static size_t
old_slot(const char *device, const char *sensor, int64_t ts, size_t mask)
{
	uint64_t h = 1469598103934665603u;

	for (const char *p = device; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	h = (h ^ '/') * 1099511628211u;
	for (const char *p = sensor; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	h ^= (uint64_t)ts * 0x9e3779b97f4a7c15u;
	return (size_t)(h ^ (h >> 29)) & mask;
}

/* A standard payload of n sensors; colliding: ids that all took one slot of the old table (whose final
 * size is `mask` + 1, and every smaller size nests in it), else plain distinct ids of the same length.
 * A new string the caller frees. */
static char *
message(size_t n, int colliding, size_t mask, int64_t ts)
{
	struct tsk_buf b = { 0 };
	char id[32];
	size_t found = 0;

	tsk_buf_printf(&b, "{\"device_id\": \"GW\", \"timestamp\": \"%s\", \"sensors\": [", DEDUP_STAMP);
	for (uint32_t i = 0; found < n; i++) {
		snprintf(id, sizeof id, "s%08x", i);
		if (colliding && old_slot("GW", id, ts, mask) != 0)
			continue;
		tsk_buf_printf(&b, "%s{\"sensor_id\": \"%s\", \"value\": 1}", found > 0 ? ", " : "", id);
		found++;
	}
	tsk_buf_printf(&b, "]}");
	return tsk_buf_take(&b);
}

#endif
