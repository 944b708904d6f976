/*
 * Alerts: rules on an asset with one or more parameters (a sensor, an operator, a threshold, a
 * duration, a severity, a message template), their evaluation into a real lifecycle, and the alerts
 * themselves. Library code: statuses and error buffers, JSON in and out with the original's field names.
 *
 * The lifecycle, per rule parameter, judged at an instant T on the readings (tsk_alert_eval):
 *   ok       the condition is false, or there is no fresh reading
 *   pending  the newest reading meets the condition, but not every reading of the last `duration`
 *            minutes does (or there is none from before that window yet)
 *   firing   the condition has held for `duration`: every reading in (T - duration, T] meets it, and so
 *            does the last one at or before T - duration. An alert is raised (once), and notified;
 *            while it keeps firing, a repeat goes out every cooldown (the rule creator's
 *            alert_cooldown_minutes, default 60) unless it was acknowledged or silenced
 *   nodata   firing, and then no reading for longer than the staleness limit (default 15 minutes): the
 *            alert stays open (it is not resolved by silence)
 *   resolved the newest fresh reading no longer meets the condition: the alert resolves by itself with
 *            that value and time. A parameter whose alert resolved (by itself or by hand) less than 30
 *            minutes before T stays pending instead of raising a new alert.
 * Evaluating twice at the same T changes nothing the second time.
 */
#ifndef TSK_ALERT_H
#define TSK_ALERT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <libpq-fe.h>

#define TSK_ALERT_STALE_S (15 * 60)
#define TSK_ALERT_REFIRE_S (30 * 60)
#define TSK_ALERT_COOLDOWN_MIN 60
#define TSK_ALERT_CLEANUP_DAYS 90

/* ---- rules (rule.c) ------------------------------------------------------------------------------ */

/*
 * Creates a rule from the original's create body ({"name", "equipment": asset id or tag, "actions",
 * "enabled", "description", "parameters": [{"parameter_key", "operator", "threshold", "severity",
 * "duration", "unit", "message_template", "variable_key"}]}, or the deprecated single-parameter form with
 * parameter_key/operator/threshold on the rule). created_by is the creating user's id (0: none).
 * TSK_OK with *out the rule as tsk_alert_rule_show gives it; TSK_EINVAL with a message naming the field
 * (the original's Portuguese messages where it had them); TSK_ENOTFOUND for an unknown equipment.
 */
int tsk_alert_rule_add(PGconn *db, const char *tenant, json_t *body, int64_t created_by, json_t **out, char *err,
    size_t errlen);
/* Changes the fields given (parameters, when given, replace all of them). */
int tsk_alert_rule_set(PGconn *db, const char *tenant, int64_t id, json_t *body, json_t **out, char *err,
    size_t errlen);
/* enabled 1 or 0; -1 toggles. */
int tsk_alert_rule_enable(PGconn *db, const char *tenant, int64_t id, int enabled, json_t **out, char *err,
    size_t errlen);
int tsk_alert_rule_rm(PGconn *db, const char *tenant, int64_t id, char *err, size_t errlen);
/* One rule with equipment_name, equipment_tag, created_by_email, condition_display, parameters[].
 * TSK_ENOTFOUND when there is none. */
int tsk_alert_rule_show(PGconn *db, const char *tenant, int64_t id, json_t **out, char *err, size_t errlen);
/* Filters (NULL: any): enabled "true"/"false", severity (case-insensitive), equipment_id. Newest first. */
struct tsk_alert_rule_filter {
	const char *enabled, *severity;
	int64_t equipment_id;
};
int tsk_alert_rule_list(PGconn *db, const char *tenant, const struct tsk_alert_rule_filter *f, json_t **out,
    char *err, size_t errlen);

/* ---- evaluation (eval.c) ------------------------------------------------------------------------- */

/* One state change, as tsk_alert_eval reports it (a JSON object: tenant, rule_id, rule, parameter_id,
 * parameter_key, alert_id, from, to, event, value, at). The callback owns nothing. */
typedef void (*tsk_alert_change_fn)(void *arg, json_t *change);

struct tsk_alert_eval_result {
	int tenants, rules, parameters, changes, notifications, failed;
};

/*
 * Evaluates every enabled rule of a tenant (NULL: all tenants) as of at_us (microseconds since the
 * epoch), with stale_s seconds of staleness (0: TSK_ALERT_STALE_S). Each tenant in its own transaction,
 * serialized with other evaluators of the same tenant. State changes go to fn and become outbox rows
 * (alert_notification) for the recipients. A tenant that fails is counted and reported through warn
 * (when not NULL) and the others still run; the status is then that tenant's.
 */
int tsk_alert_eval(PGconn *db, const char *tenant, int64_t at_us, int stale_s, tsk_alert_change_fn fn, void *arg,
    struct tsk_alert_eval_result *res, void (*warn)(void *arg, const char *slug, const char *msg), char *err,
    size_t errlen);

/* ---- alerts (alerts.c) ---------------------------------------------------------------------------- */

/* Filters (NULL: any): status active|acknowledged|resolved, severity (case-insensitive), rule_id (0: any),
 * asset_tag (contains). Newest first; limit/offset (limit 0: all). */
struct tsk_alert_filter {
	const char *status, *severity, *asset_tag;
	int64_t rule_id;
	int64_t limit, offset;
};
int tsk_alert_list(PGconn *db, const char *tenant, const struct tsk_alert_filter *f, json_t **out, int64_t *count,
    char *err, size_t errlen);
int tsk_alert_show(PGconn *db, const char *tenant, int64_t id, json_t **out, char *err, size_t errlen);
/* Acknowledge (TSK_EEXIST when already acknowledged: "Alerta já foi reconhecido"), resolve by hand
 * (also acknowledges; TSK_EEXIST when already resolved), each appending "[Reconhecimento] notes" or
 * "[Resolução] notes" to the notes. by is the user's id (0: none). at_us: the instant recorded. */
int tsk_alert_ack(PGconn *db, const char *tenant, int64_t id, int64_t by, const char *notes, int64_t at_us,
    json_t **out, char *err, size_t errlen);
int tsk_alert_resolve(PGconn *db, const char *tenant, int64_t id, int64_t by, const char *notes, int64_t at_us,
    json_t **out, char *err, size_t errlen);
/* No notification for the alert before until_us. */
int tsk_alert_silence(PGconn *db, const char *tenant, int64_t id, int64_t until_us, json_t **out, char *err,
    size_t errlen);
/* Deletes resolved alerts whose resolved_at is more than days (0: TSK_ALERT_CLEANUP_DAYS) before at_us,
 * in one tenant or all (NULL); *deleted the count. */
int tsk_alert_cleanup(PGconn *db, const char *tenant, int64_t at_us, int days, long long *deleted, char *err,
    size_t errlen);

/* ---- preferences, statistics, the in-app inbox (prefs.c) ----------------------------------------- */

/* A user's notification preferences (made with the defaults when the user has none), after applying
 * changes (NULL: none) — the booleans email_enabled, push_enabled, sound_enabled, sms_enabled,
 * whatsapp_enabled, critical_alerts, high_alerts, medium_alerts, low_alerts and the numbers
 * phone_number, whatsapp_number ("+" and digits, required when their channel is on); other keys are
 * read-only and ignored. TSK_EINVAL "field: why". */
int tsk_alert_prefs(PGconn *db, const char *tenant, int64_t user, json_t *changes, json_t **out, char *err,
    size_t errlen);
/* {total, enabled, disabled, by_severity: {Critical, High, Medium, Low}} */
int tsk_alert_rule_stats(PGconn *db, const char *tenant, json_t **out, char *err, size_t errlen);
/* {total, active, acknowledged, resolved, firing, nodata, by_severity: {CRITICAL, HIGH, MEDIUM, LOW}} */
int tsk_alert_stats(PGconn *db, const char *tenant, json_t **out, char *err, size_t errlen);
/* A user's in-app notifications, newest first, and how many there are. */
int tsk_alert_inbox(PGconn *db, const char *tenant, int64_t user, int64_t limit, int64_t offset, json_t **out,
    int64_t *count, char *err, size_t errlen);

/* ---- delivery (notify.c) -------------------------------------------------------------------------- */

struct tsk_mail_conf;
struct tsk_alert_notify_opts {
	const struct tsk_mail_conf *mail;  /* EMAIL (NULL: e-mail rows wait and are retried) */
	const char *frontend_url;          /* links in e-mails; NULL: http://localhost:5173 */
	long timeout_s;                    /* a webhook's whole request; 0: 10 */
	int max_attempts;                  /* then the row is failed for good; 0: 10 */
	const volatile int *cancel;        /* when set and non-zero, stop after the row in hand */
};
struct tsk_alert_notify_result {
	int sent, retried, failed;
};
/*
 * Delivers every due outbox row (status pending, next_attempt <= now_us) of a tenant (NULL: all), one
 * row per transaction, locked with SKIP LOCKED (notifiers share the work). EMAIL by the mail module
 * (subject "[SEVERITY] Alert: rule", "[RESOLVED] ..." and "[NODATA] ..." for those events), WEBHOOK as
 * a POST of a JSON body with X-Tsk-Signature: sha256=<HMAC-SHA256 of the body with the tenant's
 * webhook_secret> and X-Tsk-Timestamp (the body holds the same instant), IN_APP stored. Each attempt
 * is recorded (alert_notification_attempt); a failure is retried after 30 s, 1 min, 2 min, ... (at
 * most an hour) up to max_attempts. A row is marked sent only after its delivery: a crash in between
 * sends it again (at least once). TSK_OK, or the database's status.
 */
int tsk_alert_notify(PGconn *db, const struct tsk_alert_notify_opts *o, const char *tenant, int64_t now_us,
    struct tsk_alert_notify_result *r, char *err, size_t errlen);
/* "sha256=" and the hex HMAC-SHA256 of len bytes of body with secret, into out (80 bytes). */
int tsk_alert_webhook_sign(const char *secret, const char *body, size_t len, char *out, size_t outlen);

/* ---- the message template (template.c) ------------------------------------------------------------ */

/* A double as Python's str(float) writes it: shortest round trip, ".0" on integral values, exponent
 * form below 1e-4 and from 1e16 ("1e+16", "1e-05"), "nan", "inf", "-inf". out holds 32 bytes. */
void tsk_alert_pyfloat(double v, char *out, size_t outlen);
/* The operator in Portuguese words ("maior que", ...), or the operator itself when unknown. */
const char *tsk_alert_operator_words(const char *op);
/* The template with {variavel} and {sensor} (the parameter key), {value}, {threshold}, {operator},
 * {unit} replaced; unknown {x} left as they are. A malloc'd string, or NULL out of memory. */
char *tsk_alert_message(const char *tmpl, const char *key, double value, double threshold, const char *op,
    const char *unit);

#endif
