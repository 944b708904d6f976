/*
 * The tenant API's catalog endpoints (routes in tsk_api_catalog_routes; plumbing in api.h).
 */
#include <stddef.h>

#include "http/api.h"

const struct tsk_api_route tsk_api_catalog_routes[] = {
	{ .method = NULL },
};
