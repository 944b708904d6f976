/*
 * The HTTP daemon behind tsk-httpd: libmicrohttpd with its own thread pool (epoll), one PostgreSQL
 * connection per worker thread, routing by Host, and the endpoints GET /health, GET /metrics and
 * POST /ingest. Library code: it returns statuses and fills error buffers; warnings go to core/log and
 * the access log to the caller's callback.
 *
 * Routing (tsk_http_route): the Host header without its port and without a leading "www." is
 *   - one of public_hosts (case-insensitive): the public site (/health, /metrics, /ingest, and the
 *     authentication endpoints below for the public site's accounts);
 *   - a domain of a tenant (public.domain): that tenant's site; /ops/ and /admin/ there are 404, the
 *     authentication endpoints (/api/auth/login/, token/refresh/, logout/, /api/users/me/ and its
 *     change-password/: lib/http/auth.c, tokens bound to the tenant) answer first, and the rest of its
 *     API (/api/...) is where authenticated handlers plug in (tsk_http_tenant_fn);
 *   - anything else: 404.
 *
 * Threads: each MHD worker thread owns one slot (a sink, and through it one PostgreSQL connection,
 * reconnected on failure). Statements are per transaction (SET LOCAL), so nothing of one request's
 * tenant is left on the connection for the next. /ingest hands each parsed message to a committer
 * thread that writes the messages of all waiting requests in one transaction (group commit, its own
 * connection) and answers each only after that COMMIT, with its own counts; while PostgreSQL is down
 * the message is committed to the daemon's sqlite spool instead (202 "queued") and a flusher thread
 * moves it to PostgreSQL later.
 */
#ifndef TSK_HTTP_H
#define TSK_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "notify/mail.h"

struct tsk_http;
struct tsk_http_account;
struct tsk_conf;

/* One access log line (without a newline), for the caller to write where it wants. */
typedef void (*tsk_http_access_fn)(void *arg, const char *line);

/* What a request looks like to a handler plugged in from outside (auth, the tenant API). */
struct tsk_http_request {
	const char *method, *path;
	const char *host;          /* normalized: no port, no leading www. */
	const char *tenant;        /* slug of the tenant host, NULL on the public site */
	const char *body;          /* NUL-terminated copy of the body (may hold NULs: use body_len) */
	size_t body_len;
	const char *remote;        /* the client's address ("" when unknown) */
	void *conn;                /* the MHD connection, for tsk_http_header */
	const char *web_root;      /* the static files' directory (opts.web_root), or NULL */
	const struct tsk_mail_conf *mail; /* the daemon's mail server, NULL when none is configured */
	const char *frontend_url;  /* base of the links in mail (invites, password resets); never NULL */
	struct tsk_http_account *account; /* the account services (lib/http/account.h), for the API */
};
/* A request header (case-insensitive name), or NULL. */
const char *tsk_http_header(const struct tsk_http_request *rq, const char *name);
/* A cookie of the request, or NULL. */
const char *tsk_http_cookie(const struct tsk_http_request *rq, const char *name);

/* A handler's answer: status and a body it owns (malloc'd; freed by the daemon), content type. */
struct tsk_http_reply {
	int status;
	char *body;
	size_t len;
	const char *content_type;  /* NULL: application/json */
	char *headers;             /* NULL, or more response headers: "Name: value\n" lines (malloc'd; freed
	                            * by the daemon), e.g. Set-Cookie, Retry-After, WWW-Authenticate */
	struct tsk_http_stream *stream; /* NULL, or a streamed body (below): body and len are then unused */
};
/* Appends a "name: value" header to reply->headers. 0, or -1 when out of memory. */
int tsk_http_reply_header(struct tsk_http_reply *reply, const char *name, const char *value);

/*
 * A streamed body (stream.c), for answers of any size in constant memory (CSV exports): a thread of its
 * own runs the producer, whose writes go through a fixed ring buffer to the client as libmicrohttpd
 * sends it (chunked). The producer's write blocks while the ring is full, so the producer runs at the
 * client's pace; when the client goes away the write fails (-1), cancel is called from the daemon's
 * thread (it may interrupt a statement: PQcancel), and the producer should return soon. Then the
 * daemon joins the thread and calls free. The status and headers are sent before the first byte: a
 * failure after that cuts the body short (the chunked encoding is not ended), so a client can tell.
 */
struct tsk_http_stream;
struct tsk_http_producer {
	int (*run)(void *arg, struct tsk_http_stream *s); /* TSK_OK, or a failure (the body is cut short) */
	void (*cancel)(void *arg);                        /* may be NULL; called from another thread */
	void (*free)(void *arg);                          /* may be NULL; after run has returned */
};
/* Sets reply to stream status with content_type, the producer starting now on arg. TSK_OK; else
 * TSK_ETEMP (too many streams at once) or TSK_EFAIL, and nothing was started (arg is not freed). */
int tsk_http_reply_stream(struct tsk_http_reply *reply, int status, const char *content_type,
    const struct tsk_http_producer *p, void *arg, char *err, size_t errlen);
/* From the producer: n bytes to the client. 0, or -1 when the client has gone. */
int tsk_http_stream_write(struct tsk_http_stream *s, const char *p, size_t n);
/*
 * Hook for the tenant hosts' API (authentication and the JSON API are built on it): called for every
 * request on a tenant host that is not /ops/ or /admin/, with the worker's database connection.
 * Returns 1 when it filled *reply, 0 to let the daemon answer 404.
 */
typedef int (*tsk_http_tenant_fn)(void *arg, const struct tsk_http_request *rq, void *pgconn,
    struct tsk_http_reply *reply);

/*
 * Hook for the staff panel (lib/panel/): called for every request under /ops/ on the public host, with the
 * worker's database connection and the current jwt_secret (valid for the call). Returns 1 when it
 * filled *reply, 0 to let the daemon answer 404.
 */
typedef int (*tsk_http_ops_fn)(void *arg, const struct tsk_http_request *rq, void *pgconn, const char *jwt_secret,
    struct tsk_http_reply *reply);

/*
 * Hook for per-tenant ingest tokens (the shared ingest_secret is always accepted): called for a POST
 * /ingest whose x-device-token is not the shared secret, with the x-tenant header as sent (may be
 * NULL) and the token. Returns 1 to accept it. It runs at check 2, before the body is looked at, on
 * the worker's thread (with its database connection, which may be NULL while the database is down):
 * it must compare in constant time and answer the same for an unknown tenant as for a wrong token.
 */
typedef int (*tsk_http_ingest_token_fn)(void *arg, const char *tenant, const char *token, void *pgconn);

/* All-zero means the defaults. */
struct tsk_http_opts {
	const char *listen;          /* "ADDR:PORT", "[v6]:PORT" or ":PORT"; NULL: 127.0.0.1:8080 */
	const char *dsn;             /* PostgreSQL; "" or NULL: the PG* environment */
	unsigned workers;            /* MHD worker threads, each with its connection; 0: 4 */
	const char *spool_path;      /* the daemon's own spool (required) */
	uint64_t spool_max_bytes;    /* 0: 1 GiB */
	size_t ingest_body_max;      /* POST /ingest; 0: 1 MiB */
	size_t body_max;             /* any other request; 0: 64 KiB */
	size_t header_max;           /* memory per connection for the request line and headers; 0: 32 KiB */
	unsigned timeout_s;          /* a connection idle this long is closed; 0: 30 */
	unsigned deadline_s;         /* a request (headers and body) not received whole this long after its
	                              * connection was accepted, or the previous answer on it sent, is cut
	                              * off however steadily it trickles; 0: 60 */
	unsigned max_conns;          /* 0: 10000 */
	unsigned max_conns_per_addr; /* connections open at once from one peer address; 0: no limit (the peer,
	                              * not the X-Forwarded-For address: behind a proxy, leave it 0) */
	const char *ingest_stats;    /* a running tsk-ingest's stats file (SPOOL.stats), or NULL */
	const char *mqtt_url;        /* tsk-ingest's broker: GET /health reports whether it can be reached
	                              * (a TCP connect, at most one every 2 s); NULL or "": not checked */
	tsk_http_access_fn access;   /* NULL: no access log */
	void *access_arg;
	tsk_http_tenant_fn tenant_api; /* NULL: every tenant path is 404 */
	void *tenant_api_arg;
	tsk_http_ops_fn ops;         /* NULL: /ops/ is 404 on the public host too */
	void *ops_arg;
	tsk_http_ingest_token_fn ingest_token; /* NULL: only the shared ingest_secret */
	void *ingest_token_arg;
	/* Authentication (/api/auth/, /api/users/me/ on tenant hosts and public hosts): required. */
	const char *jwt_secret;      /* at least TSK_JWT_SECRET_MIN bytes (registry/jwt.h) */
	int cookie_secure;           /* Secure on the cookies (behind a TLS proxy) */
	double login_burst, login_per_minute;                 /* failed logins per account; 0: 5, 1 */
	double login_addr_burst, login_addr_per_minute;       /* failed logins per address; 0: 20, 10 */
	size_t login_max_keys;       /* accounts and addresses remembered by each limiter; 0: 65536 */
	/* The directory of the files served under /api/docs/static/ (Swagger UI in swagger-ui/, ReDoc in
	 * redoc/); NULL: none (they are 404). */
	const char *web_root;
	/* Mail (team invites, password resets): mail.url NULL or "" sends none (the invite says so; reset
	 * requests are answered the same). The strings are copied.
	 * A request's worker sends it, waiting for the server (at most mail.timeout_s). */
	struct tsk_mail_conf mail;
	const char *frontend_url;    /* the frontend, for the links in mail; NULL: http://localhost:5173 */
	/* The configuration the account endpoints read the rest of their settings from at start
	 * (lib/http/account.h: the avatar store, the reset mail limits; password-reset mail goes through
	 * mail and frontend_url above); NULL: the defaults (no avatars). */
	const struct tsk_conf *conf;
};

/* A tsk_http_ingest_token_fn for the tenants' ingest tokens (`tsk-tenant token add SLUG --ingest`):
 * tsk_apitoken_verify for POST /ingest (arg unused). */
int tsk_http_ingest_token_db(void *arg, const char *tenant, const char *token, void *pgconn);

/* The settings SIGHUP may change while the daemon runs. Strings are copied. */
struct tsk_http_settings {
	const char *public_hosts;    /* comma-separated; NULL: "localhost,api" */
	const char *ingest_secret;   /* NULL or "": every /ingest request is 401 */
	int access_json;             /* access log lines as JSON objects */
	const char *trusted_proxies; /* addresses and CIDRs whose X-Forwarded-For is believed (see
	                              * tsk_http_client_addr); NULL or "": none, the header is ignored */
	const char *jwt_secret;      /* tsk_http_reload only (tsk_http_start takes opts->jwt_secret): a new key
	                              * for the login tokens, so every token signed with the old one is
	                              * refused; NULL keeps the current one */
};

/* Opens the spool, starts its flusher and the daemon. TSK_OK, TSK_EINVAL (bad listen address),
 * TSK_ETEMP (spool locked by another process), TSK_EFAIL (cannot bind, spool unusable). */
int tsk_http_start(const struct tsk_http_opts *opts, const struct tsk_http_settings *set, struct tsk_http **out,
    char *err, size_t errlen);
/* The TCP port it listens on (useful with port 0). */
unsigned tsk_http_port(const struct tsk_http *h);
/* Replaces the reloadable settings. TSK_OK, TSK_EINVAL (a bad jwt_secret or trusted_proxies) or TSK_EFAIL
 * (out of memory); on an error the old settings stay, all of them. */
int tsk_http_reload(struct tsk_http *h, const struct tsk_http_settings *set, char *err, size_t errlen);
/*
 * Graceful stop: stops accepting connections, lets the requests in flight finish (until deadline_us on
 * the tsk_now_us() clock), stops the workers, then flushes the spool into PostgreSQL for what is left
 * of the time. TSK_OK; TSK_ETEMP when requests were cut off or messages stay spooled for the next run
 * (nothing is lost: they are in the spool file).
 */
int tsk_http_stop(struct tsk_http *h, int64_t deadline_us, char *err, size_t errlen);
/* Frees (stopping first, without waiting, if tsk_http_stop was not called). */
void tsk_http_free(struct tsk_http *h);

/* ---- pieces with no daemon, for tests and other front ends -------------------------------------- */

/* The Host header as routing sees it: port stripped, a leading "www." removed, lower case. A host that
 * is empty or holds other bytes than letters, digits, '-', '.', ':' and brackets is -1. out holds
 * outlen bytes (256 is enough for any valid host). */
int tsk_http_host_normalize(const char *host, char *out, size_t outlen);
/* 1 when the normalized host is one of the comma-separated names (spaces ignored, case-insensitive). */
int tsk_http_host_in_list(const char *host, const char *list);

/* An address or a network of trusted_proxies (IPv4 kept as IPv4-mapped IPv6, bits counted on that). */
struct tsk_http_cidr {
	unsigned char addr[16];
	int bits;
};
/* Parses a comma-separated list of addresses and CIDRs (10.0.0.0/8, ::1, fd00::/8; spaces ignored;
 * "" or NULL is an empty list). TSK_OK with *out (malloc'd, NULL when empty) and *n, or TSK_EINVAL. */
int tsk_http_proxies_parse(const char *list, struct tsk_http_cidr **out, size_t *n, char *err, size_t errlen);
/*
 * The client's address: the peer's, unless the peer is one of the n trusted proxies and xff (the
 * X-Forwarded-For values, comma-separated, in the order received) says more; then, walking xff from the
 * right, the first address that is not a trusted proxy (or, when all are, the leftmost; an entry that
 * is no address stops the walk at the last hop believed). out holds outlen bytes (INET6_ADDRSTRLEN is
 * enough). 1 when the address came from xff, else 0.
 */
int tsk_http_client_addr(const struct tsk_http_cidr *nets, size_t n, const char *peer, const char *xff, char *out,
    size_t outlen);

#endif
