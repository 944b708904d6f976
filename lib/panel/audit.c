/* The ops panel's audit log (public.audit_log, the original system): one row per action, and its page. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "core/log.h"
#include "core/time.h"
#include "panel/panel_impl.h"
#include "pg/db.h"

void
audit(struct ctx *c, const char *action, const char *tenant, json_t *filters, long long rows)
{
	const char *ua = tsk_http_header(c->rq, "User-Agent");
	char uid[24], cnt[24], ms[24], agent[501], err[TSK_ERRLEN];
	char *fj = json_dumps(filters != NULL ? filters : json_object(), JSON_COMPACT);
	const char *v[8];

	snprintf(uid, sizeof uid, "%lld", (long long)c->user.user_id);
	snprintf(cnt, sizeof cnt, "%lld", rows);
	snprintf(ms, sizeof ms, "%lld", (long long)((tsk_now_us() - c->start_us) / 1000));
	/* At most 500 characters of the agent, cut on a UTF-8 boundary. */
	size_t n = ua != NULL ? strlen(ua) : 0;
	if (n > 500)
		for (n = 500; n > 0 && ((unsigned char)ua[n] & 0xC0) == 0x80; n--)
			;
	snprintf(agent, sizeof agent, "%.*s", (int)n, ua != NULL ? ua : "");
	v[0] = c->user.user_id > 0 ? c->user.email : "anonymous";
	v[1] = c->user.user_id > 0 ? uid : NULL;
	v[2] = tenant;
	v[3] = action;
	v[4] = fj != NULL ? fj : "{}";
	v[5] = rows >= 0 ? cnt : NULL;
	v[6] = ms;
	v[7] = agent;
	const char *addr = c->rq->remote != NULL && c->rq->remote[0] ? c->rq->remote : NULL;
	const char *vv[9] = { v[0], v[1], v[2], v[3], v[4], v[5], v[6], addr, v[7] };
	if (tsk_db_exec(c->db, "INSERT INTO public.audit_log (actor, user_id, tenant, action, details, record_count, "
	    "execution_time_ms, ip_address, user_agent) VALUES ($1, $2::bigint, $3, $4, $5::jsonb, $6::bigint, $7::int, "
	    "$8::inet, NULLIF($9, ''))", 9, vv, NULL, err, sizeof err) != TSK_OK)
		tsk_warn("ops audit (%s): %s", action, err);
	free(fj);
	json_decref(filters);
}

int
tsk_panel_audit_list(PGconn *db, const char *tenant, const char *action, long long limit, json_t **out, char *err,
    size_t errlen)
{
	char lim[24];
	const char *v[3];

	if (limit < 1 || limit > 10000)
		return tsk_seterr(err, errlen, TSK_EINVAL, "limit must be 1..10000");
	snprintf(lim, sizeof lim, "%lld", limit);
	v[0] = tenant;
	v[1] = action;
	v[2] = lim;
	return tsk_db_json_rows(db, "SELECT json_build_object('id', id, 'at', to_char(at AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'actor', actor, 'tenant', tenant, 'action', action, 'filters', details, "
	    "'record_count', record_count, 'execution_time_ms', execution_time_ms, 'ip_address', host(ip_address), "
	    "'user_agent', user_agent)::text FROM public.audit_log WHERE ($1::text IS NULL OR tenant = $1) AND "
	    "($2::text IS NULL OR action = $2) ORDER BY at DESC, id DESC LIMIT $3::bigint", 3, v, out, err, errlen);
}

int
tsk_panel_superuser_set(PGconn *db, const char *email, int on, char *err, size_t errlen)
{
	const char *v[2] = { email, on ? "t" : "f" };
	long long n = 0;
	int rc;

	rc = tsk_db_exec_rows(db, "UPDATE public.app_user SET is_superuser = $2::boolean, is_staff = is_staff OR "
	    "$2::boolean WHERE email = lower($1)", 2, v, &n, err, errlen);
	if (rc == TSK_OK && n == 0)
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "no user %s", email);
	return rc;
}

void
view_audit(struct ctx *c)
{
	struct tsk_buf b = TSK_BUF_INIT;
	const char *tenant = form_get(&c->form, "tenant"), *action = form_get(&c->form, "action");
	char err[TSK_ERRLEN];
	json_t *rows;
	size_t i;
	json_t *r;

	if (tenant != NULL && *tenant == '\0')
		tenant = NULL;
	if (action != NULL && *action == '\0')
		action = NULL;
	if (tsk_panel_audit_list(c->db, tenant, action, 200, &rows, err, sizeof err) != TSK_OK) {
		tsk_warn("ops audit page: %s", err);
		reply_text(c, 503, "database unavailable\n");
		return;
	}
	page_begin(c, &b, "Audit log");
	tsk_buf_puts(&b, "<form method=\"get\" action=\"/ops/audit/\" class=\"card\"><label>Tenant <input name=\"tenant\" value=\"");
	html_esc(&b, tenant);
	tsk_buf_puts(&b, "\"></label><label>Action <input name=\"action\" value=\"");
	html_esc(&b, action);
	tsk_buf_puts(&b, "\"></label><button type=\"submit\">Filter</button></form><div class=\"table\"><table id=\"audit\">"
	    "<thead><tr><th>When</th><th>User</th><th>Action</th><th>Tenant</th><th>Filters</th><th>Rows</th><th>ms</th>"
	    "<th>Address</th><th>User agent</th></tr></thead><tbody>\n");
	json_array_foreach(rows, i, r) {
		char *fj = json_dumps(json_object_get(r, "filters"), JSON_COMPACT);
		json_t *rc = json_object_get(r, "record_count");
		tsk_buf_puts(&b, "<tr><td>");
		html_esc(&b, json_string_value(json_object_get(r, "at")));
		tsk_buf_puts(&b, "</td><td>");
		html_esc(&b, json_string_value(json_object_get(r, "actor")));
		tsk_buf_puts(&b, "</td><td class=\"action\">");
		html_esc(&b, json_string_value(json_object_get(r, "action")));
		tsk_buf_puts(&b, "</td><td>");
		html_esc(&b, json_string_value(json_object_get(r, "tenant")));
		tsk_buf_puts(&b, "</td><td><code>");
		html_esc(&b, fj);
		tsk_buf_puts(&b, "</code></td><td class=\"n\">");
		if (json_is_integer(rc))
			tsk_buf_printf(&b, "%lld", (long long)json_integer_value(rc));
		tsk_buf_printf(&b, "</td><td class=\"n\">%lld</td><td>",
		    (long long)json_integer_value(json_object_get(r, "execution_time_ms")));
		html_esc(&b, json_string_value(json_object_get(r, "ip_address")));
		tsk_buf_puts(&b, "</td><td>");
		html_esc(&b, json_string_value(json_object_get(r, "user_agent")));
		tsk_buf_puts(&b, "</td></tr>\n");
		free(fj);
	}
	json_decref(rows);
	tsk_buf_puts(&b, "</tbody></table></div>");
	page_end(&b);
	reply_html(c, 200, &b);
}
