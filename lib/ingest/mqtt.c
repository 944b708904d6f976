/*
 * The MQTT receiver (see mqtt.h for why the PUBACK cannot overtake the spool commit).
 */
#include <ctype.h>
#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>

#include "ingest/mqtt.h"
#include "core/text.h"
#include "core/time.h"
#include "core/tsk.h"

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define LOOP_TIMEOUT_MS 200
/* At most this many messages are read before a commit: bounds a burst's memory and latency. */
#define BURST_MAX 512
/* A burst that has drained the socket waits this long (in all) for more before it is committed. The
 * broker sends each message as it gets it, so without the wait a busy connection still comes in ones
 * and twos per read and every message pays for a spool transaction and a PUBACK write of its own
 * (tests/bench/ingest (d): 600 000 messages made 600 000 bursts). */
#define LINGER_US 2000

struct tsk_mqtt {
	struct tsk_mqtt_opts o;
	struct tsk_mqtt_url url;
	char *filters[TSK_MQTT_MAX_TOPICS]; /* with the $share prefix when asked */
	int nfilters;
	struct mosquitto *mosq;
	mosquitto_property *props;  /* CONNECT properties (MQTT 5 session expiry) */
	tsk_mqtt_msg_fn on_msg;
	tsk_mqtt_commit_fn commit;
	tsk_mqtt_gate_fn gate;
	tsk_mqtt_log_fn log;
	void *arg;
	struct tsk_stats *st;
	pthread_t thr;
	_Atomic int stop;
	int goodbye_ms;             /* how long the DISCONNECT may take */
	_Atomic int connected;
	int dropped;                /* a message could not be made durable: the socket is shut */
	size_t taken;               /* messages taken since the last commit */
};

static void
mlog(struct tsk_mqtt *m, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
mlog(struct tsk_mqtt *m, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (m->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	m->log(m->arg, level, msg);
}

int
tsk_mqtt_url_parse(const char *url, struct tsk_mqtt_url *u, char *err, size_t errlen)
{
	const char *p, *at, *hs, *he, *end;

	memset(u, 0, sizeof *u);
	if (strncmp(url, "mqtt://", 7) == 0) {
		p = url + 7;
		u->port = 1883;
	} else if (strncmp(url, "mqtts://", 8) == 0) {
		p = url + 8;
		u->tls = 1;
		u->port = 8883;
	} else {
		return tsk_seterr(err, errlen, TSK_EINVAL, "MQTT URL must start with mqtt:// or mqtts://");
	}
	end = p + strcspn(p, "/?#");
	if (*end == '/' && end[1] != '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "MQTT URL takes no path (use --topic)");
	if (*end == '?' || *end == '#')
		return tsk_seterr(err, errlen, TSK_EINVAL, "MQTT URL takes no query or fragment");
	/* The last '@' before the host ends the user information (a password may contain '@' only
	 * percent-encoded, but be lenient). */
	at = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	if (at != NULL) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		const char *ue = colon != NULL ? colon : at;
		if (tsk_pct_decode(p, (size_t)(ue - p), u->user, sizeof u->user, 1) < 0)
			return tsk_seterr(err, errlen, TSK_EINVAL, "bad user name in MQTT URL");
		u->has_user = 1;
		if (colon != NULL) {
			if (tsk_pct_decode(colon + 1, (size_t)(at - colon - 1), u->pass, sizeof u->pass, 1) < 0)
				return tsk_seterr(err, errlen, TSK_EINVAL, "bad password in MQTT URL");
			u->has_pass = 1;
		}
		p = at + 1;
	}
	if (*p == '[') {
		hs = p + 1;
		he = memchr(hs, ']', (size_t)(end - hs));
		if (he == NULL)
			return tsk_seterr(err, errlen, TSK_EINVAL, "unterminated [ in MQTT URL");
		p = he + 1;
	} else {
		hs = p;
		he = memchr(p, ':', (size_t)(end - p));
		if (he == NULL)
			he = end;
		p = he;
	}
	if (he == hs || (size_t)(he - hs) >= sizeof u->host)
		return tsk_seterr(err, errlen, TSK_EINVAL, "no host in MQTT URL");
	memcpy(u->host, hs, (size_t)(he - hs));
	u->host[he - hs] = '\0';
	if (p < end) {
		char *e;
		long port;
		if (*p != ':')
			return tsk_seterr(err, errlen, TSK_EINVAL, "bad MQTT URL after the host");
		errno = 0;
		port = strtol(p + 1, &e, 10);
		if (e == p + 1 || e != end || errno != 0 || port < 1 || port > 65535)
			return tsk_seterr(err, errlen, TSK_EINVAL, "bad port in MQTT URL");
		u->port = (int)port;
	}
	return TSK_OK;
}

/* ---- callbacks (network thread) ----------------------------------------------------------------- */

static void
on_connect(struct mosquitto *mosq, void *obj, int rc, int flags, const mosquitto_property *props)
{
	struct tsk_mqtt *m = obj;

	(void)props;
	if (rc != 0) {
		mlog(m, 0, "broker %s:%d refused the connection: %s", m->url.host, m->url.port,
		    m->o.protocol == 311 ? mosquitto_connack_string(rc) : mosquitto_reason_string(rc));
		return;
	}
	mlog(m, 1, "connected to %s:%d as %s (%s session)", m->url.host, m->url.port, m->o.client_id,
	    (flags & 1) ? "resumed" : "new");
	/* Subscribing again on a resumed session is harmless and covers a broker that lost it. */
	for (int i = 0; i < m->nfilters; i++) {
		int e = mosquitto_subscribe(mosq, NULL, m->filters[i], m->o.qos);
		if (e != MOSQ_ERR_SUCCESS)
			mlog(m, 0, "cannot subscribe to %s: %s", m->filters[i], mosquitto_strerror(e));
	}
}

static void
on_subscribe(struct mosquitto *mosq, void *obj, int mid, int n, const int *granted, const mosquitto_property *props)
{
	struct tsk_mqtt *m = obj;

	(void)mosq;
	(void)mid;
	(void)props;
	for (int i = 0; i < n; i++) {
		if (granted[i] >= 0x80) {
			mlog(m, 0, "the broker refused a subscription (reason %d)", granted[i]);
			return;
		}
		if (granted[i] < m->o.qos)
			mlog(m, 0, "the broker granted QoS %d only: messages can be lost", granted[i]);
	}
	if (!atomic_exchange(&m->connected, 1) && m->st != NULL) {
		atomic_fetch_add(&m->st->mqtt_connects, 1);
		atomic_store(&m->st->mqtt_connected, 1);
	}
}

/* Shuts the socket down, from the network thread, before anything more is written: the PUBACKs
 * libmosquitto has queued can then never leave, and the broker keeps those messages for our session. */
static void
drop(struct tsk_mqtt *m)
{
	if (!m->dropped)
		shutdown(mosquitto_socket(m->mosq), SHUT_RDWR);
	m->dropped = 1;
}

static void
on_message(struct mosquitto *m_, void *obj, const struct mosquitto_message *msg, const mosquitto_property *props)
{
	struct tsk_mqtt *m = obj;
	int64_t now = tsk_now_us();
	int saved = errno; /* the network loop reads errno after mosquitto_loop_read() */

	(void)m_;
	(void)props;
	if (m->dropped)
		goto out; /* the rest of a burst after a refusal: not acknowledged either */
	if (m->on_msg(m->arg, msg->topic, msg->payload, msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0, now) != 0)
		drop(m);
	else
		m->taken++;
out:
	errno = saved;
}

static void
on_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
	(void)mosq;
	if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING))
		mlog(obj, 2, "libmosquitto: %s", str);
}

/* ---- network thread ----------------------------------------------------------------------------- */

static void
sleep_ms(struct tsk_mqtt *m, long ms)
{
	/* In slices, so a stop request is seen quickly. */
	while (ms > 0 && !atomic_load(&m->stop)) {
		long s = ms < 100 ? ms : 100;
		struct timespec ts = { 0, s * 1000000L };
		nanosleep(&ts, NULL);
		ms -= s;
	}
}

static void
set_disconnected(struct tsk_mqtt *m)
{
	if (atomic_exchange(&m->connected, 0) && m->st != NULL) {
		atomic_fetch_add(&m->st->mqtt_disconnects, 1);
		atomic_store(&m->st->mqtt_connected, 0);
	}
}

/* Commits what the last burst staged; drops the connection when it cannot be made durable. */
static void
commit_burst(struct tsk_mqtt *m)
{
	/* Also after a drop: what was staged is committed (it is redelivered anyway, and the copy is
	 * absorbed as a duplicate), which empties the stage for the next connection. */
	if (m->taken > 0 && m->commit != NULL && m->commit(m->arg) != 0)
		drop(m);
	m->taken = 0;
}

/* The most messages a burst takes: BURST_MAX, and no more than the broker may send before it sees
 * our PUBACKs (the MQTT 5 receive maximum), or the burst would wait for messages that cannot come. */
static size_t
burst_cap(const struct tsk_mqtt *m)
{
	if (m->o.protocol != 311 && m->o.receive_max > 0 && m->o.receive_max < BURST_MAX)
		return (size_t)m->o.receive_max;
	return BURST_MAX;
}

/* Writes what libmosquitto has queued (a burst's PUBACKs: one write() each) with the socket corked,
 * so that they leave in as few segments as fit rather than one segment, and one wake-up of the broker,
 * per PUBACK. Uncorking pushes whatever is left at once. */
static int
write_corked(struct tsk_mqtt *m, int fd)
{
	int rc;

#ifdef TCP_CORK
	int on = 1, off = 0;
	int cork = setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on) == 0;
#endif
	rc = mosquitto_loop_write(m->mosq, 1);
#ifdef TCP_CORK
	if (cork) {
		int saved = errno;
		setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
		errno = saved;
	}
#else
	(void)fd;
#endif
	return rc;
}

/* The connected loop (see mqtt.h): read a burst, commit it, then write. Returns why it ended. */
static int
run_connected(struct tsk_mqtt *m)
{
	int rc = MOSQ_ERR_SUCCESS;

	while (!atomic_load(&m->stop)) {
		int fd = mosquitto_socket(m->mosq);
		if (fd < 0)
			return MOSQ_ERR_NO_CONN;
		struct pollfd p = { .fd = fd, .events = POLLIN | (mosquitto_want_write(m->mosq) ? POLLOUT : 0) };
		int n = poll(&p, 1, LOOP_TIMEOUT_MS);
		if (n < 0 && errno != EINTR)
			return MOSQ_ERR_ERRNO;
		if (n > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
			int64_t until = tsk_now_us() + LINGER_US;
			size_t cap = burst_cap(m);
			for (;;) {
				/* Drain what the socket holds (one packet a call; EAGAIN says it is empty). */
				int empty = 0;
				for (size_t k = 0; m->taken < cap && k < BURST_MAX && rc == MOSQ_ERR_SUCCESS && !m->dropped; k++) {
					errno = 0;
					rc = mosquitto_loop_read(m->mosq, 1);
					if (rc == MOSQ_ERR_SUCCESS && (errno == EAGAIN || errno == EWOULDBLOCK)) {
						empty = 1;
						break;
					}
				}
				/* Wait a little for more only when the burst is under way and could still grow. */
				if (!empty || rc != MOSQ_ERR_SUCCESS || m->dropped || m->taken == 0 || m->taken >= cap)
					break;
				int64_t left = until - tsk_now_us();
				if (left <= 0)
					break;
				struct timespec lt = { 0, (long)left * 1000 };
				struct pollfd q = { .fd = fd, .events = POLLIN };
				if (ppoll(&q, 1, &lt, NULL) <= 0 || !(q.revents & (POLLIN | POLLHUP | POLLERR)))
					break;
			}
		}
		/* Before any write: a PUBACK must not leave ahead of its message's commit. */
		commit_burst(m);
		if (rc != MOSQ_ERR_SUCCESS)
			return rc;
		if (mosquitto_want_write(m->mosq) && (rc = write_corked(m, fd)) != MOSQ_ERR_SUCCESS)
			return rc;
		if ((rc = mosquitto_loop_misc(m->mosq)) != MOSQ_ERR_SUCCESS)
			return rc;
	}
	return MOSQ_ERR_SUCCESS;
}

static void *
net_main(void *arg)
{
	struct tsk_mqtt *m = arg;
	long backoff = 0;
	int gated = 0, failures = 0;

	while (!atomic_load(&m->stop)) {
		if (m->gate != NULL && !m->gate(m->arg)) {
			if (!gated)
				mlog(m, 0, "spool full: not reading from the broker until the flusher makes room");
			gated = 1;
			sleep_ms(m, 200);
			continue;
		}
		if (gated)
			mlog(m, 0, "spool has room again: reconnecting");
		gated = 0;
		m->dropped = 0;
		int rc = m->o.protocol == 311
		    ? mosquitto_connect(m->mosq, m->url.host, m->url.port, m->o.keepalive)
		    : mosquitto_connect_bind_v5(m->mosq, m->url.host, m->url.port, m->o.keepalive, NULL, m->props);
		if (rc != MOSQ_ERR_SUCCESS) {
			backoff = backoff == 0 ? BACKOFF_MIN_MS : backoff * 2;
			if (backoff > BACKOFF_MAX_MS)
				backoff = BACKOFF_MAX_MS;
			mlog(m, failures++ == 0 ? 0 : 2, "cannot connect to %s:%d: %s; retrying in %.1fs", m->url.host,
			    m->url.port, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc), backoff / 1000.0);
			sleep_ms(m, backoff);
			continue;
		}
		rc = run_connected(m);
		if (atomic_load(&m->stop)) {
			/* Graceful: the DISCONNECT goes out after the PUBACKs queued before it. Nothing more is
			 * read: a message read now could not be committed. */
			mosquitto_disconnect(m->mosq);
			for (int i = 0; i < m->goodbye_ms / 10 && mosquitto_want_write(m->mosq); i++) {
				struct pollfd p = { .fd = mosquitto_socket(m->mosq), .events = POLLOUT };
				if (p.fd < 0 || poll(&p, 1, 10) < 0 || mosquitto_loop_write(m->mosq, 1) != MOSQ_ERR_SUCCESS)
					break;
			}
			set_disconnected(m);
			break;
		}
		if (atomic_load(&m->connected)) {
			/* It worked for a while: start the backoff over. */
			backoff = 0;
			failures = 0;
		}
		set_disconnected(m);
		if (!m->dropped)
			mlog(m, 0, "connection to %s:%d lost: %s", m->url.host, m->url.port,
			    rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		backoff = backoff == 0 ? BACKOFF_MIN_MS / 4 : backoff * 2;
		if (backoff > BACKOFF_MAX_MS)
			backoff = BACKOFF_MAX_MS;
		sleep_ms(m, backoff);
	}
	return NULL;
}

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void
lib_init(void)
{
	mosquitto_lib_init();
}

static void
mqtt_free(struct tsk_mqtt *m)
{
	if (m->mosq != NULL)
		mosquitto_destroy(m->mosq);
	mosquitto_property_free_all(&m->props);
	for (int i = 0; i < m->nfilters; i++)
		free(m->filters[i]);
	free(m);
}

static int
setup(struct tsk_mqtt *m, char *err, size_t errlen)
{
	const struct tsk_mqtt_opts *o = &m->o;
	int e;

	if ((m->mosq = mosquitto_new(o->client_id, false, m)) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "cannot create the MQTT client: %s", strerror(errno));
	/* Our own thread runs mosquitto_loop(): threaded mode is what keeps the PUBACK queued until
	 * on_message has returned (see mqtt.h). */
	mosquitto_threaded_set(m->mosq, true);
	mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, o->protocol == 311 ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5);
	mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	if (o->protocol != 311) {
		/* Receive maximum: how many QoS 1 messages the broker may send before our PUBACKs. With the
		 * default of 20 every burst stalls on a round trip. */
		mosquitto_int_option(m->mosq, MOSQ_OPT_RECEIVE_MAXIMUM, o->receive_max);
		/* Without a session expiry an MQTT 5 session ends with the connection, and the broker would
		 * drop what it queued for us while we were away. */
		uint32_t exp = o->session_expiry <= 0 || o->session_expiry >= UINT32_MAX ? UINT32_MAX
		                                                                       : (uint32_t)o->session_expiry;
		if (mosquitto_property_add_int32(&m->props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, exp) != MOSQ_ERR_SUCCESS)
			return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	}
	if (m->url.has_user &&
	    (e = mosquitto_username_pw_set(m->mosq, m->url.user, m->url.has_pass ? m->url.pass : NULL)) != MOSQ_ERR_SUCCESS)
		return tsk_seterr(err, errlen, TSK_EINVAL, "MQTT credentials: %s", mosquitto_strerror(e));
	if (m->url.tls || o->cafile != NULL || o->capath != NULL || o->certfile != NULL) {
		/* Without a CA of our own, trust the system's. */
		const char *capath = o->cafile == NULL && o->capath == NULL ? "/etc/ssl/certs" : o->capath;
		if ((e = mosquitto_tls_set(m->mosq, o->cafile, capath, o->certfile, o->keyfile, NULL)) != MOSQ_ERR_SUCCESS)
			return tsk_seterr(err, errlen, TSK_EINVAL, "TLS setup: %s",
			    e == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(e));
		mosquitto_tls_insecure_set(m->mosq, o->insecure ? true : false);
	}
	mosquitto_connect_v5_callback_set(m->mosq, on_connect);
	mosquitto_subscribe_v5_callback_set(m->mosq, on_subscribe);
	mosquitto_message_v5_callback_set(m->mosq, on_message);
	mosquitto_log_callback_set(m->mosq, on_log);
	return TSK_OK;
}

int
tsk_mqtt_start(const struct tsk_mqtt_opts *opts, tsk_mqtt_msg_fn on_msg, tsk_mqtt_commit_fn commit, tsk_mqtt_gate_fn gate,
    tsk_mqtt_log_fn log, void *arg, struct tsk_stats *st, struct tsk_mqtt **out, char *err, size_t errlen)
{
	struct tsk_mqtt *m = calloc(1, sizeof *m);
	int rc, e;

	if (m == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	m->o = *opts;
	m->on_msg = on_msg;
	m->commit = commit;
	m->gate = gate;
	m->log = log;
	m->arg = arg;
	m->st = st;
	if (m->o.protocol == 0)
		m->o.protocol = 5;
	if (m->o.keepalive == 0)
		m->o.keepalive = 60;
	if (m->o.receive_max == 0)
		m->o.receive_max = 1000;
	rc = TSK_EINVAL;
	if (m->o.protocol != 5 && m->o.protocol != 311) {
		tsk_seterr(err, errlen, rc, "MQTT protocol must be 5 or 311");
		goto fail;
	}
	if (m->o.qos != 0 && m->o.qos != 1) {
		/* libmosquitto 2.0 sends PUBREC for QoS 2 before the message reaches the callback: a crash then
		 * loses a message the broker has handed over. QoS 1 is the safe level here. */
		tsk_seterr(err, errlen, rc, "QoS must be 0 or 1 (QoS 2 is not safe with this client library)");
		goto fail;
	}
	if (m->o.client_id == NULL || *m->o.client_id == '\0' || strlen(m->o.client_id) > 23 * 10) {
		tsk_seterr(err, errlen, rc, "a fixed client id is required for a persistent session");
		goto fail;
	}
	if (m->o.keepalive < 5 || m->o.keepalive > 65535) {
		tsk_seterr(err, errlen, rc, "keepalive must be 5..65535 seconds");
		goto fail;
	}
	if (m->o.receive_max < 1 || m->o.receive_max > 65535) {
		tsk_seterr(err, errlen, rc, "receive maximum must be 1..65535");
		goto fail;
	}
	if ((rc = tsk_mqtt_url_parse(m->o.url != NULL ? m->o.url : "mqtt://localhost", &m->url, err, errlen)) != TSK_OK)
		goto fail;
	if (m->o.share != NULL && (*m->o.share == '\0' || strpbrk(m->o.share, "/+#") != NULL)) {
		rc = tsk_seterr(err, errlen, TSK_EINVAL, "bad --share group \"%s\"", m->o.share);
		goto fail;
	}
	for (int i = 0; i < (m->o.ntopics > 0 ? m->o.ntopics : 1); i++) {
		const char *t = m->o.ntopics > 0 ? m->o.topics[i] : "tenants/+/#";
		if (mosquitto_sub_topic_check(t) != MOSQ_ERR_SUCCESS) {
			rc = tsk_seterr(err, errlen, TSK_EINVAL, "bad topic filter \"%s\"", t);
			goto fail;
		}
		if (m->o.share != NULL ? asprintf(&m->filters[i], "$share/%s/%s", m->o.share, t) < 0
		                       : (m->filters[i] = strdup(t)) == NULL) {
			m->filters[i] = NULL;
			rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
			goto fail;
		}
		m->nfilters++;
	}
	pthread_once(&lib_once, lib_init);
	if ((rc = setup(m, err, errlen)) != TSK_OK)
		goto fail;
	if ((e = pthread_create(&m->thr, NULL, net_main, m)) != 0) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "cannot start the MQTT thread: %s", strerror(e));
		goto fail;
	}
	*out = m;
	return TSK_OK;
fail:
	mqtt_free(m);
	return rc;
}

void
tsk_mqtt_stop(struct tsk_mqtt *m, int timeout_ms)
{
	if (m == NULL)
		return;
	m->goodbye_ms = timeout_ms > 100 ? timeout_ms : 100;
	atomic_store(&m->stop, 1);
	pthread_join(m->thr, NULL);
	mqtt_free(m);
}

int
tsk_mqtt_connected(const struct tsk_mqtt *m)
{
	return atomic_load(&m->connected);
}
