/*
 * The tenant API's meta endpoints (routes in tsk_api_meta_routes; plumbing in api.h).
 */
#include <stddef.h>

#include "http/api.h"

const struct tsk_api_route tsk_api_meta_routes[] = {
	{ .method = NULL },
};
