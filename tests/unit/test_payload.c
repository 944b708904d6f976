/*
 * The payload parsers against the table in tests/data/payloads.txt (the format is described at the top
 * of that file), plus a few API checks that do not fit a table. One TAP line per table case.
 * Run from the repository root; TSK_PAYLOAD_TABLE overrides the table's path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/payload.h"
#include "tap.h"
#include "core/time.h"
#include "core/tsk.h"

#define TABLE "tests/data/payloads.txt"
#define MAXLINES 64

struct group {
	int lineno;             /* of the first line */
	char name[200];
	char *hint;             /* "hint:" directive */
	int64_t arrival_us;
	char *lines[MAXLINES];  /* input and expectations, without comments and directives */
	int n;
};

/* Numbers compare by value: the parser makes reals where the table writes integers. */
static int
same_json(json_t *a, json_t *b)
{
	const char *key;
	json_t *x;
	size_t i;

	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	if (json_typeof(a) != json_typeof(b))
		return 0;
	switch (json_typeof(a)) {
	case JSON_OBJECT:
		if (json_object_size(a) != json_object_size(b))
			return 0;
		json_object_foreach(a, key, x)
			if (json_object_get(b, key) == NULL || !same_json(x, json_object_get(b, key)))
				return 0;
		return 1;
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return 0;
		json_array_foreach(a, i, x)
			if (!same_json(x, json_array_get(b, i)))
				return 0;
		return 1;
	default:
		return json_equal(a, b);
	}
}

static void
diag_json(const char *what, json_t *v)
{
	char *s = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
	printf("#   %s %s\n", what, s != NULL ? s : "(none)");
	free(s);
}

static int
hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The payload line with its specials: <empty>, <spaces N>, <large N> (a single-value object padded to N
 * bytes), <hex HEX...>. Returns a malloc'd buffer and its length. */
static char *
payload_bytes(const char *line, size_t *len)
{
	char *buf;
	size_t n;

	if (strcmp(line, "<empty>") == 0) {
		*len = 0;
		return strdup("");
	}
	if (sscanf(line, "<spaces %zu>", &n) == 1 || sscanf(line, "<large %zu>", &n) == 1) {
		const char *obj = line[1] == 'l' ? "{\"value\": 1}" : "";
		if ((buf = malloc(n + 1)) == NULL)
			return NULL;
		memset(buf, ' ', n);
		memcpy(buf, obj, strlen(obj));
		buf[n] = '\0';
		*len = n;
		return buf;
	}
	if (strncmp(line, "<hex ", 5) == 0) {
		const char *p = line + 5;
		if ((buf = malloc(strlen(p) / 2 + 1)) == NULL)
			return NULL;
		for (n = 0; hexval(p[0]) >= 0 && hexval(p[1]) >= 0; p += 2)
			buf[n++] = (char)(hexval(p[0]) << 4 | hexval(p[1]));
		buf[n] = '\0';
		*len = n;
		return buf;
	}
	*len = strlen(line);
	return strdup(line);
}

/* An expected reading with the table's shorthand filled in: unit, site and asset_tag default to null and
 * labels to {}. */
static json_t *
expected_reading(const char *line)
{
	static const char *const nullable[] = { "unit", "site", "asset_tag" };
	json_error_t je;
	json_t *v = json_loads(line, 0, &je);

	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < 3; i++)
		if (json_object_get(v, nullable[i]) == NULL)
			json_object_set_new(v, nullable[i], json_null());
	if (json_object_get(v, "labels") == NULL)
		json_object_set_new(v, "labels", json_object());
	return v;
}

/* Each key of `want` must be in the info, with the same value. */
static int
info_matches(const struct tsk_payload_info *info, const char *line)
{
	json_t *want = json_loads(line, 0, NULL), *got = tsk_payload_info_to_json(info), *x;
	const char *key;
	int ok = want != NULL && got != NULL;

	if (ok)
		json_object_foreach(want, key, x)
			if (json_object_get(got, key) == NULL || !same_json(x, json_object_get(got, key)))
				ok = 0;
	if (!ok) {
		diag_json("info want", want);
		diag_json("info got ", got);
	}
	json_decref(want);
	json_decref(got);
	return ok;
}

/* A sentinel reading sits in `out` before every case: parsers append, and a rejection must leave it alone. */
static int
sentinel(struct tsk_readings *rs)
{
	return tsk_readings_add(rs, "sentinel", "d", "s", 0, 42, NULL, NULL, NULL, NULL) != NULL;
}

static int
run_input(const struct group *g, const char *payload, size_t len, struct tsk_readings *out,
    struct tsk_payload_info *info, char *err)
{
	const char *topic = g->lines[0];
	json_t *env;
	int rc;

	if (strcmp(topic, "@line") == 0)
		return tsk_payload_parse_line(g->hint, payload, len, g->arrival_us, out, info, err, TSK_ERRLEN);
	if (strcmp(topic, "@envelope") == 0) {
		if ((rc = tsk_payload_load(payload, len, TSK_ENVELOPE_MAX, &env, info, err, TSK_ERRLEN)) != TSK_OK)
			return rc;
		rc = tsk_payload_parse_envelope(g->hint, env, g->arrival_us, out, info, err, TSK_ERRLEN);
		json_decref(env);
		return rc;
	}
	return tsk_payload_parse(g->hint, topic, payload, len, g->arrival_us, out, info, err, TSK_ERRLEN);
}

static int
check_expectations(const struct group *g, int rc, const char *err, const struct tsk_readings *out,
    const struct tsk_payload_info *info)
{
	size_t want_n = 0;
	int pass = 1, any = 0, want_error = 0;

	for (int i = 2; i < g->n; i++) {
		const char *e = g->lines[i];
		any = 1;
		if (strncmp(e, "error: ", 7) == 0) {
			int reason = tsk_payload_reason_of(e + 7);
			want_error = 1;
			if (rc != TSK_EINVAL || strcmp(err, e + 7) != 0 || reason < 0 || (int)info->reason != reason) {
				printf("#   want %s\n#   got rc %d, err \"%s\", detail \"%s\"\n", e, rc, rc ? err : "",
				    info->detail);
				pass = 0;
			}
		} else if (strncmp(e, "info: ", 6) == 0) {
			pass &= info_matches(info, e + 6);
		} else if (strcmp(e, "none") == 0) {
			/* accepted with no readings: checked by the count below */
		} else {
			json_t *want = expected_reading(e);
			json_t *got = out->n > 1 + want_n ? tsk_reading_to_json(&out->v[1 + want_n]) : NULL;
			if (want == NULL || got == NULL || !same_json(want, got)) {
				printf("#   reading %zu differs (line %s)\n", want_n + 1, want == NULL ? "is not JSON" : "ok");
				diag_json("want", want);
				diag_json("got ", got);
				pass = 0;
			}
			json_decref(want);
			json_decref(got);
			want_n++;
		}
	}
	if (!any) {
		printf("#   the group has no expectation\n");
		pass = 0;
	}
	if (!want_error && rc != TSK_OK) {
		printf("#   rejected: %s (%s)\n", err, info->detail);
		pass = 0;
	}
	if (out->n != 1 + want_n || strcmp(out->v[0].tenant, "sentinel") != 0) {
		printf("#   %zu readings, %zu expected\n", out->n - 1, want_n);
		for (size_t i = 1 + want_n; i < out->n; i++) {
			json_t *extra = tsk_reading_to_json(&out->v[i]);
			diag_json("extra", extra);
			json_decref(extra);
		}
		pass = 0;
	}
	return pass;
}

static void
run_group(const struct group *g)
{
	struct tsk_readings out;
	struct tsk_payload_info info;
	char err[TSK_ERRLEN] = "";
	char *payload;
	size_t len;
	int rc;

	if (g->n < 3) {
		ok(0, "%s:%d %s: a group needs an input, a payload and an expectation", TABLE, g->lineno, g->name);
		return;
	}
	tsk_readings_init(&out);
	tsk_payload_info_init(&info);
	if ((payload = payload_bytes(g->lines[1], &len)) == NULL || !sentinel(&out)) {
		ok(0, "out of memory");
		exit(1);
	}
	rc = run_input(g, payload, len, &out, &info, err);
	ok(check_expectations(g, rc, err, &out, &info), "%s:%d %s", TABLE, g->lineno, g->name);
	free(payload);
	tsk_payload_info_free(&info);
	tsk_readings_free(&out);
}

static void
group_reset(struct group *g)
{
	for (int i = 0; i < g->n; i++)
		free(g->lines[i]);
	free(g->hint);
	memset(g, 0, sizeof *g);
	tsk_time_parse_rfc3339("2025-10-20T12:00:00Z", &g->arrival_us);
}

static void
group_line(struct group *g, const char *line, int lineno)
{
	if (g->lineno == 0)
		g->lineno = lineno;
	if (line[0] == '#') {
		if (g->name[0] == '\0')
			snprintf(g->name, sizeof g->name, "%s", line + 1 + (line[1] == ' '));
	} else if (strncmp(line, "hint: ", 6) == 0) {
		free(g->hint);
		g->hint = strdup(line + 6);
	} else if (strncmp(line, "arrival: ", 9) == 0) {
		if (tsk_time_parse_rfc3339(line + 9, &g->arrival_us) != TSK_OK)
			printf("# %s:%d: bad arrival time\n", TABLE, lineno);
	} else if (g->n < MAXLINES) {
		g->lines[g->n++] = strdup(line);
	}
}

static void
run_table(const char *path)
{
	FILE *f = fopen(path, "r");
	struct group g;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0;

	if (f == NULL) {
		ok(0, "open %s (run the tests from the repository root)", path);
		return;
	}
	memset(&g, 0, sizeof g);
	group_reset(&g);
	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len > 0) {
			group_line(&g, line, lineno);
			continue;
		}
		if (g.n > 0)
			run_group(&g);
		group_reset(&g);
	}
	if (g.n > 0)
		run_group(&g);
	group_reset(&g);
	free(line);
	fclose(f);
}

/* What a table cannot show: NULL info, batching into one list, the enum strings, info as JSON. */
static void
api_checks(void)
{
	struct tsk_readings out;
	struct tsk_payload_info info;
	char err[TSK_ERRLEN];
	json_t *j, *v;
	int64_t now = INT64_C(1760961600) * TSK_US_PER_S;
	const char *senml = "[{\"bn\":\"GW\",\"bt\":1760961600},{\"n\":\"gateway\",\"vs\":\"G1\"},"
	    "{\"n\":\"A\",\"u\":\"Cel\",\"v\":1},{\"n\":\"A\",\"u\":\"Cel\",\"v\":2}]";

	tsk_readings_init(&out);
	tsk_payload_info_init(&info);
	ok(tsk_payload_parse(NULL, "tenants/umc/devices/d/sensors/s", "1", 1, now, &out, NULL, err, sizeof err) ==
	    TSK_OK && out.n == 1, "info may be NULL");
	ok(tsk_payload_parse(NULL, "tenants/umc/devices/d/sensors/t", "2", 1, now, &out, &info, err, sizeof err) ==
	    TSK_OK && out.n == 2 && info.readings == 1, "readings are appended, info counts this message only");
	ok(tsk_payload_parse(NULL, "x", "2", 1, now, &out, NULL, NULL, 0) == TSK_EINVAL && out.n == 2,
	    "err may be NULL");
	ok(tsk_payload_parse("umc", "tenants/umc/x", "[]", 2, now, &out, &info, err, sizeof err) == TSK_EINVAL &&
	    info.reason == TSK_PAYLOAD_NO_FORMAT && info.detail[0] != '\0' && info.tenant[0] == 'u',
	    "a rejection keeps the tenant and says why in detail: %s", info.detail);
	for (int i = 0; i < TSK_PAYLOAD_NREASONS; i++)
		is_int(tsk_payload_reason_of(tsk_payload_reason_str(i)), i, "reason %d round-trips (%s)", i,
		    tsk_payload_reason_str(i));
	is_str(tsk_payload_reason_str(TSK_PAYLOAD_NREASONS), "?", "reason out of range");
	is_int(tsk_payload_reason_of("nonsense"), -1, "unknown reason string");
	is_str(tsk_payload_skip_str(TSK_SKIP_DUPLICATE), "duplicate", "skip string");

	ok(tsk_payload_parse(NULL, "tenants/umc/x", senml, strlen(senml), now, &out, &info, err, sizeof err) ==
	    TSK_OK, "SenML for info_to_json");
	j = tsk_payload_info_to_json(&info);
	v = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:{s:i}, s:s}", "format", "senml", "tenant", "umc",
	    "device_id", "GW", "timestamp", "2025-10-20T12:00:00Z", "readings", 1, "skipped", 1, "skips",
	    "duplicate", 1, "gateway_id", "G1");
	ok(j != NULL && json_equal(j, v), "info as JSON");
	if (j == NULL || !json_equal(j, v)) {
		diag_json("got ", j);
		diag_json("want", v);
	}
	json_decref(j);
	json_decref(v);

	ok(tsk_payload_load("{\"a\": 1}", 8, 100, &j, NULL, err, sizeof err) == TSK_OK && json_is_object(j),
	    "tsk_payload_load");
	json_decref(j);
	ok(tsk_payload_load("{\"a\": 1}", 8, 7, &j, &info, err, sizeof err) == TSK_EINVAL &&
	    strcmp(err, "payload too large") == 0 && info.reason == TSK_PAYLOAD_TOO_LARGE,
	    "tsk_payload_load honours max");

	/* A tree loaded with JSON_ALLOW_NUL (as tsk_jsonl does) may hide NUL bytes from C strings. */
	j = json_loads("{\"topic\":\"tenants/umc/devices/d/sensors/s\",\"payload\":{\"value\":1,\"labels\":"
	    "{\"a\":\"x\\u0000y\"}}}", JSON_ALLOW_NUL, NULL);
	ok(j != NULL && tsk_payload_parse_envelope(NULL, j, now, &out, &info, err, sizeof err) == TSK_EINVAL &&
	    strcmp(err, "not json") == 0, "NUL inside an envelope's payload object");
	json_decref(j);
	j = json_loads("{\"topic\":\"tenants/umc\\u0000/devices/d/sensors/s\",\"payload\":1}", JSON_ALLOW_NUL, NULL);
	ok(j != NULL && tsk_payload_parse_envelope(NULL, j, now, &out, &info, err, sizeof err) == TSK_EINVAL &&
	    strcmp(err, "bad topic") == 0, "NUL inside an envelope's topic");
	json_decref(j);
	is_int(out.n, 3, "no rejection added readings");

	tsk_payload_info_free(&info);
	tsk_readings_free(&out);
}

int
main(void)
{
	const char *path = getenv("TSK_PAYLOAD_TABLE");

	run_table(path != NULL ? path : TABLE);
	api_checks();
	return done_testing();
}
