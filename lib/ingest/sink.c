/*
 * The sink: batches of readings into PostgreSQL with COPY (binary) into a temporary staging table and
 * one INSERT ... ON CONFLICT DO NOTHING per tenant, in one transaction. See sink.h.
 */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg/db.h"
#include "ingest/sink.h"
#include "core/buf.h"
#include "core/time.h"
#include "core/tsk.h"

/* Flush the COPY buffer to libpq once it holds this much: big enough to amortise the calls, small
 * enough not to double the memory of a large batch. */
#define COPY_CHUNK (512 * 1024)
/* Seconds between 1970-01-01 and 2000-01-01, PostgreSQL's timestamp epoch. */
#define PG_EPOCH_US INT64_C(946684800000000)

struct tenant {
	char *slug;
	char *schema;   /* the schema name, unquoted */
	char *sql[5];   /* its statements (SQL_COPY, SQL_STAGED, SQL_CATALOG, SQL_STAGED_RET, SQL_ARCHIVE), built on
	                   first use */
	int64_t max_future_us; /* its max_future setting, or TSK_SINK_MAX_FUTURE_DEFAULT */
	int used;       /* in the current batch */
	size_t pos;     /* its index in s->order for the current batch */
	size_t fill;    /* group_rows scratch */
};

struct tsk_sink {
	char *dsn;
	int catalog;
	PGconn *db;
	struct tenant *t;   /* sorted by slug (strcmp order) */
	size_t nt;
	int64_t loaded_us;  /* when the tenant list was read; 0: never */
	struct tsk_buf copy; /* COPY data being built */
	struct tsk_buf query; /* attempt(): the chain of COPYs */
	int *grp;           /* per reading of the batch: tenant index, or -1 */
	size_t grpcap;
	size_t *order;      /* tenants used by the batch, in order of first appearance */
	size_t ordercap;
	size_t *cat;        /* catalog rows: index of the newest reading of each (tenant, device, sensor) */
	size_t ncat, catcap;
	long *slot;         /* open-addressing hash over cat */
	size_t slotcap;
	size_t *byg;        /* reading indexes grouped by tenant (group_rows) */
	size_t bygcap;
	size_t *gstart;     /* per tenant of the batch: where its readings start in byg */
	size_t gstartcap;
	size_t cur;         /* emit_direct: the current tenant's start in byg */
	int staged_left;    /* batches to write staged before trying direct COPY again */
	uint64_t conflicts; /* transactions run again after a deadlock or serialization failure */
	int last_conflict;  /* the last write failed for a conflict, retries exhausted */
	unsigned char *stored; /* tsk_sink_write_each: per reading, 1 when this write inserted it */
	struct tsk_sink_msg *msg; /* tsk_sink_write_archive: the messages to archive with the readings */
	size_t nmsg;
	int *mgrp;          /* per message: tenant index, or -1 */
	size_t mgrpcap;
	size_t nmsg_known;  /* messages of known tenants */
};

static void
free_tenants(struct tsk_sink *s)
{
	for (size_t i = 0; i < s->nt; i++) {
		free(s->t[i].slug);
		free(s->t[i].schema);
		for (int k = 0; k < 5; k++)
			free(s->t[i].sql[k]);
	}
	free(s->t);
	s->t = NULL;
	s->nt = 0;
	s->loaded_us = 0;
}

int
tsk_sink_open(const char *dsn, const struct tsk_sink_opts *opts, struct tsk_sink **out, char *err, size_t errlen)
{
	struct tsk_sink *s = calloc(1, sizeof *s);

	if (s == NULL || (s->dsn = strdup(dsn != NULL ? dsn : "")) == NULL) {
		free(s);
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	}
	s->catalog = opts == NULL || !opts->no_catalog;
	*out = s;
	return TSK_OK;
}

void
tsk_sink_disconnect(struct tsk_sink *s)
{
	if (s->db != NULL)
		PQfinish(s->db);
	s->db = NULL;
	/* The statements name schemas, which only change with the tenant list; the list itself is kept
	 * (a reconnect reloads it anyway). */
}

void
tsk_sink_close(struct tsk_sink *s)
{
	if (s == NULL)
		return;
	tsk_sink_disconnect(s);
	free_tenants(s);
	free(s->dsn);
	tsk_buf_free(&s->copy);
	tsk_buf_free(&s->query);
	free(s->grp);
	free(s->order);
	free(s->cat);
	free(s->slot);
	free(s->byg);
	free(s->gstart);
	free(s->mgrp);
	free(s);
}

PGconn *
tsk_sink_db(struct tsk_sink *s)
{
	return s->db;
}

int
tsk_sink_connected(const struct tsk_sink *s)
{
	return s->db != NULL && PQstatus(s->db) == CONNECTION_OK;
}

static int
cmp_tenant(const void *a, const void *b)
{
	return strcmp(((const struct tenant *)a)->slug, ((const struct tenant *)b)->slug);
}

/* Reads public.tenant into the cache. */
static int
load_tenants(struct tsk_sink *s, char *err, size_t errlen)
{
	int64_t now = tsk_now_us();
	PGresult *res;
	struct tenant *t;
	int rc, n;

	rc = tsk_db_exec(s->db, "SELECT slug, schema_name, settings->>'max_future' FROM public.tenant", 0, NULL, &res,
	    err, errlen);
	if (rc != TSK_OK)
		return rc;
	n = PQntuples(res);
	if ((t = calloc((size_t)n + 1, sizeof *t)) == NULL) {
		PQclear(res);
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	}
	free_tenants(s);
	s->t = t;
	for (int i = 0; i < n; i++) {
		t[i].slug = strdup(PQgetvalue(res, i, 0));
		t[i].schema = strdup(PQgetvalue(res, i, 1));
		/* Absent or not a duration (the registry validates it; this only reads): the default. */
		if (PQgetisnull(res, i, 2) || tsk_duration_parse(PQgetvalue(res, i, 2), &t[i].max_future_us) != TSK_OK ||
		    t[i].max_future_us <= 0)
			t[i].max_future_us = TSK_SINK_MAX_FUTURE_DEFAULT;
		s->nt++;
		if (t[i].slug == NULL || t[i].schema == NULL) {
			PQclear(res);
			free_tenants(s);
			return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		}
	}
	PQclear(res);
	qsort(s->t, s->nt, sizeof *s->t, cmp_tenant);
	s->loaded_us = now;
	return TSK_OK;
}

int
tsk_sink_connect(struct tsk_sink *s, char *err, size_t errlen)
{
	int rc;

	if (s->db != NULL && PQstatus(s->db) == CONNECTION_OK)
		return TSK_OK;
	tsk_sink_disconnect(s);
	if ((rc = tsk_db_connect(s->dsn, &s->db, err, errlen)) != TSK_OK) {
		s->db = NULL;
		return rc;
	}
	rc = load_tenants(s, err, errlen);
	if (rc != TSK_OK)
		tsk_sink_disconnect(s);
	return rc;
}

static long
find_tenant(const struct tsk_sink *s, const char *slug)
{
	size_t lo = 0, hi = s->nt;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(slug, s->t[mid].slug);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

int
tsk_sink_tenant_exists(struct tsk_sink *s, const char *slug, int64_t as_of_us, char *err, size_t errlen)
{
	int rc;

	if ((rc = tsk_sink_connect(s, err, errlen)) != TSK_OK)
		return rc;
	if (find_tenant(s, slug) >= 0)
		return TSK_OK;
	if (s->loaded_us <= as_of_us && (rc = load_tenants(s, err, errlen)) != TSK_OK)
		return rc;
	if (find_tenant(s, slug) >= 0)
		return TSK_OK;
	return tsk_seterr(err, errlen, TSK_ENOTFOUND, "no tenant \"%s\"", slug);
}

/* The tenant list (with the settings read from it) is read again when it is older than this, so a
 * changed max_future takes effect within a minute without a query per batch. */
#define SETTINGS_MAX_AGE_US (60 * TSK_US_PER_S)

int
tsk_sink_tenant_limits(struct tsk_sink *s, const char *slug, int64_t as_of_us, int64_t *max_future_us, char *err,
    size_t errlen)
{
	int rc;
	long k;

	*max_future_us = TSK_SINK_MAX_FUTURE_DEFAULT;
	if ((rc = tsk_sink_connect(s, err, errlen)) != TSK_OK)
		return rc;
	if (tsk_now_us() - s->loaded_us > SETTINGS_MAX_AGE_US && (rc = load_tenants(s, err, errlen)) != TSK_OK)
		return rc;
	if ((k = find_tenant(s, slug)) < 0 && s->loaded_us <= as_of_us) {
		if ((rc = load_tenants(s, err, errlen)) != TSK_OK)
			return rc;
		k = find_tenant(s, slug);
	}
	if (k < 0)
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "no tenant \"%s\"", slug);
	*max_future_us = s->t[k].max_future_us;
	return TSK_OK;
}

/* --- binary COPY encoding ------------------------------------------------------------------------ */

/* Every writer reserves first (tsk_buf_need: once per fixed-size group of columns, once per string),
 * then stores directly. */
static int
reserve(struct tsk_sink *s, size_t more)
{
	return tsk_buf_need(&s->copy, more);
}

static void
put16(struct tsk_sink *s, uint16_t v)
{
	unsigned char *p = (unsigned char *)s->copy.p + s->copy.len;
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
	s->copy.len += 2;
}

static void
be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void
put32(struct tsk_sink *s, uint32_t v)
{
	be32((unsigned char *)s->copy.p + s->copy.len, v);
	s->copy.len += 4;
}

static void
put64(struct tsk_sink *s, uint64_t v)
{
	put32(s, (uint32_t)(v >> 32));
	put32(s, (uint32_t)v);
}

static int
put_text(struct tsk_sink *s, const char *str)
{
	if (str == NULL) {
		if (reserve(s, 4) != 0)
			return -1;
		put32(s, UINT32_MAX); /* -1: NULL */
		return 0;
	}
	size_t n = strlen(str);
	if (n > INT32_MAX || reserve(s, 4 + n) != 0)
		return -1;
	put32(s, (uint32_t)n);
	memcpy(s->copy.p + s->copy.len, str, n);
	s->copy.len += n;
	return 0;
}

static int
labels_cb(const char *data, size_t size, void *arg)
{
	struct tsk_sink *s = arg;

	return tsk_buf_add(&s->copy, data, size);
}

/* Appends s as a JSON string (RFC 8259 escaping; the text is valid UTF-8 already). */
static int
put_jstr(struct tsk_sink *s, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	if (reserve(s, 2 + 6 * n) != 0)
		return -1;
	char *p = s->copy.p + s->copy.len;
	*p++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)str[i];
		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
		} else if (c < 0x20) {
			memcpy(p, "\\u00", 4);
			p[4] = hex[c >> 4];
			p[5] = hex[c & 15];
			p += 6;
		} else {
			*p++ = (char)c;
		}
	}
	*p++ = '"';
	s->copy.len = (size_t)(p - s->copy.p);
	return 0;
}

/* The common labels, an object of strings ({"unit": "celsius", "type": ...}), written directly:
 * json_dump_callback() costs several times more. 1 when done, 0 when the object holds anything else
 * (numbers, nesting: jansson writes those), -1 when out of memory. */
static int
put_flat_labels(struct tsk_sink *s, json_t *labels)
{
	size_t at = s->copy.len, first = 1;
	const char *k;
	json_t *v;

	json_object_foreach(labels, k, v) {
		if (!json_is_string(v)) {
			s->copy.len = at;
			return 0;
		}
		if (reserve(s, 1) != 0)
			return -1;
		s->copy.p[s->copy.len++] = first ? '{' : ',';
		first = 0;
		if (put_jstr(s, k, strlen(k)) != 0 || reserve(s, 1) != 0)
			return -1;
		s->copy.p[s->copy.len++] = ':';
		if (put_jstr(s, json_string_value(v), json_string_length(v)) != 0)
			return -1;
	}
	if (reserve(s, 1) != 0)
		return -1;
	s->copy.p[s->copy.len++] = '}';
	return 1;
}

/* jsonb's binary input is a version byte (1) followed by the JSON text. */
static int
put_labels(struct tsk_sink *s, json_t *labels)
{
	size_t at;

	if (reserve(s, 4 + 1 + 2) != 0)
		return -1;
	at = s->copy.len;
	put32(s, 0);
	s->copy.p[s->copy.len++] = 1;
	int flat = 0;
	if (labels == NULL || (json_is_object(labels) && json_object_size(labels) == 0)) {
		memcpy(s->copy.p + s->copy.len, "{}", 2);
		s->copy.len += 2;
	} else if (json_is_object(labels) && (flat = put_flat_labels(s, labels)) < 0) {
		return -1;
	} else if (flat == 0 && json_dump_callback(labels, labels_cb, s, JSON_COMPACT) != 0) {
		return -1;
	}
	size_t n = s->copy.len - at - 4;
	if (n > INT32_MAX)
		return -1;
	be32((unsigned char *)s->copy.p + at, (uint32_t)n);
	return 0;
}

/* The columns every row starts with: its field count, the tenant's group when grp >= 0 (tsk_stage and
 * tsk_cat lead with it; reading itself has no such column), device_id, sensor_id, ts, value. */
static int
row_head(struct tsk_sink *s, const struct tsk_reading *r, uint16_t fields, int grp)
{
	union {
		double d;
		uint64_t u;
	} v;

	if (reserve(s, 2 + 4 + 4) != 0)
		return -1;
	put16(s, fields);
	if (grp >= 0) {
		put32(s, 4);
		put32(s, (uint32_t)grp);
	}
	if (put_text(s, r->device_id) != 0 || put_text(s, r->sensor_id) != 0)
		return -1;
	if (reserve(s, 12 + 12) != 0)
		return -1;
	put32(s, 8);
	put64(s, (uint64_t)(r->ts_us - PG_EPOCH_US));
	v.d = r->value;
	put32(s, 8);
	put64(s, v.u);
	return 0;
}

/* tsk_stage: grp, device_id, sensor_id, ts, value, unit, labels, site, asset_tag; reading the same
 * without grp (grp < 0). */
static int
stage_row(struct tsk_sink *s, const struct tsk_reading *r, int grp)
{
	if (row_head(s, r, grp >= 0 ? 9 : 8, grp) != 0 || put_text(s, r->unit) != 0 || put_labels(s, r->labels) != 0 ||
	    put_text(s, r->site) != 0 || put_text(s, r->asset_tag) != 0)
		return -1;
	return 0;
}

/* --- the transaction ----------------------------------------------------------------------------- */

/* What a failed statement means for the caller: TSK_ETEMP retry later; TSK_EINVAL the data of this
 * batch was refused (data exceptions, integrity violations, program limits such as an index row too
 * large for a huge sensor_id: TSK_DB_UNIQUE, TSK_DB_DATA): splitting the batch finds the bad message;
 * TSK_EFAIL anything else (permissions, a broken schema): no message is to blame.
 * The caller tells a duplicate or a vanished tenant schema from other errors by *kind. */
static int
sink_status(int rc, enum tsk_db_kind kind)
{
	if (rc == TSK_OK || rc == TSK_ETEMP)
		return rc;
	return kind == TSK_DB_UNIQUE || kind == TSK_DB_DATA ? TSK_EINVAL : TSK_EFAIL;
}

/* A failed COPY result: err gets "COPY: server message", *kind its kind; returns sink_status. */
static int
copy_failed(struct tsk_sink *s, const PGresult *res, enum tsk_db_kind *kind, char *err, size_t errlen)
{
	*kind = tsk_db_kind(res);
	return tsk_db_seterr(s->db, res, sink_status(tsk_db_classify(s->db, res), *kind), "COPY", err, errlen);
}


static int
copy_flush(struct tsk_sink *s, char *err, size_t errlen)
{
	if (s->copy.len == 0)
		return TSK_OK;
	if (PQputCopyData(s->db, s->copy.p, (int)s->copy.len) != 1)
		return tsk_db_seterr(s->db, NULL, TSK_ETEMP, "COPY", err, errlen);
	s->copy.len = 0;
	return TSK_OK;
}

/* Emits row i of a COPY into s->copy (no-op for rows to skip). 0, or -1 when out of memory. */
typedef int (*row_fn)(struct tsk_sink *s, const struct tsk_reading *r, size_t i);

/*
 * One binary COPY of rows 0..n-1 through emit. sql starts it (a simple query, which may run statements
 * before the COPY and hold more COPYs after it: PQexec returns at the first COPY); NULL when the
 * connection is in COPY IN already, for the next COPY of such a query. chained: another COPY of the
 * same query follows: on success the connection is left in COPY IN for it, so a chain of COPYs costs
 * one round trip each instead of two. After a failure the rest of the query is skipped and its
 * results are read.
 */
static int
copy_rows_chain(struct tsk_sink *s, const char *sql, int chained, const struct tsk_reading *r, size_t n, row_fn emit,
    uint64_t *rows, enum tsk_db_kind *kind, char *err, size_t errlen)
{
	static const char hdr[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
	PGresult *res;
	int rc = TSK_OK;

	*kind = TSK_DB_OTHER;
	if (sql != NULL) {
		res = PQexec(s->db, sql);
		if (PQresultStatus(res) != PGRES_COPY_IN) {
			rc = copy_failed(s, res, kind, err, errlen);
			PQclear(res);
			while ((res = PQgetResult(s->db)) != NULL)
				PQclear(res);
			return rc;
		}
		PQclear(res);
	}
	tsk_buf_reset(&s->copy);
	if (tsk_buf_add(&s->copy, hdr, sizeof hdr - 1) != 0)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		if (emit(s, r, i) != 0)
			goto nomem;
		if (s->copy.len >= COPY_CHUNK && (rc = copy_flush(s, err, errlen)) != TSK_OK)
			goto abort;
	}
	if (reserve(s, 2) != 0)
		goto nomem;
	put16(s, UINT16_MAX); /* trailer: -1 */
	if ((rc = copy_flush(s, err, errlen)) != TSK_OK)
		goto abort;
	if (PQputCopyEnd(s->db, NULL) != 1)
		return tsk_db_seterr(s->db, NULL, TSK_ETEMP, "COPY", err, errlen);
	goto result;
nomem:
	rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory (or a string over 2 GiB) building the COPY data");
abort:
	PQputCopyEnd(s->db, "aborted by tsk");
result:
	while ((res = PQgetResult(s->db)) != NULL) {
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_COPY_IN) {
			/* The next COPY of the chain: leave the connection in it. */
			PQclear(res);
			if (!chained || rc != TSK_OK) {
				PQputCopyEnd(s->db, "not expected");
				continue;
			}
			return TSK_OK;
		}
		if (st != PGRES_COMMAND_OK && rc == TSK_OK) {
			rc = copy_failed(s, res, kind, err, errlen);
		} else if (st == PGRES_COMMAND_OK && rows != NULL) {
			*rows = strtoull(PQcmdTuples(res), NULL, 10);
			rows = NULL;
		}
		PQclear(res);
	}
	if (rc == TSK_OK && chained)
		rc = tsk_db_seterr(s->db, NULL, TSK_ETEMP, "COPY: the next COPY did not start", err, errlen);
	return rc;
}

/* The next COPY of the chain in s->query (*copied of ncopy done so far). */
static int
chain_copy(struct tsk_sink *s, int *copied, int ncopy, const struct tsk_reading *r, size_t n, row_fn emit, uint64_t *rows,
    enum tsk_db_kind *kind, char *err, size_t errlen)
{
	const char *sql = *copied == 0 ? s->query.p : NULL;

	(*copied)++;
	return copy_rows_chain(s, sql, *copied < ncopy, r, n, emit, rows, kind, err, errlen);
}

static int
emit_stage(struct tsk_sink *s, const struct tsk_reading *r, size_t i)
{
	return s->grp[i] < 0 ? 0 : stage_row(s, &r[i], s->grp[i]);
}

/* --- the catalog, aggregated here -----------------------------------------------------------------
 * One row per (tenant, device, sensor) of the batch: the reading with the greatest ts (the first of
 * equal ones: that is the one the INSERT keeps), so the catalog upserts touch each key once and the
 * server never sorts or groups the whole batch. A duplicate of a stored reading cannot move
 * last_value: the sensor's last_ts is already >= its ts, and the upsert only moves forward. */

static uint64_t
fnv(uint64_t h, const char *p)
{
	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * UINT64_C(1099511628211);
	return (h ^ 0xff) * UINT64_C(1099511628211); /* a separator, so "ab"+"c" != "a"+"bc" */
}

static int
same_key(const struct tsk_reading *a, int ga, const struct tsk_reading *b, int gb)
{
	return ga == gb && strcmp(a->device_id, b->device_id) == 0 && strcmp(a->sensor_id, b->sensor_id) == 0;
}

/* Fills s->cat with the index of the newest reading of each key. */
static int
aggregate(struct tsk_sink *s, const struct tsk_reading *r, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n)
		cap *= 2;
	if (cap > s->slotcap) {
		long *sl = realloc(s->slot, cap * sizeof *sl);
		if (sl == NULL)
			return -1;
		s->slot = sl;
		s->slotcap = cap;
	}
	if (n > s->catcap) {
		size_t *c = realloc(s->cat, n * sizeof *c);
		if (c == NULL)
			return -1;
		s->cat = c;
		s->catcap = n;
	}
	for (size_t k = 0; k < cap; k++)
		s->slot[k] = -1;
	s->ncat = 0;
	for (size_t i = 0; i < n; i++) {
		if (s->grp[i] < 0)
			continue;
		uint64_t h = fnv(fnv(UINT64_C(14695981039346656037) ^ (uint64_t)s->grp[i], r[i].device_id), r[i].sensor_id);
		size_t k = (size_t)h & (cap - 1);
		while (s->slot[k] >= 0 && !same_key(&r[s->cat[s->slot[k]]], s->grp[s->cat[s->slot[k]]], &r[i], s->grp[i]))
			k = (k + 1) & (cap - 1);
		if (s->slot[k] < 0) {
			s->slot[k] = (long)s->ncat;
			s->cat[s->ncat++] = i;
		} else if (r[i].ts_us > r[s->cat[s->slot[k]]].ts_us) {
			s->cat[s->slot[k]] = i;
		}
	}
	return 0;
}

/* tsk_cat: grp, device_id, sensor_id, ts, value, unit, type, site, asset_tag */
static int
emit_cat(struct tsk_sink *s, const struct tsk_reading *r, size_t k)
{
	const struct tsk_reading *x = &r[s->cat[k]];
	json_t *type = json_object_get(x->labels, "type");

	if (row_head(s, x, 9, s->grp[s->cat[k]]) != 0 || put_text(s, x->unit) != 0 ||
	    put_text(s, json_is_string(type) ? json_string_value(type) : NULL) != 0 || put_text(s, x->site) != 0 ||
	    put_text(s, x->asset_tag) != 0)
		return -1;
	return 0;
}

/* tsk_arch: grp, msg_key, device_id, topic, payload (jsonb: version byte 1, then the text), ts,
 * created_at; messages of unknown tenants are skipped. */
static int
emit_arch(struct tsk_sink *s, const struct tsk_reading *r, size_t i)
{
	const struct tsk_sink_msg *m = &s->msg[i];

	(void)r;
	if (s->mgrp[i] < 0)
		return 0;
	if (m->payload_len > INT32_MAX - 1 || reserve(s, 2 + 8 + 12) != 0)
		return -1;
	put16(s, 7);
	put32(s, 4);
	put32(s, (uint32_t)s->mgrp[i]);
	put32(s, 8);
	put64(s, (uint64_t)m->key);
	if (put_text(s, m->device_id) != 0 || put_text(s, m->topic) != 0 || reserve(s, 5 + m->payload_len + 24) != 0)
		return -1;
	put32(s, (uint32_t)m->payload_len + 1);
	s->copy.p[s->copy.len++] = 1;
	memcpy(s->copy.p + s->copy.len, m->payload, m->payload_len);
	s->copy.len += m->payload_len;
	put32(s, 8);
	put64(s, (uint64_t)(m->ts_us - PG_EPOCH_US));
	put32(s, 8);
	put64(s, (uint64_t)(m->received_us - PG_EPOCH_US));
	return 0;
}

/* The archive INSERT's RETURNING rows (id, msg_key) of tenant group grp: each gives its message its id.
 * Rows come back in tsk_arch's order (a fresh heap, scanned in COPY order), so the search starts after
 * the last match; a message already archived (its key and time found) returns no row and keeps id 0. */
static void
mark_archived(struct tsk_sink *s, int grp, const PGresult *pr)
{
	size_t at = 0;

	for (int row = 0; row < PQntuples(pr); row++) {
		long long id = strtoll(PQgetvalue(pr, row, 0), NULL, 10), key = strtoll(PQgetvalue(pr, row, 1), NULL, 10);
		for (size_t k = 0; k < s->nmsg; k++) {
			size_t i = (at + k) % s->nmsg;
			if (s->mgrp[i] == grp && s->msg[i].id == 0 && s->msg[i].key == key) {
				s->msg[i].id = id;
				at = i + 1;
				break;
			}
		}
	}
}

/* The statements of one tenant, built on first use (the schema name is quoted once). */
enum { SQL_COPY, SQL_STAGED, SQL_CATALOG, SQL_STAGED_RET, SQL_ARCHIVE, SQL_N };

/* The catalog upserts read tsk_cat, one row per sensor of the batch aggregated by the client (see
 * aggregate()), so they cost one upsert per key, never one per reading. They lock rows in a fixed key
 * order (ORDER BY, in bytes), and a batch's tenants are written in a fixed order (their index in the
 * slug-sorted list): two writers with the same devices in different orders (tsk-ingest --share, two
 * stdin pipes) queue behind each other instead of deadlocking. A deadlock or serialization failure
 * that happens anyway (duplicate readings arriving in opposite orders) is retried, see write_once. last_value only moves forward
 * in ts: late data does not overwrite a newer value, and a replayed duplicate (whose ts is not newer
 * than last_ts) changes nothing. A device row is rewritten only when its last_seen is more than a
 * second old or its site or asset changed: at several batches a second that saves most device
 * updates, and last_seen stays within a second. The sensor upsert may reference devices inserted by
 * the sibling CTE: foreign keys are checked at the end of the statement. */
/* Auto-provisioning (the original system), in the same statement: a canonical topic
 * (tenants/{slug}/sites/{site}/assets/{tag}/telemetry: the reading has both site and asset_tag) whose
 * site is an existing active site of that exact name creates the asset (type detected from its tag) or
 * moves it to that site, and links the device to it (a new device becomes a GATEWAY named after the
 * asset). Sites are never created; unknown sites, legacy and device-style topics provision nothing.
 * prov: one row per device of the batch to provision (its newest reading's asset); ast: the assets
 * inserted or moved (an asset already in place is read from the table, and not even locked: the
 * common case costs two index lookups per device). A device whose asset a
 * concurrent writer created after this statement's snapshot finds neither and keeps its link for this
 * batch; the next batch links it (its asset_id differs, so the device row is rewritten).
 * Every device seen goes ONLINE (ERROR and MAINTENANCE are kept) and every sensor seen online with
 * last_reading_at = now(): the hourly `tsk-tenant catalog refresh` turns them off again. */
#define ASSET_TYPE(t) \
	"CASE WHEN upper(" t ") LIKE '%%CHILLER%%' OR upper(" t ") LIKE '%%CH-%%' THEN 'CHILLER'" \
	" WHEN upper(" t ") LIKE '%%AHU%%' THEN 'AHU' WHEN upper(" t ") LIKE '%%VRF%%' THEN 'VRF'" \
	" WHEN upper(" t ") LIKE '%%FCU%%' OR upper(" t ") LIKE '%%SPLIT%%' THEN 'OTHER'" \
	" WHEN upper(" t ") LIKE '%%RTU%%' THEN 'RTU'" \
	" WHEN upper(" t ") LIKE '%%COOLING%%' OR upper(" t ") LIKE '%%TOWER%%' THEN 'COOLING_TOWER' ELSE 'OTHER' END"
/* FCU and SPLIT are not asset types in the original's choices (its ingest wrote them anyway): OTHER,
 * with the detected name in asset_type_other. */
#define ASSET_TYPE_OTHER(t) \
	"CASE WHEN upper(" t ") LIKE '%%CHILLER%%' OR upper(" t ") LIKE '%%CH-%%' OR upper(" t ") LIKE '%%AHU%%'" \
	" OR upper(" t ") LIKE '%%VRF%%' THEN '' WHEN upper(" t ") LIKE '%%FCU%%' THEN 'FCU'" \
	" WHEN upper(" t ") LIKE '%%SPLIT%%' THEN 'SPLIT' ELSE '' END"
/* labels.type -> the original's metric_type (its ingest map, the original system). */
#define METRIC_TYPE(t) \
	"CASE " t " WHEN 'temperature' THEN 'temperature' WHEN 'humidity' THEN 'humidity'" \
	" WHEN 'pressure' THEN 'pressure' WHEN 'counter' THEN 'counter' WHEN 'signal_strength' THEN 'signal'" \
	" WHEN 'battery' THEN 'voltage' WHEN 'door_state' THEN 'status' ELSE 'other' END"
#define CATALOG_DEVICE \
	"prov AS (" \
	" SELECT DISTINCT ON (c.device_id) c.device_id, c.asset_tag, st.id AS site_id" \
	" FROM pg_temp.tsk_cat c JOIN %1$s.site st ON st.name = c.site AND st.is_active" \
	" WHERE c.grp = $1 AND c.asset_tag IS NOT NULL AND length(c.asset_tag) BETWEEN 1 AND 100" \
	" ORDER BY c.device_id, c.ts DESC, st.id)," \
	" ast AS (" \
	" INSERT INTO %1$s.asset AS a (tag, name, site_id, asset_type, asset_type_other, status)" \
	" SELECT DISTINCT ON (asset_tag COLLATE \"C\") asset_tag, asset_tag, site_id," \
	" " ASSET_TYPE("asset_tag") ", " ASSET_TYPE_OTHER("asset_tag") ", 'OK'" \
	" FROM prov WHERE NOT EXISTS (SELECT 1 FROM %1$s.asset x WHERE x.tag = prov.asset_tag AND x.site_id = prov.site_id)" \
	" ORDER BY asset_tag COLLATE \"C\", site_id" \
	" ON CONFLICT (tag) DO UPDATE SET site_id = excluded.site_id, updated_at = now()" \
	" WHERE a.site_id <> excluded.site_id RETURNING a.id, a.tag)," \
	" dev AS (" \
	" INSERT INTO %1$s.device AS d (device_id, site, asset_tag, first_seen, last_seen, name, serial_number," \
	" asset_id, device_type, status)" \
	" SELECT g.device_id, g.site, g.asset_tag, now(), now()," \
	" CASE WHEN p.asset_id IS NOT NULL THEN 'Gateway ' || p.asset_tag ELSE g.device_id END," \
	" CASE WHEN length(g.device_id) <= 200 AND NOT EXISTS (SELECT 1 FROM %1$s.device x" \
	" WHERE x.serial_number = g.device_id) THEN g.device_id END," \
	" p.asset_id, CASE WHEN p.asset_id IS NOT NULL THEN 'GATEWAY' ELSE 'CONTROLLER' END, 'ONLINE'" \
	" FROM (SELECT device_id, max(site) AS site, max(asset_tag) AS asset_tag FROM pg_temp.tsk_cat WHERE grp = $1" \
	" GROUP BY device_id) g" \
	" LEFT JOIN (SELECT prov.device_id, prov.asset_tag, coalesce(ast.id, ea.id) AS asset_id FROM prov" \
	" LEFT JOIN ast ON ast.tag = prov.asset_tag LEFT JOIN %1$s.asset ea ON ea.tag = prov.asset_tag) p" \
	" ON p.device_id = g.device_id" \
	" ORDER BY g.device_id COLLATE \"C\"" \
	" ON CONFLICT (device_id) DO UPDATE SET last_seen = excluded.last_seen," \
	" site = coalesce(excluded.site, d.site), asset_tag = coalesce(excluded.asset_tag, d.asset_tag)," \
	" asset_id = coalesce(excluded.asset_id, d.asset_id)," \
	" name = CASE WHEN d.asset_id IS NULL AND excluded.asset_id IS NOT NULL AND d.name = d.device_id" \
	" THEN excluded.name ELSE d.name END," \
	" device_type = CASE WHEN d.asset_id IS NULL AND excluded.asset_id IS NOT NULL THEN 'GATEWAY'" \
	" ELSE d.device_type END," \
	" status = CASE WHEN d.status = 'OFFLINE' THEN 'ONLINE' ELSE d.status END," \
	" updated_at = CASE WHEN excluded.asset_id IS DISTINCT FROM d.asset_id AND excluded.asset_id IS NOT NULL" \
	" THEN now() ELSE d.updated_at END" \
	" WHERE d.last_seen IS NULL OR d.last_seen < excluded.last_seen - interval '1 second' OR d.status = 'OFFLINE'" \
	" OR excluded.site IS DISTINCT FROM d.site AND excluded.site IS NOT NULL" \
	" OR excluded.asset_tag IS DISTINCT FROM d.asset_tag AND excluded.asset_tag IS NOT NULL" \
	" OR excluded.asset_id IS DISTINCT FROM d.asset_id AND excluded.asset_id IS NOT NULL)"
#define CATALOG_SENSOR \
	" INSERT INTO %1$s.sensor AS s (device_id, sensor_id, unit, type, first_seen, last_seen, last_ts," \
	" last_value, metric_type, is_online, last_reading_at)" \
	" SELECT device_id, sensor_id, unit, type, now(), now(), ts, value, " METRIC_TYPE("type") ", true, now()" \
	" FROM pg_temp.tsk_cat WHERE grp = $1" \
	" ORDER BY device_id COLLATE \"C\", sensor_id COLLATE \"C\"" \
	" ON CONFLICT (device_id, sensor_id) DO UPDATE SET last_seen = excluded.last_seen," \
	" unit = coalesce(excluded.unit, s.unit), type = coalesce(excluded.type, s.type)," \
	" is_online = true, last_reading_at = excluded.last_reading_at," \
	" last_value = CASE WHEN s.last_ts IS NULL OR excluded.last_ts > s.last_ts" \
	" THEN excluded.last_value ELSE s.last_value END," \
	" last_ts = greatest(s.last_ts, excluded.last_ts)"
#define STAGED_INSERT \
	" INSERT INTO %1$s.reading (device_id, sensor_id, ts, value, unit, labels, site, asset_tag)" \
	" SELECT device_id, sensor_id, ts, value, unit, labels, site, asset_tag" \
	" FROM pg_temp.tsk_stage WHERE grp = $1" \
	" ON CONFLICT (device_id, sensor_id, ts) DO NOTHING"
#define STAGED_RETURNING \
	" RETURNING device_id, sensor_id, (extract(epoch FROM ts) * 1000000)::int8"
/* A message written again (a spool batch replayed after a crash) meets its own row: (msg_key,
 * created_at) is unique, and created_at is the arrival time the message carries, not now(). */
#define ARCHIVE_INSERT \
	"INSERT INTO %1$s.telemetry (device_id, topic, payload, \"timestamp\", created_at, msg_key)" \
	" SELECT device_id, topic, payload, ts, created_at, msg_key FROM pg_temp.tsk_arch WHERE grp = $1" \
	" ON CONFLICT (msg_key, created_at) DO NOTHING RETURNING id, msg_key"

static const char *
tenant_sql(struct tsk_sink *s, struct tenant *t, int which)
{
	char *q;
	int n = -1;

	if (t->sql[which] != NULL)
		return t->sql[which];
	if ((q = tsk_db_ident(s->db, t->schema)) == NULL)
		return NULL;
	switch (which) {
	case SQL_COPY:
		n = asprintf(&t->sql[which], "COPY %s.reading (device_id, sensor_id, ts, value, unit, labels, site, asset_tag)"
		    " FROM STDIN (FORMAT binary)", q);
		break;
	case SQL_STAGED:
		/* The statement's own row count is the reading INSERT's. */
		n = s->catalog ? asprintf(&t->sql[which], "WITH " CATALOG_DEVICE ", sen AS (" CATALOG_SENSOR ")" STAGED_INSERT, q)
		               : asprintf(&t->sql[which], STAGED_INSERT, q);
		break;
	case SQL_CATALOG:
		n = asprintf(&t->sql[which], "WITH " CATALOG_DEVICE CATALOG_SENSOR, q);
		break;
	case SQL_STAGED_RET:
		/* SQL_STAGED that also says which keys it inserted, for tsk_sink_write_each. */
		n = s->catalog ? asprintf(&t->sql[which], "WITH " CATALOG_DEVICE ", sen AS (" CATALOG_SENSOR ")" STAGED_INSERT
		                     STAGED_RETURNING, q)
		               : asprintf(&t->sql[which], STAGED_INSERT STAGED_RETURNING, q);
		break;
	case SQL_ARCHIVE:
		n = asprintf(&t->sql[which], ARCHIVE_INSERT, q);
		break;
	}
	PQfreemem(q);
	if (n < 0) {
		t->sql[which] = NULL;
		return NULL;
	}
	return t->sql[which];
}

/* Maps every reading to its tenant; refreshes the tenant list once when a slug is missing from a list
 * older than the readings. Returns the number of known readings, or -1 (err set). */
static long
map_tenants(struct tsk_sink *s, const struct tsk_reading *r, size_t n, int64_t as_of_us, int *rcp,
    char *err, size_t errlen)
{
	const char *last = NULL;
	long lasti = -1, known = 0;
	int reloaded = 0;

	if (n > s->grpcap) {
		int *g = realloc(s->grp, n * sizeof *g);
		if (g == NULL) {
			*rcp = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
			return -1;
		}
		s->grp = g;
		s->grpcap = n;
	}
	for (size_t i = 0; i < n; i++) {
		const char *slug = r[i].tenant != NULL ? r[i].tenant : "";
		long k;
		if (last != NULL && strcmp(slug, last) == 0) {
			k = lasti;
		} else {
			k = find_tenant(s, slug);
			if (k < 0 && !reloaded && s->loaded_us <= as_of_us) {
				int rc = load_tenants(s, err, errlen);
				if (rc != TSK_OK) {
					*rcp = rc;
					return -1;
				}
				reloaded = 1;
				i = (size_t)-1; /* indexes changed: map again from the start */
				last = NULL;
				known = 0;
				continue;
			}
			last = slug;
			lasti = k;
		}
		s->grp[i] = (int)k;
		if (k >= 0)
			known++;
	}
	return known;
}

/* Orders the batch's readings by tenant (a counting sort into s->byg; tenant k of s->order owns
 * s->byg[s->gstart[k] .. s->gstart[k + 1])), keeping the input order inside each tenant: that order is
 * what makes the first reading of a key the one that is kept. */
static int
group_rows(struct tsk_sink *s, size_t n, size_t norder)
{
	size_t *g, *b;

	if (norder + 1 > s->gstartcap) {
		if ((g = realloc(s->gstart, (norder + 1) * sizeof *g)) == NULL)
			return -1;
		s->gstart = g;
		s->gstartcap = norder + 1;
	}
	if (n > s->bygcap) {
		if ((b = realloc(s->byg, n * sizeof *b)) == NULL)
			return -1;
		s->byg = b;
		s->bygcap = n;
	}
	memset(s->gstart, 0, (norder + 1) * sizeof *s->gstart);
	for (size_t i = 0; i < n; i++)
		if (s->grp[i] >= 0)
			s->gstart[s->t[s->grp[i]].pos + 1]++;
	for (size_t k = 0; k < norder; k++)
		s->gstart[k + 1] += s->gstart[k];
	for (size_t k = 0; k < norder; k++)
		s->t[s->order[k]].fill = 0;
	for (size_t i = 0; i < n; i++) {
		if (s->grp[i] < 0)
			continue;
		struct tenant *t = &s->t[s->grp[i]];
		s->byg[s->gstart[t->pos] + t->fill++] = i;
	}
	return 0;
}

/* A reading of tenant s->cur (its index in byg): the columns of reading itself. */
static int
emit_direct(struct tsk_sink *s, const struct tsk_reading *r, size_t i)
{
	return stage_row(s, &r[s->byg[s->cur + i]], -1);
}

/* The staged INSERT's RETURNING rows (device_id, sensor_id, ts in microseconds) of tenant group grp:
 * each marks the first reading of the batch with that key (rows go in batch order, so the first one
 * is the one that was inserted; later ones of the same key are duplicates). */
static void
mark_returned(struct tsk_sink *s, const struct tsk_reading *r, size_t n, int grp, const PGresult *pr)
{
	for (int row = 0; row < PQntuples(pr); row++) {
		const char *dev = PQgetvalue(pr, row, 0), *sen = PQgetvalue(pr, row, 1);
		long long ts = strtoll(PQgetvalue(pr, row, 2), NULL, 10);
		for (size_t i = 0; i < n; i++)
			if (s->grp[i] == grp && !s->stored[i] && r[i].ts_us == ts && strcmp(r[i].device_id, dev) == 0 &&
			    strcmp(r[i].sensor_id, sen) == 0) {
				s->stored[i] = 1;
				break;
			}
	}
}

/* 1 when the batch has messages of tenant s->order[k] to archive. */
static int
tenant_has_msgs(const struct tsk_sink *s, size_t k)
{
	for (size_t i = 0; i < s->nmsg; i++)
		if (s->mgrp[i] == (int)s->order[k])
			return 1;
	return 0;
}

/* What a statement sent in the pipeline is, for reading its result. */
enum { P_CATALOG, P_STAGED, P_ARCHIVE, P_COMMIT };

/* Sends one statement of the pipeline (grp: its tenant's group, or NULL for none). */
static int
pipe_send(struct tsk_sink *s, const char *sql, const char *grp, char *err, size_t errlen)
{
	const char *p[] = { grp };

	if (sql == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	if (PQsendQueryParams(s->db, sql, grp != NULL ? 1 : 0, NULL, grp != NULL ? p : NULL, NULL, NULL, 0) != 1)
		return tsk_db_seterr(s->db, NULL, TSK_ETEMP, "sending a statement", err, errlen);
	return TSK_OK;
}

/*
 * One attempt at the batch in one transaction, in two round-trip-saving steps:
 *   1. one simple query "BEGIN; COPY tsk_cat ...; COPY ...; COPY tsk_arch ..." whose COPYs follow each
 *      other (copy_rows_chain): direct, each tenant's readings straight into its reading table (the
 *      common case, no duplicates: it costs what a plain COPY costs; a duplicate key fails with
 *      unique_violation, *dup set, and the caller tries again staged); staged, every reading into
 *      tsk_stage;
 *   2. one pipeline (libpq pipeline mode: sent together, answered together) holding the statements
 *      that read those tables: per tenant the catalog upsert (direct) or the staged
 *      INSERT ... ON CONFLICT DO NOTHING, the archive INSERT ... RETURNING, then COMMIT. A failed
 *      statement makes the server skip the rest up to the pipeline's end, COMMIT included.
 * A group of messages of one tenant costs 5 round trips (it was 10, one per statement and two per COPY).
 */
/*
 * What every write transaction starts with. The staging tables are made (if this server session does
 * not have them yet) inside the transaction, not once per connection: behind pgbouncer in transaction
 * mode each transaction may run on another server session, and only what a transaction sets up itself
 * is sure to be there. ON COMMIT DELETE ROWS empties them at every commit, so each batch starts from
 * an empty heap and a sequential scan returns the rows in COPY order: that is what makes "the first
 * reading of a key wins" hold inside a batch too. A statement that hangs (a wedged server) must not
 * hold the flusher forever: SET LOCAL, for the same reason. All of it travels in the BEGIN's query:
 * no round trip is added.
 */
#define TX_START \
	"BEGIN; SET LOCAL statement_timeout = '120s'; SET LOCAL client_min_messages = warning; " \
	"CREATE TEMP TABLE IF NOT EXISTS tsk_stage (grp int4, device_id text, sensor_id text, " \
	"ts timestamptz, value float8, unit text, labels jsonb, site text, asset_tag text) ON COMMIT DELETE ROWS; " \
	"CREATE TEMP TABLE IF NOT EXISTS tsk_cat (grp int4, device_id text, sensor_id text, " \
	"ts timestamptz, value float8, unit text, type text, site text, asset_tag text) ON COMMIT DELETE ROWS; " \
	"CREATE TEMP TABLE IF NOT EXISTS tsk_arch (grp int4, msg_key int8, device_id text, topic text, " \
	"payload jsonb, ts timestamptz, created_at timestamptz) ON COMMIT DELETE ROWS"

static int
attempt(struct tsk_sink *s, const struct tsk_reading *r, size_t n, size_t norder, int direct,
    struct tsk_sink_result *res, int *schema_gone, int *dup, int *conflict, char *err, size_t errlen)
{
	char grp[16];
	enum tsk_db_kind kind = TSK_DB_OTHER;
	int rc = TSK_OK, ncopy = 0, copied = 0;
	int any = norder > 0 && s->gstart[norder] > 0; /* known readings to write */
	int arch = s->nmsg_known > 0;
	int sent[2 * 64 + 1], nsent = 0, *kinds = sent;
	size_t maxsent = 2 * norder + 1;

	if (maxsent > sizeof sent / sizeof sent[0] && (kinds = malloc(maxsent * sizeof *kinds)) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	/* 1. The COPYs, chained in one query. */
	tsk_buf_reset(&s->query);
	rc = tsk_buf_puts(&s->query, TX_START) != 0 ? -1 : 0;
	if (s->catalog && any && rc == 0 && ++ncopy)
		rc = tsk_buf_puts(&s->query, "; COPY tsk_cat FROM STDIN (FORMAT binary)");
	if (!direct && any && rc == 0 && ++ncopy)
		rc = tsk_buf_puts(&s->query, "; COPY tsk_stage FROM STDIN (FORMAT binary)");
	for (size_t k = 0; direct && k < norder && rc == 0; k++) {
		const char *sql = s->gstart[k + 1] > s->gstart[k] ? tenant_sql(s, &s->t[s->order[k]], SQL_COPY) : "";
		if (sql == NULL || (sql[0] && (++ncopy, tsk_buf_puts(&s->query, "; ") != 0 || tsk_buf_puts(&s->query, sql) != 0)))
			rc = -1;
	}
	if (arch && rc == 0 && ++ncopy)
		rc = tsk_buf_puts(&s->query, "; COPY tsk_arch FROM STDIN (FORMAT binary)");
	if (rc != 0 || tsk_buf_add(&s->query, "", 1) != 0) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto fail;
	}
	if (s->catalog && any && (rc = chain_copy(s, &copied, ncopy, r, s->ncat, emit_cat, NULL, &kind, err,
	    errlen)) != TSK_OK)
		goto fail;
	if (!direct && any && (rc = chain_copy(s, &copied, ncopy, r, n, emit_stage, NULL, &kind, err, errlen)) != TSK_OK)
		goto fail;
	for (size_t k = 0; direct && k < norder; k++) {
		uint64_t stored = 0;
		if (s->gstart[k + 1] == s->gstart[k])
			continue; /* a tenant of the batch with messages to archive but no reading */
		s->cur = s->gstart[k];
		if ((rc = chain_copy(s, &copied, ncopy, r, s->gstart[k + 1] - s->gstart[k], emit_direct, &stored, &kind,
		    err, errlen)) != TSK_OK)
			goto fail;
		res->stored += stored;
	}
	if (arch && (rc = chain_copy(s, &copied, ncopy, NULL, s->nmsg, emit_arch, NULL, &kind, err, errlen)) != TSK_OK)
		goto fail;

	/* 2. The statements, in one pipeline. */
	if (PQenterPipelineMode(s->db) != 1) {
		rc = tsk_db_seterr(s->db, NULL, TSK_ETEMP, "pipeline mode", err, errlen);
		goto fail;
	}
	for (size_t k = 0; k < norder && rc == TSK_OK; k++) {
		struct tenant *t = &s->t[s->order[k]];
		snprintf(grp, sizeof grp, "%zu", s->order[k]);
		if (s->gstart[k + 1] == s->gstart[k] || (direct && !s->catalog))
			continue;
		rc = pipe_send(s, tenant_sql(s, t, direct ? SQL_CATALOG : s->stored != NULL ? SQL_STAGED_RET : SQL_STAGED), grp,
		    err, errlen);
		kinds[nsent++] = direct ? P_CATALOG : P_STAGED;
	}
	for (size_t k = 0; arch && k < norder && rc == TSK_OK; k++) {
		if (!tenant_has_msgs(s, k))
			continue;
		snprintf(grp, sizeof grp, "%zu", s->order[k]);
		rc = pipe_send(s, tenant_sql(s, &s->t[s->order[k]], SQL_ARCHIVE), grp, err, errlen);
		kinds[nsent++] = P_ARCHIVE;
	}
	if (rc == TSK_OK) {
		rc = pipe_send(s, "COMMIT", NULL, err, errlen);
		kinds[nsent++] = P_COMMIT;
	}
	if (rc == TSK_OK && PQpipelineSync(s->db) != 1)
		rc = tsk_db_seterr(s->db, NULL, TSK_ETEMP, "pipeline sync", err, errlen);
	if (rc != TSK_OK) {
		/* Nothing can be read back in order now: the connection goes, the transaction with it. */
		tsk_sink_disconnect(s);
		rc = rc == TSK_EFAIL ? rc : TSK_ETEMP;
		goto fail;
	}
	/* The results, in the order sent; the statements of tenant k in order too. */
	size_t ks = 0, ka = 0;
	for (int i = 0; i < nsent; i++) {
		PGresult *pr = PQgetResult(s->db);
		int k = -1;
		if (pr == NULL) {
			rc = tsk_db_seterr(s->db, NULL, TSK_ETEMP, "pipeline", err, errlen);
			tsk_sink_disconnect(s);
			goto fail;
		}
		if (kinds[i] == P_CATALOG || kinds[i] == P_STAGED) {
			while (ks < norder && s->gstart[ks + 1] == s->gstart[ks])
				ks++;
			k = (int)ks++;
		} else if (kinds[i] == P_ARCHIVE) {
			while (ka < norder && !tenant_has_msgs(s, ka))
				ka++;
			k = (int)ka++;
		}
		ExecStatusType st = PQresultStatus(pr);
		if (st == PGRES_PIPELINE_ABORTED) {
			/* skipped after an earlier failure */
		} else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
			if (rc == TSK_OK) {
				kind = tsk_db_kind(pr);
				rc = tsk_db_seterr(s->db, pr, sink_status(tsk_db_classify(s->db, pr), kind),
				    kinds[i] == P_COMMIT ? "COMMIT" : kinds[i] == P_ARCHIVE ? "archive" : "INSERT", err, errlen);
			}
		} else if (rc == TSK_OK && kinds[i] == P_STAGED) {
			res->stored += strtoull(PQcmdTuples(pr), NULL, 10);
			if (s->stored != NULL)
				mark_returned(s, r, n, (int)s->order[k], pr);
		} else if (rc == TSK_OK && kinds[i] == P_ARCHIVE) {
			mark_archived(s, (int)s->order[k], pr);
		}
		PQclear(pr);
		while ((pr = PQgetResult(s->db)) != NULL) /* the NULL that ends each statement's results */
			PQclear(pr);
	}
	PGresult *sync = PQgetResult(s->db);
	int synced = sync != NULL && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
	PQclear(sync);
	if (!synced || PQexitPipelineMode(s->db) != 1) {
		if (rc == TSK_OK)
			rc = tsk_db_seterr(s->db, NULL, TSK_ETEMP, "pipeline end", err, errlen);
		tsk_sink_disconnect(s);
		goto fail;
	}
	if (rc != TSK_OK)
		goto fail;
	if (direct && s->stored != NULL)
		for (size_t i = 0; i < n; i++)
			s->stored[i] = s->grp[i] >= 0;
	if (kinds != sent)
		free(kinds);
	return TSK_OK;
fail:
	if (kinds != sent)
		free(kinds);
	if (s->stored != NULL)
		memset(s->stored, 0, n);
	for (size_t i = 0; i < s->nmsg; i++)
		s->msg[i].id = 0;
	/* The tenant was deleted after the list was read: its schema or table is gone. */
	*schema_gone = kind == TSK_DB_GONE;
	*dup = kind == TSK_DB_UNIQUE;
	*conflict = kind == TSK_DB_CONFLICT;
	if (s->db != NULL && PQstatus(s->db) == CONNECTION_OK && PQpipelineStatus(s->db) != PQ_PIPELINE_OFF)
		tsk_sink_disconnect(s);
	if (s->db != NULL && PQstatus(s->db) == CONNECTION_OK && PQtransactionStatus(s->db) != PQTRANS_IDLE)
		tsk_db_rollback(s->db);
	if (rc == TSK_ETEMP && (s->db == NULL || PQstatus(s->db) != CONNECTION_OK))
		tsk_sink_disconnect(s);
	res->stored = 0;
	return rc;
}

/* A transaction that lost to a concurrent one is run again at once, this many times, after a short
 * pause that grows and is jittered (so two writers do not collide in step again). */
#define CONFLICT_RETRIES 10

static int
cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static void
conflict_pause(unsigned attempt)
{
	struct timespec ts = { 0, (long)(1 + (unsigned)rand() % (5 * attempt)) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* After a batch with duplicates, this many batches go straight to the staged path: a replay after a
 * crash brings many duplicates in a row, and a failed direct attempt is wasted work. */
#define STAGED_AFTER_DUP 8

static int
write_once(struct tsk_sink *s, const struct tsk_reading *r, size_t n, int64_t as_of_us, unsigned char *unknown,
    struct tsk_sink_result *res, int *schema_gone, char *err, size_t errlen)
{
	size_t norder = 0;
	int rc, dup = 0;
	long known;

	*schema_gone = 0;
	memset(res, 0, sizeof *res);
	if ((rc = tsk_sink_connect(s, err, errlen)) != TSK_OK)
		return rc;
	/* A message's tenant missing from a list older than the message: read the list again first (the
	 * readings' mapping below may read it again, which keeps the messages' tenants). */
	for (size_t i = 0; i < s->nmsg; i++)
		if (s->msg[i].topic != NULL && find_tenant(s, s->msg[i].tenant != NULL ? s->msg[i].tenant : "") < 0 &&
		    s->loaded_us <= as_of_us) {
			if ((rc = load_tenants(s, err, errlen)) != TSK_OK)
				return rc;
			break;
		}
	if ((known = map_tenants(s, r, n, as_of_us, &rc, err, errlen)) < 0)
		return rc;
	if (s->nmsg > s->mgrpcap) {
		int *g = realloc(s->mgrp, s->nmsg * sizeof *g);
		if (g == NULL)
			return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		s->mgrp = g;
		s->mgrpcap = s->nmsg;
	}
	s->nmsg_known = 0;
	for (size_t i = 0; i < s->nmsg; i++) {
		if (s->msg[i].topic == NULL) { /* not to be archived */
			s->mgrp[i] = -1;
			s->msg[i].id = 0;
			s->msg[i].unknown = 0;
			continue;
		}
		long k = find_tenant(s, s->msg[i].tenant != NULL ? s->msg[i].tenant : "");
		s->mgrp[i] = (int)k;
		s->msg[i].id = 0;
		s->msg[i].unknown = k < 0;
		s->nmsg_known += k >= 0;
	}
	if (s->nt > s->ordercap) {
		size_t *o = realloc(s->order, s->nt * sizeof *o);
		if (o == NULL)
			return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		s->order = o;
		s->ordercap = s->nt;
	}
	for (size_t i = 0; i < n; i++) {
		if (unknown != NULL)
			unknown[i] = s->grp[i] < 0;
		if (s->grp[i] < 0) {
			res->unknown++;
			continue;
		}
		if (!s->t[s->grp[i]].used) {
			s->t[s->grp[i]].used = 1;
			s->t[s->grp[i]].pos = norder;
			s->order[norder++] = (size_t)s->grp[i];
		}
	}
	for (size_t i = 0; i < s->nmsg; i++)
		if (s->mgrp[i] >= 0 && !s->t[s->mgrp[i]].used) {
			s->t[s->mgrp[i]].used = 1;
			s->t[s->mgrp[i]].pos = norder;
			s->order[norder++] = (size_t)s->mgrp[i];
		}
	/* Tenants in a fixed order (see the catalog), whatever order the batch names them in. */
	qsort(s->order, norder, sizeof *s->order, cmp_size);
	for (size_t k = 0; k < norder; k++) {
		s->t[s->order[k]].used = 0;
		s->t[s->order[k]].pos = k;
	}
	if (known == 0 && s->nmsg_known == 0)
		return TSK_OK;
	if (group_rows(s, n, norder) != 0 || (s->catalog && aggregate(s, r, n) != 0))
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");

	uint64_t unknown_n = res->unknown;
	unsigned conflicts = 0;
	int conflict = 0;
	for (;;) {
		int direct = s->staged_left == 0;
		rc = attempt(s, r, n, norder, direct, res, schema_gone, &dup, &conflict, err, errlen);
		if (rc != TSK_OK && direct && dup) {
			s->staged_left = STAGED_AFTER_DUP;
			rc = attempt(s, r, n, norder, 0, res, schema_gone, &dup, &conflict, err, errlen);
		} else if (rc == TSK_OK && !direct) {
			s->staged_left = res->stored == (uint64_t)known ? 0 : s->staged_left - 1;
		}
		/* Lost to a concurrent writer (deadlock, serialization failure): nothing was committed and the
		 * other transaction has gone on; running this one again is the cure. */
		if (rc == TSK_OK || !conflict || conflicts >= CONFLICT_RETRIES)
			break;
		conflicts++;
		conflict_pause(conflicts);
	}
	s->conflicts += conflicts;
	s->last_conflict = rc != TSK_OK && conflict;
	if (rc != TSK_OK) {
		if (s->last_conflict) {
			char why[TSK_ERRLEN];
			snprintf(why, sizeof why, "%s", err);
			tsk_seterr(err, errlen, rc, "transaction conflict with another writer, %u retries: %s", conflicts, why);
		}
		memset(res, 0, sizeof *res);
		return rc;
	}
	res->unknown = unknown_n;
	res->duplicates = (uint64_t)known - res->stored;
	res->tenants = (unsigned)norder;
	return TSK_OK;
}

int
tsk_sink_write_each(struct tsk_sink *s, const struct tsk_reading *r, size_t n, int64_t as_of_us,
    unsigned char *unknown, unsigned char *stored, struct tsk_sink_result *res, char *err, size_t errlen)
{
	int rc;

	memset(stored, 0, n);
	s->stored = stored;
	rc = tsk_sink_write(s, r, n, as_of_us, unknown, res, err, errlen);
	s->stored = NULL;
	if (rc != TSK_OK)
		memset(stored, 0, n);
	return rc;
}

int
tsk_sink_write_archive(struct tsk_sink *s, const struct tsk_reading *r, size_t n, struct tsk_sink_msg *m, size_t nm,
    int64_t as_of_us, unsigned char *unknown, unsigned char *stored, struct tsk_sink_result *res, char *err,
    size_t errlen)
{
	int rc;

	if (stored != NULL)
		memset(stored, 0, n);
	s->stored = stored;
	s->msg = m;
	s->nmsg = nm;
	rc = tsk_sink_write(s, r, n, as_of_us, unknown, res, err, errlen);
	s->stored = NULL;
	s->msg = NULL;
	s->nmsg = 0;
	if (rc != TSK_OK) {
		if (stored != NULL)
			memset(stored, 0, n);
		for (size_t i = 0; i < nm; i++)
			m[i].id = 0;
	}
	return rc;
}

int64_t
tsk_sink_msg_key(void)
{
	static _Atomic uint64_t counter;
	static _Atomic uint64_t seed;
	uint64_t sd = atomic_load(&seed), z;

	if (sd == 0) {
		uint64_t v = 0;
		if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
			v = (uint64_t)tsk_now_us() ^ ((uint64_t)getpid() << 32);
		v |= 1;
		uint64_t zero = 0;
		atomic_compare_exchange_strong(&seed, &zero, v);
		sd = atomic_load(&seed);
	}
	/* splitmix64 of seed + counter: distinct within the process, unpredictable across processes. */
	z = sd + atomic_fetch_add(&counter, 1) * UINT64_C(0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	return (int64_t)(z & INT64_MAX);
}

int
tsk_sink_write(struct tsk_sink *s, const struct tsk_reading *r, size_t n, int64_t as_of_us, unsigned char *unknown,
    struct tsk_sink_result *res, char *err, size_t errlen)
{
	struct tsk_sink_result dummy;
	int gone, rc;

	if (res == NULL)
		res = &dummy;
	rc = write_once(s, r, n, as_of_us, unknown, res, &gone, err, errlen);
	if (rc != TSK_OK && gone) {
		/* Read the tenant list again (the deleted tenant drops out of it) and retry once. */
		s->loaded_us = 0;
		if (load_tenants(s, err, errlen) == TSK_OK)
			rc = write_once(s, r, n, INT64_MIN, unknown, res, &gone, err, errlen);
	}
	return rc;
}

uint64_t
tsk_sink_conflicts(const struct tsk_sink *s)
{
	return s->conflicts;
}

int
tsk_sink_last_conflict(const struct tsk_sink *s)
{
	return s->last_conflict;
}

int64_t
tsk_sink_loaded_us(const struct tsk_sink *s)
{
	return s->loaded_us;
}

size_t
tsk_sink_ntenants(const struct tsk_sink *s)
{
	return s->nt;
}

const char *
tsk_sink_tenant_slug(const struct tsk_sink *s, size_t i)
{
	return i < s->nt ? s->t[i].slug : NULL;
}
