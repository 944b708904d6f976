/* Tenant settings: the known keys and their validators (settings.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/time.h"
#include "core/tsk.h"
#include "registry/settings.h"

/* NUMBER UNIT groups, or one bare number: digits with an optional fraction, nothing else. */
static int
duration_form(const char *s)
{
	const char *p = s;

	if (*p == '\0')
		return 0;
	while (*p != '\0') {
		if (*p < '0' || *p > '9')
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
		if (*p == '.') {
			p++;
			if (*p < '0' || *p > '9')
				return 0;
			while (*p >= '0' && *p <= '9')
				p++;
		}
		if (*p == '\0')
			return p == s + strspn(s, "0123456789."); /* a bare number, alone */
		if (strncmp(p, "ms", 2) == 0 || strncmp(p, "us", 2) == 0)
			p += 2;
		else if (strchr("smhdw", *p) != NULL)
			p++;
		else
			return 0;
	}
	return 1;
}

int
tsk_setting_parse_duration(const json_t *v, int64_t *us)
{
	int64_t d;

	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (!duration_form(s) || tsk_duration_parse(s, &d) != TSK_OK)
			return TSK_EINVAL;
	} else if (json_is_number(v)) {
		double n = json_number_value(v);
		if (!isfinite(n) || n <= 0 || n > (double)(TSK_SETTING_DURATION_MAX / TSK_US_PER_S))
			return TSK_EINVAL;
		d = (int64_t)llround(n * 1e6);
	} else {
		return TSK_EINVAL;
	}
	if (d <= 0 || d > TSK_SETTING_DURATION_MAX)
		return TSK_EINVAL;
	*us = d;
	return TSK_OK;
}

/* "forever" and "none" keep forever; so do the "", "0" and 0 that were stored before validation
 * (accepted when reading, refused by `set`). */
static int
is_forever(const json_t *v, int legacy)
{
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		return strcmp(s, "forever") == 0 || strcmp(s, "none") == 0 ||
		    (legacy && (strcmp(s, "") == 0 || strcmp(s, "0") == 0));
	}
	return legacy && json_is_number(v) && json_number_value(v) == 0;
}

static int
bad(const struct tsk_setting_def *d, const json_t *v, char *err, size_t errlen)
{
	char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	int rc = tsk_seterr(err, errlen, TSK_EINVAL, "setting %s: %.100s is not %s", d->key, text ? text : "this",
	    d->what);

	free(text);
	return rc;
}

static int
check_duration(const struct tsk_setting_def *d, const json_t *v, char *err, size_t errlen)
{
	int64_t us;

	return tsk_setting_parse_duration(v, &us) == TSK_OK ? TSK_OK : bad(d, v, err, errlen);
}

static int
check_retention(const struct tsk_setting_def *d, const json_t *v, char *err, size_t errlen)
{
	return is_forever(v, 0) ? TSK_OK : check_duration(d, v, err, errlen);
}

static int
check_bool(const struct tsk_setting_def *d, const json_t *v, char *err, size_t errlen)
{
	return json_is_boolean(v) ? TSK_OK : bad(d, v, err, errlen);
}

/* A webhook address: http:// or https://, printable ASCII, no space. */
static int
check_url(const struct tsk_setting_def *d, const json_t *v, char *err, size_t errlen)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;

	if (s == NULL || (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0) || strlen(s) > 2000)
		return bad(d, v, err, errlen);
	for (const char *p = s; *p != '\0'; p++)
		if (*p <= ' ' || *p > '~')
			return bad(d, v, err, errlen);
	return TSK_OK;
}

/* A signing secret: 16 to 256 bytes of printable ASCII. */
static int
check_secret(const struct tsk_setting_def *d, const json_t *v, char *err, size_t errlen)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;

	if (s == NULL || strlen(s) < 16 || strlen(s) > 256)
		return bad(d, v, err, errlen);
	for (const char *p = s; *p != '\0'; p++)
		if (*p < ' ' || *p > '~')
			return bad(d, v, err, errlen);
	return TSK_OK;
}

#define DURATION "a duration (positive: 30d, 1h, 90m, 1h30m; a bare number is seconds)"

const struct tsk_setting_def tsk_setting_defs[] = {
	{ "archive_messages", "false", "true or false", check_bool },
	{ "max_future", "1d", DURATION, check_duration },
	{ "offline_after", "1h", DURATION, check_duration },
	{ "raw_retention", "7d", DURATION, check_duration },
	{ "retention", "forever", DURATION " or forever (also: none)", check_retention },
	{ "webhook_secret", NULL, "16 to 256 printable ASCII characters", check_secret },
	{ "webhook_url", NULL, "an http:// or https:// URL", check_url },
	{ NULL, NULL, NULL, NULL }
};

const struct tsk_setting_def *
tsk_setting_find(const char *key)
{
	for (const struct tsk_setting_def *d = tsk_setting_defs; key != NULL && d->key != NULL; d++)
		if (strcmp(d->key, key) == 0)
			return d;
	return NULL;
}

int
tsk_setting_check(const char *key, const json_t *value, char *err, size_t errlen)
{
	const struct tsk_setting_def *d = tsk_setting_find(key);

	if (d == NULL) {
		char known[256] = "";
		for (d = tsk_setting_defs; d->key != NULL; d++)
			snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", known[0] ? ", " : "", d->key);
		return tsk_seterr(err, errlen, TSK_EINVAL, "unknown setting \"%.64s\" (known: %s)", key ? key : "", known);
	}
	if (value == NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "setting %s needs a value", key);
	return d->check(d, value, err, errlen);
}

int
tsk_setting_duration(const json_t *settings, const char *tenant, const char *key, int64_t *us, char *err,
    size_t errlen)
{
	const struct tsk_setting_def *d = tsk_setting_find(key);
	const json_t *v = json_object_get(settings, key);
	int forever_ok = d != NULL && d->check == check_retention;

	if (d == NULL || (d->check != check_duration && !forever_ok))
		return tsk_seterr(err, errlen, TSK_EINVAL, "\"%s\" is not a duration setting", key ? key : "");
	if (v == NULL || json_is_null(v)) {
		json_t *dv = json_string(d->dflt);
		int rc = forever_ok && is_forever(dv, 0) ? (*us = 0, TSK_OK) : tsk_setting_parse_duration(dv, us);
		json_decref(dv);
		return rc;
	}
	if (forever_ok && is_forever(v, 1)) {
		*us = 0;
		return TSK_OK;
	}
	if (tsk_setting_parse_duration(v, us) == TSK_OK)
		return TSK_OK;
	char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	int rc = tsk_seterr(err, errlen, TSK_EINVAL, "%s%s%ssetting %s %.100s is not %s", tenant ? "tenant " : "",
	    tenant ? tenant : "", tenant ? ": " : "", key, text ? text : "", d->what);
	free(text);
	return rc;
}
