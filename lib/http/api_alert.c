/*
 * The tenant API's alert endpoints (the original's /api/alerts/), on lib/alert/:
 *   /api/alerts/rules/                 GET list (enabled, severity, equipment_id; page), POST create
 *   /api/alerts/rules/{id}/            GET, PUT, PATCH, DELETE
 *   /api/alerts/rules/{id}/toggle_status/   POST
 *   /api/alerts/rules/statistics/      GET
 *   /api/alerts/alerts/                GET list (status, severity, rule_id, asset_tag; page)
 *   /api/alerts/alerts/{id}/           GET
 *   /api/alerts/alerts/{id}/acknowledge/, resolve/   POST {notes?}
 *   /api/alerts/alerts/statistics/     GET
 *   /api/alerts/notification-preferences/me/   GET, PUT, PATCH
 *   /api/alerts/notifications/         GET: the caller's in-app notifications (page)
 * Reads need a membership; every write needs owner, admin or operator (a fix: the original let a viewer
 * create and delete rules). Library validation errors ("field: why") become {"field": ["why"]}.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "alert/alert.h"
#include "core/time.h"
#include "core/tsk.h"
#include "http/api.h"

/* A path id: a positive integer, else 0 (answered 404 by the caller). */
static int64_t
path_id(const char *s)
{
	char *end;
	long long v;

	if (*s < '1' || *s > '9' || strlen(s) > 18)
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	return *end == '\0' && errno == 0 ? (int64_t)v : 0;
}

static void
not_found(struct tsk_api_ctx *c)
{
	tsk_api_detail(c, 404, "Não encontrado.");
}

/* A library failure as the API answers it. */
static void
failed(struct tsk_api_ctx *c, int rc, const char *err, int notfound_is_404)
{
	const char *colon = strstr(err, ": ");

	if (rc == TSK_EINVAL || (rc == TSK_ENOTFOUND && !notfound_is_404)) {
		char field[64];
		size_t n = colon != NULL ? (size_t)(colon - err) : 0;

		if (n == 0 || n >= sizeof field || strchr(err, ' ') < colon) {
			tsk_api_json(c, 400, json_pack("{s:[s]}", "non_field_errors", err));
			return;
		}
		memcpy(field, err, n);
		field[n] = '\0';
		tsk_api_field_error(c, field, colon + 2);
	} else if (rc == TSK_ENOTFOUND) {
		not_found(c);
	} else if (rc == TSK_EEXIST) {
		tsk_api_json(c, 400, json_pack("{s:s}", "error", err));
	} else {
		tsk_api_db_error(c, "alerts", err);
	}
}

/* The page of an array: count and the slice at offset. */
static void
page_of(struct tsk_api_ctx *c, json_t *all, int64_t offset)
{
	json_t *page = json_array();

	for (size_t i = (size_t)offset; i < json_array_size(all) && i < (size_t)offset + TSK_API_PAGE_SIZE; i++)
		json_array_append(page, json_array_get(all, i));
	tsk_api_page_reply(c, (int64_t)json_array_size(all), page);
	json_decref(all);
}

/* ---- rules ---------------------------------------------------------------------------------------- */

static void
rules_list(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];
	const char *eq = tsk_api_arg(c, "equipment_id");
	struct tsk_alert_rule_filter f = { tsk_api_arg(c, "enabled"), tsk_api_arg(c, "severity"), 0 };
	int64_t offset;
	json_t *all;
	int rc;

	if (!tsk_api_page(c, &offset))
		return;
	if (eq != NULL && (f.equipment_id = path_id(eq)) == 0) {
		tsk_api_field_error(c, "equipment_id", "Informe um número válido.");
		return;
	}
	if (f.severity != NULL && strlen(f.severity) > 20) {
		tsk_api_field_error(c, "severity", "Severidade inválida.");
		return;
	}
	if ((rc = tsk_alert_rule_list(c->db, c->who.tenant, &f, &all, err, sizeof err)) != TSK_OK) {
		failed(c, rc, err, 1);
		return;
	}
	page_of(c, all, offset);
}

static void
rules_create(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];
	json_t *body = tsk_api_body(c), *out;
	int rc;

	if (body == NULL)
		return;
	rc = tsk_alert_rule_add(c->db, c->who.tenant, body, c->who.user_id, &out, err, sizeof err);
	json_decref(body);
	if (rc != TSK_OK)
		failed(c, rc, err, 0);
	else
		tsk_api_json(c, 201, out);
}

static void
rule_get(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];
	int64_t id = path_id(c->arg[0]);
	json_t *out;
	int rc;

	if (id == 0) {
		not_found(c);
		return;
	}
	if ((rc = tsk_alert_rule_show(c->db, c->who.tenant, id, &out, err, sizeof err)) != TSK_OK)
		failed(c, rc, err, 1);
	else
		tsk_api_json(c, 200, out);
}

/* PUT and PATCH: the fields given (PUT as the original's serializer: the same, with create's checks on
 * what it holds). */
static void
rule_update(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];
	int64_t id = path_id(c->arg[0]);
	json_t *body, *out;
	int rc;

	if (id == 0) {
		not_found(c);
		return;
	}
	if ((body = tsk_api_body(c)) == NULL)
		return;
	rc = tsk_alert_rule_set(c->db, c->who.tenant, id, body, &out, err, sizeof err);
	json_decref(body);
	if (rc == TSK_ENOTFOUND && strncmp(err, "equipment:", 10) == 0)
		failed(c, rc, err, 0);
	else if (rc != TSK_OK)
		failed(c, rc, err, 1);
	else
		tsk_api_json(c, 200, out);
}

static void
rule_delete(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];
	int64_t id = path_id(c->arg[0]);
	int rc;

	if (id == 0) {
		not_found(c);
		return;
	}
	if ((rc = tsk_alert_rule_rm(c->db, c->who.tenant, id, err, sizeof err)) != TSK_OK) {
		failed(c, rc, err, 1);
		return;
	}
	c->out->status = 204;
	c->out->body = NULL;
	c->out->len = 0;
}

static void
rule_toggle(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];
	int64_t id = path_id(c->arg[0]);
	json_t *out;
	int rc;

	if (id == 0) {
		not_found(c);
		return;
	}
	if ((rc = tsk_alert_rule_enable(c->db, c->who.tenant, id, -1, &out, err, sizeof err)) != TSK_OK) {
		failed(c, rc, err, 1);
		return;
	}
	tsk_api_json(c, 200, json_pack("{s:s, s:o}", "status", json_is_true(json_object_get(out, "enabled")) ? "enabled" :
	    "disabled", "rule", out));
}

static void
rules_stats(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];
	json_t *out;
	int rc;

	if ((rc = tsk_alert_rule_stats(c->db, c->who.tenant, &out, err, sizeof err)) != TSK_OK)
		failed(c, rc, err, 1);
	else
		tsk_api_json(c, 200, out);
}

/* ---- alerts --------------------------------------------------------------------------------------- */

static void
alerts_list(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];
	const char *rule = tsk_api_arg(c, "rule_id");
	struct tsk_alert_filter f = { tsk_api_arg(c, "status"), tsk_api_arg(c, "severity"), tsk_api_arg(c, "asset_tag"),
		0, TSK_API_PAGE_SIZE, 0 };
	int64_t count = 0;
	json_t *rows;
	int rc;

	if (!tsk_api_page(c, &f.offset))
		return;
	if (rule != NULL && (f.rule_id = path_id(rule)) == 0) {
		tsk_api_field_error(c, "rule_id", "Informe um número válido.");
		return;
	}
	if ((f.severity != NULL && strlen(f.severity) > 20) || (f.asset_tag != NULL && strlen(f.asset_tag) > 100)) {
		tsk_api_field_error(c, f.asset_tag != NULL && strlen(f.asset_tag) > 100 ? "asset_tag" : "severity",
		    "Valor longo demais.");
		return;
	}
	if ((rc = tsk_alert_list(c->db, c->who.tenant, &f, &rows, &count, err, sizeof err)) != TSK_OK) {
		failed(c, rc, err, 1);
		return;
	}
	tsk_api_page_reply(c, count, rows);
}

static void
alert_get(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];
	int64_t id = path_id(c->arg[0]);
	json_t *out;
	int rc;

	if (id == 0) {
		not_found(c);
		return;
	}
	if ((rc = tsk_alert_show(c->db, c->who.tenant, id, &out, err, sizeof err)) != TSK_OK)
		failed(c, rc, err, 1);
	else
		tsk_api_json(c, 200, out);
}

/* acknowledge/ and resolve/: {notes?} */
static void
alert_act(struct tsk_api_ctx *c, int resolve)
{
	char err[TSK_ERRLEN];
	int64_t id = path_id(c->arg[0]);
	json_t *body, *out, *notes;
	int rc;

	if (id == 0) {
		not_found(c);
		return;
	}
	if ((body = tsk_api_body(c)) == NULL)
		return;
	notes = json_object_get(body, "notes");
	if (notes != NULL && !json_is_null(notes) && (!json_is_string(notes) || json_string_length(notes) > 10000 ||
	    strlen(json_string_value(notes)) != json_string_length(notes))) {
		json_decref(body);
		tsk_api_field_error(c, "notes", "Texto de até 10000 caracteres.");
		return;
	}
	const char *n = json_is_string(notes) ? json_string_value(notes) : NULL;
	rc = resolve ? tsk_alert_resolve(c->db, c->who.tenant, id, c->who.user_id, n, tsk_now_us(), &out, err, sizeof err) :
	    tsk_alert_ack(c->db, c->who.tenant, id, c->who.user_id, n, tsk_now_us(), &out, err, sizeof err);
	json_decref(body);
	if (rc != TSK_OK)
		failed(c, rc, err, 1);
	else
		tsk_api_json(c, 200, json_pack("{s:s, s:o}", "status", resolve ? "resolved" : "acknowledged", "alert", out));
}

static void alert_ack(struct tsk_api_ctx *c) { alert_act(c, 0); }
static void alert_resolve(struct tsk_api_ctx *c) { alert_act(c, 1); }

static void
alerts_stats(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];
	json_t *out;
	int rc;

	if ((rc = tsk_alert_stats(c->db, c->who.tenant, &out, err, sizeof err)) != TSK_OK)
		failed(c, rc, err, 1);
	else
		tsk_api_json(c, 200, out);
}

/* ---- the caller's preferences and inbox ------------------------------------------------------------- */

static int
need_user(struct tsk_api_ctx *c)
{
	if (c->who.user_id > 0)
		return 1;
	tsk_api_detail(c, 403, "Esta ação requer um usuário: um token de API sem usuário não tem preferências.");
	return 0;
}

static void
prefs(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];
	json_t *body = NULL, *out;
	int rc;

	if (!need_user(c))
		return;
	if (strcmp(c->rq->method, "GET") != 0 && strcmp(c->rq->method, "HEAD") != 0 && (body = tsk_api_body(c)) == NULL)
		return;
	rc = tsk_alert_prefs(c->db, c->who.tenant, c->who.user_id, body, &out, err, sizeof err);
	json_decref(body);
	if (rc != TSK_OK)
		failed(c, rc, err, 1);
	else
		tsk_api_json(c, 200, out);
}

static void
inbox(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];
	int64_t offset, count = 0;
	json_t *rows;
	int rc;

	if (!need_user(c) || !tsk_api_page(c, &offset))
		return;
	rc = tsk_alert_inbox(c->db, c->who.tenant, c->who.user_id, TSK_API_PAGE_SIZE, offset, &rows, &count, err,
	    sizeof err);
	if (rc != TSK_OK)
		failed(c, rc, err, 1);
	else
		tsk_api_page_reply(c, count, rows);
}

const struct tsk_api_route tsk_api_alert_routes[] = {
	{ .method = "GET", .pattern = "/api/alerts/rules/", .cap = TSK_CAP_READ, .fn = rules_list },
	{ .method = "POST", .pattern = "/api/alerts/rules/", .cap = TSK_CAP_WRITE, .fn = rules_create },
	{ .method = "GET", .pattern = "/api/alerts/rules/statistics/", .cap = TSK_CAP_READ, .fn = rules_stats },
	{ .method = "GET", .pattern = "/api/alerts/rules/{}/", .cap = TSK_CAP_READ, .fn = rule_get },
	{ .method = "PUT", .pattern = "/api/alerts/rules/{}/", .cap = TSK_CAP_WRITE, .fn = rule_update },
	{ .method = "PATCH", .pattern = "/api/alerts/rules/{}/", .cap = TSK_CAP_WRITE, .fn = rule_update },
	{ .method = "DELETE", .pattern = "/api/alerts/rules/{}/", .cap = TSK_CAP_WRITE, .fn = rule_delete },
	{ .method = "POST", .pattern = "/api/alerts/rules/{}/toggle_status/", .cap = TSK_CAP_WRITE, .fn = rule_toggle },
	{ .method = "GET", .pattern = "/api/alerts/alerts/", .cap = TSK_CAP_READ, .fn = alerts_list },
	{ .method = "GET", .pattern = "/api/alerts/alerts/statistics/", .cap = TSK_CAP_READ, .fn = alerts_stats },
	{ .method = "GET", .pattern = "/api/alerts/alerts/{}/", .cap = TSK_CAP_READ, .fn = alert_get },
	{ .method = "POST", .pattern = "/api/alerts/alerts/{}/acknowledge/", .cap = TSK_CAP_WRITE, .fn = alert_ack },
	{ .method = "POST", .pattern = "/api/alerts/alerts/{}/resolve/", .cap = TSK_CAP_WRITE, .fn = alert_resolve },
	{ .method = "GET", .pattern = "/api/alerts/notification-preferences/me/", .cap = TSK_CAP_READ, .fn = prefs },
	{ .method = "PUT", .pattern = "/api/alerts/notification-preferences/me/", .cap = TSK_CAP_READ, .fn = prefs },
	{ .method = "PATCH", .pattern = "/api/alerts/notification-preferences/me/", .cap = TSK_CAP_READ, .fn = prefs },
	{ .method = "GET", .pattern = "/api/alerts/notifications/", .cap = TSK_CAP_READ, .fn = inbox },
	{ .method = NULL },
};
