/*
 * The asset catalog of a tenant (sql/tenant/030_catalog.sql): sites, assets, devices, sensors. The
 * operations `tsk-tenant site|asset|device|sensor` and the HTTP API share: add, list, show, set, rm, and
 * the hourly online/availability job (tsk_catalog_refresh).
 *
 * Rows go in and out as JSON objects with the API's field names (the original system):
 *   site    id name address latitude longitude timezone company sector subsector
 *           created_at updated_at is_active
 *   asset   id tag name site (the site's id) site_name (read only) asset_type asset_type_other
 *           manufacturer model serial_number status health_score location_description specifications
 *           installation_date last_maintenance created_at updated_at is_active
 *   device  id name serial_number asset (the asset's id, or null) asset_tag (read only) mqtt_client_id
 *           (the device_id of readings; fixed once created) device_type firmware_version status
 *           is_online (read only: status = ONLINE) last_seen availability created_at updated_at is_active
 *   sensor  id tag (the sensor_id of readings) device (the device's id) mqtt_client_id (read only)
 *           metric_type unit thresholds is_online availability last_value last_reading_at created_at
 *           updated_at is_active
 * Times are RFC 3339 UTC strings ("2025-10-17T10:30:00Z", microseconds when not whole seconds);
 * installation_date is "YYYY-MM-DD".
 *
 * Input (add, set): every field is checked before anything is written; a failure is TSK_EINVAL with a
 * message that starts with the field's name ("asset_type: must be one of CHILLER, AHU, ..."; "tag: an
 * asset with tag \"CH-01\" exists already"; "site: no site with id 9"). Unknown fields are refused;
 * read-only fields (id, created_at, updated_at, the ones marked above) are ignored, so a row that
 * list printed can be given back. add needs site.name, asset.tag and asset.site, device.mqtt_client_id,
 * sensor.tag and sensor.device; everything else has the schema's default.
 *
 * Every function runs in a transaction of its own that enters the tenant (tsk_db_enter_tenant: SET
 * LOCAL search_path), so it must be called outside a transaction block; nothing tenant-specific is left
 * on the connection. Statuses: TSK_OK; TSK_EINVAL (bad input, err names the field); TSK_ENOTFOUND (no
 * tenant of that slug, or no row with that id); TSK_ETEMP (database unavailable: retry); TSK_EFAIL.
 * err (errlen bytes, TSK_ERRLEN is enough) is filled on failure; nothing is printed. Returned JSON is a
 * new reference the caller json_decref()s. Thread safety: as the connection (one caller at a time).
 */
#ifndef TSK_CATALOG_H
#define TSK_CATALOG_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <libpq-fe.h>

enum tsk_cat_kind { TSK_CAT_SITE, TSK_CAT_ASSET, TSK_CAT_DEVICE, TSK_CAT_SENSOR };

/* "site", "asset", "device", "sensor" <-> the kind: tsk_cat_kind_parse returns 0 or -1. */
const char *tsk_cat_kind_name(enum tsk_cat_kind k);
int tsk_cat_kind_parse(const char *name, enum tsk_cat_kind *k);

/* A list request. All-zero (or NULL) lists everything in the default order. */
struct tsk_cat_query {
	/* Equality filters: an object of API field -> value (string, number, true/false, or null for IS
	 * NULL), e.g. {"site": 3, "status": "OK"} or, for sensors, {"device": 7, "is_online": true}. Any
	 * field except the JSON ones (specifications, thresholds) may be used; an unknown field is
	 * TSK_EINVAL. The HTTP API passes only the original's filters. */
	const json_t *filters;
	/* Case-insensitive substring over the kind's search fields (site: name address company sector
	 * subsector; asset: tag name manufacturer model serial_number; device: name serial_number
	 * mqtt_client_id; sensor: tag metric_type unit); NULL or "" for none. */
	const char *search;
	/* Comma-separated API fields, each with an optional '-' for descending ("-created_at,tag"); NULL
	 * or "" for the default (site name, asset tag, device name, sensor tag). The id breaks ties, so
	 * pages are stable. An unknown field is TSK_EINVAL. */
	const char *ordering;
	long long limit;   /* rows at most; <= 0: no limit */
	long long offset;  /* rows skipped (>= 0) */
};

/* Lists rows of kind k: *count receives how many match (before limit/offset), *rows a JSON array of
 * the page. Either out pointer may be NULL. */
int tsk_cat_list(PGconn *db, const char *tenant, enum tsk_cat_kind k, const struct tsk_cat_query *q,
    long long *count, json_t **rows, char *err, size_t errlen);

/* One row by id (TSK_ENOTFOUND when none). */
int tsk_cat_show(PGconn *db, const char *tenant, enum tsk_cat_kind k, long long id, json_t **row, char *err,
    size_t errlen);

/* The id of a row named by `key`: digits are an id; for assets anything else is a tag, for devices an
 * mqtt_client_id. TSK_ENOTFOUND when none. For the CLI's `show CH-01` and the API's lookups. */
int tsk_cat_resolve(PGconn *db, const char *tenant, enum tsk_cat_kind k, const char *key, long long *id,
    char *err, size_t errlen);

/* Creates one row from `in` (an object, see above) and returns it as stored, with its id (row may be
 * NULL). */
int tsk_cat_add(PGconn *db, const char *tenant, enum tsk_cat_kind k, const json_t *in, json_t **row, char *err,
    size_t errlen);

/* Creates every row of the array `in` in one transaction: all or none (the API's sensors_bulk). *rows
 * (may be NULL) receives the rows as stored, in order. On TSK_EINVAL *bad (may be NULL) is the index of
 * the first refused element and err says why (the field first, as for tsk_cat_add); nothing is created. */
int tsk_cat_add_many(PGconn *db, const char *tenant, enum tsk_cat_kind k, const json_t *in, json_t **rows,
    size_t *bad, char *err, size_t errlen);

/* Changes the fields given in `in` of row `id` (updated_at is set to now) and returns the row as stored
 * (row may be NULL). An empty object changes nothing but updated_at. mqtt_client_id cannot change. */
int tsk_cat_set(PGconn *db, const char *tenant, enum tsk_cat_kind k, long long id, const json_t *in, json_t **row,
    char *err, size_t errlen);

/* Deletes row `id`. A site that still has assets is refused (TSK_EINVAL: "site: 3 assets ..."); an asset
 * takes its devices with it, a device its sensors (as in the original: CASCADE). Readings stay. */
int tsk_cat_rm(PGconn *db, const char *tenant, enum tsk_cat_kind k, long long id, char *err, size_t errlen);

/*
 * The online/availability job (the original system) for one tenant, at `now_us` (the tool's clock: TSK_NOW
 * in tests), with the tenant's offline_after setting (default 1h) in place of the original's hour:
 *   active sensors: is_online := last_reading_at >= now - offline_after (NULL last_reading_at: unchanged);
 *   active devices not in ERROR or MAINTENANCE: ONLINE when one active sensor is online (last_seen :=
 *     now when it was OFFLINE), else OFFLINE;
 *   availability of active devices, by h = hours since last_seen: ONLINE h<1 100, <6 95, <12 90,
 *     <24 85, else 70; otherwise h<1 95, <6 80, <12 60, <24 40, else 0; last_seen NULL: ONLINE 100, else 0.
 * One transaction; only rows whose value changes are written, so a second run at the same now writes
 * nothing. r receives the counts.
 */
struct tsk_cat_refresh {
	long long sensors;          /* active sensors checked */
	long long sensors_online;   /* of which online after the run */
	long long sensors_changed;  /* rows whose is_online changed */
	long long devices;          /* active devices checked */
	long long devices_online;
	long long devices_changed;  /* rows whose status changed */
	long long availability_changed;
};
int tsk_cat_refresh(PGconn *db, const char *tenant, int64_t now_us, struct tsk_cat_refresh *r, char *err,
    size_t errlen);

#endif
