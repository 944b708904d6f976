/*
 * Delivery of the alert outbox (alert_notification): one row at a time, each in its own transaction
 * that locks it (FOR UPDATE SKIP LOCKED, so several notifiers share the work), delivers, and records
 * the attempt. A row is marked sent only after its delivery succeeded: a crash in between leaves it
 * pending and it goes out again (at least once, never lost). A failure is retried with exponential
 * backoff; one channel failing never holds back the others (each row is due on its own).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <sodium.h>

#include "alert/alert.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/time.h"
#include "core/tsk.h"
#include "notify/mail.h"
#include "pg/db.h"

/* The next due row of the tenant, locked, with what its message needs. */
static const char next_sql[] =
    "SELECT n.id, n.channel, n.event, n.recipient, n.attempts, a.id, coalesce(r.name, '(Regra Deletada)'),"
    "  a.severity, a.asset_tag, a.parameter_key, coalesce(a.last_value, a.parameter_value), a.threshold,"
    "  a.message, a.triggered_at, a.resolved_at, a.resolved_value, a.state, a.acknowledged,"
    "  coalesce(p.operator, r.operator, ''), coalesce(p.unit, r.unit, ''),"
    "  t.settings ->> 'webhook_secret', t.name"
    " FROM alert_notification n JOIN alert a ON a.id = n.alert_id"
    " LEFT JOIN alert_rule r ON r.id = a.rule_id LEFT JOIN alert_rule_parameter p ON p.id = a.parameter_id"
    " JOIN public.tenant t ON t.slug = $2"
    " WHERE n.status = 'pending' AND n.next_attempt <= $1::timestamptz"
    " ORDER BY n.next_attempt, n.id LIMIT 1 FOR UPDATE OF n SKIP LOCKED";

enum {
	N_ID, N_CHANNEL, N_EVENT, N_RCPT, N_ATTEMPTS, N_AID, N_RULE, N_SEV, N_TAG, N_KEY, N_VALUE, N_THR, N_MSG,
	N_TRIGGERED, N_RESOLVED_AT, N_RESOLVED_VALUE, N_STATE, N_ACK, N_OP, N_UNIT, N_SECRET, N_TENANT_NAME
};

static void
upper(const char *s, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < outlen; i++)
		out[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
	out[i] = '\0';
}

/* HTML-escaped s appended to b. */
static void
put_html(struct tsk_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<': tsk_buf_puts(b, "&lt;"); break;
		case '>': tsk_buf_puts(b, "&gt;"); break;
		case '&': tsk_buf_puts(b, "&amp;"); break;
		case '"': tsk_buf_puts(b, "&quot;"); break;
		case '\'': tsk_buf_puts(b, "&#39;"); break;
		default: tsk_buf_add(b, s, 1);
		}
	}
}

static const char *
event_words(const char *event)
{
	return strcmp(event, "resolved") == 0 ? "Resolvido" : strcmp(event, "nodata") == 0 ? "Sem dados" :
	    strcmp(event, "repeat") == 0 ? "Ainda disparado" : "Disparado";
}

/* EMAIL: subject "[SEVERITY] Alert: rule" (the original's), "[RESOLVED] ..." and "[NODATA] ..." for
 * those events; a plain-text and an HTML part with the alert and a link to it. */
static int
send_email(const struct tsk_alert_notify_opts *o, PGresult *res, char *err, size_t errlen)
{
	char subject[320], sev[24], value[32], thr[32];
	const char *event = PQgetvalue(res, 0, N_EVENT), *rule = PQgetvalue(res, 0, N_RULE);
	const char *front = o->frontend_url != NULL ? o->frontend_url : "http://localhost:5173";
	struct tsk_buf text = { 0 }, html = { 0 };
	int rc;

	if (o->mail == NULL || o->mail->url == NULL)
		return tsk_seterr(err, errlen, TSK_ETEMP, "no smtp_url: e-mail cannot be sent");
	upper(PQgetvalue(res, 0, N_SEV), sev, sizeof sev);
	snprintf(subject, sizeof subject, "[%s] Alert: %.256s",
	    strcmp(event, "resolved") == 0 ? "RESOLVED" : strcmp(event, "nodata") == 0 ? "NODATA" : sev, rule);
	tsk_alert_pyfloat(strtod(PQgetvalue(res, 0, N_VALUE), NULL), value, sizeof value);
	tsk_alert_pyfloat(strtod(PQgetvalue(res, 0, N_THR), NULL), thr, sizeof thr);

	tsk_buf_printf(&text, "%s: %s\n\n%s\n\nEquipamento: %s\nCondição: %s %s %s %s\nValor: %s %s\nDisparado em: %s\n",
	    event_words(event), rule, PQgetvalue(res, 0, N_MSG), PQgetvalue(res, 0, N_TAG), PQgetvalue(res, 0, N_KEY),
	    PQgetvalue(res, 0, N_OP), thr, PQgetvalue(res, 0, N_UNIT), value, PQgetvalue(res, 0, N_UNIT),
	    PQgetvalue(res, 0, N_TRIGGERED));
	if (!PQgetisnull(res, 0, N_RESOLVED_AT))
		tsk_buf_printf(&text, "Resolvido em: %s\n", PQgetvalue(res, 0, N_RESOLVED_AT));
	tsk_buf_printf(&text, "\nVer o alerta: %s/alerts/%s\nPreferências de notificação: %s/preferences\n", front,
	    PQgetvalue(res, 0, N_AID), front);

	tsk_buf_printf(&html, "<p><strong>[%s]</strong> %s: <strong>", sev, event_words(event));
	put_html(&html, rule);
	tsk_buf_puts(&html, "</strong></p>\n<p>");
	put_html(&html, PQgetvalue(res, 0, N_MSG));
	tsk_buf_puts(&html, "</p>\n<table>\n<tr><td>Equipamento</td><td>");
	put_html(&html, PQgetvalue(res, 0, N_TAG));
	tsk_buf_puts(&html, "</td></tr>\n<tr><td>Condição</td><td>");
	put_html(&html, PQgetvalue(res, 0, N_KEY));
	tsk_buf_puts(&html, " ");
	put_html(&html, PQgetvalue(res, 0, N_OP));
	tsk_buf_printf(&html, " %s ", thr);
	put_html(&html, PQgetvalue(res, 0, N_UNIT));
	tsk_buf_printf(&html, "</td></tr>\n<tr><td>Valor</td><td>%s ", value);
	put_html(&html, PQgetvalue(res, 0, N_UNIT));
	tsk_buf_printf(&html, "</td></tr>\n<tr><td>Disparado em</td><td>%s</td></tr>\n</table>\n", PQgetvalue(res, 0,
	    N_TRIGGERED));
	tsk_buf_puts(&html, "<p><a href=\"");
	put_html(&html, front);
	tsk_buf_printf(&html, "/alerts/%s\">Ver o alerta</a></p>\n", PQgetvalue(res, 0, N_AID));

	const char *t = tsk_buf_cstr(&text), *h = tsk_buf_cstr(&html);
	if (t == NULL || h == NULL)
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	else {
		struct tsk_mail m = { PQgetvalue(res, 0, N_RCPT), NULL, subject, t, h };
		rc = tsk_mail_send(o->mail, &m, err, errlen);
	}
	tsk_buf_free(&text);
	tsk_buf_free(&html);
	return rc;
}

/* The webhook's body: the event and the alert, with the instant it was signed (inside the signed bytes,
 * so a replayed body is recognized by its age). */
static char *
webhook_body(const char *tenant, PGresult *res, int64_t now_us)
{
	char ts[TSK_TIME_STRLEN];
	json_t *o;
	char *s;

	tsk_time_format(now_us, ts);
	o = json_pack("{s:s, s:s, s:I, s:s, s:{s:I, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:b}}", "event",
	    PQgetvalue(res, 0, N_EVENT), "tenant", tenant, "timestamp", (json_int_t)(now_us / 1000000), "sent_at", ts,
	    "alert", "id", (json_int_t)strtoll(PQgetvalue(res, 0, N_AID), NULL, 10), "rule", PQgetvalue(res, 0, N_RULE),
	    "severity", PQgetvalue(res, 0, N_SEV), "asset_tag", PQgetvalue(res, 0, N_TAG), "parameter_key",
	    PQgetvalue(res, 0, N_KEY), "value", json_real(strtod(PQgetvalue(res, 0, N_VALUE), NULL)), "threshold",
	    json_real(strtod(PQgetvalue(res, 0, N_THR), NULL)), "message", PQgetvalue(res, 0, N_MSG), "state",
	    PQgetvalue(res, 0, N_STATE), "triggered_at", PQgetvalue(res, 0, N_TRIGGERED), "acknowledged",
	    PQgetvalue(res, 0, N_ACK)[0] == 't');
	s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

int
tsk_alert_webhook_sign(const char *secret, const char *body, size_t len, char *out, size_t outlen)
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	char hex[2 * crypto_auth_hmacsha256_BYTES + 1];

	if (sodium_init() < 0)
		return TSK_EFAIL;
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
	snprintf(out, outlen, "sha256=%s", hex);
	return TSK_OK;
}

/* WEBHOOK: POST the JSON body to the tenant's webhook_url, signed with its webhook_secret. 2xx: sent. */
static int
send_webhook(const struct tsk_alert_notify_opts *o, const char *tenant, PGresult *res, int64_t now_us, char *err,
    size_t errlen)
{
	const char *url = PQgetvalue(res, 0, N_RCPT), *secret = PQgetvalue(res, 0, N_SECRET);
	char sig[96], hsig[128], hts[64], curlerr[CURL_ERROR_SIZE];
	struct curl_slist *hdr = NULL;
	char *body;
	CURL *h;
	CURLcode cc;
	long code = 0;
	int rc;

	if (PQgetisnull(res, 0, N_SECRET) || secret[0] == '\0')
		return tsk_seterr(err, errlen, TSK_ETEMP, "tenant %s has no webhook_secret: webhooks are only sent signed",
		    tenant);
	if ((body = webhook_body(tenant, res, now_us)) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	tsk_alert_webhook_sign(secret, body, strlen(body), sig, sizeof sig);
	snprintf(hsig, sizeof hsig, "X-Tsk-Signature: %s", sig);
	snprintf(hts, sizeof hts, "X-Tsk-Timestamp: %" PRId64, now_us / 1000000);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	hdr = curl_slist_append(hdr, hsig);
	hdr = curl_slist_append(hdr, hts);
	hdr = curl_slist_append(hdr, "User-Agent: tsk-alert/" TSK_VERSION);
	if ((h = curl_easy_init()) == NULL || hdr == NULL) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}
	curlerr[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, o->timeout_s > 0 ? o->timeout_s : 10L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curlerr);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (cc != CURLE_OK)
		rc = tsk_seterr(err, errlen, TSK_ETEMP, "webhook %s: %s%s%s", url, curl_easy_strerror(cc), curlerr[0] ? ": " : "",
		    curlerr);
	else if (code < 200 || code > 299)
		rc = tsk_seterr(err, errlen, TSK_ETEMP, "webhook %s: HTTP %ld", url, code);
	else
		rc = TSK_OK;
out:
	if (h != NULL)
		curl_easy_cleanup(h);
	curl_slist_free_all(hdr);
	free(body);
	return rc;
}

/* One due row of the tenant: 1 when one was handled, 0 when none is due, -1 on a database failure. */
static int
one(PGconn *db, const struct tsk_alert_notify_opts *o, const char *tenant, int64_t now_us,
    struct tsk_alert_notify_result *r, char *err, size_t errlen)
{
	char now[TSK_TIME_STRLEN], why[TSK_ERRLEN], attempts[16], backoff[32];
	PGresult *res = NULL;
	int rc, ok, attempt;

	tsk_time_format(now_us, now);
	if (tsk_db_begin_tenant(db, tenant, err, errlen) != TSK_OK)
		return -1;
	if (tsk_db_exec(db, next_sql, 2, (const char *[]){ now, tenant }, &res, err, errlen) != TSK_OK) {
		tsk_db_rollback(db);
		return -1;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		tsk_db_rollback(db);
		return 0;
	}
	const char *channel = PQgetvalue(res, 0, N_CHANNEL), *id = PQgetvalue(res, 0, N_ID);
	why[0] = '\0';
	if (strcmp(channel, "EMAIL") == 0)
		rc = send_email(o, res, why, sizeof why);
	else if (strcmp(channel, "WEBHOOK") == 0)
		rc = send_webhook(o, tenant, res, now_us, why, sizeof why);
	else
		rc = TSK_OK; /* IN_APP: stored; the API lists it */
	ok = rc == TSK_OK;
	attempt = atoi(PQgetvalue(res, 0, N_ATTEMPTS)) + 1;
	snprintf(attempts, sizeof attempts, "%d", attempt);
	/* 30 s, 1 min, 2 min, ... at most an hour; failed for good after max_attempts, or at once when the
	 * message itself can never be sent (a bad address). */
	int64_t delay = 30;
	for (int i = 1; i < attempt && delay < 3600; i++)
		delay *= 2;
	snprintf(backoff, sizeof backoff, "%" PRId64, delay > 3600 ? 3600 : delay);
	int final = !ok && (rc == TSK_EINVAL || attempt >= (o->max_attempts > 0 ? o->max_attempts : 10));
	const char *p[] = { id, ok ? "sent" : final ? "failed" : "pending", attempts, now, backoff, why };
	const char *pa[] = { id, now, ok ? "true" : "false", why };
	if (tsk_db_exec(db, "UPDATE alert_notification SET status = $2::text, attempts = $3::int,"
	    " sent_at = CASE WHEN $2::text = 'sent' THEN $4::timestamptz END,"
	    " next_attempt = $4::timestamptz + make_interval(secs => $5::int), last_error = $6::text WHERE id = $1::bigint",
	    6, p, NULL, err, errlen) != TSK_OK ||
	    tsk_db_exec(db, "INSERT INTO alert_notification_attempt (notification_id, at, ok, error) VALUES ($1, $2, $3, $4)",
	    4, pa, NULL, err, errlen) != TSK_OK) {
		PQclear(res);
		tsk_db_rollback(db);
		return -1;
	}
	if (ok)
		r->sent++;
	else if (final)
		r->failed++;
	else
		r->retried++;
	if (!ok)
		tsk_warn("notification %s (%s to %s, tenant %s): attempt %d: %s%s", id, channel, PQgetvalue(res, 0, N_RCPT),
		    tenant, attempt, why, final ? " (giving up)" : "");
	PQclear(res);
	if (tsk_db_commit(db, err, errlen) != TSK_OK)
		return -1;
	return 1;
}

int
tsk_alert_notify(PGconn *db, const struct tsk_alert_notify_opts *o, const char *tenant, int64_t now_us,
    struct tsk_alert_notify_result *r, char *err, size_t errlen)
{
	PGresult *tl = NULL;
	int rc;

	memset(r, 0, sizeof *r);
	if ((rc = tsk_db_exec(db, "SELECT slug FROM public.tenant WHERE $1::text IS NULL OR slug = $1 ORDER BY slug", 1,
	    (const char *[]){ tenant }, &tl, err, errlen)) != TSK_OK)
		return rc;
	if (tenant != NULL && PQntuples(tl) == 0) {
		PQclear(tl);
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "no tenant \"%s\"", tenant);
	}
	for (int i = 0; i < PQntuples(tl); i++) {
		int got;
		while ((got = one(db, o, PQgetvalue(tl, i, 0), now_us, r, err, errlen)) > 0)
			if (o->cancel != NULL && *o->cancel)
				break;
		if (got < 0) {
			rc = PQstatus(db) != CONNECTION_OK ? TSK_ETEMP : TSK_EFAIL;
			break;
		}
		if (o->cancel != NULL && *o->cancel)
			break;
	}
	PQclear(tl);
	return rc;
}
