/*
 * EMQX v5 provisioning (see emqx.h). Each object is read first; what the desired body says is compared
 * with what EMQX answers (EMQX adds defaults and status fields, so "equal" means every field we set has
 * the value we want), and only a difference is written.
 */
#include <errno.h>
#include <sys/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "broker/emqx.h"
#include "core/buf.h"
#include "core/tsk.h"
#include "registry/tenant.h"

/* The body of the action: the EMQX envelope that POST /ingest expects (the original system). `${payload}` is
 * not quoted, so the device's JSON is embedded as it is; the placeholders are the rule's SELECT fields. */
const char tsk_emqx_body_template[] =
    "{\"client_id\":\"${clientid}\",\"topic\":\"${topic}\",\"payload\":${payload},\"ts\":${timestamp}}";

int
tsk_emqx_conf_load(const struct tsk_conf *c, struct tsk_emqx_conf *ec, char *err, size_t errlen)
{
	const char *t = tsk_conf_get(c, "emqx_timeout");

	memset(ec, 0, sizeof *ec);
	ec->url = tsk_conf_get(c, "emqx_url");
	ec->key = tsk_conf_get(c, "emqx_api_key");
	ec->secret = tsk_conf_get(c, "emqx_api_secret");
	ec->ingest_url = tsk_conf_get_default(c, "emqx_ingest_url", "http://localhost:8080");
	ec->ingest_path = tsk_conf_get_default(c, "emqx_ingest_path", "/ingest");
	ec->token = tsk_conf_get(c, "emqx_ingest_token");
	if (ec->token == NULL || ec->token[0] == '\0')
		ec->token = tsk_conf_get(c, "ingest_secret");
	ec->cafile = tsk_conf_get(c, "emqx_ca_file");
	ec->timeout_s = 30;
	if (ec->url == NULL || (strncmp(ec->url, "http://", 7) != 0 && strncmp(ec->url, "https://", 8) != 0))
		return tsk_seterr(err, errlen, TSK_EINVAL, "emqx_url must be EMQX's API address, http[s]://host:18083");
	if (ec->key == NULL || ec->secret == NULL || ec->key[0] == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "emqx_api_key and emqx_api_secret must be set (an EMQX API key)");
	if (strncmp(ec->ingest_url, "http://", 7) != 0 && strncmp(ec->ingest_url, "https://", 8) != 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "emqx_ingest_url must be http[s]://host[:port]: \"%.60s\"",
		    ec->ingest_url);
	if (ec->ingest_path[0] != '/')
		return tsk_seterr(err, errlen, TSK_EINVAL, "emqx_ingest_path must start with /");
	if (ec->token == NULL || ec->token[0] == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL,
		    "no x-device-token for the action: set emqx_ingest_token (or ingest_secret, tsk-httpd's shared secret)");
	if (strpbrk(ec->token, "\r\n") != NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "emqx_ingest_token has a line break");
	if (t != NULL) {
		char *e;
		errno = 0;
		ec->timeout_s = strtol(t, &e, 10);
		if (e == t || *e != '\0' || errno != 0 || ec->timeout_s < 1 || ec->timeout_s > 600)
			return tsk_seterr(err, errlen, TSK_EINVAL, "emqx_timeout is seconds, 1 to 600: \"%.40s\"", t);
	}
	return TSK_OK;
}

/* --- HTTP ----------------------------------------------------------------------------------------- */

struct api {
	const struct tsk_emqx_conf *c;
	CURL *curl;
	char base[1024];
};

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	return tsk_buf_add(arg, p, size * n) == 0 ? size * n : 0;
}

/* One request. *status: the HTTP status; *out: the JSON answer or NULL (a new reference, or NULL when the
 * caller passes NULL). TSK_ETEMP when EMQX cannot be reached. */
static int
call(struct api *a, const char *method, const char *path, json_t *body, long *status, json_t **out, char *err,
    size_t errlen)
{
	struct curl_slist *h = NULL;
	struct tsk_buf resp = TSK_BUF_INIT;
	char url[2048], *text = NULL;
	CURLcode cc;

	if (out != NULL)
		*out = NULL;
	snprintf(url, sizeof url, "%s%s", a->base, path);
	h = curl_slist_append(h, "Accept: application/json");
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_reset(a->curl);
	curl_easy_setopt(a->curl, CURLOPT_URL, url);
	curl_easy_setopt(a->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(a->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	curl_easy_setopt(a->curl, CURLOPT_USERNAME, a->c->key);
	curl_easy_setopt(a->curl, CURLOPT_PASSWORD, a->c->secret);
	curl_easy_setopt(a->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(a->curl, CURLOPT_TIMEOUT, a->c->timeout_s);
	curl_easy_setopt(a->curl, CURLOPT_CONNECTTIMEOUT, a->c->timeout_s < 15 ? a->c->timeout_s : 15L);
	curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, &resp);
	if (a->c->cafile != NULL)
		curl_easy_setopt(a->curl, CURLOPT_CAINFO, a->c->cafile);
	if (body != NULL) {
		text = json_dumps(body, JSON_COMPACT);
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, text != NULL ? text : "");
	}
	cc = curl_easy_perform(a->curl);
	curl_slist_free_all(h);
	free(text);
	if (cc != CURLE_OK) {
		tsk_buf_free(&resp);
		return tsk_seterr(err, errlen, TSK_ETEMP, "EMQX %s: %s", a->c->url, curl_easy_strerror(cc));
	}
	curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, status);
	if (out != NULL && resp.len > 0)
		*out = json_loadb(resp.p, resp.len, 0, NULL);
	tsk_buf_free(&resp);
	return TSK_OK;
}

/* An answer we did not expect, as one line: "PUT /api/v5/rules/x: HTTP 400 BAD_REQUEST: why". */
static int
unexpected(const char *method, const char *path, long status, json_t *ans, char *err, size_t errlen)
{
	const char *code = json_string_value(json_object_get(ans, "code"));
	const char *msg = json_string_value(json_object_get(ans, "message"));

	if (status == 401)
		return tsk_seterr(err, errlen, TSK_EFAIL, "EMQX refused the API key (emqx_api_key, emqx_api_secret): HTTP 401%s%s",
		    code != NULL ? " " : "", code != NULL ? code : "");
	return tsk_seterr(err, errlen, status >= 500 ? TSK_ETEMP : TSK_EFAIL, "EMQX %s %s: HTTP %ld%s%s%s%s", method, path,
	    status, code != NULL ? " " : "", code != NULL ? code : "", msg != NULL ? ": " : "", msg != NULL ? msg : "");
}

/* Every field of `want` has the same value in `have` (objects compared key by key, recursively; EMQX
 * answers with more fields than we send). */
static int
subset(json_t *want, json_t *have)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_object(want)) {
		if (!json_is_object(have))
			return 0;
		json_object_foreach(want, k, v)
			if (!subset(v, json_object_get(have, k)))
				return 0;
		return 1;
	}
	if (json_is_array(want)) {
		if (!json_is_array(have) || json_array_size(have) != json_array_size(want))
			return 0;
		json_array_foreach(want, i, v)
			if (!subset(v, json_array_get(have, i)))
				return 0;
		return 1;
	}
	return have != NULL && json_equal(want, have);
}

static void
report(json_t *rep, const char *slug, const char *step, const char *id, const char *result)
{
	json_array_append_new(rep, json_pack("{s:s, s:s, s:s, s:s}", "tenant", slug, "step", step, "id", id, "result", result));
}

/*
 * One object at GET `path`: missing (404) → POST `create_path` with `post` (put plus type/name/id), present
 * and different → PUT `path` with `put`, else nothing. Takes the references of put and post.
 */
static int
ensure(struct api *a, json_t *rep, const char *slug, const char *step, const char *id, const char *path,
    const char *create_path, json_t *put, json_t *post, char *err, size_t errlen)
{
	json_t *have = NULL, *ans = NULL;
	long st = 0;
	int rc;

	if ((rc = call(a, "GET", path, NULL, &st, &have, err, errlen)) != TSK_OK)
		goto out;
	if (st == 404) {
		if ((rc = call(a, "POST", create_path, post, &st, &ans, err, errlen)) != TSK_OK)
			goto out;
		if (st != 200 && st != 201 && st != 204) {
			rc = unexpected("POST", create_path, st, ans, err, errlen);
			goto out;
		}
		report(rep, slug, step, id, "created");
	} else if (st == 200) {
		if (subset(put, have)) {
			report(rep, slug, step, id, "unchanged");
		} else {
			if ((rc = call(a, "PUT", path, put, &st, &ans, err, errlen)) != TSK_OK)
				goto out;
			if (st != 200 && st != 204) {
				rc = unexpected("PUT", path, st, ans, err, errlen);
				goto out;
			}
			report(rep, slug, step, id, "updated");
		}
	} else {
		rc = unexpected("GET", path, st, have, err, errlen);
	}
out:
	json_decref(have);
	json_decref(ans);
	json_decref(put);
	json_decref(post);
	return rc;
}

/* With type and name (or id) in front, for the POST that creates. */
static json_t *
with_names(json_t *put, const char *k1, const char *v1, const char *k2, const char *v2)
{
	json_t *o = json_object();

	json_object_set_new(o, k1, json_string(v1));
	if (k2 != NULL)
		json_object_set_new(o, k2, json_string(v2));
	json_object_update(o, put);
	return o;
}

static int
rule_is(json_t *r, const char *permission, const char *action, const char *topic)
{
	const char *p = json_string_value(json_object_get(r, "permission"));
	const char *a = json_string_value(json_object_get(r, "action"));
	const char *t = json_string_value(json_object_get(r, "topic"));

	return p != NULL && a != NULL && t != NULL && strcmp(p, permission) == 0 && strcmp(a, action) == 0 &&
	    strcmp(t, topic) == 0;
}

static ssize_t
find_rule(json_t *rules, const char *permission, const char *action, const char *topic)
{
	json_t *r;
	size_t i;

	json_array_foreach(rules, i, r)
		if (rule_is(r, permission, action, topic))
			return (ssize_t)i;
	return -1;
}

/* The built_in_database source, enabled; then its rules for all clients: the original's three, merged
 * into what is there so that provisioning a second tenant keeps the first one's allow. */
static int
authorization(struct api *a, json_t *rep, const char *slug, char *err, size_t errlen)
{
	static const char src[] = "/api/v5/authorization/sources/built_in_database";
	static const char all[] = "/api/v5/authorization/sources/built_in_database/rules/all";
	char topic[TSK_SLUG_MAX + 16];
	json_t *have = NULL, *rules, *ans = NULL, *body;
	long st;
	ssize_t at;
	int rc, changed = 0;
	size_t i;

	rc = ensure(a, rep, slug, "authorization source", "built_in_database", src, "/api/v5/authorization/sources",
	    json_pack("{s:s, s:b, s:i}", "type", "built_in_database", "enable", 1, "max_rules", 100),
	    json_pack("{s:s, s:b, s:i}", "type", "built_in_database", "enable", 1, "max_rules", 100), err, errlen);
	if (rc != TSK_OK)
		return rc;
	if ((rc = call(a, "GET", all, NULL, &st, &have, err, errlen)) != TSK_OK)
		return rc;
	if (st != 200 || !json_is_array(json_object_get(have, "rules"))) {
		rc = unexpected("GET", all, st, have, err, errlen);
		json_decref(have);
		return rc;
	}
	rules = json_array();
	json_array_foreach(json_object_get(have, "rules"), i, body)
		json_array_append(rules, body);
	json_decref(have);
	snprintf(topic, sizeof topic, "tenants/%s/#", slug);
	if (find_rule(rules, "deny", "all", "$queue/#") < 0) {
		json_array_insert_new(rules, 0, json_pack("{s:s, s:s, s:s}", "action", "all", "permission", "deny", "topic", "$queue/#"));
		changed = 1;
	}
	if (find_rule(rules, "allow", "all", topic) < 0) {
		/* Before the catch-all deny, or it would never be reached. */
		at = find_rule(rules, "deny", "all", "#");
		json_array_insert_new(rules, at < 0 ? json_array_size(rules) : (size_t)at,
		    json_pack("{s:s, s:s, s:s}", "action", "all", "permission", "allow", "topic", topic));
		changed = 1;
	}
	if (find_rule(rules, "deny", "all", "#") < 0) {
		json_array_append_new(rules, json_pack("{s:s, s:s, s:s}", "action", "all", "permission", "deny", "topic", "#"));
		changed = 1;
	}
	if (!changed) {
		json_decref(rules);
		report(rep, slug, "authorization rules", "all", "unchanged");
		return TSK_OK;
	}
	body = json_pack("{s:o}", "rules", rules);
	rc = call(a, "POST", all, body, &st, &ans, err, errlen);
	json_decref(body);
	if (rc == TSK_OK && st != 204 && st != 200)
		rc = unexpected("POST", all, st, ans, err, errlen);
	json_decref(ans);
	if (rc == TSK_OK)
		report(rep, slug, "authorization rules", "all", "updated");
	return rc;
}

int
tsk_emqx_provision(const struct tsk_emqx_conf *ec, const char *slug, json_t **report_out, char *err, size_t errlen)
{
	char name[TSK_SLUG_MAX + 32], id[TSK_SLUG_MAX + 40], rule[TSK_SLUG_MAX + 32], path[TSK_SLUG_MAX + 96];
	char sql[TSK_SLUG_MAX + 96], desc[TSK_SLUG_MAX + 64];
	struct api a = { .c = ec };
	json_t *rep = json_array(), *put, *ans = NULL;
	long st;
	int rc;
	size_t n;

	*report_out = NULL;
	if ((rc = tsk_tenant_slug_check(slug, err, errlen)) != TSK_OK) {
		json_decref(rep);
		return rc;
	}
	snprintf(a.base, sizeof a.base, "%s", ec->url);
	n = strlen(a.base);
	while (n > 0 && a.base[n - 1] == '/')
		a.base[--n] = '\0';
	if ((a.curl = curl_easy_init()) == NULL) {
		json_decref(rep);
		return tsk_seterr(err, errlen, TSK_EFAIL, "curl_easy_init failed");
	}
	snprintf(name, sizeof name, "http_ingest_%s", slug);
	snprintf(id, sizeof id, "http:%s", name);
	snprintf(rule, sizeof rule, "r_%s_ingest", slug);

	/* 1. Liveness. */
	if ((rc = call(&a, "GET", "/api/v5/status", NULL, &st, NULL, err, errlen)) != TSK_OK)
		goto out;
	if (st != 200) {
		rc = unexpected("GET", "/api/v5/status", st, NULL, err, errlen);
		goto out;
	}
	/* 2. Connector: enable_pipelining 1 is the v5 form of the original's false (one request in flight per
	 * connection); request_timeout moved to the action (resource_opts.request_ttl). */
	snprintf(desc, sizeof desc, "TrakSense ingest of tenant %s", slug);
	put = json_pack("{s:s, s:b, s:s, s:{s:s}, s:s, s:s, s:i, s:i}", "description", desc, "enable", 1, "url",
	    ec->ingest_url, "headers", "content-type", "application/json", "connect_timeout", "5s", "pool_type", "random",
	    "pool_size", 16, "enable_pipelining", 1);
	snprintf(path, sizeof path, "/api/v5/connectors/%s", id);
	rc = ensure(&a, rep, slug, "connector", id, path, "/api/v5/connectors", put,
	    with_names(put, "type", "http", "name", name), err, errlen);
	if (rc != TSK_OK)
		goto out;
	/* 3. Action: the working body template and the x-device-token header (the original system). */
	put = json_pack("{s:s, s:b, s:s, s:{s:s, s:s, s:{s:s, s:s, s:s}, s:s, s:i}, s:{s:s}}", "description", desc, "enable",
	    1, "connector", name, "parameters", "path", ec->ingest_path, "method", "post", "headers", "content-type",
	    "application/json", "x-tenant", slug, "x-device-token", ec->token, "body", tsk_emqx_body_template,
	    "max_retries", 5, "resource_opts", "request_ttl", "10s");
	snprintf(path, sizeof path, "/api/v5/actions/%s", id);
	rc = ensure(&a, rep, slug, "action", id, path, "/api/v5/actions", put, with_names(put, "type", "http", "name", name),
	    err, errlen);
	if (rc != TSK_OK)
		goto out;
	/* 4. Rule. */
	snprintf(sql, sizeof sql, "SELECT clientid, topic, payload, timestamp FROM \"tenants/%s/#\"", slug);
	snprintf(desc, sizeof desc, "Forward tenants/%s/# -> HTTP %s", slug, ec->ingest_path);
	put = json_pack("{s:s, s:s, s:b, s:[s]}", "sql", sql, "description", desc, "enable", 1, "actions", id);
	snprintf(path, sizeof path, "/api/v5/rules/%s", rule);
	rc = ensure(&a, rep, slug, "rule", rule, path, "/api/v5/rules", put, with_names(put, "id", rule, NULL, NULL), err,
	    errlen);
	if (rc != TSK_OK)
		goto out;
	/* 5. Authorization. */
	rc = authorization(&a, rep, slug, err, errlen);
out:
	json_decref(ans);
	curl_easy_cleanup(a.curl);
	if (rc != TSK_OK) {
		json_decref(rep);
		return rc;
	}
	*report_out = rep;
	return TSK_OK;
}
