/*
 * The MQTT receiver: a persistent QoS 1 subscription whose messages are handed to a callback that
 * must make each one durable before returning, because the PUBACK leaves only after it returns.
 *
 * Why that holds (libmosquitto 2.0, lib/handle_publish.c and lib/packet_mosq.c): for a QoS 1 PUBLISH
 * the library queues the PUBACK and then calls on_message; packet__queue() writes a queued packet at
 * once only when the client is not in threaded mode and not inside a callback. Our network thread sets
 * mosquitto_threaded_set(true) and runs its own loop over the public pieces of mosquitto_loop():
 *   poll(socket) -> mosquitto_loop_read() until the socket is drained (each PUBLISH: on_message, which
 *   parses and stages it) -> commit callback (one spool transaction for the whole burst) ->
 *   mosquitto_loop_write() (the queued PUBACKs leave now) -> mosquitto_loop_misc() (keepalive)
 * so no PUBACK is written before the commit of its message. (With the plain unthreaded loop the PUBACK
 * would be written before the callback runs, and a crash inside it would lose an acknowledged message.)
 * Committing a burst in one transaction instead of one per message is what the split buys: the spool
 * costs two write(2)s per commit, and on a busy connection a burst is tens of messages.
 *
 * When the messages cannot be made durable (spool full for too long, shutdown, an error) the commit
 * callback (or, without one, the message callback) returns non-zero and we shut the socket down before
 * any write: the queued PUBACKs can then never be written, the broker keeps the messages in the session
 * and sends them again after the reconnect. The network thread
 * reconnects only when the gate callback says there is room again. While on_message blocks nothing
 * else runs on the connection (no PINGREQ): a block longer than 1.5 x keepalive makes the broker drop
 * us, which is safe for the same reason (every message we committed but did not acknowledge is
 * redelivered, and the unique key absorbs the copy).
 *
 * Reconnects are ours, not libmosquitto's, so that every CONNECT carries the MQTT 5 session expiry
 * (libmosquitto's own reconnect sends no CONNECT properties): backoff from 1 s doubling to 30 s.
 */
#ifndef TSK_MQTT_H
#define TSK_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/stats.h"

#define TSK_MQTT_MAX_TOPICS 16

struct tsk_mqtt_url {
	int tls;                 /* mqtts:// */
	char host[256];
	int port;
	char user[256], pass[256]; /* percent-decoded; "" when absent */
	int has_user, has_pass;
};

/* mqtt://[user[:password]@]host[:port] or mqtts://...; IPv6 hosts in brackets; default ports 1883 and
 * 8883. TSK_OK or TSK_EINVAL. */
int tsk_mqtt_url_parse(const char *url, struct tsk_mqtt_url *out, char *err, size_t errlen);

struct tsk_mqtt_opts {
	const char *url;                 /* NULL: mqtt://localhost */
	const char *topics[TSK_MQTT_MAX_TOPICS]; /* filters; none: "tenants/+/#" */
	int ntopics;
	const char *share;               /* shared-subscription group: subscribe $share/GROUP/filter */
	const char *client_id;           /* fixed, so the broker keeps our session; required */
	int qos;                         /* 0 or 1 */
	int protocol;                    /* 5 or 311; 0: 5 */
	int keepalive;                   /* seconds; 0: 60 */
	int receive_max;                 /* MQTT 5 receive maximum (messages in flight); 0: 1000 */
	int64_t session_expiry;          /* MQTT 5, seconds; 0: never expires */
	const char *cafile, *capath, *certfile, *keyfile;
	int insecure;                    /* do not check the server's host name */
};

/* Called on the network thread for each message. Return 0 when the message is taken (durable already,
 * or staged for the next commit), non-zero when it is not (nothing of the burst is acknowledged: the
 * connection is dropped). */
typedef int (*tsk_mqtt_msg_fn)(void *arg, const char *topic, const void *payload, size_t len, int64_t arrival_us);
/* Called after each burst of messages, before their PUBACKs can be written: 0 when every message taken
 * since the last call is durable, non-zero when not (the connection is dropped). May be NULL. */
typedef int (*tsk_mqtt_commit_fn)(void *arg);
/* Asked before every (re)connect: 1 to go ahead, 0 to wait (the spool is still full). May be NULL. */
typedef int (*tsk_mqtt_gate_fn)(void *arg);
/* level: 0 warning, 1 info, 2 debug. */
typedef void (*tsk_mqtt_log_fn)(void *arg, int level, const char *msg);

struct tsk_mqtt;

/* Checks the options, starts the network thread (it connects, subscribes, reconnects). st (may be NULL)
 * receives the connection counters. TSK_OK, TSK_EINVAL (bad options), TSK_EFAIL. */
int tsk_mqtt_start(const struct tsk_mqtt_opts *opts, tsk_mqtt_msg_fn on_msg, tsk_mqtt_commit_fn commit,
    tsk_mqtt_gate_fn gate, tsk_mqtt_log_fn log, void *arg, struct tsk_stats *st, struct tsk_mqtt **out, char *err,
    size_t errlen);
/* Stops reading: what was read is committed (or not acknowledged), a graceful DISCONNECT (bounded by
 * timeout_ms) goes out after the PUBACKs, then the thread is joined and freed. The callbacks should
 * return quickly once asked to stop. */
void tsk_mqtt_stop(struct tsk_mqtt *m, int timeout_ms);
/* 1 while connected and subscribed. */
int tsk_mqtt_connected(const struct tsk_mqtt *m);

#endif
