/*
 * mqtt_load: a QoS 1 load generator for the ingest tests and benchmark (mosquitto_pub manages about
 * 3 000 messages per second at QoS 1; this keeps a window of unacknowledged messages per connection
 * and spreads the load over several connections).
 *
 *   mqtt_load -p PORT -n COUNT [-H HOST] [-c CONNECTIONS] [-w WINDOW] [-r RATE] [-q QOS]
 *             [-T TENANT[,TENANT...]] [-D DEVICES] [-S SENSORS] [-b BASE_EPOCH_S] [-o OFFSET]
 *             [-f single|standard] [-x REPEAT]
 *
 * Message i (OFFSET <= i < OFFSET + COUNT) is one reading with a (tenant, device, sensor, ts) of its
 * own: tenant T[i % nT]; device d(i % D); sensor s((i / D) % S); ts BASE + i / (D * S) seconds, so
 * COUNT messages are COUNT distinct readings. -x REPEAT publishes every message REPEAT times (the
 * redelivery test). -r paces the total rate (messages per second; 0: as fast as acknowledged).
 * The value is i. Prints {"sent", "acked", "seconds", "rate"} on stdout when every message has been
 * acknowledged by the broker (PUBACK: the broker has it), and exits 0; 1 on failure.
 */
#include <errno.h>
#include <getopt.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_TENANTS 64

static const char *host = "127.0.0.1";
static int port, conns = 1, window = 200, qos = 1, devices = 100, sensors = 1, repeat = 1, standard;
static long count, offset;
static double rate;
static long long base_ts = 1767225600; /* 2026-01-01T00:00:00Z */
static char *tenants[MAX_TENANTS];
static int ntenants;
static _Atomic long acked_total;

struct conn {
	int k;
	struct mosquitto *mosq;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int inflight, connected, failed;
	long sent;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
on_connect(struct mosquitto *m, void *obj, int rc)
{
	struct conn *c = obj;

	(void)m;
	pthread_mutex_lock(&c->mu);
	if (rc == 0)
		c->connected = 1;
	else
		c->failed = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void
on_publish(struct mosquitto *m, void *obj, int mid)
{
	struct conn *c = obj;

	(void)m;
	(void)mid;
	pthread_mutex_lock(&c->mu);
	c->inflight--;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	atomic_fetch_add(&acked_total, 1);
}

static int
message(long i, char *topic, size_t tlen, char *payload, size_t plen)
{
	const char *t = tenants[i % ntenants];
	long d = i % devices, s = (i / devices) % sensors;
	long long ts = base_ts + i / ((long)devices * sensors);
	time_t tt = (time_t)ts;
	struct tm tm;
	char iso[32];

	gmtime_r(&tt, &tm);
	strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (standard) {
		snprintf(topic, tlen, "tenants/%s/sites/Site%%20A/assets/CH-%ld/telemetry", t, d % 10);
		return snprintf(payload, plen,
		    "{\"device_id\":\"d%ld\",\"timestamp\":\"%s\",\"sensors\":[{\"sensor_id\":\"s%ld\",\"value\":%ld,"
		    "\"unit\":\"celsius\",\"type\":\"temperature\"}]}", d, iso, s, i);
	}
	snprintf(topic, tlen, "tenants/%s/devices/d%ld/sensors/s%ld", t, d, s);
	return snprintf(payload, plen, "{\"value\":%ld,\"unit\":\"celsius\",\"timestamp\":\"%s\"}", i, iso);
}

static void *
run(void *arg)
{
	struct conn *c = arg;
	char topic[256], payload[512];
	long mine = 0;
	double start = now_s(), per = rate > 0 ? rate / conns : 0;

	for (long i = offset + c->k; i < offset + count; i += conns) {
		int len = message(i, topic, sizeof topic, payload, sizeof payload);
		for (int r = 0; r < repeat; r++) {
			if (per > 0) {
				double due = start + (double)mine / per, wait = due - now_s();
				if (wait > 0)
					usleep((useconds_t)(wait * 1e6));
			}
			pthread_mutex_lock(&c->mu);
			while (c->inflight >= window && !c->failed)
				pthread_cond_wait(&c->cv, &c->mu);
			c->inflight++;
			pthread_mutex_unlock(&c->mu);
			int rc;
			while ((rc = mosquitto_publish(c->mosq, NULL, topic, len, payload, qos, false)) != MOSQ_ERR_SUCCESS) {
				if (rc != MOSQ_ERR_NO_CONN && rc != MOSQ_ERR_CONN_LOST) {
					fprintf(stderr, "mqtt_load: publish: %s\n", mosquitto_strerror(rc));
					c->failed = 1;
					return NULL;
				}
				usleep(100000); /* reconnecting: the library retries in-flight messages itself */
			}
			if (qos == 0)
				on_publish(c->mosq, c, 0);
			c->sent++;
			mine++;
		}
	}
	pthread_mutex_lock(&c->mu);
	while (c->inflight > 0 && !c->failed)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct conn *cs;
	pthread_t *th;
	char *tlist = "a";
	int c;

	while ((c = getopt(argc, argv, "H:p:n:c:w:r:q:T:D:S:b:o:f:x:")) != -1) {
		switch (c) {
		case 'H': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'n': count = atol(optarg); break;
		case 'c': conns = atoi(optarg); break;
		case 'w': window = atoi(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 'q': qos = atoi(optarg); break;
		case 'T': tlist = optarg; break;
		case 'D': devices = atoi(optarg); break;
		case 'S': sensors = atoi(optarg); break;
		case 'b': base_ts = atoll(optarg); break;
		case 'o': offset = atol(optarg); break;
		case 'f': standard = strcmp(optarg, "standard") == 0; break;
		case 'x': repeat = atoi(optarg); break;
		default: fprintf(stderr, "usage: see tests/helpers/mqtt_load.c\n"); return 2;
		}
	}
	if (port <= 0 || count <= 0 || conns < 1 || window < 1 || devices < 1 || sensors < 1 || repeat < 1) {
		fprintf(stderr, "mqtt_load: -p PORT and -n COUNT are required\n");
		return 2;
	}
	for (char *t = strtok(tlist, ","); t != NULL && ntenants < MAX_TENANTS; t = strtok(NULL, ","))
		tenants[ntenants++] = t;
	mosquitto_lib_init();
	cs = calloc((size_t)conns, sizeof *cs);
	th = calloc((size_t)conns, sizeof *th);
	for (int k = 0; k < conns; k++) {
		struct conn *x = &cs[k];
		x->k = k;
		pthread_mutex_init(&x->mu, NULL);
		pthread_cond_init(&x->cv, NULL);
		x->mosq = mosquitto_new(NULL, true, x);
		mosquitto_int_option(x->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
		mosquitto_max_inflight_messages_set(x->mosq, (unsigned)window);
		mosquitto_connect_callback_set(x->mosq, on_connect);
		mosquitto_publish_callback_set(x->mosq, on_publish);
		if (mosquitto_connect(x->mosq, host, port, 60) != MOSQ_ERR_SUCCESS || mosquitto_loop_start(x->mosq) != MOSQ_ERR_SUCCESS) {
			fprintf(stderr, "mqtt_load: cannot connect to %s:%d: %s\n", host, port, strerror(errno));
			return 1;
		}
		pthread_mutex_lock(&x->mu);
		while (!x->connected && !x->failed)
			pthread_cond_wait(&x->cv, &x->mu);
		pthread_mutex_unlock(&x->mu);
		if (x->failed) {
			fprintf(stderr, "mqtt_load: broker refused the connection\n");
			return 1;
		}
	}
	double t0 = now_s();
	for (int k = 0; k < conns; k++)
		pthread_create(&th[k], NULL, run, &cs[k]);
	long sent = 0;
	int failed = 0;
	for (int k = 0; k < conns; k++) {
		pthread_join(th[k], NULL);
		sent += cs[k].sent;
		failed |= cs[k].failed;
	}
	double secs = now_s() - t0;
	for (int k = 0; k < conns; k++) {
		mosquitto_disconnect(cs[k].mosq);
		mosquitto_loop_stop(cs[k].mosq, false);
		mosquitto_destroy(cs[k].mosq);
	}
	mosquitto_lib_cleanup();
	printf("{\"sent\":%ld,\"acked\":%ld,\"seconds\":%.3f,\"rate\":%.0f}\n", sent, atomic_load(&acked_total), secs,
	    secs > 0 ? (double)sent / secs : 0.0);
	free(cs);
	free(th);
	return failed ? 1 : 0;
}
