/*
 * The team API (routes in tsk_api_team_routes; plumbing in api.h; the work in registry/team.c):
 *
 * tenant hosts, owners and admins (TSK_CAP_MANAGE_TEAM):
 *   GET /api/team/members/                 page of memberships
 *   GET /api/team/members/stats/           counts
 *   GET, PATCH, PUT, DELETE /api/team/members/{id}/   one membership; {role, status}; soft removal (204)
 *   GET, POST /api/team/invites/           page of invites; a new one {email, role, message} (201, with
 *                                          its token, mailed through the daemon's mail server)
 *   GET, DELETE /api/team/invites/{id}/    one invite; cancel (204)
 *   POST /api/team/invites/{id}/resend/    a new token, mailed again
 * any authenticated user with an account, on a tenant host (a member there) or on the public host:
 *   POST /api/team/invites/accept/ {token} the caller joins the invite's tenant
 * anyone, on any host:
 *   GET /api/invites/validate/?token=      what the invite is (for the accept page)
 *   POST /api/invites/accept/ {token, name, password}   a new account and its membership
 *
 * Joining by invite: a user invited to a tenant has no membership there, so no login on that tenant's
 * host works for them yet. A new user accepts on the public endpoint (which makes the account); a user
 * who has an account logs in on the public host (or on the host of a tenant they belong to) and posts
 * the token to /api/team/invites/accept/ there. Either way the next login on the tenant's host works.
 *
 * Messages are the original's (English, as its team views had them). A mail that cannot be sent never
 * fails the request: it is logged, and the invite says so (email_sent false, email_error).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <sodium.h>

#include "core/log.h"
#include "core/time.h"
#include "core/tsk.h"
#include "http/api.h"
#include "notify/invite.h"
#include "registry/account.h"
#include "registry/team.h"

/* ---- request pieces ------------------------------------------------------------------------------- */

static void
not_found(struct tsk_api_ctx *c)
{
	tsk_api_detail(c, 404, "Não encontrado.");
}

/* The path's {id}: a positive integer, else 404 (as for an id that does not exist). */
static int
path_id(struct tsk_api_ctx *c, int64_t *id)
{
	const char *s = c->arg[0];
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v < 1) {
		not_found(c);
		return 0;
	}
	*id = v;
	return 1;
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

/* A string field of the body: 1 with *out (NULL when absent, or null and nullable), or 0 after a 400. */
static int
string_field(struct tsk_api_ctx *c, json_t *o, const char *name, int required, int nullable, size_t max,
    const char **out)
{
	json_t *v = json_object_get(o, name);
	char msg[160];

	*out = NULL;
	if (v == NULL) {
		if (!required)
			return 1;
		tsk_api_field_error(c, name, "Este campo é obrigatório.");
		return 0;
	}
	if (json_is_null(v)) {
		if (nullable)
			return 1;
		tsk_api_field_error(c, name, "Este campo não pode ser nulo.");
		return 0;
	}
	if (!json_is_string(v)) {
		tsk_api_field_error(c, name, "Not a valid string.");
		return 0;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		tsk_api_field_error(c, name, "Null characters are not allowed.");
		return 0;
	}
	if (required && json_string_length(v) == 0) {
		tsk_api_field_error(c, name, "Este campo não pode ser em branco.");
		return 0;
	}
	if (max > 0 && chars(json_string_value(v)) > max) {
		snprintf(msg, sizeof msg, "Certifique-se de que este campo não tenha mais de %zu caracteres.", max);
		tsk_api_field_error(c, name, msg);
		return 0;
	}
	*out = json_string_value(v);
	return 1;
}

/* A choice field (role, status): absent is NULL; anything but one of the choices is 400. */
static int
choice_field(struct tsk_api_ctx *c, json_t *o, const char *name, const char *const *choices, const char **out)
{
	json_t *v = json_object_get(o, name);
	char msg[200], *shown;

	*out = NULL;
	if (v == NULL)
		return 1;
	if (json_is_null(v)) {
		tsk_api_field_error(c, name, "Este campo não pode ser nulo.");
		return 0;
	}
	if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v))
		for (int i = 0; choices[i] != NULL; i++)
			if (strcmp(json_string_value(v), choices[i]) == 0) {
				*out = choices[i];
				return 1;
			}
	shown = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	snprintf(msg, sizeof msg, "\"%.60s\" não é um escolha válido.", shown != NULL ? shown :
	    json_is_string(v) ? json_string_value(v) : "?");
	free(shown);
	tsk_api_field_error(c, name, msg);
	return 0;
}

static const char *const roles[] = { "owner", "admin", "operator", "technician", "viewer", NULL };
static const char *const statuses[] = { "active", "inactive", "suspended", NULL };

/* A library failure that is no refusal: 404 for a vanished id, else the database's 503. */
static void
failed(struct tsk_api_ctx *c, int rc, const char *what, const char *err)
{
	if (rc == TSK_ENOTFOUND)
		not_found(c);
	else
		tsk_api_db_error(c, what, err);
}

/* ---- members ---------------------------------------------------------------------------------------- */

static void
members_list(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];
	int64_t off, count = 0;
	json_t *rows;
	int rc;

	if (!tsk_api_page(c, &off))
		return;
	if ((rc = tsk_team_members(c->db, c->rq->tenant, off, TSK_API_PAGE_SIZE, &count, &rows, err, sizeof err)) != TSK_OK) {
		failed(c, rc, "team members", err);
		return;
	}
	tsk_api_page_reply(c, count, rows);
}

static void
members_stats(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];
	json_t *o;
	int rc;

	if ((rc = tsk_team_stats(c->db, c->rq->tenant, tsk_now_us(), &o, err, sizeof err)) != TSK_OK) {
		failed(c, rc, "team stats", err);
		return;
	}
	tsk_api_json(c, 200, o);
}

static void
member_get(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];
	int64_t id;
	json_t *o;
	int rc;

	if (!path_id(c, &id))
		return;
	if ((rc = tsk_team_member(c->db, c->rq->tenant, id, &o, err, sizeof err)) != TSK_OK) {
		failed(c, rc, "team member", err);
		return;
	}
	tsk_api_json(c, 200, o);
}

static void
member_update(struct tsk_api_ctx *c)
{
	enum tsk_team_why why = TSK_TEAM_OK;
	const char *role, *status;
	char err[TSK_ERRLEN];
	int64_t id;
	json_t *body, *o = NULL;
	int rc;

	if (!path_id(c, &id) || (body = tsk_api_body(c)) == NULL)
		return;
	if (!choice_field(c, body, "role", roles, &role) || !choice_field(c, body, "status", statuses, &status)) {
		json_decref(body);
		return;
	}
	json_decref(body);
	rc = tsk_team_member_update(c->db, c->rq->tenant, id, role, status, &o, &why, err, sizeof err);
	if (why == TSK_TEAM_LAST_OWNER) {
		if (role != NULL && strcmp(role, "owner") != 0)
			tsk_api_field_error(c, "role", "Cannot change role: tenant must have at least one active owner.");
		else
			tsk_api_field_error(c, "status", "Cannot change status: tenant must have at least one active owner.");
		return;
	}
	if (rc != TSK_OK) {
		failed(c, rc, "team member update", err);
		return;
	}
	tsk_api_json(c, 200, o);
}

static void
member_remove(struct tsk_api_ctx *c)
{
	enum tsk_team_why why = TSK_TEAM_OK;
	char err[TSK_ERRLEN];
	int64_t id;
	int rc;

	if (!path_id(c, &id))
		return;
	rc = tsk_team_member_remove(c->db, c->rq->tenant, id, &why, err, sizeof err);
	if (why == TSK_TEAM_LAST_OWNER) {
		tsk_api_detail(c, 400, "Cannot remove the last owner from the organization.");
		return;
	}
	if (rc != TSK_OK) {
		failed(c, rc, "team member removal", err);
		return;
	}
	c->out->status = 204;
}

/* ---- invites (managers) ----------------------------------------------------------------------------- */

static void
invites_list(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];
	int64_t off, count = 0;
	json_t *rows;
	int rc;

	if (!tsk_api_page(c, &off))
		return;
	if ((rc = tsk_invite_list(c->db, c->rq->tenant, tsk_now_us(), off, TSK_API_PAGE_SIZE, &count, &rows, err,
	    sizeof err)) != TSK_OK) {
		failed(c, rc, "invites", err);
		return;
	}
	tsk_api_page_reply(c, count, rows);
}

static void
invite_get(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];
	int64_t id;
	json_t *o;
	int rc;

	if (!path_id(c, &id))
		return;
	if ((rc = tsk_invite_get(c->db, c->rq->tenant, id, tsk_now_us(), &o, err, sizeof err)) != TSK_OK) {
		failed(c, rc, "invite", err);
		return;
	}
	tsk_api_json(c, 200, o);
}

/* Mails a new or renewed invite (a failure is logged and recorded in it), then answers with the invite,
 * its token and its link: the only time the token is shown. */
static void
mail_and_answer(struct tsk_api_ctx *c, int status, const struct tsk_invite_info *info, char *token)
{
	char err[TSK_ERRLEN], link[2048];
	int64_t now = tsk_now_us();
	json_t *o;
	int rc;

	if (tsk_invite_mail(c->db, c->rq->mail, c->rq->frontend_url, info, token, now, err, sizeof err) != TSK_OK)
		tsk_warn("invite %lld of %s: not mailed: %s", (long long)info->id, info->tenant_slug, err);
	if ((rc = tsk_invite_get(c->db, c->rq->tenant, info->id, now, &o, err, sizeof err)) != TSK_OK) {
		failed(c, rc, "invite", err);
	} else {
		tsk_invite_link(c->rq->frontend_url, token, link, sizeof link);
		json_object_set_new(o, "token", json_string(token));
		json_object_set_new(o, "accept_url", json_string(link));
		tsk_api_json(c, status, o);
	}
	sodium_memzero(token, TSK_INVITE_TOKEN_LEN + 1);
}

static void
invite_create(struct tsk_api_ctx *c)
{
	enum tsk_team_why why = TSK_TEAM_OK;
	struct tsk_invite_info info;
	const char *email, *role, *message;
	char err[TSK_ERRLEN], norm[256], token[TSK_INVITE_TOKEN_LEN + 1];
	json_t *body;
	int rc;

	if ((body = tsk_api_body(c)) == NULL)
		return;
	if (!string_field(c, body, "email", 1, 0, 255, &email) || !choice_field(c, body, "role", roles, &role) ||
	    !string_field(c, body, "message", 0, 1, TSK_INVITE_MESSAGE_MAX, &message))
		goto done;
	if (tsk_email_check(email, norm, sizeof norm, err, sizeof err) != TSK_OK) {
		tsk_api_field_error(c, "email", "Insira um endereço de email válido.");
		goto done;
	}
	rc = tsk_invite_create(c->db, c->rq->tenant, c->who.user_id, email, role != NULL ? role : "viewer", message,
	    tsk_now_us(), token, &info, &why, err, sizeof err);
	if (why == TSK_TEAM_ALREADY_MEMBER)
		tsk_api_field_error(c, "email", "This user is already a member of the organization.");
	else if (why == TSK_TEAM_PENDING_EXISTS)
		tsk_api_field_error(c, "email", "A pending invite already exists for this email.");
	else if (why == TSK_TEAM_BAD_VALUE)
		tsk_api_field_error(c, "email", "Insira um endereço de email válido.");
	else if (rc != TSK_OK)
		failed(c, rc, "invite", err);
	else
		mail_and_answer(c, 201, &info, token);
done:
	json_decref(body);
}

static void
invite_cancel(struct tsk_api_ctx *c)
{
	enum tsk_team_why why = TSK_TEAM_OK;
	char err[TSK_ERRLEN];
	int64_t id;
	int rc;

	if (!path_id(c, &id))
		return;
	rc = tsk_invite_cancel(c->db, c->rq->tenant, id, &why, err, sizeof err);
	if (why == TSK_TEAM_NOT_PENDING)
		tsk_api_detail(c, 400, "Only pending invitations can be cancelled.");
	else if (rc != TSK_OK)
		failed(c, rc, "invite cancel", err);
	else
		c->out->status = 204;
}

static void
invite_resend(struct tsk_api_ctx *c)
{
	enum tsk_team_why why = TSK_TEAM_OK;
	struct tsk_invite_info info;
	char err[TSK_ERRLEN], token[TSK_INVITE_TOKEN_LEN + 1];
	int64_t id;
	int rc;

	if (!path_id(c, &id))
		return;
	rc = tsk_invite_resend(c->db, c->rq->tenant, id, tsk_now_us(), token, &info, &why, err, sizeof err);
	if (why == TSK_TEAM_NOT_PENDING)
		tsk_api_detail(c, 400, "Only pending invitations can be resent.");
	else if (why == TSK_TEAM_EXPIRED)
		tsk_api_detail(c, 400, "This invitation has expired.");
	else if (rc != TSK_OK)
		failed(c, rc, "invite resend", err);
	else
		mail_and_answer(c, 200, &info, token);
}

/* ---- accepting -------------------------------------------------------------------------------------- */

/* The token of an accept request, checked like the original's serializer (a string of at most 64). */
static int
token_field(struct tsk_api_ctx *c, json_t *body, const char **token)
{
	return string_field(c, body, "token", 1, 0, 64, token);
}

static void
invite_accept(struct tsk_api_ctx *c)
{
	enum tsk_team_why why = TSK_TEAM_OK;
	const char *token;
	char err[TSK_ERRLEN];
	json_t *body, *o = NULL;
	int rc;

	/* An API token of its own has no user to join anything. */
	if (c->who.user_id <= 0) {
		tsk_api_detail(c, 403, "Esta ação requer um usuário: um token de API sem usuário não tem perfil.");
		return;
	}
	if ((body = tsk_api_body(c)) == NULL)
		return;
	if (!token_field(c, body, &token))
		goto done;
	rc = tsk_invite_accept(c->db, token, c->who.user_id, tsk_now_us(), &o, &why, err, sizeof err);
	switch (why) {
	case TSK_TEAM_UNKNOWN_TOKEN: tsk_api_field_error(c, "token", "Invalid invite token."); break;
	case TSK_TEAM_EXPIRED: tsk_api_field_error(c, "token", "This invite has expired."); break;
	case TSK_TEAM_NOT_VALID: tsk_api_field_error(c, "token", "This invite is no longer valid."); break;
	case TSK_TEAM_WRONG_EMAIL: tsk_api_detail(c, 400, "This invite was sent to a different email address."); break;
	case TSK_TEAM_ALREADY_MEMBER: tsk_api_detail(c, 400, "You are already a member of this organization."); break;
	default:
		if (rc != TSK_OK)
			tsk_api_db_error(c, "invite accept", err);
		else
			tsk_api_json(c, 200, json_pack("{s:s, s:o}", "message", "Invitation accepted successfully.",
			    "membership", o));
	}
done:
	json_decref(body);
}

static void
public_validate(struct tsk_api_ctx *c)
{
	enum tsk_team_why why = TSK_TEAM_OK;
	const char *token = tsk_api_arg(c, "token");
	char err[TSK_ERRLEN];
	json_t *o = NULL;
	int rc;

	if (token == NULL || token[0] == '\0') {
		tsk_api_detail(c, 400, "Token is required.");
		return;
	}
	rc = tsk_invite_validate(c->db, token, tsk_now_us(), &o, &why, err, sizeof err);
	switch (why) {
	case TSK_TEAM_UNKNOWN_TOKEN: tsk_api_detail(c, 404, "Invalid invite token."); break;
	case TSK_TEAM_EXPIRED: tsk_api_detail(c, 400, "This invite has expired."); break;
	case TSK_TEAM_NOT_VALID: tsk_api_detail(c, 400, "This invite is no longer valid."); break;
	default:
		if (rc != TSK_OK)
			tsk_api_db_error(c, "invite validate", err);
		else
			tsk_api_json(c, 200, o);
	}
}

/* A body field of the public accept: a string, else 400 with the original's "X is required." */
static int
public_field(struct tsk_api_ctx *c, json_t *body, const char *name, const char *missing, const char **out)
{
	json_t *v = json_object_get(body, name);

	*out = NULL;
	if (v != NULL && !json_is_null(v) && !json_is_string(v)) {
		tsk_api_field_error(c, name, "Not a valid string.");
		return 0;
	}
	if (v != NULL && json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v)) {
		tsk_api_field_error(c, name, "Null characters are not allowed.");
		return 0;
	}
	*out = v != NULL && json_is_string(v) ? json_string_value(v) : "";
	/* The original strips the name before testing it, not the token or the password. */
	if (strspn(*out, strcmp(name, "name") == 0 ? " \t\r\n" : "") == strlen(*out)) {
		tsk_api_detail(c, 400, missing);
		return 0;
	}
	return 1;
}

void
tsk_api_invite_signup(struct tsk_api_ctx *c, const char *token, const char *name, const char *password)
{
	enum tsk_team_why why = TSK_TEAM_OK;
	char err[TSK_ERRLEN];
	json_t *o = NULL;
	int rc;

	if (chars(password) < 8) {
		tsk_api_detail(c, 400, "Password must be at least 8 characters.");
		return;
	}
	rc = tsk_invite_signup(c->db, token, name, password, tsk_now_us(), &o, &why, err, sizeof err);
	switch (why) {
	case TSK_TEAM_UNKNOWN_TOKEN: tsk_api_detail(c, 404, "Invalid invite token."); break;
	case TSK_TEAM_EXPIRED:
	case TSK_TEAM_NOT_VALID: tsk_api_detail(c, 400, "This invite is no longer valid."); break;
	case TSK_TEAM_USER_EXISTS:
		tsk_api_detail(c, 400, "An account with this email already exists. Please login.");
		break;
	case TSK_TEAM_ALREADY_MEMBER: tsk_api_detail(c, 400, "You are already a member of this organization."); break;
	case TSK_TEAM_BAD_PASSWORD: tsk_api_field_error(c, "password", err); break;
	case TSK_TEAM_BAD_VALUE:
		tsk_api_field_error(c, "name", "Certifique-se de que o nome e o sobrenome não tenham mais de 150 caracteres.");
		break;
	default:
		if (rc != TSK_OK) {
			tsk_api_db_error(c, "invite signup", err);
		} else {
			json_object_set_new(o, "message", json_string("Account created successfully."));
			tsk_api_json(c, 201, o);
		}
	}
	json_decref(why == TSK_TEAM_OK && rc == TSK_OK ? NULL : o);
}

static void
public_accept(struct tsk_api_ctx *c)
{
	const char *token, *name, *password;
	json_t *body;

	if ((body = tsk_api_body(c)) == NULL)
		return;
	if (public_field(c, body, "token", "Token is required.", &token) &&
	    public_field(c, body, "name", "Name is required.", &name) &&
	    public_field(c, body, "password", "Password is required.", &password))
		tsk_api_invite_signup(c, token, name, password);
	json_decref(body);
}

const struct tsk_api_route tsk_api_team_routes[] = {
	{ .method = "GET", .pattern = "/api/team/members/", .cap = TSK_CAP_MANAGE_TEAM, .fn = members_list },
	{ .method = "GET", .pattern = "/api/team/members/stats/", .cap = TSK_CAP_MANAGE_TEAM, .fn = members_stats },
	{ .method = "GET", .pattern = "/api/team/members/{}/", .cap = TSK_CAP_MANAGE_TEAM, .fn = member_get },
	{ .method = "PATCH", .pattern = "/api/team/members/{}/", .cap = TSK_CAP_MANAGE_TEAM, .fn = member_update },
	{ .method = "PUT", .pattern = "/api/team/members/{}/", .cap = TSK_CAP_MANAGE_TEAM, .fn = member_update },
	{ .method = "DELETE", .pattern = "/api/team/members/{}/", .cap = TSK_CAP_MANAGE_TEAM, .fn = member_remove },
	{ .method = "GET", .pattern = "/api/team/invites/", .cap = TSK_CAP_MANAGE_TEAM, .fn = invites_list },
	{ .method = "POST", .pattern = "/api/team/invites/", .cap = TSK_CAP_MANAGE_TEAM, .fn = invite_create },
	/* Before the {} routes, which "accept" would match too. Any member on a tenant host, any account on
	 * the public host (where the router asks for authentication only). */
	{ .method = "POST", .pattern = "/api/team/invites/accept/", .cap = TSK_CAP_READ, .fn = invite_accept,
	    .hosts = TSK_API_ANY },
	{ .method = "GET", .pattern = "/api/team/invites/{}/", .cap = TSK_CAP_MANAGE_TEAM, .fn = invite_get },
	{ .method = "DELETE", .pattern = "/api/team/invites/{}/", .cap = TSK_CAP_MANAGE_TEAM, .fn = invite_cancel },
	{ .method = "POST", .pattern = "/api/team/invites/{}/resend/", .cap = TSK_CAP_MANAGE_TEAM, .fn = invite_resend },
	{ .method = "GET", .pattern = "/api/invites/validate/", .fn = public_validate, .anonymous = 1,
	    .hosts = TSK_API_ANY },
	{ .method = "POST", .pattern = "/api/invites/accept/", .fn = public_accept, .anonymous = 1,
	    .hosts = TSK_API_ANY },
	{ .method = NULL },
};
