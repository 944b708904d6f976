/*
 * The tenant JSON API's router and helpers (see api.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include <microhttpd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/tsk.h"
#include "http/api.h"
#include "http/http_impl.h"

static const struct tsk_api_route *const tables[] = {
	tsk_api_telemetry_routes,
	tsk_api_catalog_routes,
	tsk_api_meta_routes,
	tsk_api_alert_routes,
	tsk_api_team_routes,
};

/* ---- matching ------------------------------------------------------------------------------------- */

/* 1 when path matches pattern, the "{}" segments copied into c->arg (c may be NULL: match only). */
static int
match(const char *pattern, const char *path, struct tsk_api_ctx *c)
{
	size_t nargs = 0;

	while (*pattern != '\0') {
		if (pattern[0] == '{' && pattern[1] == '}') {
			size_t n = strcspn(path, "/");

			/* An empty segment is no segment; one too long for the buffer is no known object either. */
			if (n == 0 || n >= TSK_API_ARG_MAX || nargs >= TSK_API_MAX_ARGS)
				return 0;
			if (c != NULL) {
				memcpy(c->arg[nargs], path, n);
				c->arg[nargs][n] = '\0';
			}
			nargs++;
			path += n;
			pattern += 2;
			continue;
		}
		if (*pattern++ != *path++)
			return 0;
	}
	if (*path != '\0')
		return 0;
	if (c != NULL)
		c->nargs = nargs;
	return 1;
}

static int
same_method(const char *route, const char *method)
{
	return strcmp(route, method) == 0 || (strcmp(method, "HEAD") == 0 && strcmp(route, "GET") == 0);
}

/* The route for (method, path) on this kind of host, or NULL with *allow holding the methods the path
 * has there ("" when no route has this path). */
static const struct tsk_api_route *
lookup(const char *method, const char *path, int public_host, char *allow, size_t allowlen)
{
	allow[0] = '\0';
	for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
		for (const struct tsk_api_route *r = tables[t]; r->method != NULL; r++) {
			if (r->hosts != TSK_API_ANY && (r->hosts == TSK_API_PUBLIC) != public_host)
				continue;
			if (!match(r->pattern, path, NULL))
				continue;
			if (same_method(r->method, method))
				return r;
			if (strstr(allow, r->method) == NULL) {
				size_t n = strlen(allow);
				snprintf(allow + n, allowlen - n, "%s%s", n > 0 ? ", " : "", r->method);
				if (strcmp(r->method, "GET") == 0 && strstr(allow, "HEAD") == NULL) {
					n = strlen(allow);
					snprintf(allow + n, allowlen - n, ", HEAD");
				}
			}
		}
	return NULL;
}

int
tsk_http_api_route(struct tsk_http_auth *auth, const struct tsk_http_request *rq, PGconn *db,
    struct tsk_http_reply *out)
{
	struct tsk_api_ctx *c;
	const struct tsk_api_route *r;
	char allow[128];

	if (strncmp(rq->path, "/api/", 5) != 0)
		return 0;
	r = lookup(rq->method, rq->path, rq->tenant == NULL, allow, sizeof allow);
	if (r == NULL) {
		char msg[96];

		if (allow[0] == '\0')
			return 0;
		snprintf(allow + strlen(allow), sizeof allow - strlen(allow), ", OPTIONS");
		snprintf(msg, sizeof msg, "Método \"%.32s\" não é permitido.", rq->method);
		tsk_http_json(out, 405, json_pack("{s:s}", "detail", msg));
		tsk_http_reply_header(out, "Allow", allow);
		return 1;
	}
	/* The context is large (the path arguments): off the worker's stack. */
	if ((c = calloc(1, sizeof *c)) == NULL) {
		tsk_http_json(out, 500, json_pack("{s:s}", "detail", "out of memory"));
		return 1;
	}
	c->rq = rq;
	c->db = db;
	c->out = out;
	match(r->pattern, rq->path, c);
	if (!r->anonymous) {
		if (!tsk_http_auth_principal(auth, rq, db, &c->who, out))
			goto done;
		/* Capabilities are a membership's: on the public host there is none, and a route there that
		 * needs an authenticated user asks only for TSK_CAP_READ (checked as "authenticated"). */
		if (rq->tenant != NULL && !tsk_auth_can(&c->who, r->cap)) {
			tsk_api_detail(c, 403, "You do not have permission to perform this action.");
			goto done;
		}
	}
	r->fn(c);
	if (out->body == NULL && out->status == 0)
		tsk_api_detail(c, 500, "no answer");
done:
	free(c);
	return 1;
}

/* ---- the request ---------------------------------------------------------------------------------- */

const char *
tsk_api_arg(struct tsk_api_ctx *c, const char *name)
{
	return MHD_lookup_connection_value((struct MHD_Connection *)c->rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct collect {
	const char *name;
	const char **out;
	size_t n, max;
};

static enum MHD_Result
collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct collect *k = cls;

	(void)kind;
	if (key != NULL && strcmp(key, k->name) == 0 && k->n < k->max)
		k->out[k->n++] = value != NULL ? value : "";
	return MHD_YES;
}

size_t
tsk_api_args(struct tsk_api_ctx *c, const char *name, const char **out, size_t max)
{
	struct collect k = { name, out, 0, max };

	MHD_get_connection_values((struct MHD_Connection *)c->rq->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &k);
	return k.n;
}

json_t *
tsk_api_body(struct tsk_api_ctx *c)
{
	json_error_t je;
	json_t *o;

	if (c->rq->body == NULL || c->rq->body_len == 0)
		return json_object();
	/* Any JSON value, so that a scalar gets DRF's "expected a dictionary" and not a parse error. */
	o = json_loadb(c->rq->body, c->rq->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (o == NULL) {
		char msg[200];

		snprintf(msg, sizeof msg, "JSON parse error - %s", je.text);
		tsk_api_detail(c, 400, msg);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		tsk_api_json(c, 400, json_pack("{s:[s]}", "non_field_errors",
		    "Dados inválidos. Esperado um dicionário, mas recebido outro tipo."));
		return NULL;
	}
	return o;
}

/* ---- answers -------------------------------------------------------------------------------------- */

void
tsk_api_json(struct tsk_api_ctx *c, int status, json_t *body)
{
	tsk_http_json(c->out, status, body);
}

void
tsk_api_text(struct tsk_api_ctx *c, int status, char *text)
{
	if (text == NULL) {
		tsk_api_detail(c, 500, "out of memory");
		return;
	}
	c->out->status = status;
	c->out->content_type = "application/json";
	c->out->body = text;
	c->out->len = strlen(text);
}

void
tsk_api_detail(struct tsk_api_ctx *c, int status, const char *msg)
{
	tsk_http_json(c->out, status, json_pack("{s:s}", "detail", msg));
}

void
tsk_api_field_error(struct tsk_api_ctx *c, const char *field, const char *msg)
{
	tsk_http_json(c->out, 400, json_pack("{s:[s]}", field, msg));
}

void
tsk_api_db_error(struct tsk_api_ctx *c, const char *what, const char *err)
{
	tsk_warn("%s %s: %s: %s", c->rq->method, c->rq->path, what, err);
	tsk_api_detail(c, 503, "Serviço temporariamente indisponível, tente novamente mais tarde.");
	tsk_http_reply_header(c->out, "Retry-After", "5");
}

/* ---- pagination ----------------------------------------------------------------------------------- */

int
tsk_api_page(struct tsk_api_ctx *c, int64_t *offset)
{
	const char *p = tsk_api_arg(c, "page");
	char *end;
	long long n = 1;

	if (p != NULL && strcmp(p, "last") != 0) {
		errno = 0;
		n = strtoll(p, &end, 10);
		if (end == p || *end != '\0' || errno != 0 || n < 1 || n > INT64_MAX / TSK_API_PAGE_SIZE) {
			tsk_api_detail(c, 404, "Página inválida.");
			return 0;
		}
	}
	*offset = (int64_t)(n - 1) * TSK_API_PAGE_SIZE;
	return 1;
}

struct urlq {
	struct tsk_buf *b;
	int failed;
};

static void
put_escaped(struct tsk_buf *b, const char *s, int *failed)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			if (tsk_buf_add(b, s, 1) != 0)
				*failed = 1;
		} else {
			char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };

			if (tsk_buf_add(b, e, 3) != 0)
				*failed = 1;
		}
	}
}

static enum MHD_Result
put_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct urlq *u = cls;

	(void)kind;
	if (key == NULL || strcmp(key, "page") == 0)
		return MHD_YES;
	if (tsk_buf_add(u->b, u->b->len > 0 && memchr(u->b->p, '?', u->b->len) ? "&" : "?", 1) != 0)
		u->failed = 1;
	put_escaped(u->b, key, &u->failed);
	if (value != NULL) {
		if (tsk_buf_add(u->b, "=", 1) != 0)
			u->failed = 1;
		put_escaped(u->b, value, &u->failed);
	}
	return MHD_YES;
}

/* This request's absolute URL at page (0: without a page argument), or a JSON null. */
static json_t *
page_url(struct tsk_api_ctx *c, int64_t page)
{
	const char *host = tsk_http_header(c->rq, "Host"), *proto = tsk_http_header(c->rq, "X-Forwarded-Proto");
	struct tsk_buf b = { 0 };
	struct urlq u = { &b, 0 };
	char num[32];
	json_t *s;

	if (tsk_buf_printf(&b, "%s://%s%s", proto != NULL && strcasecmp(proto, "https") == 0 ? "https" : "http",
	    host != NULL ? host : c->rq->host, c->rq->path) != 0)
		u.failed = 1;
	MHD_get_connection_values((struct MHD_Connection *)c->rq->conn, MHD_GET_ARGUMENT_KIND, put_arg, &u);
	if (page > 0) {
		snprintf(num, sizeof num, "%spage=%lld", b.len > 0 && memchr(b.p, '?', b.len) ? "&" : "?", (long long)page);
		if (tsk_buf_add(&b, num, strlen(num)) != 0)
			u.failed = 1;
	}
	s = u.failed || b.failed ? json_null() : json_stringn(b.p, b.len);
	tsk_buf_free(&b);
	return s != NULL ? s : json_null();
}

/* The page's number, its next and previous links (new references): 1, or 0 after answering 404 (a page
 * past the last one). */
static int
page_links(struct tsk_api_ctx *c, int64_t count, json_t **next, json_t **prev)
{
	int64_t offset = 0, page;

	tsk_api_page(c, &offset);
	page = offset / TSK_API_PAGE_SIZE + 1;
	if (page > 1 && offset >= count) {
		tsk_api_detail(c, 404, "Página inválida.");
		return 0;
	}
	/* DRF: the link to page 1 carries no page argument. */
	*next = offset + TSK_API_PAGE_SIZE < count ? page_url(c, page + 1) : json_null();
	*prev = page > 1 ? page_url(c, page - 1 > 1 ? page - 1 : 0) : json_null();
	return 1;
}

void
tsk_api_page_reply_text(struct tsk_api_ctx *c, int64_t count, const char *results)
{
	struct tsk_buf b = TSK_BUF_INIT;
	json_t *next, *prev;
	char *n, *p;

	if (!page_links(c, count, &next, &prev))
		return;
	n = json_dumps(next, JSON_ENCODE_ANY);
	p = json_dumps(prev, JSON_ENCODE_ANY);
	json_decref(next);
	json_decref(prev);
	if (n != NULL && p != NULL)
		tsk_buf_printf(&b, "{\"count\":%lld,\"next\":%s,\"previous\":%s,\"results\":%s}", (long long)count, n, p,
		    results);
	free(n);
	free(p);
	tsk_api_text(c, 200, n != NULL && p != NULL ? tsk_buf_take(&b) : NULL);
	tsk_buf_free(&b);
}

void
tsk_api_page_reply(struct tsk_api_ctx *c, int64_t count, json_t *results)
{
	json_t *next, *prev;

	if (results == NULL) {
		tsk_api_detail(c, 500, "out of memory");
		return;
	}
	if (!page_links(c, count, &next, &prev)) {
		json_decref(results);
		return;
	}
	tsk_api_json(c, 200, json_pack("{s:I, s:o, s:o, s:o}", "count", (json_int_t)count, "next", next, "previous",
	    prev, "results", results));
}
