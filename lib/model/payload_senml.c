/* SenML packs (RFC 8428) as Khomp LoRaWAN gateways send them (tsk-formats(5)). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/payload_impl.h"
#include "core/tsk.h"

/* RFC 8428 §4.5.3: SenML times below 2^28 are relative to now. */
#define SENML_ABS 268435456.0

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
		return tsk_pl_secs_to_us(off > 1e12 ? off / 1000.0 : off, out);
	when = base + off;
	if (when >= SENML_ABS)
		return tsk_pl_secs_to_us(when, out);
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
		if (tsk_pl_parse_number(json_string_value(vs), &out->v) != 0) {
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
		return tsk_pl_reject(c, TSK_PAYLOAD_NOMEM, "out of memory");
	return TSK_PAYLOAD_OK;
}

static json_t *
senml_labels(const char *n, const char *type, const struct senml_value *val, const char *raw_unit,
    const char *unit)
{
	json_t *l = json_object();

	if (l == NULL || tsk_pl_set_str(l, "name", n) || tsk_pl_set_str(l, "type", type) ||
	    tsk_pl_set_str(l, "value_type", val->type) || tsk_pl_set_str(l, "unit", unit) ||
	    tsk_pl_set_str(l, "original_unit", raw_unit != NULL && strcmp(raw_unit, unit) != 0 ? raw_unit : NULL) ||
	    tsk_pl_set_str(l, "original_value", val->original)) {
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
		tsk_pl_skip(c, TSK_SKIP_NOT_OBJECT, i, NULL);
		return TSK_PAYLOAD_OK;
	}
	if (i > 0)
		senml_update_base(b, rec);
	if ((n = nonempty_str(json_object_get(rec, "n"))) == NULL) {
		if (senml_has_value(rec)) /* a record of base fields only is not a skipped reading */
			tsk_pl_skip(c, TSK_SKIP_NO_NAME, i, NULL);
		return TSK_PAYLOAD_OK;
	}
	if (senml_is_info(n))
		return senml_info(c, n, rec);
	if ((why = senml_value(b, rec, &val)) != 0) {
		tsk_pl_skip(c, why, i, n);
		return TSK_PAYLOAD_OK;
	}
	if (senml_time(c, b->bt, json_object_get(rec, "t"), &ts) != 0) {
		tsk_pl_skip(c, TSK_SKIP_BAD_TIME, i, n);
		return TSK_PAYLOAD_OK;
	}
	if ((raw_unit = nonempty_str(json_object_get(rec, "u"))) == NULL)
		raw_unit = b->bu;
	if (raw_unit == NULL && strcmp(n, "rssi") == 0)
		raw_unit = "dBW";
	if ((sensor = senml_sensor(b->bn, n, raw_unit, &type)) == NULL ||
	    (labels = senml_labels(n, type, &val, raw_unit, senml_unit(raw_unit))) == NULL) {
		r = tsk_pl_reject(c, TSK_PAYLOAD_NOMEM, "out of memory");
		goto cleanup;
	}
	r = tsk_pl_emit(c, i, b->bn, sensor, ts, val.v, senml_unit(raw_unit), labels);
cleanup:
	free(sensor);
	json_decref(labels);
	return r;
}

int
tsk_pl_try_senml(struct ctx *c, json_t *msg)
{
	struct senml_base b;
	json_t *r0, *rec, *bv;
	int64_t base_us;
	size_t i;
	int r;

	if (!json_is_array(msg))
		return TSK_PAYLOAD_NO_FORMAT;
	if (!senml_candidate(msg)) {
		tsk_pl_decline(c, "SenML: needs 2 or more records, bn and bt in the first, n and a value in another");
		return TSK_PAYLOAD_NO_FORMAT;
	}
	if (json_array_size(msg) > TSK_PAYLOAD_MAX_RECORDS)
		return tsk_pl_reject(c, TSK_PAYLOAD_TOO_MANY, "%zu records, the limit is %d", json_array_size(msg),
		    TSK_PAYLOAD_MAX_RECORDS);
	r0 = json_array_get(msg, 0);
	bv = json_object_get(r0, "bv");
	b.bn = nonempty_str(json_object_get(r0, "bn"));
	b.bt = json_number_value(json_object_get(r0, "bt"));
	b.bu = nonempty_str(json_object_get(r0, "bu"));
	b.bv = json_is_number(bv) ? json_number_value(bv) : 0;
	if (senml_time(c, b.bt, NULL, &base_us) != 0)
		return tsk_pl_reject(c, TSK_PAYLOAD_BAD_TIME, "SenML bt is out of range");
	if ((r = tsk_pl_set_message(c, "senml", b.bn, base_us)) != TSK_PAYLOAD_OK)
		return r;
	json_array_foreach(msg, i, rec)
		if ((r = senml_record(c, &b, i, rec)) != TSK_PAYLOAD_OK)
			return r;
	return TSK_PAYLOAD_OK;
}
