/* Tenant settings validation (registry/settings.h) and the UTF-8 check of emails (core/text.h). */
#include <jansson.h>

#include "tap.h"
#include "core/text.h"
#include "core/tsk.h"
#include "registry/account.h"
#include "registry/settings.h"

static int
check(const char *key, const char *json)
{
	char err[TSK_ERRLEN];
	json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
	int rc = tsk_setting_check(key, v, err, sizeof err);

	json_decref(v);
	return rc;
}

static int64_t
stored(const char *settings, const char *key, int *rc)
{
	char err[TSK_ERRLEN];
	json_t *s = json_loads(settings, 0, NULL);
	int64_t us = -1;

	*rc = tsk_setting_duration(s, "t", key, &us, err, sizeof err);
	json_decref(s);
	return us;
}

int
main(void)
{
	static const char *const good[][2] = {
		{ "retention", "\"30d\"" }, { "retention", "\"forever\"" }, { "retention", "\"none\"" },
		{ "retention", "86400" }, { "offline_after", "\"90m\"" }, { "offline_after", "\"1h30m\"" },
		{ "offline_after", "\"1.5h\"" }, { "offline_after", "\"3600\"" }, { "offline_after", "\"500ms\"" },
		{ "max_future", "\"1d\"" }, { "raw_retention", "\"7d\"" }, { "archive_messages", "true" },
		{ "archive_messages", "false" }, { "retention", "\"36500d\"" },
	};
	static const char *const bad[][2] = {
		{ "retention", "\"5x\"" }, { "retention", "\"-30d\"" }, { "retention", "\"\"" }, { "retention", "\"0\"" },
		{ "retention", "0" }, { "retention", "-30" }, { "retention", "\"inf\"" }, { "retention", "\"nan\"" },
		{ "retention", "\"1e3\"" }, { "retention", "\"0x10\"" }, { "retention", "\" 30d\"" },
		{ "retention", "\"30d \"" }, { "retention", "\"+30d\"" }, { "retention", "\"30 d\"" },
		{ "retention", "\"d\"" }, { "retention", "\"1.d\"" }, { "retention", "\".5d\"" },
		{ "retention", "\"36501d\"" }, { "retention", "1e300" }, { "retention", "true" },
		{ "retention", "null" }, { "retention", "{}" }, { "offline_after", "\"soon\"" },
		{ "offline_after", "\"forever\"" }, { "offline_after", "\"0s\"" }, { "offline_after", "\"0.0000001s\"" },
		{ "max_future", "\"none\"" }, { "raw_retention", "\"forever\"" }, { "archive_messages", "\"yes\"" },
		{ "archive_messages", "1" }, { "colour", "\"blue\"" }, { "", "1" },
	};
	char err[TSK_ERRLEN], norm[256];
	int rc;

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		is_int(check(good[i][0], good[i][1]), TSK_OK, "%s %s is valid", good[i][0], good[i][1]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		is_int(check(bad[i][0], bad[i][1]), TSK_EINVAL, "%s %s is refused", bad[i][0], bad[i][1]);
	is_int(tsk_setting_check("retention", NULL, err, sizeof err), TSK_EINVAL, "no value");
	ok(tsk_setting_find("max_future") != NULL && tsk_setting_find("nope") == NULL, "tsk_setting_find");

	/* Reading back: defaults, forever, and what was stored before validation. */
	is_int(stored("{}", "offline_after", &rc), INT64_C(3600000000), "offline_after defaults to 1h");
	is_int(stored("{}", "max_future", &rc), INT64_C(86400000000), "max_future defaults to 1d");
	is_int(stored("{}", "raw_retention", &rc), INT64_C(7) * 86400000000, "raw_retention defaults to 7d");
	is_int(stored("{}", "retention", &rc), 0, "retention defaults to forever (0)");
	is_int(stored("{\"retention\": null}", "retention", &rc), 0, "null: the default");
	is_int(stored("{\"retention\": \"90d\"}", "retention", &rc), INT64_C(90) * 86400000000, "90d");
	is_int(stored("{\"retention\": 60}", "retention", &rc), INT64_C(60000000), "a number is seconds");
	is_int(stored("{\"retention\": \"\"}", "retention", &rc), 0, "legacy \"\": forever");
	is_int(rc, TSK_OK, "without error");
	is_int(stored("{\"retention\": 0}", "retention", &rc), 0, "legacy 0: forever");
	stored("{\"retention\": \"5x\"}", "retention", &rc);
	is_int(rc, TSK_EINVAL, "a bad stored retention is an error");
	stored("{\"retention\": -30}", "retention", &rc);
	is_int(rc, TSK_EINVAL, "so is a negative number");
	stored("{\"offline_after\": \"\"}", "offline_after", &rc);
	is_int(rc, TSK_EINVAL, "an empty offline_after too (only retention has forever)");
	stored("{\"offline_after\": 1e300}", "offline_after", &rc);
	is_int(rc, TSK_EINVAL, "and a number too large to be microseconds");
	stored("{}", "archive_messages", &rc);
	is_int(rc, TSK_EINVAL, "archive_messages is not a duration setting");
	json_t *s = json_loads("{\"retention\": \"5x\"}", 0, NULL);
	int64_t us;
	tsk_setting_duration(s, "umc", "retention", &us, err, sizeof err);
	json_decref(s);
	ok(strstr(err, "tenant umc: setting retention \"5x\" is not a duration") != NULL, "the message: %s", err);

	/* UTF-8 */
	ok(tsk_utf8_valid("abc", 3), "ASCII");
	ok(tsk_utf8_valid("\xc3\x9c\xe2\x82\xac\xf0\x9f\x98\x80", 9), "Ü, €, an emoji");
	ok(!tsk_utf8_valid("\xff", 1), "0xff");
	ok(!tsk_utf8_valid("\xc3", 1), "a truncated sequence");
	ok(!tsk_utf8_valid("\xc0\xaf", 2), "an overlong form");
	ok(!tsk_utf8_valid("\xe0\x80\xaf", 3), "an overlong 3-byte form");
	ok(!tsk_utf8_valid("\xed\xa0\x80", 3), "a surrogate");
	ok(!tsk_utf8_valid("\xf4\x90\x80\x80", 4), "past U+10FFFF");
	ok(!tsk_utf8_valid("a\0b", 3), "a NUL byte");
	is_int(tsk_email_check("\xff@x.y", norm, sizeof norm, err, sizeof err), TSK_EINVAL, "email of invalid UTF-8");
	is_str(err, "invalid email address: not valid UTF-8", "says so, without the bytes");
	is_int(tsk_email_check("Ab@X.Y", norm, sizeof norm, err, sizeof err), TSK_OK, "an ASCII email");
	is_str(norm, "ab@x.y", "lower-cased");
	return done_testing();
}
