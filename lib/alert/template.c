/*
 * Alert message templates, as the original formatted them (see alert.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/alert.h"
#include "core/buf.h"

void
tsk_alert_pyfloat(double v, char *out, size_t outlen)
{
	char e[40], digits[24];
	int prec, exp, nd = 0;

	if (isnan(v)) {
		snprintf(out, outlen, "nan");
		return;
	}
	if (isinf(v)) {
		snprintf(out, outlen, "%sinf", v < 0 ? "-" : "");
		return;
	}
	if (v == 0) {
		snprintf(out, outlen, "%s0.0", signbit(v) ? "-" : "");
		return;
	}
	/* The shortest %.*e that reads back as the same double: its digits and exponent. */
	for (prec = 0; prec < 17; prec++) {
		snprintf(e, sizeof e, "%.*e", prec, v);
		if (strtod(e, NULL) == v)
			break;
	}
	snprintf(e, sizeof e, "%.*e", prec, v);
	const char *p = e;
	int neg = *p == '-';
	if (neg)
		p++;
	for (; *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			digits[nd++] = *p;
	digits[nd] = '\0';
	exp = atoi(p + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		digits[--nd] = '\0';

	struct tsk_buf b = { 0 };
	if (neg)
		tsk_buf_puts(&b, "-");
	if (exp < -4 || exp >= 16) {
		/* Python's repr: d[.ddd]e[+-]XX */
		tsk_buf_add(&b, digits, 1);
		if (nd > 1) {
			tsk_buf_puts(&b, ".");
			tsk_buf_puts(&b, digits + 1);
		}
		tsk_buf_printf(&b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
	} else if (exp < 0) {
		tsk_buf_puts(&b, "0.");
		for (int i = -1; i > exp; i--)
			tsk_buf_puts(&b, "0");
		tsk_buf_puts(&b, digits);
	} else {
		/* exp + 1 digits before the point */
		for (int i = 0; i <= exp; i++)
			tsk_buf_add(&b, i < nd ? &digits[i] : "0", 1);
		tsk_buf_puts(&b, ".");
		if (nd > exp + 1)
			tsk_buf_puts(&b, digits + exp + 1);
		else
			tsk_buf_puts(&b, "0");
	}
	const char *s = tsk_buf_cstr(&b);
	snprintf(out, outlen, "%s", s != NULL ? s : "nan");
	tsk_buf_free(&b);
}

const char *
tsk_alert_operator_words(const char *op)
{
	static const char *const words[][2] = {
		{ ">", "maior que" }, { ">=", "maior ou igual a" }, { "<", "menor que" },
		{ "<=", "menor ou igual a" }, { "==", "igual a" }, { "!=", "diferente de" },
	};

	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strcmp(op, words[i][0]) == 0)
			return words[i][1];
	return op;
}

char *
tsk_alert_message(const char *tmpl, const char *key, double value, double threshold, const char *op,
    const char *unit)
{
	char vbuf[32], tbuf[32];
	struct tsk_buf b = { 0 };
	const struct {
		const char *name, *with;
	} subst[] = {
		{ "{variavel}", key }, { "{sensor}", key }, { "{value}", vbuf }, { "{threshold}", tbuf },
		{ "{operator}", tsk_alert_operator_words(op) }, { "{unit}", unit != NULL ? unit : "" },
	};

	tsk_alert_pyfloat(value, vbuf, sizeof vbuf);
	tsk_alert_pyfloat(threshold, tbuf, sizeof tbuf);
	for (const char *p = tmpl; *p != '\0';) {
		size_t i, n = 0;

		if (*p == '{')
			for (i = 0; i < sizeof subst / sizeof subst[0]; i++)
				if (strncmp(p, subst[i].name, strlen(subst[i].name)) == 0) {
					tsk_buf_puts(&b, subst[i].with);
					n = strlen(subst[i].name);
					break;
				}
		if (n == 0) {
			tsk_buf_add(&b, p, 1);
			n = 1;
		}
		p += n;
	}
	if (b.len == 0)
		return strdup("");
	return tsk_buf_take(&b);
}
