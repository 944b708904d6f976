/*
 * MQTT accounts on a mosquitto 2.x broker through its dynamic-security plugin: the control protocol
 * that mosquitto_ctrl speaks (JSON commands published to $CONTROL/dynamic-security/v1, one answer per
 * command on $CONTROL/dynamic-security/v1/response), over an admin connection (mqtt_admin_url).
 *
 * What an account is (tsk-tenant(1), MQTT ACCOUNTS):
 *   role  tsk-tenant-SLUG   publishClientSend, publishClientReceive, subscribePattern and
 *                           unsubscribePattern allowed on tenants/SLUG/# and on nothing else
 *   group tsk-tenant-SLUG   holds that role; every account of the tenant is a member, so adding a
 *                           device is one client and one membership
 *   client USERNAME         password; with a device, bound to that MQTT client id
 *   role and group tsk-ingest: subscribe to tenants/# (also as $share/GROUP/tenants/...), receive it
 * Anything else is denied by the broker's default ACL access (publishClientSend and subscribe denied,
 * as `mosquitto_ctrl dynsec init` leaves it); adding an account checks that this still holds.
 *
 * Not thread-safe: one connection per thread. Every call returns a TSK_* status and fills err.
 */
#ifndef TSK_DYNSEC_H
#define TSK_DYNSEC_H

#include <stddef.h>
#include <jansson.h>

#include "core/conf.h"

#define TSK_DYNSEC_USER_MAX 128

struct tsk_dynsec_conf {
	const char *url;     /* mqtt[s]://admin:password@host:port (mqtt_admin_url) */
	const char *cafile;  /* mqtt_admin_cafile, for mqtts:// (NULL: the system's authorities) */
	int timeout_ms;      /* mqtt_admin_timeout: the wait for the connection and for each answer */
};

/* mqtt_admin_url (required), mqtt_admin_cafile, mqtt_admin_timeout (seconds, default 30).
 * TSK_OK or TSK_EINVAL. */
int tsk_dynsec_conf_load(const struct tsk_conf *c, struct tsk_dynsec_conf *dc, char *err, size_t errlen);

struct tsk_dynsec;

/* Connects and subscribes to the answers. TSK_ETEMP when the broker cannot be reached, TSK_EFAIL when it
 * refuses the admin account or its access to $CONTROL/dynamic-security. */
int tsk_dynsec_open(const struct tsk_dynsec_conf *dc, struct tsk_dynsec **out, char *err, size_t errlen);
void tsk_dynsec_close(struct tsk_dynsec *d);

/* Sends `commands` (a JSON array of command objects, not modified) as one control message and waits for
 * the answer to each: *answers (a new reference) is an array in the same order, each {command, error?,
 * data?}. TSK_ETEMP when no answer came in time (the plugin is not loaded, or the admin account may not
 * publish there). An answer's "error" is not a failure of this call. */
int tsk_dynsec_run(struct tsk_dynsec *d, json_t *commands, json_t **answers, char *err, size_t errlen);

struct tsk_dynsec_account {
	const char *username;
	const char *password;
	const char *tenant;  /* the tenant's slug; NULL for tsk-ingest's own account */
	const char *device;  /* the MQTT client id the account is bound to, or NULL */
};

/* Creates the tenant's (or ingest's) role and group when missing (idempotent), then the client in the
 * group. An existing username is TSK_EEXIST and nothing is changed (its password stays). */
int tsk_dynsec_account_add(struct tsk_dynsec *d, const struct tsk_dynsec_account *a, char *err, size_t errlen);
/* Deletes the client (the broker also disconnects it). tenant NULL: an ingest account. TSK_ENOTFOUND
 * when there is no such account of that tenant. */
int tsk_dynsec_account_rm(struct tsk_dynsec *d, const char *tenant, const char *username, char *err, size_t errlen);
/* The accounts made by tsk-tenant (members of a tsk-tenant-* or tsk-ingest group), of one tenant or
 * (tenant NULL) all: [{username, tenant, kind: tenant|device|ingest, device}] (a new reference). */
int tsk_dynsec_account_list(struct tsk_dynsec *d, const char *tenant, json_t **out, char *err, size_t errlen);

/* A username or client id we accept: 1 to TSK_DYNSEC_USER_MAX bytes, no control characters, no
 * spaces at either end. TSK_OK or TSK_EINVAL naming `what`. */
int tsk_dynsec_name_check(const char *what, const char *s, char *err, size_t errlen);

#endif
