/* The standard payload (tsk-formats(5)): {"device_id", "timestamp", "sensors": [{"sensor_id", "value", ...}]},
 * and the helpers a single value's object shares with a standard sensor. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/payload_impl.h"
#include "core/tsk.h"

/* The message time of a single or standard payload: "timestamp" (RFC 3339, naive is UTC) > "ts"
 * (milliseconds, see ts_to_us) > the envelope's time > arrival. */
int
tsk_pl_message_time(struct ctx *c, json_t *msg, int64_t *out)
{
	json_t *stamp = json_object_get(msg, "timestamp"), *ts = json_object_get(msg, "ts");

	if (stamp != NULL && !json_is_null(stamp)) {
		int r = json_is_string(stamp) ? tsk_pl_rfc3339_to_us(json_string_value(stamp), out) : -1;
		if (r == -2)
			return tsk_pl_reject(c, TSK_PAYLOAD_BAD_TIME, "\"timestamp\" is before 1970 (or after 9999)");
		if (r != 0)
			return tsk_pl_reject(c, TSK_PAYLOAD_BAD_TIME, "\"timestamp\" is not an RFC 3339 time");
	} else if (ts != NULL && !json_is_null(ts)) {
		if (tsk_pl_ts_to_us(ts, out) != 0)
			return tsk_pl_reject(c, TSK_PAYLOAD_BAD_TIME, "\"ts\" is neither milliseconds nor RFC 3339 "
			    "between 1970 and 9999");
	} else {
		*out = c->has_env_ts ? c->env_ts_us : c->arrival_us;
	}
	return TSK_PAYLOAD_OK;
}

/* "labels" when it is an object (a copy: readings must not share the input tree) or {}, then unit, type,
 * location and description from the sensor's top level where labels lacks them. A reading has one unit:
 * labels.unit when it is a non-empty string (labels win, as in the original), else the top-level unit,
 * which then replaces whatever else labels.unit held; tsk_pl_unit_of reads it back from labels.
 * NULL if out of memory. */
json_t *
tsk_pl_sensor_labels(json_t *s)
{
	static const char *const copied[] = { "unit", "type", "location", "description" };
	json_t *given = json_object_get(s, "labels");
	json_t *labels = json_is_object(given) ? json_deep_copy(given) : json_object();

	for (size_t i = 0; labels != NULL && i < sizeof copied / sizeof copied[0]; i++) {
		json_t *v = json_object_get(s, copied[i]), *have = json_object_get(labels, copied[i]);
		if (v == NULL || json_is_null(v))
			continue;
		if (have != NULL && !(i == 0 && nonempty_str(have) == NULL && nonempty_str(v) != NULL))
			continue;
		if (json_object_set_new(labels, copied[i], json_deep_copy(v)) != 0) {
			json_decref(labels);
			labels = NULL;
		}
	}
	return labels;
}

/* The reading's unit: labels.unit as tsk_pl_sensor_labels left it (s is not consulted again, so the
 * column and the label cannot disagree). */
const char *
tsk_pl_unit_of(json_t *s, json_t *labels)
{
	(void)s;
	return nonempty_str(json_object_get(labels, "unit"));
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
		tsk_pl_skip(c, TSK_SKIP_NOT_OBJECT, i, NULL);
		return TSK_PAYLOAD_OK;
	}
	if ((id = nonempty_str(json_object_get(s, "sensor_id"))) == NULL) {
		tsk_pl_skip(c, TSK_SKIP_NO_ID, i, NULL);
		return TSK_PAYLOAD_OK;
	}
	/* A non-numeric value loses this sensor only, not the whole message (the original lost both). */
	if ((why = tsk_pl_coerce_value(json_object_get(s, "value"), &value)) != 0) {
		tsk_pl_skip(c, why, i, id);
		return TSK_PAYLOAD_OK;
	}
	if ((labels = tsk_pl_sensor_labels(s)) == NULL)
		return tsk_pl_reject(c, TSK_PAYLOAD_NOMEM, "out of memory");
	r = tsk_pl_emit(c, i, device, id, ts, value, tsk_pl_unit_of(s, labels), labels);
	json_decref(labels);
	return r;
}

int
tsk_pl_try_standard(struct ctx *c, json_t *msg)
{
	json_t *sensors = json_object_get(msg, "sensors"), *s;
	const char *device;
	int64_t ts;
	size_t i;
	int r;

	if (!json_is_array(sensors))
		return TSK_PAYLOAD_NO_FORMAT;
	if (!standard_candidate(sensors)) {
		tsk_pl_decline(c, "standard: no sensor has a sensor_id and a value");
		return TSK_PAYLOAD_NO_FORMAT;
	}
	if (json_array_size(sensors) > TSK_PAYLOAD_MAX_RECORDS)
		return tsk_pl_reject(c, TSK_PAYLOAD_TOO_MANY, "%zu sensors, the limit is %d", json_array_size(sensors),
		    TSK_PAYLOAD_MAX_RECORDS);
	if ((device = nonempty_str(json_object_get(msg, "device_id"))) == NULL)
		device = c->client_id;
	if (device == NULL)
		return tsk_pl_reject(c, TSK_PAYLOAD_NO_DEVICE, "no device_id in the payload and no client_id");
	if ((r = tsk_pl_message_time(c, msg, &ts)) != TSK_PAYLOAD_OK)
		return r;
	if ((r = tsk_pl_set_message(c, "standard", device, ts)) != TSK_PAYLOAD_OK)
		return r;
	json_array_foreach(sensors, i, s)
		if ((r = standard_sensor(c, device, ts, i, s)) != TSK_PAYLOAD_OK)
			return r;
	return TSK_PAYLOAD_OK;
}
