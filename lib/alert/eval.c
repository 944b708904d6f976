/*
 * Rule evaluation: the lifecycle of alert.h, one tenant per transaction, one statement per tenant that
 * judges every enabled parameter on its readings (index lookups on reading's (device_id, sensor_id, ts)
 * key), then a write only where something changed.
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

/* cond(v): the parameter's comparison, in SQL. */
#define COND(v) \
	"CASE p.operator WHEN '>' THEN " v " > p.threshold WHEN '>=' THEN " v " >= p.threshold" \
	" WHEN '<' THEN " v " < p.threshold WHEN '<=' THEN " v " <= p.threshold WHEN '==' THEN " v " = p.threshold" \
	" WHEN '!=' THEN " v " <> p.threshold ELSE false END"

/*
 * Every enabled parameter with what its readings say at $1 ($2: staleness in seconds):
 *   the sensor: sensor_<id> by id, else by tag, the equipment's own devices first;
 *   latest: the newest reading at or before $1; fresh when $1 - ts <= staleness;
 *   violations: readings of the window ($1 - duration, $1] that do not meet the condition;
 *   before: the last reading at or before the window's start, and whether it meets the condition;
 *   the stored state, the open alert, and the last resolution of this parameter.
 */
static const char judge_sql[] =
    "SELECT p.id, r.id, r.name, a.tag, p.parameter_key, p.operator, p.threshold, p.unit, p.severity,"
    "  p.message_template, coalesce(nullif(u.alert_cooldown_minutes, 0), 60),"
    "  l.value, (l.ts IS NOT NULL AND $1::timestamptz - l.ts <= make_interval(secs => $2::int)),"
    "  " COND("l.value") ","
    "  coalesce(w.violations, 0) = 0 AND coalesce(" COND("b.value") ", false),"
    "  st.state, o.id, o.state, o.acknowledged, o.last_notified_at, o.silenced_until,"
    "  (SELECT max(resolved_at) FROM alert x WHERE x.parameter_id = p.id AND x.resolved)"
    "    > $1::timestamptz - make_interval(secs => $3::int),"
    "  coalesce(o.last_notified_at <= $1::timestamptz - make_interval(mins => coalesce(nullif(u.alert_cooldown_minutes, 0), 60)), true)"
    "    AND NOT coalesce(o.acknowledged, false) AND coalesce(o.silenced_until <= $1::timestamptz, true),"
    "  r.actions::text"
    " FROM alert_rule r"
    " JOIN asset a ON a.id = r.equipment_id"
    " JOIN alert_rule_parameter p ON p.rule_id = r.id"
    " LEFT JOIN public.app_user u ON u.id = r.created_by_id"
    /* Two index lookups (by id, by tag), not a scan of every sensor with a regex on each. */
    " LEFT JOIN LATERAL (SELECT u.device_id, u.sensor_id FROM ("
    "     SELECT se.device_id, se.sensor_id, se.last_seen FROM sensor se"
    "     WHERE se.id = CASE WHEN p.parameter_key ~ '^sensor_[0-9]{1,18}$' THEN substr(p.parameter_key, 8)::bigint END"
    "     UNION ALL"
    "     SELECT se.device_id, se.sensor_id, se.last_seen FROM sensor se"
    "     WHERE se.sensor_id = p.parameter_key AND p.parameter_key NOT LIKE 'sensor\\_%') u"
    "   LEFT JOIN device d ON d.device_id = u.device_id"
    "   ORDER BY d.asset_id IS NOT DISTINCT FROM r.equipment_id DESC, u.last_seen DESC NULLS LAST LIMIT 1) s ON true"
    " LEFT JOIN LATERAL (SELECT ts, value FROM reading WHERE device_id = s.device_id AND sensor_id = s.sensor_id"
    "   AND ts <= $1::timestamptz ORDER BY ts DESC LIMIT 1) l ON true"
    " LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE NOT (" COND("value") ")) AS violations FROM reading"
    "   WHERE device_id = s.device_id AND sensor_id = s.sensor_id"
    "   AND ts > $1::timestamptz - make_interval(mins => p.duration) AND ts <= $1::timestamptz) w ON true"
    " LEFT JOIN LATERAL (SELECT value FROM reading WHERE device_id = s.device_id AND sensor_id = s.sensor_id"
    "   AND ts <= $1::timestamptz - make_interval(mins => p.duration) ORDER BY ts DESC LIMIT 1) b ON true"
    " LEFT JOIN alert_state st ON st.parameter_id = p.id"
    " LEFT JOIN alert o ON o.parameter_id = p.id AND NOT o.resolved"
    " WHERE r.enabled"
    " ORDER BY r.id, p.\"order\", p.id";

enum {
	C_PID, C_RID, C_RNAME, C_TAG, C_KEY, C_OP, C_THR, C_UNIT, C_SEV, C_TMPL, C_COOLDOWN, C_VALUE, C_FRESH, C_COND,
	C_HELD, C_STATE, C_AID, C_ASTATE, C_ACK, C_NOTIFIED, C_SILENCED, C_RECENT, C_REPEAT, C_ACTIONS
};

/* The outbox rows of one event: active members with their preferences, per rule action, plus one
 * WEBHOOK row when the rule asks and the tenant has a webhook_url. Severity gates per user (low off by
 * default); SMS and WhatsApp are written as skipped (no provider, as in the original). */
static const char outbox_sql[] =
    "WITH a AS (SELECT $1::bigint AS id, $2::text AS event, $3::jsonb AS actions, $4::text AS severity,"
    "   $5::timestamptz AS at),"
    " people AS (SELECT u.id, u.email, coalesce(np.email_enabled, true) email_on, coalesce(np.push_enabled, true) push_on,"
    "   coalesce(np.sms_enabled, false) AND coalesce(np.phone_number, '') <> '' sms_on,"
    "   coalesce(np.whatsapp_enabled, false) AND coalesce(np.whatsapp_number, '') <> '' wa_on,"
    "   CASE (SELECT severity FROM a) WHEN 'Critical' THEN coalesce(np.critical_alerts, true)"
    "     WHEN 'High' THEN coalesce(np.high_alerts, true) WHEN 'Medium' THEN coalesce(np.medium_alerts, true)"
    "     WHEN 'Low' THEN coalesce(np.low_alerts, false) ELSE true END sev_on"
    "   FROM public.membership m JOIN public.app_user u ON u.id = m.user_id"
    "   JOIN public.tenant t ON t.id = m.tenant_id AND t.slug = $6"
    "   LEFT JOIN alert_notification_preference np ON np.user_id = u.id"
    "   WHERE u.is_active AND coalesce((to_jsonb(m) ->> 'status'), 'active') = 'active')"
    " INSERT INTO alert_notification (alert_id, event, channel, user_id, recipient, status, next_attempt, created_at)"
    " SELECT a.id, a.event, ch.channel, p.id, p.email,"
    "   CASE WHEN ch.channel IN ('SMS', 'WHATSAPP') THEN 'skipped' ELSE 'pending' END, a.at, a.at"
    " FROM a CROSS JOIN people p"
    " JOIN LATERAL (SELECT jsonb_array_elements_text(a.actions) AS channel) ch ON true"
    " WHERE p.sev_on AND ((ch.channel = 'EMAIL' AND p.email_on) OR (ch.channel = 'IN_APP' AND p.push_on)"
    "   OR (ch.channel = 'SMS' AND p.sms_on) OR (ch.channel = 'WHATSAPP' AND p.wa_on))"
    " UNION ALL"
    " SELECT a.id, a.event, 'WEBHOOK', NULL, t.settings ->> 'webhook_url', 'pending', a.at, a.at"
    " FROM a JOIN public.tenant t ON t.slug = $6"
    " WHERE a.actions ? 'WEBHOOK' AND coalesce(t.settings ->> 'webhook_url', '') <> ''";

struct ctx {
	PGconn *db;
	const char *tenant;
	const char *at;             /* $1 as text */
	int64_t at_us;
	tsk_alert_change_fn fn;
	void *arg;
	struct tsk_alert_eval_result *res;
	char *err;
	size_t errlen;
};

static int
notify(struct ctx *c, const char *alert_id, const char *event, const char *actions, const char *severity)
{
	long long rows = 0;
	const char *p[] = { alert_id, event, actions, severity, c->at, c->tenant };
	int rc = tsk_db_exec_rows(c->db, outbox_sql, 6, p, &rows, c->err, c->errlen);

	c->res->notifications += (int)rows;
	return rc;
}

static void
report(struct ctx *c, PGresult *res, int i, const char *alert_id, const char *from, const char *to,
    const char *event)
{
	json_t *o;
	const char *v = PQgetvalue(res, i, C_VALUE);

	c->res->changes++;
	if (c->fn == NULL)
		return;
	o = json_pack("{s:s, s:I, s:s, s:I, s:s, s:o, s:s, s:s, s:o, s:o, s:s}", "tenant", c->tenant, "rule_id",
	    (json_int_t)strtoll(PQgetvalue(res, i, C_RID), NULL, 10), "rule", PQgetvalue(res, i, C_RNAME), "parameter_id",
	    (json_int_t)strtoll(PQgetvalue(res, i, C_PID), NULL, 10), "parameter_key", PQgetvalue(res, i, C_KEY),
	    "alert_id", alert_id != NULL ? json_integer(strtoll(alert_id, NULL, 10)) : json_null(), "from", from, "to",
	    to, "event", event != NULL ? json_string(event) : json_null(), "value",
	    PQgetisnull(res, i, C_VALUE) ? json_null() : json_real(strtod(v, NULL)), "at", c->at);
	if (o != NULL)
		c->fn(c->arg, o);
	json_decref(o);
}

static int
set_state(struct ctx *c, const char *pid, const char *state, const char *alert_id)
{
	const char *p[] = { pid, state, c->at, alert_id };

	return tsk_db_exec(c->db, "INSERT INTO alert_state (parameter_id, state, since, alert_id, evaluated_at)"
	    " VALUES ($1, $2, $3, $4, $3) ON CONFLICT (parameter_id) DO UPDATE SET state = $2,"
	    " since = CASE WHEN alert_state.state = $2 THEN alert_state.since ELSE $3::timestamptz END,"
	    " alert_id = coalesce($4, alert_state.alert_id), evaluated_at = $3", 4, p, NULL, c->err, c->errlen);
}

/* One parameter: compare what the readings say with where it stands, write the difference. */
static int
judge(struct ctx *c, PGresult *res, int i)
{
	const char *pid = PQgetvalue(res, i, C_PID), *aid = PQgetvalue(res, i, C_AID);
	const char *stored = PQgetisnull(res, i, C_STATE) ? "ok" : PQgetvalue(res, i, C_STATE);
	const char *astate = PQgetvalue(res, i, C_ASTATE), *actions = PQgetvalue(res, i, C_ACTIONS);
	const char *sev = PQgetvalue(res, i, C_SEV);
	int open = !PQgetisnull(res, i, C_AID);
	int fresh = PQgetvalue(res, i, C_FRESH)[0] == 't';
	int cond = fresh && PQgetvalue(res, i, C_COND)[0] == 't';
	int held = cond && PQgetvalue(res, i, C_HELD)[0] == 't';
	int recent = PQgetvalue(res, i, C_RECENT)[0] == 't';
	int repeat = PQgetvalue(res, i, C_REPEAT)[0] == 't';
	int rc = TSK_OK;

	if (open) {
		if (!fresh) {
			if (strcmp(astate, "nodata") == 0)
				return TSK_OK;
			const char *p[] = { aid };
			if ((rc = tsk_db_exec(c->db, "UPDATE alert SET state = 'nodata' WHERE id = $1", 1, p, NULL, c->err,
			    c->errlen)) != TSK_OK || (rc = set_state(c, pid, "nodata", aid)) != TSK_OK ||
			    (rc = notify(c, aid, "nodata", actions, sev)) != TSK_OK)
				return rc;
			report(c, res, i, aid, "firing", "nodata", "nodata");
			return TSK_OK;
		}
		if (!cond) {
			const char *p[] = { aid, c->at, PQgetvalue(res, i, C_VALUE) };
			if ((rc = tsk_db_exec(c->db, "UPDATE alert SET state = 'resolved', resolved = true, resolved_at = $2,"
			    " resolved_value = $3, last_value = $3, last_value_at = $2 WHERE id = $1", 3, p, NULL, c->err,
			    c->errlen)) != TSK_OK || (rc = set_state(c, pid, "ok", aid)) != TSK_OK ||
			    (rc = notify(c, aid, "resolved", actions, sev)) != TSK_OK)
				return rc;
			report(c, res, i, aid, astate, "resolved", "resolved");
			return TSK_OK;
		}
		/* Still true. Back from nodata: firing again (told); else a repeat after the cooldown. */
		const char *p[] = { aid, c->at, PQgetvalue(res, i, C_VALUE) };
		if (strcmp(astate, "nodata") == 0) {
			if ((rc = tsk_db_exec(c->db, "UPDATE alert SET state = 'firing', last_value = $3, last_value_at = $2"
			    " WHERE id = $1", 3, p, NULL, c->err, c->errlen)) != TSK_OK ||
			    (rc = set_state(c, pid, "firing", aid)) != TSK_OK)
				return rc;
			report(c, res, i, aid, "nodata", "firing", NULL);
			return TSK_OK;
		}
		if (repeat) {
			if ((rc = tsk_db_exec(c->db, "UPDATE alert SET last_notified_at = $2, last_value = $3, last_value_at = $2"
			    " WHERE id = $1", 3, p, NULL, c->err, c->errlen)) != TSK_OK ||
			    (rc = notify(c, aid, "repeat", actions, sev)) != TSK_OK)
				return rc;
			report(c, res, i, aid, "firing", "firing", "repeat");
		}
		return TSK_OK;
	}

	/* No open alert. */
	const char *want = !cond ? "ok" : held && !recent ? "firing" : "pending";
	if (strcmp(want, "firing") != 0) {
		if (strcmp(want, stored) == 0 || (strcmp(want, "ok") == 0 && PQgetisnull(res, i, C_STATE)))
			return TSK_OK;
		if ((rc = set_state(c, pid, want, NULL)) != TSK_OK)
			return rc;
		report(c, res, i, NULL, stored, want, NULL);
		return TSK_OK;
	}
	char *msg = tsk_alert_message(PQgetvalue(res, i, C_TMPL), PQgetvalue(res, i, C_KEY),
	    strtod(PQgetvalue(res, i, C_VALUE), NULL), strtod(PQgetvalue(res, i, C_THR), NULL),
	    PQgetvalue(res, i, C_OP), PQgetvalue(res, i, C_UNIT));
	if (msg == NULL)
		return tsk_seterr(c->err, c->errlen, TSK_EFAIL, "out of memory");
	const char *p[] = { PQgetvalue(res, i, C_RID), pid, msg, sev, PQgetvalue(res, i, C_TAG), PQgetvalue(res, i, C_KEY),
		PQgetvalue(res, i, C_VALUE), PQgetvalue(res, i, C_THR), c->at };
	PGresult *ins = NULL;
	rc = tsk_db_exec(c->db, "INSERT INTO alert (rule_id, parameter_id, message, severity, asset_tag, parameter_key,"
	    " parameter_value, threshold, state, triggered_at, last_notified_at, last_value, last_value_at)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'firing', $9, $9, $7, $9) RETURNING id", 9, p, &ins, c->err,
	    c->errlen);
	free(msg);
	if (rc != TSK_OK)
		return rc;
	char id[32];
	snprintf(id, sizeof id, "%s", PQgetvalue(ins, 0, 0));
	PQclear(ins);
	if ((rc = set_state(c, pid, "firing", id)) != TSK_OK || (rc = notify(c, id, "firing", actions, sev)) != TSK_OK)
		return rc;
	report(c, res, i, id, stored, "firing", "firing");
	return TSK_OK;
}

static int
eval_tenant(struct ctx *c, int stale_s)
{
	char stale[16], refire[16];
	PGresult *res = NULL;
	int rc;

	snprintf(stale, sizeof stale, "%d", stale_s);
	snprintf(refire, sizeof refire, "%d", TSK_ALERT_REFIRE_S);
	if ((rc = tsk_db_begin_tenant(c->db, c->tenant, c->err, c->errlen)) != TSK_OK)
		return rc;
	/* The judging statement joins a dozen relations whose order is already the right one (each lateral
	 * lookup is an index probe): planning it in the written order costs a tenth of a full join search,
	 * which is most of a pass over many small tenants. One evaluator per tenant at a time (a second
	 * waits, then sees the first one's writes). One round trip for the three. */
	{
		/* Several statements in one simple query (no parameters: nothing here comes from input). */
		PGresult *r = PQexec(c->db, "SET LOCAL join_collapse_limit = 1; SET LOCAL from_collapse_limit = 1;"
		    " SELECT pg_advisory_xact_lock(hashtext('tsk-alert eval ' || current_schema()))");
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			rc = tsk_db_error(c->db, r, c->err, c->errlen);
			PQclear(r);
			goto out;
		}
		PQclear(r);
	}
	const char *p[] = { c->at, stale, refire };
	if ((rc = tsk_db_exec(c->db, judge_sql, 3, p, &res, c->err, c->errlen)) != TSK_OK)
		goto out;
	for (int i = 0; i < PQntuples(res) && rc == TSK_OK; i++) {
		if (i == 0 || strcmp(PQgetvalue(res, i, C_RID), PQgetvalue(res, i - 1, C_RID)) != 0)
			c->res->rules++;
		c->res->parameters++;
		rc = judge(c, res, i);
	}
out:
	PQclear(res);
	return tsk_db_end(c->db, rc, c->err, c->errlen);
}

int
tsk_alert_eval(PGconn *db, const char *tenant, int64_t at_us, int stale_s, tsk_alert_change_fn fn, void *arg,
    struct tsk_alert_eval_result *res, void (*warn)(void *arg, const char *slug, const char *msg), char *err,
    size_t errlen)
{
	char at[64];
	PGresult *tl = NULL;
	int rc, last = TSK_OK;

	memset(res, 0, sizeof *res);
	tsk_time_format(at_us, at);
	struct ctx c = { db, NULL, at, at_us, fn, arg, res, err, errlen };
	if (tenant != NULL) {
		c.tenant = tenant;
		res->tenants = 1;
		rc = eval_tenant(&c, stale_s > 0 ? stale_s : TSK_ALERT_STALE_S);
		if (rc != TSK_OK)
			res->failed = 1;
		return rc;
	}
	if ((rc = tsk_db_exec(db, "SELECT slug FROM public.tenant ORDER BY slug", 0, NULL, &tl, err, errlen)) != TSK_OK)
		return rc;
	for (int i = 0; i < PQntuples(tl); i++) {
		c.tenant = PQgetvalue(tl, i, 0);
		res->tenants++;
		rc = eval_tenant(&c, stale_s > 0 ? stale_s : TSK_ALERT_STALE_S);
		if (rc != TSK_OK) {
			res->failed++;
			last = rc;
			if (warn != NULL)
				warn(arg, c.tenant, err);
			if (PQstatus(db) != CONNECTION_OK)
				break;
		}
	}
	PQclear(tl);
	return last;
}
