/*
 * Tenant settings (public.tenant.settings, a JSON object): the known keys, one table with a validator
 * each, shared by `tsk-tenant set` and whatever else writes or reads settings (the HTTP API, ingest).
 *
 * Durations are a JSON string of one or more NUMBER UNIT groups, units us, ms, s, m, h, d, w ("90d",
 * "1h30m", "1.5h"), or a bare number of seconds (string or JSON number): positive, at most 36500d.
 * No sign, exponent, hex, space, "inf" or "nan".
 */
#ifndef TSK_SETTINGS_H
#define TSK_SETTINGS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define TSK_SETTING_DURATION_MAX (INT64_C(36500) * 86400 * 1000000) /* 100 years, in microseconds */

struct tsk_setting_def {
	const char *key;
	const char *dflt;   /* the default, as text ("1h"; "forever"), or NULL */
	const char *what;   /* what a valid value is, for error messages */
	/* TSK_OK or TSK_EINVAL (err says why, naming the key). v is never NULL. */
	int (*check)(const struct tsk_setting_def *d, const json_t *v, char *err, size_t errlen);
};

/* The known keys, ending with a { NULL } entry. */
extern const struct tsk_setting_def tsk_setting_defs[];

/* The definition of a key, or NULL when it is not a known setting. */
const struct tsk_setting_def *tsk_setting_find(const char *key);

/* Whether value is valid for key: TSK_OK, or TSK_EINVAL with why (also for an unknown key, listing the
 * known ones). What `set` checks before storing anything. */
int tsk_setting_check(const char *key, const json_t *value, char *err, size_t errlen);

/* Parses a duration value (see above) into microseconds: TSK_OK or TSK_EINVAL (no message). */
int tsk_setting_parse_duration(const json_t *v, int64_t *us);

/*
 * A duration setting of a tenant's settings object (may be NULL) in microseconds: the key's default when
 * it is absent or null. For retention, 0 means keep forever ("forever", "none"; also the "", "0" and 0
 * stored before settings were validated). A stored value that is not valid (written before validation,
 * or by hand in SQL) is TSK_EINVAL with a message naming the tenant (may be NULL) and the key.
 */
int tsk_setting_duration(const json_t *settings, const char *tenant, const char *key, int64_t *us, char *err,
    size_t errlen);

#endif
