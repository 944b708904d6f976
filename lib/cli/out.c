#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonl.h"
#include "core/log.h"
#include "cli/out.h"
#include "core/time.h"
#include "core/tsk.h"

int
tsk_format_parse(const char *s, enum tsk_format *out)
{
	if (s == NULL)
		return TSK_EINVAL;
	if (strcmp(s, "jsonl") == 0 || strcmp(s, "json") == 0)
		*out = TSK_FMT_JSONL;
	else if (strcmp(s, "csv") == 0)
		*out = TSK_FMT_CSV;
	else if (strcmp(s, "table") == 0)
		*out = TSK_FMT_TABLE;
	else
		return TSK_EINVAL;
	return TSK_OK;
}

/* A cell's text: strings as they are, numbers in shortest form, null empty, the rest as JSON. */
static char *
cell(json_t *v)
{
	char buf[64];

	if (v == NULL || json_is_null(v))
		return strdup("");
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_real(v))
		return strdup(tsk_fmt_double(json_real_value(v), buf));
	if (json_is_integer(v)) {
		snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
		return strdup(buf);
	}
	if (json_is_boolean(v))
		return strdup(json_is_true(v) ? "true" : "false");
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* The CSV writer's sink: its full buffer goes to the stream. */
static int
file_sink(void *ctx, const char *buf, size_t len, char *err, size_t errlen)
{
	if (fwrite(buf, 1, len, ctx) != len)
		return tsk_seterr(err, errlen, TSK_EFAIL, "write error");
	return TSK_OK;
}

void
tsk_out_begin(struct tsk_out *o, FILE *f, enum tsk_format fmt, const char *const *cols)
{
	memset(o, 0, sizeof *o);
	o->f = f;
	o->fmt = fmt;
	o->cols = cols;
	if (fmt == TSK_FMT_TABLE)
		o->rows = json_array();
	if (fmt == TSK_FMT_CSV)
		o->csv_open = tsk_csv_init(&o->csv, 64 * 1024, file_sink, f) == TSK_OK;
}

static const char *const *
row_cols(struct tsk_out *o, json_t *row, const char **tmp, size_t max)
{
	const char *key;
	json_t *v;
	size_t n = 0;

	if (o->cols != NULL)
		return o->cols;
	json_object_foreach(row, key, v) {
		if (n + 1 < max)
			tmp[n++] = key;
	}
	tmp[n] = NULL;
	return tmp;
}

int
tsk_out_row(struct tsk_out *o, json_t *row)
{
	const char *tmp[64];
	const char *const *cols;

	o->n++;
	switch (o->fmt) {
	case TSK_FMT_JSONL:
		return tsk_jsonl_write(o->f, row);
	case TSK_FMT_TABLE:
		return json_array_append(o->rows, row);
	case TSK_FMT_CSV:
		if (!o->csv_open)
			return -1;
		cols = row_cols(o, row, tmp, 64);
		if (!o->header_done) {
			tsk_csv_header(&o->csv, cols);
			o->header_done = 1;
		}
		for (int i = 0; cols[i] != NULL; i++) {
			char *c = cell(json_object_get(row, cols[i]));
			tsk_csv_cstr(&o->csv, c != NULL ? c : "");
			free(c);
		}
		return tsk_csv_end_row(&o->csv) == TSK_OK ? 0 : -1;
	}
	return -1;
}

/*
 * Text for a terminal: device ids and labels come from devices, and an ESC sequence or a CR in them
 * would rewrite the operator's screen. C0 controls, DEL and the C1 controls (U+0080..U+009F, which
 * some terminals obey) are shown as escapes: \n \r \t, else \xHH or \u00HH. Takes s, returns a new string.
 */
static char *
terminal_safe(char *s)
{
	size_t n = 0, bad = 0;

	if (s == NULL)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
		if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			bad++;
	if (bad == 0)
		return s;
	char *out = malloc(n + bad * 6 + 1), *w = out;
	if (out == NULL) {
		free(s);
		return NULL;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\n' || *p == '\r' || *p == '\t') {
			*w++ = '\\';
			*w++ = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
		} else if (*p < 0x20 || *p == 0x7f) {
			w += sprintf(w, "\\x%02x", *p);
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			w += sprintf(w, "\\u%04x", p[1]);
			p++;
		} else {
			*w++ = (char)*p;
		}
	}
	*w = '\0';
	free(s);
	return out;
}

static int
is_numeric_col(json_t *rows, const char *col)
{
	size_t i;
	json_t *r;

	json_array_foreach(rows, i, r) {
		json_t *v = json_object_get(r, col);
		if (v != NULL && !json_is_null(v) && !json_is_number(v))
			return 0;
	}
	return 1;
}

static int
write_table(struct tsk_out *o)
{
	const char *tmp[64];
	const char *const *cols;
	size_t ncols = 0, i;
	json_t *r;

	if (json_array_size(o->rows) == 0)
		return 0;
	cols = row_cols(o, json_array_get(o->rows, 0), tmp, 64);
	while (cols[ncols] != NULL)
		ncols++;
	size_t *w = calloc(ncols, sizeof *w);
	int *num = calloc(ncols, sizeof *num);
	if (w == NULL || num == NULL) {
		free(w);
		free(num);
		return -1;
	}
	for (size_t c = 0; c < ncols; c++) {
		w[c] = strlen(cols[c]);
		num[c] = is_numeric_col(o->rows, cols[c]);
	}
	json_array_foreach(o->rows, i, r) {
		for (size_t c = 0; c < ncols; c++) {
			char *s = terminal_safe(cell(json_object_get(r, cols[c])));
			size_t len = 0;
			/* Width in characters, not bytes: count UTF-8 lead bytes. */
			for (const char *p = s ? s : ""; *p; p++)
				len += ((unsigned char)*p & 0xc0) != 0x80;
			if (len > w[c])
				w[c] = len;
			free(s);
		}
	}
	for (size_t c = 0; c < ncols; c++)
		fprintf(o->f, "%s%-*s", c ? "  " : "", c + 1 < ncols ? (int)w[c] : 0, cols[c]);
	fputc('\n', o->f);
	json_array_foreach(o->rows, i, r) {
		for (size_t c = 0; c < ncols; c++) {
			char *s = terminal_safe(cell(json_object_get(r, cols[c])));
			size_t len = 0, pad;
			for (const char *p = s ? s : ""; *p; p++)
				len += ((unsigned char)*p & 0xc0) != 0x80;
			pad = w[c] > len ? w[c] - len : 0;
			fputs(c ? "  " : "", o->f);
			if (num[c])
				fprintf(o->f, "%*s%s", (int)pad, "", s ? s : "");
			else
				fprintf(o->f, "%s%*s", s ? s : "", c + 1 < ncols ? (int)pad : 0, "");
			free(s);
		}
		fputc('\n', o->f);
	}
	free(w);
	free(num);
	return 0;
}

int
tsk_out_end(struct tsk_out *o)
{
	int rc = 0;

	if (o->fmt == TSK_FMT_TABLE) {
		rc = write_table(o);
		json_decref(o->rows);
		o->rows = NULL;
	}
	if (o->csv_open) {
		if (tsk_csv_flush(&o->csv) != TSK_OK)
			rc = -1;
		tsk_csv_free(&o->csv);
		o->csv_open = 0;
	}
	if (fflush(o->f) != 0 || ferror(o->f))
		rc = -1;
	return rc;
}

int
tsk_out_array(FILE *f, enum tsk_format fmt, const char *const *cols, json_t *arr)
{
	struct tsk_out o;
	size_t i;
	json_t *r;
	int rc = 0;

	tsk_out_begin(&o, f, fmt, cols);
	json_array_foreach(arr, i, r) {
		if (tsk_out_row(&o, r) != 0)
			rc = -1;
	}
	if (tsk_out_end(&o) != 0)
		rc = -1;
	return rc;
}

int
tsk_close_stdout(void)
{
	int bad = 0, err = 0;

	/* errno is only meaningful right after the call that failed: an earlier failed write leaves the
	 * error flag set but errno long since overwritten, so that case is reported as EIO. */
	errno = 0;
	if (fflush(stdout) != 0) {
		bad = 1;
		err = errno;
	} else if (ferror(stdout)) {
		bad = 1;
		err = EIO;
	}
	errno = 0;
	if (fclose(stdout) != 0 && !bad) {
		bad = 1;
		err = errno;
	}
	if (bad) {
		/* A reader that went away (`| head`) is not an error worth a message. */
		if (err != EPIPE)
			tsk_err("write error: %s", strerror(err != 0 ? err : EIO));
		return -1;
	}
	return 0;
}
