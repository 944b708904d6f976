/*
 * GET /health and GET /metrics (Prometheus text exposition format 0.0.4).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "core/buf.h"
#include "core/time.h"
#include "core/tsk.h"
#include "http/http_impl.h"

void
tsk_http_health(struct tsk_http *h, struct slot *s, struct tsk_http_reply *out)
{
	char err[TSK_ERRLEN];
	PGconn *db = tsk_http_db(h, s);
	int db_ok = 0, spool_ok, mqtt, healthy;

	if (db != NULL) {
		PGresult *res = PQexec(db, "SELECT 1");
		db_ok = res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK;
		PQclear(res);
		if (!db_ok)
			tsk_http_db_failed(s);
	}
	spool_ok = !tsk_ingest_failed(h->ing, err, sizeof err) && tsk_ingest_has_room(h->ing);
	mqtt = tsk_http_broker_up(h);
	healthy = db_ok && spool_ok && mqtt != 0;
	/* "mqtt" only when a broker is configured: the shape otherwise. */
	if (mqtt < 0)
		tsk_http_json(out, healthy ? 200 : 503, json_pack("{s:b, s:b, s:b}", "db", db_ok, "spool", spool_ok,
		    "healthy", healthy));
	else
		tsk_http_json(out, healthy ? 200 : 503, json_pack("{s:b, s:b, s:b, s:b}", "db", db_ok, "spool", spool_ok,
		    "mqtt", mqtt, "healthy", healthy));
}

static const char *const route_names[RT_N] = { "health", "metrics", "ingest", "tenant", "other" };

static void
head(struct tsk_buf *b, const char *name, const char *type, const char *help)
{
	tsk_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
one(struct tsk_buf *b, const char *name, const char *type, const char *help, double v)
{
	char num[32];

	head(b, name, type, help);
	tsk_buf_printf(b, "%s %s\n", name, tsk_fmt_double(v, num));
}

/* The running tsk-ingest's counters, from the stats file it rewrites every second. */
static void
ingest_file(struct tsk_buf *b, const char *path)
{
	static const char *const counters[] = { "received", "accepted", "readings", "spooled", "stored",
		"duplicates", "rejected", "skipped" };
	char err[TSK_ERRLEN], ts[TSK_TIME_STRLEN];
	json_t *j = NULL, *v;
	int64_t updated = 0;

	(void)ts;
	if (tsk_stats_read_file(path, &j, err, sizeof err) != TSK_OK) {
		one(b, "tsk_ingest_stats_up", "gauge", "1 when the stats file of tsk-ingest could be read.", 0);
		return;
	}
	one(b, "tsk_ingest_stats_up", "gauge", "1 when the stats file of tsk-ingest could be read.", 1);
	for (size_t i = 0; i < sizeof counters / sizeof *counters; i++) {
		char name[64], help[128];
		if (!json_is_integer(v = json_object_get(j, counters[i])))
			continue;
		snprintf(name, sizeof name, "tsk_ingest_%s_total", counters[i]);
		snprintf(help, sizeof help, "tsk-ingest: %s (from its stats file).", counters[i]);
		one(b, name, "counter", help, (double)json_integer_value(v));
	}
	json_t *sp = json_object_get(j, "spool");
	if (json_is_integer(v = json_object_get(sp, "depth")))
		one(b, "tsk_ingest_spool_depth_messages", "gauge", "tsk-ingest: messages waiting in its spool.",
		    (double)json_integer_value(v));
	json_t *db = json_object_get(j, "db");
	if (json_is_boolean(v = json_object_get(db, "up")))
		one(b, "tsk_ingest_db_up", "gauge", "tsk-ingest: 1 while its database is up.", json_is_true(v));
	json_t *mq = json_object_get(j, "mqtt");
	if (json_is_boolean(v = json_object_get(mq, "connected")))
		one(b, "tsk_ingest_mqtt_connected", "gauge", "tsk-ingest: 1 while connected to the broker.",
		    json_is_true(v));
	if (json_is_string(v = json_object_get(j, "updated")) &&
	    tsk_time_parse_rfc3339(json_string_value(v), &updated) == TSK_OK)
		one(b, "tsk_ingest_stats_age_seconds", "gauge", "Age of tsk-ingest's stats file.",
		    (double)(tsk_now_us() - updated) / 1e6);
	json_decref(j);
}

void
tsk_http_metrics(struct tsk_http *h, struct tsk_http_reply *out)
{
	struct tsk_buf b = TSK_BUF_INIT;
	const struct tsk_spool_counters *sc = tsk_spool_counters(h->sp);
	char num[32];
	unsigned up = 0;

	head(&b, "tsk_http_requests_total", "counter", "HTTP requests answered, by route and status code.");
	for (int r = 0; r < RT_N; r++)
		for (int c = 0; c < HTTP_NCODES; c++) {
			uint64_t n = atomic_load(&h->req[r][c]);
			if (n == 0)
				continue;
			if (c < HTTP_NCODES - 1)
				tsk_buf_printf(&b, "tsk_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
				    route_names[r], tsk_http_codes[c], (unsigned long long)n);
			else
				tsk_buf_printf(&b, "tsk_http_requests_total{route=\"%s\",code=\"other\"} %llu\n",
				    route_names[r], (unsigned long long)n);
		}
	head(&b, "tsk_http_request_duration_seconds", "histogram", "Time from the request's headers to its completion.");
	for (int r = 0; r < RT_N; r++) {
		uint64_t cum = 0, count = atomic_load(&h->lat_count[r]);
		for (int k = 0; k < HTTP_NBUCKETS; k++) {
			cum += atomic_load(&h->hist[r][k]);
			tsk_buf_printf(&b, "tsk_http_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} %llu\n",
			    route_names[r], tsk_fmt_double((double)tsk_http_bucket_us[k] / 1e6, num),
			    (unsigned long long)(cum < count ? cum : count));
		}
		tsk_buf_printf(&b, "tsk_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
		    route_names[r], (unsigned long long)count);
		tsk_buf_printf(&b, "tsk_http_request_duration_seconds_sum{route=\"%s\"} %s\n", route_names[r],
		    tsk_fmt_double((double)atomic_load(&h->lat_sum_us[r]) / 1e6, num));
		tsk_buf_printf(&b, "tsk_http_request_duration_seconds_count{route=\"%s\"} %llu\n", route_names[r],
		    (unsigned long long)count);
	}
	one(&b, "tsk_http_requests_in_flight", "gauge", "Requests being received or answered.",
	    (double)atomic_load(&h->inflight));
	one(&b, "tsk_http_body_too_large_total", "counter", "Requests refused with 413 for their body size.",
	    (double)atomic_load(&h->too_large));
	one(&b, "tsk_http_connections_open", "gauge", "Client connections open (this scrape's included).",
	    (double)tsk_http_deadline_open(h->deadline));
	one(&b, "tsk_http_request_deadline_closed_total", "counter",
	    "Connections closed because a request was not received whole within request_deadline.",
	    (double)tsk_http_deadline_cut(h->deadline));

	/* This daemon's POST /ingest. */
	one(&b, "tsk_httpd_ingest_received_total", "counter", "POST /ingest messages past authentication.",
	    (double)atomic_load(&h->st.received));
	one(&b, "tsk_httpd_ingest_accepted_total", "counter", "Messages that parsed.", (double)atomic_load(&h->st.accepted));
	one(&b, "tsk_httpd_ingest_readings_total", "counter", "Readings parsed.", (double)atomic_load(&h->st.readings));
	one(&b, "tsk_httpd_ingest_stored_total", "counter", "Readings stored in PostgreSQL (directly or from the spool).",
	    (double)atomic_load(&h->st.stored));
	one(&b, "tsk_httpd_ingest_duplicates_total", "counter", "Readings that were stored already.",
	    (double)atomic_load(&h->st.duplicates));
	one(&b, "tsk_httpd_ingest_archived_total", "counter", "Raw messages written to the tenants' archive (telemetry).",
	    (double)atomic_load(&h->st.archived));
	one(&b, "tsk_httpd_ingest_commits_total", "counter", "PostgreSQL transactions of POST /ingest (group commit: each serves "
	    "every request waiting) and of the spool's flusher.", (double)atomic_load(&h->st.batches));
	one(&b, "tsk_httpd_ingest_queued_total", "counter", "Messages spooled because PostgreSQL was down.",
	    (double)atomic_load(&h->queued));
	one(&b, "tsk_httpd_ingest_spool_refused_total", "counter", "Messages refused with 503: the spool was full or failed.",
	    (double)atomic_load(&h->spool_refused));
	head(&b, "tsk_httpd_ingest_rejected_total", "counter", "Messages rejected, by reason.");
	for (int i = 1; i < TSK_STATS_NREASONS; i++) {
		uint64_t n = atomic_load(&h->st.rejected_by[i]);
		if (n > 0)
			tsk_buf_printf(&b, "tsk_httpd_ingest_rejected_total{reason=\"%s\"} %llu\n", tsk_stats_reason_str(i),
			    (unsigned long long)n);
	}

	/* The daemon's spool. */
	one(&b, "tsk_httpd_spool_depth_messages", "gauge", "Messages waiting in the daemon's spool.",
	    (double)atomic_load(&sc->depth_msgs));
	one(&b, "tsk_httpd_spool_depth_readings", "gauge", "Readings waiting in the daemon's spool.",
	    (double)atomic_load(&sc->depth_readings));
	one(&b, "tsk_httpd_spool_depth_bytes", "gauge", "Encoded bytes waiting in the daemon's spool.",
	    (double)atomic_load(&sc->depth_bytes));
	one(&b, "tsk_httpd_spool_dead", "gauge", "Dead letters in the daemon's spool.", (double)atomic_load(&sc->depth_dead));

	/* The connection pool: one connection per worker thread. */
	for (unsigned i = 0; i < h->nslots; i++)
		up += (unsigned)atomic_load(&h->slots[i].up);
	one(&b, "tsk_httpd_db_pool_size", "gauge", "Worker threads, each with one PostgreSQL connection.", h->nslots);
	one(&b, "tsk_httpd_db_pool_connected", "gauge", "Worker connections that were up at their last use.", up);
	one(&b, "tsk_httpd_db_errors_total", "counter", "Messages PostgreSQL refused.", (double)atomic_load(&h->db_errors));

	if (h->ingest_stats != NULL)
		ingest_file(&b, h->ingest_stats);

	if (tsk_buf_failed(&b)) {
		tsk_buf_free(&b);
		tsk_http_error(out, 500, "out of memory");
		return;
	}
	out->status = 200;
	out->content_type = "text/plain; version=0.0.4; charset=utf-8";
	out->len = b.len;
	out->body = tsk_buf_take(&b);
	if (out->body == NULL)
		out->body = strdup("");
}
