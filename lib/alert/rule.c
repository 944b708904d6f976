/*
 * Alert rules: validation of the original's create/update bodies, storage, and the rule as the API
 * shows it (see alert.h). Validation errors are "field: message" in err.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "alert/alert.h"
#include "core/tsk.h"
#include "pg/db.h"

#define MAX_PARAMS 64

static const char *const actions_ok[] = { "EMAIL", "IN_APP", "SMS", "WHATSAPP", "WEBHOOK" };
static const char *const operators_ok[] = { ">", ">=", "<", "<=", "==", "!=" };
static const char *const severities[] = { "Critical", "High", "Medium", "Low" };

struct param {
	char key[101], variable[101], op[3], unit[51], severity[9];
	double threshold;
	long duration;
	const char *tmpl;
};

/* ---- validation ----------------------------------------------------------------------------------- */

static int
bad(char *err, size_t errlen, const char *field, const char *fmt, const char *arg)
{
	char msg[200];

	snprintf(msg, sizeof msg, fmt, arg != NULL ? arg : "");
	return tsk_seterr(err, errlen, TSK_EINVAL, "%s: %s", field, msg);
}

/* A string field of at most max bytes into out (outlen > max). absent: *out untouched, TSK_OK. */
static int
str_field(json_t *o, const char *name, const char *field, size_t max, int required, char *out, size_t outlen,
    char *err, size_t errlen)
{
	json_t *v = json_object_get(o, name);

	if (v == NULL || json_is_null(v)) {
		if (required)
			return bad(err, errlen, field, "Este campo é obrigatório.", NULL);
		return TSK_OK;
	}
	if (!json_is_string(v))
		return bad(err, errlen, field, "Not a valid string.", NULL);
	if (json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v)) {
		char m[80];
		snprintf(m, sizeof m, "Certifique-se de que este campo não tenha mais de %zu caracteres.", max);
		return bad(err, errlen, field, "%s", m);
	}
	if (required && json_string_length(v) == 0)
		return bad(err, errlen, field, "Este campo não pode ser em branco.", NULL);
	snprintf(out, outlen, "%s", json_string_value(v));
	return TSK_OK;
}

static int
severity_of(const char *s, char *out, size_t outlen)
{
	for (size_t i = 0; i < sizeof severities / sizeof severities[0]; i++)
		if (strcasecmp(s, severities[i]) == 0) {
			snprintf(out, outlen, "%s", severities[i]);
			return 1;
		}
	return 0;
}

/* One parameter object (or the rule's own legacy fields), as field prefix `where`. */
static int
parse_param(json_t *o, const char *where, struct param *p, char *err, size_t errlen)
{
	char field[96];
	json_t *v;
	int rc;

	memset(p, 0, sizeof p[0]);
	snprintf(p->severity, sizeof p->severity, "Medium");
	p->duration = 5;
	if (!json_is_object(o))
		return bad(err, errlen, where, "Esperado um dicionário.", NULL);
#define F(name) (snprintf(field, sizeof field, "%s%s", where, name), field)
	if ((rc = str_field(o, "parameter_key", F("parameter_key"), 100, 1, p->key, sizeof p->key, err, errlen)) != TSK_OK ||
	    (rc = str_field(o, "variable_key", F("variable_key"), 100, 0, p->variable, sizeof p->variable, err,
	    errlen)) != TSK_OK || (rc = str_field(o, "unit", F("unit"), 50, 0, p->unit, sizeof p->unit, err, errlen)) !=
	    TSK_OK || (rc = str_field(o, "operator", F("operator"), 2, 1, p->op, sizeof p->op, err, errlen)) != TSK_OK)
		return rc;
	int known = 0;
	for (size_t i = 0; i < sizeof operators_ok / sizeof operators_ok[0]; i++)
		known |= strcmp(p->op, operators_ok[i]) == 0;
	if (!known)
		return bad(err, errlen, F("operator"), "\"%s\" não é um escolha válido.", p->op);
	v = json_object_get(o, "threshold");
	if (v == NULL || json_is_null(v))
		return bad(err, errlen, F("threshold"), "Este campo é obrigatório.", NULL);
	if (!json_is_number(v) || !isfinite(json_number_value(v)))
		return bad(err, errlen, F("threshold"), "Um número válido é necessário.", NULL);
	p->threshold = json_number_value(v);
	v = json_object_get(o, "duration");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > 10080)
			return bad(err, errlen, F("duration"), "A duração deve ser um número inteiro de minutos, de 1 a 10080.",
			    NULL);
		p->duration = (long)json_integer_value(v);
	}
	v = json_object_get(o, "severity");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || !severity_of(json_string_value(v), p->severity, sizeof p->severity))
			return bad(err, errlen, F("severity"), "Severidade inválida: %s",
			    json_is_string(v) ? json_string_value(v) : "?");
	}
	v = json_object_get(o, "message_template");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || json_string_length(v) > 2000 ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return bad(err, errlen, F("message_template"), "Texto de até 2000 caracteres.", NULL);
		p->tmpl = json_string_value(v);
	}
	if (p->tmpl == NULL || p->tmpl[0] == '\0')
		p->tmpl = "Alerta disparado para parâmetro {sensor}";
#undef F
	return TSK_OK;
}

static int
parse_actions(json_t *v, char *err, size_t errlen)
{
	size_t i;
	json_t *a;

	if (!json_is_array(v) || json_array_size(v) == 0)
		return bad(err, errlen, "actions", "Selecione pelo menos uma ação.", NULL);
	json_array_foreach(v, i, a) {
		int known = 0;
		if (!json_is_string(a))
			return bad(err, errlen, "actions", "Ação inválida.", NULL);
		for (size_t k = 0; k < sizeof actions_ok / sizeof actions_ok[0]; k++)
			known |= strcmp(json_string_value(a), actions_ok[k]) == 0;
		if (!known || json_string_length(a) > 20) {
			char m[120];
			snprintf(m, sizeof m, "Ação '%.20s' inválida. Opções válidas: EMAIL, IN_APP, SMS, WHATSAPP, WEBHOOK",
			    json_string_value(a));
			return bad(err, errlen, "actions", "%s", m);
		}
	}
	return TSK_OK;
}

/* The parameters of a body: the "parameters" list, or the legacy fields. *n 0 when neither is there
 * (allowed only when updating). */
static int
parse_params(json_t *body, struct param *ps, size_t *n, int creating, char *err, size_t errlen)
{
	json_t *list = json_object_get(body, "parameters"), *o;
	size_t i;
	int rc;

	*n = 0;
	if (list != NULL && !json_is_null(list)) {
		if (!json_is_array(list))
			return bad(err, errlen, "parameters", "Esperado uma lista de itens.", NULL);
		if (json_array_size(list) == 0)
			return bad(err, errlen, "parameters", "Pelo menos um parâmetro é obrigatório.", NULL);
		if (json_array_size(list) > MAX_PARAMS)
			return bad(err, errlen, "parameters", "No máximo 64 parâmetros por regra.", NULL);
		json_array_foreach(list, i, o) {
			char where[48];   /* "parameters[" + a size_t + "]." */
			snprintf(where, sizeof where, "parameters[%zu].", i);
			if ((rc = parse_param(o, where, &ps[i], err, errlen)) != TSK_OK)
				return rc;
		}
		*n = json_array_size(list);
		return TSK_OK;
	}
	if (json_object_get(body, "parameter_key") != NULL) {
		if ((rc = parse_param(body, "", &ps[0], err, errlen)) != TSK_OK)
			return rc;
		*n = 1;
		return TSK_OK;
	}
	if (creating)
		return bad(err, errlen, "parameters", "Informe parameters (ou parameter_key, operator e threshold).", NULL);
	return TSK_OK;
}

/* The equipment (asset id or tag) as an asset id. */
static int
equipment_id(PGconn *db, json_t *v, int64_t *id, char *err, size_t errlen)
{
	char num[32];
	const char *p[2] = { NULL, NULL };
	PGresult *res;
	int rc;

	if (json_is_integer(v)) {
		snprintf(num, sizeof num, "%" PRId64, (int64_t)json_integer_value(v));
		p[0] = num;
	} else if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= 100 &&
	    strlen(json_string_value(v)) == json_string_length(v)) {
		p[1] = json_string_value(v);
	} else {
		return bad(err, errlen, "equipment", "Informe o id ou a tag de um equipamento.", NULL);
	}
	rc = tsk_db_exec(db, "SELECT id FROM asset WHERE id = $1::bigint OR tag = $2", 2, p, &res, err, errlen);
	if (rc != TSK_OK)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "equipment: Pk inválido - objeto não existe.");
	}
	*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return TSK_OK;
}

/* ---- storage -------------------------------------------------------------------------------------- */

static int
store_params(PGconn *db, int64_t rule, const struct param *ps, size_t n, char *err, size_t errlen)
{
	char rid[32], thr[40], dur[24], ord[24];
	int rc;

	snprintf(rid, sizeof rid, "%" PRId64, rule);
	if ((rc = tsk_db_exec(db, "DELETE FROM alert_rule_parameter WHERE rule_id = $1", 1, (const char *[]){ rid }, NULL,
	    err, errlen)) != TSK_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		snprintf(thr, sizeof thr, "%.17g", ps[i].threshold);
		snprintf(dur, sizeof dur, "%ld", ps[i].duration);
		snprintf(ord, sizeof ord, "%zu", i);
		const char *p[] = { rid, ps[i].key, ps[i].variable, ps[i].op, thr, ps[i].unit, dur, ps[i].severity,
			ps[i].tmpl, ord };
		if ((rc = tsk_db_exec(db,
		    "INSERT INTO alert_rule_parameter (rule_id, parameter_key, variable_key, operator, threshold, unit,"
		    " duration, severity, message_template, \"order\") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		    10, p, NULL, err, errlen)) != TSK_OK)
			return rc;
	}
	/* The original's legacy fields mirror the first parameter. */
	if (n > 0) {
		snprintf(thr, sizeof thr, "%.17g", ps[0].threshold);
		snprintf(dur, sizeof dur, "%ld", ps[0].duration);
		const char *p[] = { rid, ps[0].key, ps[0].variable, ps[0].op, thr, ps[0].unit, dur, ps[0].severity };
		rc = tsk_db_exec(db, "UPDATE alert_rule SET parameter_key = $2, variable_key = $3, operator = $4,"
		    " threshold = $5, unit = $6, duration = $7, severity = $8, updated_at = now() WHERE id = $1", 8, p, NULL,
		    err, errlen);
	}
	return rc;
}

#define RULE_JSON \
	"SELECT json_build_object('id', r.id, 'name', r.name, 'description', r.description," \
	" 'equipment', r.equipment_id, 'equipment_name', a.name, 'equipment_tag', a.tag," \
	" 'parameter_key', r.parameter_key, 'variable_key', r.variable_key, 'operator', r.operator," \
	" 'threshold', r.threshold, 'unit', r.unit, 'duration', r.duration, 'severity', r.severity," \
	" 'condition_display', concat_ws(' ', r.parameter_key, r.operator, r.threshold)," \
	" 'actions', r.actions, 'enabled', r.enabled, 'created_by', r.created_by_id, 'created_by_email', u.email," \
	" 'created_at', r.created_at, 'updated_at', r.updated_at," \
	" 'parameters', coalesce((SELECT json_agg(json_build_object('id', p.id, 'parameter_key', p.parameter_key," \
	"   'variable_key', p.variable_key, 'operator', p.operator, 'threshold', p.threshold, 'unit', p.unit," \
	"   'duration', p.duration, 'severity', p.severity, 'message_template', p.message_template," \
	"   'order', p.\"order\") ORDER BY p.\"order\", p.id) FROM alert_rule_parameter p WHERE p.rule_id = r.id)," \
	"   '[]'::json))" \
	" FROM alert_rule r JOIN asset a ON a.id = r.equipment_id LEFT JOIN public.app_user u ON u.id = r.created_by_id"

/* The rule inside an open transaction that entered the tenant. */
static int
show_in(PGconn *db, int64_t id, json_t **out, char *err, size_t errlen)
{
	char num[32];
	json_t *arr;
	int rc;

	snprintf(num, sizeof num, "%" PRId64, id);
	if ((rc = tsk_db_json_rows(db, RULE_JSON " WHERE r.id = $1", 1, (const char *[]){ num }, &arr, err, errlen)) !=
	    TSK_OK)
		return rc;
	if (json_array_size(arr) == 0) {
		json_decref(arr);
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "no alert rule %" PRId64, id);
	}
	*out = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	return TSK_OK;
}

/* The rule fields of a body into the UPDATE's parameters (NULL: unchanged). */
static int
rule_fields(PGconn *db, json_t *body, int creating, char *name, char *desc, size_t desclen, int64_t *equip,
    const char **enabled, char **actions, char *err, size_t errlen)
{
	json_t *v;
	int rc;

	if ((rc = str_field(body, "name", "name", 200, creating, name, 201, err, errlen)) != TSK_OK)
		return rc;
	if (!creating && json_object_get(body, "name") != NULL && name[0] == '\0')
		return bad(err, errlen, "name", "Este campo não pode ser em branco.", NULL);
	if ((v = json_object_get(body, "description")) != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || json_string_length(v) >= desclen || strlen(json_string_value(v)) != json_string_length(v))
			return bad(err, errlen, "description", "Texto de até 10000 caracteres.", NULL);
		snprintf(desc, desclen, "%s", json_string_value(v));
	}
	if ((v = json_object_get(body, "equipment")) == NULL)
		v = json_object_get(body, "equipment_id");
	if (v != NULL) {
		if ((rc = equipment_id(db, v, equip, err, errlen)) != TSK_OK)
			return rc;
	} else if (creating) {
		return bad(err, errlen, "equipment", "Este campo é obrigatório.", NULL);
	}
	if ((v = json_object_get(body, "enabled")) != NULL) {
		if (!json_is_boolean(v))
			return bad(err, errlen, "enabled", "Must be a valid boolean.", NULL);
		*enabled = json_is_true(v) ? "true" : "false";
	}
	if ((v = json_object_get(body, "actions")) != NULL || creating) {
		if ((rc = parse_actions(v, err, errlen)) != TSK_OK)
			return rc;
		if ((*actions = json_dumps(v, JSON_COMPACT)) == NULL)
			return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	}
	return TSK_OK;
}

int
tsk_alert_rule_add(PGconn *db, const char *tenant, json_t *body, int64_t created_by, json_t **out, char *err,
    size_t errlen)
{
	struct param *ps = calloc(MAX_PARAMS, sizeof *ps);
	char name[201] = "", desc[10001] = "", eq[32], by[32];
	const char *enabled = NULL;
	char *actions = NULL;
	int64_t equip = 0, id;
	size_t n;
	PGresult *res = NULL;
	int rc;

	if (ps == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	if (!json_is_object(body)) {
		rc = bad(err, errlen, "non_field_errors", "Esperado um dicionário.", NULL);
		goto out;
	}
	if ((rc = parse_params(body, ps, &n, 1, err, errlen)) != TSK_OK || (rc = tsk_db_begin_tenant(db, tenant, err, errlen)) != TSK_OK)
		goto out;
	if ((rc = rule_fields(db, body, 1, name, desc, sizeof desc, &equip, &enabled, &actions, err, errlen)) == TSK_OK) {
		snprintf(eq, sizeof eq, "%" PRId64, equip);
		snprintf(by, sizeof by, "%" PRId64, created_by);
		const char *p[] = { name, desc, eq, actions, enabled != NULL ? enabled : "true", created_by > 0 ? by : NULL };
		rc = tsk_db_exec(db, "INSERT INTO alert_rule (name, description, equipment_id, actions, enabled, created_by_id)"
		    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", 6, p, &res, err, errlen);
	}
	if (rc == TSK_OK) {
		id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		if ((rc = store_params(db, id, ps, n, err, errlen)) == TSK_OK)
			rc = show_in(db, id, out, err, errlen);
	}
	PQclear(res);
	rc = tsk_db_end(db, rc, err, errlen);
out:
	free(actions);
	free(ps);
	return rc;
}

int
tsk_alert_rule_set(PGconn *db, const char *tenant, int64_t id, json_t *body, json_t **out, char *err, size_t errlen)
{
	struct param *ps = calloc(MAX_PARAMS, sizeof *ps);
	char name[201] = "", desc[10001] = "", eq[32], num[32];
	const char *enabled = NULL;
	char *actions = NULL;
	int64_t equip = 0;
	size_t n;
	long long rows = 0;
	int rc;

	if (ps == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	if (!json_is_object(body)) {
		rc = bad(err, errlen, "non_field_errors", "Esperado um dicionário.", NULL);
		goto out;
	}
	if ((rc = parse_params(body, ps, &n, 0, err, errlen)) != TSK_OK || (rc = tsk_db_begin_tenant(db, tenant, err, errlen)) != TSK_OK)
		goto out;
	rc = rule_fields(db, body, 0, name, desc, sizeof desc, &equip, &enabled, &actions, err, errlen);
	if (rc == TSK_OK) {
		snprintf(num, sizeof num, "%" PRId64, id);
		snprintf(eq, sizeof eq, "%" PRId64, equip);
		const char *p[] = { num, name[0] ? name : NULL, json_object_get(body, "description") ? desc : NULL,
			equip > 0 ? eq : NULL, actions, enabled };
		rc = tsk_db_exec_rows(db, "UPDATE alert_rule SET name = coalesce($2, name),"
		    " description = coalesce($3, description), equipment_id = coalesce($4::bigint, equipment_id),"
		    " actions = coalesce($5::jsonb, actions), enabled = coalesce($6::boolean, enabled), updated_at = now()"
		    " WHERE id = $1", 6, p, &rows, err, errlen);
		if (rc == TSK_OK && rows == 0)
			rc = tsk_seterr(err, errlen, TSK_ENOTFOUND, "no alert rule %" PRId64, id);
	}
	if (rc == TSK_OK && n > 0)
		rc = store_params(db, id, ps, n, err, errlen);
	if (rc == TSK_OK)
		rc = show_in(db, id, out, err, errlen);
	rc = tsk_db_end(db, rc, err, errlen);
out:
	free(actions);
	free(ps);
	return rc;
}

int
tsk_alert_rule_enable(PGconn *db, const char *tenant, int64_t id, int enabled, json_t **out, char *err, size_t errlen)
{
	char num[32];
	long long rows = 0;
	int rc;

	snprintf(num, sizeof num, "%" PRId64, id);
	if ((rc = tsk_db_begin_tenant(db, tenant, err, errlen)) != TSK_OK)
		return rc;
	const char *p[] = { num, enabled < 0 ? NULL : enabled ? "true" : "false" };
	rc = tsk_db_exec_rows(db, "UPDATE alert_rule SET enabled = coalesce($2::boolean, NOT enabled), updated_at = now()"
	    " WHERE id = $1", 2, p, &rows, err, errlen);
	if (rc == TSK_OK && rows == 0)
		rc = tsk_seterr(err, errlen, TSK_ENOTFOUND, "no alert rule %" PRId64, id);
	if (rc == TSK_OK)
		rc = show_in(db, id, out, err, errlen);
	return tsk_db_end(db, rc, err, errlen);
}

int
tsk_alert_rule_rm(PGconn *db, const char *tenant, int64_t id, char *err, size_t errlen)
{
	char num[32];
	long long rows = 0;
	int rc;

	snprintf(num, sizeof num, "%" PRId64, id);
	if ((rc = tsk_db_begin_tenant(db, tenant, err, errlen)) != TSK_OK)
		return rc;
	rc = tsk_db_exec_rows(db, "DELETE FROM alert_rule WHERE id = $1", 1, (const char *[]){ num }, &rows, err, errlen);
	if (rc == TSK_OK && rows == 0)
		rc = tsk_seterr(err, errlen, TSK_ENOTFOUND, "no alert rule %" PRId64, id);
	return tsk_db_end(db, rc, err, errlen);
}

int
tsk_alert_rule_show(PGconn *db, const char *tenant, int64_t id, json_t **out, char *err, size_t errlen)
{
	int rc;

	if ((rc = tsk_db_begin_tenant(db, tenant, err, errlen)) != TSK_OK)
		return rc;
	return tsk_db_end(db, show_in(db, id, out, err, errlen), err, errlen);
}

int
tsk_alert_rule_list(PGconn *db, const char *tenant, const struct tsk_alert_rule_filter *f, json_t **out, char *err,
    size_t errlen)
{
	char eq[32];
	int rc;

	if (f->enabled != NULL && strcmp(f->enabled, "true") != 0 && strcmp(f->enabled, "false") != 0)
		return bad(err, errlen, "enabled", "Use true ou false.", NULL);
	snprintf(eq, sizeof eq, "%" PRId64, f->equipment_id);
	const char *p[] = { f->enabled, f->severity, f->equipment_id > 0 ? eq : NULL };
	if ((rc = tsk_db_begin_tenant(db, tenant, err, errlen)) != TSK_OK)
		return rc;
	rc = tsk_db_json_rows(db, RULE_JSON " WHERE ($1::boolean IS NULL OR r.enabled = $1::boolean)"
	    " AND ($2::text IS NULL OR lower(r.severity) = lower($2)) AND ($3::bigint IS NULL OR r.equipment_id = $3::bigint)"
	    " ORDER BY r.created_at DESC, r.id DESC", 3, p, out, err, errlen);
	return tsk_db_end(db, rc, err, errlen);
}
