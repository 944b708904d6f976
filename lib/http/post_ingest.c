/*
 * POST /ingest: the EMQX HTTP action's contract. The checks run in the original's order, with its
 * status codes and error bodies, and nothing touches the database before the tenant check (step 9):
 *   1 no x-device-token 401; 2 wrong token 401 (constant-time compare); 3 no x-tenant 400;
 *   4 body not JSON 400 (4b not UTF-8); 5 not an object 400; 6 no topic 400; 7 topic not tenants/... 400;
 *   8 topic slug != x-tenant 403 (8b topic not a string 400); 9 unknown tenant 404;
 *   10 payload missing or falsy 400; 11 payload string not JSON 400; 12 no format accepts it 400;
 *   202 accepted (or queued in the spool while PostgreSQL is down; 503 + Retry-After when it is full).
 * Parsing is lib/model's, writing lib/ingest's sink (one transaction per message, answered after COMMIT).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "core/buf.h"
#include "core/text.h"
#include "core/log.h"
#include "core/time.h"
#include "core/tsk.h"
#include "http/http_impl.h"
#include "model/payload.h"
#include "model/topic.h"
#include "registry/auth.h"

/* Python's truthiness, which decided "missing" in the original: null, false, 0, "", [] and {}. */
static int
falsy(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_NULL:
	case JSON_FALSE:
		return 1;
	case JSON_INTEGER:
		return json_integer_value(v) == 0;
	case JSON_REAL:
		return json_real_value(v) == 0.0;
	case JSON_STRING:
		return json_string_length(v) == 0;
	case JSON_ARRAY:
		return json_array_size(v) == 0;
	case JSON_OBJECT:
		return json_object_size(v) == 0;
	default:
		return 0;
	}
}

/* The message time as the original printed it: ISO 8601 with +00:00. */
static json_t *
iso_time(int64_t us)
{
	char buf[TSK_TIME_STRLEN + 8];
	size_t n;

	tsk_time_format(us, buf);
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == 'Z')
		snprintf(buf + n - 1, sizeof buf - (n - 1), "+00:00");
	return json_string(buf);
}

/* The 202 body. id is the message's archive row (telemetry.id); 0 leaves it out (a queued message
 * has no row yet). */
static json_t *
accepted_body(const char *status, int64_t id, const struct tsk_payload_info *info, int64_t now)
{
	json_t *o = json_pack("{s:s}", "status", status);

	if (o != NULL && id > 0)
		json_object_set_new(o, "id", json_integer((json_int_t)id));
	if (o != NULL && info->device_id != NULL)
		json_object_set_new(o, "device_id", json_string(info->device_id));
	if (o != NULL) {
		json_object_set_new(o, "timestamp", iso_time(info->has_ts ? info->ts_us : now));
		json_object_set_new(o, "format", json_string(info->format != NULL ? info->format : "unknown"));
	}

	if (o != NULL && info->gateway_id != NULL && info->gateway_id[0])
		json_object_set_new(o, "gateway_id", json_string(info->gateway_id));
	if (o != NULL && info->model != NULL && info->model[0])
		json_object_set_new(o, "model", json_string(info->model));
	return o;
}

static void
parse_error(struct tsk_http_reply *out, const struct tsk_payload_info *info)
{
	switch (info->reason) {
	case TSK_PAYLOAD_EMPTY:
		tsk_http_error(out, 400, "Missing required field: payload");
		break;
	case TSK_PAYLOAD_NOT_JSON:
		tsk_http_error(out, 400, "Invalid JSON in payload");
		break;
	case TSK_PAYLOAD_BAD_TOPIC:
	case TSK_PAYLOAD_TENANT_MISMATCH:
		tsk_http_error(out, 400, "Invalid topic format");
		break;
	case TSK_PAYLOAD_NO_DEVICE:
		tsk_http_error(out, 400, "Missing device_id (no device_id in the payload and no client_id in the envelope)");
		break;
	case TSK_PAYLOAD_BAD_TIME:
		tsk_http_error(out, 400, "Invalid timestamp");
		break;
	case TSK_PAYLOAD_TOO_LARGE:
		tsk_http_error(out, 413, "Payload too large");
		break;
	default:
		tsk_http_error(out, 400, "Formato de payload n\xc3\xa3o reconhecido");
		break;
	}
}

static int
buf_cb(const char *data, size_t size, void *arg)
{
	return tsk_buf_add(arg, data, size);
}

/* v as compact JSON, its reals in the shortest form that reads back the same (jansson prints 17
 * digits: 23.35 would be archived as 23.350000000000001). 0, or -1 when out of memory. */
static int
dump_payload(struct tsk_buf *b, json_t *v)
{
	char num[32];
	const char *key;
	json_t *x, *k;
	size_t i;
	int first = 1, rc;

	switch (json_typeof(v)) {
	case JSON_REAL:
		return tsk_buf_puts(b, tsk_fmt_double(json_real_value(v), num));
	case JSON_OBJECT:
		if (tsk_buf_add(b, "{", 1) != 0)
			return -1;
		json_object_foreach(v, key, x) {
			if ((!first && tsk_buf_add(b, ",", 1) != 0) || (k = json_string(key)) == NULL)
				return -1;
			first = 0;
			rc = json_dump_callback(k, buf_cb, b, JSON_ENCODE_ANY);
			json_decref(k);
			if (rc != 0 || tsk_buf_add(b, ":", 1) != 0 || dump_payload(b, x) != 0)
				return -1;
		}
		return tsk_buf_add(b, "}", 1);
	case JSON_ARRAY:
		if (tsk_buf_add(b, "[", 1) != 0)
			return -1;
		json_array_foreach(v, i, x)
			if ((i > 0 && tsk_buf_add(b, ",", 1) != 0) || dump_payload(b, x) != 0)
				return -1;
		return tsk_buf_add(b, "]", 1);
	default:
		return json_dump_callback(v, buf_cb, b, JSON_COMPACT | JSON_ENCODE_ANY);
	}
}

/* A message between its checks and its answer, while the committer writes it. */
struct tsk_http_ingest_state {
	struct tsk_payload_info info;
	struct tsk_readings rs;
	char tenant[TSK_SLUG_MAX + 1];
	int64_t now;
	char *topic, *payload;     /* the message as archived: its topic, its payload's JSON text */
	size_t payload_len;
	struct tsk_http_job job;
};

void
tsk_http_ingest_free(struct tsk_http_ingest_state *st)
{
	if (st == NULL)
		return;
	tsk_readings_free(&st->rs);
	tsk_payload_info_free(&st->info);
	free(st->topic);
	free(st->payload);
	free(st);
}

/* While PostgreSQL is down: the daemon's spool, 202 queued (without an id: the archive row is written
 * when the spool is flushed, with the message's key, so a message whose COMMIT outcome was unknown is
 * not archived twice); a full spool 503. */
static void
spool_it(struct tsk_http *h, const char *tenant, const struct tsk_http_ingest_state *st, struct tsk_http_reply *out,
    const char **retry_after)
{
	char err[TSK_ERRLEN];
	json_t *o;
	const struct tsk_sink_msg *a = &st->job.msg;
	struct tsk_spool_msg m = { .tenant = tenant, .r = st->rs.v, .n = st->rs.n, .received_us = st->now,
		.topic = a->topic, .raw = a->payload, .raw_len = a->payload_len, .archive = 1, .key = a->key,
		.ts_us = a->ts_us, .device_id = a->device_id };
	const struct tsk_payload_info *info = &st->info;
	const struct tsk_readings *rs = &st->rs;
	int64_t now = st->now;
	int rc = tsk_spool_put_msg(h->sp, &m, err, sizeof err);

	if (rc == TSK_OK) {
		atomic_fetch_add(&h->st.spooled, 1);
		atomic_fetch_add(&h->queued, 1);
		o = accepted_body("queued", 0, info, now);
		json_object_set_new(o, "sensors_queued", json_integer((json_int_t)rs->n));
		tsk_http_json(out, 202, o);
		return;
	}
	atomic_fetch_add(&h->spool_refused, 1);
	if (rc == TSK_EFULL)
		atomic_fetch_add(&h->st.full_waits, 1);
	else
		tsk_warn("spool: %s", err);
	tsk_http_error(out, 503, rc == TSK_EFULL ? "Spool full" : "Failed to save telemetry");
	*retry_after = "30";
}

void
tsk_http_ingest_finish(struct tsk_http *h, struct slot *s, struct tsk_http_ingest_state *st,
    struct tsk_http_reply *out, const char **retry_after)
{
	struct tsk_http_job *j = &st->job;
	json_t *o;

	if (j->rc == TSK_OK && j->unknown) {
		/* The tenant was deleted between the check and the write. */
		tsk_http_json(out, 404, json_pack("{s:s, s:s}", "error", "Tenant not found", "tenant", st->tenant));
		tsk_stats_reject(&h->st, TSK_STATS_UNKNOWN_TENANT);
		return;
	}
	if (j->rc == TSK_OK) {
		atomic_fetch_add(&h->st.stored, j->stored);
		atomic_fetch_add(&h->st.duplicates, j->duplicates);
		atomic_store(&h->st.last_flush_us, tsk_now_us());
		o = accepted_body("accepted", j->msg.id, &st->info, st->now);
		json_object_set_new(o, "sensors_saved", json_integer((json_int_t)j->stored));
		json_object_set_new(o, "duplicates_skipped", json_integer((json_int_t)j->duplicates));
		tsk_http_json(out, 202, o);
		return;
	}
	if (j->rc == TSK_EINVAL || j->rc == TSK_EFAIL) {
		/* The database refused this message (a value out of range, an id too long for the index)
		 * or failed in a way a retry will not fix by itself. */
		tsk_warn("ingest %s: %s", st->tenant, j->err);
		atomic_fetch_add(&h->db_errors, 1);
		tsk_stats_reject(&h->st, TSK_STATS_DB_REJECTED);
		tsk_http_error(out, j->rc == TSK_EINVAL ? 400 : 500, "Failed to save telemetry");
		return;
	}
	/* TSK_ETEMP: the database went away; nothing was committed. */
	tsk_http_db_failed(s);
	atomic_fetch_add(&h->st.flush_errors, 1);
	spool_it(h, st->tenant, st, out, retry_after);
}

int
tsk_http_ingest(struct tsk_http *h, struct slot *s, const struct tsk_http_request *rq, char *tenant_out,
    struct tsk_http_reply *out, const char **retry_after, void (*on_done)(void *), void *arg,
    struct tsk_http_ingest_state **state)
{
	const char *token = tsk_http_header(rq, "x-device-token");
	const char *tenant = tsk_http_header(rq, "x-tenant");
	struct tsk_http_ingest_state *st = calloc(1, sizeof *st);
	json_t *env = NULL, *topic, *o;
	char err[TSK_ERRLEN], msg[TSK_ERRLEN + 64];
	int64_t now = tsk_now_us();
	int ok, rc, db_up = 0;
	int64_t max_future = TSK_SINK_MAX_FUTURE_DEFAULT; /* until the database says */

	*state = NULL;
	if (st == NULL) {
		tsk_http_error(out, 500, "out of memory");
		return 1;
	}
	st->now = now;
	tsk_payload_info_init(&st->info);
	tsk_readings_init(&st->rs);
#define info (st->info)
#define rs (st->rs)
	/* 1, 2 */
	if (token == NULL) {
		tsk_http_error(out, 401, "Missing x-device-token header");
		goto done;
	}
	pthread_rwlock_rdlock(&h->lock);
	ok = h->secret[0] != '\0' && tsk_auth_equal(token, h->secret);
	pthread_rwlock_unlock(&h->lock);
	if (!ok && h->o.ingest_token != NULL)
		ok = h->o.ingest_token(h->o.ingest_token_arg, tenant, token, tsk_http_db(h, s)) == 1;
	if (!ok) {
		tsk_http_error(out, 401, "Invalid device token");
		goto done;
	}
	/* 3 */
	if (tenant == NULL || tenant[0] == '\0') {
		tsk_http_error(out, 400, "Missing x-tenant header");
		goto done;
	}
	atomic_fetch_add(&h->st.received, 1);
	/* 4, 4b */
	if (rq->body_len > 0 && !tsk_utf8_valid(rq->body, rq->body_len)) {
		tsk_http_error(out, 400, "Erro ao processar request: the body is not valid UTF-8 (or holds a NUL byte)");
		info.reason = TSK_PAYLOAD_NOT_JSON;
		goto rejected;
	}
	if (tsk_payload_load(rq->body, rq->body_len, TSK_ENVELOPE_MAX, &env, &info, err, sizeof err) != TSK_OK) {
		snprintf(msg, sizeof msg, "Erro ao parsear JSON: %s", info.detail[0] ? info.detail : err);
		tsk_http_error(out, 400, msg);
		goto rejected;
	}
	/* 5 */
	if (!json_is_object(env)) {
		tsk_http_error(out, 400, "Payload must be JSON object");
		info.reason = TSK_PAYLOAD_NOT_OBJECT;
		goto rejected;
	}
	/* 6 */
	topic = json_object_get(env, "topic");
	if (topic == NULL || falsy(topic)) {
		tsk_http_error(out, 400, "Missing required field: topic");
		info.reason = TSK_PAYLOAD_NO_TOPIC;
		goto rejected;
	}
	/* 8b */
	if (!json_is_string(topic) || strlen(json_string_value(topic)) != json_string_length(topic)) {
		tsk_http_error(out, 400, "Invalid request");
		info.reason = TSK_PAYLOAD_NO_TOPIC;
		goto rejected;
	}
	/* 7, 8: the first two segments only */
	{
		const char *t = json_string_value(topic), *slash = strchr(t, '/'), *seg, *end;
		if (slash == NULL || (size_t)(slash - t) != 7 || strncmp(t, "tenants", 7) != 0) {
			tsk_http_error(out, 400, "Invalid topic format");
			info.reason = TSK_PAYLOAD_BAD_TOPIC;
			goto rejected;
		}
		seg = slash + 1;
		end = strchr(seg, '/');
		size_t n = end != NULL ? (size_t)(end - seg) : strlen(seg);
		if (n != strlen(tenant) || strncmp(seg, tenant, n) != 0) {
			tsk_http_error(out, 403, "Tenant validation failed");
			info.reason = TSK_PAYLOAD_TENANT_MISMATCH;
			goto rejected;
		}
	}
	/* 9: a name that cannot be a slug names no tenant, and needs no query to say so. */
	if (!tsk_topic_slug_valid(tenant)) {
		tsk_http_json(out, 404, json_pack("{s:s, s:s}", "error", "Tenant not found", "tenant", tenant));
		goto rejected_tenant;
	}
	snprintf(tenant_out, TSK_SLUG_MAX + 1, "%s", tenant);
	if (tsk_http_db(h, s) != NULL) {
		rc = tsk_sink_tenant_limits(s->sink, tenant, now, &max_future, err, sizeof err);
		if (rc == TSK_ENOTFOUND) {
			tsk_http_json(out, 404, json_pack("{s:s, s:s}", "error", "Tenant not found", "tenant", tenant));
			goto rejected_tenant;
		}
		if (rc == TSK_OK)
			db_up = 1;
		else
			tsk_http_db_failed(s);
	}
	/* While the database is down the tenant cannot be checked: the message is spooled, and the flusher
	 * dead-letters it if the tenant turns out not to exist. */
	/* 10 */
	o = json_object_get(env, "payload");
	if (o == NULL || falsy(o)) {
		tsk_http_error(out, 400, "Missing required field: payload");
		info.reason = TSK_PAYLOAD_EMPTY;
		goto rejected;
	}
	/* 11, 12 and the parsers' own refusals */
	rc = tsk_payload_parse_envelope(tenant, env, now, &rs, &info, err, sizeof err);
	if (rc == TSK_EINVAL) {
		parse_error(out, &info);
		tsk_stats_reject(&h->st, (int)info.reason);
		goto done;
	}
	if (rc != TSK_OK) {
		snprintf(msg, sizeof msg, "Erro ao processar payload: %s", err);
		tsk_http_error(out, 500, msg);
		goto done;
	}
	atomic_fetch_add(&h->st.accepted, 1);
	atomic_fetch_add(&h->st.readings, rs.n);
	tsk_stats_skips(&h->st, &info);
	/* A reading further ahead of its arrival than the tenant's max_future (a device with a wrong clock)
	 * would stay the "latest" value for ever: the message is refused whole, as tsk-ingest does. */
	const struct tsk_reading *far = tsk_reading_too_far(rs.v, rs.n, now, max_future);
	if (far != NULL) {
		char detail[TSK_ERRLEN];
		tsk_reading_future_detail(detail, sizeof detail, far, now, max_future);
		snprintf(msg, sizeof msg, "Timestamp too far in the future: %s", detail);
		tsk_http_error(out, 400, msg);
		tsk_stats_reject(&h->st, TSK_STATS_FUTURE);
		goto done;
	}
	/* The message as the archive keeps it (even with no storable reading: the original kept it too):
	 * its topic and its payload's JSON text (a payload given as a string is that text). */
	o = json_object_get(env, "payload");
	st->topic = strdup(json_string_value(topic));
	if (json_is_string(o)) {
		st->payload_len = json_string_length(o);
		if ((st->payload = malloc(st->payload_len + 1)) != NULL)
			memcpy(st->payload, json_string_value(o), st->payload_len + 1);
	} else {
		struct tsk_buf b = TSK_BUF_INIT;
		if (dump_payload(&b, o) == 0) {
			st->payload_len = b.len;
			st->payload = tsk_buf_take(&b);
		}
		tsk_buf_free(&b);
	}
	if (st->topic == NULL || st->payload == NULL) {
		tsk_http_error(out, 500, "out of memory");
		goto done;
	}
	snprintf(st->tenant, sizeof st->tenant, "%s", tenant);
	st->job.msg = (struct tsk_sink_msg){ .tenant = st->tenant, .device_id = info.device_id, .topic = st->topic,
		.payload = st->payload, .payload_len = st->payload_len, .ts_us = info.has_ts ? info.ts_us : now,
		.received_us = now, .key = tsk_sink_msg_key() };
	if (db_up) {
		/* Group commit: written with the messages of the other requests waiting at this moment, in
		 * one transaction; this message's own counts come back through on_done (the caller's
		 * resume), and tsk_http_ingest_finish answers. */
		st->job.r = rs.v;
		st->job.n = rs.n;
		st->job.as_of_us = now;
		st->job.on_done = on_done;
		st->job.arg = arg;
		json_decref(env);
		*state = st;
		/* Suspended before it is queued: the committer may resume it at once. */
		MHD_suspend_connection((struct MHD_Connection *)rq->conn);
		if (tsk_http_commit_async(h->committer, &st->job) != TSK_OK) {
			st->job.rc = TSK_ETEMP; /* stopping: the finish spools it */
			on_done(arg);
		}
		return 0;
	}
	spool_it(h, tenant, st, out, retry_after);
	goto done;
rejected_tenant:
	tsk_stats_reject(&h->st, TSK_STATS_UNKNOWN_TENANT);
	goto done;
rejected:
	tsk_stats_reject(&h->st, (int)(info.reason != TSK_PAYLOAD_OK ? info.reason : TSK_PAYLOAD_NOT_OBJECT));
done:
	json_decref(env);
#undef info
#undef rs
	tsk_http_ingest_free(st);
	return 1;
}
