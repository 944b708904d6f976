/*
 * request_deadline: a request must be received whole (headers and body) within this time, however
 * steadily it trickles. libmicrohttpd's own timeout (request_timeout) is an idle timeout, reset by every
 * byte, so a client sending one byte just inside it could hold a connection for as long as it liked; and
 * while the headers arrive no handler of ours runs at all. So every connection is tracked here from
 * MHD's connection notifications, and a reaper thread shuts down (shutdown(2): libmicrohttpd then sees
 * the end of the stream and closes it itself) each one still receiving past its deadline.
 *
 * The clock of a request starts when its connection is accepted, or on a kept-alive connection when the
 * previous answer was sent; it stops once the request has been received (waiting for the database or
 * the committer, and sending the answer, do not count). The socket is only ever shut down under the
 * list's mutex, before the connection's CLOSED notification has unlinked it, and libmicrohttpd closes
 * the socket only after that notification: the descriptor cannot have been reused for another one.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/time.h"
#include "core/tsk.h"
#include "http/http_impl.h"

struct tsk_http_conn {
	struct tsk_http_conn *prev, *next;
	int fd;
	_Atomic int64_t since_us;   /* the current request's clock started */
	_Atomic int receiving;      /* the request is not received whole yet */
	_Atomic int cut;            /* shut down by the reaper */
};

struct tsk_http_deadline {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct tsk_http_conn head;  /* circular list of every open connection */
	int64_t limit_us;
	int stop;
	pthread_t thread;
	int started;
	_Atomic uint64_t cut_total;
	_Atomic long open;          /* connections in the list */
};

static void *
reaper(void *arg)
{
	struct tsk_http_deadline *d = arg;
	int64_t period = d->limit_us / 4;
	struct timespec ts;

	if (period > 1000000)
		period = 1000000;
	if (period < 50000)
		period = 50000;
	pthread_mutex_lock(&d->mu);
	while (!d->stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(period / 1000000);
		ts.tv_nsec += (long)(period % 1000000) * 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&d->cv, &d->mu, &ts);
		if (d->stop)
			break;
		int64_t now = tsk_now_us();
		for (struct tsk_http_conn *c = d->head.next; c != &d->head; c = c->next) {
			if (!atomic_load(&c->receiving) || atomic_load(&c->cut) || now - atomic_load(&c->since_us) <= d->limit_us)
				continue;
			atomic_store(&c->cut, 1);
			atomic_fetch_add(&d->cut_total, 1);
			shutdown(c->fd, SHUT_RDWR);
		}
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

int
tsk_http_deadline_start(int64_t limit_us, struct tsk_http_deadline **out, char *err, size_t errlen)
{
	struct tsk_http_deadline *d;
	pthread_condattr_t ca;
	int e;

	*out = NULL;
	if ((d = calloc(1, sizeof *d)) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	pthread_mutex_init(&d->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cv, &ca);
	pthread_condattr_destroy(&ca);
	d->head.next = d->head.prev = &d->head;
	d->limit_us = limit_us;
	if ((e = pthread_create(&d->thread, NULL, reaper, d)) != 0) {
		tsk_http_deadline_free(d);
		return tsk_seterr(err, errlen, TSK_EFAIL, "cannot start the request deadline thread: %s", strerror(e));
	}
	d->started = 1;
	*out = d;
	return TSK_OK;
}

void
tsk_http_deadline_free(struct tsk_http_deadline *d)
{
	if (d == NULL)
		return;
	if (d->started) {
		pthread_mutex_lock(&d->mu);
		d->stop = 1;
		pthread_cond_signal(&d->cv);
		pthread_mutex_unlock(&d->mu);
		pthread_join(d->thread, NULL);
	}
	/* Connections still listed (libmicrohttpd stopped without notifying, which it does not do). */
	while (d->head.next != &d->head) {
		struct tsk_http_conn *c = d->head.next;
		d->head.next = c->next;
		free(c);
	}
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

uint64_t
tsk_http_deadline_cut(const struct tsk_http_deadline *d)
{
	return d != NULL ? atomic_load(&d->cut_total) : 0;
}

long
tsk_http_deadline_open(const struct tsk_http_deadline *d)
{
	return d != NULL ? atomic_load(&d->open) : 0;
}

void
tsk_http_deadline_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct tsk_http_deadline *d = cls;
	struct tsk_http_conn *c;
	const union MHD_ConnectionInfo *ci;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = NULL;
		ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL || (c = calloc(1, sizeof *c)) == NULL)
			return; /* not tracked: only the idle timeout applies to it */
		c->fd = ci->connect_fd;
		atomic_store(&c->since_us, tsk_now_us());
		atomic_store(&c->receiving, 1);
		pthread_mutex_lock(&d->mu);
		c->next = d->head.next;
		c->prev = &d->head;
		d->head.next->prev = c;
		d->head.next = c;
		pthread_mutex_unlock(&d->mu);
		atomic_fetch_add(&d->open, 1);
		*socket_context = c;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && (c = *socket_context) != NULL) {
		pthread_mutex_lock(&d->mu);
		c->prev->next = c->next;
		c->next->prev = c->prev;
		pthread_mutex_unlock(&d->mu);
		atomic_fetch_sub(&d->open, 1);
		*socket_context = NULL;
		free(c);
	}
}

static struct tsk_http_conn *
conn_of(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

void
tsk_http_deadline_received(struct MHD_Connection *mc)
{
	struct tsk_http_conn *c = conn_of(mc);

	if (c != NULL)
		atomic_store(&c->receiving, 0);
}

int
tsk_http_deadline_next(struct MHD_Connection *mc)
{
	struct tsk_http_conn *c = conn_of(mc);

	if (c == NULL)
		return 0;
	atomic_store(&c->since_us, tsk_now_us());
	atomic_store(&c->receiving, 1);
	return atomic_load(&c->cut);
}
