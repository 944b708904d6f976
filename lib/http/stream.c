/*
 * Streamed bodies (see http.h): a producer thread writes into a fixed ring buffer, libmicrohttpd's
 * content reader callback takes from it on the connection's worker thread. Memory per stream is the
 * ring, whatever the size of the answer.
 *
 * Why a thread: the producers are the query library's streaming functions (tsk_series_buckets,
 * tsk_series_raw, cursors), which push rows to a callback until the result ends; a reader callback
 * pulls. The thread turns one into the other without blocking the worker: when the ring is empty the
 * reader suspends the connection and the producer's next write resumes it; when it is full the
 * producer waits for the client, holding no worker.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>

#include "core/tsk.h"
#include "http/http_impl.h"

#define RING (64 * 1024)
/* Streams running at once (each holds a thread and a database connection); more is 503. */
#define MAX_STREAMS 32
/* Bytes libmicrohttpd asks the reader for at a time. */
#define BLOCK (32 * 1024)

static _Atomic int active;
/* Every running stream, for tsk_http_stream_cancel_all. */
static pthread_mutex_t all_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tsk_http_stream *all;

struct tsk_http_stream {
	pthread_mutex_t mu;
	pthread_cond_t can_read, can_write;
	char ring[RING];
	size_t head, len;
	int done, failed, gone;
	int suspended;             /* the reader found nothing and suspended the connection */
	struct MHD_Connection *conn;
	pthread_t th;
	struct tsk_http_producer p;
	void *arg;
	struct tsk_http_stream *prev, *next; /* in all */
};

/* New bytes or the end: a connection the reader suspended is handed back to libmicrohttpd (any thread
 * may resume; the lock orders it after the suspend). Called with s->mu held. */
static void
wake(struct tsk_http_stream *s)
{
	pthread_cond_signal(&s->can_read);
	if (s->suspended) {
		s->suspended = 0;
		MHD_resume_connection(s->conn);
	}
}

static void *
produce(void *arg)
{
	struct tsk_http_stream *s = arg;
	int rc = s->p.run(s->arg, s);

	pthread_mutex_lock(&s->mu);
	s->done = 1;
	s->failed = rc != TSK_OK;
	wake(s);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int
tsk_http_stream_write(struct tsk_http_stream *s, const char *p, size_t n)
{
	pthread_mutex_lock(&s->mu);
	while (n > 0) {
		while (s->len == RING && !s->gone)
			pthread_cond_wait(&s->can_write, &s->mu);
		if (s->gone) {
			pthread_mutex_unlock(&s->mu);
			return -1;
		}
		size_t tail = (s->head + s->len) % RING;
		size_t k = RING - s->len;
		if (k > RING - tail)
			k = RING - tail; /* up to the end of the ring; the rest on the next turn */
		if (k > n)
			k = n;
		memcpy(s->ring + tail, p, k);
		s->len += k;
		p += k;
		n -= k;
		wake(s);
	}
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static ssize_t
reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct tsk_http_stream *s = cls;
	ssize_t r;

	(void)pos;
	pthread_mutex_lock(&s->mu);
	if (s->len == 0 && !s->done) {
		/* Nothing yet (the query has not sent its first rows): rather than hold the worker thread and
		 * every other connection it serves, suspend this one until the producer writes (wake).
		 * libmicrohttpd allows the suspend from here, and a suspended connection does not time out. */
		s->suspended = 1;
		MHD_suspend_connection(s->conn);
		r = 0;
	} else if (s->len == 0) {
		r = s->failed ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
	} else {
		size_t n = s->len < max ? s->len : max;
		if (n > RING - s->head)
			n = RING - s->head;
		memcpy(buf, s->ring + s->head, n);
		s->head = (s->head + n) % RING;
		s->len -= n;
		pthread_cond_signal(&s->can_write);
		r = (ssize_t)n;
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* The client is gone (or the answer is complete): stop the producer, wait for it, free. */
static void
finish(void *cls)
{
	struct tsk_http_stream *s = cls;
	int done;

	pthread_mutex_lock(&all_mu);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		all = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&all_mu);
	pthread_mutex_lock(&s->mu);
	s->gone = 1;
	done = s->done;
	pthread_cond_broadcast(&s->can_write);
	pthread_mutex_unlock(&s->mu);
	if (!done && s->p.cancel != NULL)
		s->p.cancel(s->arg);
	pthread_join(s->th, NULL);
	if (s->p.free != NULL)
		s->p.free(s->arg);
	pthread_cond_destroy(&s->can_read);
	pthread_cond_destroy(&s->can_write);
	pthread_mutex_destroy(&s->mu);
	free(s);
	atomic_fetch_sub(&active, 1);
}

int
tsk_http_reply_stream(struct tsk_http_reply *reply, int status, const char *content_type,
    const struct tsk_http_producer *p, void *arg, char *err, size_t errlen)
{
	struct tsk_http_stream *s;

	if (atomic_fetch_add(&active, 1) >= MAX_STREAMS) {
		atomic_fetch_sub(&active, 1);
		return tsk_seterr(err, errlen, TSK_ETEMP, "too many streamed answers at once");
	}
	if ((s = calloc(1, sizeof *s)) == NULL) {
		atomic_fetch_sub(&active, 1);
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->can_read, NULL);
	pthread_cond_init(&s->can_write, NULL);
	s->p = *p;
	s->arg = arg;
	if (pthread_create(&s->th, NULL, produce, s) != 0) {
		pthread_cond_destroy(&s->can_read);
		pthread_cond_destroy(&s->can_write);
		pthread_mutex_destroy(&s->mu);
		free(s);
		atomic_fetch_sub(&active, 1);
		return tsk_seterr(err, errlen, TSK_EFAIL, "cannot start a thread");
	}
	pthread_mutex_lock(&all_mu);
	s->next = all;
	if (all != NULL)
		all->prev = s;
	all = s;
	pthread_mutex_unlock(&all_mu);
	reply->status = status;
	reply->content_type = content_type;
	reply->stream = s;
	return TSK_OK;
}

void
tsk_http_stream_cancel_all(void)
{
	pthread_mutex_lock(&all_mu);
	for (struct tsk_http_stream *s = all; s != NULL; s = s->next) {
		pthread_mutex_lock(&s->mu);
		s->gone = 1;
		pthread_cond_broadcast(&s->can_write);
		pthread_mutex_unlock(&s->mu);
		if (s->p.cancel != NULL)
			s->p.cancel(s->arg);
	}
	pthread_mutex_unlock(&all_mu);
}

struct MHD_Response *
tsk_http_stream_response(struct tsk_http_stream *s, struct MHD_Connection *conn)
{
	s->conn = conn;
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, BLOCK, reader, s, finish);

	if (r == NULL)
		finish(s);
	return r;
}
