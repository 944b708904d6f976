/* The single value payload (tsk-formats(5)): topic form 1 with a bare number or {"value": ...}. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/payload_impl.h"
#include "core/tsk.h"

/* Topic form 1 with a bare number, or an object with "value" (number, numeric string, boolean). */
int
tsk_pl_try_single(struct ctx *c, json_t *msg)
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
			return tsk_pl_reject(c, TSK_PAYLOAD_NOMEM, "out of memory");
	} else if (json_is_object(msg) && json_object_get(msg, "value") != NULL) {
		if ((why = tsk_pl_coerce_value(json_object_get(msg, "value"), &value)) != 0) {
			tsk_pl_decline(c, "single value: %s", tsk_payload_skip_str(why));
			return TSK_PAYLOAD_NO_FORMAT;
		}
		if ((r = tsk_pl_message_time(c, msg, &ts)) != TSK_PAYLOAD_OK)
			return r;
		if ((labels = tsk_pl_sensor_labels(msg)) == NULL)
			return tsk_pl_reject(c, TSK_PAYLOAD_NOMEM, "out of memory");
	} else {
		return TSK_PAYLOAD_NO_FORMAT;
	}
	if ((r = tsk_pl_set_message(c, "single", c->topic->device_id, ts)) == TSK_PAYLOAD_OK)
		r = tsk_pl_emit(c, 0, c->topic->device_id, c->topic->sensor_id, ts, value,
		    json_is_object(msg) ? tsk_pl_unit_of(msg, labels) : NULL, labels);
	json_decref(labels);
	return r;
}
