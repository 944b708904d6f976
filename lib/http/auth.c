/*
 * Authentication endpoints of the daemon, on tenant hosts and on the public host:
 *   POST /api/auth/login/               password login; sets the access_token and refresh_token cookies
 *   POST /api/auth/token/refresh/       a new access_token cookie from the refresh_token cookie
 *   POST /api/auth/logout/              clears both cookies
 *   GET, PATCH /api/users/me/           the caller's profile
 *   POST /api/users/me/change-password/ a new password: every older token dies, fresh cookies are set
 *
 * Credentials, in order: the access_token cookie (when present it must be valid: no fallback), then an
 * `Authorization: Bearer` access JWT or API token. Tokens are bound to the host's tenant (a token of
 * another tenant is refused) and to the user's password generation. An unsafe method authenticated by
 * cookie needs an Origin (or Referer) of the request's own Host; Bearer requests need none.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "core/log.h"
#include "core/time.h"
#include "core/tsk.h"
#include "http/http_impl.h"
#include "pg/db.h"
#include "registry/account.h"
#include "registry/apitoken.h"
#include "registry/auth.h"
#include "registry/jwt.h"
#include "registry/login.h"
#include "registry/ratelimit.h"

struct tsk_http_auth {
	/* jwt_secret, replaced by SIGHUP (tsk_http_auth_set_secret). A request reads the pointer once per use
	 * without a lock, so a replaced secret is not freed while the daemon runs (a request may still be
	 * verifying with it): it is kept in `old` until tsk_http_auth_free. Only a changed secret is kept,
	 * so this grows by one string per actual key rotation. */
	_Atomic(char *) secret;
	pthread_mutex_t old_mu;
	char **old;
	size_t nold;
	int cookie_secure;
	struct tsk_ratelimit *by_account, *by_address;
};

#define SECRET_MAX 511 /* bytes of jwt_secret */

static int
secret_check(const char *secret, char *err, size_t errlen)
{
	int rc;

	if (secret == NULL || secret[0] == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "no jwt_secret: it signs the login tokens (at least %d bytes)",
		    TSK_JWT_SECRET_MIN);
	if ((rc = tsk_jwt_secret_check(secret, err, errlen)) != TSK_OK)
		return rc;
	if (strlen(secret) > SECRET_MAX)
		return tsk_seterr(err, errlen, TSK_EINVAL, "jwt_secret is longer than %d bytes", SECRET_MAX);
	return TSK_OK;
}

int
tsk_http_auth_new(const struct tsk_http_opts *o, struct tsk_http_auth **out, char *err, size_t errlen)
{
	struct tsk_http_auth *a;
	int rc;

	*out = NULL;
	if ((rc = secret_check(o->jwt_secret, err, errlen)) != TSK_OK)
		return rc;
	if ((a = calloc(1, sizeof *a)) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	pthread_mutex_init(&a->old_mu, NULL);
	atomic_store(&a->secret, strdup(o->jwt_secret));
	a->cookie_secure = o->cookie_secure;
	size_t keys = o->login_max_keys != 0 ? o->login_max_keys : 65536;
	a->by_account = tsk_ratelimit_new(o->login_burst > 0 ? o->login_burst : 5,
	    o->login_per_minute > 0 ? o->login_per_minute : 1, keys);
	a->by_address = tsk_ratelimit_new(o->login_addr_burst > 0 ? o->login_addr_burst : 20,
	    o->login_addr_per_minute > 0 ? o->login_addr_per_minute : 10, keys);
	if (atomic_load(&a->secret) == NULL || a->by_account == NULL || a->by_address == NULL) {
		tsk_http_auth_free(a);
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory (login rate limiters)");
	}
	*out = a;
	return TSK_OK;
}

int
tsk_http_auth_check_secret(const char *secret, char *err, size_t errlen)
{
	return secret_check(secret, err, errlen);
}

int
tsk_http_auth_set_secret(struct tsk_http_auth *a, const char *secret, char *err, size_t errlen)
{
	char *cur, *nw, **old;
	int rc;

	if ((rc = secret_check(secret, err, errlen)) != TSK_OK)
		return rc;
	pthread_mutex_lock(&a->old_mu);
	cur = atomic_load(&a->secret);
	if (strcmp(cur, secret) == 0) {
		pthread_mutex_unlock(&a->old_mu);
		return TSK_OK;
	}
	if ((old = realloc(a->old, (a->nold + 1) * sizeof *old)) == NULL || (nw = strdup(secret)) == NULL) {
		if (old != NULL)
			a->old = old;
		pthread_mutex_unlock(&a->old_mu);
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	}
	a->old = old;
	a->old[a->nold++] = cur;
	atomic_store(&a->secret, nw);
	pthread_mutex_unlock(&a->old_mu);
	return TSK_OK;
}

static void
wipe(char *s)
{
	if (s != NULL) {
		memset(s, 0, strlen(s));
		free(s);
	}
}

void
tsk_http_auth_free(struct tsk_http_auth *a)
{
	if (a == NULL)
		return;
	tsk_ratelimit_free(a->by_account);
	tsk_ratelimit_free(a->by_address);
	wipe(atomic_load(&a->secret));
	for (size_t i = 0; i < a->nold; i++)
		wipe(a->old[i]);
	free(a->old);
	pthread_mutex_destroy(&a->old_mu);
	free(a);
}

int
tsk_http_ingest_token_db(void *arg, const char *tenant, const char *token, void *pgconn)
{
	char err[TSK_ERRLEN];

	(void)arg;
	if (pgconn == NULL || tenant == NULL || tenant[0] == '\0' || token == NULL)
		return 0;
	return tsk_apitoken_verify(pgconn, token, tenant, TSK_APITOKEN_INGEST, NULL, err, sizeof err) == TSK_OK;
}

/* ---- answers ------------------------------------------------------------------------------------ */

static void
detail(struct tsk_http_reply *out, int status, const char *msg)
{
	tsk_http_json(out, status, json_pack("{s:s}", "detail", msg));
}

/* 400 {"field": ["msg"]} (a validation error's shape). */
static void
field_error(struct tsk_http_reply *out, const char *field, const char *msg)
{
	tsk_http_json(out, 400, json_pack("{s:[s]}", field, msg));
}

static void
unavailable(struct tsk_http_reply *out, const char *what, const char *err)
{
	tsk_warn("%s: %s", what, err);
	detail(out, 503, "Serviço temporariamente indisponível, tente novamente mais tarde.");
	tsk_http_reply_header(out, "Retry-After", "5");
}

static void
not_provided(struct tsk_http_reply *out)
{
	detail(out, 401, "Authentication credentials were not provided.");
	tsk_http_reply_header(out, "WWW-Authenticate", "Bearer realm=\"api\"");
}

static void
token_not_valid(struct tsk_http_reply *out)
{
	tsk_http_json(out, 401, json_pack("{s:s, s:s, s:[{s:s, s:s, s:s}]}", "detail",
	    "Given token not valid for any token type", "code", "token_not_valid", "messages", "token_class",
	    "AccessToken", "token_type", "access", "message", "Token is invalid or expired"));
	tsk_http_reply_header(out, "WWW-Authenticate", "Bearer realm=\"api\"");
}

static int
is_secure(const struct tsk_http_auth *a, const struct tsk_http_request *rq)
{
	const char *p = tsk_http_header(rq, "X-Forwarded-Proto");

	return a->cookie_secure || (p != NULL && strcasecmp(p, "https") == 0);
}

static void
set_cookie(const struct tsk_http_auth *a, const struct tsk_http_request *rq, struct tsk_http_reply *out,
    const char *name, const char *value, long max_age)
{
	char c[TSK_JWT_MAX + 160];

	if (value != NULL)
		snprintf(c, sizeof c, "%s=%s; Max-Age=%ld; Path=/; HttpOnly; SameSite=Lax%s", name, value, max_age,
		    is_secure(a, rq) ? "; Secure" : "");
	else
		snprintf(c, sizeof c, "%s=\"\"; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; HttpOnly; "
		    "SameSite=Lax%s", name, is_secure(a, rq) ? "; Secure" : "");
	tsk_http_reply_header(out, "Set-Cookie", c);
}

/* Both cookies for a principal that passed the password or token checks. TSK_OK or an error. */
static int
issue_cookies(const struct tsk_http_auth *a, const struct tsk_http_request *rq, const struct tsk_principal *p,
    int refresh_too, struct tsk_http_reply *out, char *err, size_t errlen)
{
	char tok[TSK_JWT_MAX + 1];
	int64_t now = (int64_t)time(NULL);
	int rc;

	if ((rc = tsk_auth_issue(a->secret, p, TSK_JWT_ACCESS, now, tok, sizeof tok, err, errlen)) != TSK_OK)
		return rc;
	set_cookie(a, rq, out, "access_token", tok, TSK_JWT_ACCESS_TTL);
	if (refresh_too) {
		if ((rc = tsk_auth_issue(a->secret, p, TSK_JWT_REFRESH, now, tok, sizeof tok, err, errlen)) != TSK_OK)
			return rc;
		set_cookie(a, rq, out, "refresh_token", tok, TSK_JWT_REFRESH_TTL);
	}
	return TSK_OK;
}

/* ---- request pieces ----------------------------------------------------------------------------- */

/* The body as a JSON object, or NULL with *out filled (the original's parse error shape). */
static json_t *
body_object(const struct tsk_http_request *rq, struct tsk_http_reply *out)
{
	json_error_t je;
	json_t *o;
	char msg[300];

	o = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL) {
		snprintf(msg, sizeof msg, "JSON parse error - %s", je.text);
		detail(out, 400, msg);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		tsk_http_json(out, 400, json_pack("{s:[s]}", "non_field_errors",
		    "Dados inválidos. Esperado um dicionário, mas recebido outro tipo."));
		return NULL;
	}
	return o;
}

/* A required string field: the value, or NULL with *out filled. */
static const char *
required_string(json_t *o, const char *field, struct tsk_http_reply *out)
{
	json_t *v = json_object_get(o, field);

	if (v == NULL || json_is_null(v)) {
		field_error(out, field, v == NULL ? "Este campo é obrigatório." : "Este campo não pode ser nulo.");
		return NULL;
	}
	if (!json_is_string(v)) {
		field_error(out, field, "Not a valid string.");
		return NULL;
	}
	if (json_string_length(v) == 0) {
		field_error(out, field, "Este campo não pode ser em branco.");
		return NULL;
	}
	return json_string_value(v);
}

/* The Origin (else the Referer) names the request's own Host: scheme://HOST[/...]. */
static int
same_origin(const struct tsk_http_request *rq, struct tsk_http_reply *out)
{
	const char *host = tsk_http_header(rq, "Host"), *o = tsk_http_header(rq, "Origin"), *p, *e;
	int from_origin = o != NULL;
	char msg[400];

	if (o == NULL && (o = tsk_http_header(rq, "Referer")) == NULL) {
		detail(out, 403, "CSRF Failed: Referer checking failed - no Referer.");
		return 0;
	}
	p = strstr(o, "://");
	if (p != NULL && host != NULL) {
		p += 3;
		e = p + strcspn(p, "/?#");
		if ((size_t)(e - p) == strlen(host) && strncasecmp(p, host, (size_t)(e - p)) == 0)
			return 1;
	}
	if (from_origin)
		snprintf(msg, sizeof msg, "CSRF Failed: Origin checking failed - %.200s does not match any trusted origins.", o);
	else
		snprintf(msg, sizeof msg, "CSRF Failed: Referer checking failed - %.200s does not match any trusted origins.", o);
	detail(out, 403, msg);
	return 0;
}

static int
is_unsafe(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 && strcmp(method, "OPTIONS") != 0;
}

/* Who is calling: 1 with p filled, or 0 with *out filled (401, 403 or 503). */
static int
authenticate(struct tsk_http_auth *a, const struct tsk_http_request *rq, PGconn *db, struct tsk_principal *p,
    struct tsk_http_reply *out)
{
	const char *cookie = tsk_http_cookie(rq, "access_token"), *authz, *tok = NULL;
	const char *tenant = rq->tenant != NULL ? rq->tenant : "";
	char err[TSK_ERRLEN];
	int64_t now = (int64_t)time(NULL);
	int rc;

	if (cookie != NULL) {
		rc = tsk_auth_jwt(db, a->secret, cookie, TSK_JWT_ACCESS, tenant, now, p, err, sizeof err);
		if (rc == TSK_EINVAL) {
			tsk_debug("access_token cookie refused: %s", err);
			token_not_valid(out);
			return 0;
		}
		if (rc != TSK_OK) {
			unavailable(out, "authentication", err);
			return 0;
		}
		/* A cookie rides along with any request the browser makes: unsafe ones must come from our pages. */
		if (is_unsafe(rq->method) && !same_origin(rq, out))
			return 0;
		return 1;
	}
	authz = tsk_http_header(rq, "Authorization");
	if (authz != NULL && strncasecmp(authz, "Bearer ", 7) == 0) {
		tok = authz + 7;
		while (*tok == ' ')
			tok++;
	}
	if (tok == NULL || *tok == '\0') {
		not_provided(out);
		return 0;
	}
	rc = tsk_auth_bearer(db, a->secret, tok, tenant, now, p, err, sizeof err);
	if (rc == TSK_EINVAL) {
		tsk_debug("bearer token refused: %s", err);
		token_not_valid(out);
		return 0;
	}
	if (rc != TSK_OK) {
		unavailable(out, "authentication", err);
		return 0;
	}
	return 1;
}

/* A user behind the credentials (an API token of its own has none): 1, or 0 with a 403 in *out. */
static int
need_user(const struct tsk_principal *p, struct tsk_http_reply *out)
{
	if (p->user_id > 0)
		return 1;
	detail(out, 403, "Esta ação requer um usuário: um token de API sem usuário não tem perfil.");
	return 0;
}

/* The user as the frontend sees it ({id, username, email, ...}), or NULL on a database error. */
static json_t *
user_json(PGconn *db, int64_t user_id, const char *tenant, char *err, size_t errlen)
{
#define TS(x) "to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
	static const char sql[] =
	    "SELECT json_build_object('id', u.id, 'username', u.email, 'email', u.email,"
	    " 'first_name', u.first_name, 'last_name', u.last_name,"
	    " 'full_name', coalesce(nullif(btrim(u.first_name || ' ' || u.last_name), ''), u.email),"
	    " 'initials', upper(CASE WHEN u.first_name <> '' AND u.last_name <> ''"
	    "   THEN left(u.first_name, 1) || left(u.last_name, 1)"
	    "   WHEN u.first_name <> '' THEN left(u.first_name, 1) ELSE left(u.email, 1) END),"
	    " 'avatar', NULL, 'phone', u.phone, 'bio', u.bio, 'timezone', u.timezone, 'time_format', u.time_format,"
	    " 'email_verified', false, 'is_active', u.is_active, 'is_staff', u.is_staff,"
	    " 'role', coalesce(m.role, 'viewer'), 'site', coalesce(t.name, 'TrakSense'),"
	    " 'date_joined', " TS("u.created_at") ", 'last_login', " TS("u.last_login") ","
	    " 'created_at', " TS("u.created_at") ", 'updated_at', " TS("u.updated_at") ")::text"
	    " FROM public.app_user u LEFT JOIN public.tenant t ON t.slug = $2"
	    " LEFT JOIN public.membership m ON m.user_id = u.id AND m.tenant_id = t.id WHERE u.id = $1";
#undef TS
	char id[24];
	const char *params[2] = { id, tenant != NULL ? tenant : "" };
	PGresult *res;
	json_t *o = NULL;

	snprintf(id, sizeof id, "%lld", (long long)user_id);
	if (tsk_db_exec(db, sql, 2, params, &res, err, errlen) != TSK_OK)
		return NULL;
	if (PQntuples(res) == 1)
		o = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	else
		tsk_seterr(err, errlen, TSK_ENOTFOUND, "user %s is gone", id);
	PQclear(res);
	return o;
}

/* ---- the endpoints ------------------------------------------------------------------------------ */

static void
login(struct tsk_http_auth *a, const struct tsk_http_request *rq, PGconn *db, struct tsk_http_reply *out)
{
	struct tsk_login_limits lim;
	struct tsk_principal p;
	const char *name, *pw, *host = tsk_http_header(rq, "Host");
	char err[TSK_ERRLEN], base[400];
	json_t *o, *user;
	int rc;

	/* Nobody is logged in yet, but a foreign page must not log the browser into another account. */
	if ((tsk_http_header(rq, "Origin") != NULL || tsk_http_header(rq, "Referer") != NULL) && !same_origin(rq, out))
		return;
	if ((o = body_object(rq, out)) == NULL)
		return;
	if ((name = required_string(o, "username_or_email", out)) == NULL ||
	    (pw = required_string(o, "password", out)) == NULL) {
		json_decref(o);
		return;
	}
	memset(&lim, 0, sizeof lim);
	lim.by_account = a->by_account;
	lim.by_address = a->by_address;
	lim.address = rq->remote != NULL && rq->remote[0] ? rq->remote : NULL;
	lim.now_us = tsk_now_us();
	rc = tsk_auth_login(db, name, pw, rq->tenant, &lim, &p, err, sizeof err);
	json_decref(o);
	if (rc == TSK_EINVAL && p.why == TSK_AUTH_RATE_LIMITED) {
		long s = (long)((p.retry_after_us + 999999) / 1000000);
		char ra[24], msg[160];
		if (s < 1)
			s = 1;
		snprintf(ra, sizeof ra, "%ld", s);
		snprintf(msg, sizeof msg, "Muitas tentativas de login. Tente novamente em %ld segundos.", s);
		detail(out, 429, msg);
		tsk_http_reply_header(out, "Retry-After", ra);
		return;
	}
	if (rc == TSK_EINVAL && p.why == TSK_AUTH_DISABLED) {
		field_error(out, "username_or_email", "Esta conta está desativada.");
		return;
	}
	if (rc == TSK_EINVAL) {
		/* An unknown user, a wrong password and a user of no membership here: one answer. */
		tsk_debug("login refused on %s: %s", rq->tenant != NULL ? rq->tenant : "the public site", err);
		field_error(out, "username_or_email", "Credenciais inválidas.");
		return;
	}
	if (rc != TSK_OK) {
		unavailable(out, "login", err);
		return;
	}
	if ((user = user_json(db, p.user_id, rq->tenant, err, sizeof err)) == NULL) {
		unavailable(out, "login", err);
		return;
	}
	if ((rc = issue_cookies(a, rq, &p, 1, out, err, sizeof err)) != TSK_OK) {
		json_decref(user);
		free(out->headers);
		out->headers = NULL;
		unavailable(out, "login", err);
		return;
	}
	snprintf(base, sizeof base, "%s://%.300s/api", is_secure(a, rq) ? "https" : "http", host != NULL ? host : "");
	tsk_http_json(out, 200, json_pack("{s:o, s:s, s:{s:s, s:s, s:s}}", "user", user, "message",
	    "Login realizado com sucesso!", "tenant", "slug", rq->tenant != NULL ? rq->tenant : "public", "domain",
	    host != NULL ? host : "", "api_base_url", base));
}

static void
refresh(struct tsk_http_auth *a, const struct tsk_http_request *rq, PGconn *db, struct tsk_http_reply *out)
{
	const char *tok = tsk_http_cookie(rq, "refresh_token");
	struct tsk_principal p;
	char err[TSK_ERRLEN];
	int rc;

	if (tok == NULL || tok[0] == '\0') {
		tsk_http_json(out, 400, json_pack("{s:s, s:s}", "error", "Refresh token not found in cookies", "detail",
		    "Please login again"));
		return;
	}
	if (!same_origin(rq, out))
		return;
	rc = tsk_auth_jwt(db, a->secret, tok, TSK_JWT_REFRESH, rq->tenant != NULL ? rq->tenant : "",
	    (int64_t)time(NULL), &p, err, sizeof err);
	if (rc == TSK_EINVAL) {
		tsk_debug("refresh_token refused: %s", err);
		tsk_http_json(out, 401, json_pack("{s:s, s:s}", "detail", "Token is invalid or expired", "code",
		    "token_not_valid"));
		return;
	}
	if (rc != TSK_OK || (rc = issue_cookies(a, rq, &p, 0, out, err, sizeof err)) != TSK_OK) {
		free(out->headers);
		out->headers = NULL;
		unavailable(out, "token refresh", err);
		return;
	}
	tsk_http_json(out, 200, json_pack("{s:s, s:s}", "message", "Token refreshed successfully", "detail",
	    "New access token set in HttpOnly cookie"));
}

/* The refresh token a logout names: the body's "refresh" (a script's), else the refresh_token cookie.
 * NULL when there is none; *body (to be freed) holds the parsed body. */
static const char *
logout_token(const struct tsk_http_request *rq, json_t **body)
{
	json_t *v;

	*body = rq->body_len > 0 ? json_loadb(rq->body, rq->body_len, 0, NULL) : NULL;
	if (json_is_object(*body) && json_is_string(v = json_object_get(*body, "refresh")) && json_string_length(v) > 0)
		return json_string_value(v);
	return tsk_http_cookie(rq, "refresh_token");
}

static void
logout(struct tsk_http_auth *a, const struct tsk_http_request *rq, PGconn *db, struct tsk_http_reply *out)
{
	struct tsk_principal p;
	struct tsk_jwt_claims c;
	const char *tok;
	char err[TSK_ERRLEN];
	json_t *body;
	int rc;

	if (!authenticate(a, rq, db, &p, out))
		return;
	/* The refresh token is denylisted by its jti until it expires, so it cannot mint access tokens any
	 * more (the access token lives at most TSK_JWT_ACCESS_TTL; a password change ends every session).
	 * One that does not verify, or is another user's, is left alone: it is of no use to this caller. */
	tok = logout_token(rq, &body);
	if (tok != NULL && tok[0] != '\0') {
		rc = tsk_jwt_verify(a->secret, tok, TSK_JWT_REFRESH, rq->tenant != NULL ? rq->tenant : "",
		    (int64_t)time(NULL), &c, err, sizeof err);
		if (rc == TSK_OK && c.sub == p.user_id && p.user_id > 0) {
			if ((rc = tsk_auth_revoke(db, &c, err, sizeof err)) != TSK_OK) {
				json_decref(body);
				unavailable(out, "logout", err);
				return;
			}
		} else {
			tsk_debug("logout: refresh token not revoked: %s", rc == TSK_OK ? "another user's" : err);
		}
	}
	json_decref(body);
	set_cookie(a, rq, out, "access_token", NULL, 0);
	set_cookie(a, rq, out, "refresh_token", NULL, 0);
	tsk_http_json(out, 200, json_pack("{s:s}", "message", "Logout realizado com sucesso!"));
}

/* Characters (code points) of a UTF-8 string. */
static size_t
chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static void
me(struct tsk_http_auth *a, const struct tsk_http_request *rq, PGconn *db, struct tsk_http_reply *out)
{
	static const struct {
		const char *name;
		size_t max;
		int nullable;
	} fields[] = { { "first_name", 150, 0 }, { "last_name", 150, 0 }, { "phone", 20, 1 }, { "bio", 10000, 1 },
		{ "timezone", 50, 0 }, { "time_format", 3, 0 } };
	enum { NF = sizeof fields / sizeof fields[0] };
	struct tsk_principal p;
	char err[TSK_ERRLEN], id[24], msg[200];
	const char *params[1 + 2 * NF];
	json_t *o, *user;

	if (!authenticate(a, rq, db, &p, out) || !need_user(&p, out))
		return;
	if (strcmp(rq->method, "PATCH") == 0) {
		if ((o = body_object(rq, out)) == NULL)
			return;
		snprintf(id, sizeof id, "%lld", (long long)p.user_id);
		params[0] = id;
		for (int i = 0; i < NF; i++) {
			json_t *v = json_object_get(o, fields[i].name);
			const char *s = NULL;
			params[1 + 2 * i] = v != NULL ? "t" : "f";
			params[2 + 2 * i] = NULL;
			if (v == NULL)
				continue;
			if (json_is_null(v) && fields[i].nullable) {
				/* NULL */
			} else if (json_is_null(v)) {
				field_error(out, fields[i].name, "Este campo não pode ser nulo.");
			} else if (!json_is_string(v)) {
				field_error(out, fields[i].name, "Not a valid string.");
			} else if (chars(s = json_string_value(v)) > fields[i].max) {
				snprintf(msg, sizeof msg, "Certifique-se de que este campo não tenha mais de %zu caracteres.",
				    fields[i].max);
				field_error(out, fields[i].name, msg);
			} else if (strcmp(fields[i].name, "time_format") == 0 && strcmp(s, "12h") != 0 &&
			    strcmp(s, "24h") != 0) {
				snprintf(msg, sizeof msg, "\"%.8s\" não é um escolha válido.", s);
				field_error(out, fields[i].name, msg);
			} else if (strcmp(fields[i].name, "timezone") == 0 && s[0] == '\0') {
				field_error(out, fields[i].name, "Este campo não pode ser em branco.");
			}
			if (out->status != 0) {
				json_decref(o);
				return;
			}
			params[2 + 2 * i] = s;
		}
		int rc = tsk_db_exec(db,
		    "UPDATE public.app_user SET"
		    " first_name = CASE WHEN $2 THEN $3 ELSE first_name END,"
		    " last_name = CASE WHEN $4 THEN $5 ELSE last_name END,"
		    " phone = CASE WHEN $6 THEN $7 ELSE phone END,"
		    " bio = CASE WHEN $8 THEN $9 ELSE bio END,"
		    " timezone = CASE WHEN $10 THEN $11 ELSE timezone END,"
		    " time_format = CASE WHEN $12 THEN $13 ELSE time_format END,"
		    " updated_at = now() WHERE id = $1",
		    1 + 2 * NF, params, NULL, err, sizeof err);
		json_decref(o);
		if (rc != TSK_OK) {
			unavailable(out, "PATCH /api/users/me/", err);
			return;
		}
	}
	if ((user = user_json(db, p.user_id, rq->tenant, err, sizeof err)) == NULL) {
		unavailable(out, "/api/users/me/", err);
		return;
	}
	if (strcmp(rq->method, "PATCH") == 0)
		tsk_http_json(out, 200, json_pack("{s:o, s:s}", "user", user, "message", "Perfil atualizado com sucesso!"));
	else
		tsk_http_json(out, 200, user);
}

static void
change_password(struct tsk_http_auth *a, const struct tsk_http_request *rq, PGconn *db,
    struct tsk_http_reply *out)
{
	struct tsk_principal p, np;
	const char *old, *nw, *conf;
	char err[TSK_ERRLEN], key[320], id[24];
	const char *params[1] = { id };
	int64_t now = tsk_now_us(), wait = 0;
	PGresult *res;
	json_t *o;
	int rc, staff;

	if (!authenticate(a, rq, db, &p, out) || !need_user(&p, out))
		return;
	if ((o = body_object(rq, out)) == NULL)
		return;
	if ((old = required_string(o, "old_password", out)) == NULL || (nw = required_string(o, "new_password", out)) == NULL ||
	    (conf = required_string(o, "new_password_confirm", out)) == NULL)
		goto done;
	if (strcmp(nw, conf) != 0) {
		field_error(out, "new_password_confirm", "As senhas não coincidem.");
		goto done;
	}
	if (tsk_auth_password_check(nw, strlen(nw), err, sizeof err) != TSK_OK) {
		field_error(out, "new_password", err);
		goto done;
	}
	/* Guessing the current password through a stolen session counts like failed logins. The token is
	 * taken before the (slow) check and given back when the password was right, so parallel guesses
	 * cannot all pass a check made before any of them failed. */
	snprintf(key, sizeof key, "account:%s", p.email);
	if (!tsk_ratelimit_hit(a->by_account, key, now, &wait)) {
		char ra[24], msg[160];
		long s = (long)((wait + 999999) / 1000000);
		snprintf(ra, sizeof ra, "%ld", s < 1 ? 1 : s);
		snprintf(msg, sizeof msg, "Muitas tentativas. Tente novamente em %s segundos.", ra);
		detail(out, 429, msg);
		tsk_http_reply_header(out, "Retry-After", ra);
		goto done;
	}
	rc = tsk_user_verify(db, p.email, old, &staff, err, sizeof err);
	if (rc == TSK_EINVAL) {
		field_error(out, "old_password", "Senha atual incorreta.");
		goto done; /* the token stays taken */
	}
	tsk_ratelimit_refund(a->by_account, key, now);
	if (rc != TSK_OK || (rc = tsk_user_passwd(db, p.email, nw, err, sizeof err)) != TSK_OK) {
		unavailable(out, "change-password", err);
		goto done;
	}
	/* The trigger raised the password generation: every older token is dead, these cookies are new. */
	snprintf(id, sizeof id, "%lld", (long long)p.user_id);
	if ((rc = tsk_db_exec(db, "SELECT password_gen FROM public.app_user WHERE id = $1", 1, params, &res, err,
	    sizeof err)) != TSK_OK) {
		unavailable(out, "change-password", err);
		goto done;
	}
	int64_t pgen = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
	PQclear(res);
	rc = tsk_auth_user(db, p.user_id, pgen, rq->tenant, &np, err, sizeof err);
	if (rc == TSK_OK)
		rc = issue_cookies(a, rq, &np, 1, out, err, sizeof err);
	if (rc != TSK_OK) {
		free(out->headers);
		out->headers = NULL;
		unavailable(out, "change-password", err);
		goto done;
	}
	tsk_http_json(out, 200, json_pack("{s:s}", "message", "Senha alterada com sucesso!"));
done:
	json_decref(o);
}

/* ---- routing ------------------------------------------------------------------------------------ */

/* path is base, with or without the trailing slash. */
static int
path_is(const char *path, const char *base)
{
	size_t n = strlen(base) - 1; /* base ends with '/' */

	return strcmp(path, base) == 0 || (strncmp(path, base, n) == 0 && path[n] == '\0');
}

static void
wrong_method(struct tsk_http_reply *out, const char *method, const char *allow)
{
	char msg[96];

	snprintf(msg, sizeof msg, "Método \"%.32s\" não é permitido.", method);
	detail(out, 405, msg);
	tsk_http_reply_header(out, "Allow", allow);
}

int
tsk_http_auth_route(struct tsk_http_auth *a, const struct tsk_http_request *rq, void *pgconn,
    struct tsk_http_reply *out)
{
	PGconn *db = pgconn;
	int post = strcmp(rq->method, "POST") == 0;

	if (a == NULL)
		return 0;
	if (path_is(rq->path, "/api/auth/login/")) {
		if (!post)
			wrong_method(out, rq->method, "POST, OPTIONS");
		else
			login(a, rq, db, out);
	} else if (path_is(rq->path, "/api/auth/token/refresh/")) {
		if (!post)
			wrong_method(out, rq->method, "POST, OPTIONS");
		else
			refresh(a, rq, db, out);
	} else if (path_is(rq->path, "/api/auth/logout/")) {
		if (!post)
			wrong_method(out, rq->method, "POST, OPTIONS");
		else
			logout(a, rq, db, out);
	} else if (path_is(rq->path, "/api/users/me/")) {
		if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0 && strcmp(rq->method, "PATCH") != 0)
			wrong_method(out, rq->method, "GET, PATCH, HEAD, OPTIONS");
		else
			me(a, rq, db, out);
	} else if (path_is(rq->path, "/api/users/me/change-password/")) {
		if (!post)
			wrong_method(out, rq->method, "POST, OPTIONS");
		else
			change_password(a, rq, db, out);
	} else {
		return 0;
	}
	return 1;
}

int
tsk_http_auth_principal(struct tsk_http_auth *a, const struct tsk_http_request *rq, void *pgconn,
    struct tsk_principal *p, struct tsk_http_reply *out)
{
	if (a == NULL) {
		not_provided(out);
		return 0;
	}
	return authenticate(a, rq, pgconn, p, out);
}

/* Is this path one of the authentication endpoints (the public host routes only these under /api/). */
int
tsk_http_auth_path(const char *path)
{
	return path_is(path, "/api/auth/login/") || path_is(path, "/api/auth/token/refresh/") ||
	    path_is(path, "/api/auth/logout/") || path_is(path, "/api/users/me/") ||
	    path_is(path, "/api/users/me/change-password/");
}
