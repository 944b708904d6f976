/*
 * Private to lib/model/payload*.c: what the format parsers share. payload.c holds the context, the
 * number and time helpers and the dispatch; each payload_FORMAT.c holds one format's tsk_pl_try_*.
 * A format's tsk_pl_try_* returns TSK_PAYLOAD_NO_FORMAT when the message is not of that format
 * (tsk_pl_decline says why, for the detail of "no format"), or TSK_PAYLOAD_OK, or the rejection's
 * reason (tsk_pl_reject).
 */
#ifndef TSK_PAYLOAD_IMPL_H
#define TSK_PAYLOAD_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <jansson.h>

#include "model/payload.h"
#include "model/reading.h"
#include "model/topic.h"
#include "core/time.h"

/* ---- numbers and times (payload.c) ---- */

/* Years 1970-9999: no sensor reading predates the Unix epoch (a time before it is a misread clock or a
 * value in the wrong unit), and 9999 is the end of what an RFC 3339 string can say. How far into the
 * future a reading may be is the tenant's max_future, checked where tenants are known (lib/ingest). */
#define MIN_S 0.0
#define END_S 253402300800.0
#define MIN_US INT64_C(0)
#define END_US (INT64_C(253402300800) * TSK_US_PER_S)

static inline int
us_valid(int64_t us)
{
	return us >= MIN_US && us < END_US;
}

/* The string value of v when it is a non-empty string without NUL bytes, else NULL. */
static inline const char *
nonempty_str(json_t *v)
{
	const char *s = json_string_value(v);

	return s != NULL && *s != '\0' && strlen(s) == json_string_length(v) ? s : NULL;
}

/* Seconds since the epoch to microseconds, inside the years 1970-9999. 0 or -1. */
int tsk_pl_secs_to_us(double s, int64_t *out);
/* An RFC 3339 time inside the years 1970-9999. 0, -1 (not a time) or -2 (a time outside those years). */
int tsk_pl_rfc3339_to_us(const char *s, int64_t *out);
/* A "ts": milliseconds as a number or a numeric string, or an RFC 3339 string. 0 or -1. */
int tsk_pl_ts_to_us(json_t *ts, int64_t *out);
/* A numeric string in plain decimal notation. 0, or the skip reason. */
int tsk_pl_parse_number(const char *s, double *out);
/* A JSON value as a reading's value: a number, a numeric string, or a boolean as 1/0. 0 or skip reason. */
int tsk_pl_coerce_value(json_t *v, double *out);
/* Sets obj[key] to the string val (nothing when val is NULL). 0, or -1 when out of memory. */
int tsk_pl_set_str(json_t *obj, const char *key, const char *val);

/* ---- the per-message context (payload.c) ---- */

struct ctx {
	const struct tsk_topic *topic;
	struct tsk_readings *out;
	size_t n0;                  /* out->n when the message started: a rejection truncates back to it */
	struct tsk_payload_info *info;
	const char *client_id;      /* from the envelope or a wrapper, for standard payloads */
	int has_env_ts;
	int64_t env_ts_us;          /* the envelope's (or wrapper's) time */
	int64_t arrival_us;
	size_t *dedup;              /* open addressing: 1 + index into out->v, 0 = empty */
	size_t dedup_cap, dedup_n;
	char why[160];              /* why a format declined the payload, for the detail of "no format" */
};

/* Rejects the message: the detail is formatted into info, the reason returned. */
int tsk_pl_reject(struct ctx *c, int reason, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Notes why a format declined the message (the first note counts). */
void tsk_pl_decline(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Counts item `index` (name, when not NULL, says which) as skipped for `why` (enum tsk_payload_skip). */
void tsk_pl_skip(struct ctx *c, int why, size_t index, const char *name);
/* Records what the accepted format says about the message as a whole. */
int tsk_pl_set_message(struct ctx *c, const char *format, const char *device_id, int64_t ts_us);
/* Appends one reading unless an earlier one of this message has the same (device, sensor, ts). */
int tsk_pl_emit(struct ctx *c, size_t index, const char *device, const char *sensor, int64_t ts, double value,
    const char *unit, json_t *labels);

/* ---- the formats ---- */

/* payload_single.c */
int tsk_pl_try_single(struct ctx *c, json_t *msg);
/* payload_standard.c, and what a single value's object shares with a standard sensor */
int tsk_pl_try_standard(struct ctx *c, json_t *msg);
int tsk_pl_message_time(struct ctx *c, json_t *msg, int64_t *out);
json_t *tsk_pl_sensor_labels(json_t *s);
const char *tsk_pl_unit_of(json_t *s, json_t *labels);
/* payload_senml.c */
int tsk_pl_try_senml(struct ctx *c, json_t *msg);
/* payload_reading.c: a line of tsk-ingest stdin that is a normalized reading, not an envelope */
int tsk_pl_is_reading(json_t *obj);
int tsk_pl_reading_line(struct ctx *c, const char *tenant, json_t *obj);

#endif
