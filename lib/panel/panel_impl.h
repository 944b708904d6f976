/* Internals shared by the files of lib/panel/. */
#ifndef TSK_PANEL_IMPL_H
#define TSK_PANEL_IMPL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/tsk.h"
#include "panel/panel.h"
#include "query/filter.h"
#include "registry/login.h"
#include "registry/ratelimit.h"

struct tsk_panel {
	char *dsn, *chartjs_dir, *bucket;
	int cookie_secure, has_s3;
	struct tsk_ratelimit *by_account, *by_address; /* failed staff logins (the API's limits) */
	struct tsk_s3_config s3;
	char *s3_strings[5];
	/* the export worker */
	pthread_t worker;
	int worker_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop, kick;
	_Atomic int64_t current_job;          /* the job the worker runs now, 0: none */
	volatile sig_atomic_t cancel;         /* set to stop the current job's upload */
};

/* Form fields: the query string of a GET or the urlencoded body of a POST. */
#define FORM_MAX 48
struct form {
	int n;
	char *k[FORM_MAX], *v[FORM_MAX];
};
void form_load(struct form *f, const struct tsk_http_request *rq);
const char *form_get(const struct form *f, const char *key);
void form_free(struct form *f);

/* One request being answered. */
struct ctx {
	struct tsk_panel *p;
	const struct tsk_http_request *rq;
	PGconn *db;
	const char *secret;
	struct tsk_http_reply *out;
	struct form form;
	struct tsk_principal user;
	int is_superuser;
	char jti[40];
	char csrf[65];
	int64_t start_us;
};

/* The parsed filter form. */
struct filter_form {
	char tenant[101], tenant_name[256];
	char device[256], sensor[256];
	char from_s[64], to_s[64], bucket[8];
	int has_from, has_to;
	int64_t from_us, to_us, bucket_us;
	long long limit, offset;
};
/* Validates; 0, or -1 with a 400 answer in c->out. need_tenant_row: also looks the tenant up (400
 * "Tenant 'x' not found"). limit_max, limit_def: the limit's bounds. */
int filter_form_parse(struct ctx *c, struct filter_form *ff, long long limit_def, long long limit_max);
/* The filter as the series library takes it (strings point into ff). */
void filter_form_filter(const struct filter_form *ff, struct tsk_filter *f);
/* The form's fields as a URL query (escaped), without offset. */
void filter_form_query(const struct filter_form *ff, struct tsk_buf *b);
/* As a JSON object (for the audit log). */
json_t *filter_form_json(const struct filter_form *ff);

/* HTML. */
void html_esc(struct tsk_buf *b, const char *s);
void url_esc(struct tsk_buf *b, const char *s);
void page_begin(struct ctx *c, struct tsk_buf *b, const char *title);
void page_end(struct tsk_buf *b);
void reply_html(struct ctx *c, int status, struct tsk_buf *b);
void reply_text(struct ctx *c, int status, const char *text);
void reply_redirect(struct ctx *c, const char *location);
/* A <script type="application/json" id=ID> holding j (steals the reference). */
void html_json(struct tsk_buf *b, const char *id, json_t *j);
void csrf_field(struct ctx *c, struct tsk_buf *b);
/* POSTs: 1 when the form's csrf token is the session's, else 0 with a 403 in c->out. */
int csrf_ok(struct ctx *c);

/* Tenants: 1 and the name when slug is a tenant, 0 when not, -1 on a database error. */
int tenant_name(PGconn *db, const char *slug, char *name, size_t len);
/* <option>s of every tenant, `selected` marked. */
void tenant_options(struct ctx *c, struct tsk_buf *b, const char *selected);

/* Audit (audit.c): one row for the current request; filters is stolen (may be NULL). */
void audit(struct ctx *c, const char *action, const char *tenant, json_t *filters, long long rows);
void view_audit(struct ctx *c);

/* Views (views.c). */
void view_home(struct ctx *c);
void view_telemetry(struct ctx *c);
void view_drilldown(struct ctx *c);
void view_export_csv(struct ctx *c);
void view_dashboard(struct ctx *c);
void view_chart_data(struct ctx *c);

/* Export jobs (jobs.c). */
void view_exports(struct ctx *c);
void view_export_request(struct ctx *c);
void view_export_download(struct ctx *c, long long id);
void view_export_cancel(struct ctx *c, long long id);
int jobs_start(struct tsk_panel *p, char *err, size_t errlen);
void jobs_stop(struct tsk_panel *p);

#endif
