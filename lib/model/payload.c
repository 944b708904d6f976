/*
 * The payload parsers (tsk-formats(5), PAYLOAD FORMATS): what every format shares, and the entry points. One file per
 * format:
 *   payload.c           this file: strings for the enums, info; numbers and times; the per-message
 *                       context (rejections, skips, de-duplication, emitting readings); loading JSON,
 *                       envelopes and wrappers; dispatch to the formats and the entry points
 *   payload_single.c    a single value (topic form 1: a bare number or {"value": ...})
 *   payload_standard.c  the standard payload ({"device_id", "sensors": [...]})
 *   payload_senml.c     SenML packs (RFC 8428) as Khomp LoRaWAN gateways send them
 *   payload_reading.c   a normalized reading (reading.h) on an input line of tsk-ingest stdin
 *   payload_impl.h      what the files share (the context struct, the tsk_pl_* helpers)
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "model/payload_impl.h"
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
	[TSK_PAYLOAD_TOO_MANY] = "too many records",
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

int
tsk_pl_set_str(json_t *obj, const char *key, const char *val)
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
	bad |= tsk_pl_set_str(o, "format", info->format);
	bad |= tsk_pl_set_str(o, "tenant", info->tenant[0] != '\0' ? info->tenant : NULL);
	bad |= tsk_pl_set_str(o, "device_id", info->device_id);
	bad |= tsk_pl_set_str(o, "timestamp", info->has_ts ? tsk_time_format(info->ts_us, ts) : NULL);
	bad |= json_object_set_new(o, "readings", json_integer((json_int_t)info->readings));
	bad |= json_object_set_new(o, "skipped", json_integer((json_int_t)info->skipped));
	bad |= json_object_set(o, "skips", skips);
	bad |= tsk_pl_set_str(o, "gateway_id", info->gateway_id);
	bad |= tsk_pl_set_str(o, "model", info->model);
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

int
tsk_pl_secs_to_us(double s, int64_t *out)
{
	if (!(s >= MIN_S && s < END_S)) /* also false for NaN */
		return -1;
	*out = (int64_t)llround(s * 1e6);
	return us_valid(*out) ? 0 : -1;
}

static int
ms_to_us(double ms, int64_t *out)
{
	return tsk_pl_secs_to_us(ms / 1000.0, out);
}

int
tsk_pl_rfc3339_to_us(const char *s, int64_t *out)
{
	if (tsk_time_parse_rfc3339(s, out) != TSK_OK)
		return -1;
	return us_valid(*out) ? 0 : -2;
}

/* A "ts": milliseconds as a number or a numeric string (an EMQX body template may quote it), or an
 * RFC 3339 string. */
int
tsk_pl_ts_to_us(json_t *ts, int64_t *out)
{
	double ms;

	if (json_is_number(ts))
		return ms_to_us(json_number_value(ts), out);
	if (!json_is_string(ts))
		return -1;
	if (tsk_pl_rfc3339_to_us(json_string_value(ts), out) == 0)
		return 0;
	return tsk_pl_parse_number(json_string_value(ts), &ms) == 0 ? ms_to_us(ms, out) : -1;
}

/*
 * A numeric string, in plain decimal notation only: Python's float() (which the original used) also takes
 * "nan", "inf" and "1_000", and strtod() takes hex; none of those may reach the database.
 * Returns 0, or the skip reason.
 */
int
tsk_pl_parse_number(const char *s, double *out)
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
int
tsk_pl_coerce_value(json_t *v, double *out)
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
		return tsk_pl_parse_number(json_string_value(v), out);
	return TSK_SKIP_NOT_NUMERIC;
}

/* ---- the per-message context ---- */

/* The de-duplication table's hash is keyed (SipHash-2-4, libsodium's crypto_shorthash) with a random
 * key drawn once per process: the sensor ids of a message are the sender's choice, and with an unkeyed
 * hash (FNV-1a, before) a sender could pick ids that all land in one probe chain and make a single
 * message cost quadratic time. */
static unsigned char dedup_key[crypto_shorthash_KEYBYTES];
static pthread_once_t dedup_once = PTHREAD_ONCE_INIT;

static void
dedup_key_init(void)
{
	/* sodium_init() fails only when no random source can be opened: aborting beats a predictable key. */
	if (sodium_init() < 0)
		abort();
	randombytes_buf(dedup_key, sizeof dedup_key);
}


static void
ctx_init(struct ctx *c, struct tsk_readings *out, struct tsk_payload_info *info, int64_t arrival_us)
{
	pthread_once(&dedup_once, dedup_key_init);
	memset(c, 0, sizeof *c);
	c->out = out;
	c->n0 = out->n;
	c->info = info;
	c->arrival_us = arrival_us;
	tsk_payload_info_free(info);
}

int
tsk_pl_reject(struct ctx *c, int reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->info->detail, sizeof c->info->detail, fmt, ap);
	va_end(ap);
	return reason;
}

void
tsk_pl_decline(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->why[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof c->why, fmt, ap);
	va_end(ap);
}

void
tsk_pl_skip(struct ctx *c, int why, size_t index, const char *name)
{
	c->info->skips[why]++;
	c->info->skipped++;
	if (c->info->detail[0] == '\0')
		snprintf(c->info->detail, sizeof c->info->detail, "item %zu%s%.80s%s skipped: %s", index,
		    name != NULL ? " (" : "", name != NULL ? name : "", name != NULL ? ")" : "", skip_strs[why]);
}

/* Records what the accepted format says about the message as a whole. */
int
tsk_pl_set_message(struct ctx *c, const char *format, const char *device_id, int64_t ts_us)
{
	c->info->format = format;
	c->info->has_ts = 1;
	c->info->ts_us = ts_us;
	free(c->info->device_id);
	if ((c->info->device_id = strdup(device_id)) == NULL)
		return tsk_pl_reject(c, TSK_PAYLOAD_NOMEM, "out of memory");
	return TSK_PAYLOAD_OK;
}

static size_t
dedup_hash(const char *device, const char *sensor, int64_t ts)
{
	unsigned char buf[256], out[crypto_shorthash_BYTES];
	size_t ld = strlen(device), ls = strlen(sensor);
	uint64_t h, t = (uint64_t)ts;

	if (ld + ls + 2 + sizeof t <= sizeof buf) {
		/* device NUL sensor NUL ts: the NULs keep ("ab", "c") apart from ("a", "bc"). */
		memcpy(buf, device, ld + 1);
		memcpy(buf + ld + 1, sensor, ls + 1);
		memcpy(buf + ld + ls + 2, &t, sizeof t);
		crypto_shorthash(out, buf, ld + ls + 2 + sizeof t, dedup_key);
	} else {
		/* Long ids: each part hashed on its own, then the three hashes together. */
		crypto_shorthash(buf, (const unsigned char *)device, ld, dedup_key);
		crypto_shorthash(buf + 8, (const unsigned char *)sensor, ls, dedup_key);
		memcpy(buf + 16, &t, sizeof t);
		crypto_shorthash(out, buf, 24, dedup_key);
	}
	memcpy(&h, out, sizeof h);
	return (size_t)h;
}

/* The slot of (device, sensor, ts) in the table: where it is, or the empty slot where it would go. */
static size_t
dedup_slot(const struct ctx *c, const char *device, const char *sensor, int64_t ts)
{
	size_t i = dedup_hash(device, sensor, ts) & (c->dedup_cap - 1);

	c->info->dedup_probes++;
	while (c->dedup[i] != 0) {
		const struct tsk_reading *r = &c->out->v[c->dedup[i] - 1];
		if (r->ts_us == ts && strcmp(r->sensor_id, sensor) == 0 && strcmp(r->device_id, device) == 0)
			break;
		i = (i + 1) & (c->dedup_cap - 1);
		c->info->dedup_probes++;
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
int
tsk_pl_emit(struct ctx *c, size_t index, const char *device, const char *sensor, int64_t ts, double value,
    const char *unit, json_t *labels)
{
	size_t slot;

	if ((c->dedup_n + 1) * 2 > c->dedup_cap && dedup_grow(c) != 0)
		return tsk_pl_reject(c, TSK_PAYLOAD_NOMEM, "out of memory");
	slot = dedup_slot(c, device, sensor, ts);
	if (c->dedup[slot] != 0) {
		tsk_pl_skip(c, TSK_SKIP_DUPLICATE, index, sensor);
		return TSK_PAYLOAD_OK;
	}
	if (tsk_readings_add(c->out, c->topic->slug, device, sensor, ts, value, unit, labels, c->topic->site,
	    c->topic->asset_tag) == NULL)
		return tsk_pl_reject(c, TSK_PAYLOAD_NOMEM, "out of memory");
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
		return tsk_pl_reject(c, TSK_PAYLOAD_NOMEM, "out of memory");
	if (rc != TSK_OK)
		return tsk_pl_reject(c, TSK_PAYLOAD_BAD_TOPIC, "%s", why);
	c->topic = t;
	memcpy(c->info->tenant, t->slug, sizeof t->slug);
	if (hint != NULL && strcmp(hint, t->slug) != 0)
		return tsk_pl_reject(c, TSK_PAYLOAD_TENANT_MISMATCH, "topic names tenant \"%s\", expected \"%.64s\"",
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
		return tsk_pl_reject(c, TSK_PAYLOAD_EMPTY, "the envelope has no payload");
	if (json_is_string(p))
		return load_json(json_string_value(p), json_string_length(p), TSK_PAYLOAD_MAX, out, c->info);
	if (has_nul(p, 0))
		return tsk_pl_reject(c, TSK_PAYLOAD_NOT_JSON, "NUL byte in the payload");
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
		return tsk_pl_rfc3339_to_us(s, out);
	memcpy(buf, s, (size_t)(z - s));
	strcpy(buf + (z - s), z + 1);
	return tsk_pl_rfc3339_to_us(buf, out);
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
		bad = !json_is_string(stamp) || tsk_pl_rfc3339_to_us(json_string_value(stamp), &c->env_ts_us) != 0;
	else if (ts != NULL && !json_is_null(ts))
		bad = tsk_pl_ts_to_us(ts, &c->env_ts_us) != 0;
	else if (tst != NULL && !json_is_null(tst))
		bad = !json_is_string(tst) || tst_to_us(json_string_value(tst), &c->env_ts_us) != 0;
	else
		return TSK_PAYLOAD_OK;
	if (bad)
		return tsk_pl_reject(c, TSK_PAYLOAD_BAD_TIME, "invalid envelope time");
	c->has_env_ts = 1;
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
	if ((r = tsk_pl_try_single(c, msg)) == TSK_PAYLOAD_NO_FORMAT && (r = tsk_pl_try_standard(c, msg)) == TSK_PAYLOAD_NO_FORMAT &&
	    (r = tsk_pl_try_senml(c, msg)) == TSK_PAYLOAD_NO_FORMAT)
		r = tsk_pl_reject(c, TSK_PAYLOAD_NO_FORMAT, "%s", c->why[0] != '\0' ? c->why :
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
	/* The order is the HTTP ingest contract's: topic, then payload, then format. */
	if (!json_is_object(env))
		reason = tsk_pl_reject(&c, TSK_PAYLOAD_NOT_OBJECT, "the envelope is not a JSON object");
	else if (!json_is_string(topic) || json_string_length(topic) == 0)
		reason = tsk_pl_reject(&c, TSK_PAYLOAD_NO_TOPIC, "the envelope has no topic string");
	else if (strlen(json_string_value(topic)) != json_string_length(topic))
		reason = tsk_pl_reject(&c, TSK_PAYLOAD_BAD_TOPIC, "NUL byte in topic");
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
	if (reason == TSK_PAYLOAD_OK && json_is_object(obj) && !tsk_pl_is_reading(obj)) {
		rc = tsk_payload_parse_envelope(tenant, obj, arrival_us, out, info, err, errlen);
		json_decref(obj);
		return rc;
	}
	if (reason == TSK_PAYLOAD_OK)
		reason = json_is_object(obj) ? tsk_pl_reading_line(&c, tenant, obj) :
		    tsk_pl_reject(&c, TSK_PAYLOAD_NOT_OBJECT, "an input line must be a JSON object");
	rc = finish(&c, reason, err, errlen);
	json_decref(obj);
	tsk_payload_info_free(&local);
	return rc;
}

