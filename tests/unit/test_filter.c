/*
 * The filter -> SQL builder (lib/query/filter.h): the text and the parameters both the series queries
 * and the export's COPY are built from. No database needed.
 */
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "core/time.h"
#include "core/tsk.h"
#include "query/filter.h"

static const char *
param(const struct tsk_sql *q, int n)
{
	return n >= 1 && n <= q->n ? q->v[n - 1] : "(none)";
}

int
main(void)
{
	char err[TSK_ERRLEN];
	struct tsk_filter f;
	struct tsk_sql q;
	struct tsk_buf set = TSK_BUF_INIT;

	/* No filter: no condition, newest first, no paging. */
	tsk_filter_init(&f);
	tsk_sql_init(&q, 0);
	tsk_sql_printf(&q, "SELECT ts FROM reading WHERE true");
	tsk_filter_where(&q, &f);
	tsk_filter_order_page(&q, &f, "ts");
	is_str(tsk_sql_text(&q), "SELECT ts FROM reading WHERE true ORDER BY ts DESC, device_id, sensor_id",
	    "empty filter");
	is_int(q.n, 0, "no parameter");
	tsk_sql_free(&q);

	/* One device, one sensor, both bounds, limit and offset, ascending. */
	ok(tsk_filter_set(&f, "device", "GW-1", 0, err, sizeof err) == TSK_OK, "device");
	ok(tsk_filter_set(&f, "sensor", "t1", 0, err, sizeof err) == TSK_OK, "sensor");
	ok(tsk_filter_set(&f, "from", "2025-10-17T09:00:00Z", 0, err, sizeof err) == TSK_OK, "from");
	ok(tsk_filter_set(&f, "to", "2025-10-17T10:00:00Z", 0, err, sizeof err) == TSK_OK, "to");
	ok(tsk_filter_set(&f, "limit", "10", 0, err, sizeof err) == TSK_OK, "limit");
	ok(tsk_filter_set(&f, "offset", "5", 0, err, sizeof err) == TSK_OK, "offset");
	ok(tsk_filter_set(&f, "order", "asc", 0, err, sizeof err) == TSK_OK, "order");
	ok(tsk_filter_check(&f, err, sizeof err) == TSK_OK, "consistent");
	tsk_sql_init(&q, 0);
	tsk_sql_printf(&q, "SELECT ts FROM reading WHERE true");
	tsk_filter_where(&q, &f);
	tsk_filter_order_page(&q, &f, "ts");
	is_str(tsk_sql_text(&q), "SELECT ts FROM reading WHERE true AND device_id = $1 AND sensor_id = $2"
	    " AND ts >= $3 AND ts <= $4 ORDER BY ts, device_id, sensor_id LIMIT $5 OFFSET $6",
	    "one id is = $n (the planner sees a constant), bounds inclusive");
	is_int(q.n, 6, "six parameters");
	is_str(param(&q, 1), "GW-1", "$1 device");
	is_str(param(&q, 2), "t1", "$2 sensor");
	is_str(param(&q, 3), "2025-10-17T09:00:00Z", "$3 from");
	is_str(param(&q, 4), "2025-10-17T10:00:00Z", "$4 to");
	is_str(param(&q, 5), "10", "$5 limit");
	is_str(param(&q, 6), "5", "$6 offset");
	tsk_sql_free(&q);

	/* The same filter for COPY: values read back from transaction-local settings. */
	tsk_sql_init(&q, 1);
	tsk_filter_where(&q, &f);
	tsk_filter_order_page(&q, &f, "ts");
	is_str(tsk_sql_text(&q), " AND device_id = current_setting('tsk_filter.p1')::text AND sensor_id ="
	    " current_setting('tsk_filter.p2')::text AND ts >= current_setting('tsk_filter.p3')::timestamptz AND ts <="
	    " current_setting('tsk_filter.p4')::timestamptz ORDER BY ts, device_id, sensor_id LIMIT"
	    " current_setting('tsk_filter.p5')::bigint OFFSET current_setting('tsk_filter.p6')::bigint",
	    "settings mode: no $n, no value in the text");
	ok(strstr(tsk_sql_text(&q), "GW-1") == NULL, "the device id is not spliced in");
	ok(tsk_sql_settings(&q, &set) == 0, "the settings statement");
	is_str(tsk_buf_cstr(&set), "SELECT 1, set_config('tsk_filter.p1', $1, true), set_config('tsk_filter.p2', $2,"
	    " true), set_config('tsk_filter.p3', $3, true), set_config('tsk_filter.p4', $4, true),"
	    " set_config('tsk_filter.p5', $5, true), set_config('tsk_filter.p6', $6, true)",
	    "set_config(..., true): local to the transaction");
	tsk_buf_free(&set);
	tsk_sql_free(&q);
	tsk_filter_free(&f);

	/* Several ids: one text[] parameter, quotes and backslashes escaped; order any: no ORDER BY. */
	tsk_filter_init(&f);
	tsk_filter_set(&f, "device", "a", 0, err, sizeof err);
	tsk_filter_set(&f, "device", "b\"c\\d", 0, err, sizeof err);
	tsk_filter_set(&f, "order", "any", 0, err, sizeof err);
	tsk_sql_init(&q, 0);
	struct tsk_filter_ids ids;
	tsk_filter_ids(&q, &f, &ids);
	tsk_filter_id_conds(&q, &ids, "m.");
	tsk_filter_id_conds(&q, &ids, "r.");
	tsk_filter_order_page(&q, &f, "b");
	is_str(tsk_sql_text(&q), " AND m.device_id = ANY($1::text[]) AND r.device_id = ANY($1::text[])",
	    "ids added once, conditions repeated per table; no ORDER BY for any");
	is_str(param(&q, 1), "{\"a\",\"b\\\"c\\\\d\"}", "a text[] literal, escaped");
	tsk_sql_free(&q);

	tsk_sql_init(&q, 1);
	tsk_filter_where(&q, &f);
	is_str(tsk_sql_text(&q), " AND device_id = ANY(current_setting('tsk_filter.p1')::text[])",
	    "settings mode, several ids");
	tsk_sql_free(&q);
	tsk_filter_free(&f);

	/* Too many parameters fail the whole statement, not silently. */
	tsk_sql_init(&q, 0);
	for (int i = 0; i <= TSK_SQL_MAXPARAMS; i++)
		tsk_sql_param(&q, "x");
	ok(tsk_sql_failed(&q) && tsk_sql_text(&q) == NULL, "more than TSK_SQL_MAXPARAMS parameters: failed");
	tsk_sql_free(&q);

	/* Bad values are refused with a reason naming them. */
	tsk_filter_init(&f);
	is_int(tsk_filter_set(&f, "limit", "-1", 0, err, sizeof err), TSK_EINVAL, "negative limit");
	is_int(tsk_filter_set(&f, "order", "sideways", 0, err, sizeof err), TSK_EINVAL, "unknown order");
	ok(strstr(err, "sideways") != NULL, "the reason names the value: %s", err);
	is_int(tsk_filter_set(&f, "colour", "red", 0, err, sizeof err), TSK_EINVAL, "unknown filter");
	f.has_from = f.has_to = 1;
	f.from_us = 2;
	f.to_us = 1;
	is_int(tsk_filter_check(&f, err, sizeof err), TSK_EINVAL, "from after to");
	tsk_filter_free(&f);

	/* Times in PostgreSQL's spelling: no year 0 (astronomical 0000 is 1 BC), -infinity before its range. */
	char tb[TSK_TIME_STRLEN];
	int64_t t;
	ok(tsk_time_parse("0000-06-01T12:00:00.5Z", 0, &t) == TSK_OK, "year 0000 parses");
	is_str(tsk_sql_time_literal(t, tb), "0001-06-01T12:00:00.5Z BC", "year 0000 is 1 BC");
	ok(tsk_time_parse("0000-01-01T00:30:00+01:00", 0, &t) == TSK_OK, "year 0000 with an offset parses");
	is_str(tsk_sql_time_literal(t, tb), "0002-12-31T23:30:00Z BC", "year -0001 is 2 BC");
	is_str(tsk_sql_time_literal(INT64_C(-210866803200000000), tb), "4714-11-24T00:00:00Z BC", "PostgreSQL's first day");
	is_str(tsk_sql_time_literal(INT64_C(-210866803200000001), tb), "-infinity", "before it: -infinity");
	is_str(tsk_sql_time_literal(INT64_C(253402297200500000), tb), "9999-12-31T23:00:00.5Z", "year 9999 as is");
	ok(tsk_time_parse("9000000000000000", 0, &t) == TSK_OK, "epoch milliseconds far ahead parse");
	is_str(tsk_sql_time_literal(t, tb), "287168-08-24T16:00:00Z", "a year past 9999 as is (PostgreSQL reads it)");
	return done_testing();
}
