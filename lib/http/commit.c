/*
 * Group commit for POST /ingest: the worker threads hand their parsed messages to the committer
 * threads, each of which writes every message waiting when it takes them in one transaction (through
 * the same sink as tsk-ingest, on its own connection) and wakes each worker with its own exact counts
 * (tsk_sink_write_archive). While one transaction commits the next group gathers, so the fsync of one
 * COMMIT serves many requests. With COMMITTERS threads, a group is written while the one before waits
 * for its statements' round trips and its COMMIT's WAL flush: one committer alone leaves the database
 * idle during its own waits (measured: tests/bench/httpd, README).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/tsk.h"
#include "http/http_impl.h"

/* A group holds at most this many readings (a message bigger than that goes alone). */
#define GROUP_MAX_READINGS 20000
/* Committer threads, each with its own connection. */
#ifndef COMMITTERS
#define COMMITTERS 2
#endif

#define job tsk_http_job

/* One committer thread and what it owns. */
struct cthread {
	struct tsk_http_committer *c;
	pthread_t thr;
	int started;
	struct tsk_sink *sink;
	struct tsk_reading *all;
	unsigned char *unknown, *stored;
	size_t cap;
	struct tsk_sink_msg *msgs;    /* the group's archive rows, one per job */
	size_t msgcap;
};

struct tsk_http_committer {
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct job *head, *tail;
	int stop;
	struct tsk_stats *st;
	struct cthread t[COMMITTERS];
};

static int
reserve(struct cthread *c, size_t n)
{
	if (n <= c->cap)
		return 0;
	size_t cap = c->cap ? c->cap : 1024;
	while (cap < n)
		cap *= 2;
	struct tsk_reading *a = realloc(c->all, cap * sizeof *a);
	if (a == NULL)
		return -1;
	c->all = a;
	unsigned char *u = realloc(c->unknown, cap), *s = u != NULL ? realloc(c->stored, cap) : NULL;
	if (u != NULL)
		c->unknown = u;
	if (s != NULL)
		c->stored = s;
	if (u == NULL || s == NULL)
		return -1;
	c->cap = cap;
	return 0;
}

/* Writes jobs [first, last) in one transaction and fills each job's result. */
static int
write_group(struct cthread *c, struct job *first, struct job *last, char *err, size_t errlen)
{
	struct tsk_sink_result res;
	size_t total = 0, k = 0;
	int64_t as_of = INT64_MIN;
	int rc;

	size_t nm = 0, m = 0;

	for (struct job *j = first; j != last; j = j->next) {
		total += j->n;
		nm++;
		if (j->as_of_us > as_of)
			as_of = j->as_of_us;
	}
	if (reserve(c, total + 1) != 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	if (nm > c->msgcap) {
		size_t cap = c->msgcap ? c->msgcap : 64;
		while (cap < nm)
			cap *= 2;
		struct tsk_sink_msg *ms = realloc(c->msgs, cap * sizeof *ms);
		if (ms == NULL)
			return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		c->msgs = ms;
		c->msgcap = cap;
	}
	for (struct job *j = first; j != last; j = j->next) {
		if (j->n > 0)
			memcpy(c->all + k, j->r, j->n * sizeof *j->r); /* borrowed: the jobs keep owning them */
		k += j->n;
		c->msgs[m++] = j->msg;
	}
	rc = tsk_sink_write_archive(c->sink, c->all, total, c->msgs, nm, as_of, c->unknown, c->stored, &res, err, errlen);
	if (rc != TSK_OK)
		return rc;
	atomic_fetch_add(&c->c->st->batches, 1);
	k = 0;
	m = 0;
	for (struct job *j = first; j != last; j = j->next, m++) {
		j->stored = j->duplicates = 0;
		j->unknown = c->msgs[m].unknown;
		j->msg.id = c->msgs[m].id;
		if (j->msg.id > 0)
			atomic_fetch_add(&c->c->st->archived, 1);
		for (size_t i = 0; i < j->n; i++, k++) {
			if (c->unknown[k])
				j->unknown = 1;
			else if (c->stored[k])
				j->stored++;
			else
				j->duplicates++;
		}
		j->rc = TSK_OK;
	}
	return TSK_OK;
}

static void *
committer_main(void *arg)
{
	struct cthread *t = arg;
	struct tsk_http_committer *c = t->c;
	char err[TSK_ERRLEN];

	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (c->head == NULL && !c->stop)
			pthread_cond_wait(&c->work, &c->mu);
		if (c->head == NULL && c->stop)
			break;
		/* Take what is waiting, up to the group's size (always at least one message). */
		struct job *first = c->head, *last = first->next;
		size_t readings = first->n;
		while (last != NULL && readings + last->n <= GROUP_MAX_READINGS) {
			readings += last->n;
			last = last->next;
		}
		c->head = last;
		if (last == NULL)
			c->tail = NULL;
		pthread_mutex_unlock(&c->mu);

		int rc = write_group(t, first, last, err, sizeof err);
		if (rc == TSK_EINVAL && first->next != last) {
			/* The database refused something in the group: write each message alone, so that only
			 * the one to blame is refused. */
			for (struct job *j = first; j != last; j = j->next)
				if ((j->rc = write_group(t, j, j->next, j->err, sizeof j->err)) != TSK_OK)
					j->stored = j->duplicates = 0;
		} else if (rc != TSK_OK) {
			for (struct job *j = first; j != last; j = j->next) {
				j->rc = rc;
				memcpy(j->err, err, sizeof j->err);
			}
		}
		pthread_mutex_lock(&c->mu);
		for (struct job *j = first, *next; j != last; j = next) {
			next = j->next; /* j belongs to its request again once done or its callback runs */
			if (j->on_done != NULL) {
				j->done = 1;
				pthread_mutex_unlock(&c->mu);
				j->on_done(j->arg);
				pthread_mutex_lock(&c->mu);
			} else {
				j->done = 1;
			}
		}
		pthread_cond_broadcast(&c->done);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int
tsk_http_committer_start(const char *dsn, struct tsk_stats *st, struct tsk_http_committer **out, char *err,
    size_t errlen)
{
	struct tsk_http_committer *c = calloc(1, sizeof *c);
	int rc, e;

	*out = NULL;
	if (c == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	c->st = st;
	for (int i = 0; i < COMMITTERS; i++) {
		c->t[i].c = c;
		if ((rc = tsk_sink_open(dsn, NULL, &c->t[i].sink, err, errlen)) != TSK_OK) {
			while (i-- > 0)
				tsk_sink_close(c->t[i].sink);
			free(c);
			return rc;
		}
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->work, NULL);
	pthread_cond_init(&c->done, NULL);
	for (int i = 0; i < COMMITTERS; i++) {
		if ((e = pthread_create(&c->t[i].thr, NULL, committer_main, &c->t[i])) != 0) {
			tsk_http_committer_stop(c);
			return tsk_seterr(err, errlen, TSK_EFAIL, "pthread_create: %s", strerror(e));
		}
		c->t[i].started = 1;
	}
	*out = c;
	return TSK_OK;
}

void
tsk_http_committer_stop(struct tsk_http_committer *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->mu);
	for (int i = 0; i < COMMITTERS; i++) {
		if (c->t[i].started)
			pthread_join(c->t[i].thr, NULL);
		tsk_sink_close(c->t[i].sink);
		free(c->t[i].all);
		free(c->t[i].unknown);
		free(c->t[i].stored);
		free(c->t[i].msgs);
	}
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->work);
	pthread_cond_destroy(&c->done);
	free(c);
}

int
tsk_http_commit_async(struct tsk_http_committer *c, struct tsk_http_job *j)
{
	j->next = NULL;
	j->done = 0;
	pthread_mutex_lock(&c->mu);
	if (c->stop) {
		pthread_mutex_unlock(&c->mu);
		return TSK_ETEMP;
	}
	if (c->tail != NULL)
		c->tail->next = j;
	else
		c->head = j;
	c->tail = j;
	pthread_cond_signal(&c->work);
	pthread_mutex_unlock(&c->mu);
	return TSK_OK;
}

int
tsk_http_commit(struct tsk_http_committer *c, const struct tsk_reading *r, size_t n, int64_t as_of_us,
    struct tsk_sink_result *res, char *err, size_t errlen)
{
	struct job j;

	memset(&j, 0, sizeof j);
	j.r = r;
	j.n = n;
	j.as_of_us = as_of_us;
	pthread_mutex_lock(&c->mu);
	if (c->stop) {
		pthread_mutex_unlock(&c->mu);
		return tsk_seterr(err, errlen, TSK_ETEMP, "stopping");
	}
	if (c->tail != NULL)
		c->tail->next = &j;
	else
		c->head = &j;
	c->tail = &j;
	pthread_cond_signal(&c->work);
	while (!j.done)
		pthread_cond_wait(&c->done, &c->mu);
	pthread_mutex_unlock(&c->mu);
	memset(res, 0, sizeof *res);
	if (j.rc != TSK_OK)
		return tsk_seterr(err, errlen, j.rc, "%s", j.err);
	res->stored = j.stored;
	res->duplicates = j.duplicates;
	res->unknown = j.unknown ? 1 : 0;
	return TSK_OK;
}
