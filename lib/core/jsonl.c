#include <stdlib.h>
#include <string.h>

#include "core/jsonl.h"
#include "core/text.h"
#include "core/time.h"

void
tsk_jsonl_init(struct tsk_jsonl *r, FILE *f)
{
	memset(r, 0, sizeof *r);
	r->f = f;
}

void
tsk_jsonl_free(struct tsk_jsonl *r)
{
	free(r->line);
	r->line = NULL;
}

/* One line, newline included when there is one, into r->line; at most r->max bytes are kept (the rest
 * up to the newline is read and dropped). -1 at end of input. */
static ssize_t
read_line(struct tsk_jsonl *r)
{
	size_t n = 0;
	int c = EOF;

	if (r->max == 0)
		return getline(&r->line, &r->cap, r->f);
	r->overlong = 0;
	flockfile(r->f);
	while ((c = getc_unlocked(r->f)) != EOF) {
		if (n < r->max) {
			if (n + 2 > r->cap) {
				size_t cap = r->cap ? r->cap * 2 : 4096;
				char *p = realloc(r->line, cap);
				if (p == NULL) {
					c = EOF;
					break;
				}
				r->line = p;
				r->cap = cap;
			}
			r->line[n++] = (char)c;
		} else {
			r->overlong = 1;
		}
		if (c == '\n')
			break;
	}
	funlockfile(r->f);
	if (n == 0 && c == EOF && !r->overlong)
		return -1;
	r->line[n] = '\0';
	return (ssize_t)n;
}

int
tsk_jsonl_next_line(struct tsk_jsonl *r)
{
	ssize_t n;

	for (;;) {
		n = read_line(r);
		if (n < 0)
			return 0;
		r->lineno++;
		while (n > 0 && (r->line[n - 1] == '\n' || r->line[n - 1] == '\r'))
			r->line[--n] = '\0';
		r->len = (size_t)n;
		if (r->overlong || strspn(r->line, " \t") != (size_t)n)
			return 1;
	}
}

int
tsk_jsonl_next(struct tsk_jsonl *r, json_t **out, char *err, size_t errlen)
{
	json_error_t je;

	if (!tsk_jsonl_next_line(r))
		return 0;
	if (r->overlong) {
		*out = NULL;
		snprintf(err, errlen, "line %ld: longer than %zu bytes", r->lineno, r->max);
		return -1;
	}
	*out = json_loadb(r->line, r->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	if (*out == NULL) {
		snprintf(err, errlen, "line %ld: invalid JSON at column %d: %s", r->lineno, je.column, je.text);
		return -1;
	}
	return 1;
}

/* jansson prints reals with 17 digits (0.1 → 0.10000000000000001); the contract asks for the shortest
 * form that reads back the same, so reals are written here and everything else by jansson. */
static int
dump(FILE *f, json_t *v)
{
	char num[32];
	const char *key;
	json_t *x;
	size_t i;
	int first = 1;

	switch (json_typeof(v)) {
	case JSON_REAL:
		return fputs(tsk_fmt_double(json_real_value(v), num), f) < 0 ? -1 : 0;
	case JSON_OBJECT:
		fputc('{', f);
		json_object_foreach(v, key, x) {
			if (!first)
				fputc(',', f);
			first = 0;
			json_t *k = json_string(key);
			int rc = k == NULL ? -1 : json_dumpf(k, f, JSON_ENCODE_ANY);
			json_decref(k);
			if (rc != 0 || fputc(':', f) == EOF || dump(f, x) != 0)
				return -1;
		}
		return fputc('}', f) == EOF ? -1 : 0;
	case JSON_ARRAY:
		fputc('[', f);
		json_array_foreach(v, i, x) {
			if (i > 0)
				fputc(',', f);
			if (dump(f, x) != 0)
				return -1;
		}
		return fputc(']', f) == EOF ? -1 : 0;
	default:
		return json_dumpf(v, f, JSON_COMPACT | JSON_ENCODE_ANY);
	}
}

int
tsk_jsonl_write(FILE *f, json_t *v)
{
	if (dump(f, v) != 0 || fputc('\n', f) == EOF)
		return -1;
	return 0;
}

json_t *
tsk_json_lossy_string(const char *s, size_t len)
{
	json_t *j = json_stringn(s, len);
	char *buf, *p;

	if (j != NULL || (buf = malloc(len * 3 + 1)) == NULL)
		return j;
	p = buf;
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		size_t k = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
		if (c != 0 && i + k <= len && tsk_utf8_valid(s + i, k)) {
			memcpy(p, s + i, k);
			p += k;
			i += k;
		} else {
			memcpy(p, "\xEF\xBF\xBD", 3);
			p += 3;
			i++;
		}
	}
	j = json_stringn(buf, (size_t)(p - buf));
	free(buf);
	return j;
}
