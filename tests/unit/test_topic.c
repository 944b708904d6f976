/* MQTT topic forms (tsk-formats(5)), slugs and UTF-8 checks. */
#include "tap.h"
#include "core/text.h"
#include "model/topic.h"
#include "core/tsk.h"

struct want {
	const char *topic;
	int form; /* 0: rejected */
	const char *slug, *device_id, *sensor_id, *site, *asset_tag;
};

static const struct want cases[] = {
	{ "tenants/umc/devices/hvac-001/sensors/temperature", TSK_TOPIC_SENSOR, "umc", "hvac-001", "temperature", NULL, NULL },
	{ "tenants/acme/devices/chiller-42/sensors/pressure", TSK_TOPIC_SENSOR, "acme", "chiller-42", "pressure", NULL, NULL },
	{ "tenants/umc/sites/Bloco%20A/assets/CH-01/telemetry", TSK_TOPIC_SITE, "umc", NULL, NULL, "Bloco A", "CH-01" },
	{ "tenants/umc/sites/Casa%20de%20M%C3%A1quinas/assets/CH%2001/telemetry", TSK_TOPIC_SITE, "umc", NULL, NULL,
	    "Casa de Máquinas", "CH%2001" },
	{ "tenants/umc/sites/Máquinas/assets/CH-01/telemetry", TSK_TOPIC_SITE, "umc", NULL, NULL, "Máquinas", "CH-01" },
	{ "tenants/umc/sites/100%/assets/A/telemetry", TSK_TOPIC_SITE, "umc", NULL, NULL, "100%", "A" },
	{ "tenants/umc/sites/%4a%4B/assets/A/telemetry", TSK_TOPIC_SITE, "umc", NULL, NULL, "JK", "A" },
	{ "tenants/umc/sites/%2F/assets/A/telemetry", TSK_TOPIC_SITE, "umc", NULL, NULL, "/", "A" },
	{ "tenants/umc/assets/CH-01/telemetry", TSK_TOPIC_OTHER, "umc", NULL, NULL, NULL, "CH-01" },
	{ "tenants/umc/anything/else", TSK_TOPIC_OTHER, "umc", NULL, NULL, NULL, NULL },
	{ "tenants/umc", TSK_TOPIC_OTHER, "umc", NULL, NULL, NULL, NULL },
	{ "tenants/umc/", TSK_TOPIC_OTHER, "umc", NULL, NULL, NULL, NULL },
	{ "tenants/umc/devices/d/sensors/s/extra", TSK_TOPIC_OTHER, "umc", NULL, NULL, NULL, NULL },
	{ "tenants/umc/sites/s/assets/a/telemetry/x", TSK_TOPIC_OTHER, "umc", NULL, NULL, NULL, NULL },
	{ "tenants/umc/assets/a/telemetry/x/y/z/w/v", TSK_TOPIC_OTHER, "umc", NULL, NULL, NULL, NULL },
	{ "tenants/umc/devices/d/sensor/s", TSK_TOPIC_OTHER, "umc", NULL, NULL, NULL, NULL },
	{ "tenants/0/devices/d/sensors/s", TSK_TOPIC_SENSOR, "0", "d", "s", NULL, NULL },
	{ "tenants/uberlandia-medical-center/assets/a/telemetry", TSK_TOPIC_OTHER, "uberlandia-medical-center", NULL,
	    NULL, NULL, "a" },
	/* rejected */
	{ "", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenants", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenants/", 0, NULL, NULL, NULL, NULL, NULL },
	{ "/tenants/umc/assets/a/telemetry", 0, NULL, NULL, NULL, NULL, NULL },
	{ "Tenants/umc/assets/a/telemetry", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenant/umc/assets/a/telemetry", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenants/Umc/assets/a/telemetry", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenants/-umc/assets/a/telemetry", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenants/um_c/assets/a/telemetry", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenants/um c/assets/a/telemetry", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenants/a123456789012345678901234567890123456789012345678901234567890123/x", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenants/umc/devices//sensors/s", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenants/umc/devices/d/sensors/", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenants/umc/sites//assets/a/telemetry", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenants/umc/sites/s/assets//telemetry", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenants/umc/assets//telemetry", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenants/umc/sites/%00/assets/a/telemetry", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenants/umc/sites/%C3/assets/a/telemetry", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenants/umc/sites/%C0%AF/assets/a/telemetry", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenants/umc/devices/+/sensors/s", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenants/umc/#", 0, NULL, NULL, NULL, NULL, NULL },
	{ "tenants/umc/devices/\xff/sensors/s", 0, NULL, NULL, NULL, NULL, NULL },
};

static void
check(const struct want *w)
{
	struct tsk_topic t;
	char err[TSK_ERRLEN] = "";
	int rc = tsk_topic_parse(w->topic, &t, err, sizeof err);

	if (w->form == 0) {
		ok(rc == TSK_EINVAL && err[0] != '\0' && t.buf == NULL, "rejects \"%s\" (%s)", w->topic, err);
		return;
	}
	if (!ok(rc == TSK_OK && (int)t.form == w->form, "\"%s\" is form %d", w->topic, w->form))
		printf("#   rc %d form %d: %s\n", rc, (int)t.form, err);
	if (rc == TSK_OK) {
		int same = strcmp(t.slug, w->slug) == 0;
		const char *got[] = { t.device_id, t.sensor_id, t.site, t.asset_tag };
		const char *want[] = { w->device_id, w->sensor_id, w->site, w->asset_tag };
		for (int i = 0; i < 4; i++)
			same &= (got[i] == NULL && want[i] == NULL) ||
			    (got[i] != NULL && want[i] != NULL && strcmp(got[i], want[i]) == 0);
		if (!ok(same, "  its parts"))
			printf("#   slug %s device %s sensor %s site %s asset %s\n", t.slug, got[0] ? got[0] : "-",
			    got[1] ? got[1] : "-", got[2] ? got[2] : "-", got[3] ? got[3] : "-");
	}
	tsk_topic_free(&t);
}

int
main(void)
{
	struct tsk_topic t;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check(&cases[i]);
	ok(tsk_topic_parse(NULL, &t, NULL, 0) == TSK_EINVAL, "NULL topic, NULL err buffer");
	tsk_topic_free(&t);

	ok(tsk_topic_slug_valid("umc"), "slug umc");
	ok(tsk_topic_slug_valid("a-"), "slug a- (the regex allows a trailing dash)");
	ok(!tsk_topic_slug_valid(""), "empty slug");
	ok(!tsk_topic_slug_valid(NULL), "NULL slug");
	ok(!tsk_topic_slug_valid("a/b"), "slug with a slash");

	ok(tsk_utf8_valid("M\xc3\xa1quinas \xe2\x80\x93 \xf0\x9f\x98\x80", 18), "UTF-8 up to 4 bytes");
	ok(!tsk_utf8_valid("\xed\xa0\x80", 3), "surrogate");
	ok(!tsk_utf8_valid("\xe0\x80\xaf", 3), "overlong");
	ok(!tsk_utf8_valid("\xf4\x90\x80\x80", 4), "past U+10FFFF");
	ok(!tsk_utf8_valid("\xe2\x80", 2), "truncated sequence");
	ok(!tsk_utf8_valid("a\0b", 3), "NUL byte");
	return done_testing();
}
