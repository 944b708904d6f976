/*
 * The tenant API's catalog endpoints: /api/sites/, /api/assets/, /api/devices/, /api/sensors/ (the
 * original's ModelViewSets), each a resource described here for the engine in
 * api_catalog_rest.c; the extra actions are in api_catalog_actions.c. Reads need any membership role,
 * writes owner, admin or operator (TSK_CAP_WRITE, checked by the router).
 *
 * The tables (sql/tenant/030_catalog.sql) keep today's keys: device.device_id is the API's
 * mqtt_client_id and sensor.sensor_id its tag, a sensor names its device by that text key, and each
 * row also has the integer id the API shows.
 */
#include <float.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tsk.h"
#include "http/api.h"
#include "http/api_catalog_impl.h"
#include "pg/db.h"

/* ---- choices ------------------------------------------------------------------------------------ */

static const char *const asset_types[] = { "CHILLER", "AHU", "FAN_COIL", "PUMP", "BOILER", "COOLING_TOWER", "VRF",
	"RTU", "VALVE", "SENSOR", "CONTROLLER", "FILTER", "DUCT", "METER", "OTHER", NULL };
static const char *const asset_statuses[] = { "OK", "MAINTENANCE", "STOPPED", "ALERT", NULL };
static const char *const device_types[] = { "CONTROLLER", "ENERGY_METER", "SENSOR_HUB", "GATEWAY", "OTHER", NULL };
static const char *const device_statuses[] = { "ONLINE", "OFFLINE", "ERROR", "MAINTENANCE", NULL };
/* The original's metric types, then those its ingest (and ours) writes for a reading's labels.type, so
 * that a sensor read from the API can be written back unchanged. */
static const char *const metric_types[] = { "temp_supply", "temp_return", "temp_external", "temp_setpoint",
	"humidity", "dewpoint", "pressure_suction", "pressure_discharge", "dp_filter", "dp_fan", "airflow", "rpm_fan",
	"voltage", "current", "power_kw", "energy_kwh", "power_factor", "superheat", "subcooling", "vibration", "noise",
	"compressor_state", "valve_position", "cop", "eer", "maintenance", "maintenance_reminder",
	"temperature", "pressure", "counter", "signal", "status", "other", NULL };

/* ---- the rows as the API shows them ------------------------------------------------------------- */

/* asset_count: the original counted assets in OPERATIONAL, WARNING or MAINTENANCE, two of which are no
 * choice of the field; OK and ALERT are what those became, so every asset but a STOPPED one counts. */
#define SITE_JSON "json_build_object('id', s.id, 'name', s.name, 'address', s.address," \
	" 'latitude', s.latitude::text, 'longitude', s.longitude::text, 'timezone', s.timezone," \
	" 'company', s.company, 'sector', s.sector, 'subsector', s.subsector," \
	" 'asset_count', (SELECT count(*) FROM asset c WHERE c.site_id = s.id AND c.status IN ('OK', 'MAINTENANCE', 'ALERT'))," \
	" 'is_active', s.is_active, 'created_at', " CAT_TS("s.created_at") ", 'updated_at', " CAT_TS("s.updated_at") ")"

#define ASSET_PAIRS "'id', a.id, 'tag', a.tag, 'name', a.name, 'site', a.site_id, 'site_name', s.name," \
	" 'asset_type', a.asset_type, 'asset_type_other', a.asset_type_other, 'manufacturer', a.manufacturer," \
	" 'model', a.model, 'serial_number', a.serial_number, 'status', a.status, 'health_score', a.health_score," \
	" 'location_description', a.location_description, 'specifications', a.specifications," \
	" 'installation_date', a.installation_date::text, 'last_maintenance', " CAT_TS("a.last_maintenance") "," \
	" 'device_count', (SELECT count(*) FROM device c WHERE c.asset_id = a.id)," \
	" 'is_active', a.is_active, 'created_at', " CAT_TS("a.created_at") ", 'updated_at', " CAT_TS("a.updated_at")

#define DEVICE_JSON "json_build_object('id', d.id, 'name', d.name, 'serial_number', d.serial_number," \
	" 'asset', d.asset_id, 'asset_tag', a.tag, 'mqtt_client_id', d.device_id, 'device_type', d.device_type," \
	" 'firmware_version', d.firmware_version, 'status', d.status, 'is_online', d.status = 'ONLINE'," \
	" 'last_seen', " CAT_TS("d.last_seen") ", 'availability', d.availability," \
	" 'sensor_count', (SELECT count(*) FROM sensor c WHERE c.device_id = d.device_id)," \
	" 'is_active', d.is_active, 'created_at', " CAT_TS("d.created_at") ", 'updated_at', " CAT_TS("d.updated_at") ")"

#define SENSOR_JSON "json_build_object('id', x.id, 'tag', x.sensor_id, 'device', d.id, 'device_name', d.name," \
	" 'mqtt_client_id', d.device_id, 'metric_type', x.metric_type, 'unit', coalesce(x.unit, '')," \
	" 'thresholds', x.thresholds, 'is_online', x.is_online, 'availability', x.availability," \
	" 'last_value', x.last_value, 'last_reading_at', " CAT_TS("x.last_reading_at") "," \
	" 'is_active', x.is_active, 'created_at', " CAT_TS("x.created_at") ", 'updated_at', " CAT_TS("x.updated_at") ")"

/* GET /api/assets/complete/: the asset with its devices' and sensors' counts, each sensor's latest
 * reading as the catalog keeps it (last_value, last_reading_at), and alert_count, its alerts neither
 * acknowledged nor resolved (as the site stats count them). */
#define ASSET_COMPLETE_JSON "json_build_object(" ASSET_PAIRS "," \
	" 'online_device_count', (SELECT count(*) FROM device c WHERE c.asset_id = a.id AND c.status = 'ONLINE')," \
	" 'sensor_count', (SELECT count(*) FROM sensor x JOIN device c ON c.device_id = x.device_id WHERE c.asset_id = a.id)," \
	" 'online_sensor_count', (SELECT count(*) FROM sensor x JOIN device c ON c.device_id = x.device_id" \
	"    WHERE c.asset_id = a.id AND x.is_online)," \
	" 'latest_readings', coalesce((SELECT json_agg(json_build_object('sensor_id', x.sensor_id, 'device_id', x.device_id," \
	"    'metric_type', x.metric_type, 'unit', coalesce(x.unit, ''), 'value', x.last_value," \
	"    'timestamp', " CAT_TS("x.last_reading_at") ", 'is_online', x.is_online) ORDER BY x.device_id, x.sensor_id)" \
	"    FROM sensor x JOIN device c ON c.device_id = x.device_id" \
	"    WHERE c.asset_id = a.id AND x.last_reading_at IS NOT NULL), '[]'::json)," \
	" 'alert_count', (SELECT count(*) FROM alert al WHERE al.asset_tag = a.tag AND NOT al.acknowledged" \
	"    AND NOT al.resolved))"

/* The original's DeviceSummarySerializer: device_status is ONLINE when a sensor is online, else OFFLINE
 * when it has sensors, else the device's own status; display_name "Device " and the serial's last four
 * characters; each variable's name is the tag after its first "_" (rssi and snr upper-cased, a
 * lower-case name title-cased, anything else as it is). */
#define VAR_NAME "CASE WHEN v.n IN ('rssi', 'snr') THEN upper(v.n) WHEN v.n = lower(v.n) AND v.n <> upper(v.n)" \
	" THEN initcap(v.n) ELSE v.n END"
#define DEVICE_SUMMARY_JSON "json_build_object('id', d.id, 'name', d.name," \
	" 'display_name', CASE WHEN length(d.serial_number) > 4 THEN 'Device ' || right(d.serial_number, 4)" \
	"   ELSE coalesce(nullif(d.name, ''), d.serial_number, d.device_id) END," \
	" 'serial_number', d.serial_number, 'mqtt_client_id', d.device_id, 'device_type', d.device_type," \
	" 'firmware_version', d.firmware_version, 'asset', d.asset_id, 'asset_tag', a.tag, 'asset_name', a.name," \
	" 'status', d.status, 'device_status', CASE" \
	"   WHEN EXISTS (SELECT 1 FROM sensor x WHERE x.device_id = d.device_id AND x.is_online) THEN 'ONLINE'" \
	"   WHEN EXISTS (SELECT 1 FROM sensor x WHERE x.device_id = d.device_id) THEN 'OFFLINE' ELSE d.status END," \
	" 'is_online', d.status = 'ONLINE', 'last_seen', " CAT_TS("d.last_seen") ", 'availability', d.availability," \
	" 'total_variables_count', (SELECT count(*) FROM sensor x WHERE x.device_id = d.device_id)," \
	" 'online_variables_count', (SELECT count(*) FROM sensor x WHERE x.device_id = d.device_id AND x.is_online)," \
	" 'variables', coalesce((SELECT json_agg(json_build_object('id', x.id, 'tag', x.sensor_id, 'name', " VAR_NAME "," \
	"    'metric_type', x.metric_type, 'unit', coalesce(x.unit, ''), 'is_online', x.is_online," \
	"    'last_value', x.last_value, 'last_reading_at', " CAT_TS("x.last_reading_at") ") ORDER BY x.sensor_id)" \
	"    FROM sensor x CROSS JOIN LATERAL (SELECT CASE WHEN strpos(x.sensor_id, '_') > 0" \
	"      THEN substr(x.sensor_id, strpos(x.sensor_id, '_') + 1) ELSE x.sensor_id END AS n) v" \
	"    WHERE x.device_id = d.device_id), '[]'::json))"

/* ---- fields ------------------------------------------------------------------------------------- */

#define TEXT(n, c, fl, len) { n, c, CAT_TEXT, fl, 0, len, NULL, NULL }
#define CHOICE(n, c, fl, ch) { n, c, CAT_CHOICE, fl, 0, 0, ch, NULL }
#define TYPED(n, c, t, fl, lo, hi) { n, c, t, fl, lo, hi, NULL, NULL }
#define REF(n, c, fl, r) { n, c, CAT_REF, fl, 0, 0, NULL, r }
#define END { NULL, NULL, CAT_TEXT, 0, 0, 0, NULL, NULL }

static const struct cat_field site_fields[] = {
	TEXT("name", "name", CAT_REQUIRED, 200),
	TEXT("address", "address", CAT_BLANK, 10000),
	TYPED("latitude", "latitude", CAT_DECIMAL, CAT_NULL, 0, 0),
	TYPED("longitude", "longitude", CAT_DECIMAL, CAT_NULL, 0, 0),
	TEXT("timezone", "timezone", 0, 50),
	TEXT("company", "company", CAT_BLANK, 200),
	TEXT("sector", "sector", CAT_BLANK, 200),
	TEXT("subsector", "subsector", CAT_BLANK, 200),
	TYPED("is_active", "is_active", CAT_BOOL, 0, 0, 0),
	END
};

static const struct cat_field asset_fields[] = {
	TEXT("tag", "tag", CAT_REQUIRED | CAT_UNIQUE, 100),
	TEXT("name", "name", CAT_BLANK, 200),
	REF("site", "site_id", CAT_REQUIRED, &cat_site),
	CHOICE("asset_type", "asset_type", 0, asset_types),
	TEXT("asset_type_other", "asset_type_other", CAT_BLANK, 200),
	TEXT("manufacturer", "manufacturer", CAT_BLANK, 200),
	TEXT("model", "model", CAT_BLANK, 200),
	TEXT("serial_number", "serial_number", CAT_BLANK, 200),
	CHOICE("status", "status", 0, asset_statuses),
	TYPED("health_score", "health_score", CAT_INT, 0, 0, 100),
	TEXT("location_description", "location_description", CAT_BLANK, 500),
	TYPED("specifications", "specifications", CAT_OBJECT, 0, 0, 0),
	TYPED("installation_date", "installation_date", CAT_DATE, CAT_NULL, 0, 0),
	TYPED("last_maintenance", "last_maintenance", CAT_TIME, CAT_NULL, 0, 0),
	TYPED("is_active", "is_active", CAT_BOOL, 0, 0, 0),
	END
};

static const struct cat_field device_fields[] = {
	TEXT("name", "name", CAT_REQUIRED, 200),
	TEXT("serial_number", "serial_number", CAT_REQUIRED | CAT_UNIQUE, 200),
	REF("asset", "asset_id", CAT_REQUIRED, &cat_asset),
	TEXT("mqtt_client_id", "device_id", CAT_REQUIRED | CAT_UNIQUE, 200),
	CHOICE("device_type", "device_type", 0, device_types),
	TEXT("firmware_version", "firmware_version", CAT_BLANK, 50),
	CHOICE("status", "status", 0, device_statuses),
	TYPED("last_seen", "last_seen", CAT_TIME, CAT_NULL, 0, 0),
	TYPED("availability", "availability", CAT_FLOAT, 0, 0, 100),
	TYPED("is_active", "is_active", CAT_BOOL, 0, 0, 0),
	END
};

static const struct cat_field sensor_fields[] = {
	TEXT("tag", "sensor_id", CAT_REQUIRED, 200),
	REF("device", "device_id", CAT_REQUIRED, &cat_device),
	CHOICE("metric_type", "metric_type", CAT_REQUIRED, metric_types),
	TEXT("unit", "unit", CAT_REQUIRED | CAT_BLANK, 50),
	TYPED("thresholds", "thresholds", CAT_OBJECT, 0, 0, 0),
	TYPED("is_online", "is_online", CAT_BOOL, 0, 0, 0),
	TYPED("availability", "availability", CAT_FLOAT, 0, 0, 100),
	TYPED("last_value", "last_value", CAT_FLOAT, CAT_NULL, -DBL_MAX, DBL_MAX),
	TYPED("last_reading_at", "last_reading_at", CAT_TIME, CAT_NULL, 0, 0),
	TYPED("is_active", "is_active", CAT_BOOL, 0, 0, 0),
	END
};

/* ---- filters, search, ordering ------------------------------------------------------------------ */

static const struct cat_filter site_filters[] = {
	{ "company", "s.company = $%d", CAT_TEXT, NULL },
	{ "sector", "s.sector = $%d", CAT_TEXT, NULL },
	{ "subsector", "s.subsector = $%d", CAT_TEXT, NULL },
	{ "timezone", "s.timezone = $%d", CAT_TEXT, NULL },
	{ NULL, NULL, CAT_TEXT, NULL }
};
static const struct cat_filter asset_filters[] = {
	{ "site", "a.site_id = $%d::bigint", CAT_INT, NULL },
	{ "asset_type", "a.asset_type = $%d", CAT_CHOICE, asset_types },
	{ "status", "a.status = $%d", CAT_CHOICE, asset_statuses },
	{ "manufacturer", "a.manufacturer = $%d", CAT_TEXT, NULL },
	{ NULL, NULL, CAT_TEXT, NULL }
};
static const struct cat_filter device_filters[] = {
	{ "asset", "d.asset_id = $%d::bigint", CAT_INT, NULL },
	{ "device_type", "d.device_type = $%d", CAT_CHOICE, device_types },
	{ "status", "d.status = $%d", CAT_CHOICE, device_statuses },
	/* The original filtered on a Device.is_online that does not exist (500); it means status ONLINE. */
	{ "is_online", "(d.status = 'ONLINE') = $%d::boolean", CAT_BOOL, NULL },
	{ NULL, NULL, CAT_TEXT, NULL }
};
static const struct cat_filter sensor_filters[] = {
	{ "device", "d.id = $%d::bigint", CAT_INT, NULL },
	{ "metric_type", "x.metric_type = $%d", CAT_TEXT, NULL },
	{ "unit", "coalesce(x.unit, '') = $%d", CAT_TEXT, NULL },
	{ "is_online", "x.is_online = $%d::boolean", CAT_BOOL, NULL },
	{ NULL, NULL, CAT_TEXT, NULL }
};

/* The extra actions' filters. */
const struct cat_filter cat_site_asset_filters[] = {
	{ "status", "a.status = $%d", CAT_CHOICE, asset_statuses },
	{ "asset_type", "a.asset_type = $%d", CAT_CHOICE, asset_types },
	{ NULL, NULL, CAT_TEXT, NULL }
};
const struct cat_filter cat_site_device_filters[] = {
	{ "device_type", "d.device_type = $%d", CAT_CHOICE, device_types },
	{ "status", "d.status = $%d", CAT_CHOICE, device_statuses },
	{ NULL, NULL, CAT_TEXT, NULL }
};
const struct cat_filter cat_asset_sensor_filters[] = {
	{ "metric_type", "x.metric_type = $%d", CAT_TEXT, NULL },
	{ "is_online", "x.is_online = $%d::boolean", CAT_BOOL, NULL },
	{ NULL, NULL, CAT_TEXT, NULL }
};

static const char *const site_search[] = { "s.name", "s.address", "s.company", "s.sector", "s.subsector", NULL };
static const char *const asset_search[] = { "a.tag", "a.name", "a.manufacturer", "a.model", "a.serial_number", NULL };
static const char *const device_search[] = { "d.name", "coalesce(d.serial_number, '')", "d.device_id", NULL };
static const char *const sensor_search[] = { "x.sensor_id", "x.metric_type", "coalesce(x.unit, '')", NULL };

static const struct cat_order site_order[] = { { "id", "s.id" }, { "name", "s.name" }, { "company", "s.company" },
	{ "timezone", "s.timezone" }, { "created_at", "s.created_at" }, { "updated_at", "s.updated_at" }, { NULL, NULL } };
static const struct cat_order asset_order[] = { { "id", "a.id" }, { "tag", "a.tag" }, { "name", "a.name" },
	{ "site", "a.site_id" }, { "asset_type", "a.asset_type" }, { "status", "a.status" },
	{ "health_score", "a.health_score" }, { "created_at", "a.created_at" }, { "updated_at", "a.updated_at" },
	{ NULL, NULL } };
static const struct cat_order device_order[] = { { "id", "d.id" }, { "name", "d.name" },
	{ "serial_number", "d.serial_number" }, { "mqtt_client_id", "d.device_id" }, { "status", "d.status" },
	{ "last_seen", "d.last_seen" }, { "availability", "d.availability" }, { "created_at", "d.created_at" },
	{ NULL, NULL } };
static const struct cat_order sensor_order[] = { { "id", "x.id" }, { "tag", "x.sensor_id" },
	{ "metric_type", "x.metric_type" }, { "is_online", "x.is_online" }, { "last_value", "x.last_value" },
	{ "last_reading_at", "x.last_reading_at" }, { "created_at", "x.created_at" }, { NULL, NULL } };

/* ---- resource checks ---------------------------------------------------------------------------- */

/* A time zone PostgreSQL knows (the ingest and the queries convert with it). */
static int
site_check(struct tsk_api_ctx *c, const struct cat_res *r, const char *id, struct cat_vals *v, json_t *errors,
    char *err, size_t errlen)
{
	int i = cat_field_index(r, "timezone");
	const char *p[1];
	PGresult *res;
	int n;

	(void)id;
	if (i < 0 || !v->present[i])
		return TSK_OK;
	p[0] = v->val[i];
	if (tsk_db_exec(c->db, "SELECT 1 FROM pg_timezone_names WHERE name = $1", 1, p, &res, err, errlen) != TSK_OK)
		return TSK_EFAIL;
	n = PQntuples(res);
	PQclear(res);
	if (n == 0) {
		char msg[128];
		snprintf(msg, sizeof msg, "\"%.50s\" não é um escolha válido.", p[0]);
		json_object_set_new(errors, "timezone", json_pack("[s]", msg));
		return TSK_EINVAL;
	}
	return TSK_OK;
}

/* mqtt_client_id is the key readings are stored under: a device keeps the one it was created with. */
static int
device_check(struct tsk_api_ctx *c, const struct cat_res *r, const char *id, struct cat_vals *v, json_t *errors,
    char *err, size_t errlen)
{
	int i = cat_field_index(r, "mqtt_client_id");
	const char *p[2];
	PGresult *res;
	int same;

	if (id == NULL || i < 0 || !v->present[i])
		return TSK_OK;
	p[0] = id;
	p[1] = v->val[i];
	if (tsk_db_exec(c->db, "SELECT device_id = $2 FROM device WHERE id = $1::bigint", 2, p, &res, err, errlen) != TSK_OK)
		return TSK_EFAIL;
	same = PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!same) {
		json_object_set_new(errors, "mqtt_client_id",
		    json_pack("[s]", "Este campo não pode ser alterado: as leituras do dispositivo são guardadas sob ele."));
		return TSK_EINVAL;
	}
	/* The same value is no change: leave the key alone. */
	v->present[i] = 0;
	return TSK_OK;
}

/* A device has one sensor of a tag (the table's key), and the API creates no second sensor of the same
 * metric type on a device (the original's create check). */
static int
sensor_check(struct tsk_api_ctx *c, const struct cat_res *r, const char *id, struct cat_vals *v, json_t *errors,
    char *err, size_t errlen)
{
	int it = cat_field_index(r, "tag"), id_ = cat_field_index(r, "device"), im = cat_field_index(r, "metric_type");
	const char *p[4] = { v->present[it] ? v->val[it] : NULL, v->present[id_] ? v->val[id_] : NULL,
		v->present[im] ? v->val[im] : NULL, id };
	PGresult *res;
	int clash;

	/* With the row's own values for what a PATCH leaves out. */
	if (tsk_db_exec(c->db,
	    "SELECT EXISTS (SELECT 1 FROM sensor o JOIN device od ON od.device_id = o.device_id"
	    "   WHERE o.sensor_id = coalesce($1, (SELECT sensor_id FROM sensor WHERE id = $4::bigint))"
	    "   AND od.id = coalesce($2::bigint, (SELECT dd.id FROM sensor ss JOIN device dd ON dd.device_id = ss.device_id"
	    "                                     WHERE ss.id = $4::bigint))"
	    "   AND ($4::bigint IS NULL OR o.id <> $4::bigint)),"
	    " $4::bigint IS NULL AND EXISTS (SELECT 1 FROM sensor o JOIN device od ON od.device_id = o.device_id"
	    "   WHERE od.id = $2::bigint AND o.metric_type = $3)",
	    4, p, &res, err, errlen) != TSK_OK)
		return TSK_EFAIL;
	clash = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	if (clash)
		json_object_set_new(errors, "non_field_errors", json_pack("[s]", "Os campos device, tag devem criar um set único."));
	else if (strcmp(PQgetvalue(res, 0, 1), "t") == 0)
		json_object_set_new(errors, "non_field_errors",
		    json_pack("[s]", "Os campos device, metric_type devem criar um set único."));
	PQclear(res);
	return json_object_size(errors) == 0 ? TSK_OK : TSK_EINVAL;
}

/* ---- the resources ------------------------------------------------------------------------------ */

const struct cat_res cat_site = { TSK_CAT_SITE, "site", "site", "s", "site s", SITE_JSON, "s.name", site_fields, site_filters,
	site_search, site_order, site_check };
const struct cat_res cat_asset = { TSK_CAT_ASSET, "asset", "asset", "a", "asset a JOIN site s ON s.id = a.site_id",
	"json_build_object(" ASSET_PAIRS ")", "a.tag", asset_fields, asset_filters, asset_search, asset_order, NULL };
const struct cat_res cat_device = { TSK_CAT_DEVICE, "device", "device", "d", "device d LEFT JOIN asset a ON a.id = d.asset_id",
	DEVICE_JSON, "d.name", device_fields, device_filters, device_search, device_order, device_check };
const struct cat_res cat_sensor = { TSK_CAT_SENSOR, "sensor", "sensor", "x", "sensor x JOIN device d ON d.device_id = x.device_id",
	SENSOR_JSON, "x.sensor_id", sensor_fields, sensor_filters, sensor_search, sensor_order, sensor_check };

const struct cat_res cat_asset_complete_res = { TSK_CAT_ASSET, "asset", "asset", "a", "asset a JOIN site s ON s.id = a.site_id",
	ASSET_COMPLETE_JSON, "a.tag", asset_fields, asset_filters, asset_search, asset_order, NULL };
const struct cat_res cat_device_summary_res = { TSK_CAT_DEVICE, "device", "device", "d",
	"device d LEFT JOIN asset a ON a.id = d.asset_id", DEVICE_SUMMARY_JSON, "d.name", device_fields, device_filters,
	device_search, device_order, NULL };

/* ---- the endpoints ------------------------------------------------------------------------------ */

static void site_list(struct tsk_api_ctx *c) { cat_list(c, &cat_site, NULL, NULL, NULL, site_filters, 1, 1); }
static void site_show(struct tsk_api_ctx *c) { cat_show(c, &cat_site); }
static void site_create(struct tsk_api_ctx *c) { cat_create(c, &cat_site); }
static void site_update(struct tsk_api_ctx *c) { cat_update(c, &cat_site); }
static void asset_list(struct tsk_api_ctx *c) { cat_list(c, &cat_asset, NULL, NULL, NULL, asset_filters, 1, 1); }
static void asset_show(struct tsk_api_ctx *c) { cat_show(c, &cat_asset); }
static void asset_create(struct tsk_api_ctx *c) { cat_create(c, &cat_asset); }
static void asset_update(struct tsk_api_ctx *c) { cat_update(c, &cat_asset); }
static void asset_delete(struct tsk_api_ctx *c) { cat_delete(c, &cat_asset); }
static void device_list(struct tsk_api_ctx *c) { cat_list(c, &cat_device, NULL, NULL, NULL, device_filters, 1, 1); }
static void device_show(struct tsk_api_ctx *c) { cat_show(c, &cat_device); }
static void device_create(struct tsk_api_ctx *c) { cat_create(c, &cat_device); }
static void device_update(struct tsk_api_ctx *c) { cat_update(c, &cat_device); }
static void device_delete(struct tsk_api_ctx *c) { cat_delete(c, &cat_device); }
static void sensor_list(struct tsk_api_ctx *c) { cat_list(c, &cat_sensor, NULL, NULL, NULL, sensor_filters, 1, 1); }
static void sensor_show(struct tsk_api_ctx *c) { cat_show(c, &cat_sensor); }
static void sensor_create(struct tsk_api_ctx *c) { cat_create(c, &cat_sensor); }
static void sensor_update(struct tsk_api_ctx *c) { cat_update(c, &cat_sensor); }
static void sensor_delete(struct tsk_api_ctx *c) { cat_delete(c, &cat_sensor); }

/* A site with assets stays (the original's PROTECT): 409 saying how many, instead of deleting them. */
static void
site_delete(struct tsk_api_ctx *c)
{
	char id[24], err[TSK_ERRLEN], msg[200];
	const char *p[1] = { id };
	PGresult *res;
	long long n;

	if (!cat_id(c, 0, id) || !cat_begin(c))
		return;
	if (tsk_db_exec(c->db, "SELECT count(*) FROM asset WHERE site_id = $1::bigint", 1, p, &res, err, sizeof err) != TSK_OK) {
		cat_failed(c, "delete", err);
		return;
	}
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	tsk_db_rollback(c->db);
	if (n > 0) {
		snprintf(msg, sizeof msg, "Não é possível excluir este site: ele tem %lld ativo(s). "
		    "Exclua os ativos ou mova-os para outro site antes.", n);
		tsk_api_detail(c, 409, msg);
		return;
	}
	cat_delete(c, &cat_site);
}

/* Before "{}" routes of the same prefix: the router takes the first match. */
const struct tsk_api_route tsk_api_catalog_routes[] = {
	{ "GET", "/api/sites/", TSK_CAP_READ, site_list, 0, TSK_API_TENANT },
	{ "POST", "/api/sites/", TSK_CAP_WRITE, site_create, 0, TSK_API_TENANT },
	{ "GET", "/api/sites/{}/", TSK_CAP_READ, site_show, 0, TSK_API_TENANT },
	{ "PUT", "/api/sites/{}/", TSK_CAP_WRITE, site_update, 0, TSK_API_TENANT },
	{ "PATCH", "/api/sites/{}/", TSK_CAP_WRITE, site_update, 0, TSK_API_TENANT },
	{ "DELETE", "/api/sites/{}/", TSK_CAP_WRITE, site_delete, 0, TSK_API_TENANT },
	{ "GET", "/api/sites/{}/assets/", TSK_CAP_READ, cat_site_assets, 0, TSK_API_TENANT },
	{ "GET", "/api/sites/{}/devices/", TSK_CAP_READ, cat_site_devices, 0, TSK_API_TENANT },
	{ "GET", "/api/sites/{}/devices/summary/", TSK_CAP_READ, cat_site_devices_summary, 0, TSK_API_TENANT },
	{ "GET", "/api/sites/{}/stats/", TSK_CAP_READ, cat_site_stats, 0, TSK_API_TENANT },

	{ "GET", "/api/assets/", TSK_CAP_READ, asset_list, 0, TSK_API_TENANT },
	{ "POST", "/api/assets/", TSK_CAP_WRITE, asset_create, 0, TSK_API_TENANT },
	{ "GET", "/api/assets/complete/", TSK_CAP_READ, cat_asset_complete, 0, TSK_API_TENANT },
	{ "GET", "/api/assets/{}/", TSK_CAP_READ, asset_show, 0, TSK_API_TENANT },
	{ "PUT", "/api/assets/{}/", TSK_CAP_WRITE, asset_update, 0, TSK_API_TENANT },
	{ "PATCH", "/api/assets/{}/", TSK_CAP_WRITE, asset_update, 0, TSK_API_TENANT },
	{ "DELETE", "/api/assets/{}/", TSK_CAP_WRITE, asset_delete, 0, TSK_API_TENANT },
	{ "GET", "/api/assets/{}/devices/", TSK_CAP_READ, cat_asset_devices, 0, TSK_API_TENANT },
	{ "GET", "/api/assets/{}/sensors/", TSK_CAP_READ, cat_asset_sensors, 0, TSK_API_TENANT },
	{ "POST", "/api/assets/{}/calculate_health/", TSK_CAP_WRITE, cat_asset_calculate_health, 0, TSK_API_TENANT },

	{ "GET", "/api/devices/", TSK_CAP_READ, device_list, 0, TSK_API_TENANT },
	{ "POST", "/api/devices/", TSK_CAP_WRITE, device_create, 0, TSK_API_TENANT },
	{ "GET", "/api/devices/{}/", TSK_CAP_READ, device_show, 0, TSK_API_TENANT },
	{ "PUT", "/api/devices/{}/", TSK_CAP_WRITE, device_update, 0, TSK_API_TENANT },
	{ "PATCH", "/api/devices/{}/", TSK_CAP_WRITE, device_update, 0, TSK_API_TENANT },
	{ "DELETE", "/api/devices/{}/", TSK_CAP_WRITE, device_delete, 0, TSK_API_TENANT },
	{ "GET", "/api/devices/{}/sensors/", TSK_CAP_READ, cat_device_sensors, 0, TSK_API_TENANT },
	{ "POST", "/api/devices/{}/sensors_bulk/", TSK_CAP_WRITE, cat_device_sensors_bulk, 0, TSK_API_TENANT },
	{ "POST", "/api/devices/{}/heartbeat/", TSK_CAP_WRITE, cat_device_heartbeat, 0, TSK_API_TENANT },
	{ "GET", "/api/devices/{}/summary/", TSK_CAP_READ, cat_device_summary, 0, TSK_API_TENANT },

	{ "GET", "/api/sensors/", TSK_CAP_READ, sensor_list, 0, TSK_API_TENANT },
	{ "POST", "/api/sensors/", TSK_CAP_WRITE, sensor_create, 0, TSK_API_TENANT },
	{ "GET", "/api/sensors/{}/", TSK_CAP_READ, sensor_show, 0, TSK_API_TENANT },
	{ "PUT", "/api/sensors/{}/", TSK_CAP_WRITE, sensor_update, 0, TSK_API_TENANT },
	{ "PATCH", "/api/sensors/{}/", TSK_CAP_WRITE, sensor_update, 0, TSK_API_TENANT },
	{ "DELETE", "/api/sensors/{}/", TSK_CAP_WRITE, sensor_delete, 0, TSK_API_TENANT },
	{ "POST", "/api/sensors/{}/update_reading/", TSK_CAP_WRITE, cat_sensor_update_reading, 0, TSK_API_TENANT },
	{ .method = NULL },
};
