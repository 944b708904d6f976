/*
 * Internal to the telemetry endpoints (api_telemetry.c, api_telemetry_csv.c).
 */
#ifndef TSK_HTTP_API_TELEMETRY_H
#define TSK_HTTP_API_TELEMETRY_H

#include "http/api.h"
#include "query/filter.h"

/* What a CSV answer holds, in tsk-export's layouts (tsk-formats(5)) where one applies:
 *  BUCKETS   bucket,device_id,sensor_id,avg,min,max,last,count   (tsk_series_buckets)
 *  READINGS  ts,device_id,sensor_id,value,unit                   (tsk_series_raw)
 *  TELEMETRY id,device_id,topic,payload,timestamp,created_at     (the raw message archive) */
enum tsk_api_csv_kind { TSK_API_CSV_BUCKETS, TSK_API_CSV_READINGS, TSK_API_CSV_TELEMETRY };

/* Extra conditions the filter has no field for. */
struct tsk_api_csv_extra {
	int has_vmin, has_vmax;   /* readings: value >= vmin, value <= vmax */
	double vmin, vmax;
	const char *topic;        /* telemetry: topic contains this, case-insensitive (NULL: any) */
};

/*
 * Answers with the CSV of f (its strings are copied), streamed in constant memory from a database
 * connection of its own, in one read-only REPEATABLE READ transaction that entered the caller's tenant:
 * the worker's connection is free for the next request while the body is sent. Spreadsheet-safe cells
 * (tsk_csv_dangerous). filename names the attachment ("series.csv"). On failure before the first byte
 * it answers 503 (database unavailable, too many streams) instead.
 */
void tsk_api_telemetry_csv(struct tsk_api_ctx *c, enum tsk_api_csv_kind kind, const struct tsk_filter *f,
    const struct tsk_api_csv_extra *x, const char *filename);

#endif
