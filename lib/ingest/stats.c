#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest/stats.h"
#include "core/time.h"
#include "core/tsk.h"

void
tsk_stats_init(struct tsk_stats *st)
{
	memset(st, 0, sizeof *st);
	atomic_store(&st->started_us, tsk_now_us());
}

const char *
tsk_stats_reason_str(int reason)
{
	if (reason == TSK_STATS_UNKNOWN_TENANT)
		return "unknown tenant";
	if (reason == TSK_STATS_DB_REJECTED)
		return "database rejected";
	if (reason == TSK_STATS_NO_READINGS)
		return "no readings";
	if (reason == TSK_STATS_FUTURE)
		return "too far in the future";
	return tsk_payload_reason_str((enum tsk_payload_reason)reason);
}

void
tsk_stats_reject(struct tsk_stats *st, int reason)
{
	if (reason < 0 || reason >= TSK_STATS_NREASONS)
		reason = TSK_PAYLOAD_NO_FORMAT;
	atomic_fetch_add(&st->rejected, 1);
	atomic_fetch_add(&st->rejected_by[reason], 1);
}

void
tsk_stats_skips(struct tsk_stats *st, const struct tsk_payload_info *info)
{
	if (info->skipped == 0)
		return;
	atomic_fetch_add(&st->skipped, info->skipped);
	for (int i = 0; i < TSK_SKIP_NREASONS; i++)
		if (info->skips[i] != 0)
			atomic_fetch_add(&st->skipped_by[i], info->skips[i]);
}

static json_t *
time_or_null(int64_t us)
{
	char buf[TSK_TIME_STRLEN];

	return us != 0 ? json_string(tsk_time_format(us, buf)) : json_null();
}

/* JSON integers are int64 in jansson; counters never get near 2^63. */
#define U(x) ((json_int_t)atomic_load(&(x)))

json_t *
tsk_stats_to_json(const struct tsk_stats *st, const char *mode, const struct tsk_stats_spool *sp)
{
	int64_t now = tsk_now_us(), started = atomic_load(&st->started_us);
	json_t *by = json_object(), *sby = json_object(), *o;

	for (int i = 1; by != NULL && i < TSK_STATS_NREASONS; i++) {
		uint64_t n = atomic_load(&st->rejected_by[i]);
		if (n != 0 && i != TSK_PAYLOAD_NOMEM)
			json_object_set_new(by, tsk_stats_reason_str(i), json_integer((json_int_t)n));
	}
	for (int i = 0; sby != NULL && i < TSK_SKIP_NREASONS; i++) {
		uint64_t n = atomic_load(&st->skipped_by[i]);
		if (n != 0)
			json_object_set_new(sby, tsk_payload_skip_str((enum tsk_payload_skip)i), json_integer((json_int_t)n));
	}
	o = json_pack("{s:s, s:I, s:o, s:o, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I,"
	    " s:{s:I, s:I, s:o, s:o}, s:{s:b}, s:{s:b, s:I, s:I}}",
	    "mode", mode != NULL ? mode : "", "pid", (json_int_t)getpid(),
	    "started", time_or_null(started), "updated", time_or_null(now),
	    "uptime_s", started != 0 ? (double)(now - started) / 1e6 : 0.0,
	    "received", U(st->received), "accepted", U(st->accepted), "readings", U(st->readings),
	    "spooled", U(st->spooled), "stored", U(st->stored), "duplicates", U(st->duplicates),
	    "rejected", U(st->rejected), "rejected_by", by, "dead_dropped", U(st->dead_dropped),
	    "flush", "batches", U(st->batches), "errors", U(st->flush_errors),
	    "last", time_or_null(atomic_load(&st->last_flush_us)),
	    "last_error", time_or_null(atomic_load(&st->last_error_us)),
	    "db", "up", atomic_load(&st->db_up),
	    "mqtt", "connected", atomic_load(&st->mqtt_connected), "connects", U(st->mqtt_connects),
	    "disconnects", U(st->mqtt_disconnects));
	if (o == NULL) {
		json_decref(sby);
		return NULL;
	}
	json_object_set_new(o, "skipped", json_integer(U(st->skipped)));
	json_object_set_new(o, "skipped_by", sby != NULL ? sby : json_object());
	json_object_set_new(o, "full_waits", json_integer(U(st->full_waits)));
	json_object_set_new(o, "archived", json_integer(U(st->archived)));
	json_object_set_new(json_object_get(o, "flush"), "conflicts", json_integer(U(st->conflicts)));
	if (sp != NULL) {
		double age = sp->oldest_us != 0 && now > sp->oldest_us ? (double)(now - sp->oldest_us) / 1e6 : 0.0;
		json_t *s = json_pack("{s:I, s:I, s:I, s:f, s:I, s:o, s:I, s:I}",
		    "depth", (json_int_t)sp->msgs, "readings", (json_int_t)sp->readings, "bytes", (json_int_t)sp->bytes,
		    "oldest_age_s", age, "dead", (json_int_t)sp->dead,
		    "dead_by", sp->dead_by != NULL ? json_incref(sp->dead_by) : json_object(),
		    "file_bytes", (json_int_t)sp->file_bytes, "wal_bytes", (json_int_t)sp->wal_bytes);
		if (s != NULL)
			json_object_set_new(s, "quarantined", json_integer((json_int_t)sp->quarantined));
		if (s == NULL || json_object_set_new(o, "spool", s) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

char *
tsk_stats_path(const char *spool_path)
{
	char *p;

	if (asprintf(&p, "%s.stats", spool_path) < 0)
		return NULL;
	return p;
}

int
tsk_stats_write_file(const char *path, json_t *obj, char *err, size_t errlen)
{
	char *tmp = NULL, *text = NULL;
	FILE *f = NULL;
	int rc = TSK_EFAIL;

	if (asprintf(&tmp, "%s.%ld.tmp", path, (long)getpid()) < 0) {
		tmp = NULL;
		goto out;
	}
	if ((text = json_dumps(obj, JSON_COMPACT)) == NULL) {
		tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}
	/* No fsync: the file is a view of counters, rewritten every second; a crash may lose the latest. */
	if ((f = fopen(tmp, "w")) == NULL || fprintf(f, "%s\n", text) < 0) {
		tsk_seterr(err, errlen, TSK_EFAIL, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		tsk_seterr(err, errlen, TSK_EFAIL, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) != 0) {
		tsk_seterr(err, errlen, TSK_EFAIL, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = TSK_OK;
out:
	if (f != NULL)
		fclose(f);
	if (rc != TSK_OK && tmp != NULL)
		unlink(tmp);
	free(tmp);
	free(text);
	return rc;
}

int
tsk_stats_read_file(const char *path, json_t **out, char *err, size_t errlen)
{
	json_error_t je;

	if (access(path, F_OK) != 0)
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "%s: %s", path, strerror(errno));
	if ((*out = json_load_file(path, 0, &je)) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "%s: %s", path, je.text);
	return TSK_OK;
}
