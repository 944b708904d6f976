/*
 * The normalized reading: what every parser produces, the spool stores, the sink writes and the tools
 * print. As a JSON line:
 *   {"tenant":"umc","device_id":"GW-1","sensor_id":"temp-01","ts":"2025-10-17T10:30:00Z",
 *    "value":23.5,"unit":"celsius","labels":{...},"site":"Bloco A","asset_tag":"CH-01"}
 * unit, site and asset_tag are null when unknown; labels is always an object.
 */
#ifndef TSK_READING_H
#define TSK_READING_H

#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

struct tsk_reading {
	char *tenant;     /* slug; owned */
	char *device_id;  /* owned, non-empty */
	char *sensor_id;  /* owned, non-empty */
	int64_t ts_us;    /* microseconds since the Unix epoch, UTC */
	double value;
	char *unit;       /* owned, or NULL */
	json_t *labels;   /* owned reference to a JSON object, never NULL once filled */
	char *site;       /* owned, or NULL */
	char *asset_tag;  /* owned, or NULL */
};

/* A growable list of readings; the list owns every string and labels object in it. */
struct tsk_readings {
	struct tsk_reading *v;
	size_t n, cap;
};

void tsk_readings_init(struct tsk_readings *rs);
void tsk_readings_clear(struct tsk_readings *rs);  /* frees the contents, keeps the array */
void tsk_readings_free(struct tsk_readings *rs);
/* Appends a reading, copying the strings and taking a new reference to labels (NULL → {}).
 * Returns a pointer to the stored reading, or NULL when out of memory. */
struct tsk_reading *tsk_readings_add(struct tsk_readings *rs, const char *tenant, const char *device_id,
    const char *sensor_id, int64_t ts_us, double value, const char *unit, json_t *labels,
    const char *site, const char *asset_tag);
/* Appends *r as it is: the list takes over its strings and labels. 0, or -1 when out of memory (r is
 * still the caller's). */
int tsk_readings_push(struct tsk_readings *rs, const struct tsk_reading *r);
void tsk_reading_free(struct tsk_reading *r);

/* The JSON-line form above (a new reference). */
json_t *tsk_reading_to_json(const struct tsk_reading *r);
/* Parses the JSON-line form (tenant may be absent when `tenant` is given). TSK_OK or TSK_EINVAL. */
int tsk_reading_from_json(json_t *obj, const char *tenant, struct tsk_readings *out, char *err, size_t errlen);

/* The first of r[0 .. n) whose time is more than max_us after arrival_us (a tenant's max_future), or
 * NULL: such a message is refused whole, by tsk-ingest (a dead letter) and by POST /ingest (400). */
const struct tsk_reading *tsk_reading_too_far(const struct tsk_reading *r, size_t n, int64_t arrival_us,
    int64_t max_us);
/* Why, in one line: "DEV/SENSOR at TIME is more than max_future (1d) after its arrival at TIME". */
void tsk_reading_future_detail(char *buf, size_t len, const struct tsk_reading *r, int64_t arrival_us,
    int64_t max_us);

#endif
