/*
 * Alerts as the API and the CLI list them, and what people do to them: acknowledge, resolve by hand,
 * silence; and the cleanup of old resolved ones (see alert.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "alert/alert.h"
#include "core/time.h"
#include "core/tsk.h"
#include "pg/db.h"

#define ALERT_JSON \
	"SELECT json_build_object('id', x.id, 'rule', x.rule_id, 'rule_name', coalesce(r.name, '(Regra Deletada)')," \
	" 'equipment_name', coalesce(nullif(a.name, ''), x.asset_tag), 'message', x.message, 'severity', x.severity," \
	" 'severity_display', CASE x.severity WHEN 'Critical' THEN 'Crítico' WHEN 'High' THEN 'Alto'" \
	"   WHEN 'Medium' THEN 'Médio' WHEN 'Low' THEN 'Baixo' ELSE x.severity END," \
	" 'asset_tag', x.asset_tag, 'parameter_key', x.parameter_key, 'parameter_value', x.parameter_value," \
	" 'threshold', x.threshold, 'state', x.state, 'triggered_at', x.triggered_at," \
	" 'acknowledged', x.acknowledged, 'acknowledged_at', x.acknowledged_at, 'acknowledged_by', x.acknowledged_by_id," \
	" 'acknowledged_by_email', ua.email, 'resolved', x.resolved, 'resolved_at', x.resolved_at," \
	" 'resolved_by', x.resolved_by_id, 'resolved_by_email', ur.email, 'resolved_value', x.resolved_value," \
	" 'silenced_until', x.silenced_until, 'last_value', x.last_value, 'work_order', NULL, 'work_order_number', NULL," \
	" 'notes', x.notes, 'is_active', NOT x.acknowledged AND NOT x.resolved)" \
	" FROM alert x LEFT JOIN alert_rule r ON r.id = x.rule_id LEFT JOIN asset a ON a.id = r.equipment_id" \
	" LEFT JOIN public.app_user ua ON ua.id = x.acknowledged_by_id" \
	" LEFT JOIN public.app_user ur ON ur.id = x.resolved_by_id"

#define ALERT_WHERE \
	" WHERE ($1::text IS NULL OR ($1 = 'active' AND NOT x.acknowledged AND NOT x.resolved)" \
	"   OR ($1 = 'acknowledged' AND x.acknowledged AND NOT x.resolved) OR ($1 = 'resolved' AND x.resolved))" \
	" AND ($2::text IS NULL OR lower(x.severity) = lower($2)) AND ($3::bigint IS NULL OR x.rule_id = $3::bigint)" \
	" AND ($4::text IS NULL OR strpos(lower(x.asset_tag), lower($4)) > 0)"

int
tsk_alert_list(PGconn *db, const char *tenant, const struct tsk_alert_filter *f, json_t **out, int64_t *count,
    char *err, size_t errlen)
{
	char rule[32], lim[32], off[32];
	PGresult *res = NULL;
	int rc;

	if (f->status != NULL && strcmp(f->status, "active") != 0 && strcmp(f->status, "acknowledged") != 0 &&
	    strcmp(f->status, "resolved") != 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "status: use active, acknowledged or resolved");
	snprintf(rule, sizeof rule, "%" PRId64, f->rule_id);
	snprintf(lim, sizeof lim, "%" PRId64, f->limit);
	snprintf(off, sizeof off, "%" PRId64, f->offset);
	const char *p[] = { f->status, f->severity, f->rule_id > 0 ? rule : NULL, f->asset_tag, f->limit > 0 ? lim : NULL,
		off };
	if ((rc = tsk_db_begin_tenant(db, tenant, err, errlen)) != TSK_OK)
		return rc;
	rc = tsk_db_exec(db, "SELECT count(*) FROM alert x" ALERT_WHERE, 4, p, &res, err, errlen);
	if (rc == TSK_OK) {
		if (count != NULL)
			*count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		rc = tsk_db_json_rows(db, ALERT_JSON ALERT_WHERE " ORDER BY x.triggered_at DESC, x.id DESC LIMIT $5 OFFSET $6",
		    6, p, out, err, errlen);
	}
	return tsk_db_end(db, rc, err, errlen);
}

static int
show_in(PGconn *db, int64_t id, json_t **out, char *err, size_t errlen)
{
	char num[32];
	json_t *arr;
	int rc;

	snprintf(num, sizeof num, "%" PRId64, id);
	if ((rc = tsk_db_json_rows(db, ALERT_JSON " WHERE x.id = $1", 1, (const char *[]){ num }, &arr, err, errlen)) !=
	    TSK_OK)
		return rc;
	if (json_array_size(arr) == 0) {
		json_decref(arr);
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "no alert %" PRId64, id);
	}
	*out = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	return TSK_OK;
}

int
tsk_alert_show(PGconn *db, const char *tenant, int64_t id, json_t **out, char *err, size_t errlen)
{
	int rc;

	if ((rc = tsk_db_begin_tenant(db, tenant, err, errlen)) != TSK_OK)
		return rc;
	return tsk_db_end(db, show_in(db, id, out, err, errlen), err, errlen);
}

/* Acknowledge (resolve 0) or resolve (1): one UPDATE that refuses a second time. */
static int
act(PGconn *db, const char *tenant, int64_t id, int64_t by, const char *notes, int64_t at_us, int resolve,
    json_t **out, char *err, size_t errlen)
{
	char num[32], who[32], at[TSK_TIME_STRLEN];
	PGresult *res = NULL;
	int rc;

	snprintf(num, sizeof num, "%" PRId64, id);
	snprintf(who, sizeof who, "%" PRId64, by);
	tsk_time_format(at_us, at);
	const char *p[] = { num, by > 0 ? who : NULL, notes != NULL && notes[0] != '\0' ? notes : NULL, at };
	if ((rc = tsk_db_begin_tenant(db, tenant, err, errlen)) != TSK_OK)
		return rc;
	rc = tsk_db_exec(db, "SELECT acknowledged, resolved FROM alert WHERE id = $1 FOR UPDATE", 1, p, &res, err, errlen);
	if (rc == TSK_OK && PQntuples(res) == 0)
		rc = tsk_seterr(err, errlen, TSK_ENOTFOUND, "no alert %" PRId64, id);
	else if (rc == TSK_OK && !resolve && PQgetvalue(res, 0, 0)[0] == 't')
		rc = tsk_seterr(err, errlen, TSK_EEXIST, "Alerta já foi reconhecido");
	else if (rc == TSK_OK && resolve && PQgetvalue(res, 0, 1)[0] == 't')
		rc = tsk_seterr(err, errlen, TSK_EEXIST, "Alerta já foi resolvido");
	PQclear(res);
	if (rc == TSK_OK && !resolve)
		rc = tsk_db_exec(db, "UPDATE alert SET acknowledged = true, acknowledged_at = $4, acknowledged_by_id = $2,"
		    " notes = CASE WHEN $3::text IS NULL THEN notes ELSE concat_ws(E'\\n', nullif(notes, ''),"
		    " '[Reconhecimento] ' || $3) END WHERE id = $1", 4, p, NULL, err, errlen);
	else if (rc == TSK_OK)
		rc = tsk_db_exec(db, "UPDATE alert SET state = 'resolved', resolved = true, resolved_at = $4,"
		    " resolved_by_id = $2, acknowledged = true, acknowledged_at = coalesce(acknowledged_at, $4),"
		    " acknowledged_by_id = coalesce(acknowledged_by_id, $2),"
		    " notes = CASE WHEN $3::text IS NULL THEN notes ELSE concat_ws(E'\\n', nullif(notes, ''),"
		    " '[Resolução] ' || $3) END WHERE id = $1", 4, p, NULL, err, errlen);
	if (rc == TSK_OK)
		rc = show_in(db, id, out, err, errlen);
	return tsk_db_end(db, rc, err, errlen);
}

int
tsk_alert_ack(PGconn *db, const char *tenant, int64_t id, int64_t by, const char *notes, int64_t at_us, json_t **out,
    char *err, size_t errlen)
{
	return act(db, tenant, id, by, notes, at_us, 0, out, err, errlen);
}

int
tsk_alert_resolve(PGconn *db, const char *tenant, int64_t id, int64_t by, const char *notes, int64_t at_us,
    json_t **out, char *err, size_t errlen)
{
	return act(db, tenant, id, by, notes, at_us, 1, out, err, errlen);
}

int
tsk_alert_silence(PGconn *db, const char *tenant, int64_t id, int64_t until_us, json_t **out, char *err,
    size_t errlen)
{
	char num[32], until[TSK_TIME_STRLEN];
	long long rows = 0;
	int rc;

	snprintf(num, sizeof num, "%" PRId64, id);
	tsk_time_format(until_us, until);
	if ((rc = tsk_db_begin_tenant(db, tenant, err, errlen)) != TSK_OK)
		return rc;
	rc = tsk_db_exec_rows(db, "UPDATE alert SET silenced_until = $2 WHERE id = $1", 2, (const char *[]){ num, until },
	    &rows, err, errlen);
	if (rc == TSK_OK && rows == 0)
		rc = tsk_seterr(err, errlen, TSK_ENOTFOUND, "no alert %" PRId64, id);
	if (rc == TSK_OK)
		rc = show_in(db, id, out, err, errlen);
	return tsk_db_end(db, rc, err, errlen);
}

int
tsk_alert_cleanup(PGconn *db, const char *tenant, int64_t at_us, int days, long long *deleted, char *err,
    size_t errlen)
{
	char at[TSK_TIME_STRLEN], d[16];
	PGresult *tl = NULL;
	int rc;

	*deleted = 0;
	tsk_time_format(at_us, at);
	snprintf(d, sizeof d, "%d", days > 0 ? days : TSK_ALERT_CLEANUP_DAYS);
	const char *one[] = { tenant };
	if ((rc = tsk_db_exec(db, "SELECT slug FROM public.tenant WHERE $1::text IS NULL OR slug = $1 ORDER BY slug", 1,
	    one, &tl, err, errlen)) != TSK_OK)
		return rc;
	if (tenant != NULL && PQntuples(tl) == 0)
		rc = tsk_seterr(err, errlen, TSK_ENOTFOUND, "no tenant \"%s\"", tenant);
	for (int i = 0; i < PQntuples(tl) && rc == TSK_OK; i++) {
		if ((rc = tsk_db_begin_tenant(db, PQgetvalue(tl, i, 0), err, errlen)) != TSK_OK)
			break;
		rc = tsk_db_exec_rows(db, "DELETE FROM alert WHERE resolved AND resolved_at < $1::timestamptz"
		    " - make_interval(days => $2::int)", 2, (const char *[]){ at, d }, deleted, err, errlen);
		rc = tsk_db_end(db, rc, err, errlen);
	}
	PQclear(tl);
	return rc;
}
