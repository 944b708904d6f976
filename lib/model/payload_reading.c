/* A normalized reading (reading.h) on an input line of tsk-ingest stdin (tsk_payload_parse_line). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/payload_impl.h"
#include "core/tsk.h"

/* A normalized reading (reading.h) has these at the top level and no payload or sensors. */
int
tsk_pl_is_reading(json_t *obj)
{
	return json_object_get(obj, "device_id") != NULL && json_object_get(obj, "sensor_id") != NULL &&
	    json_object_get(obj, "ts") != NULL && json_object_get(obj, "value") != NULL &&
	    json_object_get(obj, "payload") == NULL && json_object_get(obj, "sensors") == NULL;
}

/* Input lines are the operator's own data, so a reading may name its tenant; --tenant, when given, must
 * agree with it. */
int
tsk_pl_reading_line(struct ctx *c, const char *tenant, json_t *obj)
{
	json_t *jt = json_object_get(obj, "tenant");
	const char *slug = tenant;
	char why[TSK_ERRLEN];
	struct tsk_reading *r;
	int rc;

	if (jt != NULL && !json_is_null(jt)) {
		if (!json_is_string(jt))
			return tsk_pl_reject(c, TSK_PAYLOAD_BAD_READING, "\"tenant\" must be a string");
		if (tenant != NULL && strcmp(tenant, json_string_value(jt)) != 0)
			return tsk_pl_reject(c, TSK_PAYLOAD_TENANT_MISMATCH, "reading names tenant \"%.64s\", expected \"%.64s\"",
			    json_string_value(jt), tenant);
		slug = json_string_value(jt);
	}
	if (slug == NULL || !tsk_topic_slug_valid(slug))
		return tsk_pl_reject(c, TSK_PAYLOAD_BAD_READING, "no valid tenant slug");
	memcpy(c->info->tenant, slug, strlen(slug) + 1);
	if ((rc = tsk_reading_from_json(obj, slug, c->out, why, sizeof why)) != TSK_OK)
		return tsk_pl_reject(c, rc == TSK_EINVAL ? TSK_PAYLOAD_BAD_READING : TSK_PAYLOAD_NOMEM, "%s", why);
	r = &c->out->v[c->out->n - 1];
	if (!us_valid(r->ts_us))
		return tsk_pl_reject(c, TSK_PAYLOAD_BAD_TIME, "ts before 1970 (or after 9999)");
	return tsk_pl_set_message(c, "reading", r->device_id, r->ts_us);
}
