#include <stdlib.h>
#include <string.h>

#include "model/topic.h"
#include "core/text.h"
#include "core/tsk.h"

/* The longest form has 7 segments; beyond that we only need to know that there are more. */
#define MAXSEG 8

int
tsk_topic_slug_valid(const char *slug)
{
	size_t n;

	if (slug == NULL || !((slug[0] >= 'a' && slug[0] <= 'z') || (slug[0] >= '0' && slug[0] <= '9')))
		return 0;
	for (n = 1; slug[n] != '\0'; n++) {
		char c = slug[n];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return n <= TSK_SLUG_MAX;
}

/* Matches the segments against a shape where NULL means "any non-empty segment". */
static int
shape(char **seg, size_t n, const char *const *want, size_t nwant)
{
	if (n != nwant)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (want[i] != NULL && strcmp(seg[i], want[i]) != 0)
			return 0;
	return 1;
}

static int
classify(struct tsk_topic *t, char **seg, size_t n, char *err, size_t errlen)
{
	static const char *const form1[] = { "tenants", NULL, "devices", NULL, "sensors", NULL };
	static const char *const form2[] = { "tenants", NULL, "sites", NULL, "assets", NULL, "telemetry" };
	static const char *const legacy[] = { "tenants", NULL, "assets", NULL, "telemetry" };

	if (shape(seg, n, form1, 6)) {
		if (*seg[3] == '\0' || *seg[5] == '\0')
			return tsk_seterr(err, errlen, TSK_EINVAL, "empty device or sensor id in topic");
		t->form = TSK_TOPIC_SENSOR;
		t->device_id = seg[3];
		t->sensor_id = seg[5];
	} else if (shape(seg, n, form2, 7)) {
		/* Decoded in place; like Python's urllib.parse.unquote, which the original system used, a '%' not
		 * followed by two hex digits is kept as it is, and '+' is not a space. */
		size_t seglen = strlen(seg[3]);
		size_t len = (size_t)tsk_pct_decode(seg[3], seglen, seg[3], seglen + 1, 0);
		if (len == 0 || *seg[5] == '\0')
			return tsk_seterr(err, errlen, TSK_EINVAL, "empty site or asset tag in topic");
		/* Percent-decoding can produce any byte; the site is stored as text and in JSON. */
		if (!tsk_utf8_valid(seg[3], len))
			return tsk_seterr(err, errlen, TSK_EINVAL, "site is not valid UTF-8 once decoded");
		t->form = TSK_TOPIC_SITE;
		t->site = seg[3];
		t->asset_tag = seg[5];
	} else if (shape(seg, n, legacy, 5)) {
		if (*seg[3] == '\0')
			return tsk_seterr(err, errlen, TSK_EINVAL, "empty asset tag in topic");
		t->form = TSK_TOPIC_OTHER;
		t->asset_tag = seg[3];
	} else {
		t->form = TSK_TOPIC_OTHER;
	}
	return TSK_OK;
}

int
tsk_topic_parse(const char *topic, struct tsk_topic *out, char *err, size_t errlen)
{
	char *seg[MAXSEG], *p;
	size_t n = 0, len;
	int rc;

	memset(out, 0, sizeof *out);
	if (topic == NULL || *topic == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "empty topic");
	len = strlen(topic);
	if (!tsk_utf8_valid(topic, len))
		return tsk_seterr(err, errlen, TSK_EINVAL, "topic is not valid UTF-8");
	/* Wildcards are legal in subscriptions only; a message published to one is forged or broken. */
	if (strpbrk(topic, "+#") != NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "wildcard in topic");
	if ((out->buf = malloc(len + 1)) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	memcpy(out->buf, topic, len + 1);
	for (p = out->buf;; p++) {
		char *slash = strchr(p, '/');
		if (n < MAXSEG)
			seg[n] = p;
		n++;
		if (slash == NULL)
			break;
		*slash = '\0';
		p = slash;
	}
	if (strcmp(seg[0], "tenants") != 0) {
		rc = tsk_seterr(err, errlen, TSK_EINVAL, "topic does not start with tenants/");
		goto fail;
	}
	if (n < 2 || !tsk_topic_slug_valid(seg[1])) {
		rc = tsk_seterr(err, errlen, TSK_EINVAL, "invalid tenant slug in topic");
		goto fail;
	}
	memcpy(out->slug, seg[1], strlen(seg[1]) + 1);
	if ((rc = classify(out, seg, n, err, errlen)) != TSK_OK)
		goto fail;
	return TSK_OK;
fail:
	tsk_topic_free(out);
	return rc;
}

void
tsk_topic_free(struct tsk_topic *t)
{
	free(t->buf);
	memset(t, 0, sizeof *t);
}
