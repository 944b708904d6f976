/*
 * The asset catalog: one table of fields per kind drives input checks, INSERT/UPDATE and the JSON the
 * rows come out as (built by the server with json_build_object, so numbers and times keep their form).
 * See catalog.h for the contract.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/time.h"
#include "core/tsk.h"
#include "pg/db.h"
#include "registry/catalog.h"
#include "registry/settings.h"
#include "registry/tenant.h"

enum ftype { F_RO, F_TEXT, F_CHOICE, F_INT, F_FLOAT, F_NUM, F_BOOL, F_JSON, F_DATE, F_TS, F_REF, F_TZ };
enum { REQ = 1, NULLOK = 2, SEARCH = 4, FIXED = 8, NOFILTER = 16 };

struct field {
	const char *api;
	const char *out;      /* the output (and filter) expression over t and the kind's joins */
	const char *col;      /* the column written; NULL: read only */
	enum ftype type;
	double min, max;      /* text: max characters; numbers: range */
	const char *const *choices;
	int flags;
	const char *ref;      /* F_REF: the table whose id it names */
	const char *in;       /* the value written, when not the parameter itself ("%d": its number) */
	const char *sort;     /* the ORDER BY expression, when not `out` */
};

struct kind {
	const char *name, *table, *from, *def_order;
	const struct field *f;
};

#define UTC(x) \
	"CASE WHEN " x " IS NULL THEN NULL WHEN date_trunc('second', " x ") = " x \
	" THEN to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')" \
	" ELSE to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END"
#define TSF(api, col, fl) { api, UTC("t." col), col, F_TS, 0, 0, NULL, (fl) | NULLOK, NULL, NULL, "t." col }
#define ROTS(api, col) { api, UTC("t." col), NULL, F_RO, 0, 0, NULL, 0, NULL, NULL, "t." col }
#define TEXT(api, max, fl) { api, "t." api, api, F_TEXT, 0, max, NULL, fl, NULL, NULL, NULL }
#define ID { "id", "t.id", NULL, F_RO, 0, 0, NULL, 0, NULL, NULL, NULL }
#define ACTIVE { "is_active", "t.is_active", "is_active", F_BOOL, 0, 0, NULL, 0, NULL, NULL, NULL }
#define END { NULL, NULL, NULL, F_RO, 0, 0, NULL, 0, NULL, NULL, NULL }

static const char *const asset_types[] = { "CHILLER", "AHU", "FAN_COIL", "PUMP", "BOILER", "COOLING_TOWER", "VRF",
	"RTU", "VALVE", "SENSOR", "CONTROLLER", "FILTER", "DUCT", "METER", "OTHER", NULL };
static const char *const asset_statuses[] = { "OK", "MAINTENANCE", "STOPPED", "ALERT", NULL };
static const char *const device_types[] = { "CONTROLLER", "ENERGY_METER", "SENSOR_HUB", "GATEWAY", "OTHER", NULL };
static const char *const device_statuses[] = { "ONLINE", "OFFLINE", "ERROR", "MAINTENANCE", NULL };

static const struct field site_f[] = {
	ID,
	TEXT("name", 200, REQ | SEARCH),
	{ "address", "t.address", "address", F_TEXT, 0, 1e9, NULL, SEARCH, NULL, NULL, NULL },
	{ "latitude", "t.latitude", "latitude", F_NUM, -90, 90, NULL, NULLOK, NULL, NULL, NULL },
	{ "longitude", "t.longitude", "longitude", F_NUM, -180, 180, NULL, NULLOK, NULL, NULL, NULL },
	{ "timezone", "t.timezone", "timezone", F_TZ, 0, 50, NULL, 0, NULL, NULL, NULL },
	TEXT("company", 200, SEARCH), TEXT("sector", 200, SEARCH), TEXT("subsector", 200, SEARCH),
	ROTS("created_at", "created_at"), ROTS("updated_at", "updated_at"), ACTIVE, END
};

static const struct field asset_f[] = {
	ID,
	TEXT("tag", 100, REQ | SEARCH),
	TEXT("name", 200, SEARCH),
	{ "site", "t.site_id", "site_id", F_REF, 0, 0, NULL, REQ, "site", NULL, NULL },
	{ "site_name", "s.name", NULL, F_RO, 0, 0, NULL, 0, NULL, NULL, NULL },
	{ "asset_type", "t.asset_type", "asset_type", F_CHOICE, 0, 20, asset_types, 0, NULL, NULL, NULL },
	TEXT("asset_type_other", 200, 0), TEXT("manufacturer", 200, SEARCH), TEXT("model", 200, SEARCH),
	TEXT("serial_number", 200, SEARCH),
	{ "status", "t.status", "status", F_CHOICE, 0, 20, asset_statuses, 0, NULL, NULL, NULL },
	{ "health_score", "t.health_score", "health_score", F_INT, 0, 100, NULL, 0, NULL, NULL, NULL },
	TEXT("location_description", 500, 0),
	{ "specifications", "t.specifications", "specifications", F_JSON, 0, 0, NULL, NOFILTER, NULL, NULL, NULL },
	{ "installation_date", "to_char(t.installation_date, 'YYYY-MM-DD')", "installation_date", F_DATE, 0, 0, NULL,
	  NULLOK, NULL, NULL, "t.installation_date" },
	TSF("last_maintenance", "last_maintenance", 0),
	ROTS("created_at", "created_at"), ROTS("updated_at", "updated_at"), ACTIVE, END
};

static const struct field device_f[] = {
	ID,
	TEXT("name", 200, SEARCH),
	{ "serial_number", "t.serial_number", "serial_number", F_TEXT, 0, 200, NULL, NULLOK | SEARCH, NULL, NULL, NULL },
	{ "asset", "t.asset_id", "asset_id", F_REF, 0, 0, NULL, NULLOK, "asset", NULL, NULL },
	{ "asset_tag", "a.tag", NULL, F_RO, 0, 0, NULL, 0, NULL, NULL, NULL },
	{ "mqtt_client_id", "t.device_id", "device_id", F_TEXT, 0, 200, NULL, REQ | SEARCH | FIXED, NULL, NULL, NULL },
	{ "device_type", "t.device_type", "device_type", F_CHOICE, 0, 20, device_types, 0, NULL, NULL, NULL },
	TEXT("firmware_version", 50, 0),
	{ "status", "t.status", "status", F_CHOICE, 0, 20, device_statuses, 0, NULL, NULL, NULL },
	{ "is_online", "(t.status = 'ONLINE')", NULL, F_RO, 0, 0, NULL, 0, NULL, NULL, NULL },
	TSF("last_seen", "last_seen", 0),
	{ "availability", "t.availability", "availability", F_FLOAT, 0, 100, NULL, 0, NULL, NULL, NULL },
	ROTS("created_at", "created_at"), ROTS("updated_at", "updated_at"), ACTIVE, END
};

static const struct field sensor_f[] = {
	ID,
	{ "tag", "t.sensor_id", "sensor_id", F_TEXT, 0, 200, NULL, REQ | SEARCH, NULL, NULL, NULL },
	{ "device", "d.id", "device_id", F_REF, 0, 0, NULL, REQ, "device",
	  "(SELECT device_id FROM device WHERE id = $%d::bigint)", NULL },
	{ "mqtt_client_id", "t.device_id", NULL, F_RO, 0, 0, NULL, 0, NULL, NULL, NULL },
	TEXT("metric_type", 50, SEARCH),
	{ "unit", "t.unit", "unit", F_TEXT, 0, 50, NULL, NULLOK | SEARCH, NULL, NULL, NULL },
	{ "thresholds", "t.thresholds", "thresholds", F_JSON, 0, 0, NULL, NOFILTER, NULL, NULL, NULL },
	{ "is_online", "t.is_online", "is_online", F_BOOL, 0, 0, NULL, 0, NULL, NULL, NULL },
	{ "availability", "t.availability", "availability", F_FLOAT, 0, 100, NULL, 0, NULL, NULL, NULL },
	{ "last_value", "t.last_value", "last_value", F_FLOAT, -1e308, 1e308, NULL, NULLOK, NULL, NULL, NULL },
	TSF("last_reading_at", "last_reading_at", 0),
	ROTS("created_at", "created_at"), ROTS("updated_at", "updated_at"), ACTIVE, END
};

static const struct kind kinds[] = {
	[TSK_CAT_SITE] = { "site", "site", "site t", "t.name", site_f },
	[TSK_CAT_ASSET] = { "asset", "asset", "asset t JOIN site s ON s.id = t.site_id", "t.tag", asset_f },
	[TSK_CAT_DEVICE] = { "device", "device", "device t LEFT JOIN asset a ON a.id = t.asset_id", "t.name", device_f },
	[TSK_CAT_SENSOR] = { "sensor", "sensor", "sensor t JOIN device d ON d.device_id = t.device_id", "t.sensor_id",
	                     sensor_f },
};

const char *
tsk_cat_kind_name(enum tsk_cat_kind k)
{
	return kinds[k].name;
}

int
tsk_cat_kind_parse(const char *name, enum tsk_cat_kind *k)
{
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		if (strcmp(name, kinds[i].name) == 0) {
			*k = (enum tsk_cat_kind)i;
			return 0;
		}
	}
	return -1;
}

static const struct field *
find_field(const struct kind *kd, const char *api)
{
	for (const struct field *f = kd->f; f->api != NULL; f++)
		if (strcmp(f->api, api) == 0)
			return f;
	return NULL;
}

/* --- transactions -------------------------------------------------------------------------------- */

static int
enter(PGconn *db, const char *tenant, int readonly, char *err, size_t errlen)
{
	int rc;

	if (tenant == NULL || *tenant == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "no tenant given");
	if ((rc = tsk_db_cmd(db, readonly ? "BEGIN READ ONLY" : "BEGIN", err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_enter_tenant(db, tenant, NULL, err, errlen)) != TSK_OK)
		tsk_db_rollback(db);
	return rc;
}

/* Ends the transaction: COMMIT when rc is TSK_OK, else ROLLBACK. Returns the final status. */
static int
leave(PGconn *db, int rc, char *err, size_t errlen)
{
	if (rc == TSK_OK)
		return tsk_db_commit(db, err, errlen);
	tsk_db_rollback(db);
	return rc;
}

/* --- the output ---------------------------------------------------------------------------------- */

static void
select_json(struct tsk_buf *b, const struct kind *kd)
{
	tsk_buf_puts(b, "SELECT json_build_object(");
	for (const struct field *f = kd->f; f->api != NULL; f++)
		tsk_buf_printf(b, "%s'%s', %s", f == kd->f ? "" : ", ", f->api, f->out);
	tsk_buf_printf(b, ")::text FROM %s", kd->from);
}

static int
fetch_one(PGconn *db, const struct kind *kd, long long id, json_t **row, char *err, size_t errlen)
{
	struct tsk_buf b = TSK_BUF_INIT;
	char ids[24];
	const char *p[] = { ids };
	json_t *arr = NULL;
	int rc;

	snprintf(ids, sizeof ids, "%lld", id);
	select_json(&b, kd);
	tsk_buf_puts(&b, " WHERE t.id = $1");
	if (tsk_buf_failed(&b))
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	else
		rc = tsk_db_json_rows(db, tsk_buf_cstr(&b), 1, p, &arr, err, errlen);
	tsk_buf_free(&b);
	if (rc != TSK_OK)
		return rc;
	if (json_array_size(arr) == 0) {
		json_decref(arr);
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "no %s with id %lld", kd->name, id);
	}
	if (row != NULL)
		*row = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	return TSK_OK;
}

int
tsk_cat_show(PGconn *db, const char *tenant, enum tsk_cat_kind k, long long id, json_t **row, char *err,
    size_t errlen)
{
	int rc = enter(db, tenant, 1, err, errlen);

	if (rc != TSK_OK)
		return rc;
	return leave(db, fetch_one(db, &kinds[k], id, row, err, errlen), err, errlen);
}

/* --- list ---------------------------------------------------------------------------------------- */

/* A JSON scalar as a text parameter (buf: 32 bytes); NULL for null or a non-scalar. */
static const char *
scalar_text(const json_t *v, char *buf, char **owned)
{
	*owned = NULL;
	switch (json_typeof(v)) {
	case JSON_STRING: return json_string_value(v);
	case JSON_INTEGER: snprintf(buf, 32, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); return buf;
	case JSON_REAL: return tsk_fmt_double(json_real_value(v), buf);
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	default: return NULL;
	}
}

#define MAXP 64

struct params {
	const char *v[MAXP];
	char num[MAXP][TSK_TIME_STRLEN];
	char *owned[MAXP];
	int n;
};

static int
param(struct params *ps, const char *v)
{
	if (ps->n >= MAXP)
		return -1;
	ps->v[ps->n] = v;
	return ++ps->n;
}

static void
params_free(struct params *ps)
{
	for (int i = 0; i < ps->n; i++)
		free(ps->owned[i]);
}

/* WHERE clause of a list: filters and search. */
static int
where(const struct kind *kd, const struct tsk_cat_query *q, struct tsk_buf *b, struct params *ps, char *err,
    size_t errlen)
{
	const char *key;
	json_t *v;
	int n;

	tsk_buf_puts(b, " WHERE true");
	if (q->filters != NULL && !json_is_object(q->filters))
		return tsk_seterr(err, errlen, TSK_EINVAL, "filters: must be an object");
	json_object_foreach((json_t *)q->filters, key, v) {
		const struct field *f = find_field(kd, key);
		if (f == NULL || (f->flags & NOFILTER))
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s: not a field a %s list can be filtered by", key, kd->name);
		if (json_is_null(v)) {
			tsk_buf_printf(b, " AND %s IS NULL", f->out);
			continue;
		}
		const char *s = scalar_text(v, ps->num[ps->n], &ps->owned[ps->n]);
		if (s == NULL)
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s: a filter value must be a string, number or boolean", key);
		if ((n = param(ps, s)) < 0)
			return tsk_seterr(err, errlen, TSK_EINVAL, "too many filters");
		/* Compared as text with the output, so "3" and 3 both find site 3, "true" a true boolean. */
		tsk_buf_printf(b, " AND (%s)::text = $%d", f->out, n);
	}
	if (q->search != NULL && *q->search != '\0') {
		/* A substring, not a pattern: LIKE's own characters are escaped. */
		struct tsk_buf pat = TSK_BUF_INIT;
		tsk_buf_puts(&pat, "%");
		for (const char *c = q->search; *c; c++) {
			if (*c == '%' || *c == '_' || *c == '\\')
				tsk_buf_puts(&pat, "\\");
			tsk_buf_add(&pat, c, 1);
		}
		tsk_buf_puts(&pat, "%");
		if (tsk_buf_failed(&pat) || (n = param(ps, tsk_buf_cstr(&pat))) < 0) {
			tsk_buf_free(&pat);
			return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		}
		ps->owned[n - 1] = tsk_buf_take(&pat);
		ps->v[n - 1] = ps->owned[n - 1];
		tsk_buf_puts(b, " AND (false");
		for (const struct field *f = kd->f; f->api != NULL; f++)
			if (f->flags & SEARCH)
				tsk_buf_printf(b, " OR %s ILIKE $%d", f->out, n);
		tsk_buf_puts(b, ")");
	}
	return TSK_OK;
}

static int
order_by(const struct kind *kd, const char *ordering, struct tsk_buf *b, char *err, size_t errlen)
{
	char one[64];

	tsk_buf_puts(b, " ORDER BY ");
	if (ordering == NULL || *ordering == '\0') {
		tsk_buf_printf(b, "%s, t.id", kd->def_order);
		return TSK_OK;
	}
	for (const char *p = ordering; *p;) {
		size_t len = strcspn(p, ",");
		int desc = *p == '-';
		if (len - desc == 0 || len >= sizeof one)
			return tsk_seterr(err, errlen, TSK_EINVAL, "ordering: \"%s\" is not a list of fields", ordering);
		memcpy(one, p + desc, len - desc);
		one[len - desc] = '\0';
		const struct field *f = find_field(kd, one);
		if (f == NULL || f->type == F_JSON)
			return tsk_seterr(err, errlen, TSK_EINVAL, "ordering: a %s cannot be ordered by \"%s\"", kd->name, one);
		tsk_buf_printf(b, "%s %s, ", f->sort != NULL ? f->sort : f->out, desc ? "DESC" : "ASC");
		p += len;
		if (*p == ',')
			p++;
	}
	tsk_buf_puts(b, "t.id");
	return TSK_OK;
}

int
tsk_cat_list(PGconn *db, const char *tenant, enum tsk_cat_kind k, const struct tsk_cat_query *q,
    long long *count, json_t **rows, char *err, size_t errlen)
{
	static const struct tsk_cat_query none;
	const struct kind *kd = &kinds[k];
	struct tsk_buf w = TSK_BUF_INIT, b = TSK_BUF_INIT;
	struct params ps = { .n = 0 };
	PGresult *res;
	int rc;

	if (q == NULL)
		q = &none;
	if (rows != NULL)
		*rows = NULL;
	if (q->offset < 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "offset: must not be negative");
	if ((rc = where(kd, q, &w, &ps, err, errlen)) != TSK_OK)
		goto out;
	if (tsk_buf_failed(&w)) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}
	if ((rc = enter(db, tenant, 1, err, errlen)) != TSK_OK)
		goto out;
	if (count != NULL) {
		tsk_buf_printf(&b, "SELECT count(*) FROM %s%s", kd->from, tsk_buf_cstr(&w));
		if ((rc = tsk_db_exec(db, tsk_buf_cstr(&b), ps.n, ps.v, &res, err, errlen)) != TSK_OK)
			goto end;
		*count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	if (rows != NULL) {
		tsk_buf_reset(&b);
		select_json(&b, kd);
		tsk_buf_puts(&b, tsk_buf_cstr(&w));
		if ((rc = order_by(kd, q->ordering, &b, err, errlen)) != TSK_OK)
			goto end;
		if (q->limit > 0)
			tsk_buf_printf(&b, " LIMIT %lld", q->limit);
		if (q->offset > 0)
			tsk_buf_printf(&b, " OFFSET %lld", q->offset);
		if (tsk_buf_failed(&b)) {
			rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
			goto end;
		}
		rc = tsk_db_json_rows(db, tsk_buf_cstr(&b), ps.n, ps.v, rows, err, errlen);
	}
end:
	rc = leave(db, rc, err, errlen);
	if (rc != TSK_OK && rows != NULL && *rows != NULL) {
		json_decref(*rows);
		*rows = NULL;
	}
out:
	params_free(&ps);
	tsk_buf_free(&w);
	tsk_buf_free(&b);
	return rc;
}

int
tsk_cat_resolve(PGconn *db, const char *tenant, enum tsk_cat_kind k, const char *key, long long *id, char *err,
    size_t errlen)
{
	const char *p[] = { key };
	const char *sql;
	PGresult *res;
	int digits = *key != '\0' && strspn(key, "0123456789") == strlen(key) && strlen(key) < 19, rc;

	if (digits)
		sql = k == TSK_CAT_SITE ? "SELECT id FROM site WHERE id = $1::bigint"
		    : k == TSK_CAT_ASSET ? "SELECT id FROM asset WHERE id = $1::bigint"
		    : k == TSK_CAT_DEVICE ? "SELECT id FROM device WHERE id = $1::bigint"
		                          : "SELECT id FROM sensor WHERE id = $1::bigint";
	else if (k == TSK_CAT_ASSET)
		sql = "SELECT id FROM asset WHERE tag = $1";
	else if (k == TSK_CAT_DEVICE)
		sql = "SELECT id FROM device WHERE device_id = $1";
	else
		return tsk_seterr(err, errlen, TSK_EINVAL, "a %s is named by its id, not \"%s\"", kinds[k].name, key);
	if ((rc = enter(db, tenant, 1, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_exec(db, sql, 1, p, &res, err, errlen)) == TSK_OK) {
		if (PQntuples(res) == 0)
			rc = tsk_seterr(err, errlen, TSK_ENOTFOUND, "no %s \"%s\"", kinds[k].name, key);
		else
			*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	return leave(db, rc, err, errlen);
}

/* --- input --------------------------------------------------------------------------------------- */

static size_t
utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static int
exists(PGconn *db, const char *sql, const char *v, int *yes, char *err, size_t errlen)
{
	const char *p[] = { v };
	PGresult *res;
	int rc = tsk_db_exec(db, sql, 1, p, &res, err, errlen);

	if (rc == TSK_OK) {
		*yes = PQntuples(res) > 0;
		PQclear(res);
	}
	return rc;
}

static int
choice_err(const struct field *f, char *err, size_t errlen)
{
	struct tsk_buf b = TSK_BUF_INIT;

	for (const char *const *c = f->choices; *c != NULL; c++)
		tsk_buf_printf(&b, "%s%s", c == f->choices ? "" : ", ", *c);
	tsk_seterr(err, errlen, TSK_EINVAL, "%s: must be one of %s", f->api, tsk_buf_failed(&b) ? "?" : tsk_buf_cstr(&b));
	tsk_buf_free(&b);
	return TSK_EINVAL;
}

/* Checks one input value and turns it into a text parameter (*out; NULL for SQL NULL), kept in ps.
 * Needs the transaction for references and time zones. */
static int
check_value(PGconn *db, const struct field *f, const json_t *v, struct params *ps, const char **out, char *err,
    size_t errlen)
{
	char *buf = ps->num[ps->n];
	int yes, rc;

	*out = NULL;
	if (json_is_null(v)) {
		if (!(f->flags & NULLOK))
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s: may not be null", f->api);
		return TSK_OK;
	}
	switch (f->type) {
	case F_TEXT:
	case F_CHOICE:
	case F_TZ:
		if (!json_is_string(v))
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s: must be a string", f->api);
		*out = json_string_value(v);
		if (strlen(*out) != json_string_length(v))
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s: contains a NUL character", f->api);
		if ((f->flags & REQ) && **out == '\0')
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s: may not be blank", f->api);
		if (f->type == F_CHOICE) {
			for (const char *const *c = f->choices; *c != NULL; c++)
				if (strcmp(*c, *out) == 0)
					return TSK_OK;
			return choice_err(f, err, errlen);
		}
		if (utf8_chars(*out) > (size_t)f->max)
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s: longer than %.0f characters", f->api, f->max);
		if (f->type == F_TZ) {
			if ((rc = exists(db, "SELECT 1 FROM pg_timezone_names WHERE name = $1", *out, &yes, err, errlen)) != TSK_OK)
				return rc;
			if (!yes)
				return tsk_seterr(err, errlen, TSK_EINVAL, "timezone: \"%s\" is not a time zone name", *out);
		}
		return TSK_OK;
	case F_INT:
		if (!json_is_integer(v) || json_integer_value(v) < f->min || json_integer_value(v) > f->max)
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s: must be a whole number from %.0f to %.0f", f->api,
			    f->min, f->max);
		snprintf(buf, TSK_TIME_STRLEN, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		*out = buf;
		return TSK_OK;
	case F_FLOAT:
	case F_NUM:
		if (!json_is_number(v) || json_number_value(v) < f->min || json_number_value(v) > f->max)
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s: must be a number from %g to %g", f->api, f->min, f->max);
		*out = json_is_integer(v) ? (snprintf(buf, TSK_TIME_STRLEN, "%" JSON_INTEGER_FORMAT, json_integer_value(v)), buf)
		                          : tsk_fmt_double(json_real_value(v), buf);
		return TSK_OK;
	case F_BOOL:
		if (!json_is_boolean(v))
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s: must be true or false", f->api);
		*out = json_is_true(v) ? "true" : "false";
		return TSK_OK;
	case F_JSON:
		if (!json_is_object(v))
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s: must be an object", f->api);
		if ((ps->owned[ps->n] = json_dumps(v, JSON_COMPACT)) == NULL)
			return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		*out = ps->owned[ps->n];
		return TSK_OK;
	case F_DATE:
	case F_TS: {
		int64_t us;
		const char *s = json_string_value(v);
		size_t len = s != NULL ? strlen(s) : 0;
		if (s == NULL || tsk_time_parse_rfc3339(s, &us) != TSK_OK ||
		    (f->type == F_DATE && (len != 10 || s[4] != '-' || s[7] != '-')))
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s: must be %s", f->api,
			    f->type == F_DATE ? "a date YYYY-MM-DD" : "an RFC 3339 time");
		*out = f->type == F_DATE ? s : tsk_time_format(us, buf);
		return TSK_OK;
	}
	case F_REF: {
		if (!json_is_integer(v) || json_integer_value(v) <= 0)
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s: must be the id of a %s", f->api, f->ref);
		snprintf(buf, TSK_TIME_STRLEN, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		*out = buf;
		char sql[64];
		snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE id = $1::bigint", f->ref);
		if ((rc = exists(db, sql, buf, &yes, err, errlen)) != TSK_OK)
			return rc;
		if (!yes)
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s: no %s with id %s", f->api, f->ref, buf);
		return TSK_OK;
	}
	case F_RO:
		break;
	}
	return TSK_OK;
}

/* Each writable field of `in`, checked: cols[i] = value expression for it, in params. */
struct assign {
	const struct field *f[MAXP];
	int p[MAXP];
	int n;
};

static int
collect(PGconn *db, const struct kind *kd, const json_t *in, int creating, struct params *ps, struct assign *as,
    char *err, size_t errlen)
{
	const char *key, *s;
	json_t *v;
	int rc;

	if (!json_is_object(in))
		return tsk_seterr(err, errlen, TSK_EINVAL, "a %s must be given as a JSON object", kd->name);
	json_object_foreach((json_t *)in, key, v) {
		const struct field *f = find_field(kd, key);
		if (f == NULL)
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s: not a field of a %s", key, kd->name);
		if (f->col == NULL)
			continue; /* read only: ignored, so a listed row can be given back */
		if (!creating && (f->flags & FIXED))
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s: cannot be changed (readings are keyed by it)", key);
		if ((rc = check_value(db, f, v, ps, &s, err, errlen)) != TSK_OK)
			return rc;
		if (as->n >= MAXP || param(ps, s) < 0)
			return tsk_seterr(err, errlen, TSK_EINVAL, "too many fields");
		as->f[as->n] = f;
		as->p[as->n++] = ps->n;
	}
	if (creating) {
		for (const struct field *f = kd->f; f->api != NULL; f++)
			if ((f->flags & REQ) && json_object_get(in, f->api) == NULL)
				return tsk_seterr(err, errlen, TSK_EINVAL, "%s: required", f->api);
	}
	return TSK_OK;
}

static void
value_expr(struct tsk_buf *b, const struct field *f, int p)
{
	if (f->in != NULL)
		tsk_buf_printf(b, f->in, p);
	else
		tsk_buf_printf(b, "$%d", p);
}

/* A refused write as the field it concerns (the constraint names are 030_catalog.sql's). */
static int
db_refusal(PGconn *db, const struct kind *kd, const json_t *in, int rc, enum tsk_db_kind dk, char *err, size_t errlen)
{
	const char *m = err;
	const char *tag = json_string_value(json_object_get(in, kd == &kinds[TSK_CAT_DEVICE] ? "mqtt_client_id" : "tag"));
	(void)db;

	if (dk == TSK_DB_UNIQUE && strstr(m, "asset_tag_key") != NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "tag: an asset with tag \"%s\" exists already", tag ? tag : "?");
	if (dk == TSK_DB_UNIQUE && strstr(m, "device_pkey") != NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "mqtt_client_id: a device \"%s\" exists already", tag ? tag : "?");
	if (dk == TSK_DB_UNIQUE && strstr(m, "serial_number") != NULL) {
		const char *sn = json_string_value(json_object_get(in, "serial_number"));
		if (sn == NULL)
			sn = tag;
		return tsk_seterr(err, errlen, TSK_EINVAL, "serial_number: a device with serial number \"%s\" exists already",
		    sn ? sn : "?");
	}
	if (dk == TSK_DB_UNIQUE && strstr(m, "sensor_pkey") != NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "tag: the device has a sensor \"%s\" already", tag ? tag : "?");
	if (dk == TSK_DB_DATA || dk == TSK_DB_UNIQUE)
		return tsk_seterr(err, errlen, TSK_EINVAL, "%s refused: %.400s", kd->name, m);
	return rc;
}

static int
write_row(PGconn *db, const struct kind *kd, long long id, const json_t *in, long long *newid, char *err,
    size_t errlen)
{
	struct params ps = { .n = 0 };
	struct assign as = { .n = 0 };
	struct tsk_buf b = TSK_BUF_INIT;
	enum tsk_db_kind dk = TSK_DB_OTHER;
	PGresult *res = NULL;
	int rc, creating = id <= 0, ip;

	if ((rc = collect(db, kd, in, creating, &ps, &as, err, errlen)) != TSK_OK)
		goto out;
	if (creating) {
		tsk_buf_printf(&b, "INSERT INTO %s (", kd->table);
		for (int i = 0; i < as.n; i++)
			tsk_buf_printf(&b, "%s%s", i ? ", " : "", as.f[i]->col);
		/* A device's name and serial number default to its client id (the serial only while free). */
		if (kd == &kinds[TSK_CAT_DEVICE]) {
			int cid = 0;
			for (int i = 0; i < as.n; i++)
				if (strcmp(as.f[i]->col, "device_id") == 0)
					cid = as.p[i];
			if (json_object_get(in, "name") == NULL)
				tsk_buf_printf(&b, ", name");
			if (json_object_get(in, "serial_number") == NULL)
				tsk_buf_printf(&b, ", serial_number");
			tsk_buf_puts(&b, ") VALUES (");
			for (int i = 0; i < as.n; i++) {
				tsk_buf_puts(&b, i ? ", " : "");
				value_expr(&b, as.f[i], as.p[i]);
			}
			if (json_object_get(in, "name") == NULL)
				tsk_buf_printf(&b, ", $%d", cid);
			if (json_object_get(in, "serial_number") == NULL)
				tsk_buf_printf(&b, ", CASE WHEN NOT EXISTS (SELECT 1 FROM device WHERE serial_number = $%d)"
				    " THEN $%d END", cid, cid);
		} else {
			tsk_buf_puts(&b, ") VALUES (");
			for (int i = 0; i < as.n; i++) {
				tsk_buf_puts(&b, i ? ", " : "");
				value_expr(&b, as.f[i], as.p[i]);
			}
		}
		tsk_buf_puts(&b, ") RETURNING id");
	} else {
		char ids[24];
		snprintf(ids, sizeof ids, "%lld", id);
		strcpy(ps.num[ps.n], ids);
		if ((ip = param(&ps, ps.num[ps.n])) < 0) {
			rc = tsk_seterr(err, errlen, TSK_EINVAL, "too many fields");
			goto out;
		}
		tsk_buf_printf(&b, "UPDATE %s SET updated_at = now()", kd->table);
		for (int i = 0; i < as.n; i++) {
			tsk_buf_printf(&b, ", %s = ", as.f[i]->col);
			value_expr(&b, as.f[i], as.p[i]);
		}
		tsk_buf_printf(&b, " WHERE id = $%d RETURNING id", ip);
	}
	if (tsk_buf_failed(&b)) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}
	rc = tsk_db_exec_kind(db, tsk_buf_cstr(&b), ps.n, ps.v, &res, &dk, err, errlen);
	if (rc != TSK_OK) {
		rc = db_refusal(db, kd, in, rc, dk, err, errlen);
		goto out;
	}
	if (PQntuples(res) == 0)
		rc = tsk_seterr(err, errlen, TSK_ENOTFOUND, "no %s with id %lld", kd->name, id);
	else
		*newid = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
out:
	params_free(&ps);
	tsk_buf_free(&b);
	return rc;
}

int
tsk_cat_add(PGconn *db, const char *tenant, enum tsk_cat_kind k, const json_t *in, json_t **row, char *err,
    size_t errlen)
{
	long long id = 0;
	int rc = enter(db, tenant, 0, err, errlen);

	if (rc != TSK_OK)
		return rc;
	if ((rc = write_row(db, &kinds[k], 0, in, &id, err, errlen)) == TSK_OK && row != NULL)
		rc = fetch_one(db, &kinds[k], id, row, err, errlen);
	return leave(db, rc, err, errlen);
}

int
tsk_cat_add_many(PGconn *db, const char *tenant, enum tsk_cat_kind k, const json_t *in, json_t **rows,
    size_t *bad, char *err, size_t errlen)
{
	json_t *out = NULL, *v, *row;
	size_t i;
	long long id;
	int rc;

	if (rows != NULL)
		*rows = NULL;
	if (!json_is_array(in))
		return tsk_seterr(err, errlen, TSK_EINVAL, "the %ss must be given as a JSON array", kinds[k].name);
	if ((rc = enter(db, tenant, 0, err, errlen)) != TSK_OK)
		return rc;
	if ((out = json_array()) == NULL)
		return leave(db, tsk_seterr(err, errlen, TSK_EFAIL, "out of memory"), err, errlen);
	json_array_foreach(in, i, v) {
		id = 0;
		if ((rc = write_row(db, &kinds[k], 0, v, &id, err, errlen)) != TSK_OK ||
		    (rc = fetch_one(db, &kinds[k], id, &row, err, errlen)) != TSK_OK) {
			if (bad != NULL)
				*bad = i;
			break;
		}
		json_array_append_new(out, row);
	}
	if ((rc = leave(db, rc, err, errlen)) != TSK_OK || rows == NULL)
		json_decref(out);
	else
		*rows = out;
	return rc;
}

int
tsk_cat_set(PGconn *db, const char *tenant, enum tsk_cat_kind k, long long id, const json_t *in, json_t **row,
    char *err, size_t errlen)
{
	long long got = 0;
	int rc;

	if (id <= 0)
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "no %s with id %lld", kinds[k].name, id);
	if ((rc = enter(db, tenant, 0, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = write_row(db, &kinds[k], id, in, &got, err, errlen)) == TSK_OK && row != NULL)
		rc = fetch_one(db, &kinds[k], id, row, err, errlen);
	return leave(db, rc, err, errlen);
}

int
tsk_cat_rm(PGconn *db, const char *tenant, enum tsk_cat_kind k, long long id, char *err, size_t errlen)
{
	char ids[24], sql[64];
	const char *p[] = { ids };
	PGresult *res;
	long long rows = 0;
	int rc;

	snprintf(ids, sizeof ids, "%lld", id);
	if ((rc = enter(db, tenant, 0, err, errlen)) != TSK_OK)
		return rc;
	if (k == TSK_CAT_SITE) {
		/* PROTECT, with the count in the message rather than the foreign key's name. */
		if ((rc = tsk_db_exec(db, "SELECT count(*) FROM asset WHERE site_id = $1::bigint", 1, p, &res, err,
		    errlen)) != TSK_OK)
			return leave(db, rc, err, errlen);
		long long n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		if (n > 0)
			return leave(db, tsk_seterr(err, errlen, TSK_EINVAL, "site: site %lld has %lld asset%s; delete or move"
			    " them first", id, n, n == 1 ? "" : "s"), err, errlen);
	}
	snprintf(sql, sizeof sql, "DELETE FROM %s WHERE id = $1::bigint", kinds[k].table);
	enum tsk_db_kind dk;
	rc = tsk_db_exec_kind(db, sql, 1, p, &res, &dk, err, errlen);
	if (rc == TSK_OK) {
		rows = atoll(PQcmdTuples(res));
		PQclear(res);
		if (rows == 0)
			rc = tsk_seterr(err, errlen, TSK_ENOTFOUND, "no %s with id %lld", kinds[k].name, id);
	} else if (dk == TSK_DB_DATA) {
		rc = tsk_seterr(err, errlen, TSK_EINVAL, "%s %lld is still in use: %.300s", kinds[k].name, id, err);
	}
	return leave(db, rc, err, errlen);
}

/* --- online and availability (the original system) ---------------------------------------------------- */

#define REFRESH_SENSORS \
	"UPDATE sensor SET is_online = (last_reading_at >= $1::timestamptz - $2::interval)" \
	" WHERE is_active AND last_reading_at IS NOT NULL" \
	" AND is_online <> (last_reading_at >= $1::timestamptz - $2::interval)"
#define REFRESH_DEVICES \
	"UPDATE device d SET status = x.st," \
	" last_seen = CASE WHEN x.st = 'ONLINE' THEN $1::timestamptz ELSE d.last_seen END" \
	" FROM (SELECT d2.device_id, CASE WHEN EXISTS (SELECT 1 FROM sensor s WHERE s.device_id = d2.device_id" \
	"  AND s.is_active AND s.is_online) THEN 'ONLINE' ELSE 'OFFLINE' END AS st" \
	"  FROM device d2 WHERE d2.is_active AND d2.status IN ('ONLINE', 'OFFLINE')) x" \
	" WHERE x.device_id = d.device_id AND d.status <> x.st"
#define HOURS "extract(epoch FROM $1::timestamptz - last_seen) / 3600"
#define REFRESH_AVAILABILITY \
	"UPDATE device d SET availability = x.v FROM (SELECT device_id, CASE" \
	" WHEN last_seen IS NULL THEN CASE WHEN status = 'ONLINE' THEN 100 ELSE 0 END" \
	" WHEN status = 'ONLINE' THEN CASE WHEN " HOURS " < 1 THEN 100 WHEN " HOURS " < 6 THEN 95" \
	"  WHEN " HOURS " < 12 THEN 90 WHEN " HOURS " < 24 THEN 85 ELSE 70 END" \
	" ELSE CASE WHEN " HOURS " < 1 THEN 95 WHEN " HOURS " < 6 THEN 80 WHEN " HOURS " < 12 THEN 60" \
	"  WHEN " HOURS " < 24 THEN 40 ELSE 0 END END AS v FROM device WHERE is_active) x" \
	" WHERE x.device_id = d.device_id AND d.availability <> x.v"
#define REFRESH_COUNTS \
	"SELECT (SELECT count(*) FROM sensor WHERE is_active), (SELECT count(*) FROM sensor WHERE is_active AND is_online)," \
	" (SELECT count(*) FROM device WHERE is_active), (SELECT count(*) FROM device WHERE is_active AND status = 'ONLINE')"

int
tsk_cat_refresh(PGconn *db, const char *tenant, int64_t now_us, struct tsk_cat_refresh *r, char *err,
    size_t errlen)
{
	char nows[TSK_TIME_STRLEN], offs[48];
	const char *p[] = { nows, offs };
	json_t *settings = NULL;
	int64_t off;
	PGresult *res;
	int rc;

	memset(r, 0, sizeof *r);
	if ((rc = enter(db, tenant, 0, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_tenant_settings(db, tenant, &settings, err, errlen)) != TSK_OK)
		return leave(db, rc, err, errlen);
	rc = tsk_setting_duration(settings, tenant, "offline_after", &off, err, errlen);
	json_decref(settings);
	if (rc != TSK_OK)
		return leave(db, TSK_EFAIL, err, errlen);
	tsk_time_format(now_us, nows);
	snprintf(offs, sizeof offs, "%" PRId64 " microseconds", off);
	/* Sensors first: the device rule reads their new state, and availability the devices' new status. */
	if ((rc = tsk_db_exec_rows(db, REFRESH_SENSORS, 2, p, &r->sensors_changed, err, errlen)) != TSK_OK ||
	    (rc = tsk_db_exec_rows(db, REFRESH_DEVICES, 1, p, &r->devices_changed, err, errlen)) != TSK_OK ||
	    (rc = tsk_db_exec_rows(db, REFRESH_AVAILABILITY, 1, p, &r->availability_changed, err, errlen)) != TSK_OK ||
	    (rc = tsk_db_exec(db, REFRESH_COUNTS, 0, NULL, &res, err, errlen)) != TSK_OK)
		return leave(db, rc, err, errlen);
	r->sensors = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	r->sensors_online = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	r->devices = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	r->devices_online = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	PQclear(res);
	return leave(db, TSK_OK, err, errlen);
}
