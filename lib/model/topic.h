/*
 * MQTT topics (tsk-formats(5), MQTT TOPICS). Every topic we accept starts `tenants/{slug}/`; the slug is the only
 * thing that decides a message's tenant. The forms:
 *   1  tenants/{slug}/devices/{device_id}/sensors/{sensor_id}       one reading per message
 *   2  tenants/{slug}/sites/{site}/assets/{asset_tag}/telemetry     site percent-decoded, tag as is
 *   3  tenants/{slug}/assets/{asset_tag}/telemetry                  legacy, site unknown
 *      and any other tenants/{slug}[/...]                           no device, site or asset from the topic
 */
#ifndef TSK_TOPIC_H
#define TSK_TOPIC_H

#include <stddef.h>

#include "core/tsk.h"


enum tsk_topic_form {
	TSK_TOPIC_SENSOR = 1, /* form 1 */
	TSK_TOPIC_SITE = 2,   /* form 2 */
	TSK_TOPIC_OTHER = 3   /* form 3: legacy asset topic or anything else under the tenant */
};

/*
 * A parsed topic. The string pointers point into `buf`, which the struct owns: release it with
 * tsk_topic_free(). Fields a form does not carry are NULL; fields it carries are never empty.
 */
struct tsk_topic {
	enum tsk_topic_form form;
	char slug[TSK_SLUG_MAX + 1];
	const char *device_id; /* form 1 */
	const char *sensor_id; /* form 1 */
	const char *site;      /* form 2, percent-decoded, valid UTF-8 */
	const char *asset_tag; /* form 2, and form 3 when the topic is the legacy asset topic */
	char *buf;             /* owned copy of the segments */
};

/* Parses `topic`. TSK_OK, TSK_EINVAL (err says why; *out is then empty) or TSK_EFAIL (out of memory).
 * On success *out must be released with tsk_topic_free(). */
int tsk_topic_parse(const char *topic, struct tsk_topic *out, char *err, size_t errlen);
void tsk_topic_free(struct tsk_topic *t);

/* 1 when `slug` matches ^[a-z0-9][a-z0-9-]{0,62}$, else 0. */
int tsk_topic_slug_valid(const char *slug);


#endif
