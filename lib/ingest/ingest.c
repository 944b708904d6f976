/*
 * The ingest pipeline: receivers parse and spool, a flusher moves the spool into PostgreSQL. See ingest.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/ingest.h"
#include "core/jsonl.h"
#include "model/payload.h"
#include "ingest/sink.h"
#include "core/time.h"
#include "core/tsk.h"

#define DEFAULT_BATCH 20000
#define DEFAULT_INTERVAL_MS 200
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000
/* A dead letter keeps at most this much of a rejected payload: enough to see what it was. */
#define DEAD_BODY_MAX (1024 * 1024)

/* What became of one message (or input line) of a batch. */
enum outcome { OUT_OK, OUT_UNKNOWN_TENANT, OUT_DB_REJECTED, OUT_FUTURE };

/* A message of a batch: readings [first, first + n). */
struct unit {
	size_t first, n;
	long tag;           /* stdin: the line number */
	int64_t received_us;
	enum outcome out;
	char *detail;       /* why the database refused it (OUT_DB_REJECTED) or it is too far ahead
	                       (OUT_FUTURE), owned */
	struct tsk_sink_msg msg; /* its archive row (msg.topic NULL: not archived); strings borrowed */
};

struct units {
	struct unit *v;
	size_t n, cap;
};

struct tsk_ingest {
	struct tsk_spool *sp;
	struct tsk_ingest_opts o;
	struct tsk_stats *st;
	struct tsk_sink *sink;      /* used by one thread at a time: the flusher, or the stdin loop */
	struct tsk_spool_batch b;
	struct units u;
	unsigned char *unknown;     /* per reading of the batch: tenant unknown */
	size_t unknowncap;
	struct tsk_sink_msg *am;    /* write_range: the archive rows of the units written */
	size_t amcap;

	pthread_mutex_t mu;
	pthread_cond_t work;        /* the flusher waits here for a batch */
	pthread_cond_t room;        /* receivers wait here for room in the spool */
	pthread_cond_t done_cv;     /* tsk_ingest_stop waits here for the flusher */
	_Atomic int flusher_idle;   /* 1: the flusher waits on `work` for a batch: wake it when one is ready;
	                               2: it is backing off after a failure: let it sleep */
	_Atomic int waiters;        /* receivers sleeping on `room` */
	_Atomic int interrupted;
	int running, draining, stop_now, done, drained, failed, detached;
	int64_t drain_deadline_us;
	pthread_t thr;
	char fail_err[TSK_ERRLEN];

	/* The tenants the flusher's sink knows, copied for the receivers: a message whose tenant is not
	 * among them is spooled with its topic and payload, so that its dead letter can show them if the
	 * tenant does not exist. */
	pthread_rwlock_t known_mu;
	char **known;               /* sorted (strcmp), under known_mu */
	size_t nknown;
	int64_t known_us;           /* the sink's loaded_us the copy was made from; 0: none yet */
};

static void
logf_(struct tsk_ingest *ing, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
logf_(struct tsk_ingest *ing, int level, const char *fmt, ...)
{
	char msg[TSK_ERRLEN + 128];
	va_list ap;

	if (ing->o.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ing->o.log(ing->o.log_arg, level, msg);
}

/* Timed waits use the monotonic clock: a wall-clock step must not stretch or cut a wait. */
static void
cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
}

int
tsk_ingest_new(struct tsk_spool *sp, const struct tsk_ingest_opts *opts, struct tsk_stats *st,
    struct tsk_ingest **out, char *err, size_t errlen)
{
	struct tsk_ingest *ing = calloc(1, sizeof *ing);
	struct tsk_sink_opts so = { 0 };
	int rc;

	if (ing == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	if (opts != NULL)
		ing->o = *opts;
	if (ing->o.batch == 0)
		ing->o.batch = DEFAULT_BATCH;
	if (ing->o.flush_interval_ms <= 0)
		ing->o.flush_interval_ms = DEFAULT_INTERVAL_MS;
	if (ing->o.retry_for_us <= 0)
		ing->o.retry_for_us = 60 * TSK_US_PER_S;
	ing->sp = sp;
	ing->st = st;
	so.no_catalog = ing->o.no_catalog;
	if ((rc = tsk_sink_open(ing->o.dsn, &so, &ing->sink, err, errlen)) != TSK_OK) {
		free(ing);
		return rc;
	}
	tsk_spool_batch_init(&ing->b);
	pthread_mutex_init(&ing->mu, NULL);
	pthread_rwlock_init(&ing->known_mu, NULL);
	cond_init_mono(&ing->work);
	cond_init_mono(&ing->room);
	cond_init_mono(&ing->done_cv);
	*out = ing;
	return TSK_OK;
}

static void
units_clear(struct units *u)
{
	for (size_t i = 0; i < u->n; i++)
		free(u->v[i].detail);
	u->n = 0;
}

static struct unit *
units_add(struct units *u, size_t first, size_t n, long tag, int64_t received_us)
{
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 256;
		struct unit *v = realloc(u->v, cap * sizeof *v);
		if (v == NULL)
			return NULL;
		u->v = v;
		u->cap = cap;
	}
	struct unit *x = &u->v[u->n++];
	*x = (struct unit){ .first = first, .n = n, .tag = tag, .received_us = received_us, .out = OUT_OK };
	x->msg.topic = NULL;
	return x;
}

void
tsk_ingest_free(struct tsk_ingest *ing)
{
	int stuck;

	if (ing == NULL)
		return;
	if (ing->running)
		tsk_ingest_stop(ing, tsk_now_us(), &stuck, NULL, 0);
	if (ing->detached)
		return; /* the flusher still uses everything: leave it to the process exit */
	tsk_sink_close(ing->sink);
	tsk_spool_batch_free(&ing->b);
	units_clear(&ing->u);
	free(ing->u.v);
	free(ing->unknown);
	free(ing->am);
	for (size_t i = 0; i < ing->nknown; i++)
		free(ing->known[i]);
	free(ing->known);
	pthread_rwlock_destroy(&ing->known_mu);
	pthread_mutex_destroy(&ing->mu);
	pthread_cond_destroy(&ing->work);
	pthread_cond_destroy(&ing->room);
	pthread_cond_destroy(&ing->done_cv);
	free(ing);
}

/* ---- receivers ---------------------------------------------------------------------------------- */

static void
reject_message(struct tsk_ingest *ing, int reason, const char *detail, const char *source, const void *body,
    size_t len, int64_t arrival_us)
{
	char err[TSK_ERRLEN], why[256];
	int rc;

	tsk_stats_reject(ing->st, reason);
	if (ing->sp == NULL)
		return;
	if (len > DEAD_BODY_MAX) {
		snprintf(why, sizeof why, "%.200s (first %d of %zu bytes kept)", detail, DEAD_BODY_MAX, len);
		detail = why;
		len = DEAD_BODY_MAX;
	}
	rc = tsk_spool_dead_put(ing->sp, arrival_us, tsk_stats_reason_str(reason), detail, source, body, len,
	    err, sizeof err);
	if (rc != TSK_OK) {
		/* The message is still counted as rejected; only its copy for inspection is lost. */
		atomic_fetch_add(&ing->st->dead_dropped, 1);
		if (rc != TSK_EFULL)
			logf_(ing, 0, "cannot store a dead letter: %s", err);
	}
}

static void
wake_flusher(struct tsk_ingest *ing)
{
	pthread_mutex_lock(&ing->mu);
	pthread_cond_signal(&ing->work);
	pthread_mutex_unlock(&ing->mu);
}

static void
abstime_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Waits up to ms for the flusher to ack something. Returns 0, or -1 when interrupted. */
static int
wait_room(struct tsk_ingest *ing, long ms)
{
	struct timespec ts;

	abstime_in(&ts, ms);
	pthread_mutex_lock(&ing->mu);
	atomic_fetch_add(&ing->waiters, 1);
	if (atomic_load(&ing->flusher_idle) == 1)
		pthread_cond_signal(&ing->work); /* a full spool is a full batch: make sure the flusher runs */
	if (!atomic_load(&ing->interrupted))
		pthread_cond_timedwait(&ing->room, &ing->mu, &ts);
	atomic_fetch_sub(&ing->waiters, 1);
	pthread_mutex_unlock(&ing->mu);
	return atomic_load(&ing->interrupted) ? -1 : 0;
}

/* Whether the flusher's last tenant list names slug (0 also when there is no list yet). */
static int
tenant_known(struct tsk_ingest *ing, const char *slug)
{
	size_t lo = 0, hi;
	int found = 0;

	pthread_rwlock_rdlock(&ing->known_mu);
	hi = ing->nknown;
	while (lo < hi && !found) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(slug, ing->known[mid]);
		if (c == 0)
			found = 1;
		else if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	pthread_rwlock_unlock(&ing->known_mu);
	return found;
}

/* Flusher: copies the sink's tenant list for tenant_known when it was read again. */
static void
known_refresh(struct tsk_ingest *ing)
{
	int64_t at = tsk_sink_loaded_us(ing->sink);
	size_t n = tsk_sink_ntenants(ing->sink);
	char **v;

	if (at == 0 || at == ing->known_us || (v = calloc(n + 1, sizeof *v)) == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		if ((v[i] = strdup(tsk_sink_tenant_slug(ing->sink, i))) == NULL) {
			while (i > 0)
				free(v[--i]);
			free(v);
			return;
		}
	pthread_rwlock_wrlock(&ing->known_mu);
	for (size_t i = 0; i < ing->nknown; i++)
		free(ing->known[i]);
	free(ing->known);
	ing->known = v;
	ing->nknown = n;
	pthread_rwlock_unlock(&ing->known_mu);
	ing->known_us = at;
}

/* A group of parsed messages that one spool transaction commits. */
struct gmsg {
	size_t first, n;            /* readings [first, first + n) of the group */
	int64_t received_us;
	char tenant[TSK_SLUG_MAX + 1];
	char *topic;                /* owned copies of the message as received, for a tenant not known */
	void *raw;                  /* yet (see tenant_known), or to archive; NULL otherwise */
	size_t raw_len;
	int archive;                /* opts.archive: topic and raw are the message whole, for the archive */
	int64_t key, ts_us;
	char *device_id;            /* owned, may be NULL */
};

struct tsk_ingest_group {
	struct tsk_readings rs;
	struct gmsg *m;
	size_t n, cap;
	struct tsk_spool_msg *sm;   /* built at commit time (rs.v moves while the group grows) */
	size_t smcap;
	struct tsk_payload_info info;
};

struct tsk_ingest_group *
tsk_ingest_group_new(void)
{
	struct tsk_ingest_group *g = calloc(1, sizeof *g);

	if (g != NULL) {
		tsk_readings_init(&g->rs);
		tsk_payload_info_init(&g->info);
	}
	return g;
}

static void
group_clear(struct tsk_ingest_group *g)
{
	tsk_readings_clear(&g->rs);
	for (size_t i = 0; i < g->n; i++) {
		free(g->m[i].topic);
		free(g->m[i].raw);
		free(g->m[i].device_id);
	}
	g->n = 0;
}

void
tsk_ingest_group_free(struct tsk_ingest_group *g)
{
	if (g == NULL)
		return;
	group_clear(g);
	tsk_readings_free(&g->rs);
	tsk_payload_info_free(&g->info);
	free(g->m);
	free(g->sm);
	free(g);
}

size_t
tsk_ingest_group_size(const struct tsk_ingest_group *g)
{
	return g->n;
}

int
tsk_ingest_stage(struct tsk_ingest *ing, struct tsk_ingest_group *g, const char *topic, const void *payload, size_t len,
    int64_t arrival_us, char *err, size_t errlen)
{
	struct tsk_payload_info *info = &g->info;
	char perr[TSK_ERRLEN];
	size_t prev = g->rs.n;
	int rc;

	atomic_fetch_add(&ing->st->received, 1);
	rc = tsk_payload_parse(NULL, topic, payload, len, arrival_us, &g->rs, info, perr, sizeof perr);
	if (rc == TSK_EINVAL) {
		/* Never retried: dead-lettered now, and its PUBACK may go like any other. */
		reject_message(ing, info->reason, info->detail[0] != '\0' ? info->detail : perr, topic, payload, len,
		    arrival_us);
		return TSK_OK;
	}
	if (rc != TSK_OK)
		return tsk_seterr(err, errlen, rc, "%s", perr);
	atomic_fetch_add(&ing->st->accepted, 1);
	atomic_fetch_add(&ing->st->readings, g->rs.n - prev);
	tsk_stats_skips(ing->st, info);
	if (g->rs.n == prev && !ing->o.archive) {
		/* Parsed, but every sensor was skipped: nothing to store. Kept as a dead letter so that a
		 * device sending only unusable values can be seen (with --archive, the archive shows it). */
		reject_message(ing, TSK_STATS_NO_READINGS, info->detail[0] != '\0' ? info->detail : "no sensor had a value",
		    topic, payload, len, arrival_us);
		return TSK_OK;
	}
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		struct gmsg *m = realloc(g->m, cap * sizeof *m);
		if (m == NULL) {
			while (g->rs.n > prev)
				tsk_reading_free(&g->rs.v[--g->rs.n]);
			return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		}
		g->m = m;
		g->cap = cap;
	}
	struct gmsg *m = &g->m[g->n++];
	m->first = prev;
	m->n = g->rs.n - prev;
	m->received_us = arrival_us;
	snprintf(m->tenant, sizeof m->tenant, "%s", info->tenant);
	m->topic = NULL;
	m->raw = NULL;
	m->raw_len = 0;
	m->archive = 0;
	m->device_id = NULL;
	if (ing->o.archive) {
		/* The archive keeps the payload whole (the parser took at most TSK_PAYLOAD_MAX bytes of it). */
		m->archive = 1;
		m->key = tsk_sink_msg_key();
		m->ts_us = info->has_ts ? info->ts_us : arrival_us;
		m->raw_len = len;
		if ((m->topic = strdup(topic)) == NULL || (m->raw = malloc(len > 0 ? len : 1)) == NULL ||
		    (info->device_id != NULL && (m->device_id = strdup(info->device_id)) == NULL)) {
			free(m->topic);
			free(m->raw);
			g->n--;
			while (g->rs.n > prev)
				tsk_reading_free(&g->rs.v[--g->rs.n]);
			return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		}
		memcpy(m->raw, payload, len);
	} else if (!tenant_known(ing, info->tenant)) {
		/* Rare (a tenant unknown, or created since the flusher last read the list): keep the message
		 * as received, for its dead letter should the tenant not exist. Truncated like a dead letter. */
		m->raw_len = len > DEAD_BODY_MAX ? DEAD_BODY_MAX : len;
		if ((m->topic = strdup(topic)) == NULL || (m->raw = malloc(m->raw_len > 0 ? m->raw_len : 1)) == NULL) {
			free(m->topic);
			m->topic = NULL;
			m->raw_len = 0;
		} else {
			memcpy(m->raw, payload, m->raw_len);
		}
	}
	return TSK_OK;
}

int
tsk_ingest_commit(struct tsk_ingest *ing, struct tsk_ingest_group *g, int wait_ms, char *err, size_t errlen)
{
	const struct tsk_spool_counters *c = tsk_spool_counters(ing->sp);
	int64_t waited_from = 0;
	size_t at = 0;
	int rc = TSK_OK;

	if (g->n == 0)
		goto out;
	if (g->n > g->smcap) {
		struct tsk_spool_msg *sm = realloc(g->sm, g->n * sizeof *sm);
		if (sm == NULL) {
			rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
			goto out;
		}
		g->sm = sm;
		g->smcap = g->n;
	}
	for (size_t i = 0; i < g->n; i++)
		g->sm[i] = (struct tsk_spool_msg){ .tenant = g->m[i].tenant, .r = g->rs.v + g->m[i].first,
			.n = g->m[i].n, .received_us = g->m[i].received_us, .topic = g->m[i].topic, .raw = g->m[i].raw,
			.raw_len = g->m[i].raw_len, .archive = g->m[i].archive, .key = g->m[i].key, .ts_us = g->m[i].ts_us,
			.device_id = g->m[i].device_id };
	for (;;) {
		/* One transaction for the whole group: when it returns TSK_OK every message survives a crash,
		 * and only then does the caller let their PUBACKs go. */
		size_t done = 0;
		rc = tsk_spool_put_batch(ing->sp, g->sm + at, g->n - at, &done, err, errlen);
		at += done;
		atomic_fetch_add(&ing->st->spooled, done);
		if (rc == TSK_OK) {
			if (atomic_load(&ing->flusher_idle) == 1 && atomic_load(&c->depth_readings) >= ing->o.batch)
				wake_flusher(ing);
			break;
		}
		if (rc != TSK_EFULL)
			break;
		/* Back-pressure: wait for the flusher rather than drop. */
		int64_t now = tsk_now_us();
		if (waited_from == 0) {
			waited_from = now;
			atomic_fetch_add(&ing->st->full_waits, 1);
		}
		if (wait_ms >= 0 && now - waited_from >= (int64_t)wait_ms * 1000)
			break;
		if (wait_room(ing, 100) != 0)
			break;
	}
out:
	group_clear(g);
	return rc;
}

int
tsk_ingest_message(struct tsk_ingest *ing, const char *topic, const void *payload, size_t len, int64_t arrival_us,
    int wait_ms, char *err, size_t errlen)
{
	struct tsk_ingest_group *g;
	int rc;

	if (ing->sp == NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "no spool");
	if ((g = tsk_ingest_group_new()) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	rc = tsk_ingest_stage(ing, g, topic, payload, len, arrival_us, err, errlen);
	if (rc == TSK_OK)
		rc = tsk_ingest_commit(ing, g, wait_ms, err, errlen);
	tsk_ingest_group_free(g);
	return rc;
}

void
tsk_ingest_interrupt(struct tsk_ingest *ing)
{
	pthread_mutex_lock(&ing->mu);
	atomic_store(&ing->interrupted, 1);
	pthread_cond_broadcast(&ing->room);
	pthread_mutex_unlock(&ing->mu);
}

int
tsk_ingest_has_room(struct tsk_ingest *ing)
{
	const struct tsk_spool_counters *c = tsk_spool_counters(ing->sp);

	if (ing->o.spool_max_msgs != 0 && atomic_load(&c->depth_msgs) * 10 >= ing->o.spool_max_msgs * 9)
		return 0;
	if (ing->o.spool_max_bytes != 0 && atomic_load(&c->depth_bytes) * 10 >= ing->o.spool_max_bytes * 9)
		return 0;
	return 1;
}

/* ---- writing a batch ---------------------------------------------------------------------------- */

static int
ensure_unknown(struct tsk_ingest *ing, size_t n, char *err, size_t errlen)
{
	if (n <= ing->unknowncap)
		return TSK_OK;
	unsigned char *p = realloc(ing->unknown, n);
	if (p == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	ing->unknown = p;
	ing->unknowncap = n;
	return TSK_OK;
}

/*
 * Writes units [a, b) (their readings are contiguous) in one transaction. When the database refuses
 * the data (TSK_EINVAL) the range is split in halves until the refused messages are alone: they are
 * marked OUT_DB_REJECTED and the rest is stored, so one bad message costs about 2 log2(batch)
 * transactions and never blocks the stream.
 */
static int
write_range(struct tsk_ingest *ing, struct units *us, const struct tsk_reading *r, size_t a, size_t b, int64_t as_of,
    char *err, size_t errlen)
{
	struct unit *u = us->v;
	struct tsk_sink_result res;
	size_t first = u[a].first, n = u[b - 1].first + u[b - 1].n - first, nm = 0;
	int rc;

	for (size_t i = a; i < b; i++)
		nm += u[i].msg.topic != NULL;
	if (nm > 0 && b - a > ing->amcap) {
		struct tsk_sink_msg *am = realloc(ing->am, (b - a) * sizeof *am);
		if (am == NULL)
			return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		ing->am = am;
		ing->amcap = b - a;
	}
	for (size_t i = a; nm > 0 && i < b; i++)
		ing->am[i - a] = u[i].msg;
	if (nm > 0)
		rc = tsk_sink_write_archive(ing->sink, r + first, n, ing->am, b - a, as_of, ing->unknown + first, NULL, &res,
		    err, errlen);
	else
		rc = tsk_sink_write(ing->sink, r + first, n, as_of, ing->unknown + first, &res, err, errlen);
	atomic_store(&ing->st->conflicts, tsk_sink_conflicts(ing->sink));
	if (rc == TSK_OK) {
		for (size_t i = a; i < b; i++)
			if ((u[i].n > 0 && ing->unknown[u[i].first]) || (nm > 0 && ing->am[i - a].unknown))
				u[i].out = OUT_UNKNOWN_TENANT;
		for (size_t i = a; nm > 0 && i < b; i++)
			if (ing->am[i - a].id > 0)
				atomic_fetch_add(&ing->st->archived, 1);
		atomic_fetch_add(&ing->st->stored, res.stored);
		atomic_fetch_add(&ing->st->duplicates, res.duplicates);
		atomic_fetch_add(&ing->st->batches, 1);
		atomic_store(&ing->st->last_flush_us, tsk_now_us());
		atomic_store(&ing->st->db_up, 1);
		return TSK_OK;
	}
	if (rc != TSK_EINVAL)
		return rc;
	if (b - a == 1) {
		u[a].out = OUT_DB_REJECTED;
		free(u[a].detail);
		u[a].detail = strdup(err);
		return TSK_OK;
	}
	size_t mid = a + (b - a) / 2;
	if ((rc = write_range(ing, us, r, a, mid, as_of, err, errlen)) != TSK_OK)
		return rc;
	return write_range(ing, us, r, mid, b, as_of, err, errlen);
}

/* Writes the readings of the units us; each unit's outcome says what became of it. */
static int
write_units(struct tsk_ingest *ing, struct units *us, const struct tsk_reading *r, size_t nreadings, int64_t as_of,
    char *err, size_t errlen)
{
	int rc, archive = 0;

	for (size_t i = 0; i < us->n && !archive; i++)
		archive = us->v[i].msg.topic != NULL;
	if (us->n == 0 || (nreadings == 0 && !archive))
		return TSK_OK;
	if ((rc = ensure_unknown(ing, nreadings + 1, err, errlen)) != TSK_OK)
		return rc;
	memset(ing->unknown, 0, nreadings);
	for (size_t i = 0; i < us->n; i++) {
		us->v[i].out = OUT_OK;
		free(us->v[i].detail);
		us->v[i].detail = NULL;
	}
	return write_range(ing, us, r, 0, us->n, as_of, err, errlen);
}

/* ---- max_future: how far after its arrival a reading's time may be ---- */

/* Writes only the units not marked OUT_FUTURE: their readings copied (shallow) into one contiguous
 * array, as write_units needs, and the outcomes copied back. */
static int
write_kept(struct tsk_ingest *ing, struct units *all, const struct tsk_reading *r, int64_t as_of, char *err,
    size_t errlen)
{
	struct units ku = { 0 };
	struct tsk_reading *kept;
	size_t nk = 0, total = 0;
	int rc;

	for (size_t i = 0; i < all->n; i++)
		total += all->v[i].out == OUT_FUTURE ? 0 : all->v[i].n;
	if ((kept = malloc((total > 0 ? total : 1) * sizeof *kept)) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	for (size_t i = 0; i < all->n; i++) {
		struct unit *u = &all->v[i];
		if (u->out == OUT_FUTURE)
			continue;
		struct unit *k;
		if ((k = units_add(&ku, nk, u->n, (long)i, u->received_us)) == NULL) {
			free(kept);
			free(ku.v);
			return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		}
		k->msg = u->msg;
		memcpy(kept + nk, r + u->first, u->n * sizeof *kept);
		nk += u->n;
	}
	rc = write_units(ing, &ku, kept, nk, as_of, err, errlen);
	for (size_t k = 0; k < ku.n; k++) {
		struct unit *u = &all->v[ku.v[k].tag];
		u->out = ku.v[k].out;
		free(u->detail);
		u->detail = ku.v[k].detail;
		ku.v[k].detail = NULL;
	}
	units_clear(&ku);
	free(ku.v);
	free(kept);
	return rc;
}

/* The readings of a message as a JSON array: the body of its dead letter. */
static char *
readings_json(const struct tsk_reading *r, size_t n)
{
	json_t *arr = json_array();
	char *s;

	for (size_t i = 0; arr != NULL && i < n; i++)
		json_array_append_new(arr, tsk_reading_to_json(&r[i]));
	s = arr != NULL ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	return s;
}

/* ---- the flusher -------------------------------------------------------------------------------- */

int
tsk_ingest_flush(struct tsk_ingest *ing, size_t *moved, char *err, size_t errlen)
{
	struct tsk_spool_batch *b = &ing->b;
	int64_t as_of = 0;
	int rc;

	const struct tsk_spool_counters *sc = tsk_spool_counters(ing->sp);
	uint64_t q0 = atomic_load(&sc->quarantined);

	if (moved != NULL)
		*moved = 0;
	rc = tsk_spool_peek(ing->sp, ing->o.batch, ing->o.batch, b, err, errlen);
	if (atomic_load(&sc->quarantined) > q0)
		logf_(ing, 0, "spool: %llu corrupt message%s (checksum mismatch) quarantined as dead letter%s "
		    "(reason \"%s\", with the stored bytes); going on with the rest",
		    (unsigned long long)(atomic_load(&sc->quarantined) - q0), atomic_load(&sc->quarantined) - q0 > 1 ? "s" : "",
		    atomic_load(&sc->quarantined) - q0 > 1 ? "s" : "", TSK_SPOOL_QUARANTINE_REASON);
	if (rc != TSK_OK)
		return rc;
	if (b->nmsg == 0) {
		/* Idle at start: read the tenant list once, so that receivers know the tenants early. */
		if (ing->known_us == 0 && tsk_sink_connect(ing->sink, err, errlen) == TSK_OK)
			known_refresh(ing);
		return TSK_OK;
	}
	units_clear(&ing->u);
	for (size_t i = 0; i < b->nmsg; i++) {
		const struct tsk_spool_entry *e = &b->msg[i];
		struct unit *u = units_add(&ing->u, e->first, e->n, 0, e->received_us);
		if (u == NULL)
			return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		if (e->archive)
			u->msg = (struct tsk_sink_msg){ .tenant = e->tenant, .device_id = e->device_id, .topic = e->topic,
				.payload = (const char *)e->raw, .payload_len = e->raw_len, .ts_us = e->ts_us,
				.received_us = e->received_us, .key = e->key };
		if (b->msg[i].received_us > as_of)
			as_of = b->msg[i].received_us;
	}
	/* A message with a reading further after its arrival than its tenant's max_future allows is a
	 * dead letter, not written: one reading at 9999-12-31 would stay a sensor's latest value forever. */
	size_t nfuture = 0;
	for (size_t i = 0; i < b->nmsg; i++) {
		const struct tsk_spool_entry *m = &b->msg[i];
		const struct tsk_reading *far;
		int64_t maxf;
		char detail[TSK_ERRLEN];
		rc = tsk_sink_tenant_limits(ing->sink, m->tenant, m->received_us, &maxf, err, errlen);
		if (rc == TSK_ENOTFOUND)
			continue;  /* the write flags it as an unknown tenant */
		if (rc != TSK_OK)
			break;
		if ((far = tsk_reading_too_far(b->readings.v + m->first, m->n, m->received_us, maxf)) != NULL) {
			tsk_reading_future_detail(detail, sizeof detail, far, m->received_us, maxf);
			ing->u.v[i].out = OUT_FUTURE;
			ing->u.v[i].detail = strdup(detail);
			nfuture++;
		}
	}
	if (rc == TSK_OK || rc == TSK_ENOTFOUND)
		rc = nfuture == 0 ? write_units(ing, &ing->u, b->readings.v, b->readings.n, as_of, err, errlen) :
		    write_kept(ing, &ing->u, b->readings.v, as_of, err, errlen);
	if (rc != TSK_OK) {
		atomic_fetch_add(&ing->st->flush_errors, 1);
		atomic_store(&ing->st->last_error_us, tsk_now_us());
		atomic_store(&ing->st->db_up, 0);
		/* Whatever the database said (down, or refusing for a reason no message is to blame for,
		 * such as permissions), the batch stays spooled and is retried: TSK_EFAIL from here means
		 * the spool itself failed. */
		return TSK_ETEMP;
	}
	/* Rejected messages go to the dead-letter table before the ack: a crash in between replays the
	 * batch and writes the dead letter twice, which is better than never. */
	for (size_t i = 0; i < ing->u.n; i++) {
		struct unit *u = &ing->u.v[i];
		const struct tsk_spool_entry *m = &b->msg[i];
		char detail[TSK_ERRLEN + 64], *body;
		int reason;
		if (u->out == OUT_OK)
			continue;
		if (u->out == OUT_UNKNOWN_TENANT) {
			reason = TSK_STATS_UNKNOWN_TENANT;
			snprintf(detail, sizeof detail, "no tenant \"%s\"", m->tenant);
		} else if (u->out == OUT_FUTURE) {
			reason = TSK_STATS_FUTURE;
			snprintf(detail, sizeof detail, "%s", u->detail != NULL ? u->detail : "too far in the future");
		} else {
			reason = TSK_STATS_DB_REJECTED;
			snprintf(detail, sizeof detail, "%s", u->detail != NULL ? u->detail : "refused by the database");
		}
		if (u->out == OUT_UNKNOWN_TENANT && m->topic != NULL) {
			/* Spooled with the message as received: the dead letter is the topic and payload. */
			reject_message(ing, reason, detail, m->topic, m->raw, m->raw_len, m->received_us);
			continue;
		}
		body = readings_json(b->readings.v + u->first, u->n);
		reject_message(ing, reason, detail, m->tenant, body, body != NULL ? strlen(body) : 0, m->received_us);
		free(body);
	}
	known_refresh(ing);
	size_t n = b->nmsg;
	if ((rc = tsk_spool_ack(ing->sp, b, err, errlen)) != TSK_OK)
		return rc;
	if (moved != NULL)
		*moved = n;
	if (atomic_load(&ing->waiters) > 0) {
		pthread_mutex_lock(&ing->mu);
		pthread_cond_broadcast(&ing->room);
		pthread_mutex_unlock(&ing->mu);
	}
	return TSK_OK;
}

int
tsk_ingest_drain(struct tsk_ingest *ing, char *err, size_t errlen)
{
	size_t moved;
	int rc;

	do {
		if ((rc = tsk_ingest_flush(ing, &moved, err, errlen)) != TSK_OK)
			return rc;
	} while (moved > 0);
	return TSK_OK;
}

/* Sleeps on `work` for ms (mu held). Returns early when signalled: receivers signal only an idle
 * flusher (how = 1), never one backing off from a failure (how = 2), or a database outage would turn
 * into a retry per message. tsk_ingest_stop signals either. */
static void
nap(struct tsk_ingest *ing, long ms, int how)
{
	struct timespec ts;

	abstime_in(&ts, ms);
	atomic_store(&ing->flusher_idle, how);
	pthread_cond_timedwait(&ing->work, &ing->mu, &ts);
	atomic_store(&ing->flusher_idle, 0);
}

static void *
flusher_main(void *arg)
{
	struct tsk_ingest *ing = arg;
	const struct tsk_spool_counters *c = tsk_spool_counters(ing->sp);
	char err[TSK_ERRLEN];
	long backoff = 0;
	int down = 0;

	pthread_mutex_lock(&ing->mu);
	while (!ing->stop_now) {
		size_t moved = 0;
		pthread_mutex_unlock(&ing->mu);
		int rc = tsk_ingest_flush(ing, &moved, err, sizeof err);
		pthread_mutex_lock(&ing->mu);
		if (rc == TSK_OK) {
			if (down)
				logf_(ing, 0, "database is back; flushing the spool (%llu messages waiting)",
				    (unsigned long long)atomic_load(&c->depth_msgs));
			down = 0;
			backoff = 0;
			if (ing->draining && atomic_load(&c->depth_msgs) == 0) {
				ing->drained = 1;
				break;
			}
			/* A full batch waiting, or a drain: go on at once. Otherwise let the next batch fill up
			 * for a while: fewer, larger transactions are what makes COPY pay. */
			if (!ing->draining && atomic_load(&c->depth_readings) < ing->o.batch && atomic_load(&ing->waiters) == 0)
				nap(ing, ing->o.flush_interval_ms, 1);
			continue;
		}
		if (rc != TSK_ETEMP) {
			/* Not a database problem: the spool itself failed (a corrupt row). Retrying cannot help. */
			ing->failed = 1;
			snprintf(ing->fail_err, sizeof ing->fail_err, "%s", err);
			break;
		}
		if (!down)
			logf_(ing, 0, "%s: %s; spooling, retrying",
			    tsk_sink_last_conflict(ing->sink) ? "transaction conflict" : "database unavailable", err);
		else
			logf_(ing, 2, "still failing: %s", err);
		down = 1;
		if (ing->draining && tsk_now_us() >= ing->drain_deadline_us)
			break;
		backoff = backoff == 0 ? BACKOFF_MIN_MS : backoff * 2;
		if (backoff > BACKOFF_MAX_MS)
			backoff = BACKOFF_MAX_MS;
		if (ing->draining) {
			int64_t left_ms = (ing->drain_deadline_us - tsk_now_us()) / 1000;
			if (left_ms < backoff)
				backoff = left_ms > 0 ? left_ms : 1;
		}
		nap(ing, backoff, 2);
	}
	ing->done = 1;
	pthread_cond_broadcast(&ing->done_cv);
	pthread_mutex_unlock(&ing->mu);
	return NULL;
}

int
tsk_ingest_start(struct tsk_ingest *ing, char *err, size_t errlen)
{
	int e;

	if (ing->sp == NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "no spool to flush");
	ing->done = ing->drained = ing->failed = ing->draining = ing->stop_now = 0;
	if ((e = pthread_create(&ing->thr, NULL, flusher_main, ing)) != 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "cannot start the flusher: %s", strerror(e));
	ing->running = 1;
	return TSK_OK;
}

int
tsk_ingest_stop(struct tsk_ingest *ing, int64_t deadline_us, int *stuck, char *err, size_t errlen)
{
	struct timespec ts;
	int rc;

	*stuck = 0;
	if (!ing->running)
		return TSK_OK;
	pthread_mutex_lock(&ing->mu);
	ing->draining = 1;
	ing->drain_deadline_us = deadline_us;
	pthread_cond_signal(&ing->work);
	while (!ing->done) {
		int64_t left = deadline_us - tsk_now_us();
		if (left <= 0)
			break;
		abstime_in(&ts, (long)(left / 1000) + 1);
		pthread_cond_timedwait(&ing->done_cv, &ing->mu, &ts);
	}
	if (!ing->done) {
		/* Out of time: stop after the current call. A call stuck in the database (statement_timeout
		 * bounds it) is given two more seconds, then left behind. */
		ing->stop_now = 1;
		pthread_cond_signal(&ing->work);
		abstime_in(&ts, 2000);
		while (!ing->done && pthread_cond_timedwait(&ing->done_cv, &ing->mu, &ts) != ETIMEDOUT)
			;
	}
	int done = ing->done;
	pthread_mutex_unlock(&ing->mu);
	if (!done) {
		pthread_detach(ing->thr);
		ing->detached = 1;
		ing->running = 0;
		*stuck = 1;
		return tsk_seterr(err, errlen, TSK_ETEMP, "the flusher did not finish in time; the rest stays spooled");
	}
	pthread_join(ing->thr, NULL);
	ing->running = 0;
	if (ing->failed)
		return tsk_seterr(err, errlen, TSK_EFAIL, "%s", ing->fail_err);
	rc = ing->drained ? TSK_OK : TSK_ETEMP;
	if (rc != TSK_OK)
		tsk_seterr(err, errlen, rc, "%llu messages stay spooled for the next run",
		    (unsigned long long)atomic_load(&tsk_spool_counters(ing->sp)->depth_msgs));
	return rc;
}

int
tsk_ingest_failed(struct tsk_ingest *ing, char *err, size_t errlen)
{
	int f;

	pthread_mutex_lock(&ing->mu);
	f = ing->failed;
	if (f)
		tsk_seterr(err, errlen, TSK_EFAIL, "%s", ing->fail_err);
	pthread_mutex_unlock(&ing->mu);
	return f;
}

static int
add_reason(void *arg, const char *reason, uint64_t n)
{
	json_object_set_new((json_t *)arg, reason, json_integer((json_int_t)n));
	return 0;
}

int
tsk_ingest_spool_stats(struct tsk_spool *sp, struct tsk_stats_spool *out, char *err, size_t errlen)
{
	struct tsk_spool_stats s;
	int rc;

	memset(out, 0, sizeof *out);
	if ((rc = tsk_spool_stats(sp, &s, err, errlen)) != TSK_OK)
		return rc;
	out->msgs = s.msgs;
	out->readings = s.readings;
	out->bytes = s.bytes;
	out->dead = s.dead;
	out->file_bytes = s.file_bytes;
	out->wal_bytes = s.wal_bytes;
	out->oldest_us = s.oldest_us;
	out->quarantined = atomic_load(&tsk_spool_counters(sp)->quarantined);
	if ((out->dead_by = json_object()) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	if ((rc = tsk_spool_dead_reasons(sp, add_reason, out->dead_by, err, errlen)) != TSK_OK) {
		json_decref(out->dead_by);
		out->dead_by = NULL;
	}
	return rc;
}

/* ---- stdin ------------------------------------------------------------------------------------
 * Two threads: this one reads and parses lines into a batch while a writer thread sends the previous
 * batch to PostgreSQL, so parsing (client CPU) and the database's work overlap. Each has its own
 * connection: the writer's sink writes, the reader's looks tenants up. */

struct retry {
	int64_t down_since;   /* when the database went away; 0 while it is up */
	long backoff;
};

/* A batch of lines: their readings, and one unit per line. */
struct lbatch {
	struct tsk_readings rs;
	struct units u;
};

struct lines {
	struct tsk_ingest *ing;
	tsk_ingest_reject_fn on_reject;
	void *arg;
	uint64_t rejected;
	pthread_mutex_t mu;       /* guards what follows, and serialises on_reject */
	pthread_cond_t cv;
	struct lbatch *pending;   /* handed to the writer; NULL while it is idle */
	int eof;                  /* the reader is done: the writer exits once idle */
	int wrc;                  /* the writer's failure (TSK_ETEMP after retry_for, TSK_EFAIL) */
	char werr[TSK_ERRLEN];
};

/* A line's tenant must have existed a second before the line was read: a slug that names no tenant
 * then costs one lookup a second, not one per line, and a tenant created while a long pipe runs is
 * found a second later. */
static int64_t
tenant_as_of(void)
{
	return tsk_now_us() - TSK_US_PER_S;
}

static void
line_reject(struct lines *L, long lineno, int reason, const char *detail, const char *line, size_t len)
{
	tsk_stats_reject(L->ing->st, reason);
	pthread_mutex_lock(&L->mu);
	L->rejected++;
	if (L->on_reject != NULL)
		L->on_reject(L->arg, lineno, tsk_stats_reason_str(reason), detail, line, len);
	pthread_mutex_unlock(&L->mu);
}

/* After a temporary failure: sleeps with a backoff and returns TSK_OK to retry, or TSK_ETEMP once
 * the database has been down for retry_for. */
static int
retry_wait(struct tsk_ingest *ing, struct retry *R, int rc, char *err, size_t errlen)
{
	struct timespec ts;
	int64_t now = tsk_now_us();

	if (rc != TSK_ETEMP)
		return rc;
	/* A write that lost to concurrent writers more times than the sink retries is not an outage: it
	 * is reported as the conflict it is, and retried the same way. */
	const char *what = strncmp(err, "transaction conflict", 20) == 0 ? "transaction conflict" : "database unavailable";
	if (R->down_since == 0) {
		R->down_since = now;
		logf_(ing, 0, "%s: %s; retrying for %llds", what, err, (long long)(ing->o.retry_for_us / TSK_US_PER_S));
	}
	if (now - R->down_since >= ing->o.retry_for_us) {
		char why[TSK_ERRLEN];
		snprintf(why, sizeof why, "%s", err); /* err is the destination too */
		return tsk_seterr(err, errlen, TSK_ETEMP, "%s for %llds: %s", what,
		    (long long)((now - R->down_since) / TSK_US_PER_S), why);
	}
	R->backoff = R->backoff == 0 ? BACKOFF_MIN_MS : R->backoff * 2;
	if (R->backoff > BACKOFF_MAX_MS)
		R->backoff = BACKOFF_MAX_MS;
	ts.tv_sec = R->backoff / 1000;
	ts.tv_nsec = (R->backoff % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	return TSK_OK;
}

static void
retry_ok(struct tsk_ingest *ing, struct retry *R)
{
	if (R->down_since != 0)
		logf_(ing, 0, "database is back");
	R->down_since = 0;
	R->backoff = 0;
}

/* Writer side: one batch into PostgreSQL, retried while the database is down. */
static int
flush_lines(struct lines *L, struct retry *R, struct lbatch *b, char *err, size_t errlen)
{
	struct tsk_ingest *ing = L->ing;
	int rc;

	for (;;) {
		rc = write_units(ing, &b->u, b->rs.v, b->rs.n, tenant_as_of(), err, errlen);
		if (rc == TSK_OK)
			break;
		atomic_fetch_add(&ing->st->flush_errors, 1);
		atomic_store(&ing->st->last_error_us, tsk_now_us());
		atomic_store(&ing->st->db_up, 0);
		if ((rc = retry_wait(ing, R, rc, err, errlen)) != TSK_OK)
			return rc;
	}
	retry_ok(ing, R);
	for (size_t i = 0; i < b->u.n; i++) {
		struct unit *u = &b->u.v[i];
		if (u->out == OUT_UNKNOWN_TENANT)
			line_reject(L, u->tag, TSK_STATS_UNKNOWN_TENANT, "the tenant was deleted", NULL, 0);
		else if (u->out == OUT_DB_REJECTED)
			line_reject(L, u->tag, TSK_STATS_DB_REJECTED, u->detail != NULL ? u->detail : "", NULL, 0);
	}
	/* The reader empties the batch when it takes it back: memory is freed by the thread that
	 * allocated it, which keeps malloc's per-thread caches warm. */
	return TSK_OK;
}

static void *
writer_main(void *arg)
{
	struct lines *L = arg;
	struct retry R = { 0, 0 };
	char err[TSK_ERRLEN];

	pthread_mutex_lock(&L->mu);
	for (;;) {
		while (L->pending == NULL && !L->eof)
			pthread_cond_wait(&L->cv, &L->mu);
		if (L->pending == NULL)
			break;
		struct lbatch *b = L->pending;
		pthread_mutex_unlock(&L->mu);
		int rc = flush_lines(L, &R, b, err, sizeof err);
		pthread_mutex_lock(&L->mu);
		L->pending = NULL;
		if (rc != TSK_OK) {
			L->wrc = rc;
			snprintf(L->werr, sizeof L->werr, "%s", err);
		}
		pthread_cond_broadcast(&L->cv);
		if (rc != TSK_OK)
			break;
	}
	pthread_mutex_unlock(&L->mu);
	return NULL;
}

/* Reader side: hands b to the writer once it is idle. Returns the writer's failure, if any: then b
 * is not taken. */
static int
hand_over(struct lines *L, struct lbatch *b)
{
	int rc;

	pthread_mutex_lock(&L->mu);
	while (L->pending != NULL && L->wrc == TSK_OK)
		pthread_cond_wait(&L->cv, &L->mu);
	rc = L->wrc;
	if (rc == TSK_OK) {
		L->pending = b;
		pthread_cond_broadcast(&L->cv);
	}
	pthread_mutex_unlock(&L->mu);
	return rc;
}

/* Drops readings [from, rs->n). */
static void
readings_truncate(struct tsk_readings *rs, size_t from)
{
	while (rs->n > from)
		tsk_reading_free(&rs->v[--rs->n]);
}

static void
lbatch_free(struct lbatch *b)
{
	tsk_readings_free(&b->rs);
	units_clear(&b->u);
	free(b->u.v);
}

int
tsk_ingest_lines(struct tsk_ingest *ing, FILE *in, const char *tenant, tsk_ingest_reject_fn on_reject, void *arg,
    uint64_t *rejected, char *err, size_t errlen)
{
	struct lines L = { .ing = ing, .on_reject = on_reject, .arg = arg, .wrc = TSK_OK };
	struct lbatch bb[2], *cur = &bb[0];
	struct tsk_payload_info info;
	struct tsk_sink *lookup = NULL;
	struct tsk_sink_opts so = { 0 };
	struct retry R = { 0, 0 };
	struct tsk_jsonl rd;
	char perr[TSK_ERRLEN];
	pthread_t writer;
	int rc, e;

	memset(bb, 0, sizeof bb);
	tsk_payload_info_init(&info);
	tsk_jsonl_init(&rd, in);
	rd.max = TSK_ENVELOPE_MAX + 1; /* a longer line is refused as too large, never read whole into memory */
	pthread_mutex_init(&L.mu, NULL);
	pthread_cond_init(&L.cv, NULL);
	if ((rc = tsk_sink_open(ing->o.dsn, &so, &lookup, err, errlen)) != TSK_OK)
		goto out_nothread;
	if ((e = pthread_create(&writer, NULL, writer_main, &L)) != 0) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "cannot start the writer: %s", strerror(e));
		goto out_nothread;
	}
	while (tsk_jsonl_next_line(&rd)) {
		struct tsk_readings *rs = &cur->rs;
		size_t prev = rs->n;
		int64_t now = tsk_now_us();
		atomic_fetch_add(&ing->st->received, 1);
		rc = tsk_payload_parse_line(tenant, rd.line, rd.len, now, rs, &info, perr, sizeof perr);
		if (rc == TSK_EINVAL) {
			readings_truncate(rs, prev);
			line_reject(&L, rd.lineno, info.reason, info.detail[0] != '\0' ? info.detail : perr, rd.line, rd.len);
			continue;
		}
		if (rc != TSK_OK) {
			tsk_seterr(err, errlen, rc, "line %ld: %s", rd.lineno, perr);
			goto out;
		}
		atomic_fetch_add(&ing->st->accepted, 1);
		atomic_fetch_add(&ing->st->readings, rs->n - prev);
		tsk_stats_skips(ing->st, &info);
		if (rs->n == prev) {
			line_reject(&L, rd.lineno, TSK_STATS_NO_READINGS,
			    info.detail[0] != '\0' ? info.detail : "no sensor had a value", rd.line, rd.len);
			continue;
		}
		/* Every reading of a line has the line's tenant. Checking it here (cached; a query only for a
		 * slug not seen yet) lets the reject file carry the line itself. */
		const char *slug = rs->v[prev].tenant;
		const struct tsk_reading *far;
		int64_t maxf;
		while ((rc = tsk_sink_tenant_limits(lookup, slug, tenant_as_of(), &maxf, err, errlen)) == TSK_ETEMP)
			if ((rc = retry_wait(ing, &R, rc, err, errlen)) != TSK_OK)
				goto out;
		if (rc == TSK_ENOTFOUND) {
			readings_truncate(rs, prev);
			line_reject(&L, rd.lineno, TSK_STATS_UNKNOWN_TENANT, err, rd.line, rd.len);
			continue;
		}
		if (rc != TSK_OK)
			goto out;
		/* The tenant's max_future, against the time the line was read. */
		if ((far = tsk_reading_too_far(rs->v + prev, rs->n - prev, now, maxf)) != NULL) {
			char detail[TSK_ERRLEN];
			tsk_reading_future_detail(detail, sizeof detail, far, now, maxf);
			readings_truncate(rs, prev);
			line_reject(&L, rd.lineno, TSK_STATS_FUTURE, detail, rd.line, rd.len);
			continue;
		}
		retry_ok(ing, &R);
		if (units_add(&cur->u, prev, rs->n - prev, rd.lineno, now) == NULL) {
			rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
			goto out;
		}
		if (rs->n >= ing->o.batch) {
			if ((rc = hand_over(&L, cur)) != TSK_OK)
				goto out;
			/* The writer took cur, so it is done with the other batch. */
			cur = cur == &bb[0] ? &bb[1] : &bb[0];
			units_clear(&cur->u);
			tsk_readings_clear(&cur->rs);
		}
	}
	rc = TSK_OK;
	if (ferror(in))
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "read error: %s", strerror(errno));
	else if (cur->rs.n > 0)
		rc = hand_over(&L, cur);
out:
	pthread_mutex_lock(&L.mu);
	L.eof = 1;
	pthread_cond_broadcast(&L.cv);
	pthread_mutex_unlock(&L.mu);
	pthread_join(writer, NULL);
	/* The writer's failure is the one to report: it is why the reader stopped, or it came last. */
	if (L.wrc != TSK_OK && (rc == TSK_OK || rc == L.wrc)) {
		rc = L.wrc;
		tsk_seterr(err, errlen, rc, "%s", L.werr);
	}
out_nothread:
	if (rejected != NULL)
		*rejected = L.rejected;
	tsk_sink_close(lookup);
	lbatch_free(&bb[0]);
	lbatch_free(&bb[1]);
	tsk_payload_info_free(&info);
	tsk_jsonl_free(&rd);
	pthread_mutex_destroy(&L.mu);
	pthread_cond_destroy(&L.cv);
	return rc;
}
