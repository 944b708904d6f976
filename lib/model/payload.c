/*
 * The payload parsers of CONTRACT.md §3. Layout of this file:
 *   strings for the enums, info
 *   numbers and times
 *   the per-message context: rejections, skips, de-duplication, emitting readings
 *   loading JSON, envelopes and wrappers
 *   single value, standard, SenML (Khomp)
 *   entry points
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/payload.h"
#include "core/time.h"
#include "core/tsk.h"

static const char *const reason_strs[TSK_PAYLOAD_NREASONS] = {
	[TSK_PAYLOAD_OK] = "ok",
	[TSK_PAYLOAD_BAD_TOPIC] = "bad topic",
	[TSK_PAYLOAD_TENANT_MISMATCH] = "tenant mismatch",
	[TSK_PAYLOAD_TOO_LARGE] = "payload too large",
	[TSK_PAYLOAD_EMPTY] = "payload empty",
	[TSK_PAYLOAD_NOT_JSON] = "not json",
	[TSK_PAYLOAD_NOT_OBJECT] = "not an object",
	[TSK_PAYLOAD_NO_TOPIC] = "no topic",
	[TSK_PAYLOAD_NO_DEVICE] = "no device_id",
	[TSK_PAYLOAD_BAD_TIME] = "bad timestamp",
	[TSK_PAYLOAD_NO_FORMAT] = "no format accepts the payload",
	[TSK_PAYLOAD_BAD_READING] = "bad reading",
	[TSK_PAYLOAD_NOMEM] = "out of memory",
};

static const char *const skip_strs[TSK_SKIP_NREASONS] = {
	[TSK_SKIP_NOT_OBJECT] = "not an object",
	[TSK_SKIP_NO_ID] = "no sensor_id",
	[TSK_SKIP_NO_NAME] = "no name",
	[TSK_SKIP_NULL_VALUE] = "null value",
	[TSK_SKIP_NO_VALUE] = "no value",
	[TSK_SKIP_NOT_NUMERIC] = "non-numeric value",
	[TSK_SKIP_NOT_FINITE] = "non-finite value",
	[TSK_SKIP_BAD_TIME] = "bad time",
	[TSK_SKIP_DUPLICATE] = "duplicate",
};

const char *
tsk_payload_reason_str(enum tsk_payload_reason reason)
{
	return (unsigned)reason < TSK_PAYLOAD_NREASONS ? reason_strs[reason] : "?";
}

const char *
tsk_payload_skip_str(enum tsk_payload_skip skip)
{
	return (unsigned)skip < TSK_SKIP_NREASONS ? skip_strs[skip] : "?";
}

int
tsk_payload_reason_of(const char *reason)
{
	for (int i = 0; reason != NULL && i < TSK_PAYLOAD_NREASONS; i++)
		if (strcmp(reason, reason_strs[i]) == 0)
			return i;
	return -1;
}

void
tsk_payload_info_init(struct tsk_payload_info *info)
{
	memset(info, 0, sizeof *info);
}

void
tsk_payload_info_free(struct tsk_payload_info *info)
{
	free(info->device_id);
	free(info->gateway_id);
	free(info->model);
	tsk_payload_info_init(info);
}

static int
set_str(json_t *obj, const char *key, const char *val)
{
	return val == NULL ? 0 : json_object_set_new(obj, key, json_string(val));
}

json_t *
tsk_payload_info_to_json(const struct tsk_payload_info *info)
{
	char ts[TSK_TIME_STRLEN];
	json_t *o = json_object(), *skips = json_object();
	int bad = o == NULL || skips == NULL;

	for (int i = 0; !bad && i < TSK_SKIP_NREASONS; i++)
		if (info->skips[i] > 0)
			bad |= json_object_set_new(skips, skip_strs[i], json_integer((json_int_t)info->skips[i]));
	bad |= set_str(o, "format", info->format);
	bad |= set_str(o, "tenant", info->tenant[0] != '\0' ? info->tenant : NULL);
	bad |= set_str(o, "device_id", info->device_id);
	bad |= set_str(o, "timestamp", info->has_ts ? tsk_time_format(info->ts_us, ts) : NULL);
	bad |= json_object_set_new(o, "readings", json_integer((json_int_t)info->readings));
	bad |= json_object_set_new(o, "skipped", json_integer((json_int_t)info->skipped));
	bad |= json_object_set(o, "skips", skips);
	bad |= set_str(o, "gateway_id", info->gateway_id);
	bad |= set_str(o, "model", info->model);
	json_decref(skips);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- numbers and times ---- */

/* JSON's white space, which is also all we trim around numeric strings. */
static int
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Years 0000-9999: what an RFC 3339 string can say, and well inside PostgreSQL's timestamptz range. */
#define MIN_S (-62167219200.0)
#define END_S 253402300800.0
#define MIN_US (INT64_C(-62167219200) * TSK_US_PER_S)
#define END_US (INT64_C(253402300800) * TSK_US_PER_S)
/* RFC 8428 §4.5.3: SenML times below 2^28 are relative to now. */
#define SENML_ABS 268435456.0

static int
us_valid(int64_t us)
{
	return us >= MIN_US && us < END_US;
}

static int
secs_to_us(double s, int64_t *out)
{
	if (!(s >= MIN_S && s < END_S)) /* also false for NaN */
		return -1;
	*out = (int64_t)llround(s * 1e6);
	return us_valid(*out) ? 0 : -1;
}

static int
ms_to_us(double ms, int64_t *out)
{
	return secs_to_us(ms / 1000.0, out);
}

static int
rfc3339_to_us(const char *s, int64_t *out)
{
	return tsk_time_parse_rfc3339(s, out) == TSK_OK && us_valid(*out) ? 0 : -1;
}

static int parse_number(const char *s, double *out);

/* A "ts": milliseconds as a number or a numeric string (an EMQX body template may quote it), or an
 * RFC 3339 string. */
static int
ts_to_us(json_t *ts, int64_t *out)
{
	double ms;

	if (json_is_number(ts))
		return ms_to_us(json_number_value(ts), out);
	if (!json_is_string(ts))
		return -1;
	if (rfc3339_to_us(json_string_value(ts), out) == 0)
		return 0;
	return parse_number(json_string_value(ts), &ms) == 0 ? ms_to_us(ms, out) : -1;
}

/*
 * A numeric string, in plain decimal notation only: Python's float() (which the original used) also takes
 * "nan", "inf" and "1_000", and strtod() takes hex; none of those may reach the database.
 * Returns 0, or the skip reason.
 */
static int
parse_number(const char *s, double *out)
{
	const char *p = s, *end = s + strlen(s), *q;
	char buf[400];
	int digits = 0;

	while (p < end && is_ws(*p))
		p++;
	while (end > p && is_ws(end[-1]))
		end--;
	if (end - p >= (long)sizeof buf)
		return TSK_SKIP_NOT_NUMERIC;
	q = p;
	if (q < end && (*q == '+' || *q == '-'))
		q++;
	for (; q < end && *q >= '0' && *q <= '9'; q++)
		digits++;
	if (q < end && *q == '.')
		for (q++; q < end && *q >= '0' && *q <= '9'; q++)
			digits++;
	if (digits == 0)
		return TSK_SKIP_NOT_NUMERIC;
	if (q < end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < end && (*q == '+' || *q == '-'))
			q++;
		if (q == end || !(*q >= '0' && *q <= '9'))
			return TSK_SKIP_NOT_NUMERIC;
		while (q < end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q != end)
		return TSK_SKIP_NOT_NUMERIC;
	memcpy(buf, p, (size_t)(end - p));
	buf[end - p] = '\0';
	errno = 0;
	*out = strtod(buf, NULL);
	/* ERANGE with a finite result is an underflow to (nearly) zero, which is a fine value. */
	return isfinite(*out) ? 0 : TSK_SKIP_NOT_FINITE;
}

/* A JSON value as a reading's value: a number, a numeric string, or a boolean as 1/0. 0 or skip reason. */
static int
coerce_value(json_t *v, double *out)
{
	if (v == NULL || json_is_null(v))
		return TSK_SKIP_NULL_VALUE;
	if (json_is_boolean(v)) {
		*out = json_is_true(v) ? 1.0 : 0.0;
		return 0;
	}
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return isfinite(*out) ? 0 : TSK_SKIP_NOT_FINITE;
	}
	if (json_is_string(v))
		return parse_number(json_string_value(v), out);
	return TSK_SKIP_NOT_NUMERIC;
}

/* The string value of v when it is a non-empty string without NUL bytes, else NULL. */
static const char *
nonempty_str(json_t *v)
{
	const char *s = json_string_value(v);

	return s != NULL && *s != '\0' && strlen(s) == json_string_length(v) ? s : NULL;
}

/* ---- the per-message context ---- */

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

static void
ctx_init(struct ctx *c, struct tsk_readings *out, struct tsk_payload_info *info, int64_t arrival_us)
{
	memset(c, 0, sizeof *c);
	c->out = out;
	c->n0 = out->n;
	c->info = info;
	c->arrival_us = arrival_us;
	tsk_payload_info_free(info);
}

static int __attribute__((format(printf, 3, 4)))
reject(struct ctx *c, int reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->info->detail, sizeof c->info->detail, fmt, ap);
	va_end(ap);
	return reason;
}

static void __attribute__((format(printf, 2, 3)))
decline(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->why[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof c->why, fmt, ap);
	va_end(ap);
}

static void
skip(struct ctx *c, int why, size_t index, const char *name)
{
	c->info->skips[why]++;
	c->info->skipped++;
	if (c->info->detail[0] == '\0')
		snprintf(c->info->detail, sizeof c->info->detail, "item %zu%s%.80s%s skipped: %s", index,
		    name != NULL ? " (" : "", name != NULL ? name : "", name != NULL ? ")" : "", skip_strs[why]);
}

/* Records what the accepted format says about the message as a whole. */
static int
set_message(struct ctx *c, const char *format, const char *device_id, int64_t ts_us)
{
	c->info->format = format;
	c->info->has_ts = 1;
	c->info->ts_us = ts_us;
	free(c->info->device_id);
	if ((c->info->device_id = strdup(device_id)) == NULL)
		return reject(c, TSK_PAYLOAD_NOMEM, "out of memory");
	return TSK_PAYLOAD_OK;
}

static size_t
dedup_hash(const char *device, const char *sensor, int64_t ts)
{
	uint64_t h = 1469598103934665603u; /* FNV-1a */

	for (const char *p = device; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	h = (h ^ '/') * 1099511628211u;
	for (const char *p = sensor; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	h ^= (uint64_t)ts * 0x9e3779b97f4a7c15u;
	return (size_t)(h ^ (h >> 29));
}

/* The slot of (device, sensor, ts) in the table: where it is, or the empty slot where it would go. */
static size_t
dedup_slot(const struct ctx *c, const char *device, const char *sensor, int64_t ts)
{
	size_t i = dedup_hash(device, sensor, ts) & (c->dedup_cap - 1);

	while (c->dedup[i] != 0) {
		const struct tsk_reading *r = &c->out->v[c->dedup[i] - 1];
		if (r->ts_us == ts && strcmp(r->sensor_id, sensor) == 0 && strcmp(r->device_id, device) == 0)
			break;
		i = (i + 1) & (c->dedup_cap - 1);
	}
	return i;
}

/* Keeps the table at most half full. -1 when out of memory. */
static int
dedup_grow(struct ctx *c)
{
	size_t cap = c->dedup_cap ? c->dedup_cap * 2 : 64, *old = c->dedup, oldcap = c->dedup_cap;

	if ((c->dedup = calloc(cap, sizeof *c->dedup)) == NULL) {
		c->dedup = old;
		return -1;
	}
	c->dedup_cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i] != 0) {
			const struct tsk_reading *r = &c->out->v[old[i] - 1];
			c->dedup[dedup_slot(c, r->device_id, r->sensor_id, r->ts_us)] = old[i];
		}
	}
	free(old);
	return 0;
}

/* Appends one reading unless an earlier one of this message has the same (device, sensor, ts): the
 * first wins, as the database's unique key would decide anyway. */
static int
emit(struct ctx *c, size_t index, const char *device, const char *sensor, int64_t ts, double value,
    const char *unit, json_t *labels)
{
	size_t slot;

	if ((c->dedup_n + 1) * 2 > c->dedup_cap && dedup_grow(c) != 0)
		return reject(c, TSK_PAYLOAD_NOMEM, "out of memory");
	slot = dedup_slot(c, device, sensor, ts);
	if (c->dedup[slot] != 0) {
		skip(c, TSK_SKIP_DUPLICATE, index, sensor);
		return TSK_PAYLOAD_OK;
	}
	if (tsk_readings_add(c->out, c->topic->slug, device, sensor, ts, value, unit, labels, c->topic->site,
	    c->topic->asset_tag) == NULL)
		return reject(c, TSK_PAYLOAD_NOMEM, "out of memory");
	c->dedup[slot] = c->out->n;
	c->dedup_n++;
	return TSK_PAYLOAD_OK;
}

/* Ends a message: on rejection nothing it added stays in `out`, and `err` gets the stable reason. */
static int
finish(struct ctx *c, int reason, char *err, size_t errlen)
{
	free(c->dedup);
	c->dedup = NULL;
	c->info->reason = reason;
	if (reason == TSK_PAYLOAD_OK) {
		c->info->readings = c->out->n - c->n0;
		return TSK_OK;
	}
	while (c->out->n > c->n0)
		tsk_reading_free(&c->out->v[--c->out->n]);
	c->info->format = NULL;
	c->info->has_ts = 0;
	c->info->readings = 0;
	tsk_seterr(err, errlen, 0, "%s", reason_strs[reason]);
	return reason == TSK_PAYLOAD_NOMEM ? TSK_EFAIL : TSK_EINVAL;
}

static int
use_topic(struct ctx *c, struct tsk_topic *t, const char *topic, const char *hint)
{
	char why[TSK_ERRLEN];
	int rc = tsk_topic_parse(topic, t, why, sizeof why);

	if (rc == TSK_EFAIL)
		return reject(c, TSK_PAYLOAD_NOMEM, "out of memory");
	if (rc != TSK_OK)
		return reject(c, TSK_PAYLOAD_BAD_TOPIC, "%s", why);
	c->topic = t;
	memcpy(c->info->tenant, t->slug, sizeof t->slug);
	if (hint != NULL && strcmp(hint, t->slug) != 0)
		return reject(c, TSK_PAYLOAD_TENANT_MISMATCH, "topic names tenant \"%s\", expected \"%.64s\"",
		    t->slug, hint);
	return TSK_PAYLOAD_OK;
}

/* ---- loading JSON, envelopes and wrappers ---- */

static int
load_json(const char *buf, size_t len, size_t max, json_t **out, struct tsk_payload_info *info)
{
	json_error_t je;
	size_t i;

	*out = NULL;
	if (len > max) {
		snprintf(info->detail, sizeof info->detail, "%zu bytes, the limit is %zu", len, max);
		return TSK_PAYLOAD_TOO_LARGE;
	}
	for (i = 0; buf != NULL && i < len && is_ws(buf[i]); i++)
		;
	if (buf == NULL || i == len)
		return TSK_PAYLOAD_EMPTY;
	/* jansson takes a NUL byte for the end of input ("1\0..." loads as 1); JSON has no place for one. */
	if (memchr(buf, '\0', len) != NULL) {
		snprintf(info->detail, sizeof info->detail, "NUL byte in the JSON text");
		return TSK_PAYLOAD_NOT_JSON;
	}
	/* No JSON_ALLOW_NUL: a NUL in a string could not be stored in PostgreSQL text or jsonb. */
	*out = json_loadb(buf, len, JSON_DECODE_ANY, &je);
	/* Integers beyond int64 are valid JSON; read them as doubles rather than reject the message. */
	if (*out == NULL && json_error_code(&je) == json_error_numeric_overflow)
		*out = json_loadb(buf, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &je);
	if (*out == NULL) {
		snprintf(info->detail, sizeof info->detail, "%s at byte %d", je.text, je.position);
		return json_error_code(&je) == json_error_out_of_memory ? TSK_PAYLOAD_NOMEM : TSK_PAYLOAD_NOT_JSON;
	}
	return TSK_PAYLOAD_OK;
}

int
tsk_payload_load(const char *buf, size_t len, size_t max, json_t **out, struct tsk_payload_info *info,
    char *err, size_t errlen)
{
	struct tsk_payload_info local;
	int reason;

	tsk_payload_info_init(&local);
	if (info == NULL)
		info = &local;
	else
		tsk_payload_info_free(info);
	reason = load_json(buf, len, max, out, info);
	info->reason = reason;
	if (reason == TSK_PAYLOAD_OK)
		return TSK_OK;
	tsk_seterr(err, errlen, 0, "%s", reason_strs[reason]);
	return reason == TSK_PAYLOAD_NOMEM ? TSK_EFAIL : TSK_EINVAL;
}

/* 1 when a string or key below v holds a NUL byte (possible in a tree loaded with JSON_ALLOW_NUL). */
static int
has_nul(json_t *v, int depth)
{
	const char *key;
	size_t keylen, i;
	json_t *x;

	if (depth > JSON_PARSER_MAX_DEPTH) /* deeper than any parsed document: built by hand, refuse */
		return 1;
	switch (json_typeof(v)) {
	case JSON_STRING:
		return strlen(json_string_value(v)) != json_string_length(v);
	case JSON_OBJECT:
		json_object_keylen_foreach(v, key, keylen, x)
			if (strlen(key) != keylen || has_nul(x, depth + 1))
				return 1;
		return 0;
	case JSON_ARRAY:
		json_array_foreach(v, i, x)
			if (has_nul(x, depth + 1))
				return 1;
		return 0;
	default:
		return 0;
	}
}

/* An envelope's payload as a value: objects, arrays and numbers as they are, a string as the JSON it
 * holds. *out is a new reference. */
static int
payload_value(struct ctx *c, json_t *p, json_t **out)
{
	*out = NULL;
	if (p == NULL || json_is_null(p) || (json_is_string(p) && json_string_length(p) == 0))
		return reject(c, TSK_PAYLOAD_EMPTY, "the envelope has no payload");
	if (json_is_string(p))
		return load_json(json_string_value(p), json_string_length(p), TSK_PAYLOAD_MAX, out, c->info);
	if (has_nul(p, 0))
		return reject(c, TSK_PAYLOAD_NOT_JSON, "NUL byte in the payload");
	*out = json_incref(p);
	return TSK_PAYLOAD_OK;
}

/* mosquitto_sub 2.0 -F %J prints local time followed by a literal 'Z' and then the real offset, as in
 * "2025-10-20T11:30:00.123456Z-0300"; the offset is the truth, so the 'Z' goes. */
static int
tst_to_us(const char *s, int64_t *out)
{
	char buf[64];
	const char *z = strchr(s, 'Z');

	if (z == NULL || (z[1] != '+' && z[1] != '-') || strlen(s) >= sizeof buf)
		return rfc3339_to_us(s, out);
	memcpy(buf, s, (size_t)(z - s));
	strcpy(buf + (z - s), z + 1);
	return rfc3339_to_us(buf, out);
}

/* The time of an envelope: EMQX "ts" (milliseconds; see ts_to_us), mosquitto_sub
 * "tst", or (in a wrapper) "timestamp". Each found one replaces what an outer envelope said. */
static int
envelope_meta(struct ctx *c, json_t *env)
{
	static const char *const ids[] = { "client_id", "clientid", "device_id" };
	json_t *ts = json_object_get(env, "ts"), *tst = json_object_get(env, "tst");
	json_t *stamp = json_object_get(env, "timestamp");
	int bad = 0;

	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		const char *id = nonempty_str(json_object_get(env, ids[i]));
		if (id != NULL) {
			c->client_id = id;
			break;
		}
	}
	if (stamp != NULL && !json_is_null(stamp))
		bad = !json_is_string(stamp) || rfc3339_to_us(json_string_value(stamp), &c->env_ts_us) != 0;
	else if (ts != NULL && !json_is_null(ts))
		bad = ts_to_us(ts, &c->env_ts_us) != 0;
	else if (tst != NULL && !json_is_null(tst))
		bad = !json_is_string(tst) || tst_to_us(json_string_value(tst), &c->env_ts_us) != 0;
	else
		return TSK_PAYLOAD_OK;
	if (bad)
		return reject(c, TSK_PAYLOAD_BAD_TIME, "invalid envelope time");
	c->has_env_ts = 1;
	return TSK_PAYLOAD_OK;
}

/* ---- single value and standard ---- */

/* The message time of a single or standard payload: "timestamp" (RFC 3339, naive is UTC) > "ts"
 * (milliseconds, see ts_to_us) > the envelope's time > arrival. */
static int
message_time(struct ctx *c, json_t *msg, int64_t *out)
{
	json_t *stamp = json_object_get(msg, "timestamp"), *ts = json_object_get(msg, "ts");

	if (stamp != NULL && !json_is_null(stamp)) {
		if (!json_is_string(stamp) || rfc3339_to_us(json_string_value(stamp), out) != 0)
			return reject(c, TSK_PAYLOAD_BAD_TIME, "\"timestamp\" is not an RFC 3339 time");
	} else if (ts != NULL && !json_is_null(ts)) {
		if (ts_to_us(ts, out) != 0)
			return reject(c, TSK_PAYLOAD_BAD_TIME, "\"ts\" is neither milliseconds nor RFC 3339");
	} else {
		*out = c->has_env_ts ? c->env_ts_us : c->arrival_us;
	}
	return TSK_PAYLOAD_OK;
}

/* "labels" when it is an object (a copy: readings must not share the input tree) or {}, then unit, type,
 * location and description from the sensor's top level where labels lacks them. NULL if out of memory. */
static json_t *
sensor_labels(json_t *s)
{
	static const char *const copied[] = { "unit", "type", "location", "description" };
	json_t *given = json_object_get(s, "labels");
	json_t *labels = json_is_object(given) ? json_deep_copy(given) : json_object();

	for (size_t i = 0; labels != NULL && i < sizeof copied / sizeof copied[0]; i++) {
		json_t *v = json_object_get(s, copied[i]);
		if (v == NULL || json_is_null(v) || json_object_get(labels, copied[i]) != NULL)
			continue;
		if (json_object_set_new(labels, copied[i], json_deep_copy(v)) != 0) {
			json_decref(labels);
			labels = NULL;
		}
	}
	return labels;
}

static const char *
unit_of(json_t *s, json_t *labels)
{
	const char *u = nonempty_str(json_object_get(s, "unit"));

	return u != NULL ? u : nonempty_str(json_object_get(labels, "unit"));
}

/* Topic form 1 with a bare number, or an object with "value" (number, numeric string, boolean). */
static int
try_single(struct ctx *c, json_t *msg)
{
	json_t *labels = NULL;
	double value;
	int64_t ts;
	int r, why;

	if (c->topic->form != TSK_TOPIC_SENSOR)
		return TSK_PAYLOAD_NO_FORMAT;
	if (json_is_number(msg)) {
		value = json_number_value(msg);
		ts = c->has_env_ts ? c->env_ts_us : c->arrival_us;
		if ((labels = json_object()) == NULL)
			return reject(c, TSK_PAYLOAD_NOMEM, "out of memory");
	} else if (json_is_object(msg) && json_object_get(msg, "value") != NULL) {
		if ((why = coerce_value(json_object_get(msg, "value"), &value)) != 0) {
			decline(c, "single value: %s", skip_strs[why]);
			return TSK_PAYLOAD_NO_FORMAT;
		}
		if ((r = message_time(c, msg, &ts)) != TSK_PAYLOAD_OK)
			return r;
		if ((labels = sensor_labels(msg)) == NULL)
			return reject(c, TSK_PAYLOAD_NOMEM, "out of memory");
	} else {
		return TSK_PAYLOAD_NO_FORMAT;
	}
	if ((r = set_message(c, "single", c->topic->device_id, ts)) == TSK_PAYLOAD_OK)
		r = emit(c, 0, c->topic->device_id, c->topic->sensor_id, ts, value,
		    json_is_object(msg) ? unit_of(msg, labels) : NULL, labels);
	json_decref(labels);
	return r;
}

/* Accepted when "sensors" has at least one object with a non-empty sensor_id and a "value" key. */
static int
standard_candidate(json_t *sensors)
{
	size_t i;
	json_t *s;

	json_array_foreach(sensors, i, s)
		if (json_is_object(s) && nonempty_str(json_object_get(s, "sensor_id")) != NULL &&
		    json_object_get(s, "value") != NULL)
			return 1;
	return 0;
}

static int
standard_sensor(struct ctx *c, const char *device, int64_t ts, size_t i, json_t *s)
{
	const char *id;
	json_t *labels;
	double value;
	int why, r;

	if (!json_is_object(s)) {
		skip(c, TSK_SKIP_NOT_OBJECT, i, NULL);
		return TSK_PAYLOAD_OK;
	}
	if ((id = nonempty_str(json_object_get(s, "sensor_id"))) == NULL) {
		skip(c, TSK_SKIP_NO_ID, i, NULL);
		return TSK_PAYLOAD_OK;
	}
	/* A non-numeric value loses this sensor only, not the whole message (the original lost both). */
	if ((why = coerce_value(json_object_get(s, "value"), &value)) != 0) {
		skip(c, why, i, id);
		return TSK_PAYLOAD_OK;
	}
	if ((labels = sensor_labels(s)) == NULL)
		return reject(c, TSK_PAYLOAD_NOMEM, "out of memory");
	r = emit(c, i, device, id, ts, value, unit_of(s, labels), labels);
	json_decref(labels);
	return r;
}

static int
try_standard(struct ctx *c, json_t *msg)
{
	json_t *sensors = json_object_get(msg, "sensors"), *s;
	const char *device;
	int64_t ts;
	size_t i;
	int r;

	if (!json_is_array(sensors))
		return TSK_PAYLOAD_NO_FORMAT;
	if (!standard_candidate(sensors)) {
		decline(c, "standard: no sensor has a sensor_id and a value");
		return TSK_PAYLOAD_NO_FORMAT;
	}
	if ((device = nonempty_str(json_object_get(msg, "device_id"))) == NULL)
		device = c->client_id;
	if (device == NULL)
		return reject(c, TSK_PAYLOAD_NO_DEVICE, "no device_id in the payload and no client_id");
	if ((r = message_time(c, msg, &ts)) != TSK_PAYLOAD_OK)
		return r;
	if ((r = set_message(c, "standard", device, ts)) != TSK_PAYLOAD_OK)
		return r;
	json_array_foreach(sensors, i, s)
		if ((r = standard_sensor(c, device, ts, i, s)) != TSK_PAYLOAD_OK)
			return r;
	return TSK_PAYLOAD_OK;
}

/* ---- SenML (RFC 8428) as Khomp LoRaWAN gateways send it ---- */

/* Base fields in effect; a later record may change bt, bu and bv for itself and the records after it
 * (RFC 8428 §4.1). A later bn is ignored: a Khomp pack is one device's, named by record 0. */
struct senml_base {
	const char *bn;
	double bt;
	const char *bu;
	double bv;
};

static const char *const senml_units[][2] = {
	{ "Cel", "celsius" }, { "%RH", "percent_rh" }, { "dBW", "dBW" }, { "W", "watt" }, { "V", "volt" },
	{ "A", "ampere" }, { "K", "kelvin" }, { "lx", "lux" }, { "m", "meter" }, { "kg", "kilogram" },
	{ "g", "gram" }, { "s", "second" }, { "Ohm", "ohm" }, { "m2", "square_meter" },
	{ "m3", "cubic_meter" }, { "l", "liter" }, { "m/s", "meters_per_second" },
	{ "m/s2", "meters_per_second_squared" }, { "m3/s", "cubic_meters_per_second" },
	{ "l/s", "liters_per_second" }, { "count", "count" }, { "%", "percent" },
	{ "%EL", "energy_level_percent" },
};

static const char *
senml_unit(const char *u)
{
	for (size_t i = 0; u != NULL && i < sizeof senml_units / sizeof senml_units[0]; i++)
		if (strcmp(u, senml_units[i][0]) == 0)
			return senml_units[i][1];
	return u; /* unknown units pass through */
}

static int
senml_is_info(const char *n)
{
	static const char *const info[] = { "model", "gateway", "version", "firmware", "hardware", "serial" };

	for (size_t i = 0; i < sizeof info / sizeof info[0]; i++)
		if (strcmp(n, info[i]) == 0)
			return 1;
	return 0;
}

static int
senml_has_value(json_t *rec)
{
	return json_object_get(rec, "v") != NULL || json_object_get(rec, "vs") != NULL ||
	    json_object_get(rec, "vb") != NULL;
}

/* Accepted: ≥ 2 records, record 0 has bn and bt, some later record has n and one of v, vs, vb. */
static int
senml_candidate(json_t *msg)
{
	json_t *r0 = json_array_get(msg, 0), *rec;
	size_t i;

	if (json_array_size(msg) < 2 || nonempty_str(json_object_get(r0, "bn")) == NULL ||
	    !json_is_number(json_object_get(r0, "bt")))
		return 0;
	json_array_foreach(msg, i, rec)
		if (i > 0 && json_is_string(json_object_get(rec, "n")) && senml_has_value(rec))
			return 1;
	return 0;
}

/* A DS18B20 probe is named by its 1-Wire address: 12 or 16 hex digits once ':' and '-' are removed. */
static int
senml_mac_like(const char *n)
{
	size_t hex = 0;

	for (; *n != '\0'; n++) {
		if (*n == ':' || *n == '-')
			continue;
		if (!((*n >= '0' && *n <= '9') || (*n >= 'a' && *n <= 'f') || (*n >= 'A' && *n <= 'F')))
			return 0;
		hex++;
	}
	return hex == 12 || hex == 16;
}

static char *
join3(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *s = malloc(la + lb + lc + 1);

	if (s != NULL) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb);
		memcpy(s + la + lb, c, lc + 1);
	}
	return s;
}

/* Khomp naming: the sensor_id (malloc'd, NULL when out of memory) and type of record n. */
static char *
senml_sensor(const char *bn, const char *n, const char *raw_unit, const char **type)
{
	static const char *const abc[][3] = {
		{ "Cel", "_temp", "temperature" }, { "%RH", "_humid", "humidity" }, { "count", "_count", "counter" },
	};
	char *prefix;

	if (strcmp(n, "rssi") == 0) {
		*type = "signal_strength";
		return join3(bn, "_", n);
	}
	if (senml_mac_like(n)) {
		*type = "temperature";
		return strdup(n);
	}
	if (strcmp(n, "A") == 0 || strcmp(n, "B") == 0 || strcmp(n, "C") == 0) {
		*type = "ambient";
		for (size_t i = 0; raw_unit != NULL && i < sizeof abc / sizeof abc[0]; i++) {
			if (strcmp(raw_unit, abc[i][0]) == 0) {
				char *id;
				*type = abc[i][2];
				if ((prefix = join3(bn, "_", n)) == NULL)
					return NULL;
				id = join3(prefix, abc[i][1], "");
				free(prefix);
				return id;
			}
		}
		return join3(bn, "_", n);
	}
	*type = strcmp(n, "C1") == 0 || strcmp(n, "C2") == 0 ? "binary_counter" : "unknown";
	return join3(bn, "_", n);
}

/* A record's time: t is added to bt (both seconds; bt above 1e12 is milliseconds), a t of 2^28 or more
 * is absolute, and a result below 2^28 is relative to the message's time (RFC 8428 §4.5.3). */
static int
senml_time(const struct ctx *c, double bt, json_t *t, int64_t *out)
{
	double base = bt > 1e12 ? bt / 1000.0 : bt, off = 0, when;
	int64_t now = c->has_env_ts ? c->env_ts_us : c->arrival_us;

	if (t != NULL && !json_is_null(t)) {
		if (!json_is_number(t))
			return -1;
		off = json_number_value(t);
	}
	if (off >= SENML_ABS)
		return secs_to_us(off > 1e12 ? off / 1000.0 : off, out);
	when = base + off;
	if (when >= SENML_ABS)
		return secs_to_us(when, out);
	if (!(fabs(when) < 1e12)) /* keeps when * 1e6 + now inside int64 */
		return -1;
	*out = now + (int64_t)llround(when * 1e6);
	return us_valid(*out) ? 0 : -1;
}

struct senml_value {
	double v;
	const char *type;     /* value_type label: numeric, string, boolean */
	const char *original; /* original_value label, or NULL */
};

/* v (number, plus bv) > vs (a float when it parses, else 0 and the original) > vb (1/0). 0 or skip. */
static int
senml_value(const struct senml_base *b, json_t *rec, struct senml_value *out)
{
	json_t *v = json_object_get(rec, "v"), *vs = json_object_get(rec, "vs"), *vb = json_object_get(rec, "vb");

	out->original = NULL;
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_number(v))
			return TSK_SKIP_NOT_NUMERIC;
		out->v = json_number_value(v) + b->bv;
		out->type = "numeric";
		return isfinite(out->v) ? 0 : TSK_SKIP_NOT_FINITE;
	}
	if (vs != NULL && !json_is_null(vs)) {
		if (!json_is_string(vs))
			return TSK_SKIP_NOT_NUMERIC;
		out->type = "string";
		if (parse_number(json_string_value(vs), &out->v) != 0) {
			out->v = 0;
			out->original = json_string_value(vs);
		}
		return 0;
	}
	if (vb != NULL && !json_is_null(vb)) {
		if (!json_is_boolean(vb))
			return TSK_SKIP_NOT_NUMERIC;
		out->type = "boolean";
		out->v = json_is_true(vb) ? 1 : 0;
		out->original = json_is_true(vb) ? "1" : "0";
		return 0;
	}
	return TSK_SKIP_NO_VALUE;
}

/* Info records describe the gateway; the first model and gateway seen are reported. */
static int
senml_info(struct ctx *c, const char *n, json_t *rec)
{
	const char *vs = nonempty_str(json_object_get(rec, "vs"));
	char **slot = strcmp(n, "model") == 0 ? &c->info->model : strcmp(n, "gateway") == 0 ?
	    &c->info->gateway_id : NULL;

	c->info->metadata++;
	if (slot != NULL && *slot == NULL && vs != NULL && (*slot = strdup(vs)) == NULL)
		return reject(c, TSK_PAYLOAD_NOMEM, "out of memory");
	return TSK_PAYLOAD_OK;
}

static json_t *
senml_labels(const char *n, const char *type, const struct senml_value *val, const char *raw_unit,
    const char *unit)
{
	json_t *l = json_object();

	if (l == NULL || set_str(l, "name", n) || set_str(l, "type", type) ||
	    set_str(l, "value_type", val->type) || set_str(l, "unit", unit) ||
	    set_str(l, "original_unit", raw_unit != NULL && strcmp(raw_unit, unit) != 0 ? raw_unit : NULL) ||
	    set_str(l, "original_value", val->original)) {
		json_decref(l);
		return NULL;
	}
	return l;
}

static void
senml_update_base(struct senml_base *b, json_t *rec)
{
	json_t *bt = json_object_get(rec, "bt"), *bv = json_object_get(rec, "bv");
	const char *bu = nonempty_str(json_object_get(rec, "bu"));

	if (json_is_number(bt))
		b->bt = json_number_value(bt);
	if (json_is_number(bv))
		b->bv = json_number_value(bv);
	if (bu != NULL)
		b->bu = bu;
}

static int
senml_record(struct ctx *c, struct senml_base *b, size_t i, json_t *rec)
{
	struct senml_value val;
	const char *n, *raw_unit, *type;
	char *sensor = NULL;
	json_t *labels = NULL;
	int64_t ts;
	int why, r = TSK_PAYLOAD_OK;

	if (!json_is_object(rec)) {
		skip(c, TSK_SKIP_NOT_OBJECT, i, NULL);
		return TSK_PAYLOAD_OK;
	}
	if (i > 0)
		senml_update_base(b, rec);
	if ((n = nonempty_str(json_object_get(rec, "n"))) == NULL) {
		if (senml_has_value(rec)) /* a record of base fields only is not a skipped reading */
			skip(c, TSK_SKIP_NO_NAME, i, NULL);
		return TSK_PAYLOAD_OK;
	}
	if (senml_is_info(n))
		return senml_info(c, n, rec);
	if ((why = senml_value(b, rec, &val)) != 0) {
		skip(c, why, i, n);
		return TSK_PAYLOAD_OK;
	}
	if (senml_time(c, b->bt, json_object_get(rec, "t"), &ts) != 0) {
		skip(c, TSK_SKIP_BAD_TIME, i, n);
		return TSK_PAYLOAD_OK;
	}
	if ((raw_unit = nonempty_str(json_object_get(rec, "u"))) == NULL)
		raw_unit = b->bu;
	if (raw_unit == NULL && strcmp(n, "rssi") == 0)
		raw_unit = "dBW";
	if ((sensor = senml_sensor(b->bn, n, raw_unit, &type)) == NULL ||
	    (labels = senml_labels(n, type, &val, raw_unit, senml_unit(raw_unit))) == NULL) {
		r = reject(c, TSK_PAYLOAD_NOMEM, "out of memory");
		goto cleanup;
	}
	r = emit(c, i, b->bn, sensor, ts, val.v, senml_unit(raw_unit), labels);
cleanup:
	free(sensor);
	json_decref(labels);
	return r;
}

static int
try_senml(struct ctx *c, json_t *msg)
{
	struct senml_base b;
	json_t *r0, *rec, *bv;
	int64_t base_us;
	size_t i;
	int r;

	if (!json_is_array(msg))
		return TSK_PAYLOAD_NO_FORMAT;
	if (!senml_candidate(msg)) {
		decline(c, "SenML: needs 2 or more records, bn and bt in the first, n and a value in another");
		return TSK_PAYLOAD_NO_FORMAT;
	}
	r0 = json_array_get(msg, 0);
	bv = json_object_get(r0, "bv");
	b.bn = nonempty_str(json_object_get(r0, "bn"));
	b.bt = json_number_value(json_object_get(r0, "bt"));
	b.bu = nonempty_str(json_object_get(r0, "bu"));
	b.bv = json_is_number(bv) ? json_number_value(bv) : 0;
	if (senml_time(c, b.bt, NULL, &base_us) != 0)
		return reject(c, TSK_PAYLOAD_BAD_TIME, "SenML bt is out of range");
	if ((r = set_message(c, "senml", b.bn, base_us)) != TSK_PAYLOAD_OK)
		return r;
	json_array_foreach(msg, i, rec)
		if ((r = senml_record(c, &b, i, rec)) != TSK_PAYLOAD_OK)
			return r;
	return TSK_PAYLOAD_OK;
}

/* ---- dispatch and entry points ---- */

static int
dispatch(struct ctx *c, json_t *msg)
{
	json_t *inner = NULL, *p;
	int r;

	/* An object with a payload key is one more envelope (a bridge, or a device wrapping its message):
	 * it is unwrapped once, and its client_id and time stand in for an outer envelope's. */
	if (json_is_object(msg) && (p = json_object_get(msg, "payload")) != NULL) {
		if ((r = envelope_meta(c, msg)) != TSK_PAYLOAD_OK || (r = payload_value(c, p, &inner)) != TSK_PAYLOAD_OK)
			return r;
		msg = inner;
	}
	if ((r = try_single(c, msg)) == TSK_PAYLOAD_NO_FORMAT && (r = try_standard(c, msg)) == TSK_PAYLOAD_NO_FORMAT &&
	    (r = try_senml(c, msg)) == TSK_PAYLOAD_NO_FORMAT)
		r = reject(c, TSK_PAYLOAD_NO_FORMAT, "%s", c->why[0] != '\0' ? c->why :
		    "neither a single value, a standard payload nor a SenML pack");
	json_decref(inner);
	return r;
}

int
tsk_payload_parse(const char *tenant_hint, const char *topic, const char *payload, size_t len,
    int64_t arrival_us, struct tsk_readings *out, struct tsk_payload_info *info, char *err, size_t errlen)
{
	struct tsk_payload_info local;
	struct tsk_topic t;
	struct ctx c;
	json_t *msg = NULL;
	int reason, rc;

	tsk_payload_info_init(&local);
	memset(&t, 0, sizeof t);
	ctx_init(&c, out, info != NULL ? info : &local, arrival_us);
	if ((reason = use_topic(&c, &t, topic, tenant_hint)) == TSK_PAYLOAD_OK &&
	    (reason = load_json(payload, len, TSK_PAYLOAD_MAX, &msg, c.info)) == TSK_PAYLOAD_OK)
		reason = dispatch(&c, msg);
	rc = finish(&c, reason, err, errlen);
	json_decref(msg);
	tsk_topic_free(&t);
	tsk_payload_info_free(&local);
	return rc;
}

int
tsk_payload_parse_envelope(const char *tenant_hint, json_t *env, int64_t arrival_us,
    struct tsk_readings *out, struct tsk_payload_info *info, char *err, size_t errlen)
{
	struct tsk_payload_info local;
	struct tsk_topic t;
	struct ctx c;
	json_t *msg = NULL, *topic = json_object_get(env, "topic");
	int reason, rc;

	tsk_payload_info_init(&local);
	memset(&t, 0, sizeof t);
	ctx_init(&c, out, info != NULL ? info : &local, arrival_us);
	/* The order is POST /ingest's (CONTRACT.md §4): topic, then payload, then format. */
	if (!json_is_object(env))
		reason = reject(&c, TSK_PAYLOAD_NOT_OBJECT, "the envelope is not a JSON object");
	else if (!json_is_string(topic) || json_string_length(topic) == 0)
		reason = reject(&c, TSK_PAYLOAD_NO_TOPIC, "the envelope has no topic string");
	else if (strlen(json_string_value(topic)) != json_string_length(topic))
		reason = reject(&c, TSK_PAYLOAD_BAD_TOPIC, "NUL byte in topic");
	else if ((reason = use_topic(&c, &t, json_string_value(topic), tenant_hint)) == TSK_PAYLOAD_OK &&
	    (reason = payload_value(&c, json_object_get(env, "payload"), &msg)) == TSK_PAYLOAD_OK &&
	    (reason = envelope_meta(&c, env)) == TSK_PAYLOAD_OK)
		reason = dispatch(&c, msg);
	rc = finish(&c, reason, err, errlen);
	json_decref(msg);
	tsk_topic_free(&t);
	tsk_payload_info_free(&local);
	return rc;
}

/* A normalized reading (reading.h) has these at the top level and no payload or sensors. */
static int
is_reading(json_t *obj)
{
	return json_object_get(obj, "device_id") != NULL && json_object_get(obj, "sensor_id") != NULL &&
	    json_object_get(obj, "ts") != NULL && json_object_get(obj, "value") != NULL &&
	    json_object_get(obj, "payload") == NULL && json_object_get(obj, "sensors") == NULL;
}

/* Input lines are the operator's own data, so a reading may name its tenant; --tenant, when given, must
 * agree with it. */
static int
reading_line(struct ctx *c, const char *tenant, json_t *obj)
{
	json_t *jt = json_object_get(obj, "tenant");
	const char *slug = tenant;
	char why[TSK_ERRLEN];
	struct tsk_reading *r;
	int rc;

	if (jt != NULL && !json_is_null(jt)) {
		if (!json_is_string(jt))
			return reject(c, TSK_PAYLOAD_BAD_READING, "\"tenant\" must be a string");
		if (tenant != NULL && strcmp(tenant, json_string_value(jt)) != 0)
			return reject(c, TSK_PAYLOAD_TENANT_MISMATCH, "reading names tenant \"%.64s\", expected \"%.64s\"",
			    json_string_value(jt), tenant);
		slug = json_string_value(jt);
	}
	if (slug == NULL || !tsk_topic_slug_valid(slug))
		return reject(c, TSK_PAYLOAD_BAD_READING, "no valid tenant slug");
	memcpy(c->info->tenant, slug, strlen(slug) + 1);
	if ((rc = tsk_reading_from_json(obj, slug, c->out, why, sizeof why)) != TSK_OK)
		return reject(c, rc == TSK_EINVAL ? TSK_PAYLOAD_BAD_READING : TSK_PAYLOAD_NOMEM, "%s", why);
	r = &c->out->v[c->out->n - 1];
	if (!us_valid(r->ts_us))
		return reject(c, TSK_PAYLOAD_BAD_READING, "ts out of range");
	return set_message(c, "reading", r->device_id, r->ts_us);
}

int
tsk_payload_parse_line(const char *tenant, const char *line, size_t len, int64_t arrival_us,
    struct tsk_readings *out, struct tsk_payload_info *info, char *err, size_t errlen)
{
	struct tsk_payload_info local;
	struct ctx c;
	json_t *obj = NULL;
	int reason, rc;

	tsk_payload_info_init(&local);
	ctx_init(&c, out, info != NULL ? info : &local, arrival_us);
	reason = load_json(line, len, TSK_ENVELOPE_MAX, &obj, c.info);
	if (reason == TSK_PAYLOAD_OK && json_is_object(obj) && !is_reading(obj)) {
		rc = tsk_payload_parse_envelope(tenant, obj, arrival_us, out, info, err, errlen);
		json_decref(obj);
		return rc;
	}
	if (reason == TSK_PAYLOAD_OK)
		reason = json_is_object(obj) ? reading_line(&c, tenant, obj) :
		    reject(&c, TSK_PAYLOAD_NOT_OBJECT, "an input line must be a JSON object");
	rc = finish(&c, reason, err, errlen);
	json_decref(obj);
	tsk_payload_info_free(&local);
	return rc;
}
