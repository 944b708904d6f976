/* The ingest spool: round trips, the cap, dead letters, threads, SIGKILL at random points, and torn,
 * truncated and foreign files (generated here, in a mkdtemp directory). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model/reading.h"
#include "ingest/spool.h"
#include "tap.h"
#include "core/time.h"
#include "core/tsk.h"

static char dir[64];
static char err[TSK_ERRLEN];

static const char *
in_dir(const char *name)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
	return buf[i];
}

static void
rm_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlink(in_dir(e->d_name));
	closedir(d);
	rmdir(dir);
}

static unsigned char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p = NULL;
	long n;

	*len = 0;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (p = malloc((size_t)n + 1)) != NULL && fread(p, 1, (size_t)n, f) == (size_t)n)
		*len = (size_t)n;
	fclose(f);
	return p;
}

static void
spit(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0)
		printf("# cannot write %s\n", path);
}

static int
exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Field by field, the value bit for bit. want->tenant NULL means the message's tenant. */
static int
same_reading(const struct tsk_reading *got, const struct tsk_reading *want, const char *tenant)
{
	return same_str(got->tenant, want->tenant != NULL ? want->tenant : tenant) &&
	    same_str(got->device_id, want->device_id) && same_str(got->sensor_id, want->sensor_id) &&
	    got->ts_us == want->ts_us && memcmp(&got->value, &want->value, sizeof(double)) == 0 &&
	    same_str(got->unit, want->unit) && same_str(got->site, want->site) &&
	    same_str(got->asset_tag, want->asset_tag) && got->labels != NULL && json_equal(got->labels, want->labels);
}

static struct tsk_spool *
open_ok(const char *path, const struct tsk_spool_opts *o)
{
	struct tsk_spool *sp = NULL;
	int rc = tsk_spool_open(path, o, &sp, err, sizeof err);

	if (rc != TSK_OK)
		printf("# open %s: %d %s\n", path, rc, err);
	return sp;
}

/* ---- round trip ---- */

static void
test_round_trip(void)
{
	struct tsk_readings a, b, c;
	struct tsk_spool_batch batch;
	struct tsk_spool_stats st;
	struct tsk_spool *sp;
	const char *path = in_dir("rt.db");
	json_t *labels = json_pack("{s:i, s:f, s:s, s:[i,b,n], s:{s:s}}", "floor", 2, "x", 0.1, "q", "a\"b\\c\u00e9",
	    "arr", 1, 1, "nested", "k", "v");
	int64_t t0 = INT64_C(1760697000123456);
	int64_t ids[3] = { 0, 0, 0 };

	tsk_readings_init(&a);
	tsk_readings_init(&b);
	tsk_readings_init(&c);
	tsk_spool_batch_init(&batch);
	tsk_readings_add(&a, NULL, "GW-1", "temp-01", t0, 0.1, "celsius", labels, "Bloco A", "CH-01");
	tsk_readings_add(&a, "umc", "GW-1", "hum", t0 + 1, -0.0, NULL, NULL, NULL, NULL);
	tsk_readings_add(&a, NULL, "GW-1", "big", t0 + 2, 1e300, "", NULL, "", NULL);
	tsk_readings_add(&a, "other-tenant", "GW-2", "tiny", -INT64_C(1234567), 4.9406564584124654e-324, "x",
	    NULL, NULL, "A-1");
	tsk_readings_add(&a, NULL, "GW-2", "neg", INT64_MAX, -1.7976931348623157e308, NULL, NULL, NULL, NULL);
	tsk_readings_add(&b, NULL, "dev-b", "s", t0, 23.5, "celsius", NULL, NULL, NULL);
	tsk_readings_add(&c, NULL, "dev-c\u00e7", "s\u00e3o", t0, 1.0 / 3.0, "%", labels, NULL, NULL);

	sp = open_ok(path, NULL);
	ok(sp != NULL, "creates a new spool");
	if (sp == NULL)
		goto done;
	is_int(tsk_spool_put(sp, "umc", a.v, a.n, 1000, err, sizeof err), TSK_OK, "put message A (5 readings)");
	is_int(tsk_spool_put(sp, "acme", b.v, b.n, 2000, err, sizeof err), TSK_OK, "put message B (other tenant)");
	is_int(tsk_spool_put(sp, "umc", c.v, c.n, 3000, err, sizeof err), TSK_OK, "put message C");
	is_int(tsk_spool_put(sp, "", b.v, b.n, 0, err, sizeof err), TSK_EINVAL, "put without a tenant: TSK_EINVAL");
	is_int(tsk_spool_put(sp, "umc", b.v, 0, 0, err, sizeof err), TSK_EINVAL, "put of no readings: TSK_EINVAL");

	is_int(tsk_spool_peek(sp, 10, 0, &batch, err, sizeof err), TSK_OK, "peek");
	is_int(batch.nmsg, 3, "peek sees 3 messages");
	is_int(batch.readings.n, 7, "and 7 readings");
	if (batch.nmsg == 3 && batch.readings.n == 7) {
		ok(batch.msg[0].id < batch.msg[1].id && batch.msg[1].id < batch.msg[2].id, "ids ascend");
		is_str(batch.msg[0].tenant, "umc", "message A's tenant");
		is_str(batch.msg[1].tenant, "acme", "message B's tenant");
		is_int(batch.msg[2].received_us, 3000, "received_us kept");
		is_int(batch.msg[0].first, 0, "A starts at reading 0");
		is_int(batch.msg[0].n, 5, "A has 5 readings");
		is_int(batch.msg[1].first, 5, "B starts at reading 5");
		for (size_t i = 0; i < a.n; i++)
			ok(same_reading(&batch.readings.v[i], &a.v[i], "umc"), "A reading %zu round-trips exactly", i);
		ok(same_reading(&batch.readings.v[5], &b.v[0], "acme"), "B reading round-trips exactly");
		ok(same_reading(&batch.readings.v[6], &c.v[0], "umc"), "C reading round-trips exactly");
		ok(signbit(batch.readings.v[1].value) && batch.readings.v[1].value == 0, "-0.0 keeps its sign");
		ok(batch.readings.v[1].unit == NULL && batch.readings.v[1].site == NULL, "null unit and site stay null");
		is_str(batch.readings.v[2].unit, "", "an empty unit stays empty, not null");
		is_str(batch.readings.v[3].tenant, "other-tenant", "a reading's own tenant is kept");
		is_int(json_object_size(batch.readings.v[1].labels), 0, "absent labels come back as {}");
		ids[0] = batch.msg[0].id;
		ids[1] = batch.msg[1].id;
		ids[2] = batch.msg[2].id;
	}
	is_int(tsk_spool_peek(sp, 10, 0, &batch, err, sizeof err), TSK_OK, "peek again");
	is_int(batch.nmsg, 3, "peek does not delete");

	is_int(tsk_spool_peek(sp, 2, 0, &batch, err, sizeof err), TSK_OK, "peek 2");
	is_int(batch.nmsg, 2, "max_msgs honoured");
	is_int(tsk_spool_put(sp, "umc", b.v, b.n, 4000, err, sizeof err), TSK_OK, "put D while a batch is out");
	is_int(tsk_spool_ack(sp, &batch, err, sizeof err), TSK_OK, "ack A and B");
	is_int(batch.nmsg, 0, "ack clears the batch");
	is_int(tsk_spool_ack(sp, &batch, err, sizeof err), TSK_OK, "a second ack is a no-op");
	is_int(tsk_spool_stats(sp, &st, err, sizeof err), TSK_OK, "stats");
	is_int(st.msgs, 2, "depth 2 messages (C and D)");
	is_int(st.readings, 2, "depth 2 readings");
	is_int(st.oldest_us, 3000, "oldest is C");
	ok(st.file_bytes > 0, "file size reported (%llu bytes, wal %llu)", (unsigned long long)st.file_bytes,
	    (unsigned long long)st.wal_bytes);
	is_int(tsk_spool_counters(sp)->ack_msgs, 2, "ack counter");
	is_int(tsk_spool_counters(sp)->put_msgs, 4, "put counter");
	is_int(tsk_spool_counters(sp)->put_errors, 2, "error counter");

	is_int(tsk_spool_peek(sp, 1, 0, &batch, err, sizeof err), TSK_OK, "peek C");
	ok(batch.nmsg == 1 && batch.msg[0].id == ids[2], "C is next");
	tsk_spool_close(sp);

	sp = open_ok(path, NULL);
	ok(sp != NULL, "reopens");
	if (sp == NULL)
		goto done;
	is_int(tsk_spool_counters(sp)->depth_msgs, 2, "depth loaded on open");
	is_int(tsk_spool_peek(sp, 10, 0, &batch, err, sizeof err), TSK_OK, "peek after reopen");
	is_int(batch.nmsg, 2, "unacked C and D are there");
	if (batch.nmsg == 2) {
		is_int(batch.msg[0].id, ids[2], "C kept its id");
		ok(batch.msg[1].id > ids[2], "D after C");
		ok(same_reading(&batch.readings.v[0], &c.v[0], "umc"), "C exact after reopen");
		ok(ids[0] != batch.msg[1].id && ids[1] != batch.msg[1].id, "acked ids are gone");
	}
	/* Ack only C, from a batch of one: D must stay. */
	is_int(tsk_spool_peek(sp, 1, 0, &batch, err, sizeof err), TSK_OK, "peek C again");
	is_int(tsk_spool_ack(sp, &batch, err, sizeof err), TSK_OK, "ack C alone");
	is_int(tsk_spool_peek(sp, 10, 0, &batch, err, sizeof err), TSK_OK, "peek");
	ok(batch.nmsg == 1 && batch.msg[0].received_us == 4000, "only D is left");

	/* max_readings: A (5) + B (1) + A (5). */
	is_int(tsk_spool_ack(sp, &batch, err, sizeof err), TSK_OK, "ack D");
	/* A batch acked when part of it is already gone (acked through another batch): the rest goes, and
	 * the depth counts each row once. */
	{
		struct tsk_spool_batch b2;
		uint64_t acked0 = tsk_spool_counters(sp)->ack_msgs;
		tsk_spool_batch_init(&b2);
		tsk_spool_put(sp, "umc", a.v, a.n, 5, err, sizeof err);
		tsk_spool_put(sp, "umc", b.v, b.n, 6, err, sizeof err);
		tsk_spool_put(sp, "umc", b.v, b.n, 7, err, sizeof err);
		is_int(tsk_spool_peek(sp, 10, 0, &batch, err, sizeof err), TSK_OK, "peek three");
		is_int(tsk_spool_peek(sp, 1, 0, &b2, err, sizeof err), TSK_OK, "peek the first of them again");
		is_int(tsk_spool_ack(sp, &b2, err, sizeof err), TSK_OK, "ack the first alone");
		is_int(tsk_spool_ack(sp, &batch, err, sizeof err), TSK_OK, "ack all three");
		is_int(tsk_spool_counters(sp)->depth_msgs, 0, "depth 0 messages");
		is_int(tsk_spool_counters(sp)->depth_readings, 0, "depth 0 readings");
		is_int(tsk_spool_counters(sp)->ack_msgs - acked0, 3, "each row acked once");
		is_int(tsk_spool_peek(sp, 10, 0, &batch, err, sizeof err), TSK_OK, "peek");
		is_int(batch.nmsg, 0, "nothing left");
		tsk_spool_batch_free(&b2);
	}
	tsk_spool_put(sp, "umc", a.v, a.n, 1, err, sizeof err);
	tsk_spool_put(sp, "umc", b.v, b.n, 2, err, sizeof err);
	tsk_spool_put(sp, "umc", a.v, a.n, 3, err, sizeof err);
	is_int(tsk_spool_peek(sp, 10, 6, &batch, err, sizeof err), TSK_OK, "peek up to 6 readings");
	ok(batch.nmsg == 2 && batch.readings.n == 6, "two messages, 6 readings");
	is_int(tsk_spool_peek(sp, 10, 2, &batch, err, sizeof err), TSK_OK, "peek up to 2 readings");
	ok(batch.nmsg == 1 && batch.readings.n == 5, "the oldest message comes whole even past max_readings");
	is_int(tsk_spool_peek(sp, 0, 0, &batch, err, sizeof err), TSK_EINVAL, "peek of 0: TSK_EINVAL");
	tsk_spool_close(sp);
done:
	tsk_spool_batch_free(&batch);
	tsk_readings_free(&a);
	tsk_readings_free(&b);
	tsk_readings_free(&c);
	json_decref(labels);
}

/* ---- batches and the cap ---- */

static void
one_reading(struct tsk_readings *rs, long seq)
{
	char dev[32];

	snprintf(dev, sizeof dev, "dev-%ld", seq);
	tsk_readings_add(rs, NULL, dev, "temp", seq, (double)seq * 0.1, "celsius", NULL, NULL, NULL);
}

static void
test_cap(void)
{
	struct tsk_spool_opts o = { .max_msgs = 3 };
	struct tsk_spool_batch batch;
	struct tsk_spool_msg m[4];
	struct tsk_readings rs;
	struct tsk_spool *sp;
	size_t done;

	tsk_readings_init(&rs);
	tsk_spool_batch_init(&batch);
	for (long i = 0; i < 4; i++)
		one_reading(&rs, i);
	if ((sp = open_ok(in_dir("cap.db"), &o)) == NULL) {
		ok(0, "open with max_msgs");
		goto done;
	}
	for (int i = 0; i < 3; i++)
		is_int(tsk_spool_put(sp, "t", &rs.v[i], 1, i, err, sizeof err), TSK_OK, "put %d under the cap", i);
	is_int(tsk_spool_put(sp, "t", &rs.v[3], 1, 3, err, sizeof err), TSK_EFULL, "put at the cap: TSK_EFULL");
	ok(strstr(err, "full") != NULL, "err says full: %s", err);
	is_int(tsk_spool_counters(sp)->put_full, 1, "counted in put_full");
	is_int(tsk_spool_counters(sp)->depth_msgs, 3, "nothing was added");
	tsk_spool_peek(sp, 1, 0, &batch, err, sizeof err);
	is_int(tsk_spool_ack(sp, &batch, err, sizeof err), TSK_OK, "flush one");
	is_int(tsk_spool_put(sp, "t", &rs.v[3], 1, 3, err, sizeof err), TSK_OK, "put accepted again after the ack");
	tsk_spool_peek(sp, 10, 0, &batch, err, sizeof err);
	ok(batch.nmsg == 3 && batch.readings.v[2].ts_us == 3, "the refused message got in, in order");
	tsk_spool_ack(sp, &batch, err, sizeof err);
	tsk_spool_close(sp);

	/* A batch stores the prefix that fits. */
	o.max_msgs = 5;
	if ((sp = open_ok(in_dir("cap.db"), &o)) == NULL)
		goto done;
	for (int i = 0; i < 4; i++)
		m[i] = (struct tsk_spool_msg){ .tenant = "t", .r = &rs.v[i], .n = 1, .received_us = i };
	is_int(tsk_spool_put_batch(sp, m, 3, &done, err, sizeof err), TSK_OK, "batch of 3");
	is_int(done, 3, "all 3 stored");
	is_int(tsk_spool_put_batch(sp, m, 4, &done, err, sizeof err), TSK_EFULL, "batch of 4 with room for 2");
	is_int(done, 2, "the first 2 stored");
	is_int(tsk_spool_counters(sp)->depth_msgs, 5, "depth at the cap");
	tsk_spool_peek(sp, 10, 0, &batch, err, sizeof err);
	ok(batch.nmsg == 5 && batch.readings.v[3].ts_us == 0 && batch.readings.v[4].ts_us == 1,
	    "the stored prefix is in order");
	tsk_spool_ack(sp, &batch, err, sizeof err);
	tsk_spool_close(sp);

	/* Byte cap; an empty spool takes one message of any size. */
	o = (struct tsk_spool_opts){ .max_bytes = 10 };
	if ((sp = open_ok(in_dir("bytes.db"), &o)) == NULL)
		goto done;
	is_int(tsk_spool_put(sp, "t", &rs.v[0], 1, 0, err, sizeof err), TSK_OK, "an empty spool takes a message over max_bytes");
	is_int(tsk_spool_put(sp, "t", &rs.v[1], 1, 0, err, sizeof err), TSK_EFULL, "the next one is refused");
	tsk_spool_close(sp);
	o = (struct tsk_spool_opts){ .max_bytes = 1000 };
	if ((sp = open_ok(in_dir("bytes2.db"), &o)) == NULL)
		goto done;
	int i = 0;
	while (i < 1000 && tsk_spool_put(sp, "t", &rs.v[0], 1, 0, err, sizeof err) == TSK_OK)
		i++;
	ok(i > 10 && i < 100, "max_bytes=1000 holds %d one-reading messages", i);
	ok(tsk_spool_counters(sp)->depth_bytes <= 1000, "depth_bytes %llu within the cap",
	    (unsigned long long)tsk_spool_counters(sp)->depth_bytes);
	tsk_spool_close(sp);
done:
	tsk_spool_batch_free(&batch);
	tsk_readings_free(&rs);
}

static void sql_exec(const char *path, const char *sql);

/* ---- dead letters ---- */

struct reasons {
	char buf[256];
};

static int
on_reason(void *arg, const char *reason, uint64_t n)
{
	struct reasons *r = arg;
	size_t len = strlen(r->buf);

	snprintf(r->buf + len, sizeof r->buf - len, "%s%s=%llu", len ? "," : "", reason, (unsigned long long)n);
	return 0;
}

struct listed {
	int n;
	int bin_ok;
	int64_t last;
};

static int
on_dead(void *arg, const struct tsk_spool_dead *d)
{
	struct listed *l = arg;

	l->n++;
	l->last = d->id;
	if (d->len == 4 && memcmp(d->body, "\0\xff\0x", 4) == 0 && same_str(d->source, "stdin:7") &&
	    same_str(d->detail, "bad \"bytes\"") && d->received_us == 77)
		l->bin_ok = 1;
	return 0;
}

static void
test_dead(void)
{
	struct tsk_spool_opts o = { .max_dead = 7 };
	struct reasons r = { "" };
	struct listed l = { 0, 0, 0 };
	struct tsk_spool *sp;
	uint64_t n = 0, purged = 0;

	if ((sp = open_ok(in_dir("dead.db"), &o)) == NULL) {
		ok(0, "open");
		return;
	}
	for (int i = 0; i < 3; i++)
		tsk_spool_dead_put(sp, i, "parse", "invalid timestamp \"x\"", "tenants/umc/GW-1", "{bad", 4, err, sizeof err);
	tsk_spool_dead_put(sp, 10, "unknown_tenant", NULL, "tenants/zzz/d", "{}", 2, err, sizeof err);
	tsk_spool_dead_put(sp, 11, "unknown_tenant", NULL, NULL, NULL, 0, err, sizeof err);
	is_int(tsk_spool_dead_put(sp, 77, "binary", "bad \"bytes\"", "stdin:7", "\0\xff\0x", 4, err, sizeof err), TSK_OK,
	    "dead letter with a binary body");
	is_int(tsk_spool_dead_put(sp, 0, "", NULL, NULL, NULL, 0, err, sizeof err), TSK_EINVAL, "a reason is required");
	is_int(tsk_spool_dead_count(sp, NULL, &n, err, sizeof err), TSK_OK, "count all");
	is_int(n, 6, "6 dead letters");
	tsk_spool_dead_count(sp, "parse", &n, err, sizeof err);
	is_int(n, 3, "3 for parse");
	tsk_spool_dead_count(sp, "unknown_tenant", &n, err, sizeof err);
	is_int(n, 2, "2 for unknown_tenant");
	tsk_spool_dead_count(sp, "nope", &n, err, sizeof err);
	is_int(n, 0, "0 for an unused reason");
	is_int(tsk_spool_dead_reasons(sp, on_reason, &r, err, sizeof err), TSK_OK, "by reason");
	is_str(r.buf, "parse=3,unknown_tenant=2,binary=1", "most frequent first");
	is_int(tsk_spool_dead_list(sp, "binary", 0, 0, on_dead, &l, err, sizeof err), TSK_OK, "list by reason");
	ok(l.n == 1 && l.bin_ok, "the binary body, detail and source come back exactly");
	l.n = 0;
	tsk_spool_dead_list(sp, NULL, 0, 2, on_dead, &l, err, sizeof err);
	is_int(l.n, 2, "list honours max");
	l.n = 0;
	tsk_spool_dead_list(sp, NULL, l.last, 0, on_dead, &l, err, sizeof err);
	is_int(l.n, 4, "and pages on after_id");
	tsk_spool_dead_put(sp, 12, "parse", NULL, NULL, NULL, 0, err, sizeof err);
	is_int(tsk_spool_dead_put(sp, 13, "parse", NULL, NULL, NULL, 0, err, sizeof err), TSK_EFULL,
	    "max_dead reached: TSK_EFULL");
	is_int(tsk_spool_counters(sp)->dead_full, 1, "counted in dead_full");
	is_int(tsk_spool_counters(sp)->depth_msgs, 0, "dead letters are not spool depth");
	tsk_spool_close(sp);
	if ((sp = open_ok(in_dir("dead.db"), &o)) == NULL)
		return;
	is_int(tsk_spool_counters(sp)->depth_dead, 7, "dead count loaded on open");
	is_int(tsk_spool_dead_purge(sp, 3, &purged, err, sizeof err), TSK_OK, "purge up to id 3");
	is_int(purged, 3, "3 purged");
	tsk_spool_dead_count(sp, "parse", &n, err, sizeof err);
	is_int(n, 1, "1 parse left");

	/* The dead letters are a file of their own that another handle (another process: tsk-ingest dead)
	 * may open while the spool is open, list and purge. */
	struct tsk_spool *dl = NULL;
	is_int(tsk_spool_dead_open(in_dir("dead.db"), NULL, &dl, err, sizeof err), TSK_OK,
	    "the dead letters open while the spool is open");
	l.n = 0;
	if (dl != NULL)
		tsk_spool_dead_list(dl, NULL, 0, 0, on_dead, &l, err, sizeof err);
	is_int(l.n, 4, "and list what the spool's handle stored");
	tsk_spool_dead_put(sp, 20, "parse", NULL, NULL, NULL, 0, err, sizeof err);
	tsk_spool_dead_put(sp, 21, "parse", NULL, NULL, NULL, 0, err, sizeof err);
	tsk_spool_dead_put(sp, 22, "parse", NULL, NULL, NULL, 0, err, sizeof err);
	is_int(tsk_spool_dead_put(sp, 23, "parse", NULL, NULL, NULL, 0, err, sizeof err), TSK_EFULL, "full again (7)");
	is_int(dl != NULL ? tsk_spool_dead_purge(dl, INT64_MAX, &purged, err, sizeof err) : -1, TSK_OK,
	    "the other handle purges them all");
	is_int(purged, 7, "7 purged");
	is_int(tsk_spool_dead_put(sp, 24, "parse", NULL, NULL, NULL, 0, err, sizeof err), TSK_OK,
	    "the spool's handle sees the room the purge made");
	is_int(tsk_spool_dead_count(sp, NULL, &n, err, sizeof err), TSK_OK, "count");
	is_int(n, 1, "1 dead letter");
	tsk_spool_close(dl);
	tsk_spool_close(sp);
	is_int(tsk_spool_dead_open(in_dir("nothing.db"), NULL, &dl, err, sizeof err), TSK_ENOTFOUND,
	    "no dead-letter file: TSK_ENOTFOUND");

	/* A spool from before keeps its dead letters in its own table: the first open moves them out. */
	unlink(in_dir("dead.db.dead"));
	sql_exec(in_dir("dead.db"), "INSERT INTO dead(received_us, reason, detail, source, body) VALUES"
	    " (1, 'old', NULL, 'tenants/x', X'00'), (2, 'old', 'd', NULL, NULL)");
	if ((sp = open_ok(in_dir("dead.db"), &o)) == NULL)
		return;
	tsk_spool_dead_count(sp, "old", &n, err, sizeof err);
	is_int(n, 2, "an old spool's dead letters moved into the dead-letter file");
	tsk_spool_close(sp);
	is_int(tsk_spool_dead_open(in_dir("dead.db"), NULL, &dl, err, sizeof err), TSK_OK, "which exists now");
	tsk_spool_close(dl);
}

/* ---- format 2: the message as received kept with its readings ---- */

static void
test_raw(void)
{
	struct tsk_readings rs;
	struct tsk_spool *sp;
	struct tsk_spool_batch b;
	size_t done = 0;

	tsk_readings_init(&rs);
	tsk_readings_add(&rs, "nobody", "d", "s", 1, 1.0, NULL, NULL, NULL, NULL);
	if ((sp = open_ok(in_dir("raw.db"), NULL)) == NULL)
		return;
	struct tsk_spool_msg m[2] = {
		{ .tenant = "nobody", .r = rs.v, .n = 1, .received_us = 5, .topic = "tenants/nobody/devices/d/sensors/s",
		  .raw = "{\"value\": 1}\0x", .raw_len = 14 },
		{ .tenant = "nobody", .r = rs.v, .n = 1, .received_us = 6 },
	};
	is_int(tsk_spool_put_batch(sp, m, 2, &done, err, sizeof err), TSK_OK, "a message with its raw form, one without");
	tsk_spool_close(sp);
	if ((sp = open_ok(in_dir("raw.db"), NULL)) == NULL)
		return;
	tsk_spool_batch_init(&b);
	is_int(tsk_spool_peek(sp, 10, 0, &b, err, sizeof err), TSK_OK, "both read back (checksums pass)");
	ok(b.nmsg == 2 && b.msg[0].topic != NULL && strcmp(b.msg[0].topic, "tenants/nobody/devices/d/sensors/s") == 0 &&
	    b.msg[0].raw_len == 14 && memcmp(b.msg[0].raw, "{\"value\": 1}\0x", 14) == 0 && b.msg[0].n == 1 &&
	    b.readings.n == 2, "the first keeps its topic and payload bytes");
	ok(b.nmsg == 2 && b.msg[1].topic == NULL && b.msg[1].raw == NULL, "the second has none");
	tsk_spool_batch_free(&b);
	tsk_spool_close(sp);
	tsk_readings_free(&rs);
}

/* ---- two threads on one handle ---- */

#define THREAD_MSGS 3000

struct flusher {
	struct tsk_spool *sp;
	long seen, bad, errors;
	atomic_int done_putting;
};

static void *
flush_thread(void *arg)
{
	struct flusher *f = arg;
	struct tsk_spool_batch b;
	char e[TSK_ERRLEN];

	tsk_spool_batch_init(&b);
	while (f->seen < THREAD_MSGS) {
		if (tsk_spool_peek(f->sp, 256, 0, &b, e, sizeof e) != TSK_OK) {
			f->errors++;
			break;
		}
		for (size_t i = 0; i < b.readings.n; i++)
			if (b.readings.v[i].ts_us != f->seen + (long)i)
				f->bad++;
		f->seen += (long)b.readings.n;
		if (tsk_spool_ack(f->sp, &b, e, sizeof e) != TSK_OK) {
			f->errors++;
			break;
		}
		if (b.readings.n == 0 && f->done_putting && f->seen < THREAD_MSGS)
			usleep(1000);
	}
	tsk_spool_batch_free(&b);
	return NULL;
}

static void
test_threads(void)
{
	struct flusher f = { 0 };
	struct tsk_readings rs;
	pthread_t t;
	long puterr = 0;
	double t0;

	tsk_readings_init(&rs);
	for (long i = 0; i < THREAD_MSGS; i++)
		one_reading(&rs, i);
	if ((f.sp = open_ok(in_dir("threads.db"), NULL)) == NULL) {
		ok(0, "open");
		goto done;
	}
	t0 = now_s();
	pthread_create(&t, NULL, flush_thread, &f);
	for (long i = 0; i < THREAD_MSGS; i++)
		if (tsk_spool_put(f.sp, "t", &rs.v[i], 1, i, err, sizeof err) != TSK_OK)
			puterr++;
	f.done_putting = 1;
	pthread_join(t, NULL);
	is_int(puterr, 0, "%d puts from one thread while another peeks and acks", THREAD_MSGS);
	is_int(f.errors, 0, "no peek/ack errors");
	is_int(f.seen, THREAD_MSGS, "the flusher saw every message");
	is_int(f.bad, 0, "exactly once, in order");
	is_int(tsk_spool_counters(f.sp)->depth_msgs, 0, "depth back to 0");
	printf("# concurrent put+flush: %.0f puts/s\n", THREAD_MSGS / (now_s() - t0));
	tsk_spool_close(f.sp);
done:
	tsk_readings_free(&rs);
}

/* ---- SIGKILL at random points ---- */

/* The child appends messages start, start+1, ... and reports the count after each commit; with
 * stop_after it stops right after that many commits, to be killed exactly there. */
static void
crash_child(const char *path, int wfd, long start, long stop_after)
{
	struct tsk_readings rs;
	struct tsk_spool *sp;
	char e[TSK_ERRLEN];

	tsk_readings_init(&rs);
	if (tsk_spool_open(path, NULL, &sp, e, sizeof e) != TSK_OK)
		_exit(3);
	for (long i = start;; i++) {
		tsk_readings_clear(&rs);
		one_reading(&rs, i);
		one_reading(&rs, -i);
		if (tsk_spool_put(sp, "crash", rs.v, rs.n, i, e, sizeof e) != TSK_OK)
			_exit(4);
		long done = i + 1;
		if (write(wfd, &done, sizeof done) != (ssize_t)sizeof done)
			_exit(5);
		/* Wait here for the parent's SIGKILL rather than raise(SIGKILL): valgrind reports a
		 * self-inflicted fatal signal (with this process's open handle as "possibly lost"). */
		while (stop_after > 0 && done - start == stop_after)
			pause();
	}
}

/* Checks that messages 0 .. n-1 are all there, in order, exact; returns n. */
static long
verify_crash_spool(const char *path, long *bad)
{
	struct tsk_spool_batch b;
	struct tsk_spool *sp;
	long n = 0;

	*bad = 0;
	tsk_spool_batch_init(&b);
	if ((sp = open_ok(path, NULL)) == NULL) {
		*bad = -1;
		return 0;
	}
	if (tsk_spool_peek(sp, 1000000, 0, &b, err, sizeof err) != TSK_OK)
		*bad = -1;
	for (size_t i = 0; i < b.nmsg; i++, n++) {
		const struct tsk_reading *r = &b.readings.v[b.msg[i].first];
		if (b.msg[i].n != 2 || b.msg[i].received_us != n || r[0].ts_us != n || r[0].value != (double)n * 0.1 ||
		    r[1].ts_us != -n)
			(*bad)++;
	}
	tsk_spool_batch_free(&b);
	tsk_spool_close(sp);
	return n;
}

static void
test_crash(void)
{
	const char *path = in_dir("crash.db");
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	long have = 0;

	srand(seed);
	printf("# crash rounds: seed %u\n", seed);
	for (int round = 0; round < 6; round++) {
		int fds[2], status = 0;
		long reported = have, v, threshold = 50 + rand() % 2500, bad;
		long stop_after = round == 5 ? 1 + rand() % 700 : 0;
		pid_t pid;

		fflush(stdout);
		if (pipe(fds) != 0 || (pid = fork()) < 0) {
			ok(0, "fork: %s", strerror(errno));
			return;
		}
		if (pid == 0) {
			close(fds[0]);
			crash_child(path, fds[1], have, stop_after);
		}
		close(fds[1]);
		int killed = 0;
		while (read(fds[0], &v, sizeof v) == (ssize_t)sizeof v) {
			reported = v;
			if (!killed && (stop_after ? reported - have == stop_after : reported - have >= threshold)) {
				kill(pid, SIGKILL);     /* without stop_after, it lands somewhere in a later put */
				killed = 1;
			}
		}
		close(fds[0]);
		waitpid(pid, &status, 0);
		ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "round %d: child killed by SIGKILL %s "
		    "after reporting %ld commits", round, stop_after ? "right after a commit" : "at a random point",
		    reported - have);
		struct stat ws;
		char wal[300];
		snprintf(wal, sizeof wal, "%s-wal", path);
		if (stat(wal, &ws) != 0)
			ws.st_size = -1;
		ok(ws.st_size > 0, "round %d: the kill left a hot -wal (%lld bytes) to recover", round,
		    (long long)ws.st_size);
		long n = verify_crash_spool(path, &bad);
		ok(n >= reported && n <= reported + 1 && bad == 0, "round %d: all %ld reported messages are there "
		    "(found %ld), in order, exact", round, reported, n);
		have = n;
	}
}

/* ---- torn, truncated and foreign files ---- */

/* Opening must fail with TSK_EFAIL naming the file and saying `why`, and leave its bytes alone. */
static void
refuses(const char *path, const char *why, const char *what)
{
	struct tsk_spool *sp = NULL;
	size_t before_len, after_len;
	unsigned char *before = slurp(path, &before_len), *after;
	char wal[300], shm[300];
	int had_wal, rc;

	snprintf(wal, sizeof wal, "%s-wal", path);
	snprintf(shm, sizeof shm, "%s-shm", path);
	had_wal = exists(wal);
	err[0] = '\0';
	rc = tsk_spool_open(path, NULL, &sp, err, sizeof err);
	is_int(rc, TSK_EFAIL, "%s: refused", what);
	ok(sp == NULL, "%s: no handle", what);
	ok(strstr(err, path) != NULL && strstr(err, why) != NULL, "%s: error names the file and says \"%s\"", what, why);
	printf("#   %s\n", err);
	after = slurp(path, &after_len);
	ok(before != NULL && after != NULL && before_len == after_len && memcmp(before, after, before_len) == 0,
	    "%s: file left untouched (%zu bytes)", what, before_len);
	ok(had_wal || (!exists(wal) && !exists(shm)), "%s: no -wal/-shm left behind", what);
	free(before);
	free(after);
	tsk_spool_close(sp);
}

/* Damage inside rows' bytes that sqlite cannot see: opening refuses the file (sqlite saw it after all),
 * or opens it with the damaged rows counted (corrupt_seen) and leaves the bytes alone; draining it then
 * quarantines exactly those rows as dead letters, with their bytes, and delivers every other message.
 * *quarantined receives how many it quarantined (0 when refused). */
struct dead_seen {
	int n;
	size_t bytes;
	char detail[256];
};

static int
count_quarantined(void *arg, const struct tsk_spool_dead *d)
{
	struct dead_seen *q = arg;

	if (strcmp(d->reason, TSK_SPOOL_QUARANTINE_REASON) == 0) {
		q->n++;
		q->bytes = d->len;
		snprintf(q->detail, sizeof q->detail, "%s", d->detail != NULL ? d->detail : "");
	}
	return 0;
}

static void
quarantines(const char *path, const char *what, int *quarantined)
{
	struct tsk_spool *sp = NULL;
	struct tsk_spool_batch batch;
	struct dead_seen q = { 0, 0, "" };
	uint64_t seen, delivered = 0;
	int rc;

	*quarantined = 0;
	err[0] = '\0';
	char dead[300];
	snprintf(dead, sizeof dead, "%s.dead", path);  /* the dead letters of an earlier case */
	unlink(dead);
	rc = tsk_spool_open(path, NULL, &sp, err, sizeof err);
	if (rc != TSK_OK) {
		ok(rc == TSK_EFAIL && sp == NULL && strstr(err, "corrupt") != NULL, "%s: refused as corrupt (%s)", what, err);
		return;
	}
	seen = tsk_spool_counters(sp)->corrupt_seen;
	ok(seen >= 1 && tsk_spool_counters(sp)->depth_msgs == 400, "%s: opens, %llu damaged rows counted, depth 400",
	    what, (unsigned long long)seen);
	tsk_spool_batch_init(&batch);
	for (;;) {
		if ((rc = tsk_spool_peek(sp, 50, 0, &batch, err, sizeof err)) != TSK_OK || batch.nmsg == 0)
			break;
		delivered += batch.nmsg;
		if ((rc = tsk_spool_ack(sp, &batch, err, sizeof err)) != TSK_OK)
			break;
	}
	if (rc != TSK_OK) {
		/* sqlite met the damage itself while reading (a broken record header): an error, never a
		 * wrong row. */
		ok(strstr(err, "malformed") != NULL || strstr(err, "corrupt") != NULL, "%s: sqlite reports it (%s)", what, err);
		tsk_spool_batch_free(&batch);
		tsk_spool_close(sp);
		return;
	}
	tsk_spool_dead_list(sp, NULL, 0, 0, count_quarantined, &q, err, sizeof err);
	*quarantined = q.n;
	ok((uint64_t)q.n == seen && tsk_spool_counters(sp)->quarantined == seen && delivered + seen == 400 &&
	    tsk_spool_counters(sp)->depth_msgs == 0,
	    "%s: %llu delivered, %d quarantined as dead letters, the spool is empty", what,
	    (unsigned long long)delivered, q.n);
	tsk_spool_batch_free(&batch);
	tsk_spool_close(sp);
}

/* A clean spool to damage: 400 messages of 3 readings with labels, and some dead letters. */
static unsigned char *
make_base(const char *path, size_t *len)
{
	struct tsk_readings rs;
	struct tsk_spool *sp;
	json_t *labels = json_pack("{s:s, s:i}", "marker", "MARKERMARKERMARKER", "n", 7);

	tsk_readings_init(&rs);
	tsk_readings_add(&rs, NULL, "GW-1", "temp", 1, 21.5, "celsius", labels, "Bloco A", "CH-01");
	tsk_readings_add(&rs, NULL, "GW-1", "hum", 2, 55.25, "%", NULL, NULL, NULL);
	tsk_readings_add(&rs, NULL, "GW-1", "kw", 3, 3.75, "kW", labels, NULL, NULL);
	if ((sp = open_ok(path, NULL)) != NULL) {
		for (int i = 0; i < 400; i++)
			tsk_spool_put(sp, "umc", rs.v, rs.n, i, err, sizeof err);
		for (int i = 0; i < 5; i++)
			tsk_spool_dead_put(sp, i, "parse", "x", "s", "raw", 3, err, sizeof err);
		tsk_spool_close(sp);
	}
	tsk_readings_free(&rs);
	json_decref(labels);
	return slurp(path, len);
}

static void
sql_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	if (sqlite3_open(path, &db) != SQLITE_OK || sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		printf("# sqlite3 %s: %s\n", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

static void
test_corrupt(void)
{
	const char *base = in_dir("base.db"), *p = in_dir("bad.db");
	size_t len, psize;
	unsigned char *b = make_base(base, &len), *c;
	struct tsk_spool *sp;
	int hit = 0, q = 0;

	ok(b != NULL && len > 8 * 4096 && !exists(in_dir("base.db-wal")), "fixture: a clean %zu-byte spool", len);
	if (b == NULL || len < 8 * 4096 || (c = malloc(len)) == NULL)
		return;
	psize = (size_t)b[16] << 8 | b[17];
	sp = open_ok(base, NULL);
	ok(sp != NULL && tsk_spool_counters(sp)->depth_msgs == 400, "the fixture itself opens");
	tsk_spool_close(sp);
	free(b);
	b = slurp(base, &len);  /* the clean close may have rewritten the header's change counter */

	spit(p, b, len - psize / 2);
	refuses(p, "torn or truncated", "truncated mid-page");
	unlink(p);
	spit(p, b, len - psize);
	refuses(p, "truncated", "truncated by a whole page");
	unlink(p);
	spit(p, b, 60);
	refuses(p, "truncated", "truncated inside the header");
	unlink(p);

	/* Garbage over the middle of every leaf page whose cells cover the middle (live data). */
	for (size_t pg = 1; pg < len / psize; pg++) {
		const unsigned char *h = b + pg * psize;
		size_t content = (size_t)h[5] << 8 | h[6];
		char what[64];
		if (h[0] != 13 || content == 0 || content > psize / 2)
			continue;
		if (hit >= 6 && pg != len / psize - 1)
			continue;
		memcpy(c, b, len);
		for (size_t i = 0; i < 24; i++)
			c[pg * psize + psize / 2 + i] = (unsigned char)(0xA5 ^ (i * 37));
		unlink(p);
		spit(p, c, len);
		snprintf(what, sizeof what, "garbage in the middle of page %zu", pg + 1);
		quarantines(p, what, &q);
		hit++;
	}
	ok(hit >= 4, "tried %d data pages", hit);

	/* Garbage over a b-tree page header: structural damage, for quick_check to find. */
	memcpy(c, b, len);
	memset(c + 3 * psize, 0xEE, 12);
	unlink(p);
	spit(p, c, len);
	refuses(p, "quick_check", "garbage over the header of page 4");
	/* ...or over the root page of the msg table (page 2), an interior page. */
	memcpy(c, b, len);
	memset(c + psize, 0x5A, 64);
	unlink(p);
	spit(p, c, len);
	refuses(p, "corrupt", "garbage over the msg table's root page");

	/* One flipped bit inside a row's payload: the b-tree is fine, only the row checksum can tell. */
	unsigned char *m = memmem(b + len / 2, len / 2, "MARKERMARKER", 12);
	ok(m != NULL, "found a label in the file");
	if (m != NULL) {
		memcpy(c, b, len);
		c[(m - b) + 3] ^= 0x01;
		unlink(p);
		spit(p, c, len);
		quarantines(p, "one bit flipped inside a row", &q);
		is_int(q, 1, "one bit flipped inside a row: exactly that row quarantined");
		/* Its bytes, as stored (with the flipped bit), are the dead letter's body. */
		struct tsk_spool *sp2 = open_ok(p, NULL);
		struct dead_seen d = { 0, 0, "" };
		if (sp2 != NULL)
			tsk_spool_dead_list(sp2, TSK_SPOOL_QUARANTINE_REASON, 0, 0, count_quarantined, &d, err, sizeof err);
		ok(d.n == 1 && d.bytes > 100 && strstr(d.detail, "checksum mismatch") != NULL,
		    "the dead letter keeps the row's %zu bytes and says why (%s)", d.bytes, d.detail);
		tsk_spool_close(sp2);
	}
	memcpy(c, b, len);
	c[16] = 0x03;   /* page size 0x03xx: not a power of two */
	unlink(p);
	spit(p, c, len);
	refuses(p, "page size", "corrupt page size in the header");

	unlink(p);
	memset(c, 'x', 8192);
	memcpy(c, "This is not a database at all.\n", 31);
	spit(p, c, 8192);
	refuses(p, "not an sqlite3 database", "a text file");
	unlink(p);
	memset(c, 0, 8192);
	spit(p, c, 8192);
	refuses(p, "not an sqlite3 database", "8 KiB of zeros");

	/* A spool from another schema version, and an sqlite database that is not a spool. */
	unlink(p);
	spit(p, b, len);
	sql_exec(p, "PRAGMA user_version = 7");
	refuses(p, "schema version 7", "user_version 7");
	unlink(p);
	sql_exec(p, "CREATE TABLE t(x); INSERT INTO t VALUES(1)");
	refuses(p, "not a TrakSense spool", "a foreign sqlite database");

	/* Zero length: accepted as new (what a crash in the first open leaves)... */
	unlink(p);
	spit(p, "", 0);
	sp = NULL;
	is_int(tsk_spool_open(p, NULL, &sp, err, sizeof err), TSK_OK, "a zero-length file opens as a new spool");
	if (sp != NULL) {
		struct tsk_readings rs;
		tsk_readings_init(&rs);
		one_reading(&rs, 1);
		is_int(tsk_spool_put(sp, "t", rs.v, 1, 0, err, sizeof err), TSK_OK, "and takes messages");
		tsk_readings_free(&rs);
		tsk_spool_close(sp);
	}
	/* ...unless a log sits next to it, which sqlite would delete. */
	unlink(p);
	spit(p, "", 0);
	spit(in_dir("bad.db-wal"), b, 4096);
	refuses(p, "-wal", "a zero-length file with a non-empty -wal");
	size_t wl;
	unsigned char *w = slurp(in_dir("bad.db-wal"), &wl);
	ok(w != NULL && wl == 4096 && memcmp(w, b, 4096) == 0, "the -wal is left untouched");
	free(w);
	unlink(in_dir("bad.db-wal"));

	/* A database that the first open left without a schema is initialised. */
	unlink(p);
	sql_exec(p, "PRAGMA journal_mode=WAL");
	sp = NULL;
	is_int(tsk_spool_open(p, NULL, &sp, err, sizeof err), TSK_OK, "an empty sqlite database becomes a spool");
	tsk_spool_close(sp);

	is_int(tsk_spool_open(in_dir("missing.db"), &(struct tsk_spool_opts){ .must_exist = 1 }, &sp, err, sizeof err),
	    TSK_ENOTFOUND, "must_exist: a missing file is TSK_ENOTFOUND");
	ok(!exists(in_dir("missing.db")), "and is not created");
	free(b);
	free(c);
}

/* ---- one process per file ---- */

static void
test_lock(void)
{
	const char *path = in_dir("lock.db");
	struct tsk_spool *sp, *sp2 = NULL;
	int go[2], res[2], status = 0;
	pid_t pid;
	char c = 0;

	/* The child is forked before the parent opens anything, tries while the parent holds the file,
	 * reports through a pipe and waits to be killed (an exiting child would print valgrind's report
	 * of the memory it inherited). */
	fflush(stdout);
	if (pipe(go) != 0 || pipe(res) != 0 || (pid = fork()) < 0) {
		ok(0, "fork");
		return;
	}
	if (pid == 0) {
		close(go[1]);
		close(res[0]);
		if (read(go[0], &c, 1) == 1) {
			c = tsk_spool_open(path, NULL, &sp2, err, sizeof err) == TSK_ETEMP ? 'y' : 'n';
			if (write(res[1], &c, 1) != 1)
				c = 0;
		}
		for (;;)
			pause();
	}
	close(go[0]);
	close(res[1]);
	sp = open_ok(path, NULL);
	ok(sp != NULL, "open");
	is_int(tsk_spool_open(path, NULL, &sp2, err, sizeof err), TSK_ETEMP, "a second open in this process: TSK_ETEMP");
	ok(strstr(err, "already open") != NULL, "%s", err);
	c = 0;
	if (write(go[1], "g", 1) != 1 || read(res[0], &c, 1) != 1)
		c = 0;
	ok(c == 'y', "another process gets TSK_ETEMP while we hold it");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(go[1]);
	close(res[0]);
	tsk_spool_close(sp);
	sp = open_ok(path, NULL);
	ok(sp != NULL, "opens again after close");
	tsk_spool_close(sp);
}

/* ---- throughput, for information only ---- */

static void
test_speed(void)
{
	struct tsk_readings rs;
	struct tsk_spool_batch b;
	struct tsk_spool *sp;
	int n = 3000, fails = 0;
	double t0, t1;

	tsk_readings_init(&rs);
	tsk_spool_batch_init(&b);
	for (int i = 0; i < 5; i++)
		one_reading(&rs, i);
	if ((sp = open_ok(in_dir("speed.db"), NULL)) == NULL)
		goto done;
	t0 = now_s();
	for (int i = 0; i < n; i++)
		fails += tsk_spool_put(sp, "t", rs.v, rs.n, i, err, sizeof err) != TSK_OK;
	t1 = now_s();
	printf("# %.0f puts/s (single-message commits, 5 readings each, synchronous=NORMAL)\n", n / (t1 - t0));
	while (tsk_spool_peek(sp, 500, 0, &b, err, sizeof err) == TSK_OK && b.nmsg > 0)
		fails += tsk_spool_ack(sp, &b, err, sizeof err) != TSK_OK;
	printf("# %.0f messages/s peeked and acked in batches of 500\n", n / (now_s() - t1));
	is_int(tsk_spool_counters(sp)->depth_msgs, 0, "acks of 500 (in chunks) emptied the spool");
	is_int(tsk_spool_counters(sp)->ack_msgs, n, "every message acked once");
	is_int(fails, 0, "speed run without errors");
	tsk_spool_close(sp);
done:
	tsk_spool_batch_free(&b);
	tsk_readings_free(&rs);
}

int
main(void)
{
	snprintf(dir, sizeof dir, "/tmp/tsk-spool-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_round_trip();
	test_cap();
	test_dead();
	test_raw();
	test_threads();
	test_crash();
	test_corrupt();
	test_lock();
	test_speed();
	if (tap_failed == 0)
		rm_dir();
	else
		printf("# files kept in %s\n", dir);
	return done_testing();
}
