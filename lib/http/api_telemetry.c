/*
 * The tenant API's telemetry endpoints (routes in tsk_api_telemetry_routes; plumbing in api.h).
 */
#include <stddef.h>

#include "http/api.h"

const struct tsk_api_route tsk_api_telemetry_routes[] = {
	{ .method = NULL },
};
