/* Internals shared by the files of lib/http/ (not for other layers). */
#ifndef TSK_HTTP_IMPL_H
#define TSK_HTTP_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <microhttpd.h>

#include "core/buf.h"
#include "core/tsk.h"
#include "http/http.h"
#include "ingest/ingest.h"
#include "ingest/mqtt.h"
#include "ingest/sink.h"
#include "ingest/spool.h"
#include "ingest/stats.h"

/* Routes, for the metrics' labels. */
enum { RT_HEALTH, RT_METRICS, RT_INGEST, RT_TENANT, RT_OTHER, RT_N };
/* The status codes counted one by one; anything else is "other". */
#define HTTP_NCODES 17
extern const int tsk_http_codes[HTTP_NCODES - 1];
/* Latency histogram upper bounds, in microseconds. */
#define HTTP_NBUCKETS 12
extern const int64_t tsk_http_bucket_us[HTTP_NBUCKETS];

/* Host -> tenant lookups a worker remembers for HOST_TTL_US (found or not), so a tenant host's requests
 * cost no query each; a domain added or removed takes effect within that time. */
#define HOST_CACHE 64
#define HOST_TTL_US (5 * 1000000LL)
struct host_entry {
	char host[256];
	char slug[TSK_SLUG_MAX + 1];  /* "" : no tenant has this domain */
	int64_t expires_us;
};

/* One per MHD worker thread: only that thread touches the sink (and its connection). */
struct slot {
	struct host_entry hosts[HOST_CACHE];
	unsigned next_host;
	struct tsk_sink *sink;
	_Atomic int up;            /* the last use found the database up */
	int64_t retry_at_us;       /* after a failed connect, do not try again before this */
	int warned;
};

/* Group commit (commit.c): one thread writes the messages of every waiting request in one transaction. */
struct tsk_http_committer;
/* One message waiting for the committer. */
struct tsk_http_job {
	const struct tsk_reading *r;
	size_t n;
	int64_t as_of_us;
	int rc, done;
	uint64_t stored, duplicates;
	int unknown;
	struct tsk_sink_msg msg;      /* its archive row (strings borrowed); msg.id is set by the committer */
	char err[TSK_ERRLEN];
	void (*on_done)(void *arg);   /* called by the committer thread once rc and the counts are set */
	void *arg;
	struct tsk_http_job *next;
};
/* Queues j (which must stay valid until on_done has been called) and returns at once. TSK_OK, or
 * TSK_ETEMP when the committer is stopping (on_done is then not called). */
int tsk_http_commit_async(struct tsk_http_committer *c, struct tsk_http_job *j);
int tsk_http_committer_start(const char *dsn, struct tsk_stats *st, struct tsk_http_committer **out, char *err,
    size_t errlen);
/* Writes what is queued, then stops and frees. */
void tsk_http_committer_stop(struct tsk_http_committer *c);
/* Queues n readings (borrowed until it returns) and waits for their COMMIT: TSK_OK with this message's
 * own counts in res (res->unknown 1 when a reading's tenant does not exist), or the sink's status. */
int tsk_http_commit(struct tsk_http_committer *c, const struct tsk_reading *r, size_t n, int64_t as_of_us,
    struct tsk_sink_result *res, char *err, size_t errlen);

/* Authentication (auth.c): the endpoints under /api/auth/ and /api/users/me/, on tenant hosts and on
 * the public host. */
struct tsk_http_auth;
/* Checks jwt_secret and makes the login rate limiters. TSK_EINVAL for a missing or short secret. */
int tsk_http_auth_new(const struct tsk_http_opts *o, struct tsk_http_auth **out, char *err, size_t errlen);
void tsk_http_auth_free(struct tsk_http_auth *a);
/* TSK_OK when secret would do as jwt_secret, else TSK_EINVAL with why. */
int tsk_http_auth_check_secret(const char *secret, char *err, size_t errlen);
/* Signs and verifies with secret from now on (SIGHUP): tokens signed with the old one are refused.
 * TSK_OK, TSK_EINVAL (a missing or short secret: the old one stays), TSK_EFAIL. */
int tsk_http_auth_set_secret(struct tsk_http_auth *a, const char *secret, char *err, size_t errlen);
/* 1 when the path is one of the endpoints (and *reply is filled), else 0. */
int tsk_http_auth_route(struct tsk_http_auth *a, const struct tsk_http_request *rq, void *pgconn,
    struct tsk_http_reply *reply);
/* The current jwt_secret (valid until tsk_http_auth_free: a replaced one is kept). */
const char *tsk_http_auth_secret(struct tsk_http_auth *a);
/* 1 when the path is one of the endpoints. */
int tsk_http_auth_path(const char *path);
/* Who is calling (the credentials the endpoints above accept, bound to rq->tenant): 1 with *p filled,
 * or 0 with *out filled (401, 403, or 503 when the database is down). */
struct tsk_principal;
int tsk_http_auth_principal(struct tsk_http_auth *a, const struct tsk_http_request *rq, void *pgconn,
    struct tsk_principal *p, struct tsk_http_reply *out);

/* For the account endpoints (api_account.c): an access and a refresh token (TSK_JWT_MAX + 1 bytes each)
 * for a principal that passed tsk_auth_user, and the user as /api/users/me/ shows it (NULL on a database
 * error, in err). */
int tsk_http_auth_issue_pair(struct tsk_http_auth *a, const struct tsk_principal *p, char *access, char *refresh,
    size_t len, char *err, size_t errlen);
json_t *tsk_http_user_json(void *pgconn, int64_t user_id, const char *tenant, char *err, size_t errlen);

struct tsk_http {
	struct MHD_Daemon *d;
	struct tsk_http_deadline *deadline;
	struct tsk_http_auth *auth;
	struct tsk_http_account *account; /* password-reset mailer, avatar store (account.c) */
	struct tsk_http_opts o;
	char *dsn, *spool_path, *ingest_stats, *listen, *web_root;
	char *mail_url, *mail_from, *mail_ca_file, *frontend_url; /* copies of o.mail's and o.frontend_url */
	unsigned port;

	pthread_rwlock_t lock;     /* guards the reloadable settings below */
	char *public_hosts, *secret;
	int access_json;
	struct tsk_http_cidr *proxies;  /* trusted_proxies */
	size_t nproxies;

	/* The broker GET /health checks (broker.c), when mqtt_url is set. */
	int broker_set;
	struct tsk_mqtt_url broker;
	pthread_mutex_t broker_mu;       /* one probe at a time */
	_Atomic int broker_ok;
	_Atomic int64_t broker_checked_us; /* 0: never */

	struct tsk_spool *sp;
	struct tsk_ingest *ing;
	struct tsk_stats st;       /* this daemon's ingest counters */
	struct tsk_http_committer *committer;

	struct slot *slots;
	unsigned nslots;
	_Atomic unsigned next_slot;
	pthread_key_t key;
	int key_made;

	_Atomic long inflight;
	_Atomic int stopping;
	int stopped;

	_Atomic uint64_t req[RT_N][HTTP_NCODES];
	_Atomic uint64_t hist[RT_N][HTTP_NBUCKETS];
	_Atomic uint64_t lat_sum_us[RT_N], lat_count[RT_N];
	_Atomic uint64_t queued, spool_refused, too_large, db_errors;
};

/* The worker's slot (NULL when every slot is taken: should not happen). */
struct slot *tsk_http_slot(struct tsk_http *h);
/* The worker's connection, connected (reconnecting when needed), or NULL when the database is down.
 * After a failure the slot waits a second before it tries again, so an outage costs no connect per
 * request. */
void *tsk_http_db(struct tsk_http *h, struct slot *s);
/* A statement on the worker's connection failed: drop it if the connection is gone. */
void tsk_http_db_failed(struct slot *s);

/* The libmicrohttpd response of a streamed reply (stream.c): NULL when it cannot be made (the stream is
 * then freed). */
struct MHD_Response *tsk_http_stream_response(struct tsk_http_stream *s, struct MHD_Connection *conn);
/* The daemon is stopping: every stream's producer is told the client has gone and its statement is
 * cancelled, so each ends soon (its answer cut short) and no connection stays suspended waiting for
 * rows (libmicrohttpd refuses to stop with a suspended connection). */
void tsk_http_stream_cancel_all(void);

/* A JSON reply: takes the reference. */
void tsk_http_json(struct tsk_http_reply *r, int status, json_t *obj);
/* {"error": msg} */
void tsk_http_error(struct tsk_http_reply *r, int status, const char *msg);

/* POST /ingest, in two steps so that a worker never waits for a COMMIT: tsk_http_ingest answers at
 * once (returns 1, *out filled), or suspends the connection, queues the message for the committer with
 * on_done(arg) as its completion (the caller's MHD_resume_connection) and returns 0 with *state set;
 * when MHD calls the handler again, tsk_http_ingest_finish answers and tsk_http_ingest_free releases
 * the state. tenant (TSK_SLUG_MAX + 1 bytes) receives the x-tenant slug once it is known valid. */
struct tsk_http_ingest_state;
int tsk_http_ingest(struct tsk_http *h, struct slot *s, const struct tsk_http_request *rq, char *tenant,
    struct tsk_http_reply *out, const char **retry_after, void (*on_done)(void *), void *arg,
    struct tsk_http_ingest_state **state);
void tsk_http_ingest_finish(struct tsk_http *h, struct slot *s, struct tsk_http_ingest_state *st,
    struct tsk_http_reply *out, const char **retry_after);
void tsk_http_ingest_free(struct tsk_http_ingest_state *st);
/* request_deadline (deadline.c): connections still receiving their request past the deadline are shut
 * down by a reaper thread. */
struct tsk_http_deadline;
int tsk_http_deadline_start(int64_t limit_us, struct tsk_http_deadline **out, char *err, size_t errlen);
/* Stops the reaper and frees (after MHD_stop_daemon). */
void tsk_http_deadline_free(struct tsk_http_deadline *d);
/* MHD_OPTION_NOTIFY_CONNECTION's callback (cls: the tsk_http_deadline). */
void tsk_http_deadline_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
    enum MHD_ConnectionNotificationCode toe);
/* The connection's request is received whole: its clock stops. */
void tsk_http_deadline_received(struct MHD_Connection *mc);
/* The answer is done: the clock starts for the next request on the connection. 1 when the reaper cut
 * this connection. */
int tsk_http_deadline_next(struct MHD_Connection *mc);
/* Connections cut so far; connections open now. */
uint64_t tsk_http_deadline_cut(const struct tsk_http_deadline *d);
long tsk_http_deadline_open(const struct tsk_http_deadline *d);

/* The broker reachable (1) or not (0) as of at most a few seconds ago; -1 when no broker is configured. */
int tsk_http_broker_up(struct tsk_http *h);
/* GET /health */
void tsk_http_health(struct tsk_http *h, struct slot *s, struct tsk_http_reply *out);
/* GET /metrics */
void tsk_http_metrics(struct tsk_http *h, struct tsk_http_reply *out);

#endif
