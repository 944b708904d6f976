/*
 * The catalog API's extra actions (the original system): a site's assets, devices, device summaries and
 * stats; an asset's devices and sensors, its health and the assets "complete" list; a device's sensors,
 * bulk sensor creation, heartbeat and summary; a sensor's reading. Routes in api_catalog.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "core/buf.h"
#include "core/time.h"
#include "core/tsk.h"
#include "http/api.h"
#include "http/api_catalog_impl.h"
#include "pg/db.h"

#define BULK_MAX 500   /* sensors in one sensors_bulk request */

/* ---- nested lists ------------------------------------------------------------------------------- */

/* The nested lists are bare arrays, as the original's actions answer them; only complete/ is paged. */
void
cat_site_assets(struct tsk_api_ctx *c)
{
	char id[24];

	if (cat_id(c, 0, id))
		cat_list(c, &cat_asset, &cat_site, "a.site_id = $1::bigint", id, cat_site_asset_filters, 0, 0);
}

void
cat_site_devices(struct tsk_api_ctx *c)
{
	char id[24];

	if (cat_id(c, 0, id))
		cat_list(c, &cat_device, &cat_site, "a.site_id = $1::bigint", id, cat_site_device_filters, 0, 0);
}

void
cat_site_devices_summary(struct tsk_api_ctx *c)
{
	char id[24];

	if (cat_id(c, 0, id))
		cat_list(c, &cat_device_summary_res, &cat_site, "a.site_id = $1::bigint", id, NULL, 0, 0);
}

void
cat_asset_devices(struct tsk_api_ctx *c)
{
	char id[24];

	if (cat_id(c, 0, id))
		cat_list(c, &cat_device, &cat_asset, "d.asset_id = $1::bigint", id, NULL, 0, 0);
}

void
cat_asset_sensors(struct tsk_api_ctx *c)
{
	char id[24];

	if (cat_id(c, 0, id))
		cat_list(c, &cat_sensor, &cat_asset, "d.asset_id = $1::bigint", id, cat_asset_sensor_filters, 0, 0);
}

void
cat_device_sensors(struct tsk_api_ctx *c)
{
	char id[24];

	if (cat_id(c, 0, id))
		cat_list(c, &cat_sensor, &cat_device, "d.id = $1::bigint", id, NULL, 0, 0);
}

void
cat_asset_complete(struct tsk_api_ctx *c)
{
	cat_list(c, &cat_asset_complete_res, NULL, NULL, NULL, cat_asset_complete_res.filters, 1, 1);
}

void
cat_device_summary(struct tsk_api_ctx *c)
{
	cat_show(c, &cat_device_summary_res);
}

/* ---- site stats --------------------------------------------------------------------------------- */

/* assets_with_active_alerts counts the site's assets (by tag, as alerts name them) with an alert that is
 * neither acknowledged nor resolved. */
void
cat_site_stats(struct tsk_api_ctx *c)
{
	static const char sql[] =
	    "WITH a AS (SELECT * FROM asset WHERE site_id = $1::bigint),"
	    " dv AS (SELECT d.* FROM device d JOIN a ON d.asset_id = a.id),"
	    " sn AS (SELECT x.* FROM sensor x JOIN dv ON x.device_id = dv.device_id)"
	    " SELECT json_build_object('total_assets', (SELECT count(*) FROM a),"
	    " 'assets_by_status', coalesce((SELECT json_object_agg(status, n ORDER BY status)"
	    "   FROM (SELECT status, count(*) AS n FROM a GROUP BY status) t), '{}'::json),"
	    " 'assets_by_type', coalesce((SELECT json_object_agg(asset_type, n ORDER BY asset_type)"
	    "   FROM (SELECT asset_type, count(*) AS n FROM a GROUP BY asset_type) t), '{}'::json),"
	    " 'total_devices', (SELECT count(*) FROM dv),"
	    " 'online_devices', (SELECT count(*) FROM dv WHERE status = 'ONLINE'),"
	    " 'avg_device_availability', (SELECT coalesce(round(avg(availability)::numeric, 1), 0.0) FROM dv),"
	    " 'total_sensors', (SELECT count(*) FROM sn),"
	    " 'online_sensors', (SELECT count(*) FROM sn WHERE is_online),"
	    " 'assets_with_active_alerts', (SELECT count(DISTINCT al.asset_tag) FROM alert al"
	    "   WHERE al.asset_tag IN (SELECT tag FROM a) AND NOT al.acknowledged AND NOT al.resolved))::text"
	    " FROM site WHERE id = $1::bigint";
	char id[24], err[TSK_ERRLEN], *o = NULL;
	const char *p[1] = { id };
	PGresult *res;

	if (!cat_id(c, 0, id) || !cat_begin(c))
		return;
	if (tsk_db_exec(c->db, sql, 1, p, &res, err, sizeof err) != TSK_OK) {
		cat_failed(c, "stats", err);
		return;
	}
	if (PQntuples(res) == 1 && (o = strdup(PQgetvalue(res, 0, 0))) == NULL) {
		PQclear(res);
		cat_failed(c, "stats", "out of memory");
		return;
	}
	PQclear(res);
	if (!cat_commit(c)) {
		free(o);
		return;
	}
	if (o == NULL)
		cat_not_found(c);
	else
		tsk_api_text(c, 200, cat_compact(o));
}

/* ---- small writes ------------------------------------------------------------------------------- */

/*
 * Runs sql (with $1 the path's id and the body's fields as $2...: names, each parsed as the resource's
 * field of that name or, for a name of no field, by spec) in a transaction and answers r's row.
 */
struct arg {
	const char *name;
	enum cat_type type;
	unsigned flags;
};

static void
update_action(struct tsk_api_ctx *c, const struct cat_res *r, const char *sql, const struct arg *args, int nargs)
{
	struct cat_field f[4];
	struct cat_res tmp = *r;
	struct cat_vals *v = calloc(1, sizeof *v);
	json_t *body = NULL, *errors = json_object();
	const char *p[5];
	char id[24], err[TSK_ERRLEN], *o = NULL;
	PGresult *res;
	int n, rc;

	if (v == NULL || errors == NULL) {
		tsk_api_detail(c, 500, "out of memory");
		goto out;
	}
	if (!cat_id(c, 0, id) || (body = tsk_api_body(c)) == NULL)
		goto out;
	memset(f, 0, sizeof f);
	for (int i = 0; i < nargs && i < 3; i++) {
		f[i].name = args[i].name;
		f[i].col = args[i].name;
		f[i].type = args[i].type;
		f[i].flags = args[i].flags;
		f[i].min = -1.7976931348623157e308;
		f[i].max = 1.7976931348623157e308;
	}
	tmp.fields = f;
	if (!cat_validate(&tmp, body, 0, v, errors)) {
		tsk_api_json(c, 400, errors);
		errors = NULL;
		goto out;
	}
	p[0] = id;
	for (int i = 0; i < nargs && i < 3; i++)
		p[1 + i] = v->present[i] ? v->val[i] : NULL;
	if (!cat_begin(c))
		goto out;
	if (tsk_db_exec(c->db, sql, 1 + nargs, p, &res, err, sizeof err) != TSK_OK) {
		cat_failed(c, "update", err);
		goto out;
	}
	n = PQntuples(res);
	PQclear(res);
	if (n == 0) {
		tsk_db_rollback(c->db);
		cat_not_found(c);
		goto out;
	}
	if ((rc = cat_row(c, r, id, &o, err, sizeof err)) != TSK_OK) {
		cat_failed(c, "update", err);
		goto out;
	}
	if (!cat_commit(c)) {
		free(o);
		goto out;
	}
	tsk_api_text(c, 200, o);
out:
	if (v != NULL)
		cat_vals_free(v);
	free(v);
	json_decref(body);
	json_decref(errors);
}

/* POST {timestamp?}: ONLINE, last seen then or now. (The original answered 500 here, reading a
 * Device.is_online that does not exist; the answer is the device.) */
void
cat_device_heartbeat(struct tsk_api_ctx *c)
{
	static const struct arg args[] = { { "timestamp", CAT_TIME, CAT_NULL } };

	update_action(c, &cat_device,
	    "UPDATE device SET status = 'ONLINE', last_seen = coalesce($2::timestamptz, now()), updated_at = now()"
	    " WHERE id = $1::bigint RETURNING id", args, 1);
}

/* POST {value, timestamp?}: the sensor's last value, read then or now, and online. */
void
cat_sensor_update_reading(struct tsk_api_ctx *c)
{
	static const struct arg args[] = { { "value", CAT_FLOAT, CAT_REQUIRED }, { "timestamp", CAT_TIME, CAT_NULL } };

	update_action(c, &cat_sensor,
	    "UPDATE sensor SET last_value = $2::double precision, last_reading_at = coalesce($3::timestamptz, now()),"
	    " is_online = true, updated_at = now() WHERE id = $1::bigint RETURNING id", args, 2);
}

/* POST: the original's was a no-op that answers the asset as it is; so is this. */
void
cat_asset_calculate_health(struct tsk_api_ctx *c)
{
	update_action(c, &cat_asset, "SELECT id FROM asset WHERE id = $1::bigint FOR UPDATE", NULL, 0);
}

/* ---- sensors_bulk ------------------------------------------------------------------------------- */

/* An earlier item of the same batch with this item's tag, or its metric type (the rules cat_check
 * applies against the table, applied within the batch): the error added to e. */
static void
same_batch(const json_t *valid, const json_t *item, json_t *e)
{
	const char *tag = json_string_value(json_object_get(item, "tag"));
	const char *mt = json_string_value(json_object_get(item, "metric_type"));
	size_t i;
	json_t *prev;

	json_array_foreach(valid, i, prev) {
		const char *pt = json_string_value(json_object_get(prev, "tag"));
		const char *pm = json_string_value(json_object_get(prev, "metric_type"));

		if (tag != NULL && pt != NULL && strcmp(tag, pt) == 0) {
			json_object_set_new(e, "non_field_errors", json_pack("[s]", "Os campos device, tag devem criar um set único."));
			return;
		}
		if (mt != NULL && pm != NULL && strcmp(mt, pm) == 0) {
			json_object_set_new(e, "non_field_errors",
			    json_pack("[s]", "Os campos device, metric_type devem criar um set único."));
			return;
		}
	}
}

/* POST {"sensors": [{tag, metric_type, unit, ...}, ...]}: all or none, 201 with the sensors created.
 * Each item is a sensor of this device (a "device" it gives is overridden) and is checked as a single
 * create is; then registry/catalog writes them in one transaction (tsk_cat_add_many). Errors are per
 * item, {} for a good one, as DRF's list serializer gives them. */
void
cat_device_sensors_bulk(struct tsk_api_ctx *c)
{
	struct cat_vals *v = calloc(1, sizeof *v);
	struct tsk_buf created = TSK_BUF_INIT;
	json_t *body = NULL, *items, *errors = json_array(), *dev = NULL, *valid = json_array(), *rows = NULL, *row;
	char id[24], err[TSK_ERRLEN], rid[24], msg[128], *o;
	size_t i, n, badi = 0;
	int bad = 0, rc;

	if (v == NULL || errors == NULL || valid == NULL) {
		tsk_api_detail(c, 500, "out of memory");
		goto out;
	}
	if (!cat_id(c, 0, id) || (body = tsk_api_body(c)) == NULL)
		goto out;
	items = json_object_get(body, "sensors");
	if (items == NULL) {
		tsk_api_field_error(c, "sensors", "Este campo é obrigatório.");
		goto out;
	}
	if (!json_is_array(items)) {
		snprintf(msg, sizeof msg, "Esperado uma lista de itens mas recebido tipo \"%s\".",
		    json_is_object(items) ? "dict" : json_is_string(items) ? "str" : json_is_null(items) ? "NoneType" : "int");
		tsk_api_field_error(c, "sensors", msg);
		goto out;
	}
	if ((n = json_array_size(items)) == 0) {
		tsk_api_field_error(c, "sensors", "Esta lista não pode estar vazia.");
		goto out;
	}
	if (n > BULK_MAX) {
		snprintf(msg, sizeof msg, "Certifique-se de que este campo não tenha mais de %d elementos.", BULK_MAX);
		tsk_api_field_error(c, "sensors", msg);
		goto out;
	}
	if (!cat_begin(c))
		goto out;
	if ((rc = cat_exists(c, &cat_device, id, err, sizeof err)) <= 0) {
		if (rc < 0)
			cat_failed(c, "sensors_bulk", err);
		else {
			tsk_db_rollback(c->db);
			cat_not_found(c);
		}
		goto out;
	}
	dev = json_integer(strtoll(id, NULL, 10));
	for (i = 0; i < n; i++) {
		json_t *item = json_array_get(items, i), *e = json_object(), *copy, *in;

		if (!json_is_object(item)) {
			json_object_set_new(e, "non_field_errors",
			    json_pack("[s]", "Dados inválidos. Esperado um dicionário, mas recebido outro tipo."));
			json_array_append_new(errors, e);
			bad = 1;
			continue;
		}
		copy = json_copy(item);
		json_object_set(copy, "device", dev);
		if (cat_validate(&cat_sensor, copy, 0, v, e)) {
			rc = cat_check(c, &cat_sensor, NULL, v, e, err, sizeof err);
			if (rc != TSK_OK && rc != TSK_EINVAL) {
				json_decref(copy);
				json_decref(e);
				cat_vals_free(v);
				cat_failed(c, "sensors_bulk", err);
				goto out;
			}
			if (rc == TSK_OK && (in = cat_vals_json(&cat_sensor, v)) != NULL) {
				same_batch(valid, in, e);
				json_array_append_new(valid, in);
			}
		}
		cat_vals_free(v);
		json_decref(copy);
		if (json_object_size(e) > 0)
			bad = 1;
		json_array_append_new(errors, e);
	}
	tsk_db_rollback(c->db);
	if (bad)
		goto refused;
	rc = tsk_cat_add_many(c->db, c->who.tenant, TSK_CAT_SENSOR, valid, &rows, &badi, err, sizeof err);
	if (rc == TSK_EINVAL) {
		/* A race with another writer: the library's refusal, on the item it names. */
		if (badi < json_array_size(errors))
			json_array_set_new(errors, badi, cat_refusal(&cat_sensor, err));
		goto refused;
	}
	if (rc != TSK_OK) {
		tsk_api_db_error(c, "sensors_bulk", err);
		goto out;
	}
	/* The rows as the API shows them (the library's are the CLI's: UTC times, no names). */
	if (!cat_begin(c))
		goto out;
	tsk_buf_puts(&created, "[");
	json_array_foreach(rows, i, row) {
		snprintf(rid, sizeof rid, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(row, "id")));
		if (cat_row(c, &cat_sensor, rid, &o, err, sizeof err) != TSK_OK) {
			cat_failed(c, "sensors_bulk", err);
			goto out;
		}
		tsk_buf_puts(&created, i > 0 ? "," : "");
		tsk_buf_puts(&created, o);
		free(o);
	}
	tsk_buf_puts(&created, "]");
	if (!cat_commit(c))
		goto out;
	tsk_api_text(c, 201, tsk_buf_take(&created));
	goto out;
refused:
	tsk_api_json(c, 400, json_pack("{s:o}", "sensors", errors));
	errors = NULL;
out:
	free(v);
	tsk_buf_free(&created);
	json_decref(dev);
	json_decref(body);
	json_decref(errors);
	json_decref(valid);
	json_decref(rows);
}
