/*
 * The payload parsers (tsk-formats(5)): MQTT topic + payload bytes, or an EMQX / mosquitto_sub envelope,
 * or a tsk-ingest input line, in; normalized readings (reading.h) out.
 *
 * Formats are tried in the order single value → standard → SenML and the first that accepts the payload
 * wins. The tenant of every reading is the topic's slug: nothing in a payload can choose it.
 *
 * Every entry point appends to `out` (so a caller can batch several messages into one list) and appends
 * nothing when it rejects the message. Rejections return TSK_EINVAL and put the reason's stable string
 * (tsk_payload_reason_str) in `err`; info->reason holds the code and info->detail a longer explanation for
 * logs. A message that is accepted but yields no readings (every sensor skipped) is TSK_OK with
 * info->readings == 0. Out of memory is TSK_EFAIL with reason TSK_PAYLOAD_NOMEM.
 *
 * Numeric strings are read with strtod(), so the process must keep LC_NUMERIC as "C" (the default unless
 * the program calls setlocale for it).
 */
#ifndef TSK_PAYLOAD_H
#define TSK_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "model/reading.h"
#include "model/topic.h"

/* The largest MQTT payload (or payload string inside an envelope) we parse. */
#define TSK_PAYLOAD_MAX (1024 * 1024)
/* The largest envelope or input line: a 1 MiB payload carried as a JSON string can grow when escaped. */
#define TSK_ENVELOPE_MAX (4 * TSK_PAYLOAD_MAX)

/* The most sensors (standard payload) or records (SenML pack) one message may hold; a message with more
 * is rejected whole ("too many records"). 1 MiB of standard payload holds about 28 000 minimal sensors;
 * no device sends more than a few hundred. */
#define TSK_PAYLOAD_MAX_RECORDS 10000

/* Why a message was rejected. The strings (tsk_payload_reason_str) are stable: they are dead-letter
 * reasons and counter labels. */
enum tsk_payload_reason {
	TSK_PAYLOAD_OK = 0,          /* "ok" */
	TSK_PAYLOAD_BAD_TOPIC,       /* "bad topic": not tenants/{valid slug}/..., or a form with an empty id */
	TSK_PAYLOAD_TENANT_MISMATCH, /* "tenant mismatch": the topic's slug is not the tenant the caller expects */
	TSK_PAYLOAD_TOO_LARGE,       /* "payload too large": over TSK_PAYLOAD_MAX (lines: TSK_ENVELOPE_MAX) */
	TSK_PAYLOAD_EMPTY,           /* "payload empty": missing, null, "" or only white space */
	TSK_PAYLOAD_NOT_JSON,        /* "not json": includes invalid UTF-8, NUL bytes and numbers like 1e999 */
	TSK_PAYLOAD_NOT_OBJECT,      /* "not an object": an envelope or input line that is not a JSON object */
	TSK_PAYLOAD_NO_TOPIC,        /* "no topic": an envelope without a topic string */
	TSK_PAYLOAD_NO_DEVICE,       /* "no device_id": standard payload without device_id or client_id */
	TSK_PAYLOAD_BAD_TIME,        /* "bad timestamp": a message time that is not a valid time */
	TSK_PAYLOAD_NO_FORMAT,       /* "no format accepts the payload" */
	TSK_PAYLOAD_BAD_READING,     /* "bad reading": an invalid normalized reading on an input line */
	TSK_PAYLOAD_NOMEM,           /* "out of memory" (returned as TSK_EFAIL) */
	TSK_PAYLOAD_TOO_MANY,        /* "too many records": more than TSK_PAYLOAD_MAX_RECORDS sensors or SenML
	                              * records in one message */
	TSK_PAYLOAD_NREASONS
};

/* Why one sensor or SenML record of an accepted message produced no reading. */
enum tsk_payload_skip {
	TSK_SKIP_NOT_OBJECT,  /* "not an object" */
	TSK_SKIP_NO_ID,       /* "no sensor_id": standard sensor without a non-empty string sensor_id */
	TSK_SKIP_NO_NAME,     /* "no name": SenML record with a value but no non-empty string n */
	TSK_SKIP_NULL_VALUE,  /* "null value": standard sensor whose value is null or missing */
	TSK_SKIP_NO_VALUE,    /* "no value": SenML record with n but no v, vs or vb */
	TSK_SKIP_NOT_NUMERIC, /* "non-numeric value": a string that is not a number, an object, ... */
	TSK_SKIP_NOT_FINITE,  /* "non-finite value": "NaN", "Infinity", "1e999", or v + bv overflowing */
	TSK_SKIP_BAD_TIME,    /* "bad time": SenML record whose t is not a number or is out of range */
	TSK_SKIP_DUPLICATE,   /* "duplicate": same (device, sensor, ts) as an earlier one: the first wins */
	TSK_SKIP_NREASONS
};

/* What a parse found. Initialize once with tsk_payload_info_init(); each parse call resets it (freeing
 * the strings of the previous call); release with tsk_payload_info_free(). Every pointer may be NULL. */
struct tsk_payload_info {
	enum tsk_payload_reason reason; /* TSK_PAYLOAD_OK when accepted */
	const char *format;   /* static: "single", "standard", "senml", "reading"; NULL when rejected */
	char tenant[TSK_SLUG_MAX + 1]; /* the topic's slug, "" when not known */
	char *device_id;      /* owned; the message's device (for "reading": the first reading's) */
	int has_ts;
	int64_t ts_us;        /* the message time (SenML: the base time), when has_ts */
	char *gateway_id;     /* owned; SenML "gateway" info record */
	char *model;          /* owned; SenML "model" info record */
	size_t readings;      /* readings appended to `out` */
	size_t skipped;       /* sensors / records skipped; the sum of skips[] */
	size_t skips[TSK_SKIP_NREASONS];
	size_t metadata;      /* SenML info records (model, gateway, version, ...) */
	size_t dedup_probes;  /* slots the per-message duplicate table looked at: about 1.5 per reading with
	                       * any ids (the table's hash is keyed per process); for tests */
	char detail[200];     /* why it was rejected, or what the first skip was; "" when nothing to say */
};

void tsk_payload_info_init(struct tsk_payload_info *info);
void tsk_payload_info_free(struct tsk_payload_info *info);

/* Stable strings for the enums ("?" for a value out of range). */
const char *tsk_payload_reason_str(enum tsk_payload_reason reason);
const char *tsk_payload_skip_str(enum tsk_payload_skip skip);
/* The reason code of a reason string (as put in `err` by a rejection), or -1 when it is none. */
int tsk_payload_reason_of(const char *reason);

/* {"format", "tenant", "device_id", "timestamp", "readings", "skipped", "skips": {reason: n},
 * "gateway_id", "model"} with the keys that are known (a new reference, NULL when out of memory). */
json_t *tsk_payload_info_to_json(const struct tsk_payload_info *info);

/*
 * An MQTT message: `topic` as delivered and `len` payload bytes. `tenant_hint`, when not NULL, is the
 * tenant the caller expects (the x-tenant header); a topic naming another is TSK_PAYLOAD_TENANT_MISMATCH.
 * `arrival_us` is the time of the message when neither the payload nor an envelope carries one.
 * `info` may be NULL.
 */
int tsk_payload_parse(const char *tenant_hint, const char *topic, const char *payload, size_t len,
    int64_t arrival_us, struct tsk_readings *out, struct tsk_payload_info *info, char *err, size_t errlen);

/*
 * A whole envelope object: EMQX's HTTP action body {"client_id", "topic", "payload", "ts"} (ts in
 * milliseconds; "clientid" is accepted too) or what `mosquitto_sub -F %J` (or %j) prints
 * {"tst", "topic", "qos", "retain", "payloadlen", "payload"}. The payload may be an object, an array, a
 * number, or a JSON string holding one. The envelope's time is used only when the payload carries none.
 * The object must not hold strings with NUL bytes (load it with tsk_payload_load()).
 */
int tsk_payload_parse_envelope(const char *tenant_hint, json_t *env, int64_t arrival_us,
    struct tsk_readings *out, struct tsk_payload_info *info, char *err, size_t errlen);

/*
 * One tsk-ingest input line: an envelope as above, or an already-normalized reading (reading.h), told
 * apart by "device_id", "sensor_id", "ts" and "value" at the top level with no "payload" or "sensors".
 * `tenant` (the --tenant option, may be NULL) is the hint for envelopes and the tenant of readings that
 * carry none; a reading naming another tenant is TSK_PAYLOAD_TENANT_MISMATCH. Lines over
 * TSK_ENVELOPE_MAX bytes are TSK_PAYLOAD_TOO_LARGE.
 */
int tsk_payload_parse_line(const char *tenant, const char *line, size_t len, int64_t arrival_us,
    struct tsk_readings *out, struct tsk_payload_info *info, char *err, size_t errlen);

/*
 * Loads `len` bytes of JSON the way the parsers do (strict UTF-8, no NUL bytes, integers too big for
 * int64 read as reals). For callers that inspect a body before parsing it, such as tsk-httpd's
 * /ingest checks. TSK_OK with *out a new reference, or TSK_EINVAL with `err` one of "payload too large"
 * (over `max` bytes), "payload empty", "not json". `info` may be NULL.
 */
int tsk_payload_load(const char *buf, size_t len, size_t max, json_t **out, struct tsk_payload_info *info,
    char *err, size_t errlen);

#endif
