/*
 * The catalog API's engine (api_catalog_impl.h): validation of a body against a resource's fields with
 * DRF's answers (400 {"field": ["message"]}), and list, show, create, update, delete of any resource.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>

#include "core/buf.h"
#include "core/time.h"
#include "core/tsk.h"
#include "http/api.h"
#include "http/api_catalog_impl.h"
#include "pg/db.h"

#define MAX_PARAMS 48
#define MAX_TERMS 8      /* ?search= terms; more are ignored */
#define MAX_ORDER 4      /* ?ordering= names; more are ignored */

/* ---- transactions and small answers ------------------------------------------------------------- */

int
cat_begin(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];

	if (tsk_db_begin(c->db, err, sizeof err) != TSK_OK) {
		tsk_api_db_error(c, "BEGIN", err);
		return 0;
	}
	if (tsk_db_enter_tenant(c->db, c->who.tenant, NULL, err, sizeof err) != TSK_OK ||
	    tsk_db_cmd(c->db, "SET LOCAL TimeZone = 'America/Sao_Paulo'", err, sizeof err) != TSK_OK) {
		tsk_db_rollback(c->db);
		tsk_api_db_error(c, "tenant", err);
		return 0;
	}
	return 1;
}

int
cat_commit(struct tsk_api_ctx *c)
{
	char err[TSK_ERRLEN];

	if (tsk_db_commit(c->db, err, sizeof err) != TSK_OK) {
		tsk_db_rollback(c->db);
		tsk_api_db_error(c, "COMMIT", err);
		return 0;
	}
	return 1;
}

void
cat_not_found(struct tsk_api_ctx *c)
{
	tsk_api_detail(c, 404, "Não encontrado.");
}

void
cat_failed(struct tsk_api_ctx *c, const char *what, const char *err)
{
	tsk_db_rollback(c->db);
	tsk_api_db_error(c, what, err);
}

int
cat_id(struct tsk_api_ctx *c, size_t i, char id[24])
{
	const char *s = i < c->nargs ? c->arg[i] : "";
	char *end;
	long long n;

	/* DRF looks a non-number up and finds nothing: 404, as for an id that names no row. */
	if (!isdigit((unsigned char)s[0]))
		goto bad;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (*end != '\0' || errno != 0 || n < 1)
		goto bad;
	snprintf(id, 24, "%lld", n);
	return 1;
bad:
	cat_not_found(c);
	return 0;
}

int
cat_field_index(const struct cat_res *r, const char *name)
{
	for (int i = 0; r->fields[i].name != NULL; i++)
		if (strcmp(r->fields[i].name, name) == 0)
			return i;
	return -1;
}

/* ---- reading rows ------------------------------------------------------------------------------- */

/* PostgreSQL's json puts " : " and ", " between members; DRF answers compact JSON. Drops the white
 * space outside strings, in place (numbers and strings stay exactly as PostgreSQL wrote them). */
char *
cat_compact(char *s)
{
	char *w = s;
	int in_str = 0, esc = 0;

	for (char *r = s; *r != '\0'; r++) {
		if (in_str) {
			if (esc)
				esc = 0;
			else if (*r == '\\')
				esc = 1;
			else if (*r == '"')
				in_str = 0;
		} else if (*r == '"') {
			in_str = 1;
		} else if (*r == ' ' || *r == '\n' || *r == '\t' || *r == '\r') {
			continue;
		}
		*w++ = *r;
	}
	*w = '\0';
	return s;
}

int
cat_row(struct tsk_api_ctx *c, const struct cat_res *r, const char *id, char **out, char *err, size_t errlen)
{
	struct tsk_buf sql = TSK_BUF_INIT;
	const char *p[1] = { id };
	PGresult *res;
	int rc;

	*out = NULL;
	tsk_buf_printf(&sql, "SELECT (%s)::text FROM %s WHERE %s.id = $1::bigint", r->json, r->from, r->alias);
	if (tsk_buf_failed(&sql))
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	rc = tsk_db_exec(c->db, tsk_buf_cstr(&sql), 1, p, &res, err, errlen);
	tsk_buf_free(&sql);
	if (rc != TSK_OK)
		return rc;
	if (PQntuples(res) == 0)
		rc = TSK_ENOTFOUND;
	else if ((*out = strdup(PQgetvalue(res, 0, 0))) == NULL)
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	else
		cat_compact(*out);
	PQclear(res);
	return rc;
}

int
cat_rows_text(struct tsk_api_ctx *c, const char *sql, int n, const char *const *p, char **out, char *err,
    size_t errlen)
{
	struct tsk_buf b = TSK_BUF_INIT;
	PGresult *res;
	int rc;

	*out = NULL;
	if ((rc = tsk_db_exec(c->db, sql, n, p, &res, err, errlen)) != TSK_OK)
		return rc;
	tsk_buf_puts(&b, "[");
	for (int i = 0; i < PQntuples(res); i++) {
		if (i > 0)
			tsk_buf_puts(&b, ",");
		tsk_buf_puts(&b, PQgetvalue(res, i, 0));
	}
	tsk_buf_puts(&b, "]");
	PQclear(res);
	if ((*out = tsk_buf_take(&b)) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	cat_compact(*out);
	return TSK_OK;
}

int
cat_exists(struct tsk_api_ctx *c, const struct cat_res *r, const char *id, char *err, size_t errlen)
{
	char sql[160];
	const char *p[1] = { id };
	PGresult *res;
	int n;

	snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE id = $1::bigint", r->table);
	if (tsk_db_exec(c->db, sql, 1, p, &res, err, errlen) != TSK_OK)
		return -1;
	n = PQntuples(res);
	PQclear(res);
	return n > 0;
}

/* ---- lists -------------------------------------------------------------------------------------- */

struct query {
	struct tsk_buf where;
	const char *p[MAX_PARAMS];
	int n;
	char terms[MAX_TERMS][TSK_API_ARG_MAX];
};

static const char *const true_words[] = { "true", "True", "TRUE", "1", "t", "yes", "on", NULL };
static const char *const false_words[] = { "false", "False", "FALSE", "0", "f", "no", "off", NULL };

static int
word_in(const char *s, const char *const *list)
{
	for (int i = 0; list[i] != NULL; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

/* Adds " AND " cond (with its "%d" replaced by the next parameter's number) and the parameter. */
static void
add_cond(struct query *q, const char *cond, const char *param)
{
	if (q->n >= MAX_PARAMS) {
		q->where.failed = 1;
		return;
	}
	q->p[q->n++] = param;
	tsk_buf_puts(&q->where, " AND ");
	tsk_buf_printf(&q->where, cond, q->n);
}

/* The filters' arguments as conditions: 1, or 0 after answering 400 (a value the filter cannot take). */
static int
add_filters(struct tsk_api_ctx *c, struct query *q, const struct cat_filter *f)
{
	char msg[TSK_API_ARG_MAX + 96];

	for (; f != NULL && f->arg != NULL; f++) {
		const char *v = tsk_api_arg(c, f->arg), *pv = v;

		/* django-filter: an empty value is no filter. */
		if (v == NULL || v[0] == '\0')
			continue;
		switch (f->type) {
		case CAT_BOOL:
			if (word_in(v, true_words))
				pv = "true";
			else if (word_in(v, false_words))
				pv = "false";
			else {
				tsk_api_field_error(c, f->arg, "Selecione uma escolha válida. Esta opção não é uma das disponíveis.");
				return 0;
			}
			break;
		case CAT_INT: {
			char *end;
			errno = 0;
			long long n = strtoll(v, &end, 10);
			if (!isdigit((unsigned char)v[0]) || *end != '\0' || errno != 0 || n < 1) {
				tsk_api_field_error(c, f->arg, "Selecione uma escolha válida. Esta opção não é uma das disponíveis.");
				return 0;
			}
			break;
		}
		case CAT_CHOICE:
			if (!word_in(v, f->choices)) {
				snprintf(msg, sizeof msg, "Selecione uma escolha válida. %.64s não é uma das escolhas disponíveis.", v);
				tsk_api_field_error(c, f->arg, msg);
				return 0;
			}
			break;
		default:
			break;
		}
		add_cond(q, f->where, pv);
	}
	return 1;
}

/* ?search=: every term (split at spaces and commas, as DRF) must be in one of the fields. */
static void
add_search(struct tsk_api_ctx *c, struct query *q, const struct cat_res *r)
{
	const char *s = tsk_api_arg(c, "search");
	int nt = 0;

	if (s == NULL || r->search == NULL)
		return;
	while (*s != '\0' && nt < MAX_TERMS) {
		size_t skip = strspn(s, " \t\r\n,"), n;
		s += skip;
		if ((n = strcspn(s, " \t\r\n,")) == 0)
			break;
		if (n >= TSK_API_ARG_MAX)
			n = TSK_API_ARG_MAX - 1;
		memcpy(q->terms[nt], s, n);
		q->terms[nt][n] = '\0';
		s += n;
		if (q->n >= MAX_PARAMS) {
			q->where.failed = 1;
			return;
		}
		/* strpos, not ILIKE: a term's % and _ are characters like any other. */
		q->p[q->n++] = q->terms[nt++];
		tsk_buf_puts(&q->where, " AND (false");
		for (int i = 0; r->search[i] != NULL; i++)
			tsk_buf_printf(&q->where, " OR strpos(lower(%s), lower($%d)) > 0", r->search[i], q->n);
		tsk_buf_puts(&q->where, ")");
	}
}

/* ?ordering=: known names only (others are ignored, as DRF does), then the default, then the id. */
static void
add_ordering(struct tsk_api_ctx *c, struct tsk_buf *sql, const struct cat_res *r, int full)
{
	const char *s = full ? tsk_api_arg(c, "ordering") : NULL;
	int n = 0;

	tsk_buf_puts(sql, " ORDER BY ");
	while (s != NULL && *s != '\0' && n < MAX_ORDER) {
		size_t len = strcspn(s, ",");
		int desc = s[0] == '-';
		const char *name = s + desc;
		size_t nlen = len - (size_t)desc;

		for (const struct cat_order *o = r->orderings; o != NULL && o->name != NULL; o++)
			if (strlen(o->name) == nlen && strncmp(o->name, name, nlen) == 0) {
				tsk_buf_printf(sql, "%s%s%s", n > 0 ? ", " : "", o->expr, desc ? " DESC" : "");
				n++;
				break;
			}
		s += len;
		if (*s == ',')
			s++;
	}
	tsk_buf_printf(sql, "%s%s, %s.id", n > 0 ? ", " : "", r->order, r->alias);
}

void
cat_list(struct tsk_api_ctx *c, const struct cat_res *r, const struct cat_res *parent, const char *where,
    const char *param, const struct cat_filter *filters, int full, int paged)
{
	struct query *q = calloc(1, sizeof *q);
	struct tsk_buf sql = TSK_BUF_INIT;
	char err[TSK_ERRLEN], off[24], lim[8];
	int64_t offset = 0, count = 0;
	char *rows = NULL;
	PGresult *res;

	if (q == NULL) {
		tsk_api_detail(c, 500, "out of memory");
		return;
	}
	if (paged && !tsk_api_page(c, &offset))
		goto out;
	tsk_buf_puts(&q->where, "true");
	if (where != NULL) {
		q->p[q->n++] = param;
		tsk_buf_printf(&q->where, " AND %s", where);
	}
	if (!add_filters(c, q, filters))
		goto out;
	if (full)
		add_search(c, q, r);
	if (tsk_buf_failed(&q->where)) {
		tsk_api_detail(c, 500, "out of memory");
		goto out;
	}
	if (!cat_begin(c))
		goto out;
	if (parent != NULL) {
		int n = cat_exists(c, parent, param, err, sizeof err);
		if (n < 0) {
			cat_failed(c, "list", err);
			goto out;
		}
		if (n == 0) {
			tsk_db_rollback(c->db);
			cat_not_found(c);
			goto out;
		}
	}
	if (paged) {
		tsk_buf_printf(&sql, "SELECT count(*) FROM %s WHERE %s", r->from, tsk_buf_cstr(&q->where));
		if (tsk_buf_failed(&sql) || tsk_db_exec(c->db, tsk_buf_cstr(&sql), q->n, q->p, &res, err, sizeof err) != TSK_OK) {
			cat_failed(c, "count", tsk_buf_failed(&sql) ? "out of memory" : err);
			goto out;
		}
		count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		tsk_buf_reset(&sql);
	}
	tsk_buf_printf(&sql, "SELECT (%s)::text FROM %s WHERE %s", r->json, r->from, tsk_buf_cstr(&q->where));
	add_ordering(c, &sql, r, full);
	if (paged) {
		snprintf(off, sizeof off, "%" PRId64, offset);
		snprintf(lim, sizeof lim, "%d", TSK_API_PAGE_SIZE);
		q->p[q->n++] = lim;
		tsk_buf_printf(&sql, " LIMIT $%d::bigint", q->n);
		q->p[q->n++] = off;
		tsk_buf_printf(&sql, " OFFSET $%d::bigint", q->n);
	}
	if (tsk_buf_failed(&sql)) {
		cat_failed(c, "list", "out of memory");
		goto out;
	}
	if (cat_rows_text(c, tsk_buf_cstr(&sql), q->n, q->p, &rows, err, sizeof err) != TSK_OK) {
		cat_failed(c, "list", err);
		goto out;
	}
	if (!cat_commit(c))
		goto out;
	if (paged) {
		tsk_api_page_reply_text(c, count, rows);
	} else {
		tsk_api_text(c, 200, rows);
		rows = NULL;
	}
out:
	free(rows);
	tsk_buf_free(&sql);
	tsk_buf_free(&q->where);
	free(q);
}

/* ---- validation --------------------------------------------------------------------------------- */

static void
add_error(json_t *errors, const char *field, const char *msg)
{
	json_t *a = json_object_get(errors, field);

	if (a == NULL) {
		a = json_array();
		json_object_set_new(errors, field, a);
	}
	json_array_append_new(a, json_string(msg));
}

/* Characters (code points) of a UTF-8 string. */
static size_t
chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static const char *
type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "dict";
	case JSON_ARRAY: return "list";
	case JSON_STRING: return "str";
	case JSON_INTEGER: return "int";
	case JSON_REAL: return "float";
	case JSON_TRUE: case JSON_FALSE: return "bool";
	default: return "NoneType";
	}
}

/* A number given as a JSON number or a numeric string (DRF takes both): 1 with *d, else 0. */
static int
number(const json_t *v, double *d)
{
	if (json_is_integer(v) || json_is_real(v)) {
		*d = json_number_value(v);
		return isfinite(*d);
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			return 0;
		errno = 0;
		*d = strtod(s, &end);
		while (isspace((unsigned char)*end))
			end++;
		/* strtod's "nan", "inf" and hex forms are no decimal numbers */
		return *end == '\0' && errno == 0 && isfinite(*d) && strpbrk(s, "xXnN") == NULL;
	}
	return 0;
}

/* A calendar date "YYYY-MM-DD". */
static int
valid_date(const char *s)
{
	int y, m, d, n = 0;
	int64_t us;

	if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 || y < 1)
		return 0;
	if (tsk_time_parse_rfc3339(s, &us) != TSK_OK)
		return 0;
	int yy, mm, dd;
	tsk_time_civil(us / (86400 * TSK_US_PER_S) - (us < 0 && us % (86400 * TSK_US_PER_S) != 0), &yy, &mm, &dd);
	return yy == y && mm == m && dd == d;
}

/* One field's value (v present): 1 with vals filled, else 0 with the error added. */
static int
field_value(const struct cat_field *f, json_t *v, struct cat_vals *vals, int i, json_t *errors)
{
	char msg[256];
	double d;

	if (json_is_null(v)) {
		if (f->flags & CAT_NULL) {
			vals->val[i] = NULL;
			return 1;
		}
		add_error(errors, f->name, "Este campo não pode ser nulo.");
		return 0;
	}
	switch (f->type) {
	case CAT_TEXT:
	case CAT_CHOICE: {
		const char *s, *e;
		if (!json_is_string(v)) {
			add_error(errors, f->name, f->type == CAT_TEXT ? "Not a valid string." : "Not a valid string.");
			return 0;
		}
		s = json_string_value(v);
		if (f->type == CAT_CHOICE) {
			for (int k = 0; f->choices[k] != NULL; k++)
				if (strcmp(s, f->choices[k]) == 0) {
					vals->val[i] = f->choices[k];
					return 1;
				}
			snprintf(msg, sizeof msg, "\"%.64s\" não é um escolha válido.", s);
			add_error(errors, f->name, msg);
			return 0;
		}
		/* DRF trims surrounding white space. */
		while (isspace((unsigned char)*s))
			s++;
		e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		if (e == s && !(f->flags & CAT_BLANK)) {
			add_error(errors, f->name, "Este campo não pode ser em branco.");
			return 0;
		}
		if ((vals->owned[i] = strndup(s, (size_t)(e - s))) == NULL) {
			add_error(errors, f->name, "out of memory");
			return 0;
		}
		if (chars(vals->owned[i]) > (size_t)f->max) {
			snprintf(msg, sizeof msg, "Certifique-se de que este campo não tenha mais de %.0f caracteres.", f->max);
			add_error(errors, f->name, msg);
			return 0;
		}
		vals->val[i] = vals->owned[i];
		return 1;
	}
	case CAT_INT:
		if (json_is_boolean(v) || !number(v, &d) || d != floor(d)) {
			add_error(errors, f->name, "Um número inteiro válido é exigido.");
			return 0;
		}
		goto range;
	case CAT_FLOAT:
		if (json_is_boolean(v) || !number(v, &d)) {
			add_error(errors, f->name, "Um número válido é necessário.");
			return 0;
		}
	range:
		if (d > f->max) {
			snprintf(msg, sizeof msg, "Certifique-se de que este valor seja inferior ou igual a %g.", f->max);
			add_error(errors, f->name, msg);
			return 0;
		}
		if (d < f->min) {
			snprintf(msg, sizeof msg, "Certifique-se de que este valor seja superior ou igual a %g.", f->min);
			add_error(errors, f->name, msg);
			return 0;
		}
		if (f->type == CAT_INT)
			snprintf(vals->num[i], sizeof vals->num[i], "%.0f", d);
		else
			tsk_fmt_double(d, vals->num[i]);
		vals->val[i] = vals->num[i];
		return 1;
	case CAT_DECIMAL:
		if (json_is_boolean(v) || !number(v, &d)) {
			add_error(errors, f->name, "Um número válido é necessário.");
			return 0;
		}
		if (fabs(d) >= 1000) {
			add_error(errors, f->name, "Certifique-se de que não haja mais de 9 dígitos no total.");
			return 0;
		}
		snprintf(vals->num[i], sizeof vals->num[i], "%.6f", d);
		vals->val[i] = vals->num[i];
		return 1;
	case CAT_BOOL:
		if (json_is_boolean(v))
			vals->val[i] = json_is_true(v) ? "true" : "false";
		else if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
			vals->val[i] = json_integer_value(v) ? "true" : "false";
		else if (json_is_string(v) && word_in(json_string_value(v), true_words))
			vals->val[i] = "true";
		else if (json_is_string(v) && word_in(json_string_value(v), false_words))
			vals->val[i] = "false";
		else {
			add_error(errors, f->name, "Must be a valid boolean.");
			return 0;
		}
		return 1;
	case CAT_OBJECT:
		if (!json_is_object(v)) {
			snprintf(msg, sizeof msg, "Esperado um dicionário de itens mas recebido tipo \"%s\".", type_name(v));
			add_error(errors, f->name, msg);
			return 0;
		}
		if ((vals->owned[i] = json_dumps(v, JSON_COMPACT)) == NULL) {
			add_error(errors, f->name, "out of memory");
			return 0;
		}
		vals->val[i] = vals->owned[i];
		return 1;
	case CAT_DATE:
		if (!json_is_string(v) || !valid_date(json_string_value(v))) {
			add_error(errors, f->name, "Formato inválido para data. Use um dos formatos a seguir: YYYY-MM-DD.");
			return 0;
		}
		vals->val[i] = json_string_value(v);
		return 1;
	case CAT_TIME: {
		int64_t us;
		if (!json_is_string(v) || tsk_time_parse_rfc3339(json_string_value(v), &us) != TSK_OK) {
			add_error(errors, f->name, "Formato inválido para data e hora. Use um dos formatos a seguir: "
			    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].");
			return 0;
		}
		tsk_time_format(us, vals->num[i]);
		vals->val[i] = vals->num[i];
		return 1;
	}
	case CAT_REF:
		if (json_is_integer(v) && json_integer_value(v) > 0) {
			snprintf(vals->num[i], sizeof vals->num[i], "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		} else if (json_is_string(v) && isdigit((unsigned char)json_string_value(v)[0])) {
			const char *s = json_string_value(v);
			char *end;
			errno = 0;
			long long n = strtoll(s, &end, 10);
			if (*end != '\0' || errno != 0 || n < 1)
				goto no_row;
			snprintf(vals->num[i], sizeof vals->num[i], "%lld", n);
		} else if (json_is_integer(v) || json_is_string(v)) {
			goto no_row;
		} else {
			snprintf(msg, sizeof msg, "Tipo incorreto. Esperado valor pk, recebeu %s.", type_name(v));
			add_error(errors, f->name, msg);
			return 0;
		}
		vals->val[i] = vals->num[i];
		return 1;
	no_row:
		snprintf(msg, sizeof msg, "Pk inválido \"%.40s\" - objeto não existe.",
		    json_is_string(v) ? json_string_value(v) : "?");
		if (json_is_integer(v))
			snprintf(msg, sizeof msg, "Pk inválido \"%" JSON_INTEGER_FORMAT "\" - objeto não existe.", json_integer_value(v));
		add_error(errors, f->name, msg);
		return 0;
	}
	return 0;
}

int
cat_validate(const struct cat_res *r, json_t *body, int partial, struct cat_vals *v, json_t *errors)
{
	memset(v, 0, sizeof *v);
	for (int i = 0; r->fields[i].name != NULL; i++) {
		const struct cat_field *f = &r->fields[i];
		json_t *x = json_object_get(body, f->name);

		if (x == NULL) {
			if (!partial && (f->flags & CAT_REQUIRED))
				add_error(errors, f->name, "Este campo é obrigatório.");
			continue;
		}
		if (field_value(f, x, v, i, errors))
			v->present[i] = 1;
	}
	return json_object_size(errors) == 0;
}

void
cat_vals_free(struct cat_vals *v)
{
	for (int i = 0; i < CAT_MAX_FIELDS; i++) {
		free(v->owned[i]);
		v->owned[i] = NULL;
	}
}

/* ---- writes ------------------------------------------------------------------------------------- */

static const char *
cast(enum cat_type t)
{
	switch (t) {
	case CAT_INT: return "::integer";
	case CAT_FLOAT: return "::double precision";
	case CAT_DECIMAL: return "::numeric";
	case CAT_BOOL: return "::boolean";
	case CAT_OBJECT: return "::jsonb";
	case CAT_DATE: return "::date";
	case CAT_TIME: return "::timestamptz";
	case CAT_REF: return "::bigint";
	default: return "::text";
	}
}

/* References name existing rows; unique fields are unique. TSK_OK, TSK_EINVAL, or a failure. */
static int
check_fields(struct tsk_api_ctx *c, const struct cat_res *r, const char *id, struct cat_vals *v, json_t *errors,
    char *err, size_t errlen)
{
	char sql[256], msg[256];
	PGresult *res;

	for (int i = 0; r->fields[i].name != NULL; i++) {
		const struct cat_field *f = &r->fields[i];
		int n;

		if (!v->present[i] || v->val[i] == NULL)
			continue;
		if (f->type == CAT_REF) {
			if ((n = cat_exists(c, f->ref, v->val[i], err, errlen)) < 0)
				return TSK_EFAIL;
			if (n == 0) {
				snprintf(msg, sizeof msg, "Pk inválido \"%s\" - objeto não existe.", v->val[i]);
				add_error(errors, f->name, msg);
			}
		}
		if (f->flags & CAT_UNIQUE) {
			const char *p[2] = { v->val[i], id };
			snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE %s = $1%s AND ($2::bigint IS NULL OR id <> $2::bigint)",
			    r->table, f->col, cast(f->type));
			if (tsk_db_exec(c->db, sql, 2, p, &res, err, errlen) != TSK_OK)
				return TSK_EFAIL;
			if (PQntuples(res) > 0) {
				snprintf(msg, sizeof msg, "%s com este %s já existe.", r->label, f->name);
				add_error(errors, f->name, msg);
			}
			PQclear(res);
		}
	}
	return json_object_size(errors) == 0 ? TSK_OK : TSK_EINVAL;
}

int
cat_check(struct tsk_api_ctx *c, const struct cat_res *r, const char *id, struct cat_vals *v, json_t *errors,
    char *err, size_t errlen)
{
	int rc;

	if ((rc = check_fields(c, r, id, v, errors, err, errlen)) != TSK_OK)
		return rc;
	if (r->check != NULL)
		return r->check(c, r, id, v, errors, err, errlen);
	return TSK_OK;
}

json_t *
cat_vals_json(const struct cat_res *r, const struct cat_vals *v)
{
	json_t *o = json_object();

	for (int i = 0; o != NULL && r->fields[i].name != NULL; i++) {
		const char *s = v->val[i];
		json_t *x;

		if (!v->present[i])
			continue;
		if (s == NULL) {
			x = json_null();
		} else {
			switch (r->fields[i].type) {
			case CAT_INT:
			case CAT_REF: x = json_integer(strtoll(s, NULL, 10)); break;
			case CAT_FLOAT:
			case CAT_DECIMAL: x = json_real(strtod(s, NULL)); break;
			case CAT_BOOL: x = json_boolean(strcmp(s, "true") == 0); break;
			case CAT_OBJECT: x = json_loads(s, 0, NULL); break;
			default: x = json_string(s); break;
			}
		}
		if (x == NULL || json_object_set_new(o, r->fields[i].name, x) != 0) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}

/* ---- the generic endpoints ---------------------------------------------------------------------- */

void
cat_show(struct tsk_api_ctx *c, const struct cat_res *r)
{
	char id[24], err[TSK_ERRLEN], *o;
	int rc;

	if (!cat_id(c, 0, id) || !cat_begin(c))
		return;
	rc = cat_row(c, r, id, &o, err, sizeof err);
	if (rc != TSK_OK && rc != TSK_ENOTFOUND) {
		cat_failed(c, "show", err);
		return;
	}
	if (!cat_commit(c)) {
		free(o);
		return;
	}
	if (o == NULL)
		cat_not_found(c);
	else
		tsk_api_text(c, 200, o);
}

json_t *
cat_refusal(const struct cat_res *r, const char *err)
{
	const char *colon = strstr(err, ": ");
	char field[64];

	if (colon != NULL && (size_t)(colon - err) < sizeof field) {
		memcpy(field, err, (size_t)(colon - err));
		field[colon - err] = '\0';
		if (cat_field_index(r, field) >= 0)
			return json_pack("{s:[s]}", field, colon + 2);
	}
	return json_pack("{s:[s]}", "non_field_errors", err);
}

/*
 * Validates (DRF's checks and messages, then references, uniqueness and the resource's rules in a
 * transaction of their own), writes through registry/catalog (the CLI's code: tsk_cat_add, tsk_cat_set,
 * which check again in their own transaction, so a race ends as its refusal) and answers the row as the
 * API shows it (status). id NULL: create.
 */
static void
write_row(struct tsk_api_ctx *c, const struct cat_res *r, const char *id, int partial, int status)
{
	struct cat_vals *v = calloc(1, sizeof *v);
	json_t *body = NULL, *errors = json_object(), *in = NULL, *row = NULL;
	char err[TSK_ERRLEN] = "", newid[24], *o;
	int rc;

	if (v == NULL || errors == NULL) {
		tsk_api_detail(c, 500, "out of memory");
		goto out;
	}
	if ((body = tsk_api_body(c)) == NULL)
		goto out;
	if (!cat_validate(r, body, partial, v, errors)) {
		tsk_api_json(c, 400, errors);
		errors = NULL;
		goto out;
	}
	if (!cat_begin(c))
		goto out;
	if (id != NULL && (rc = cat_exists(c, r, id, err, sizeof err)) <= 0) {
		if (rc < 0) {
			cat_failed(c, "write", err);
		} else {
			tsk_db_rollback(c->db);
			cat_not_found(c);
		}
		goto out;
	}
	rc = cat_check(c, r, id, v, errors, err, sizeof err);
	if (rc != TSK_OK && rc != TSK_EINVAL) {
		cat_failed(c, "write", err);
		goto out;
	}
	tsk_db_rollback(c->db);
	if (rc == TSK_EINVAL) {
		tsk_api_json(c, 400, errors);
		errors = NULL;
		goto out;
	}
	if ((in = cat_vals_json(r, v)) == NULL) {
		tsk_api_detail(c, 500, "out of memory");
		goto out;
	}
	if (id == NULL)
		rc = tsk_cat_add(c->db, c->who.tenant, r->kind, in, &row, err, sizeof err);
	else
		rc = tsk_cat_set(c->db, c->who.tenant, r->kind, strtoll(id, NULL, 10), in, NULL, err, sizeof err);
	if (rc == TSK_EINVAL) {
		tsk_api_json(c, 400, cat_refusal(r, err));
		goto out;
	}
	if (rc == TSK_ENOTFOUND) {
		cat_not_found(c);
		goto out;
	}
	if (rc != TSK_OK) {
		tsk_api_db_error(c, id == NULL ? "add" : "set", err);
		goto out;
	}
	if (id == NULL)
		snprintf(newid, sizeof newid, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(row, "id")));
	if (!cat_begin(c))
		goto out;
	if (cat_row(c, r, id != NULL ? id : newid, &o, err, sizeof err) != TSK_OK) {
		cat_failed(c, "write", err);
		goto out;
	}
	if (!cat_commit(c)) {
		free(o);
		goto out;
	}
	tsk_api_text(c, status, o);
out:
	if (v != NULL)
		cat_vals_free(v);
	free(v);
	json_decref(body);
	json_decref(errors);
	json_decref(in);
	json_decref(row);
}

void
cat_create(struct tsk_api_ctx *c, const struct cat_res *r)
{
	write_row(c, r, NULL, 0, 201);
}

void
cat_update(struct tsk_api_ctx *c, const struct cat_res *r)
{
	char id[24];

	if (cat_id(c, 0, id))
		write_row(c, r, id, strcmp(c->rq->method, "PATCH") == 0, 200);
}

void
cat_delete(struct tsk_api_ctx *c, const struct cat_res *r)
{
	char id[24], err[TSK_ERRLEN];
	int rc;

	if (!cat_id(c, 0, id))
		return;
	rc = tsk_cat_rm(c->db, c->who.tenant, r->kind, strtoll(id, NULL, 10), err, sizeof err);
	if (rc == TSK_ENOTFOUND) {
		cat_not_found(c);
	} else if (rc == TSK_EINVAL) {
		/* Other rows still need it (a site's assets): the caller must move or delete those first. */
		tsk_api_detail(c, 409, strncmp(err, "site: ", 6) == 0 ? err + 6 : err);
	} else if (rc != TSK_OK) {
		tsk_api_db_error(c, "delete", err);
	} else {
		c->out->status = 204;
	}
}
