/*
 * The daemon: libmicrohttpd's thread pool (epoll), the request lifecycle (body limits enforced while
 * receiving), routing by Host, the access log, and the graceful stop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/text.h"
#include "core/time.h"
#include "core/tsk.h"
#include "http/account.h"
#include "http/api.h"
#include "http/http_impl.h"
#include "registry/tenant.h"

#define DEFAULT_LISTEN "127.0.0.1:8080"
#define DEFAULT_WORKERS 4
#define DEFAULT_INGEST_MAX (1024 * 1024)
#define DEFAULT_BODY_MAX (64 * 1024)
#define DEFAULT_HEADER_MAX (32 * 1024)
#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_DEADLINE_S 60
#define DEFAULT_MAX_CONNS 10000
#define DEFAULT_SPOOL_MAX (UINT64_C(1) << 30)
#define DEFAULT_PUBLIC "localhost,api"
/* A body over its limit is read and thrown away (so the client gets its 413) up to this many times
 * the limit; past that the connection is closed. */
#define DISCARD_FACTOR 4

/* Per request (MHD's con_cls). */
struct req {
	int64_t start_us;
	int route;
	size_t limit;
	int too_big;
	uint64_t discarded;
	struct tsk_buf body;
	char method[16];
	char *path;
	char tenant[TSK_SLUG_MAX + 1];
	int status;
	size_t bytes;
	char remote[INET6_ADDRSTRLEN];
	struct MHD_Connection *conn;
	struct tsk_http_ingest_state *ing; /* POST /ingest waiting for the committer (suspended) */
};

/* The committer wrote this request's message: let MHD call the handler again to answer. */
static void
resume(void *arg)
{
	struct req *r = arg;

	MHD_resume_connection(r->conn);
}

/* ---- worker slots -------------------------------------------------------------------------------- */

struct slot *
tsk_http_slot(struct tsk_http *h)
{
	struct slot *s = pthread_getspecific(h->key);
	unsigned i;

	if (s != NULL)
		return s;
	i = atomic_fetch_add(&h->next_slot, 1);
	if (i >= h->nslots)
		return NULL;
	s = &h->slots[i];
	pthread_setspecific(h->key, s);
	return s;
}

void *
tsk_http_db(struct tsk_http *h, struct slot *s)
{
	char err[TSK_ERRLEN];
	int64_t now;
	PGconn *db;

	(void)h;
	db = tsk_sink_db(s->sink);
	if (db != NULL && PQstatus(db) == CONNECTION_OK && PQtransactionStatus(db) == PQTRANS_IDLE)
		return db;
	if (db != NULL)
		tsk_sink_disconnect(s->sink);
	now = tsk_now_us();
	if (now < s->retry_at_us)
		return NULL;
	if (tsk_sink_connect(s->sink, err, sizeof err) != TSK_OK) {
		s->retry_at_us = now + TSK_US_PER_S;
		atomic_store(&s->up, 0);
		if (!s->warned++)
			tsk_warn("database unavailable: %s", err);
		return NULL;
	}
	if (s->warned)
		tsk_warn("database is back");
	s->warned = 0;
	atomic_store(&s->up, 1);
	return tsk_sink_db(s->sink);
}

void
tsk_http_db_failed(struct slot *s)
{
	PGconn *db = tsk_sink_db(s->sink);

	if (db == NULL || PQstatus(db) != CONNECTION_OK) {
		tsk_sink_disconnect(s->sink);
		atomic_store(&s->up, 0);
	}
}

/* ---- replies ------------------------------------------------------------------------------------- */

void
tsk_http_json(struct tsk_http_reply *r, int status, json_t *obj)
{
	r->status = status;
	r->content_type = "application/json";
	r->body = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
	r->len = r->body != NULL ? strlen(r->body) : 0;
	json_decref(obj);
	if (r->body == NULL) {
		r->status = 500;
		r->body = strdup("{\"error\":\"out of memory\"}");
		r->len = r->body != NULL ? strlen(r->body) : 0;
	}
}

void
tsk_http_error(struct tsk_http_reply *r, int status, const char *msg)
{
	tsk_http_json(r, status, json_pack("{s:s}", "error", msg));
}

static void
text_reply(struct tsk_http_reply *r, int status, const char *text)
{
	r->status = status;
	r->content_type = "text/plain; charset=utf-8";
	r->body = strdup(text);
	r->len = r->body != NULL ? strlen(r->body) : 0;
}

const char *
tsk_http_header(const struct tsk_http_request *rq, const char *name)
{
	return MHD_lookup_connection_value((struct MHD_Connection *)rq->conn, MHD_HEADER_KIND, name);
}

const char *
tsk_http_cookie(const struct tsk_http_request *rq, const char *name)
{
	return MHD_lookup_connection_value((struct MHD_Connection *)rq->conn, MHD_COOKIE_KIND, name);
}

int
tsk_http_reply_header(struct tsk_http_reply *reply, const char *name, const char *value)
{
	size_t old = reply->headers != NULL ? strlen(reply->headers) : 0, n = strlen(name) + strlen(value) + 3;
	char *h;

	/* A header value never holds a line break (it would split the answer). */
	if (strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL)
		return -1;
	if ((h = realloc(reply->headers, old + n + 1)) == NULL)
		return -1;
	snprintf(h + old, n + 1, "%s: %s\n", name, value);
	reply->headers = h;
	return 0;
}

/* ---- Host --------------------------------------------------------------------------------------- */

int
tsk_http_host_normalize(const char *host, char *out, size_t outlen)
{
	size_t n, i;
	const char *end;

	if (host == NULL || outlen == 0)
		return -1;
	if (host[0] == '[') {
		/* [v6]:port */
		if ((end = strchr(host, ']')) == NULL || (end[1] != '\0' && end[1] != ':'))
			return -1;
		n = (size_t)(end - host) + 1;
	} else {
		end = strchr(host, ':');
		n = end != NULL ? (size_t)(end - host) : strlen(host);
		if (end != NULL && strchr(end + 1, ':') != NULL)
			return -1;
	}
	if (end != NULL && *end == ':' ) {
		/* the port: digits only */
		const char *p = end + 1;
		if (*p == '\0')
			return -1;
		for (; *p; p++)
			if (*p < '0' || *p > '9')
				return -1;
	} else if (host[0] == '[' && end[1] == ':') {
		const char *p = end + 2;
		if (*p == '\0')
			return -1;
		for (; *p; p++)
			if (*p < '0' || *p > '9')
				return -1;
	}
	if (n >= 4 && strncasecmp(host, "www.", 4) == 0 && n > 4) {
		host += 4;
		n -= 4;
	}
	if (n == 0 || n >= outlen)
		return -1;
	for (i = 0; i < n; i++) {
		char c = host[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '[' ||
		    c == ']' || c == ':'))
			return -1;
		out[i] = c;
	}
	out[n] = '\0';
	return 0;
}

int
tsk_http_host_in_list(const char *host, const char *list)
{
	size_t hl = strlen(host);
	const char *p = list;

	while (p != NULL && *p) {
		const char *e = strchr(p, ',');
		size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
		const char *a = p;
		while (n > 0 && (*a == ' ' || *a == '\t')) {
			a++;
			n--;
		}
		while (n > 0 && (a[n - 1] == ' ' || a[n - 1] == '\t'))
			n--;
		if (n == hl && n > 0 && strncasecmp(a, host, n) == 0)
			return 1;
		p = e != NULL ? e + 1 : NULL;
	}
	return 0;
}

/* ---- routing ------------------------------------------------------------------------------------ */

static void
method_not_allowed(struct tsk_http_reply *out, const char *method)
{
	char msg[96];

	snprintf(msg, sizeof msg, "Method \"%.32s\" not allowed.", method);
	tsk_http_json(out, 405, json_pack("{s:s}", "detail", msg));
}

/* tsk_tenant_by_domain through the worker's cache. */
static int
host_lookup(struct slot *s, PGconn *db, const char *host, char *slug, char *err, size_t errlen)
{
	int64_t now = tsk_now_us();
	struct host_entry *e;
	int rc;

	for (unsigned i = 0; i < HOST_CACHE; i++) {
		e = &s->hosts[i];
		if (e->expires_us > now && strcmp(e->host, host) == 0) {
			if (e->slug[0] == '\0')
				return tsk_seterr(err, errlen, TSK_ENOTFOUND, "no tenant has the domain %s", host);
			memcpy(slug, e->slug, sizeof e->slug);
			return TSK_OK;
		}
	}
	rc = tsk_tenant_by_domain(db, host, slug, err, errlen);
	if (rc != TSK_OK && rc != TSK_ENOTFOUND)
		return rc;
	e = &s->hosts[s->next_host++ % HOST_CACHE];
	snprintf(e->host, sizeof e->host, "%s", host);
	snprintf(e->slug, sizeof e->slug, "%s", rc == TSK_OK ? slug : "");
	e->expires_us = now + HOST_TTL_US;
	return rc;
}

/* Fills *out, or returns 1 when the request was suspended to wait for the committer. */
static int
dispatch(struct tsk_http *h, struct MHD_Connection *c, struct req *r, struct tsk_http_reply *out,
    const char **allow, const char **retry_after)
{
	struct tsk_http_request rq;
	struct slot *s = tsk_http_slot(h);
	const char *rawhost = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	char host[256], err[TSK_ERRLEN];
	int pub;

	memset(&rq, 0, sizeof rq);
	rq.method = r->method;
	rq.path = r->path;
	rq.conn = c;
	rq.body = tsk_buf_cstr(&r->body);
	rq.body_len = r->body.len;
	rq.remote = r->remote;
	rq.web_root = h->o.web_root;
	rq.mail = h->o.mail.url != NULL && h->o.mail.url[0] != '\0' ? &h->o.mail : NULL;
	rq.frontend_url = h->o.frontend_url;
	rq.account = h->account;
	if (rq.body == NULL)
		rq.body = "";
	if (s == NULL) {
		tsk_http_error(out, 503, "no worker slot");
		return 0;
	}
	if (tsk_http_host_normalize(rawhost, host, sizeof host) != 0) {
		tsk_http_error(out, 404, "Not found");
		return 0;
	}
	rq.host = host;
	pthread_rwlock_rdlock(&h->lock);
	pub = tsk_http_host_in_list(host, h->public_hosts);
	pthread_rwlock_unlock(&h->lock);
	if (pub) {
		int get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
		if (strcmp(r->path, "/health") == 0) {
			r->route = RT_HEALTH;
			if (get)
				tsk_http_health(h, s, out);
			else
				*allow = "GET, HEAD", method_not_allowed(out, r->method);
		} else if (strcmp(r->path, "/metrics") == 0) {
			r->route = RT_METRICS;
			if (get)
				tsk_http_metrics(h, out);
			else
				*allow = "GET, HEAD", method_not_allowed(out, r->method);
		} else if (strcmp(r->path, "/ingest") == 0) {
			r->route = RT_INGEST;
			if (strcmp(r->method, "POST") == 0)
				return tsk_http_ingest(h, s, &rq, r->tenant, out, retry_after, resume, r, &r->ing) == 0;
			else
				*allow = "POST", method_not_allowed(out, r->method);
		} else if (h->auth != NULL && tsk_http_auth_path(r->path)) {
			/* The public site's accounts (staff): the same endpoints, with no tenant. */
			PGconn *db = tsk_http_db(h, s);
			if (db == NULL) {
				tsk_http_json(out, 503, json_pack("{s:s}", "detail", "database unavailable"));
				*retry_after = "5";
				return 0;
			}
			tsk_http_auth_route(h->auth, &rq, db, out);
		} else if (strncmp(r->path, "/api/", 5) == 0) {
			/* The API's public-host routes (password reset, invites, registration). */
			PGconn *db = tsk_http_db(h, s);
			if (db == NULL) {
				tsk_http_json(out, 503, json_pack("{s:s}", "detail", "database unavailable"));
				*retry_after = "5";
				return 0;
			}
			if (!tsk_http_api_route(h->auth, &rq, db, out))
				tsk_http_error(out, 404, "Not found");
		} else if (h->o.ops != NULL && h->auth != NULL && (strncmp(r->path, "/ops/", 5) == 0 || strcmp(r->path, "/ops") == 0)) {
			/* The staff panel (lib/panel/). */
			PGconn *db = tsk_http_db(h, s);
			if (db == NULL) {
				text_reply(out, 503, "database unavailable\n");
				*retry_after = "5";
				return 0;
			}
			if (!h->o.ops(h->o.ops_arg, &rq, db, tsk_http_auth_secret(h->auth), out))
				tsk_http_error(out, 404, "Not found");
		} else {
			tsk_http_error(out, 404, "Not found");
		}
		return 0;
	}
	/* A tenant's host. */
	PGconn *db = tsk_http_db(h, s);
	if (db == NULL) {
		tsk_http_error(out, 503, "database unavailable");
		*retry_after = "5";
		return 0;
	}
	int rc = host_lookup(s, db, host, r->tenant, err, sizeof err);
	if (rc == TSK_ENOTFOUND || rc == TSK_EINVAL) {
		r->tenant[0] = '\0';
		tsk_http_error(out, 404, "Not found");
		return 0;
	}
	if (rc != TSK_OK) {
		r->tenant[0] = '\0';
		tsk_http_db_failed(s);
		tsk_warn("host %s: %s", host, err);
		tsk_http_error(out, 503, "database unavailable");
		*retry_after = "5";
		return 0;
	}
	rq.tenant = r->tenant;
	r->route = RT_TENANT;
	/* The original's middleware: the admin and the ops panel exist on the public site only. */
	if (strncmp(r->path, "/admin/", 7) == 0 || strcmp(r->path, "/admin") == 0) {
		text_reply(out, 404, "Admin is only accessible via public schema (localhost)\n");
		return 0;
	}
	if (strncmp(r->path, "/ops/", 5) == 0 || strcmp(r->path, "/ops") == 0) {
		text_reply(out, 404, "Ops panel is only accessible via public schema (localhost)\n");
		return 0;
	}
	if (tsk_http_auth_route(h->auth, &rq, db, out))
		return 0;
	if (tsk_http_api_route(h->auth, &rq, db, out))
		return 0;
	if (h->o.tenant_api != NULL && h->o.tenant_api(h->o.tenant_api_arg, &rq, db, out))
		return 0;
	tsk_http_json(out, 404, json_pack("{s:s}", "detail", "Not found."));
	return 0;
}

/* ---- metrics bookkeeping and the access log ----------------------------------------------------- */

const int tsk_http_codes[HTTP_NCODES - 1] = { 200, 202, 204, 301, 304, 400, 401, 403, 404, 405, 408, 413,
	415, 431, 500, 503 };
const int64_t tsk_http_bucket_us[HTTP_NBUCKETS] = { 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
	250000, 500000, 1000000, 2500000 };

static int
code_index(int status)
{
	for (int i = 0; i < HTTP_NCODES - 1; i++)
		if (tsk_http_codes[i] == status)
			return i;
	return HTTP_NCODES - 1;
}

/* The path for a log line: bytes outside printable ASCII, spaces and quotes as %XX. */
static void
log_path(const char *p, char *out, size_t outlen)
{
	size_t o = 0;

	for (; p != NULL && *p && o + 4 < outlen; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\' || ch == '%')
			o += (size_t)snprintf(out + o, outlen - o, "%%%02X", ch);
		else
			out[o++] = (char)ch;
	}
	out[o] = '\0';
}

static void
access_log(struct tsk_http *h, struct req *r, int64_t us)
{
	char path[1024], ts[TSK_TIME_STRLEN], line[1400];
	int json;

	if (h->o.access == NULL)
		return;
	pthread_rwlock_rdlock(&h->lock);
	json = h->access_json;
	pthread_rwlock_unlock(&h->lock);
	log_path(r->path, path, sizeof path);
	tsk_time_format(tsk_now_us(), ts);
	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:s?}", "time", ts, "remote", r->remote,
		    "method", r->method, "path", path, "status", r->status, "bytes", (json_int_t)r->bytes, "us",
		    (json_int_t)us, "tenant", r->tenant[0] ? r->tenant : NULL);
		char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
		if (s != NULL)
			h->o.access(h->o.access_arg, s);
		free(s);
		json_decref(o);
		return;
	}
	snprintf(line, sizeof line, "%s %s %s %s %d %zu %lld %s", ts, r->remote[0] ? r->remote : "-", r->method,
	    path, r->status, r->bytes, (long long)us, r->tenant[0] ? r->tenant : "-");
	h->o.access(h->o.access_arg, line);
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct tsk_http *h = cls;
	struct req *r = *con_cls;
	int64_t us;
	int b;

	if (r == NULL) {
		tsk_http_deadline_next(c);
		return;
	}
	*con_cls = NULL;
	us = tsk_now_us() - r->start_us;
	if (tsk_http_deadline_next(c) && r->status == 0)
		r->status = 408; /* not received whole within request_deadline: cut off */
	else if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->status == 0)
		r->status = 499; /* closed before an answer was sent (nginx's code for it) */
	atomic_fetch_add(&h->req[r->route][code_index(r->status)], 1);
	for (b = 0; b < HTTP_NBUCKETS && us > tsk_http_bucket_us[b]; b++)
		;
	if (b < HTTP_NBUCKETS)
		atomic_fetch_add(&h->hist[r->route][b], 1);
	atomic_fetch_add(&h->lat_sum_us[r->route], (uint64_t)us);
	atomic_fetch_add(&h->lat_count[r->route], 1);
	access_log(h, r, us);
	tsk_http_ingest_free(r->ing);
	tsk_buf_free(&r->body);
	free(r->path);
	free(r);
	atomic_fetch_sub(&h->inflight, 1);
}

/* ---- the access handler ------------------------------------------------------------------------- */

static enum MHD_Result
send_reply(struct tsk_http *h, struct MHD_Connection *c, struct req *r, struct tsk_http_reply *rep,
    const char *allow, const char *retry_after)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (rep->body == NULL && rep->status != 0)
		rep->len = 0;
	if (rep->stream != NULL) {
		/* A streamed body (stream.c): the response owns the stream from here on. */
		free(rep->body);
		rep->body = NULL;
		rep->len = 0;
		resp = tsk_http_stream_response(rep->stream, c);
		rep->stream = NULL;
	} else {
		resp = MHD_create_response_from_buffer(rep->len, rep->body != NULL ? rep->body : (void *)"",
		    rep->body != NULL ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	}
	if (resp == NULL) {
		free(rep->body);
		free(rep->headers);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    rep->content_type != NULL ? rep->content_type : "application/json");
	if (allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	if (retry_after != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
	for (char *line = rep->headers, *nl; line != NULL && *line; line = nl + 1) {
		char *colon = strchr(line, ':');
		if ((nl = strchr(line, '\n')) == NULL)
			break;
		*nl = '\0';
		if (colon != NULL && colon < nl) {
			*colon = '\0';
			MHD_add_response_header(resp, line, colon + 2);
		}
	}
	free(rep->headers);
	rep->headers = NULL;
	if (atomic_load(&h->stopping))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	r->status = rep->status;
	r->bytes = rep->len;
	ret = MHD_queue_response(c, (unsigned)rep->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Every X-Forwarded-For header, joined with commas in the order received (a proxy may add a header of
 * its own instead of appending to the one it got). */
static enum MHD_Result
xff_value(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct tsk_buf *b = cls;

	(void)kind;
	if (key != NULL && value != NULL && strcasecmp(key, "X-Forwarded-For") == 0) {
		if (b->len > 0)
			tsk_buf_puts(b, ",");
		tsk_buf_puts(b, value);
	}
	return MHD_YES;
}

/* remote: the peer's address, replaced by the one X-Forwarded-For gives when the peer is a trusted
 * proxy (trusted_proxies); the header of anyone else is ignored. */
static void
forwarded_for(struct tsk_http *h, struct MHD_Connection *c, char *remote, size_t len)
{
	struct tsk_buf xff = TSK_BUF_INIT;
	char addr[INET6_ADDRSTRLEN];

	pthread_rwlock_rdlock(&h->lock);
	if (h->nproxies > 0) {
		MHD_get_connection_values(c, MHD_HEADER_KIND, xff_value, &xff);
		if (xff.len > 0 && tsk_buf_cstr(&xff) != NULL &&
		    tsk_http_client_addr(h->proxies, h->nproxies, remote, tsk_buf_cstr(&xff), addr, sizeof addr))
			snprintf(remote, len, "%s", addr);
	}
	pthread_rwlock_unlock(&h->lock);
	tsk_buf_free(&xff);
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
    const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct tsk_http *h = cls;
	struct req *r = *con_cls;
	struct tsk_http_reply rep;
	const char *allow = NULL, *retry_after = NULL;

	(void)version;
	if (r == NULL) {
		const char *cl;
		const union MHD_ConnectionInfo *ci;

		if ((r = calloc(1, sizeof *r)) == NULL || (r->path = strdup(url != NULL ? url : "")) == NULL) {
			free(r);
			return MHD_NO;
		}
		atomic_fetch_add(&h->inflight, 1);
		*con_cls = r;
		r->conn = c;
		r->start_us = tsk_now_us();
		r->route = RT_OTHER;
		snprintf(r->method, sizeof r->method, "%s", method);
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci != NULL && ci->client_addr != NULL) {
			const struct sockaddr *sa = ci->client_addr;
			if (sa->sa_family == AF_INET)
				inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, r->remote, sizeof r->remote);
			else if (sa->sa_family == AF_INET6)
				inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, r->remote, sizeof r->remote);
		}
		forwarded_for(h, c, r->remote, sizeof r->remote);
		r->limit = strcmp(method, "POST") == 0 && strcmp(r->path, "/ingest") == 0 ? h->o.ingest_body_max : h->o.body_max;
		/* An avatar image is larger than any JSON body: its own limit, on its own path. */
		if (strcmp(method, "POST") == 0 && strcmp(r->path, "/api/users/me/avatar/") == 0 &&
		    r->limit < TSK_HTTP_AVATAR_BODY_MAX)
			r->limit = TSK_HTTP_AVATAR_BODY_MAX;
		/* A declared length over the limit is refused before a byte of the body is read. */
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL) {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(cl, &end, 10);
			if (errno != 0 || end == cl || n > r->limit) {
				memset(&rep, 0, sizeof rep);
				tsk_http_error(&rep, 413, "Request body too large");
				atomic_fetch_add(&h->too_large, 1);
				tsk_http_deadline_received(c);
				return send_reply(h, c, r, &rep, NULL, NULL);
			}
		}
		return MHD_YES;
	}
	if (*upload_size > 0) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (!r->too_big && r->body.len + n > r->limit) {
			r->too_big = 1;
			atomic_fetch_add(&h->too_large, 1);
			tsk_buf_free(&r->body);
		}
		if (r->too_big) {
			r->discarded += n;
			return r->discarded > (uint64_t)r->limit * DISCARD_FACTOR ? MHD_NO : MHD_YES;
		}
		if (tsk_buf_add(&r->body, upload_data, n) != 0)
			return MHD_NO;
		return MHD_YES;
	}
	/* Received whole: from here on the request waits on us, not on the client. */
	tsk_http_deadline_received(c);
	memset(&rep, 0, sizeof rep);
	if (r->too_big) {
		tsk_http_error(&rep, 413, "Request body too large");
	} else if (r->ing != NULL) {
		/* Resumed: the committer is done with the message. */
		tsk_http_ingest_finish(h, tsk_http_slot(h), r->ing, &rep, &retry_after);
		tsk_http_ingest_free(r->ing);
		r->ing = NULL;
	} else if (dispatch(h, c, r, &rep, &allow, &retry_after)) {
		return MHD_YES; /* suspended until the committer resumes it */
	}
	return send_reply(h, c, r, &rep, allow, retry_after);
}

/*
 * libmicrohttpd percent-decodes the path and each query value in place, and a decoded NUL cuts the text
 * short: "/api/sites/%00/" would reach the route /api/sites/. Decodes as libmicrohttpd does, except
 * that %00 is kept as it is (no route and no value has a NUL), so such a path is simply unknown.
 */
static size_t
unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *w = s;
	int hi, lo;

	(void)cls;
	(void)c;
	for (const char *r = s; *r != '\0';) {
		if (r[0] == '%' && (hi = tsk_hexval(r[1])) >= 0 && (lo = tsk_hexval(r[2])) >= 0 && (hi | lo) != 0) {
			*w++ = (char)(hi * 16 + lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof line, fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	tsk_debug("libmicrohttpd: %s", line);
}

/* ---- start and stop ----------------------------------------------------------------------------- */

static int
parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sl, unsigned *port, char *err,
    size_t errlen)
{
	char host[256], *colon;
	const char *p;
	struct addrinfo hints, *ai = NULL;
	int e;

	if (strlen(listen) >= sizeof host)
		return tsk_seterr(err, errlen, TSK_EINVAL, "listen address too long");
	if ((colon = strrchr(listen, ':')) == NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "listen \"%s\": not ADDR:PORT", listen);
	p = colon + 1;
	if (*p == '\0' || strspn(p, "0123456789") != strlen(p) || strlen(p) > 5 || atoi(p) > 65535)
		return tsk_seterr(err, errlen, TSK_EINVAL, "listen \"%s\": bad port", listen);
	*port = (unsigned)atoi(p);
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	if (host[0] == '[') {
		size_t n = strlen(host);
		if (n < 2 || host[n - 1] != ']')
			return tsk_seterr(err, errlen, TSK_EINVAL, "listen \"%s\": bad address", listen);
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((e = getaddrinfo(host[0] && strcmp(host, "*") != 0 ? host : NULL, p, &hints, &ai)) != 0 || ai == NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "listen \"%s\": %s", listen, gai_strerror(e));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sl = ai->ai_addrlen;
	freeaddrinfo(ai);
	return TSK_OK;
}

static int
set_settings(struct tsk_http *h, const struct tsk_http_settings *set, char *err, size_t errlen)
{
	char *hosts = strdup(set != NULL && set->public_hosts != NULL ? set->public_hosts : DEFAULT_PUBLIC);
	char *secret = strdup(set != NULL && set->ingest_secret != NULL ? set->ingest_secret : "");
	struct tsk_http_cidr *proxies = NULL, *old_proxies;
	size_t nproxies = 0;
	int rc;

	if (hosts == NULL || secret == NULL) {
		free(hosts);
		free(secret);
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	}
	if ((rc = tsk_http_proxies_parse(set != NULL ? set->trusted_proxies : NULL, &proxies, &nproxies, err,
	    errlen)) != TSK_OK) {
		free(hosts);
		free(secret);
		return rc;
	}
	pthread_rwlock_wrlock(&h->lock);
	old_proxies = h->proxies;
	h->proxies = proxies;
	h->nproxies = nproxies;
	free(h->public_hosts);
	if (h->secret != NULL) {
		memset(h->secret, 0, strlen(h->secret));
		free(h->secret);
	}
	h->public_hosts = hosts;
	h->secret = secret;
	h->access_json = set != NULL && set->access_json;
	pthread_rwlock_unlock(&h->lock);
	free(old_proxies);
	return TSK_OK;
}

int
tsk_http_reload(struct tsk_http *h, const struct tsk_http_settings *set, char *err, size_t errlen)
{
	const char *secret = set != NULL ? set->jwt_secret : NULL;
	int rc;

	/* Everything is checked before anything changes, so a bad file leaves all the settings as they were. */
	if (secret != NULL && (rc = tsk_http_auth_check_secret(secret, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = set_settings(h, set, err, errlen)) != TSK_OK)
		return rc;
	if (secret != NULL && h->auth != NULL)
		return tsk_http_auth_set_secret(h->auth, secret, err, errlen);
	return TSK_OK;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

int
tsk_http_start(const struct tsk_http_opts *opts, const struct tsk_http_settings *set, struct tsk_http **out,
    char *err, size_t errlen)
{
	struct tsk_http *h;
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	struct tsk_spool_opts so;
	struct tsk_ingest_opts io;
	unsigned flags;
	int rc;

	*out = NULL;
	if (opts->spool_path == NULL || opts->spool_path[0] == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "no spool path");
	if ((h = calloc(1, sizeof *h)) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	h->o = *opts;
	pthread_rwlock_init(&h->lock, NULL);
	pthread_mutex_init(&h->broker_mu, NULL);
	tsk_stats_init(&h->st);
	h->listen = strdup(opts->listen != NULL ? opts->listen : DEFAULT_LISTEN);
	h->dsn = strdup(opts->dsn != NULL ? opts->dsn : "");
	h->spool_path = strdup(opts->spool_path);
	h->ingest_stats = dup_or_null(opts->ingest_stats);
	h->web_root = dup_or_null(opts->web_root);
	h->o.web_root = h->web_root;
	h->o.listen = h->listen;
	h->o.dsn = h->dsn;
	h->o.spool_path = h->spool_path;
	h->o.ingest_stats = h->ingest_stats;
	h->mail_url = dup_or_null(opts->mail.url);
	h->mail_from = dup_or_null(opts->mail.from);
	h->mail_ca_file = dup_or_null(opts->mail.ca_file);
	h->frontend_url = strdup(opts->frontend_url != NULL && opts->frontend_url[0] != '\0' ? opts->frontend_url :
	    "http://localhost:5173");
	h->o.mail.url = h->mail_url;
	h->o.mail.from = h->mail_from;
	h->o.mail.ca_file = h->mail_ca_file;
	h->o.frontend_url = h->frontend_url;
	if (h->o.workers == 0)
		h->o.workers = DEFAULT_WORKERS;
	if (h->o.ingest_body_max == 0)
		h->o.ingest_body_max = DEFAULT_INGEST_MAX;
	if (h->o.body_max == 0)
		h->o.body_max = DEFAULT_BODY_MAX;
	if (h->o.header_max == 0)
		h->o.header_max = DEFAULT_HEADER_MAX;
	if (h->o.timeout_s == 0)
		h->o.timeout_s = DEFAULT_TIMEOUT_S;
	if (h->o.deadline_s == 0)
		h->o.deadline_s = DEFAULT_DEADLINE_S;
	if (h->o.max_conns == 0)
		h->o.max_conns = DEFAULT_MAX_CONNS;
	if (h->o.spool_max_bytes == 0)
		h->o.spool_max_bytes = DEFAULT_SPOOL_MAX;
	if (h->listen == NULL || h->dsn == NULL || h->spool_path == NULL || h->frontend_url == NULL ||
	    (opts->ingest_stats != NULL && h->ingest_stats == NULL) || (opts->mail.url != NULL && h->mail_url == NULL) ||
	    (opts->mail.from != NULL && h->mail_from == NULL) || (opts->mail.ca_file != NULL && h->mail_ca_file == NULL) ||
	    (opts->web_root != NULL && h->web_root == NULL)) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto fail;
	}
	if (opts->mqtt_url != NULL && opts->mqtt_url[0] != '\0') {
		char e2[TSK_ERRLEN];
		if (tsk_mqtt_url_parse(opts->mqtt_url, &h->broker, e2, sizeof e2) != TSK_OK) {
			rc = tsk_seterr(err, errlen, TSK_EINVAL, "mqtt_url: %s", e2);
			goto fail;
		}
		h->broker_set = 1;
	}
	h->o.mqtt_url = NULL; /* parsed: the caller's string is not kept */
	if ((rc = set_settings(h, set, err, errlen)) != TSK_OK)
		goto fail;
	if ((rc = tsk_http_auth_new(opts, &h->auth, err, errlen)) != TSK_OK)
		goto fail;
	if ((rc = tsk_http_account_new(opts->conf, &h->o.mail, h->o.frontend_url, h->dsn, &h->account, err,
	    errlen)) != TSK_OK)
		goto fail;
	if ((rc = parse_listen(h->listen, &ss, &sl, &h->port, err, errlen)) != TSK_OK)
		goto fail;
	if (pthread_key_create(&h->key, NULL) != 0) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "pthread_key_create failed");
		goto fail;
	}
	h->key_made = 1;
	h->nslots = h->o.workers;
	if ((h->slots = calloc(h->nslots, sizeof *h->slots)) == NULL) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < h->nslots; i++)
		if ((rc = tsk_sink_open(h->dsn, NULL, &h->slots[i].sink, err, errlen)) != TSK_OK)
			goto fail;
	memset(&so, 0, sizeof so);
	so.max_bytes = h->o.spool_max_bytes;
	if ((rc = tsk_spool_open(h->spool_path, &so, &h->sp, err, errlen)) != TSK_OK)
		goto fail;
	memset(&io, 0, sizeof io);
	io.dsn = h->dsn;
	io.spool_max_bytes = so.max_bytes;
	if ((rc = tsk_ingest_new(h->sp, &io, &h->st, &h->ing, err, errlen)) != TSK_OK ||
	    (rc = tsk_ingest_start(h->ing, err, errlen)) != TSK_OK)
		goto fail;

	if ((rc = tsk_http_committer_start(h->dsn, &h->st, &h->committer, err, errlen)) != TSK_OK)
		goto fail;

	if ((rc = tsk_http_deadline_start((int64_t)h->o.deadline_s * TSK_US_PER_S, &h->deadline, err, errlen)) != TSK_OK)
		goto fail;

	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG |
	    MHD_ALLOW_SUSPEND_RESUME;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->d = MHD_start_daemon(flags, (uint16_t)h->port, NULL, NULL, handler, h,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)h->o.workers,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)h->o.timeout_s,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)h->o.max_conns,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)h->o.max_conns_per_addr,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)h->o.header_max,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
	    MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape, h,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, h,
	    MHD_OPTION_NOTIFY_CONNECTION, tsk_http_deadline_notify, h->deadline,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
	    MHD_OPTION_END);
	if (h->d == NULL) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "cannot listen on %s: %s", h->listen,
		    errno != 0 ? strerror(errno) : "libmicrohttpd refused to start");
		goto fail;
	}
	(void)sl;
	*out = h;
	return TSK_OK;
fail:
	tsk_http_free(h);
	return rc;
}

unsigned
tsk_http_port(const struct tsk_http *h)
{
	return h->port;
}

int
tsk_http_stop(struct tsk_http *h, int64_t deadline_us, char *err, size_t errlen)
{
	int rc = TSK_OK, stuck = 0;
	long left;

	if (h == NULL || h->stopped)
		return TSK_OK;
	atomic_store(&h->stopping, 1);
	tsk_http_stream_cancel_all(); /* streamed answers are cut short, never left suspended (stream.c) */
	if (h->d != NULL) {
		MHD_socket fd = MHD_quiesce_daemon(h->d);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
		/* Requests in flight finish; idle keep-alive connections are simply closed below. */
		while ((left = atomic_load(&h->inflight)) > 0 && tsk_now_us() < deadline_us) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		if (left > 0)
			rc = tsk_seterr(err, errlen, TSK_ETEMP, "%ld requests still in flight at the deadline", left);
		MHD_stop_daemon(h->d);
		h->d = NULL;
	}
	tsk_http_deadline_free(h->deadline);
	h->deadline = NULL;
	/* Reset mails asked for before the stop still go out, within the deadline. */
	tsk_http_account_stop(h->account, deadline_us);
	tsk_http_committer_stop(h->committer);
	h->committer = NULL;
	if (h->ing != NULL) {
		char e2[TSK_ERRLEN];
		int r2 = tsk_ingest_stop(h->ing, deadline_us, &stuck, e2, sizeof e2);
		if (stuck) {
			/* The flusher is stuck in a database call: it must not be freed under it. */
			h->ing = NULL;
			h->sp = NULL;
		}
		if (r2 != TSK_OK && rc == TSK_OK)
			rc = tsk_seterr(err, errlen, r2, "%s", e2);
	}
	h->stopped = 1;
	return rc;
}

void
tsk_http_free(struct tsk_http *h)
{
	if (h == NULL)
		return;
	if (h->d != NULL) {
		atomic_store(&h->stopping, 1);
		tsk_http_stream_cancel_all();
		MHD_stop_daemon(h->d);
	}
	tsk_http_deadline_free(h->deadline);
	tsk_http_committer_stop(h->committer);
	if (h->ing != NULL) {
		tsk_ingest_free(h->ing);
	}
	tsk_spool_close(h->sp);
	for (unsigned i = 0; h->slots != NULL && i < h->nslots; i++)
		tsk_sink_close(h->slots[i].sink);
	free(h->slots);
	if (h->key_made)
		pthread_key_delete(h->key);
	free(h->public_hosts);
	free(h->proxies);
	if (h->secret != NULL) {
		memset(h->secret, 0, strlen(h->secret));
		free(h->secret);
	}
	tsk_http_auth_free(h->auth);
	tsk_http_account_free(h->account);
	free(h->listen);
	free(h->dsn);
	free(h->spool_path);
	free(h->ingest_stats);
	free(h->web_root);
	pthread_mutex_destroy(&h->broker_mu);
	free(h->mail_url);
	free(h->mail_from);
	free(h->mail_ca_file);
	free(h->frontend_url);
	pthread_rwlock_destroy(&h->lock);
	free(h);
}
