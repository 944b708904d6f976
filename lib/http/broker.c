/*
 * GET /health's "mqtt": can the broker that tsk-ingest reads from (mqtt_url) be reached. A TCP connect
 * to it, at most one every BROKER_TTL_US whatever the rate of /health requests, so a load balancer
 * polling /health costs the broker nothing much; a hung broker costs one worker at most BROKER_WAIT_MS
 * per period while the others answer with the last result.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/time.h"
#include "core/tsk.h"
#include "http/http_impl.h"

#define BROKER_TTL_US (2 * 1000000LL)
#define BROKER_WAIT_MS 1000

/* One address: connected within the time left. */
static int
try_connect(const struct addrinfo *ai, int64_t deadline_us)
{
	int fd, rc = 0, e = 0;
	socklen_t el = sizeof e;

	if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol)) < 0)
		return 0;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
		rc = 1;
	} else if (errno == EINPROGRESS) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int64_t left = (deadline_us - tsk_now_us()) / 1000;
		if (left > 0 && poll(&p, 1, (int)left) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0)
			rc = 1;
	}
	close(fd);
	return rc;
}

static int
probe(const struct tsk_mqtt_url *u, char *why, size_t whylen)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8], host[256];
	int64_t deadline = tsk_now_us() + (int64_t)BROKER_WAIT_MS * 1000;
	int up = 0, e;
	size_t n = strlen(u->host);

	/* The URL keeps an IPv6 host in its brackets. */
	if (n >= 2 && u->host[0] == '[' && u->host[n - 1] == ']')
		snprintf(host, sizeof host, "%.*s", (int)(n - 2), u->host + 1);
	else
		snprintf(host, sizeof host, "%s", u->host);
	snprintf(port, sizeof port, "%d", u->port);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((e = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(why, whylen, "%s: %s", host, gai_strerror(e));
		return 0;
	}
	for (ai = res; ai != NULL && !up && tsk_now_us() < deadline; ai = ai->ai_next)
		up = try_connect(ai, deadline);
	freeaddrinfo(res);
	if (!up)
		snprintf(why, whylen, "no TCP connection to %s port %s", host, port);
	return up;
}

int
tsk_http_broker_up(struct tsk_http *h)
{
	char why[300];
	int up;

	if (!h->broker_set)
		return -1;
	if (pthread_mutex_trylock(&h->broker_mu) != 0) {
		/* Another worker is probing: its last result will do, unless there is none yet. */
		if (atomic_load(&h->broker_checked_us) != 0)
			return atomic_load(&h->broker_ok);
		pthread_mutex_lock(&h->broker_mu);
	}
	if (tsk_now_us() - atomic_load(&h->broker_checked_us) >= BROKER_TTL_US) {
		up = probe(&h->broker, why, sizeof why);
		if (!up && atomic_load(&h->broker_ok))
			tsk_warn("MQTT broker unreachable: %s", why);
		else if (up && !atomic_load(&h->broker_ok) && atomic_load(&h->broker_checked_us) != 0)
			tsk_warn("MQTT broker reachable again");
		atomic_store(&h->broker_ok, up);
		atomic_store(&h->broker_checked_us, tsk_now_us());
	}
	up = atomic_load(&h->broker_ok);
	pthread_mutex_unlock(&h->broker_mu);
	return up;
}
