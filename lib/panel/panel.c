/*
 * The ops panel's front door: routing under /ops/, the staff session and its CSRF tokens, the form
 * reader, the HTML helpers, the static files (stylesheet, Chart.js from the Debian package).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>

#include "core/log.h"
#include "core/text.h"
#include "core/time.h"
#include "panel/panel_impl.h"
#include "pg/db.h"
#include "registry/jwt.h"

#define SESSION_COOKIE "tsk_ops"
#define LOGIN_COOKIE "tsk_ops_login"
#define SESSION_TTL (12 * 3600)

/* ---- forms --------------------------------------------------------------------------------------- */

static void
form_add(struct form *f, const char *k, size_t kn, const char *v, size_t vn)
{
	char *kk, *vv;
	long a, b;

	if (f->n >= FORM_MAX)
		return;
	kk = malloc(kn + 1);
	vv = malloc(vn + 1);
	if (kk == NULL || vv == NULL || (a = tsk_pct_decode(k, kn, kk, kn + 1, 0)) < 0 ||
	    (b = tsk_pct_decode(v, vn, vv, vn + 1, 0)) < 0) {
		free(kk);
		free(vv);
		return;
	}
	kk[a] = '\0';
	vv[b] = '\0';
	f->k[f->n] = kk;
	f->v[f->n++] = vv;
}

static enum MHD_Result
form_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct form *f = cls;

	(void)kind;
	if (key != NULL && f->n < FORM_MAX) {
		f->k[f->n] = strdup(key);
		f->v[f->n] = strdup(value != NULL ? value : "");
		if (f->k[f->n] == NULL || f->v[f->n] == NULL) {
			free(f->k[f->n]);
			free(f->v[f->n]);
		} else {
			f->n++;
		}
	}
	return MHD_YES;
}

void
form_load(struct form *f, const struct tsk_http_request *rq)
{
	memset(f, 0, sizeof *f);
	if (strcmp(rq->method, "POST") != 0) {
		MHD_get_connection_values((struct MHD_Connection *)rq->conn, MHD_GET_ARGUMENT_KIND, form_arg, f);
		return;
	}
	/* application/x-www-form-urlencoded: '+' is a space. */
	const char *p = rq->body, *end = rq->body + rq->body_len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *e = amp != NULL ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));
		char *k, *v;
		if (eq != NULL && (k = strndup(p, (size_t)(eq - p))) != NULL) {
			if ((v = strndup(eq + 1, (size_t)(e - eq - 1))) != NULL) {
				for (char *q = k; *q; q++)
					if (*q == '+')
						*q = ' ';
				for (char *q = v; *q; q++)
					if (*q == '+')
						*q = ' ';
				form_add(f, k, strlen(k), v, strlen(v));
				free(v);
			}
			free(k);
		}
		p = e + 1;
	}
}

const char *
form_get(const struct form *f, const char *key)
{
	for (int i = 0; i < f->n; i++)
		if (strcmp(f->k[i], key) == 0)
			return f->v[i];
	return NULL;
}

void
form_free(struct form *f)
{
	for (int i = 0; i < f->n; i++) {
		free(f->k[i]);
		free(f->v[i]);
	}
	f->n = 0;
}

/* ---- HTML ---------------------------------------------------------------------------------------- */

void
html_esc(struct tsk_buf *b, const char *s)
{
	for (; s != NULL && *s; s++) {
		switch (*s) {
		case '&': tsk_buf_puts(b, "&amp;"); break;
		case '<': tsk_buf_puts(b, "&lt;"); break;
		case '>': tsk_buf_puts(b, "&gt;"); break;
		case '"': tsk_buf_puts(b, "&quot;"); break;
		case '\'': tsk_buf_puts(b, "&#39;"); break;
		default: tsk_buf_add(b, s, 1);
		}
	}
}

void
url_esc(struct tsk_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; p != NULL && *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		    *p == '_' || *p == '.' || *p == '~')
			tsk_buf_add(b, p, 1);
		else
			tsk_buf_printf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
	}
}

void
page_begin(struct ctx *c, struct tsk_buf *b, const char *title)
{
	tsk_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>");
	html_esc(b, title);
	tsk_buf_puts(b, " · TrakSense Control Center</title><link rel=\"stylesheet\" href=\"/ops/static/ops.css\">"
	    "</head><body><header><a class=\"brand\" href=\"/ops/\">TrakSense Control Center</a>");
	if (c->user.user_id > 0) {
		tsk_buf_puts(b, "<nav><a href=\"/ops/\">Query</a> <a href=\"/ops/dashboard/\">Dashboard</a> "
		    "<a href=\"/ops/exports/\">Exports</a> <a href=\"/ops/audit/\">Audit</a> "
		    "<form class=\"inline\" method=\"post\" action=\"/ops/logout/\">");
		csrf_field(c, b);
		tsk_buf_puts(b, "<button type=\"submit\">Log out ");
		html_esc(b, c->user.email);
		tsk_buf_puts(b, "</button></form></nav>");
	}
	tsk_buf_puts(b, "</header><main><h1>");
	html_esc(b, title);
	tsk_buf_puts(b, "</h1>\n");
}

void
page_end(struct tsk_buf *b)
{
	tsk_buf_puts(b, "</main></body></html>\n");
}

static void
security_headers(struct tsk_http_reply *out)
{
	tsk_http_reply_header(out, "X-Content-Type-Options", "nosniff");
	tsk_http_reply_header(out, "X-Frame-Options", "DENY");
	tsk_http_reply_header(out, "Cache-Control", "no-store");
	tsk_http_reply_header(out, "Content-Security-Policy",
	    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
}

void
reply_html(struct ctx *c, int status, struct tsk_buf *b)
{
	if (tsk_buf_failed(b)) {
		tsk_buf_free(b);
		reply_text(c, 500, "out of memory\n");
		return;
	}
	c->out->status = status;
	c->out->content_type = "text/html; charset=utf-8";
	c->out->len = b->len;
	c->out->body = tsk_buf_take(b);
	if (c->out->body == NULL)
		c->out->body = strdup("");
	security_headers(c->out);
}

void
reply_text(struct ctx *c, int status, const char *text)
{
	c->out->status = status;
	c->out->content_type = "text/plain; charset=utf-8";
	c->out->body = strdup(text);
	c->out->len = c->out->body != NULL ? strlen(c->out->body) : 0;
	security_headers(c->out);
}

void
reply_redirect(struct ctx *c, const char *location)
{
	c->out->status = 302;
	c->out->content_type = "text/plain; charset=utf-8";
	c->out->body = strdup("");
	c->out->len = 0;
	if (tsk_http_reply_header(c->out, "Location", location) != 0)
		tsk_http_reply_header(c->out, "Location", "/ops/");
	security_headers(c->out);
}

void
html_json(struct tsk_buf *b, const char *id, json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_ESCAPE_SLASH) : NULL;

	tsk_buf_printf(b, "<script type=\"application/json\" id=\"%s\">", id);
	/* '<' as \u003c as well, so nothing in the data can close the element or open a comment. */
	for (const char *p = s != NULL ? s : "null"; *p; p++) {
		if (*p == '<')
			tsk_buf_puts(b, "\\u003c");
		else if (*p == '&')
			tsk_buf_puts(b, "\\u0026");
		else
			tsk_buf_add(b, p, 1);
	}
	tsk_buf_puts(b, "</script>\n");
	free(s);
	json_decref(j);
}

/* ---- tenants ------------------------------------------------------------------------------------- */

int
tenant_name(PGconn *db, const char *slug, char *name, size_t len)
{
	const char *v[1] = { slug };
	char err[TSK_ERRLEN];
	PGresult *res;
	int found;

	if (tsk_db_exec(db, "SELECT name FROM public.tenant WHERE slug = $1", 1, v, &res, err, sizeof err) != TSK_OK) {
		tsk_warn("ops: tenant lookup: %s", err);
		return -1;
	}
	found = PQntuples(res) == 1;
	if (found)
		snprintf(name, len, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return found;
}

void
tenant_options(struct ctx *c, struct tsk_buf *b, const char *selected)
{
	char err[TSK_ERRLEN];
	PGresult *res;

	if (tsk_db_exec(c->db, "SELECT slug, name FROM public.tenant ORDER BY name, slug", 0, NULL, &res, err,
	    sizeof err) != TSK_OK) {
		tsk_warn("ops: tenants: %s", err);
		return;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		const char *slug = PQgetvalue(res, i, 0);
		tsk_buf_puts(b, "<option value=\"");
		html_esc(b, slug);
		tsk_buf_puts(b, selected != NULL && strcmp(selected, slug) == 0 ? "\" selected>" : "\">");
		html_esc(b, PQgetvalue(res, i, 1));
		tsk_buf_puts(b, " (");
		html_esc(b, slug);
		tsk_buf_puts(b, ")</option>");
	}
	PQclear(res);
}

/* ---- CSRF ---------------------------------------------------------------------------------------- */

/* hex(HMAC-SHA256(secret, purpose "|" value)), 64 digits. */
static void
mac_hex(const char *secret, const char *purpose, const char *value, char out[65])
{
	crypto_auth_hmacsha256_state st;
	unsigned char h[32];

	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)purpose, strlen(purpose));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)"|", 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)value, strlen(value));
	crypto_auth_hmacsha256_final(&st, h);
	sodium_bin2hex(out, 65, h, sizeof h);
}

void
csrf_field(struct ctx *c, struct tsk_buf *b)
{
	tsk_buf_printf(b, "<input type=\"hidden\" name=\"csrfmiddlewaretoken\" value=\"%s\">", c->csrf);
}

int
csrf_ok(struct ctx *c)
{
	const char *t = form_get(&c->form, "csrfmiddlewaretoken");

	if (t != NULL && c->csrf[0] != '\0' && strlen(t) == 64 && sodium_memcmp(t, c->csrf, 64) == 0)
		return 1;
	audit(c, "csrf_refused", NULL, NULL, -1);
	reply_text(c, 403, "Forbidden (CSRF token missing or incorrect.)\n");
	return 0;
}

/* ---- the session --------------------------------------------------------------------------------- */

static void
set_cookie(struct ctx *c, const char *name, const char *value, long max_age)
{
	char v[TSK_JWT_MAX + 200];

	if (value != NULL)
		snprintf(v, sizeof v, "%s=%s; Max-Age=%ld; Path=/ops/; HttpOnly; SameSite=Strict%s", name, value,
		    max_age, c->p->cookie_secure ? "; Secure" : "");
	else
		snprintf(v, sizeof v, "%s=\"\"; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/ops/; HttpOnly; "
		    "SameSite=Strict%s", name, c->p->cookie_secure ? "; Secure" : "");
	tsk_http_reply_header(c->out, "Set-Cookie", v);
}

/* 1 when the session cookie names an active staff user (c->user, c->jti, c->csrf set). */
static int
session(struct ctx *c)
{
	const char *tok = tsk_http_cookie(c->rq, SESSION_COOKIE);
	struct tsk_jwt_claims cl;
	char err[TSK_ERRLEN], uid[24];
	const char *v[2];
	PGresult *res;
	int revoked;

	if (tok == NULL || tok[0] == '\0')
		return 0;
	if (tsk_jwt_verify(c->secret, tok, TSK_JWT_ACCESS, "", (int64_t)time(NULL), &cl, err, sizeof err) != TSK_OK ||
	    tsk_auth_user(c->db, cl.sub, cl.pgen, "", &c->user, err, sizeof err) != TSK_OK) {
		memset(&c->user, 0, sizeof c->user);
		return 0;
	}
	snprintf(uid, sizeof uid, "%lld", (long long)cl.sub);
	v[0] = cl.jti;
	v[1] = uid;
	if (tsk_db_exec(c->db, "SELECT EXISTS (SELECT 1 FROM public.revoked_token WHERE jti = $1), "
	    "(SELECT is_superuser FROM public.app_user WHERE id = $2::bigint)", 2, v, &res, err, sizeof err) != TSK_OK) {
		memset(&c->user, 0, sizeof c->user);
		return 0;
	}
	revoked = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	c->is_superuser = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	PQclear(res);
	if (revoked || !c->user.is_staff || !c->user.is_active) {
		memset(&c->user, 0, sizeof c->user);
		return 0;
	}
	snprintf(c->jti, sizeof c->jti, "%s", cl.jti);
	mac_hex(c->secret, "ops-csrf", cl.jti, c->csrf);
	return 1;
}

/* A `next` that stays on the panel (no scheme, no host, no //). */
static const char *
safe_next(const char *next)
{
	if (next == NULL || strncmp(next, "/ops/", 5) != 0 || strstr(next, "//") != NULL || strchr(next, '\\') != NULL ||
	    strpbrk(next, "\r\n") != NULL)
		return "/ops/";
	return next;
}

static void
login_page(struct ctx *c, int status, const char *next, const char *msg)
{
	struct tsk_buf b = TSK_BUF_INIT;
	const char *have = tsk_http_cookie(c->rq, LOGIN_COOKIE);
	char nonce[33], mac[65];
	unsigned char rnd[16];

	if (have != NULL && strlen(have) == 32 && strspn(have, "0123456789abcdef") == 32) {
		snprintf(nonce, sizeof nonce, "%s", have);
	} else {
		randombytes_buf(rnd, sizeof rnd);
		sodium_bin2hex(nonce, sizeof nonce, rnd, sizeof rnd);
		set_cookie(c, LOGIN_COOKIE, nonce, 3600);
	}
	mac_hex(c->secret, "ops-login", nonce, mac);
	page_begin(c, &b, "Staff login");
	if (msg != NULL) {
		tsk_buf_puts(&b, "<p class=\"error\">");
		html_esc(&b, msg);
		tsk_buf_puts(&b, "</p>");
	}
	tsk_buf_printf(&b, "<form method=\"post\" action=\"/ops/login/\" class=\"card\">"
	    "<input type=\"hidden\" name=\"csrfmiddlewaretoken\" value=\"%s\"><input type=\"hidden\" name=\"next\" value=\"", mac);
	html_esc(&b, safe_next(next));
	tsk_buf_puts(&b, "\"><label>E-mail <input type=\"email\" name=\"username\" id=\"username\" required autofocus></label>"
	    "<label>Password <input type=\"password\" name=\"password\" id=\"password\" required></label>"
	    "<button type=\"submit\" id=\"login\">Log in</button></form>");
	page_end(&b);
	reply_html(c, status, &b);
}

static void
login_post(struct ctx *c)
{
	const char *nonce = tsk_http_cookie(c->rq, LOGIN_COOKIE), *t = form_get(&c->form, "csrfmiddlewaretoken");
	const char *name = form_get(&c->form, "username"), *pw = form_get(&c->form, "password");
	const char *next = safe_next(form_get(&c->form, "next"));
	struct tsk_login_limits lim;
	struct tsk_principal p;
	struct tsk_jwt_claims cl;
	char mac[65], err[TSK_ERRLEN], tok[TSK_JWT_MAX + 1];
	int rc;

	if (nonce == NULL || t == NULL || strlen(t) != 64 || (mac_hex(c->secret, "ops-login", nonce, mac),
	    sodium_memcmp(mac, t, 64) != 0)) {
		reply_text(c, 403, "Forbidden (CSRF token missing or incorrect.)\n");
		return;
	}
	if (name == NULL || pw == NULL || *name == '\0' || *pw == '\0') {
		login_page(c, 400, next, "Please enter the e-mail and password of a staff account.");
		return;
	}
	memset(&lim, 0, sizeof lim);
	lim.by_account = c->p->by_account;
	lim.by_address = c->p->by_address;
	lim.address = c->rq->remote != NULL && c->rq->remote[0] ? c->rq->remote : NULL;
	lim.now_us = tsk_now_us();
	rc = tsk_auth_login(c->db, name, pw, "", &lim, &p, err, sizeof err);
	if (rc != TSK_OK && rc != TSK_EINVAL) {
		reply_text(c, 503, "database unavailable\n");
		return;
	}
	if (rc == TSK_EINVAL && p.why == TSK_AUTH_RATE_LIMITED) {
		char ra[24];
		snprintf(ra, sizeof ra, "%ld", (long)((p.retry_after_us + 999999) / 1000000));
		login_page(c, 429, next, "Too many failed logins. Try again later.");
		tsk_http_reply_header(c->out, "Retry-After", ra);
		return;
	}
	if (rc != TSK_OK || !p.is_staff || !p.is_active) {
		/* Django admin's words: one answer for a wrong password and a user who is not staff. */
		login_page(c, 200, next, "Please enter the correct email address and password for a staff account. "
		    "Note that both fields may be case-sensitive.");
		return;
	}
	if (tsk_jwt_issue(c->secret, TSK_JWT_ACCESS, p.user_id, "", p.pgen, (int64_t)time(NULL), SESSION_TTL, tok,
	    sizeof tok, &cl, err, sizeof err) != TSK_OK) {
		reply_text(c, 500, "cannot start a session\n");
		return;
	}
	c->user = p;
	set_cookie(c, SESSION_COOKIE, tok, SESSION_TTL);
	set_cookie(c, LOGIN_COOKIE, NULL, 0);
	audit(c, "login", NULL, NULL, -1);
	reply_redirect(c, next);
}

static void
logout_post(struct ctx *c)
{
	const char *tok = tsk_http_cookie(c->rq, SESSION_COOKIE);
	struct tsk_jwt_claims cl;
	char err[TSK_ERRLEN];

	if (!csrf_ok(c))
		return;
	if (tok != NULL && tsk_jwt_verify(c->secret, tok, TSK_JWT_ACCESS, "", (int64_t)time(NULL), &cl, err,
	    sizeof err) == TSK_OK && tsk_auth_revoke(c->db, &cl, err, sizeof err) != TSK_OK)
		tsk_warn("ops logout: %s", err);
	audit(c, "logout", NULL, NULL, -1);
	set_cookie(c, SESSION_COOKIE, NULL, 0);
	reply_redirect(c, "/ops/login/");
}

/* ---- static files -------------------------------------------------------------------------------- */

static const char stylesheet[] =
    "*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,sans-serif;color:#1d2733;background:#f4f6f8}"
    "header{display:flex;flex-wrap:wrap;gap:.5em 1em;align-items:center;justify-content:space-between;"
    "padding:.6em 1em;background:#12344d;color:#fff}header a{color:#fff}.brand{font-weight:600;text-decoration:none}"
    "nav{display:flex;flex-wrap:wrap;gap:.3em .9em;align-items:center}main{padding:1em;max-width:1200px;margin:auto}"
    "h1{font-size:1.35em}form.card,.card{background:#fff;border:1px solid #d5dce3;border-radius:6px;padding:1em;"
    "margin-bottom:1em;display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:.7em}"
    "label{display:flex;flex-direction:column;font-size:.9em;gap:.2em}input,select,button{font:inherit;padding:.35em}"
    "button{background:#1f6feb;color:#fff;border:0;border-radius:4px;cursor:pointer}form.inline{display:inline}"
    "header button{background:transparent;border:1px solid #fff}.table{overflow-x:auto}"
    "table{border-collapse:collapse;width:100%;background:#fff}th,td{padding:.3em .5em;border-bottom:1px solid #e2e7ec;"
    "text-align:left;white-space:nowrap}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".error{color:#b42318;font-weight:600}.ok{color:#067647}.pager{display:flex;gap:1em;margin:.8em 0}"
    ".chart{position:relative;height:320px;background:#fff;border:1px solid #d5dce3;margin-bottom:1em}"
    "dl.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:.5em}dl.stats dd{margin:0;font-weight:600}"
    "@media (max-width:600px){main{padding:.5em}th,td{padding:.25em}}\n";

/* The charts, drawn from the JSON in <script id="chart-data"> (no inline script: the CSP forbids it). */
static const char charts_js[] =
    "(function(){var el=document.getElementById('chart-data');if(!el||!window.Chart)return;"
    "var d=JSON.parse(el.textContent),cv=document.getElementById('chart');if(!cv)return;"
    "var colors=['#1f6feb','#d1242f','#1a7f37','#9a6700','#8250df','#bf3989','#0550ae','#953800','#116329','#6e7781'];"
    "var sets=[];function pts(a,k){return a.map(function(p){return{x:Date.parse(p.x),y:p[k]};});}"
    "if(d.kind==='drilldown'){var s=d.datasets[0]||{data:[]};"
    "sets.push({label:'min',data:pts(s.data,'min'),borderWidth:0,pointRadius:0,fill:false,borderColor:'rgba(31,111,235,.2)'});"
    "sets.push({label:'max',data:pts(s.data,'max'),borderWidth:0,pointRadius:0,fill:'-1',borderColor:'rgba(31,111,235,.2)',backgroundColor:'rgba(31,111,235,.15)'});"
    "sets.push({label:s.label,data:pts(s.data,'y'),borderColor:colors[0],pointRadius:1,borderWidth:1.5,fill:false});}"
    "else{d.datasets.forEach(function(s,i){sets.push({label:s.label,data:pts(s.data,'y'),borderColor:colors[i%10],"
    "pointRadius:1,borderWidth:1.5,fill:false});});}"
    "new Chart(cv,{type:'line',data:{datasets:sets},options:{animation:false,maintainAspectRatio:false,parsing:true,"
    "scales:{x:{type:'linear',ticks:{callback:function(v){return new Date(v).toISOString().slice(5,16).replace('T',' ');}}}},"
    "plugins:{legend:{labels:{filter:function(i){return i.text!=='min'&&i.text!=='max';}}}}}});})();\n";

static void
static_file(struct ctx *c, const char *name)
{
	char path[1024];
	struct stat st;
	int fd = -1;
	char *buf = NULL;

	c->out->status = 200;
	if (strcmp(name, "ops.css") == 0) {
		c->out->content_type = "text/css; charset=utf-8";
		c->out->body = strdup(stylesheet);
	} else if (strcmp(name, "charts.js") == 0) {
		c->out->content_type = "text/javascript; charset=utf-8";
		c->out->body = strdup(charts_js);
	} else if (strcmp(name, "chart.js") == 0) {
		snprintf(path, sizeof path, "%s/chart.min.js", c->p->chartjs_dir);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0 || st.st_size > (64 << 20) ||
		    (buf = malloc((size_t)st.st_size + 1)) == NULL || read(fd, buf, (size_t)st.st_size) != st.st_size) {
			tsk_warn("ops: %s: %s (Debian package libjs-chart.js; chartjs_dir)", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			free(buf);
			reply_text(c, 404, "Chart.js not installed\n");
			return;
		}
		close(fd);
		c->out->content_type = "text/javascript; charset=utf-8";
		c->out->body = buf;
		c->out->len = (size_t)st.st_size;
		tsk_http_reply_header(c->out, "Cache-Control", "max-age=86400");
		return;
	} else {
		reply_text(c, 404, "Not found\n");
		return;
	}
	c->out->len = c->out->body != NULL ? strlen(c->out->body) : 0;
	tsk_http_reply_header(c->out, "Cache-Control", "max-age=3600");
}

/* ---- routing ------------------------------------------------------------------------------------- */

static int
is(const char *path, const char *want)
{
	return strcmp(path, want) == 0;
}

/* /ops/exports/ID/SUFFIX: the id, or 0. */
static long long
job_path(const char *path, const char *suffix)
{
	const char *p = path + strlen("/ops/exports/");
	char *end;
	long long id;

	if (strncmp(path, "/ops/exports/", 13) != 0 || *p < '1' || *p > '9')
		return 0;
	errno = 0;
	id = strtoll(p, &end, 10);
	if (errno != 0 || strcmp(end, suffix) != 0)
		return 0;
	return id;
}

static void
method_not_allowed(struct ctx *c, const char *allow)
{
	reply_text(c, 405, "Method not allowed\n");
	tsk_http_reply_header(c->out, "Allow", allow);
}

int
tsk_panel_route(void *arg, const struct tsk_http_request *rq, void *pgconn, const char *secret,
    struct tsk_http_reply *out)
{
	struct ctx c;
	const char *path = rq->path;
	int get = strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;
	int post = strcmp(rq->method, "POST") == 0;
	long long id;

	memset(&c, 0, sizeof c);
	c.p = arg;
	c.rq = rq;
	c.db = pgconn;
	c.secret = secret;
	c.out = out;
	c.start_us = tsk_now_us();
	if (strncmp(path, "/ops/static/", 12) == 0) {
		if (get)
			static_file(&c, path + 12);
		else
			method_not_allowed(&c, "GET, HEAD");
		return 1;
	}
	if (is(path, "/ops")) {
		reply_redirect(&c, "/ops/");
		return 1;
	}
	form_load(&c.form, rq);
	if (is(path, "/ops/login/")) {
		if (get)
			login_page(&c, 200, form_get(&c.form, "next"), NULL);
		else if (post)
			login_post(&c);
		else
			method_not_allowed(&c, "GET, POST");
		goto out;
	}
	if (!session(&c)) {
		/* staff_member_required: anonymous and non-staff alike go to the login page with next. */
		struct tsk_buf loc = TSK_BUF_INIT;
		const char *q = strchr(rq->path, '?');
		tsk_buf_puts(&loc, "/ops/login/?next=");
		url_esc(&loc, get ? rq->path : "/ops/");
		(void)q;
		if (get && c.form.n > 0) {
			/* the query string, rebuilt from the decoded arguments */
			struct tsk_buf qs = TSK_BUF_INIT;
			for (int i = 0; i < c.form.n; i++) {
				tsk_buf_puts(&qs, i ? "&" : "?");
				url_esc(&qs, c.form.k[i]);
				tsk_buf_puts(&qs, "=");
				url_esc(&qs, c.form.v[i]);
			}
			url_esc(&loc, tsk_buf_cstr(&qs) != NULL ? tsk_buf_cstr(&qs) : "");
			tsk_buf_free(&qs);
		}
		reply_redirect(&c, tsk_buf_cstr(&loc) != NULL ? tsk_buf_cstr(&loc) : "/ops/login/");
		tsk_buf_free(&loc);
		goto out;
	}
	if (post && !is(path, "/ops/logout/") && !csrf_ok(&c))
		goto out;
	if (is(path, "/ops/logout/")) {
		if (post)
			logout_post(&c);
		else
			method_not_allowed(&c, "POST");
	} else if (is(path, "/ops/")) {
		get ? view_home(&c) : method_not_allowed(&c, "GET, HEAD");
	} else if (is(path, "/ops/telemetry/")) {
		get ? view_telemetry(&c) : method_not_allowed(&c, "GET, HEAD");
	} else if (is(path, "/ops/telemetry/drilldown/")) {
		get ? view_drilldown(&c) : method_not_allowed(&c, "GET, HEAD");
	} else if (is(path, "/ops/telemetry/export/")) {
		post ? view_export_csv(&c) : method_not_allowed(&c, "POST");
	} else if (is(path, "/ops/dashboard/")) {
		get ? view_dashboard(&c) : method_not_allowed(&c, "GET, HEAD");
	} else if (is(path, "/ops/api/chart-data/")) {
		get ? view_chart_data(&c) : method_not_allowed(&c, "GET, HEAD");
	} else if (is(path, "/ops/exports/")) {
		get ? view_exports(&c) : method_not_allowed(&c, "GET, HEAD");
	} else if (is(path, "/ops/exports/request/")) {
		post ? view_export_request(&c) : method_not_allowed(&c, "POST");
	} else if ((id = job_path(path, "/download/")) > 0) {
		get ? view_export_download(&c, id) : method_not_allowed(&c, "GET, HEAD");
	} else if ((id = job_path(path, "/cancel/")) > 0) {
		post ? view_export_cancel(&c, id) : method_not_allowed(&c, "POST");
	} else if (is(path, "/ops/audit/")) {
		get ? view_audit(&c) : method_not_allowed(&c, "GET, HEAD");
	} else {
		reply_text(&c, 404, "Not found\n");
	}
out:
	form_free(&c.form);
	return 1;
}

/* ---- life ---------------------------------------------------------------------------------------- */

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

int
tsk_panel_new(const struct tsk_panel_opts *o, struct tsk_panel **out, char *err, size_t errlen)
{
	struct tsk_panel *p;
	int rc;

	*out = NULL;
	if (sodium_init() < 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "libsodium failed to initialise");
	if ((p = calloc(1, sizeof *p)) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->dsn = strdup(o->dsn != NULL ? o->dsn : "");
	p->chartjs_dir = strdup(o->chartjs_dir != NULL && *o->chartjs_dir ? o->chartjs_dir : "/usr/share/javascript/chart.js");
	p->bucket = strdup(o->export_bucket != NULL && *o->export_bucket ? o->export_bucket : "exports");
	p->cookie_secure = o->cookie_secure;
	p->by_account = tsk_ratelimit_new(5, 1, 65536);
	p->by_address = tsk_ratelimit_new(20, 10, 65536);
	if (o->s3 != NULL && o->s3->access_key != NULL && *o->s3->access_key) {
		p->has_s3 = 1;
		p->s3 = *o->s3;
		p->s3.endpoint = p->s3_strings[0] = dup_or_null(o->s3->endpoint);
		p->s3.region = p->s3_strings[1] = dup_or_null(o->s3->region);
		p->s3.access_key = p->s3_strings[2] = dup_or_null(o->s3->access_key);
		p->s3.secret_key = p->s3_strings[3] = dup_or_null(o->s3->secret_key);
		p->s3.session_token = p->s3_strings[4] = dup_or_null(o->s3->session_token);
		p->s3.cancel = &p->cancel;
	}
	if (p->dsn == NULL || p->chartjs_dir == NULL || p->bucket == NULL || p->by_account == NULL || p->by_address == NULL) {
		tsk_panel_free(p);
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	}
	if (!o->no_worker && (rc = jobs_start(p, err, errlen)) != TSK_OK) {
		tsk_panel_free(p);
		return rc;
	}
	*out = p;
	return TSK_OK;
}

void
tsk_panel_free(struct tsk_panel *p)
{
	if (p == NULL)
		return;
	jobs_stop(p);
	for (int i = 0; i < 5; i++) {
		if (p->s3_strings[i] != NULL)
			sodium_memzero(p->s3_strings[i], strlen(p->s3_strings[i]));
		free(p->s3_strings[i]);
	}
	tsk_ratelimit_free(p->by_account);
	tsk_ratelimit_free(p->by_address);
	free(p->dsn);
	free(p->chartjs_dir);
	free(p->bucket);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
