/* lib/query/series.c without a database: bucket sizes, bucket alignment, filters, JSON forms. */
#include <stdlib.h>

#include "core/jsonl.h"
#include "query/series.h"
#include "tap.h"
#include "core/time.h"
#include "core/tsk.h"

static void
bucket(const char *s, long long want_s)
{
	char err[TSK_ERRLEN] = "";
	int64_t us = 0;
	int rc = tsk_series_bucket_parse(s, &us, err, sizeof err);

	if (want_s < 0) {
		ok(rc == TSK_EINVAL && err[0] != '\0', "bucket \"%s\" refused (%s)", s, err);
		return;
	}
	ok(rc == TSK_OK, "bucket \"%s\" accepted", s);
	is_int(us, want_s * TSK_US_PER_S, "bucket \"%s\" is %lld s", s, want_s);
}

static void
start(const char *ts, const char *size, const char *want)
{
	int64_t t = 0, b = 0;
	char buf[TSK_TIME_STRLEN];

	tsk_time_parse_rfc3339(ts, &t);
	tsk_series_bucket_parse(size, &b, NULL, 0);
	is_str(tsk_time_format(tsk_series_bucket_start(t, b), buf), want, "%s bucket of %s starts at %s", size, ts, want);
}

static char *
dump(json_t *v)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	tsk_jsonl_write(f, v);
	fclose(f);
	json_decref(v);
	if (len > 0)
		buf[len - 1] = '\0';
	return buf;
}

int
main(void)
{
	struct tsk_filter f;
	char err[TSK_ERRLEN];
	int64_t now = INT64_C(1760697000) * TSK_US_PER_S; /* 2025-10-17T10:30:00Z */
	char *s;

	bucket("1m", 60);
	bucket("5m", 300);
	bucket("15m", 900);
	bucket("1h", 3600);
	bucket("1d", 86400);
	bucket("7m", 420);
	bucket("90m", 5400);
	bucket("366d", 366 * 86400LL);
	bucket("0m", -1);
	bucket("-1h", -1);
	bucket("1.5h", -1);
	bucket("30s", -1);
	bucket("1w", -1);
	bucket("h", -1);
	bucket("1hh", -1);
	bucket("01h", -1);
	bucket("367d", -1);
	bucket("99999999999999999999m", -1);
	bucket("", -1);

	/* date_bin(size, ts, '2000-01-01'): floor towards the past, also before the origin */
	start("2025-10-17T10:37:12.5Z", "15m", "2025-10-17T10:30:00Z");
	start("2025-10-17T10:37:12Z", "1h", "2025-10-17T10:00:00Z");
	start("2025-10-17T10:37:12Z", "1d", "2025-10-17T00:00:00Z");
	start("2025-10-17T10:00:00Z", "1h", "2025-10-17T10:00:00Z");
	start("2025-10-17T10:37:12Z", "7m", "2025-10-17T10:35:00Z");
	start("1999-12-31T23:59:59Z", "1h", "1999-12-31T23:00:00Z");
	start("1999-12-31T23:59:59Z", "7m", "1999-12-31T23:53:00Z");
	start("1970-01-01T00:00:00Z", "1d", "1970-01-01T00:00:00Z");

	tsk_filter_init(&f);
	is_int(f.limit, -1, "no limit by default");
	ok(tsk_filter_set(&f, "device", "GW-1", now, err, sizeof err) == TSK_OK, "device");
	ok(tsk_filter_set(&f, "device", "GW-2", now, err, sizeof err) == TSK_OK, "a second device");
	ok(tsk_filter_set(&f, "sensor", "t'1\"", now, err, sizeof err) == TSK_OK, "a sensor id with quotes");
	is_int(f.ndevices, 2, "two devices");
	is_str(f.devices[1], "GW-2", "in order");
	ok(tsk_filter_set(&f, "device", "", now, err, sizeof err) == TSK_EINVAL, "an empty id is refused");
	ok(tsk_filter_set(&f, "from", "-24h", now, err, sizeof err) == TSK_OK && f.has_from &&
	    f.from_us == now - 86400 * TSK_US_PER_S, "relative --from");
	ok(tsk_filter_set(&f, "to", "2025-10-17T10:30:00Z", now, err, sizeof err) == TSK_OK && f.to_us == now,
	    "RFC 3339 --to");
	ok(tsk_filter_check(&f, err, sizeof err) == TSK_OK, "from before to");
	ok(tsk_filter_set(&f, "from", "2025-10-18", now, err, sizeof err) == TSK_OK, "a later --from");
	ok(tsk_filter_check(&f, err, sizeof err) == TSK_EINVAL, "from after to is refused");
	is_str(err, "--from 2025-10-18T00:00:00Z is after --to 2025-10-17T10:30:00Z", "and says so");
	ok(tsk_filter_set(&f, "from", "yesterday", now, err, sizeof err) == TSK_EINVAL, "an unparseable time");
	ok(strstr(err, "\"yesterday\"") != NULL, "names the value: %s", err);
	ok(tsk_filter_set(&f, "limit", "-1", now, err, sizeof err) == TSK_EINVAL, "a negative limit");
	ok(tsk_filter_set(&f, "offset", "1e3", now, err, sizeof err) == TSK_EINVAL, "a non-integer offset");
	ok(tsk_filter_set(&f, "limit", "0", now, err, sizeof err) == TSK_OK && f.limit == 0, "limit 0");
	ok(tsk_filter_set(&f, "order", "asc", now, err, sizeof err) == TSK_OK && f.order == TSK_ORDER_ASC, "asc");
	ok(tsk_filter_set(&f, "order", "up", now, err, sizeof err) == TSK_EINVAL, "an unknown order");
	ok(tsk_filter_set(&f, "colour", "red", now, err, sizeof err) == TSK_EINVAL, "an unknown filter");
	tsk_filter_free(&f);
	ok(f.devices == NULL && f.ndevices == 0, "free empties the filter");

	struct tsk_series_bucket b = { now, "GW-1", "t1", 23.45, 0.1, 1e21, -0.0, 3 };
	s = dump(tsk_series_bucket_json(&b));
	is_str(s, "{\"bucket\":\"2025-10-17T10:30:00Z\",\"device_id\":\"GW-1\",\"sensor_id\":\"t1\",\"avg\":23.45,"
	    "\"min\":0.1,\"max\":1e+21,\"last\":0,\"count\":3}", "a bucket row: RFC 3339 Z, shortest numbers");
	free(s);
	struct tsk_series_reading r = { now + 500000, "GW-1", "t1", 0.30000000000000004, NULL, "{\"a\": 1}", NULL, NULL };
	s = dump(tsk_series_reading_json(&r));
	is_str(s, "{\"ts\":\"2025-10-17T10:30:00.5Z\",\"device_id\":\"GW-1\",\"sensor_id\":\"t1\","
	    "\"value\":0.30000000000000004,\"unit\":null,\"labels\":{\"a\":1},\"site\":null,\"asset_tag\":null}",
	    "a reading: fractions kept, unit, site and asset tag null");
	free(s);
	r.site = "Plant 7";
	r.asset_tag = "AHU-3";
	s = dump(tsk_series_reading_json(&r));
	is_str(s, "{\"ts\":\"2025-10-17T10:30:00.5Z\",\"device_id\":\"GW-1\",\"sensor_id\":\"t1\","
	    "\"value\":0.30000000000000004,\"unit\":null,\"labels\":{\"a\":1},\"site\":\"Plant 7\",\"asset_tag\":\"AHU-3\"}",
	    "a reading with its site and asset tag");
	free(s);
	struct tsk_series_stats st = { 0 };
	s = dump(tsk_series_stats_json(&st));
	is_str(s, "{\"count\":0,\"avg\":null,\"min\":null,\"max\":null,\"first_ts\":null,\"last_ts\":null}",
	    "empty statistics are nulls");
	free(s);
	return done_testing();
}
