/*
 * Notification preferences per user, statistics of rules and alerts, and the in-app notifications of a
 * user (see alert.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "alert/alert.h"
#include "core/tsk.h"
#include "pg/db.h"

/* One JSON row of a query inside the open transaction. */
static int
one_json(PGconn *db, const char *sql, int n, const char *const *p, json_t **out, char *err, size_t errlen)
{
	json_t *arr;
	int rc = tsk_db_json_rows(db, sql, n, p, &arr, err, errlen);

	if (rc != TSK_OK)
		return rc;
	if (json_array_size(arr) == 0) {
		json_decref(arr);
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "nothing found");
	}
	*out = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	return TSK_OK;
}

#define PREFS_JSON \
	"SELECT json_build_object('id', user_id, 'user', user_id, 'email_enabled', email_enabled," \
	" 'push_enabled', push_enabled, 'sound_enabled', sound_enabled, 'sms_enabled', sms_enabled," \
	" 'whatsapp_enabled', whatsapp_enabled, 'critical_alerts', critical_alerts, 'high_alerts', high_alerts," \
	" 'medium_alerts', medium_alerts, 'low_alerts', low_alerts, 'phone_number', phone_number," \
	" 'whatsapp_number', whatsapp_number, 'enabled_channels', array_to_json(array_remove(ARRAY[" \
	"   CASE WHEN email_enabled THEN 'email' END, CASE WHEN push_enabled THEN 'push' END," \
	"   CASE WHEN sms_enabled AND phone_number <> '' THEN 'sms' END," \
	"   CASE WHEN whatsapp_enabled AND whatsapp_number <> '' THEN 'whatsapp' END], NULL))," \
	" 'updated_at', updated_at) FROM alert_notification_preference WHERE user_id = $1"

static const char *const bool_fields[] = { "email_enabled", "push_enabled", "sound_enabled", "sms_enabled",
	"whatsapp_enabled", "critical_alerts", "high_alerts", "medium_alerts", "low_alerts" };

int
tsk_alert_prefs(PGconn *db, const char *tenant, int64_t user, json_t *changes, json_t **out, char *err,
    size_t errlen)
{
	char uid[32];
	const char *key;
	json_t *v;
	int rc;

	snprintf(uid, sizeof uid, "%" PRId64, user);
	/* Check every field before writing anything. */
	if (changes != NULL) {
		if (!json_is_object(changes))
			return tsk_seterr(err, errlen, TSK_EINVAL, "non_field_errors: Esperado um dicionário.");
		json_object_foreach(changes, key, v) {
			int known = 0;
			for (size_t i = 0; i < sizeof bool_fields / sizeof bool_fields[0]; i++)
				if (strcmp(key, bool_fields[i]) == 0) {
					known = 1;
					if (!json_is_boolean(v))
						return tsk_seterr(err, errlen, TSK_EINVAL, "%s: Must be a valid boolean.", key);
				}
			if (strcmp(key, "phone_number") == 0 || strcmp(key, "whatsapp_number") == 0) {
				known = 1;
				const char *s = json_is_string(v) ? json_string_value(v) : NULL;
				if (s == NULL || strlen(s) > 20 || (s[0] != '\0' && s[0] != '+') ||
				    strspn(s + (s[0] == '+'), "0123456789") != strlen(s) - (s[0] == '+'))
					return tsk_seterr(err, errlen, TSK_EINVAL, "%s: O número deve começar com + e ter até 20 caracteres (dígitos).", key);
			}
			(void)known; /* other keys (id, user, enabled_channels, updated_at) are read-only: ignored */
		}
	}
	if ((rc = tsk_db_begin_tenant(db, tenant, err, errlen)) != TSK_OK)
		return rc;
	rc = tsk_db_exec(db, "INSERT INTO alert_notification_preference (user_id) VALUES ($1) ON CONFLICT DO NOTHING", 1,
	    (const char *[]){ uid }, NULL, err, errlen);
	if (rc == TSK_OK && changes != NULL) {
		char *doc = json_dumps(changes, JSON_COMPACT);
		const char *p[] = { uid, doc };
		if (doc == NULL)
			rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		else
			rc = tsk_db_exec(db, "UPDATE alert_notification_preference p SET"
			    " email_enabled = coalesce((d ->> 'email_enabled')::boolean, email_enabled),"
			    " push_enabled = coalesce((d ->> 'push_enabled')::boolean, push_enabled),"
			    " sound_enabled = coalesce((d ->> 'sound_enabled')::boolean, sound_enabled),"
			    " sms_enabled = coalesce((d ->> 'sms_enabled')::boolean, sms_enabled),"
			    " whatsapp_enabled = coalesce((d ->> 'whatsapp_enabled')::boolean, whatsapp_enabled),"
			    " critical_alerts = coalesce((d ->> 'critical_alerts')::boolean, critical_alerts),"
			    " high_alerts = coalesce((d ->> 'high_alerts')::boolean, high_alerts),"
			    " medium_alerts = coalesce((d ->> 'medium_alerts')::boolean, medium_alerts),"
			    " low_alerts = coalesce((d ->> 'low_alerts')::boolean, low_alerts),"
			    " phone_number = coalesce(d ->> 'phone_number', phone_number),"
			    " whatsapp_number = coalesce(d ->> 'whatsapp_number', whatsapp_number), updated_at = now()"
			    " FROM (SELECT $2::jsonb AS d) x WHERE p.user_id = $1", 2, p, NULL, err, errlen);
		free(doc);
		/* The original: a number is required when its channel is on. */
		if (rc == TSK_OK) {
			PGresult *res = NULL;
			rc = tsk_db_exec(db, "SELECT (sms_enabled AND phone_number = ''), (whatsapp_enabled AND whatsapp_number = '')"
			    " FROM alert_notification_preference WHERE user_id = $1", 1, (const char *[]){ uid }, &res, err, errlen);
			if (rc == TSK_OK && PQgetvalue(res, 0, 0)[0] == 't')
				rc = tsk_seterr(err, errlen, TSK_EINVAL, "phone_number: Número de telefone é obrigatório para SMS.");
			else if (rc == TSK_OK && PQgetvalue(res, 0, 1)[0] == 't')
				rc = tsk_seterr(err, errlen, TSK_EINVAL, "whatsapp_number: Número de WhatsApp é obrigatório.");
			PQclear(res);
		}
	}
	if (rc == TSK_OK)
		rc = one_json(db, PREFS_JSON, 1, (const char *[]){ uid }, out, err, errlen);
	return tsk_db_end(db, rc, err, errlen);
}

int
tsk_alert_rule_stats(PGconn *db, const char *tenant, json_t **out, char *err, size_t errlen)
{
	int rc;

	if ((rc = tsk_db_begin_tenant(db, tenant, err, errlen)) != TSK_OK)
		return rc;
	rc = one_json(db, "SELECT json_build_object('total', count(*), 'enabled', count(*) FILTER (WHERE enabled),"
	    " 'disabled', count(*) FILTER (WHERE NOT enabled), 'by_severity', json_build_object("
	    " 'Critical', count(*) FILTER (WHERE severity = 'Critical'), 'High', count(*) FILTER (WHERE severity = 'High'),"
	    " 'Medium', count(*) FILTER (WHERE severity = 'Medium'), 'Low', count(*) FILTER (WHERE severity = 'Low')))"
	    " FROM alert_rule", 0, NULL, out, err, errlen);
	return tsk_db_end(db, rc, err, errlen);
}

int
tsk_alert_stats(PGconn *db, const char *tenant, json_t **out, char *err, size_t errlen)
{
	int rc;

	if ((rc = tsk_db_begin_tenant(db, tenant, err, errlen)) != TSK_OK)
		return rc;
	rc = one_json(db, "SELECT json_build_object('total', count(*),"
	    " 'active', count(*) FILTER (WHERE NOT acknowledged AND NOT resolved),"
	    " 'acknowledged', count(*) FILTER (WHERE acknowledged AND NOT resolved),"
	    " 'resolved', count(*) FILTER (WHERE resolved),"
	    " 'firing', count(*) FILTER (WHERE state = 'firing'), 'nodata', count(*) FILTER (WHERE state = 'nodata'),"
	    " 'by_severity', json_build_object("
	    " 'CRITICAL', count(*) FILTER (WHERE severity = 'Critical'), 'HIGH', count(*) FILTER (WHERE severity = 'High'),"
	    " 'MEDIUM', count(*) FILTER (WHERE severity = 'Medium'), 'LOW', count(*) FILTER (WHERE severity = 'Low')))"
	    " FROM alert", 0, NULL, out, err, errlen);
	return tsk_db_end(db, rc, err, errlen);
}

int
tsk_alert_inbox(PGconn *db, const char *tenant, int64_t user, int64_t limit, int64_t offset, json_t **out,
    int64_t *count, char *err, size_t errlen)
{
	char uid[32], lim[32], off[32];
	PGresult *res = NULL;
	int rc;

	snprintf(uid, sizeof uid, "%" PRId64, user);
	snprintf(lim, sizeof lim, "%" PRId64, limit);
	snprintf(off, sizeof off, "%" PRId64, offset);
	const char *p[] = { uid, lim, off };
	if ((rc = tsk_db_begin_tenant(db, tenant, err, errlen)) != TSK_OK)
		return rc;
	rc = tsk_db_exec(db, "SELECT count(*) FROM alert_notification WHERE user_id = $1 AND channel = 'IN_APP'", 1, p,
	    &res, err, errlen);
	if (rc == TSK_OK) {
		*count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		rc = tsk_db_json_rows(db, "SELECT json_build_object('id', n.id, 'alert', n.alert_id, 'event', n.event,"
		    " 'created_at', n.created_at, 'read_at', n.read_at, 'severity', a.severity, 'message', a.message,"
		    " 'asset_tag', a.asset_tag, 'state', a.state) FROM alert_notification n JOIN alert a ON a.id = n.alert_id"
		    " WHERE n.user_id = $1 AND n.channel = 'IN_APP' ORDER BY n.created_at DESC, n.id DESC LIMIT $2 OFFSET $3",
		    3, p, out, err, errlen);
	}
	return tsk_db_end(db, rc, err, errlen);
}
