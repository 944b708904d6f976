/*
 * The catalog API's internals (lib/http/api_catalog*.c only): each resource (site, asset, device,
 * sensor) is described once, as a table of its writable fields, its filters, its search and ordering
 * fields, and the SQL that renders one row as the API's JSON object; one engine lists, shows and checks
 * any of them with DRF's answers, and hands the writes to registry/catalog (the CLI's code).
 *
 * No SQL is ever built from input: every fragment below is a constant of this program, every value a
 * parameter ($n), and an ?ordering= name selects one of the resource's own ORDER BY expressions.
 */
#ifndef TSK_HTTP_API_CATALOG_IMPL_H
#define TSK_HTTP_API_CATALOG_IMPL_H

#include <stddef.h>
#include <jansson.h>

#include "core/buf.h"
#include "http/api.h"
#include "registry/catalog.h"

/* Datetimes as the original's serializers render them: in America/Sao_Paulo (the session's time zone
 * inside a catalog transaction, see cat_begin), with microseconds only when there are any. */
#define CAT_TS(x) "CASE WHEN " x " IS NULL THEN NULL ELSE to_char(" x ", 'YYYY-MM-DD\"T\"HH24:MI:SS') ||" \
	" CASE WHEN extract(microseconds FROM " x ")::bigint % 1000000 <> 0 THEN to_char(" x ", '.US') ELSE '' END" \
	" || to_char(" x ", 'TZH:TZM') END"

enum cat_type {
	CAT_TEXT,     /* a string of at most max characters (trimmed, as DRF's CharField) */
	CAT_CHOICE,   /* one of choices */
	CAT_INT,      /* an integer in [min, max] */
	CAT_FLOAT,    /* a finite number in [min, max] */
	CAT_DECIMAL,  /* numeric(9,6): |x| < 1000, six decimals */
	CAT_BOOL,
	CAT_OBJECT,   /* a JSON object (jsonb) */
	CAT_DATE,     /* YYYY-MM-DD */
	CAT_TIME,     /* ISO 8601 / RFC 3339 */
	CAT_REF       /* the id of a row of another resource (ref) */
};

#define CAT_REQUIRED 1u  /* create (and PUT) must give it */
#define CAT_NULL     2u  /* null is a value */
#define CAT_BLANK    4u  /* "" is a value (CAT_TEXT) */
#define CAT_UNIQUE   8u  /* no other row has the same value */

struct cat_field {
	const char *name;      /* the API's */
	const char *col;       /* its column (CAT_UNIQUE looks for the value there) */
	enum cat_type type;
	unsigned flags;
	double min, max;       /* CAT_INT, CAT_FLOAT: the range; CAT_TEXT: max is the length */
	const char *const *choices;
	const struct cat_res *ref;  /* CAT_REF */
};

/* A query argument that filters a list: where is a condition on the resource's alias with one "%d"
 * for its parameter's number. */
struct cat_filter {
	const char *arg;
	const char *where;
	enum cat_type type;    /* CAT_TEXT (exact), CAT_CHOICE, CAT_INT (an id), CAT_BOOL */
	const char *const *choices;
};

/* An ?ordering= name and the expression it sorts by. */
struct cat_order {
	const char *name, *expr;
};

#define CAT_MAX_FIELDS 20

struct cat_res;
struct cat_vals;
/* A resource's own checks before a write, inside its transaction (id NULL on create): TSK_OK, TSK_EINVAL
 * with errors added, or a database failure (err filled). */
typedef int (*cat_check_fn)(struct tsk_api_ctx *c, const struct cat_res *r, const char *id, struct cat_vals *v,
    json_t *errors, char *err, size_t errlen);

struct cat_res {
	enum tsk_cat_kind kind;  /* the same rows in registry/catalog.h, which writes them */
	const char *table;       /* "asset" */
	const char *label;       /* the original's model name in messages ("asset") */
	const char *alias;       /* "a": every expression below names the table by it */
	const char *from;        /* "asset a LEFT JOIN site s ON s.id = a.site_id" */
	const char *json;        /* one row as a json expression */
	const char *order;       /* the default ORDER BY (the original's Meta.ordering) */
	const struct cat_field *fields;   /* ended by a NULL name */
	const struct cat_filter *filters; /* ended by a NULL arg */
	const char *const *search;        /* expressions ?search= looks in (case-insensitive), NULL-ended */
	const struct cat_order *orderings;
	cat_check_fn check;
};

/* A write's values, validated: present[i] when the body gave fields[i], val[i] its text (NULL: SQL NULL). */
struct cat_vals {
	int present[CAT_MAX_FIELDS];
	const char *val[CAT_MAX_FIELDS];
	char *owned[CAT_MAX_FIELDS];
	char num[CAT_MAX_FIELDS][48];
};

extern const struct cat_res cat_site, cat_asset, cat_device, cat_sensor;
/* Other views of the same rows: an asset with its counts and latest readings, a device's summary. */
extern const struct cat_res cat_asset_complete_res, cat_device_summary_res;
/* The extra actions' filters. */
extern const struct cat_filter cat_site_asset_filters[], cat_site_device_filters[], cat_asset_sensor_filters[];

/* BEGIN, the caller's tenant, datetimes in America/Sao_Paulo. 1, or 0 after answering 503. */
int cat_begin(struct tsk_api_ctx *c);
/* COMMIT: 1, or 0 after answering 503. */
int cat_commit(struct tsk_api_ctx *c);
/* The path's argument i as a row id (digits, at most INT64_MAX) into id[24]: 1, or 0 after answering 404. */
int cat_id(struct tsk_api_ctx *c, size_t i, char id[24]);
/* 404 {"detail": "Não encontrado."} */
void cat_not_found(struct tsk_api_ctx *c);
/* A statement's failure: 503 for the database, 400 for data it refused. */
void cat_failed(struct tsk_api_ctx *c, const char *what, const char *err);

/* One row as the API's object, a JSON text into *out (malloc'd; answered with tsk_api_text): TSK_OK,
 * TSK_ENOTFOUND, or a database failure (err). Inside a transaction. */
int cat_row(struct tsk_api_ctx *c, const struct cat_res *r, const char *id, char **out, char *err, size_t errlen);
/* The first column of every row of a query, each a JSON text, as one JSON array's text into *out.
 * Both answer compact JSON (cat_compact). */
char *cat_compact(char *json);
int cat_rows_text(struct tsk_api_ctx *c, const char *sql, int n, const char *const *p, char **out, char *err,
    size_t errlen);
/* 1 when the row exists, 0 when not, -1 on a database failure (err). */
int cat_exists(struct tsk_api_ctx *c, const struct cat_res *r, const char *id, char *err, size_t errlen);

/*
 * Answers a list of r's rows: those matching where (a constant condition with $1 for param, or NULL),
 * the filters (NULL: none), then for the top-level lists ?search= and ?ordering= (full), either as the
 * page envelope (paged) or as a bare array. parent (or NULL): param is the id of one of its rows, and
 * none is 404. Runs its own transaction.
 */
void cat_list(struct tsk_api_ctx *c, const struct cat_res *r, const struct cat_res *parent, const char *where,
    const char *param, const struct cat_filter *filters, int full, int paged);

/* Validates body against r's fields (partial: a PATCH, nothing is required; forced: the field names
 * given a value by the path, skipped here). 1 when valid, else 0 with errors filled. */
int cat_validate(const struct cat_res *r, json_t *body, int partial, struct cat_vals *v, json_t *errors);
void cat_vals_free(struct cat_vals *v);
/* Inside a transaction: checks references, uniqueness and the resource's own rules (r->check) with
 * DRF's messages. TSK_OK, TSK_EINVAL (errors filled), or a failure (err). */
int cat_check(struct tsk_api_ctx *c, const struct cat_res *r, const char *id, struct cat_vals *v, json_t *errors,
    char *err, size_t errlen);
/* A refusal of registry/catalog ("field: message") as DRF's {"field": ["message"]} (or
 * {"non_field_errors": [err]}), a new reference. */
json_t *cat_refusal(const struct cat_res *r, const char *err);
/* The values given, as the JSON object registry/catalog.h takes (a new reference; NULL: out of memory). */
json_t *cat_vals_json(const struct cat_res *r, const struct cat_vals *v);
/* The index of a field by name in r->fields, or -1. */
int cat_field_index(const struct cat_res *r, const char *name);

/* The generic endpoints. */
void cat_show(struct tsk_api_ctx *c, const struct cat_res *r);
void cat_create(struct tsk_api_ctx *c, const struct cat_res *r);
void cat_update(struct tsk_api_ctx *c, const struct cat_res *r);
void cat_delete(struct tsk_api_ctx *c, const struct cat_res *r);

/* The extra actions (api_catalog_actions.c). */
void cat_site_assets(struct tsk_api_ctx *c);
void cat_site_devices(struct tsk_api_ctx *c);
void cat_site_devices_summary(struct tsk_api_ctx *c);
void cat_site_stats(struct tsk_api_ctx *c);
void cat_asset_complete(struct tsk_api_ctx *c);
void cat_asset_devices(struct tsk_api_ctx *c);
void cat_asset_sensors(struct tsk_api_ctx *c);
void cat_asset_calculate_health(struct tsk_api_ctx *c);
void cat_device_sensors(struct tsk_api_ctx *c);
void cat_device_sensors_bulk(struct tsk_api_ctx *c);
void cat_device_heartbeat(struct tsk_api_ctx *c);
void cat_device_summary(struct tsk_api_ctx *c);
void cat_sensor_update_reading(struct tsk_api_ctx *c);

#endif
