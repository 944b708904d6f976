/*
 * EMQX v5 provisioning of one tenant over the REST API (libcurl): what the original system's EMQX
 * provisioning script did, with the configuration that works:
 *   connector  http:http_ingest_SLUG   HTTP to the ingest base URL
 *   action     http:http_ingest_SLUG   POST INGEST_PATH with x-tenant: SLUG, x-device-token: TOKEN and
 *                                      the envelope {"client_id","topic","payload" (raw),"ts"}
 *   rule       r_SLUG_ingest           SELECT clientid, topic, payload, timestamp FROM "tenants/SLUG/#"
 *   authorization  built_in_database source enabled; in its rules for all clients: deny $queue/#,
 *                  allow tenants/SLUG/#, deny # (merged with what is there: other tenants stay)
 * Every step reads first (GET) and then creates (POST), updates (PUT) what differs, or does nothing, so
 * a second run changes nothing. Tested against a recorded contract of the v5 API, not a live EMQX.
 */
#ifndef TSK_EMQX_H
#define TSK_EMQX_H

#include <stddef.h>
#include <jansson.h>

#include "core/conf.h"

struct tsk_emqx_conf {
	const char *url;          /* emqx_url: the dashboard/API listener, http://host:18083 */
	const char *key, *secret; /* emqx_api_key, emqx_api_secret: HTTP Basic */
	const char *ingest_url;   /* emqx_ingest_url: tsk-httpd as EMQX reaches it (default http://localhost:8080) */
	const char *ingest_path;  /* emqx_ingest_path (default /ingest) */
	const char *token;        /* emqx_ingest_token, else ingest_secret: the x-device-token header */
	const char *cafile;       /* emqx_ca_file, for https:// */
	long timeout_s;           /* emqx_timeout: each request (default 30) */
};

/* TSK_OK, or TSK_EINVAL naming the missing or bad key. */
int tsk_emqx_conf_load(const struct tsk_conf *c, struct tsk_emqx_conf *ec, char *err, size_t errlen);

/* Provisions tenant `slug` (checked). *report (a new reference): one object a step, {tenant, step, id,
 * result: created|updated|unchanged}. TSK_ETEMP when EMQX cannot be reached or answers 5xx, TSK_EFAIL on
 * any other unexpected answer (the steps before it stay done; running again continues). */
int tsk_emqx_provision(const struct tsk_emqx_conf *ec, const char *slug, json_t **report, char *err, size_t errlen);

/* The action's body template (the one that works), for the man page and tests. */
extern const char tsk_emqx_body_template[];

#endif
