/*
 * bench_spool: how fast the ingest spool goes. Prints, for information (never pass/fail):
 *   single-message commits (what tsk-ingest does per MQTT message) under synchronous=NORMAL and FULL,
 *   with latency percentiles; batch appends (stdin mode); peek+ack batches; puts while a second
 *   thread flushes; and the time to open (quick_check + checksum scan) a spool with a backlog.
 *
 * usage: bench_spool [-d DIR] [-n MSGS] [-f FULL_MSGS] [-r READINGS_PER_MSG]
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "model/reading.h"
#include "ingest/spool.h"
#include "core/tsk.h"

static char err[TSK_ERRLEN];

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU seconds of this process (user + system): unlike wall time, not inflated by other load. */
static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	    ru.ru_stime.tv_usec / 1e6;
}

/* Bytes this process caused to be sent to the storage layer (Linux /proc/self/io write_bytes); the
 * writes themselves may happen later, by the kernel's writeback. -1 when unavailable. */
static double
disk_bytes(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	double v = -1;

	while (f != NULL && fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "write_bytes:", 12) == 0)
			v = atof(line + 12);
	if (f != NULL)
		fclose(f);
	return v;
}

static int
cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
fresh(const char *path)
{
	char p[600];

	unlink(path);
	snprintf(p, sizeof p, "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", path);
	unlink(p);
}

static struct tsk_spool *
open_or_die(const char *path, const struct tsk_spool_opts *o)
{
	struct tsk_spool *sp;

	if (tsk_spool_open(path, o, &sp, err, sizeof err) != TSK_OK) {
		fprintf(stderr, "bench_spool: %s\n", err);
		exit(1);
	}
	return sp;
}

static void
die_unless_ok(int rc)
{
	if (rc != TSK_OK) {
		fprintf(stderr, "bench_spool: %s\n", err);
		exit(1);
	}
}

/* Readings like an HVAC gateway's: device, sensor, unit, site, asset, one label. */
static void
make_readings(struct tsk_readings *rs, int n)
{
	json_t *labels = json_pack("{s:s}", "fw", "2.4.1");
	char sensor[32];

	for (int i = 0; i < n; i++) {
		snprintf(sensor, sizeof sensor, "temp-%02d", i);
		tsk_readings_add(rs, NULL, "GW-CHILLER-0001", sensor, INT64_C(1760697000000000) + i, 7.25 + i * 0.1,
		    "celsius", labels, "Bloco A", "CH-01");
	}
	json_decref(labels);
}

static void
single_puts(const char *path, int sync_full, int n, const struct tsk_readings *rs)
{
	struct tsk_spool_opts o = { .sync_full = sync_full };
	struct tsk_spool *sp;
	double *lat = malloc(sizeof *lat * (size_t)n), t0, t1;

	double c0, d0;

	fresh(path);
	sp = open_or_die(path, &o);
	c0 = cpu_s();
	d0 = disk_bytes();
	t0 = now_s();
	for (int i = 0; i < n; i++) {
		double a = now_s();
		die_unless_ok(tsk_spool_put(sp, "umc", rs->v, rs->n, i, err, sizeof err));
		lat[i] = now_s() - a;
	}
	t1 = now_s();
	tsk_spool_close(sp);    /* the final checkpoint's writes count too */
	qsort(lat, (size_t)n, sizeof *lat, cmp_dbl);
	printf("put, one commit per message, synchronous=%-6s %8.0f puts/s  (%zu readings/msg, %d msgs; "
	    "latency p50 %.1f us, p99 %.1f us, max %.2f ms; CPU %.1f us/put; to disk %.0f B/put)\n",
	    sync_full ? "FULL" : "NORMAL", n / (t1 - t0), rs->n, n, lat[n / 2] * 1e6, lat[n * 99 / 100] * 1e6,
	    lat[n - 1] * 1e3, (cpu_s() - c0) / n * 1e6, (disk_bytes() - d0) / n);
	free(lat);
}

static void
batch_puts(const char *path, int n, int per, const struct tsk_readings *rs)
{
	struct tsk_spool_msg *m = malloc(sizeof *m * (size_t)per);
	struct tsk_spool *sp;
	size_t done;
	double t0;

	fresh(path);
	sp = open_or_die(path, NULL);
	for (int i = 0; i < per; i++)
		m[i] = (struct tsk_spool_msg){ .tenant = "umc", .r = rs->v, .n = rs->n, .received_us = i };
	t0 = now_s();
	for (int i = 0; i < n; i += per)
		die_unless_ok(tsk_spool_put_batch(sp, m, (size_t)per, &done, err, sizeof err));
	printf("put_batch, %d messages per transaction           %8.0f msgs/s\n", per, n / (now_s() - t0));
	tsk_spool_close(sp);
	free(m);
}

/* Fills a spool with n messages, then drains it in batches of `per`, timing peek and ack apart. */
static void
drain(const char *path, int n, int per, const struct tsk_readings *rs)
{
	struct tsk_spool_batch b;
	struct tsk_spool *sp;
	double tp = 0, ta = 0, t, worst_peek = 0;
	long msgs = 0, readings = 0;

	fresh(path);
	sp = open_or_die(path, NULL);
	tsk_spool_batch_init(&b);
	for (int i = 0; i < n; i++)
		die_unless_ok(tsk_spool_put(sp, "umc", rs->v, rs->n, i, err, sizeof err));
	for (;;) {
		t = now_s();
		die_unless_ok(tsk_spool_peek(sp, (size_t)per, 0, &b, err, sizeof err));
		t = now_s() - t;
		tp += t;
		worst_peek = t > worst_peek ? t : worst_peek;
		if (b.nmsg == 0)
			break;
		msgs += (long)b.nmsg;
		readings += (long)b.readings.n;
		t = now_s();
		die_unless_ok(tsk_spool_ack(sp, &b, err, sizeof err));
		ta += now_s() - t;
	}
	printf("peek+ack, batches of %5d messages                %8.0f msgs/s (%.0f readings/s; peek %.0f msgs/s, "
	    "ack %.0f msgs/s; one peek up to %.1f ms)\n", per, msgs / (tp + ta), readings / (tp + ta), msgs / tp,
	    msgs / ta, worst_peek * 1e3);
	tsk_spool_batch_free(&b);
	tsk_spool_close(sp);
}

struct flusher {
	struct tsk_spool *sp;
	int per, interval_ms;
	atomic_int stop;
	long msgs, acks;
	double worst_peek, worst_ack;
};

static void *
flush_thread(void *arg)
{
	struct flusher *f = arg;
	struct tsk_spool_batch b;
	char e[TSK_ERRLEN];
	double t;

	tsk_spool_batch_init(&b);
	for (;;) {
		t = now_s();
		if (tsk_spool_peek(f->sp, (size_t)f->per, 0, &b, e, sizeof e) != TSK_OK)
			break;
		t = now_s() - t;
		f->worst_peek = t > f->worst_peek ? t : f->worst_peek;
		if (b.nmsg == 0 && f->stop)
			break;
		if (b.nmsg > 0) {
			f->msgs += (long)b.nmsg;
			f->acks++;
			t = now_s();
			if (tsk_spool_ack(f->sp, &b, e, sizeof e) != TSK_OK)
				break;
			t = now_s() - t;
			f->worst_ack = t > f->worst_ack ? t : f->worst_ack;
		}
		/* Like a sink: a short batch means it has caught up, so wait for its flush interval. */
		if (b.nmsg < (size_t)f->per && !f->stop)
			usleep(f->interval_ms * 1000);
	}
	tsk_spool_batch_free(&b);
	return NULL;
}

/* The MQTT thread puts while the flusher thread peeks and acks on the same handle. */
static void
concurrent(const char *path, int n, int per, int interval_ms, const struct tsk_readings *rs)
{
	struct flusher f = { .per = per, .interval_ms = interval_ms };
	double *lat = malloc(sizeof *lat * (size_t)n), t0, t1;
	pthread_t t;

	fresh(path);
	f.sp = open_or_die(path, NULL);
	pthread_create(&t, NULL, flush_thread, &f);
	t0 = now_s();
	for (int i = 0; i < n; i++) {
		double a = now_s();
		die_unless_ok(tsk_spool_put(f.sp, "umc", rs->v, rs->n, i, err, sizeof err));
		lat[i] = now_s() - a;
	}
	t1 = now_s();
	f.stop = 1;
	pthread_join(t, NULL);
	qsort(lat, (size_t)n, sizeof *lat, cmp_dbl);
	printf("put while a flusher peeks+acks (%4d/batch, %3d ms) %7.0f puts/s  (latency p50 %.1f us, p99 %.1f us, "
	    "max %.2f ms; flushed %ld/%d in %ld acks, worst peek %.1f ms, worst ack %.1f ms)\n", per, interval_ms,
	    n / (t1 - t0), lat[n / 2] * 1e6, lat[n * 99 / 100] * 1e6, lat[n - 1] * 1e3, f.msgs, n, f.acks,
	    f.worst_peek * 1e3, f.worst_ack * 1e3);
	tsk_spool_close(f.sp);
	free(lat);
}

/* Startup after an outage: quick_check plus the checksum scan over a backlog of n messages. */
static void
open_backlog(const char *path, int n, const struct tsk_readings *rs)
{
	struct tsk_spool_msg *m = malloc(sizeof *m * 1000);
	struct tsk_spool_stats st;
	struct tsk_spool *sp;
	size_t done;
	double t0;

	fresh(path);
	sp = open_or_die(path, NULL);
	for (int i = 0; i < 1000; i++)
		m[i] = (struct tsk_spool_msg){ .tenant = "umc", .r = rs->v, .n = rs->n, .received_us = i };
	for (int i = 0; i < n; i += 1000)
		die_unless_ok(tsk_spool_put_batch(sp, m, 1000, &done, err, sizeof err));
	tsk_spool_close(sp);
	t0 = now_s();
	sp = open_or_die(path, NULL);
	printf("open with a backlog of %d messages               %8.0f ms", n, (now_s() - t0) * 1e3);
	die_unless_ok(tsk_spool_stats(sp, &st, err, sizeof err));
	printf("  (%.1f MB file, %.1f MB of bodies)\n", st.file_bytes / 1e6, st.bytes / 1e6);
	tsk_spool_close(sp);
	free(m);
}

int
main(int argc, char **argv)
{
	const char *dir = "/tmp";
	int n = 50000, nfull = 2000, r = 5, c;
	struct tsk_readings rs, one;
	char path[512];

	while ((c = getopt(argc, argv, "d:n:f:r:")) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'f': nfull = atoi(optarg); break;
		case 'r': r = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: bench_spool [-d DIR] [-n MSGS] [-f FULL_MSGS] [-r READINGS_PER_MSG]\n");
			return 2;
		}
	}
	if (n < 1000 || nfull < 10 || r < 1) {
		fprintf(stderr, "bench_spool: -n >= 1000, -f >= 10, -r >= 1\n");
		return 2;
	}
	snprintf(path, sizeof path, "%s/bench-spool-%ld.db", dir, (long)getpid());
	tsk_readings_init(&rs);
	tsk_readings_init(&one);
	make_readings(&rs, r);
	make_readings(&one, 1);

	single_puts(path, 0, n, &one);
	single_puts(path, 0, n, &rs);
	single_puts(path, 1, nfull, &rs);
	batch_puts(path, n, 1000, &rs);
	drain(path, n, 500, &rs);
	drain(path, n, 5000, &rs);
	concurrent(path, n, 500, 0, &rs);       /* a flusher that never waits: the worst case */
	concurrent(path, n, 5000, 100, &rs);
	open_backlog(path, n * 4, &rs);

	fresh(path);
	tsk_readings_free(&rs);
	tsk_readings_free(&one);
	return 0;
}
