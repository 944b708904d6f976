/*
 * The account endpoints of the API (routes in tsk_api_account_routes; plumbing in api.h, services in
 * account.h):
 *   POST /api/auth/password-reset/request/    {email}: always 200, the same answer and the same work
 *   GET  /api/auth/password-reset/validate/   ?token=   (POST with {token} too)
 *   POST /api/auth/password-reset/confirm/    {token, password, password_confirm}
 *   POST /api/auth/register/                  the public site only; tenant hosts answer 403 (501 with
 *                                             an invitation_token), as the original
 *   POST, DELETE /api/users/me/avatar/        multipart/form-data field "avatar"
 * The password-reset endpoints and registration need no credentials; they are served on the public
 * host and on tenant hosts (registration refuses on the latter), with the original's shapes and
 * Portuguese messages ({"error": ...} rather than field errors, as the original's views answer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <microhttpd.h>
#include <sodium.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/time.h"
#include "core/tsk.h"
#include "http/account.h"
#include "http/api.h"
#include "http/http_impl.h"
#include "pg/db.h"
#include "registry/account.h"
#include "registry/auth.h"
#include "registry/jwt.h"
#include "registry/login.h"
#include "registry/password.h"
#include "registry/team.h"
#include "query/s3.h"

#define MSG_NO_TOKEN "Token não fornecido."
#define MSG_BAD_TOKEN "Token inválido."
#define MSG_EXPIRED "Este link expirou. Solicite uma nova redefinição de senha."
#define MSG_USED_VALIDATE "Este link já foi utilizado. Solicite uma nova redefinição de senha."
#define MSG_USED_CONFIRM "Este link já foi utilizado."

/* {"error": msg} */
static void
error(struct tsk_api_ctx *c, int status, const char *msg)
{
	tsk_api_json(c, status, json_pack("{s:s}", "error", msg));
}

/* A string member, or NULL when absent, null or not a string. */
static const char *
str(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* s without the white space around it, into out (outlen bytes; a longer value is cut, and *cut set). */
static void
trim(const char *s, char *out, size_t outlen, int *cut)
{
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	if (cut != NULL)
		*cut = n >= outlen;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

static size_t
chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* ---- password reset ----------------------------------------------------------------------------- */

static void
reset_request(struct tsk_api_ctx *c)
{
	char email[320];
	const char *e;
	json_t *o;
	int cut;

	if ((o = tsk_api_body(c)) == NULL)
		return;
	e = str(o, "email");
	trim(e != NULL ? e : "", email, sizeof email, &cut);
	json_decref(o);
	if (email[0] == '\0') {
		error(c, 400, "E-mail é obrigatório.");
		return;
	}
	/* Only queued: the lookup, the token and the mail happen on the mailer's thread, after this answer,
	 * so a known and an unknown address cost this request the same. An address too long to be one is
	 * dropped here, which is no hint either: it can belong to nobody. */
	if (!cut)
		tsk_http_account_reset_request(c->rq->account, email, c->rq->tenant);
	sodium_memzero(email, sizeof email);
	tsk_api_json(c, 200, json_pack("{s:s}", "message",
	    "Se o e-mail estiver cadastrado, você receberá um link para redefinir sua senha."));
}

enum token_state { TOKEN_UNKNOWN, TOKEN_EXPIRED, TOKEN_USED, TOKEN_OK };

struct reset_token {
	enum token_state state;
	int64_t user_id;
	char hash[65];
	char email[256], username[160], first_name[620], last_name[620];
};

/* Looks the token up by its hash. TSK_OK with t filled, or a database failure (answered). */
static int
token_lookup(struct tsk_api_ctx *c, const char *token, struct reset_token *t)
{
	char err[TSK_ERRLEN], now[24];
	PGresult *res;
	int rc;

	memset(t, 0, sizeof *t);
	t->state = TOKEN_UNKNOWN;
	if (strlen(token) > 256)
		return TSK_OK; /* ours have 43 characters */
	tsk_http_reset_hash(token, t->hash);
	snprintf(now, sizeof now, "%lld", (long long)tsk_now_us());
	const char *p[] = { t->hash, now };
	rc = tsk_db_exec(c->db,
	    "SELECT r.user_id, u.email, coalesce(u.username, ''), u.first_name, u.last_name,"
	    " r.expires_at <= to_timestamp($2::double precision / 1e6), r.used_at IS NOT NULL"
	    " FROM public.password_reset_token r JOIN public.app_user u ON u.id = r.user_id WHERE r.token_hash = $1",
	    2, p, &res, err, sizeof err);
	if (rc != TSK_OK) {
		tsk_api_db_error(c, "password reset token", err);
		return rc;
	}
	if (PQntuples(res) == 1) {
		t->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		snprintf(t->email, sizeof t->email, "%s", PQgetvalue(res, 0, 1));
		snprintf(t->username, sizeof t->username, "%s", PQgetvalue(res, 0, 2));
		snprintf(t->first_name, sizeof t->first_name, "%s", PQgetvalue(res, 0, 3));
		snprintf(t->last_name, sizeof t->last_name, "%s", PQgetvalue(res, 0, 4));
		/* The original tells an expired link before a used one. */
		t->state = PQgetvalue(res, 0, 5)[0] == 't' ? TOKEN_EXPIRED : PQgetvalue(res, 0, 6)[0] == 't' ? TOKEN_USED :
		    TOKEN_OK;
	}
	PQclear(res);
	return TSK_OK;
}

static void
reset_validate(struct tsk_api_ctx *c)
{
	struct reset_token t;
	const char *token;
	json_t *o = NULL;

	if (strcmp(c->rq->method, "POST") == 0) {
		if ((o = tsk_api_body(c)) == NULL)
			return;
		token = str(o, "token");
	} else {
		token = tsk_api_arg(c, "token");
	}
	if (token == NULL || token[0] == '\0') {
		tsk_api_json(c, 400, json_pack("{s:b, s:s}", "valid", 0, "error", MSG_NO_TOKEN));
	} else if (token_lookup(c, token, &t) == TSK_OK) {
		if (t.state == TOKEN_OK)
			tsk_api_json(c, 200, json_pack("{s:b, s:s}", "valid", 1, "email", t.email));
		else
			tsk_api_json(c, 400, json_pack("{s:b, s:s}", "valid", 0, "error", t.state == TOKEN_UNKNOWN ?
			    MSG_BAD_TOKEN : t.state == TOKEN_EXPIRED ? MSG_EXPIRED : MSG_USED_VALIDATE));
	}
	json_decref(o);
}

/*
 * The reset itself, in one transaction: the token is taken (only if still unused and unexpired: two
 * confirmations racing cannot both win), the password replaced (the trigger raises the password
 * generation, so every access and refresh token of the user dies), the user's other reset tokens
 * deleted, and the API tokens the user owns revoked. Tokens of a tenant's own (no user) are the
 * tenant's, not the user's: they stay. TSK_OK, TSK_EINVAL when the token was taken meanwhile, or a
 * database failure (err).
 */
static int
reset_apply(PGconn *db, const struct reset_token *t, const char *hash, char *err, size_t errlen)
{
	char id[24], now[24];
	const char *p1[] = { t->hash, now };
	const char *p2[] = { id, hash };
	const char *p3[] = { id };
	long long rows = 0;
	int rc;

	snprintf(id, sizeof id, "%lld", (long long)t->user_id);
	snprintf(now, sizeof now, "%lld", (long long)tsk_now_us());
	if ((rc = tsk_db_begin(db, err, errlen)) != TSK_OK)
		return rc;
	rc = tsk_db_exec_rows(db, "UPDATE public.password_reset_token SET used_at = now() WHERE token_hash = $1"
	    " AND used_at IS NULL AND expires_at > to_timestamp($2::double precision / 1e6)", 2, p1, &rows, err, errlen);
	if (rc == TSK_OK && rows != 1)
		rc = tsk_seterr(err, errlen, TSK_EINVAL, "the token was used meanwhile");
	if (rc == TSK_OK)
		rc = tsk_db_exec(db, "UPDATE public.app_user SET password_hash = $2, password_changed_at = now(),"
		    " updated_at = now() WHERE id = $1", 2, p2, NULL, err, errlen);
	if (rc == TSK_OK)
		rc = tsk_db_exec(db, "DELETE FROM public.password_reset_token WHERE user_id = $1 AND used_at IS NULL", 1,
		    p3, NULL, err, errlen);
	if (rc == TSK_OK)
		rc = tsk_db_exec(db, "UPDATE public.api_token SET revoked_at = now() WHERE user_id = $1"
		    " AND revoked_at IS NULL", 1, p3, NULL, err, errlen);
	if (rc == TSK_OK)
		rc = tsk_db_commit(db, err, errlen);
	if (rc != TSK_OK)
		tsk_db_rollback(db);
	return rc;
}

static void
reset_confirm(struct tsk_api_ctx *c)
{
	struct reset_token t;
	struct tsk_password_user u;
	const char *token, *pw, *conf;
	char err[TSK_ERRLEN], hash[TSK_HASH_LEN], msg[120];
	json_t *o, *problems = NULL;
	int rc;

	if ((o = tsk_api_body(c)) == NULL)
		return;
	token = str(o, "token");
	pw = str(o, "password");
	conf = str(o, "password_confirm");
	if (token == NULL || token[0] == '\0') {
		error(c, 400, MSG_NO_TOKEN);
		goto done;
	}
	if (pw == NULL || pw[0] == '\0' || conf == NULL || conf[0] == '\0') {
		error(c, 400, "Senha e confirmação são obrigatórias.");
		goto done;
	}
	if (strcmp(pw, conf) != 0) {
		error(c, 400, "As senhas não coincidem.");
		goto done;
	}
	/* The original accepted 6 characters here and demanded 8 everywhere else: 8 here too. */
	if (chars(pw) < TSK_PASSWORD_MIN) {
		snprintf(msg, sizeof msg, "A senha deve ter pelo menos %d caracteres.", TSK_PASSWORD_MIN);
		error(c, 400, msg);
		goto done;
	}
	if (tsk_auth_password_check(pw, strlen(pw), err, sizeof err) != TSK_OK) {
		snprintf(msg, sizeof msg, "A senha deve ter no máximo %d bytes.", TSK_PASSWORD_MAX);
		error(c, 400, msg);
		goto done;
	}
	if (token_lookup(c, token, &t) != TSK_OK)
		goto done;
	if (t.state != TOKEN_OK) {
		error(c, 400, t.state == TOKEN_UNKNOWN ? MSG_BAD_TOKEN : t.state == TOKEN_EXPIRED ? MSG_EXPIRED :
		    MSG_USED_CONFIRM);
		goto done;
	}
	/* The rules registration applies (common, all digits, like the user's names): the first one broken. */
	u.username = t.username;
	u.email = t.email;
	u.first_name = t.first_name;
	u.last_name = t.last_name;
	if ((problems = json_array()) != NULL && tsk_password_problems(pw, &u, problems) > 0) {
		error(c, 400, json_string_value(json_array_get(problems, 0)));
		goto done;
	}
	if ((rc = tsk_auth_hash_password(pw, hash, err, sizeof err)) != TSK_OK) {
		tsk_api_detail(c, 500, "out of memory");
		goto done;
	}
	rc = reset_apply(c->db, &t, hash, err, sizeof err);
	sodium_memzero(hash, sizeof hash);
	if (rc == TSK_EINVAL) {
		error(c, 400, MSG_USED_CONFIRM);
		goto done;
	}
	if (rc != TSK_OK) {
		tsk_api_db_error(c, "password reset", err);
		goto done;
	}
	tsk_info("password reset: user %lld set a new password; every session and API token of it revoked",
	    (long long)t.user_id);
	tsk_api_json(c, 200, json_pack("{s:s}", "message", "Senha redefinida com sucesso! Você já pode fazer login."));
done:
	json_decref(problems);
	json_decref(o);
}

/* ---- registration ------------------------------------------------------------------------------- */

/* Appends msg to errors[field]. */
static void
add_error(json_t *errors, const char *field, const char *msg)
{
	json_t *a = json_object_get(errors, field);

	if (a == NULL) {
		a = json_array();
		json_object_set_new(errors, field, a);
	}
	json_array_append_new(a, json_string(msg));
}

/* A text field of the registration: its trimmed value into out, or an error in errors. */
static int
text_field(json_t *o, const char *name, size_t max, int blank_ok, json_t *errors, char *out, size_t outlen)
{
	json_t *v = json_object_get(o, name);
	char msg[120];

	out[0] = '\0';
	if (v == NULL) {
		add_error(errors, name, "Este campo é obrigatório.");
		return -1;
	}
	if (json_is_null(v)) {
		add_error(errors, name, "Este campo não pode ser nulo.");
		return -1;
	}
	if (!json_is_string(v)) {
		add_error(errors, name, "Not a valid string.");
		return -1;
	}
	if (json_string_length(v) > 4 * max + 64 || chars(json_string_value(v)) > max + 64) {
		snprintf(msg, sizeof msg, "Certifique-se de que este campo não tenha mais de %zu caracteres.", max);
		add_error(errors, name, msg);
		return -1;
	}
	trim(json_string_value(v), out, outlen, NULL);
	if (chars(out) > max) {
		snprintf(msg, sizeof msg, "Certifique-se de que este campo não tenha mais de %zu caracteres.", max);
		add_error(errors, name, msg);
		return -1;
	}
	if (!blank_ok && out[0] == '\0') {
		add_error(errors, name, "Este campo não pode ser em branco.");
		return -1;
	}
	return 0;
}

/* 1 when a row of public.app_user has column = value. */
static int
taken(struct tsk_api_ctx *c, const char *sql, const char *value, int *is, char *err, size_t errlen)
{
	PGresult *res;
	int rc = tsk_db_exec(c->db, sql, 1, &value, &res, err, errlen);

	if (rc == TSK_OK) {
		*is = PQntuples(res) > 0;
		PQclear(res);
	}
	return rc;
}

/* The tenant hosts' answer: joining a tenant takes an invitation. Without one, the original's 403. With
 * one (where the original answered 501: that path was never written), the account and the membership
 * are made from the invitation, as POST /api/invites/accept/ makes them: it must be an invitation to
 * this host's tenant, the name is first_name and last_name, and password_confirm must match. */
static void
register_on_tenant(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN], name[320];
	enum tsk_team_why why = TSK_TEAM_OK;
	json_t *o, *inv, *invite = NULL;
	const char *pw, *pw2, *first, *last;

	if ((o = tsk_api_body(c)) == NULL)
		return;
	inv = json_object_get(o, "invitation_token");
	if (inv == NULL || json_is_null(inv) || json_is_false(inv) || (json_is_string(inv) && json_string_length(inv) == 0)) {
		tsk_api_json(c, 403, json_pack("{s:s, s:s}", "error",
		    "Registration on tenant domains requires an invitation token", "detail",
		    "Please contact your organization administrator for an invitation link"));
		goto done;
	}
	pw = json_string_value(json_object_get(o, "password"));
	pw2 = json_string_value(json_object_get(o, "password_confirm"));
	first = json_string_value(json_object_get(o, "first_name"));
	last = json_string_value(json_object_get(o, "last_name"));
	if (!json_is_string(inv) || strlen(json_string_value(inv)) != json_string_length(inv)) {
		tsk_api_field_error(c, "invitation_token", "Not a valid string.");
		goto done;
	}
	if (pw == NULL || pw2 == NULL) {
		tsk_api_field_error(c, pw == NULL ? "password" : "password_confirm", "Este campo é obrigatório.");
		goto done;
	}
	if (strcmp(pw, pw2) != 0) {
		tsk_api_field_error(c, "password_confirm", "As senhas não coincidem.");
		goto done;
	}
	/* An invitation to another tenant is not this host's to accept (the same answer as an unknown one). */
	int rc = tsk_invite_validate(c->db, json_string_value(inv), tsk_now_us(), &invite, &why, err, sizeof err);
	const char *slug = json_string_value(json_object_get(invite, "tenant_slug"));
	if (rc == TSK_OK && why == TSK_TEAM_OK && (slug == NULL || strcmp(slug, c->rq->tenant) != 0)) {
		tsk_api_detail(c, 404, "Invalid invite token.");
		goto done;
	}
	if (rc != TSK_OK && why == TSK_TEAM_OK) {
		tsk_api_db_error(c, "invite validate", err);
		goto done;
	}
	snprintf(name, sizeof name, "%s%s%s", first != NULL ? first : "", first != NULL && first[0] && last != NULL &&
	    last[0] ? " " : "", last != NULL ? last : "");
	tsk_api_invite_signup(c, json_string_value(inv), name[0] ? name : "-", pw);
done:
	json_decref(invite);
	json_decref(o);
}

/* The checks of the original's RegisterSerializer, every field's errors together; TSK_OK when none. */
static int
register_check(struct tsk_api_ctx *c, json_t *o, json_t *errors, char *username, char *email, char *first,
    char *last, const char **pw)
{
	char raw_email[1100], err[TSK_ERRLEN];
	const char *conf;
	int is = 0, bad_pw = 0;

	if (text_field(o, "username", 150, 0, errors, username, 700) == 0) {
		for (char *p = username; *p; p++) {
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("@.+-_", *p) != NULL)) {
				add_error(errors, "username", "Informe um nome de usuário válido. Este valor pode conter apenas "
				    "letras, números e os seguintes caracteres @/./+/-/_.");
				username[0] = '\0';
				break;
			}
		}
		if (username[0] != '\0') {
			if (taken(c, "SELECT 1 FROM public.app_user WHERE username = $1", username, &is, err, sizeof err) != TSK_OK)
				return tsk_api_db_error(c, "register", err), TSK_ETEMP;
			if (is)
				add_error(errors, "username", "Este nome de usuário já está em uso.");
		}
	}
	if (text_field(o, "email", 254, 0, errors, raw_email, sizeof raw_email) == 0) {
		if (tsk_email_normalize(c->db, raw_email, email, 256, err, sizeof err) != TSK_OK) {
			add_error(errors, "email", "Insira um endereço de email válido.");
			email[0] = '\0';
		} else {
			if (taken(c, "SELECT 1 FROM public.app_user WHERE email = $1", email, &is, err, sizeof err) != TSK_OK)
				return tsk_api_db_error(c, "register", err), TSK_ETEMP;
			if (is)
				add_error(errors, "email", "Este email já está em uso.");
		}
	}
	text_field(o, "first_name", 150, 1, errors, first, 700);
	text_field(o, "last_name", 150, 1, errors, last, 700);
	/* Passwords are taken as typed (DRF would trim them: a password is not a name). */
	*pw = str(o, "password");
	conf = str(o, "password_confirm");
	const char *const pwf[] = { "password", "password_confirm" };
	for (int i = 0; i < 2; i++) {
		json_t *v = json_object_get(o, pwf[i]);
		if (v == NULL)
			add_error(errors, pwf[i], "Este campo é obrigatório.");
		else if (json_is_null(v))
			add_error(errors, pwf[i], "Este campo não pode ser nulo.");
		else if (!json_is_string(v))
			add_error(errors, pwf[i], "Not a valid string.");
		else if (json_string_length(v) == 0)
			add_error(errors, pwf[i], "Este campo não pode ser em branco.");
		else
			continue;
		bad_pw |= i == 0;
	}
	if (!bad_pw && *pw != NULL) {
		struct tsk_password_user u = { username, email[0] ? email : raw_email, first, last };
		json_t *msgs = json_array();
		size_t len = json_string_length(json_object_get(o, "password"));
		char msg[80];
		if (memchr(*pw, '\0', len) != NULL) {
			add_error(errors, "password", "A senha contém um caractere inválido.");
		} else if (len > TSK_PASSWORD_MAX) {
			snprintf(msg, sizeof msg, "A senha deve ter no máximo %d bytes.", TSK_PASSWORD_MAX);
			add_error(errors, "password", msg);
		} else if (msgs != NULL && tsk_password_problems(*pw, &u, msgs) > 0) {
			json_object_set(errors, "password", msgs);
		}
		json_decref(msgs);
	}
	if (json_object_size(errors) == 0 && conf != NULL && *pw != NULL && strcmp(*pw, conf) != 0)
		add_error(errors, "password_confirm", "As senhas não coincidem.");
	return json_object_size(errors) == 0 ? TSK_OK : TSK_EINVAL;
}

static void
register_user(struct tsk_api_ctx *c)
{
	char username[700], email[256], first[700], last[700], hash[TSK_HASH_LEN], err[TSK_ERRLEN];
	char access[TSK_JWT_MAX + 1], refresh[TSK_JWT_MAX + 1];
	struct tsk_principal p;
	const char *pw = NULL;
	json_t *o, *errors, *user;
	PGresult *res = NULL;
	int rc;

	if (c->rq->tenant != NULL) {
		register_on_tenant(c);
		return;
	}
	if ((o = tsk_api_body(c)) == NULL)
		return;
	email[0] = '\0';
	if ((errors = json_object()) == NULL) {
		tsk_api_detail(c, 500, "out of memory");
		goto done;
	}
	rc = register_check(c, o, errors, username, email, first, last, &pw);
	if (rc == TSK_EINVAL) {
		tsk_api_json(c, 400, json_incref(errors));
		goto done;
	}
	if (rc != TSK_OK)
		goto done;
	if (tsk_auth_hash_password(pw, hash, err, sizeof err) != TSK_OK) {
		tsk_api_detail(c, 500, "out of memory");
		goto done;
	}
	const char *params[] = { email, username, hash, first, last };
	rc = tsk_db_exec(c->db, "INSERT INTO public.app_user (email, username, password_hash, first_name, last_name)"
	    " VALUES ($1, $2, $3, $4, $5) RETURNING id, password_gen", 5, params, &res, err, sizeof err);
	sodium_memzero(hash, sizeof hash);
	if (rc == TSK_EEXIST) {
		/* A registration of the same name or address got in between the checks and this insert. */
		add_error(errors, strstr(err, "username") != NULL ? "username" : "email",
		    strstr(err, "username") != NULL ? "Este nome de usuário já está em uso." : "Este email já está em uso.");
		tsk_api_json(c, 400, json_incref(errors));
		goto done;
	}
	if (rc != TSK_OK) {
		tsk_api_db_error(c, "register", err);
		goto done;
	}
	int64_t id = strtoll(PQgetvalue(res, 0, 0), NULL, 10), pgen = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	if ((rc = tsk_auth_user(c->db, id, pgen, NULL, &p, err, sizeof err)) != TSK_OK ||
	    (rc = tsk_http_auth_issue_pair(c->auth, &p, access, refresh,
	        sizeof access, err, sizeof err)) != TSK_OK ||
	    (user = tsk_http_user_json(c->db, id, NULL, err, sizeof err)) == NULL) {
		tsk_api_db_error(c, "register", err);
		goto done;
	}
	tsk_info("register: user %lld registered on the public site", (long long)id);
	tsk_api_json(c, 201, json_pack("{s:o, s:s, s:s, s:s}", "user", user, "access", access, "refresh", refresh,
	    "message", "Usuário registrado com sucesso!"));
done:
	PQclear(res);
	json_decref(errors);
	json_decref(o);
}

/* ---- avatar ------------------------------------------------------------------------------------- */

struct upload {
	struct tsk_buf data;
	int found;      /* a file part named "avatar" was seen */
	int done;       /* its part ended (a second one is ignored) */
	int too_big;
};

static enum MHD_Result
on_part(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename, const char *content_type,
    const char *transfer_encoding, const char *data, uint64_t off, size_t size)
{
	struct upload *u = cls;

	(void)kind, (void)content_type, (void)transfer_encoding;
	if (key == NULL || strcmp(key, "avatar") != 0 || filename == NULL)
		return MHD_YES;
	if (u->found && off == 0 && (u->data.len > 0 || u->too_big))
		u->done = 1; /* a second file named avatar: the first one counts (the original's FILES.get) */
	u->found = 1;
	if (u->done || u->too_big || size == 0)
		return MHD_YES;
	if (u->data.len + size > TSK_HTTP_AVATAR_MAX) {
		u->too_big = 1;
		tsk_buf_free(&u->data);
		return MHD_YES;
	}
	return tsk_buf_add(&u->data, data, size) == 0 ? MHD_YES : MHD_NO;
}

/* The image type by its first bytes (never by the name or the declared type): the extension and the
 * content type, or 0. */
static int
image_type(const unsigned char *p, size_t n, const char **ext, const char **ctype)
{
	if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) {
		*ext = "jpg", *ctype = "image/jpeg";
	} else if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) {
		*ext = "png", *ctype = "image/png";
	} else if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) {
		*ext = "gif", *ctype = "image/gif";
	} else if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) {
		*ext = "webp", *ctype = "image/webp";
	} else {
		return 0;
	}
	return 1;
}

/* The principal's user, or 0 after answering 403 (an API token of its own has no profile). */
static int
need_user(struct tsk_api_ctx *c)
{
	if (c->who.user_id > 0)
		return 1;
	tsk_api_detail(c, 403, "Esta ação requer um usuário: um token de API sem usuário não tem perfil.");
	return 0;
}

static const struct tsk_http_avatar_store *
need_store(struct tsk_api_ctx *c)
{
	const struct tsk_http_avatar_store *st = tsk_http_account_avatars(c->rq->account);

	if (st == NULL) {
		tsk_api_detail(c, 503, "O armazenamento de avatares não está configurado neste servidor "
		    "(avatar_bucket e as chaves S3 em tsk.conf).");
		tsk_http_reply_header(c->out, "Retry-After", "3600");
	}
	return st;
}

/* Deletes the user's former object, when it is one of the user's (a key under avatars/ID/). */
static void
delete_old(const struct tsk_http_avatar_store *st, int64_t user_id, const char *key, const char *keep)
{
	char prefix[48], err[TSK_ERRLEN];

	snprintf(prefix, sizeof prefix, "avatars/%lld/", (long long)user_id);
	if (key == NULL || key[0] == '\0' || strncmp(key, prefix, strlen(prefix)) != 0 ||
	    (keep != NULL && strcmp(key, keep) == 0))
		return;
	if (tsk_s3_delete(&st->s3, st->bucket, key, err, sizeof err) != TSK_OK)
		tsk_warn("avatar: the old object %s stays on the store: %s", key, err);
}

/* 200 {"user": ..., "message": msg}. */
static void
user_reply(struct tsk_api_ctx *c, const char *msg)
{
	char err[TSK_ERRLEN];
	json_t *user = tsk_http_user_json(c->db, c->who.user_id, c->rq->tenant, err, sizeof err);

	if (user == NULL)
		tsk_api_db_error(c, "avatar", err);
	else
		tsk_api_json(c, 200, json_pack("{s:o, s:s}", "user", user, "message", msg));
}

static void
avatar_upload(struct tsk_api_ctx *c)
{
	const struct tsk_http_avatar_store *st;
	struct MHD_PostProcessor *pp;
	struct upload u;
	const char *ext, *ctype;
	char key[96], hex[33], err[TSK_ERRLEN], id[24], *url = NULL;
	unsigned char rnd[16];
	PGresult *res = NULL;
	int rc, ok;

	if (!need_user(c) || (st = need_store(c)) == NULL)
		return;
	memset(&u, 0, sizeof u);
	/* libmicrohttpd's own multipart parser, fed the body this request already holds (within its limit). */
	pp = MHD_create_post_processor((struct MHD_Connection *)c->rq->conn, 64 * 1024, on_part, &u);
	if (pp == NULL) {
		error(c, 400, "Nenhum arquivo enviado.");
		return;
	}
	ok = MHD_post_process(pp, c->rq->body, c->rq->body_len) == MHD_YES;
	ok = MHD_destroy_post_processor(pp) == MHD_YES && ok;
	if (!ok && !u.too_big) {
		tsk_buf_free(&u.data);
		tsk_api_detail(c, 400, "Multipart form parse error - o corpo não é um multipart/form-data válido.");
		return;
	}
	if (!u.found) {
		error(c, 400, "Nenhum arquivo enviado.");
		goto done;
	}
	if (u.too_big) {
		error(c, 400, "Arquivo muito grande. Tamanho máximo: 5MB.");
		goto done;
	}
	if (!image_type((const unsigned char *)u.data.p, u.data.len, &ext, &ctype)) {
		error(c, 400, "Tipo de arquivo não permitido. Use JPG, PNG, GIF ou WebP.");
		goto done;
	}
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
	snprintf(key, sizeof key, "avatars/%lld/%s.%s", (long long)c->who.user_id, hex, ext);
	rc = tsk_s3_put(&st->s3, st->bucket, key, u.data.p, u.data.len, ctype, err, sizeof err);
	if (rc != TSK_OK) {
		tsk_warn("avatar: %s", err);
		tsk_api_json(c, rc == TSK_ETEMP ? 503 : 500, json_pack("{s:s, s:s}", "error", "Erro ao fazer upload do avatar.",
		    "details", rc == TSK_ETEMP ? "o armazenamento não respondeu; tente novamente" :
		    "o armazenamento recusou o arquivo"));
		if (rc == TSK_ETEMP)
			tsk_http_reply_header(c->out, "Retry-After", "5");
		goto done;
	}
	if ((url = malloc(strlen(st->url_base) + strlen(key) + 2)) == NULL) {
		tsk_api_detail(c, 500, "out of memory");
		goto done;
	}
	sprintf(url, "%s/%s", st->url_base, key);
	snprintf(id, sizeof id, "%lld", (long long)c->who.user_id);
	const char *p[] = { id, url, key };
	rc = tsk_db_exec(c->db,
	    "WITH old AS (SELECT avatar_key FROM public.app_user WHERE id = $1 FOR UPDATE)"
	    " UPDATE public.app_user u SET avatar = $2, avatar_key = $3, updated_at = now() FROM old WHERE u.id = $1"
	    " RETURNING old.avatar_key", 3, p, &res, err, sizeof err);
	if (rc != TSK_OK || PQntuples(res) != 1) {
		delete_old(st, c->who.user_id, key, NULL); /* nobody points at it */
		tsk_api_db_error(c, "avatar", rc != TSK_OK ? err : "the user is gone");
		goto done;
	}
	if (!PQgetisnull(res, 0, 0))
		delete_old(st, c->who.user_id, PQgetvalue(res, 0, 0), key);
	user_reply(c, "Avatar atualizado com sucesso!");
done:
	PQclear(res);
	free(url);
	tsk_buf_free(&u.data);
}

static void
avatar_delete(struct tsk_api_ctx *c)
{
	const struct tsk_http_avatar_store *st;
	char id[24], err[TSK_ERRLEN];
	const char *p[1] = { id };
	PGresult *res;

	if (!need_user(c) || (st = need_store(c)) == NULL)
		return;
	snprintf(id, sizeof id, "%lld", (long long)c->who.user_id);
	if (tsk_db_exec(c->db,
	    "WITH old AS (SELECT avatar_key FROM public.app_user WHERE id = $1 FOR UPDATE)"
	    " UPDATE public.app_user u SET avatar = NULL, avatar_key = NULL, updated_at = now() FROM old WHERE u.id = $1"
	    " RETURNING old.avatar_key", 1, p, &res, err, sizeof err) != TSK_OK) {
		tsk_api_db_error(c, "avatar", err);
		return;
	}
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		delete_old(st, c->who.user_id, PQgetvalue(res, 0, 0), NULL);
	PQclear(res);
	user_reply(c, "Avatar removido com sucesso!");
}

const struct tsk_api_route tsk_api_account_routes[] = {
	{ .method = "POST", .pattern = "/api/auth/password-reset/request/", .anonymous = 1, .hosts = TSK_API_ANY,
	  .fn = reset_request },
	{ .method = "GET", .pattern = "/api/auth/password-reset/validate/", .anonymous = 1, .hosts = TSK_API_ANY,
	  .fn = reset_validate },
	{ .method = "POST", .pattern = "/api/auth/password-reset/validate/", .anonymous = 1, .hosts = TSK_API_ANY,
	  .fn = reset_validate },
	{ .method = "POST", .pattern = "/api/auth/password-reset/confirm/", .anonymous = 1, .hosts = TSK_API_ANY,
	  .fn = reset_confirm },
	{ .method = "POST", .pattern = "/api/auth/register/", .anonymous = 1, .hosts = TSK_API_ANY, .fn = register_user },
	{ .method = "POST", .pattern = "/api/users/me/avatar/", .cap = TSK_CAP_READ, .hosts = TSK_API_ANY,
	  .fn = avatar_upload },
	{ .method = "DELETE", .pattern = "/api/users/me/avatar/", .cap = TSK_CAP_READ, .hosts = TSK_API_ANY,
	  .fn = avatar_delete },
	{ .method = NULL },
};
