/*
 * The dynamic-security control protocol over libmosquitto (see dynsec.h). One admin connection, MQTT 5
 * so that a PUBACK says when the broker refused our command message (3.1.1 would drop it silently);
 * each command carries correlationData "PREFIX:INDEX", because every admin subscribed to the response
 * topic receives every admin's answers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "broker/dynsec.h"
#include "core/time.h"
#include "core/tsk.h"
#include "ingest/mqtt.h"

#define TOPIC_CMD "$CONTROL/dynamic-security/v1"
#define TOPIC_ANSWER "$CONTROL/dynamic-security/v1/response"
#define INGEST_GROUP "tsk-ingest"
#define TENANT_PREFIX "tsk-tenant-"

struct tsk_dynsec {
	struct mosquitto *m;
	int timeout_ms;
	int connected, connack, subscribed, granted;
	int published, pub_mid, pub_reason;
	char prefix[64];   /* correlationData prefix of the request in flight */
	json_t *answers;   /* of the request in flight: one slot per command, null until answered */
	size_t nanswered;
	unsigned seq;
};

int
tsk_dynsec_conf_load(const struct tsk_conf *c, struct tsk_dynsec_conf *dc, char *err, size_t errlen)
{
	const char *t = tsk_conf_get(c, "mqtt_admin_timeout");

	memset(dc, 0, sizeof *dc);
	dc->url = tsk_conf_get(c, "mqtt_admin_url");
	dc->cafile = tsk_conf_get(c, "mqtt_admin_cafile");
	dc->timeout_ms = 30000;
	if (dc->url == NULL || dc->url[0] == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL,
		    "mqtt_admin_url is not set (mqtt://admin:password@host:port of a dynamic-security admin; tsk.conf(5))");
	if (t != NULL) {
		char *e;
		long v;
		errno = 0;
		v = strtol(t, &e, 10);
		if (e == t || *e != '\0' || errno != 0 || v < 1 || v > 600)
			return tsk_seterr(err, errlen, TSK_EINVAL, "mqtt_admin_timeout is seconds, 1 to 600: \"%.40s\"", t);
		dc->timeout_ms = (int)v * 1000;
	}
	return TSK_OK;
}

int
tsk_dynsec_name_check(const char *what, const char *s, char *err, size_t errlen)
{
	size_t n = strlen(s);

	if (n == 0 || n > TSK_DYNSEC_USER_MAX)
		return tsk_seterr(err, errlen, TSK_EINVAL, "%s must be 1 to %d bytes", what, TSK_DYNSEC_USER_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return tsk_seterr(err, errlen, TSK_EINVAL, "%s \"%.40s\" has a control character", what, s);
	if (s[0] == ' ' || s[n - 1] == ' ')
		return tsk_seterr(err, errlen, TSK_EINVAL, "%s \"%.40s\" starts or ends with a space", what, s);
	return TSK_OK;
}

/* --- the connection ------------------------------------------------------------------------------- */

static void
on_connect(struct mosquitto *m, void *arg, int rc, int flags, const mosquitto_property *props)
{
	struct tsk_dynsec *d = arg;

	(void)m;
	(void)flags;
	(void)props;
	d->connected = 1;
	d->connack = rc;
}

static void
on_subscribe(struct mosquitto *m, void *arg, int mid, int n, const int *granted)
{
	struct tsk_dynsec *d = arg;

	(void)m;
	(void)mid;
	d->subscribed = 1;
	d->granted = n > 0 ? granted[0] : 128;
}

static void
on_publish(struct mosquitto *m, void *arg, int mid, int reason, const mosquitto_property *props)
{
	struct tsk_dynsec *d = arg;

	(void)m;
	(void)props;
	if (mid == d->pub_mid) {
		d->published = 1;
		d->pub_reason = reason;
	}
}

/* An answer message: the responses whose correlationData is ours fill their slots. */
static void
on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
	struct tsk_dynsec *d = arg;
	json_t *root, *r;
	size_t i, plen = strlen(d->prefix);

	(void)m;
	if (d->answers == NULL || msg->payloadlen <= 0)
		return;
	if ((root = json_loadb(msg->payload, (size_t)msg->payloadlen, 0, NULL)) == NULL)
		return;
	json_array_foreach(json_object_get(root, "responses"), i, r) {
		const char *cd = json_string_value(json_object_get(r, "correlationData"));
		char *e;
		unsigned long k;
		if (cd == NULL || strncmp(cd, d->prefix, plen) != 0 || cd[plen] != ':')
			continue;
		k = strtoul(cd + plen + 1, &e, 10);
		if (*e != '\0' || k >= json_array_size(d->answers) || !json_is_null(json_array_get(d->answers, k)))
			continue;
		json_array_set(d->answers, k, r);
		d->nanswered++;
	}
	json_decref(root);
}

/* Runs the network loop until *flag is set. TSK_ETEMP when the time is up or the connection is lost. */
static int
wait_for(struct tsk_dynsec *d, const int *flag, int64_t deadline_us, const char *what, char *err, size_t errlen)
{
	while (!*flag) {
		int rc;
		if (tsk_now_us() >= deadline_us)
			return tsk_seterr(err, errlen, TSK_ETEMP, "no %s from the broker within %d s", what, d->timeout_ms / 1000);
		rc = mosquitto_loop(d->m, 100, 1);
		if (rc != MOSQ_ERR_SUCCESS && !*flag) {
			if (d->connected && d->connack != 0)
				return TSK_OK; /* refused: the caller reads connack */
			return tsk_seterr(err, errlen, TSK_ETEMP, "MQTT connection lost while waiting for %s: %s", what,
			    rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		}
	}
	return TSK_OK;
}

int
tsk_dynsec_open(const struct tsk_dynsec_conf *dc, struct tsk_dynsec **out, char *err, size_t errlen)
{
	struct tsk_mqtt_url u;
	struct tsk_dynsec *d;
	int rc;
	int64_t deadline;

	*out = NULL;
	if ((rc = tsk_mqtt_url_parse(dc->url, &u, err, errlen)) != TSK_OK)
		return rc;
	if (!u.has_user)
		return tsk_seterr(err, errlen, TSK_EINVAL, "mqtt_admin_url names no admin user (mqtt://admin:password@host)");
	mosquitto_lib_init();
	if ((d = calloc(1, sizeof *d)) == NULL) {
		mosquitto_lib_cleanup();
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	}
	d->timeout_ms = dc->timeout_ms > 0 ? dc->timeout_ms : 30000;
	if ((d->m = mosquitto_new(NULL, true, d)) == NULL) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "mosquitto_new: %s", strerror(errno));
		goto fail;
	}
	mosquitto_int_option(d->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	mosquitto_connect_v5_callback_set(d->m, on_connect);
	mosquitto_subscribe_callback_set(d->m, on_subscribe);
	mosquitto_publish_v5_callback_set(d->m, on_publish);
	mosquitto_message_callback_set(d->m, on_message);
	mosquitto_username_pw_set(d->m, u.user, u.has_pass ? u.pass : NULL);
	if (u.tls && (rc = mosquitto_tls_set(d->m, dc->cafile, dc->cafile == NULL ? "/etc/ssl/certs" : NULL, NULL, NULL,
	    NULL)) != MOSQ_ERR_SUCCESS) {
		rc = tsk_seterr(err, errlen, TSK_EINVAL, "TLS setup: %s", mosquitto_strerror(rc));
		goto fail;
	}
	deadline = tsk_now_us() + (int64_t)d->timeout_ms * 1000;
	rc = mosquitto_connect(d->m, u.host[0] == '[' ? u.host + 1 : u.host, u.port, 60);
	if (rc != MOSQ_ERR_SUCCESS) {
		rc = tsk_seterr(err, errlen, TSK_ETEMP, "MQTT broker %s port %d: %s", u.host, u.port,
		    rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		goto fail;
	}
	if ((rc = wait_for(d, &d->connected, deadline, "CONNACK", err, errlen)) != TSK_OK)
		goto fail;
	if (d->connack != 0) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "MQTT broker %s port %d refused admin user %s: %s", u.host, u.port,
		    u.user, mosquitto_reason_string(d->connack));
		goto fail;
	}
	if ((rc = mosquitto_subscribe(d->m, NULL, TOPIC_ANSWER, 1)) != MOSQ_ERR_SUCCESS) {
		rc = tsk_seterr(err, errlen, TSK_ETEMP, "subscribe: %s", mosquitto_strerror(rc));
		goto fail;
	}
	if ((rc = wait_for(d, &d->subscribed, deadline, "SUBACK", err, errlen)) != TSK_OK)
		goto fail;
	if (d->granted >= 128) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL,
		    "admin user %s may not subscribe to " TOPIC_ANSWER " (not a dynamic-security admin?)", u.user);
		goto fail;
	}
	snprintf(d->prefix, sizeof d->prefix, "tsk-%ld-%lld", (long)getpid(), (long long)tsk_now_us());
	*out = d;
	return TSK_OK;
fail:
	tsk_dynsec_close(d);
	return rc;
}

void
tsk_dynsec_close(struct tsk_dynsec *d)
{
	if (d == NULL)
		return;
	if (d->m != NULL) {
		if (d->connected && d->connack == 0) {
			mosquitto_disconnect(d->m);
			mosquitto_loop(d->m, 100, 1);
		}
		mosquitto_destroy(d->m);
	}
	json_decref(d->answers);
	free(d);
	mosquitto_lib_cleanup();
}

int
tsk_dynsec_run(struct tsk_dynsec *d, json_t *commands, json_t **answers, char *err, size_t errlen)
{
	json_t *msg, *cmds = json_array(), *c;
	char *text = NULL;
	size_t i, n = json_array_size(commands);
	int rc, mid;
	int64_t deadline = tsk_now_us() + (int64_t)d->timeout_ms * 1000;

	*answers = NULL;
	d->seq++;
	/* A fresh prefix per request, so a late answer to an earlier one cannot fill a slot. */
	snprintf(d->prefix + strcspn(d->prefix, "."), sizeof d->prefix - strcspn(d->prefix, "."), ".%u", d->seq);
	json_decref(d->answers);
	d->answers = json_array();
	d->nanswered = 0;
	json_array_foreach(commands, i, c) {
		char cd[96];
		json_t *copy = json_copy(c);
		snprintf(cd, sizeof cd, "%s:%zu", d->prefix, i);
		json_object_set_new(copy, "correlationData", json_string(cd));
		json_array_append_new(cmds, copy);
		json_array_append_new(d->answers, json_null());
	}
	msg = json_pack("{s:o}", "commands", cmds);
	text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (text == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	d->published = 0;
	d->pub_reason = 0;
	rc = mosquitto_publish_v5(d->m, &mid, TOPIC_CMD, (int)strlen(text), text, 1, false, NULL);
	free(text);
	if (rc != MOSQ_ERR_SUCCESS)
		return tsk_seterr(err, errlen, TSK_ETEMP, "publish to " TOPIC_CMD ": %s", mosquitto_strerror(rc));
	d->pub_mid = mid;
	if ((rc = wait_for(d, &d->published, deadline, "PUBACK", err, errlen)) != TSK_OK)
		return rc;
	if (d->pub_reason >= 128)
		return tsk_seterr(err, errlen, TSK_EFAIL, "the broker refused our command to " TOPIC_CMD ": %s",
		    mosquitto_reason_string(d->pub_reason));
	while (d->nanswered < n) {
		if (tsk_now_us() >= deadline)
			return tsk_seterr(err, errlen, TSK_ETEMP,
			    "no answer from mosquitto's dynamic-security plugin within %d s (is the plugin loaded?)",
			    d->timeout_ms / 1000);
		if ((rc = mosquitto_loop(d->m, 100, 1)) != MOSQ_ERR_SUCCESS)
			return tsk_seterr(err, errlen, TSK_ETEMP, "MQTT connection lost while waiting for answers: %s",
			    rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
	}
	*answers = d->answers;
	d->answers = NULL;
	return TSK_OK;
}

/* --- accounts ------------------------------------------------------------------------------------- */

static const char *
answer_error(json_t *answers, size_t i)
{
	return json_string_value(json_object_get(json_array_get(answers, i), "error"));
}

/* The answer's error as a status: "... already exists", "is already in ..." are TSK_EEXIST; "... not
 * found" TSK_ENOTFOUND; others TSK_EFAIL. */
static int
error_status(const char *e)
{
	if (e == NULL)
		return TSK_OK;
	if (strstr(e, "already") != NULL)
		return TSK_EEXIST;
	if (strstr(e, "not found") != NULL)
		return TSK_ENOTFOUND;
	return TSK_EFAIL;
}

static json_t *
acl(const char *role, const char *type, const char *topic)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:b}", "command", "addRoleACL", "rolename", role, "acltype", type, "topic",
	    topic, "allow", 1);
}

/* The role and group of a tenant (or of ingest), created when missing: every command may answer "already
 * exists", which is what a second run looks like. */
static int
ensure_group(struct tsk_dynsec *d, const char *tenant, char *group, size_t glen, char *err, size_t errlen)
{
	json_t *cmds = json_array(), *ans;
	char topic[TSK_SLUG_MAX + 16], text[TSK_SLUG_MAX + 64];
	size_t i;
	int rc;

	if (tenant != NULL) {
		snprintf(group, glen, TENANT_PREFIX "%s", tenant);
		snprintf(topic, sizeof topic, "tenants/%s/#", tenant);
		snprintf(text, sizeof text, "TrakSense tenant %s: tenants/%s/# only", tenant, tenant);
	} else {
		snprintf(group, glen, INGEST_GROUP);
		snprintf(text, sizeof text, "TrakSense tsk-ingest: subscribes to tenants/#");
	}
	json_array_append_new(cmds, json_pack("{s:s, s:s, s:s}", "command", "createRole", "rolename", group, "textname", text));
	if (tenant != NULL) {
		json_array_append_new(cmds, acl(group, "publishClientSend", topic));
		json_array_append_new(cmds, acl(group, "publishClientReceive", topic));
		json_array_append_new(cmds, acl(group, "subscribePattern", topic));
		json_array_append_new(cmds, acl(group, "unsubscribePattern", topic));
	} else {
		/* A shared subscription is checked as the whole filter, $share/GROUP/ included. */
		json_array_append_new(cmds, acl(group, "publishClientReceive", "tenants/#"));
		json_array_append_new(cmds, acl(group, "subscribePattern", "tenants/#"));
		json_array_append_new(cmds, acl(group, "subscribePattern", "$share/+/tenants/#"));
		json_array_append_new(cmds, acl(group, "unsubscribePattern", "tenants/#"));
		json_array_append_new(cmds, acl(group, "unsubscribePattern", "$share/+/tenants/#"));
	}
	json_array_append_new(cmds, json_pack("{s:s, s:s, s:s}", "command", "createGroup", "groupname", group, "textname", text));
	json_array_append_new(cmds, json_pack("{s:s, s:s, s:s}", "command", "addGroupRole", "groupname", group, "rolename", group));
	rc = tsk_dynsec_run(d, cmds, &ans, err, errlen);
	json_decref(cmds);
	if (rc != TSK_OK)
		return rc;
	for (i = 0; i < json_array_size(ans); i++) {
		const char *e = answer_error(ans, i);
		if (error_status(e) != TSK_OK && error_status(e) != TSK_EEXIST) {
			rc = tsk_seterr(err, errlen, TSK_EFAIL, "setting up %s: %s: %s", group,
			    json_string_value(json_object_get(json_array_get(ans, i), "command")), e);
			break;
		}
	}
	json_decref(ans);
	return rc;
}

/* Tenant isolation rests on the default ACL access: what no role allows must stay denied. */
static int
check_defaults(struct tsk_dynsec *d, char *err, size_t errlen)
{
	json_t *cmds = json_pack("[{s:s}]", "command", "getDefaultACLAccess"), *ans, *a;
	size_t i;
	int rc = tsk_dynsec_run(d, cmds, &ans, err, errlen);

	json_decref(cmds);
	if (rc != TSK_OK)
		return rc;
	if (answer_error(ans, 0) != NULL) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "getDefaultACLAccess: %s", answer_error(ans, 0));
	} else {
		json_array_foreach(json_object_get(json_object_get(json_array_get(ans, 0), "data"), "acls"), i, a) {
			const char *t = json_string_value(json_object_get(a, "acltype"));
			if (t != NULL && (strcmp(t, "publishClientSend") == 0 || strcmp(t, "subscribe") == 0) &&
			    json_is_true(json_object_get(a, "allow"))) {
				rc = tsk_seterr(err, errlen, TSK_EFAIL,
				    "the broker's default ACL access allows %s, so an account could reach other tenants' topics;"
				    " deny it first: mosquitto_ctrl ... dynsec setDefaultACLAccess %s deny", t, t);
				break;
			}
		}
	}
	json_decref(ans);
	return rc;
}

/* The group of ours an account is in: "tsk-tenant-SLUG", "tsk-ingest", or NULL. */
static const char *
our_group(json_t *client)
{
	json_t *g;
	size_t i;

	json_array_foreach(json_object_get(client, "groups"), i, g) {
		const char *name = json_string_value(json_object_get(g, "groupname"));
		if (name != NULL && (strncmp(name, TENANT_PREFIX, strlen(TENANT_PREFIX)) == 0 || strcmp(name, INGEST_GROUP) == 0))
			return name;
	}
	return NULL;
}

/* The client's record, or NULL (TSK_ENOTFOUND). */
static int
get_client(struct tsk_dynsec *d, const char *username, json_t **client, char *err, size_t errlen)
{
	json_t *cmds = json_pack("[{s:s, s:s}]", "command", "getClient", "username", username), *ans;
	int rc = tsk_dynsec_run(d, cmds, &ans, err, errlen);

	*client = NULL;
	json_decref(cmds);
	if (rc != TSK_OK)
		return rc;
	rc = error_status(answer_error(ans, 0));
	if (rc == TSK_OK)
		*client = json_incref(json_object_get(json_object_get(json_array_get(ans, 0), "data"), "client"));
	else if (rc == TSK_ENOTFOUND)
		tsk_seterr(err, errlen, rc, "no MQTT account %s", username);
	else
		tsk_seterr(err, errlen, rc, "getClient %s: %s", username, answer_error(ans, 0));
	json_decref(ans);
	return rc;
}

static int
exists_error(json_t *client, const char *username, char *err, size_t errlen)
{
	const char *g = our_group(client);

	if (g != NULL && strcmp(g, INGEST_GROUP) == 0)
		return tsk_seterr(err, errlen, TSK_EEXIST, "MQTT account %s exists already (tsk-ingest's); nothing changed",
		    username);
	if (g != NULL)
		return tsk_seterr(err, errlen, TSK_EEXIST, "MQTT account %s exists already (tenant %s); nothing changed",
		    username, g + strlen(TENANT_PREFIX));
	return tsk_seterr(err, errlen, TSK_EEXIST, "MQTT account %s exists already (not one of tsk-tenant's); nothing changed",
	    username);
}

int
tsk_dynsec_account_add(struct tsk_dynsec *d, const struct tsk_dynsec_account *a, char *err, size_t errlen)
{
	char group[TSK_SLUG_MAX + 16], text[TSK_DYNSEC_USER_MAX + TSK_SLUG_MAX + 64];
	json_t *client = NULL, *cmd, *cmds, *ans;
	int rc;

	if ((rc = tsk_dynsec_name_check("MQTT username", a->username, err, errlen)) != TSK_OK ||
	    (a->device != NULL && (rc = tsk_dynsec_name_check("device id", a->device, err, errlen)) != TSK_OK))
		return rc;
	if (a->password == NULL || a->password[0] == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "an MQTT account needs a password");
	/* Existing first: a second add changes nothing, not even the tenant's role. */
	rc = get_client(d, a->username, &client, err, errlen);
	if (rc == TSK_OK) {
		rc = exists_error(client, a->username, err, errlen);
		json_decref(client);
		return rc;
	}
	if (rc != TSK_ENOTFOUND)
		return rc;
	if ((rc = check_defaults(d, err, errlen)) != TSK_OK || (rc = ensure_group(d, a->tenant, group, sizeof group, err,
	    errlen)) != TSK_OK)
		return rc;
	if (a->tenant == NULL)
		snprintf(text, sizeof text, "tsk-ingest");
	else if (a->device != NULL)
		snprintf(text, sizeof text, "tenant %s, device %s", a->tenant, a->device);
	else
		snprintf(text, sizeof text, "tenant %s", a->tenant);
	cmd = json_pack("{s:s, s:s, s:s, s:s, s:[{s:s}]}", "command", "createClient", "username", a->username, "password",
	    a->password, "textname", text, "groups", "groupname", group);
	if (a->device != NULL)
		json_object_set_new(cmd, "clientid", json_string(a->device));
	cmds = json_pack("[o]", cmd);
	rc = tsk_dynsec_run(d, cmds, &ans, err, errlen);
	json_decref(cmds);
	if (rc != TSK_OK)
		return rc;
	if ((rc = error_status(answer_error(ans, 0))) != TSK_OK)
		tsk_seterr(err, errlen, rc, "createClient %s: %s", a->username, answer_error(ans, 0));
	json_decref(ans);
	return rc;
}

int
tsk_dynsec_account_rm(struct tsk_dynsec *d, const char *tenant, const char *username, char *err, size_t errlen)
{
	char want[TSK_SLUG_MAX + 16];
	json_t *client, *cmds, *ans;
	const char *g;
	int rc;

	if ((rc = get_client(d, username, &client, err, errlen)) != TSK_OK)
		return rc;
	snprintf(want, sizeof want, "%s%s", tenant != NULL ? TENANT_PREFIX : INGEST_GROUP, tenant != NULL ? tenant : "");
	g = our_group(client);
	if (g == NULL || strcmp(g, want) != 0) {
		rc = tenant != NULL ? tsk_seterr(err, errlen, TSK_ENOTFOUND, "no MQTT account %s of tenant %s", username, tenant)
		                    : tsk_seterr(err, errlen, TSK_ENOTFOUND, "no ingest MQTT account %s", username);
		json_decref(client);
		return rc;
	}
	json_decref(client);
	cmds = json_pack("[{s:s, s:s}]", "command", "deleteClient", "username", username);
	rc = tsk_dynsec_run(d, cmds, &ans, err, errlen);
	json_decref(cmds);
	if (rc != TSK_OK)
		return rc;
	if ((rc = error_status(answer_error(ans, 0))) != TSK_OK)
		tsk_seterr(err, errlen, rc, "deleteClient %s: %s", username, answer_error(ans, 0));
	json_decref(ans);
	return rc;
}

int
tsk_dynsec_account_list(struct tsk_dynsec *d, const char *tenant, json_t **out, char *err, size_t errlen)
{
	json_t *cmds = json_pack("[{s:s, s:b}]", "command", "listClients", "verbose", 1), *ans, *c, *rows;
	size_t i;
	int rc = tsk_dynsec_run(d, cmds, &ans, err, errlen);

	*out = NULL;
	json_decref(cmds);
	if (rc != TSK_OK)
		return rc;
	if (answer_error(ans, 0) != NULL) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "listClients: %s", answer_error(ans, 0));
		json_decref(ans);
		return rc;
	}
	rows = json_array();
	json_array_foreach(json_object_get(json_object_get(json_array_get(ans, 0), "data"), "clients"), i, c) {
		const char *g = our_group(c), *slug, *dev = json_string_value(json_object_get(c, "clientid"));
		if (g == NULL)
			continue;
		slug = strcmp(g, INGEST_GROUP) == 0 ? NULL : g + strlen(TENANT_PREFIX);
		if (tenant != NULL && (slug == NULL || strcmp(slug, tenant) != 0))
			continue;
		json_array_append_new(rows, json_pack("{s:O, s:o, s:s, s:o}", "username", json_object_get(c, "username"),
		    "tenant", slug != NULL ? json_string(slug) : json_null(), "kind",
		    slug == NULL ? "ingest" : dev != NULL ? "device" : "tenant", "device",
		    dev != NULL ? json_string(dev) : json_null()));
	}
	json_decref(ans);
	*out = rows;
	return TSK_OK;
}
