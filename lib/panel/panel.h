/*
 * The ops panel ("Control Center", the original system): staff-only HTML pages under /ops/ on the public host
 * of tsk-httpd. tsk_panel_route is the daemon's ops hook (lib/http/http.h, tsk_http_ops_fn).
 *
 *   GET  /ops/login/, POST /ops/login/, POST /ops/logout/    the staff session (cookie tsk_ops)
 *   GET  /ops/                      tenant selector and the filter form
 *   GET  /ops/telemetry/            aggregated buckets, paginated, with the total number of rows
 *   GET  /ops/telemetry/drilldown/  the newest N raw readings, statistics over the whole filter, a chart
 *   POST /ops/telemetry/export/     synchronous CSV, at most 10 000 rows, spreadsheet-safe cells
 *   GET  /ops/dashboard/            up to 10 sensors charted together
 *   GET  /ops/api/chart-data/       the JSON behind the charts
 *   GET  /ops/exports/, POST /ops/exports/request/, GET /ops/exports/ID/download/,
 *   POST /ops/exports/ID/cancel/    export jobs: a row in public.export_job, run by the panel's worker
 *                                   thread into the S3 store, a presigned link valid 24 hours
 *   GET  /ops/audit/                public.audit_log
 *   GET  /ops/static/ops.css, /ops/static/chart.js
 *
 * The session is an access JWT of the public site (registry/login.h) in an HttpOnly, SameSite=Strict
 * cookie scoped to /ops/, valid 12 hours; a password change or a logout (its jti is revoked) ends it.
 * Every POST carries a CSRF token bound to the session (the login form's to a cookie of its own).
 * Every list, drill-down, chart, export and job action is written to public.audit_log.
 *
 * Thread safety: tsk_panel_route may run on any number of threads at once, each with its own
 * connection. The export worker has a connection of its own.
 */
#ifndef TSK_PANEL_H
#define TSK_PANEL_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "http/http.h"
#include "query/s3.h"

struct tsk_panel;

struct tsk_panel_opts {
	const char *dsn;                 /* the export worker's connection ("" or NULL: PG* variables) */
	const char *chartjs_dir;         /* Debian's libjs-chart.js; NULL: /usr/share/javascript/chart.js */
	const struct tsk_s3_config *s3;  /* the store export jobs go to (strings copied); NULL: jobs refused */
	const char *export_bucket;       /* NULL: "exports" */
	int cookie_secure;               /* Secure on the session cookie (behind a TLS proxy) */
	int no_worker;                   /* do not run export jobs here (another daemon does) */
};

/* Starts the export worker. TSK_OK or TSK_EFAIL. */
int tsk_panel_new(const struct tsk_panel_opts *o, struct tsk_panel **out, char *err, size_t errlen);
/* Stops the worker (a job in progress is cancelled and marked failed) and frees. */
void tsk_panel_free(struct tsk_panel *p);

/* The ops hook: a request under /ops/ on the public host, with the worker's connection and the current
 * jwt_secret. Always fills *reply and returns 1. */
int tsk_panel_route(void *panel, const struct tsk_http_request *rq, void *pgconn, const char *jwt_secret,
    struct tsk_http_reply *reply);

/* Audit rows, newest first: [{id, at, actor, tenant, action, filters, record_count, execution_time_ms,
 * ip_address, user_agent}]. tenant, action may be NULL (any); limit 1..10000. */
int tsk_panel_audit_list(PGconn *db, const char *tenant, const char *action, long long limit, json_t **out,
    char *err, size_t errlen);
/* Makes a user a superuser (and staff), or not. TSK_ENOTFOUND for an unknown user. */
int tsk_panel_superuser_set(PGconn *db, const char *email, int on, char *err, size_t errlen);

#endif
