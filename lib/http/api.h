/*
 * The tenant JSON API's plumbing (lib/http/ only): a route table per endpoint file, matched by method
 * and path pattern, authenticated and checked for the route's capability before the handler runs, plus
 * the helpers every handler needs (query arguments, bodies, answers, the page envelope).
 *
 * A handler sees an authenticated principal with an active membership on the host's tenant (the
 * capability already checked) and the worker's connection. It must enter the tenant's schema inside its
 * own transaction (tsk_db_enter_tenant) for every statement, and fill c->out before returning.
 *
 * Patterns are literal paths with "{}" for one path segment ("/api/devices/{}/summary/"): the segment
 * (as libmicrohttpd decoded the path) is c->arg[0], c->arg[1], ... A path that matches a pattern with another method is 405
 * with Allow; HEAD is served by the GET route.
 */
#ifndef TSK_HTTP_API_H
#define TSK_HTTP_API_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "http/http.h"
#include "registry/login.h"

#define TSK_API_MAX_ARGS 4
#define TSK_API_ARG_MAX 256
#define TSK_API_PAGE_SIZE 50

struct tsk_api_ctx {
	const struct tsk_http_request *rq;
	PGconn *db;
	struct tsk_principal who;               /* the caller; who.tenant is the host's tenant */
	char arg[TSK_API_MAX_ARGS][TSK_API_ARG_MAX]; /* the path's "{}" segments, decoded */
	size_t nargs;
	struct tsk_http_reply *out;
	struct tsk_http_auth *auth;             /* the daemon's authentication (tokens, for registration) */
};

typedef void (*tsk_api_fn)(struct tsk_api_ctx *c);

struct tsk_api_route {
	const char *method;     /* GET, POST, PUT, PATCH or DELETE */
	const char *pattern;    /* "/api/sites/{}/stats/" */
	enum tsk_auth_cap cap;  /* what the caller's role must allow (TSK_CAP_READ, TSK_CAP_WRITE, ...) */
	tsk_api_fn fn;
	int anonymous;          /* 1: no authentication at all (the API's documents); c->who is empty */
	int hosts;              /* where it is served: TSK_API_TENANT (0: tenant hosts only), TSK_API_PUBLIC
	                         * (the public host only), TSK_API_ANY (both); on the public host
	                         * c->rq->tenant is NULL and an authenticated principal has no tenant */
};
enum { TSK_API_TENANT = 0, TSK_API_PUBLIC = 1, TSK_API_ANY = 2 };

/* The route tables, one per endpoint file, each ended by a route whose method is NULL. */
extern const struct tsk_api_route tsk_api_telemetry_routes[];
extern const struct tsk_api_route tsk_api_catalog_routes[];
extern const struct tsk_api_route tsk_api_meta_routes[];
extern const struct tsk_api_route tsk_api_alert_routes[];
extern const struct tsk_api_route tsk_api_team_routes[];
extern const struct tsk_api_route tsk_api_account_routes[];

/* ---- the request ---------------------------------------------------------------------------------- */

/* A query-string argument (decoded), or NULL. With several of the same name: the last one. */
const char *tsk_api_arg(struct tsk_api_ctx *c, const char *name);
/* Every value of a repeated argument (?sensor_id=a&sensor_id=b), in order: how many (at most max). */
size_t tsk_api_args(struct tsk_api_ctx *c, const char *name, const char **out, size_t max);
/* The body as a JSON object: NULL after answering 400 (not JSON, not an object). An empty body is {}. */
json_t *tsk_api_body(struct tsk_api_ctx *c);

/* ---- answers -------------------------------------------------------------------------------------- */

/* Takes the reference. */
void tsk_api_json(struct tsk_api_ctx *c, int status, json_t *body);
/* A JSON text the handler rendered itself (malloc'd; taken): PostgreSQL's json keeps a double as its
 * shortest exact form (91.7), which a round trip through jansson would print with 17 digits. */
void tsk_api_text(struct tsk_api_ctx *c, int status, char *text);
/* {"detail": msg} */
void tsk_api_detail(struct tsk_api_ctx *c, int status, const char *msg);
/* 400 {"field": ["msg"]} */
void tsk_api_field_error(struct tsk_api_ctx *c, const char *field, const char *msg);
/* A database failure: logged, 503 {"detail": ...} with Retry-After (the statement's error in err). */
void tsk_api_db_error(struct tsk_api_ctx *c, const char *what, const char *err);

/*
 * Page-number pagination (?page=N, TSK_API_PAGE_SIZE a page): the offset of the requested page into
 * *offset, 1 — or 0 after answering 404 {"detail":"Página inválida."} (not a positive integer). Call it
 * before the query; then tsk_api_page_reply with the total count and the page's rows (a page past the
 * last one is 404 there, as DRF answers).
 */
int tsk_api_page(struct tsk_api_ctx *c, int64_t *offset);
/* 200 {"count", "next", "previous", "results"}: next/previous are absolute URLs of this request with
 * its page argument replaced (null at the ends). Takes the reference to results. */
void tsk_api_page_reply(struct tsk_api_ctx *c, int64_t count, json_t *results);
/* The same with results given as a JSON array's text (borrowed), as tsk_api_text. */
void tsk_api_page_reply_text(struct tsk_api_ctx *c, int64_t count, const char *results);

/* ---- shared by endpoint files ----------------------------------------------------------------------- */

/* A new account and its membership from an invitation token (api_team.c): 201 {message, user,
 * membership}, or the original's 400/404 answers. POST /api/invites/accept/ and a registration with an
 * invitation_token on a tenant host both answer through it. */
void tsk_api_invite_signup(struct tsk_api_ctx *c, const char *token, const char *name, const char *password);

/* ---- the router (server.c) ------------------------------------------------------------------------ */

/* 1 when the path is an API route of this kind of host (rq->tenant NULL: the public host) and *out is
 * filled (the handler's answer, 401/403, 405), else 0. auth authenticates the caller (lib/http/auth.c). */
struct tsk_http_auth;
int tsk_http_api_route(struct tsk_http_auth *auth, const struct tsk_http_request *rq, PGconn *db,
    struct tsk_http_reply *out);

#endif
