#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/reading.h"
#include "core/time.h"
#include "core/tsk.h"

void
tsk_readings_init(struct tsk_readings *rs)
{
	memset(rs, 0, sizeof *rs);
}

void
tsk_reading_free(struct tsk_reading *r)
{
	free(r->tenant);
	free(r->device_id);
	free(r->sensor_id);
	free(r->unit);
	free(r->site);
	free(r->asset_tag);
	json_decref(r->labels);
	memset(r, 0, sizeof *r);
}

void
tsk_readings_clear(struct tsk_readings *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		tsk_reading_free(&rs->v[i]);
	rs->n = 0;
}

void
tsk_readings_free(struct tsk_readings *rs)
{
	tsk_readings_clear(rs);
	free(rs->v);
	tsk_readings_init(rs);
}

static char *
dup_or_null(const char *s, int *oom)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*oom = 1;
	return d;
}

/* Room for one more reading at rs->v[rs->n]. 0 or -1. */
static int
room_for_one(struct tsk_readings *rs)
{
	if (rs->n < rs->cap)
		return 0;
	size_t cap = rs->cap ? rs->cap * 2 : 16;
	struct tsk_reading *v = realloc(rs->v, cap * sizeof *v);
	if (v == NULL)
		return -1;
	rs->v = v;
	rs->cap = cap;
	return 0;
}

int
tsk_readings_push(struct tsk_readings *rs, const struct tsk_reading *r)
{
	if (room_for_one(rs) != 0)
		return -1;
	rs->v[rs->n++] = *r;
	return 0;
}

struct tsk_reading *
tsk_readings_add(struct tsk_readings *rs, const char *tenant, const char *device_id, const char *sensor_id,
    int64_t ts_us, double value, const char *unit, json_t *labels, const char *site, const char *asset_tag)
{
	struct tsk_reading *r;
	int oom = 0;

	if (room_for_one(rs) != 0)
		return NULL;
	r = &rs->v[rs->n];
	memset(r, 0, sizeof *r);
	r->tenant = dup_or_null(tenant, &oom);
	r->device_id = dup_or_null(device_id, &oom);
	r->sensor_id = dup_or_null(sensor_id, &oom);
	r->ts_us = ts_us;
	r->value = value;
	r->unit = dup_or_null(unit, &oom);
	r->site = dup_or_null(site, &oom);
	r->asset_tag = dup_or_null(asset_tag, &oom);
	r->labels = labels != NULL ? json_incref(labels) : json_object();
	if (oom || r->labels == NULL) {
		tsk_reading_free(r);
		return NULL;
	}
	rs->n++;
	return r;
}

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

json_t *
tsk_reading_to_json(const struct tsk_reading *r)
{
	char ts[TSK_TIME_STRLEN];

	return json_pack("{s:o, s:s, s:s, s:s, s:f, s:o, s:O, s:o, s:o}",
	    "tenant", str_or_null(r->tenant), "device_id", r->device_id, "sensor_id", r->sensor_id,
	    "ts", tsk_time_format(r->ts_us, ts), "value", r->value, "unit", str_or_null(r->unit),
	    "labels", r->labels, "site", str_or_null(r->site), "asset_tag", str_or_null(r->asset_tag));
}

static int
opt_string(json_t *obj, const char *key, const char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return TSK_OK;
	if (!json_is_string(v))
		return tsk_seterr(err, errlen, TSK_EINVAL, "\"%s\" must be a string", key);
	*out = json_string_value(v);
	return TSK_OK;
}

int
tsk_reading_from_json(json_t *obj, const char *tenant, struct tsk_readings *out, char *err, size_t errlen)
{
	const char *t, *dev, *sen, *ts, *unit, *site, *asset;
	json_t *val, *labels;
	int64_t us;

	if (!json_is_object(obj))
		return tsk_seterr(err, errlen, TSK_EINVAL, "a reading must be a JSON object");
	if (opt_string(obj, "tenant", &t, err, errlen) || opt_string(obj, "device_id", &dev, err, errlen) ||
	    opt_string(obj, "sensor_id", &sen, err, errlen) || opt_string(obj, "ts", &ts, err, errlen) ||
	    opt_string(obj, "unit", &unit, err, errlen) || opt_string(obj, "site", &site, err, errlen) ||
	    opt_string(obj, "asset_tag", &asset, err, errlen))
		return TSK_EINVAL;
	if (t == NULL)
		t = tenant;
	if (t == NULL || *t == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "no tenant");
	if (dev == NULL || *dev == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "no device_id");
	if (sen == NULL || *sen == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "no sensor_id");
	if (ts == NULL || tsk_time_parse_rfc3339(ts, &us) != TSK_OK)
		return tsk_seterr(err, errlen, TSK_EINVAL, "invalid ts");
	val = json_object_get(obj, "value");
	if (!json_is_number(val) || !isfinite(json_number_value(val)))
		return tsk_seterr(err, errlen, TSK_EINVAL, "\"value\" must be a finite number");
	labels = json_object_get(obj, "labels");
	if (labels != NULL && !json_is_null(labels) && !json_is_object(labels))
		return tsk_seterr(err, errlen, TSK_EINVAL, "\"labels\" must be an object");
	if (labels != NULL && json_is_null(labels))
		labels = NULL;
	/* One unit per reading: a non-empty string labels.unit wins over "unit" (the payload parsers' rule). */
	if (labels != NULL && json_is_string(json_object_get(labels, "unit")) &&
	    json_string_length(json_object_get(labels, "unit")) > 0 &&
	    strlen(json_string_value(json_object_get(labels, "unit"))) == json_string_length(json_object_get(labels, "unit")))
		unit = json_string_value(json_object_get(labels, "unit"));
	if (tsk_readings_add(out, t, dev, sen, us, json_number_value(val), unit, labels, site, asset) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	return TSK_OK;
}

const struct tsk_reading *
tsk_reading_too_far(const struct tsk_reading *r, size_t n, int64_t arrival_us, int64_t max_us)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].ts_us > arrival_us && r[i].ts_us - arrival_us > max_us)
			return &r[i];
	return NULL;
}

void
tsk_reading_future_detail(char *buf, size_t len, const struct tsk_reading *r, int64_t arrival_us, int64_t max_us)
{
	char t[TSK_TIME_STRLEN], a[TSK_TIME_STRLEN], d[32];
	int64_t s = max_us / TSK_US_PER_S;

	if (s % 86400 == 0)
		snprintf(d, sizeof d, "%lldd", (long long)(s / 86400));
	else if (s % 3600 == 0)
		snprintf(d, sizeof d, "%lldh", (long long)(s / 3600));
	else if (s % 60 == 0)
		snprintf(d, sizeof d, "%lldm", (long long)(s / 60));
	else
		snprintf(d, sizeof d, "%llds", (long long)s);
	snprintf(buf, len, "%.64s/%.64s at %s is more than max_future (%s) after its arrival at %s", r->device_id,
	    r->sensor_id, tsk_time_format(r->ts_us, t), d, tsk_time_format(arrival_us, a));
}
