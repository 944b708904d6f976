/*
 * API tokens against a real PostgreSQL: made once and shown once, stored only as a hash, listed
 * without secrets, verified for their tenant and use only, refused when malformed, unknown, tampered,
 * revoked or expired, revoked by name or id. Needs $TSK_TEST_DSN (tests/run); makes and drops a
 * database of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "dbtest.h"
#include "core/tsk.h"
#include "pg/db.h"
#include "pg/migrate.h"
#include "registry/apitoken.h"
#include "registry/tenant.h"

static PGconn *db;

static int
verify(const char *tok, const char *slug, enum tsk_apitoken_use use, struct tsk_apitoken *out, char *err,
    size_t errlen)
{
	return tsk_apitoken_verify(db, tok, slug, use, out, err, errlen);
}

int
main(void)
{
	struct dbtest t;
	char err[TSK_ERRLEN] = "", sql[512];
	char tok[TSK_APITOKEN_LEN + 1], tok2[TSK_APITOKEN_LEN + 1], ing[TSK_APITOKEN_LEN + 1], bad[TSK_APITOKEN_LEN + 8];
	struct tsk_apitoken rec, got;
	json_t *list = NULL;
	int rc;

	switch (dbtest_open(&t, "tsk_apitoken")) {
	case 0: return 0;
	case -1: return dbtest_close(&t);
	}
	db = t.db;
	ok(tsk_tenant_create(db, "umc", "UMC", NULL, err, sizeof err) == TSK_OK, "tenant umc: %s", err);
	ok(tsk_tenant_create(db, "other", "Other", NULL, err, sizeof err) == TSK_OK, "tenant other: %s", err);

	/* Making */
	rc = tsk_apitoken_create(db, "umc", "grafana", "viewer", tok, &rec, err, sizeof err);
	ok(rc == TSK_OK, "create a viewer token: %s", rc == TSK_OK ? tok : err);
	is_int(strlen(tok), TSK_APITOKEN_LEN, "a token has %d characters", TSK_APITOKEN_LEN);
	ok(strncmp(tok, "tsk_", 4) == 0 && tok[16] == '_' && strncmp(tok + 4, rec.prefix, 12) == 0,
	    "tsk_<prefix>_<secret>, the prefix in its record");
	ok(rec.id > 0 && strcmp(rec.tenant, "umc") == 0 && strcmp(rec.name, "grafana") == 0 &&
	    strcmp(rec.role, "viewer") == 0 && rec.user_id == 0, "record: id, tenant, name, role");
	snprintf(sql, sizeof sql, "SELECT count(*) FROM public.api_token WHERE token_hash LIKE '%%%s%%'"
	    " OR token_hash LIKE '%%%s%%'", tok + 17, tok + 40);
	is_str(dbtest_val(db, sql), "0", "the secret is not stored");
	is_str(dbtest_val(db, "SELECT length(token_hash) FROM public.api_token"), "64", "a 64-hex-digit hash is");
	ok(tsk_apitoken_create(db, "umc", "grafana", "viewer", tok2, NULL, err, sizeof err) == TSK_EEXIST,
	    "a second live token of that name: exists (%s)", err);
	ok(tsk_apitoken_create(db, "other", "grafana", "admin", tok2, NULL, err, sizeof err) == TSK_OK,
	    "the same name on another tenant is fine");
	ok(strcmp(tok, tok2) != 0, "and a different token");
	ok(tsk_apitoken_create(db, "nope", "x", "viewer", bad, NULL, err, sizeof err) == TSK_ENOTFOUND,
	    "unknown tenant: %s", err);
	ok(tsk_apitoken_create(db, "umc", "x", "superuser", bad, NULL, err, sizeof err) == TSK_EINVAL,
	    "unknown role: %s", err);
	ok(tsk_apitoken_create(db, "umc", "123", "viewer", bad, NULL, err, sizeof err) == TSK_EINVAL,
	    "a name of digits only: %s", err);
	ok(tsk_apitoken_create(db, "umc", "", "viewer", bad, NULL, err, sizeof err) == TSK_EINVAL, "an empty name");
	ok(tsk_apitoken_create(db, "umc", "a\nb", "viewer", bad, NULL, err, sizeof err) == TSK_EINVAL,
	    "a name with a newline");
	ok(tsk_apitoken_create(db, "umc", NULL, "viewer", bad, NULL, err, sizeof err) == TSK_EINVAL,
	    "no name, not ingest: %s", err);
	rc = tsk_apitoken_create(db, "umc", NULL, "ingest", ing, &rec, err, sizeof err);
	ok(rc == TSK_OK && strcmp(rec.name, "ingest") == 0 && strcmp(rec.role, "ingest") == 0,
	    "an ingest token is named ingest by default: %s", rc == TSK_OK ? rec.name : err);

	/* Verifying */
	rc = verify(tok, "umc", TSK_APITOKEN_API, &got, err, sizeof err);
	ok(rc == TSK_OK && strcmp(got.name, "grafana") == 0 && strcmp(got.role, "viewer") == 0 &&
	    strcmp(got.tenant, "umc") == 0, "the viewer token verifies on umc: %s", rc == TSK_OK ? "ok" : err);
	ok(strcmp(dbtest_val(db, "SELECT last_used_at IS NOT NULL FROM public.api_token WHERE name = 'grafana'"
	    " AND tenant_id = (SELECT id FROM public.tenant WHERE slug = 'umc')"), "t") == 0, "its use is noted");
	ok(verify(tok, "other", TSK_APITOKEN_API, NULL, err, sizeof err) == TSK_EINVAL &&
	    strstr(err, "another tenant") != NULL, "refused on tenant other: %s", err);
	ok(verify(tok, NULL, TSK_APITOKEN_API, NULL, err, sizeof err) == TSK_EINVAL,
	    "refused on the public site: %s", err);
	ok(verify(tok, "umc", TSK_APITOKEN_INGEST, NULL, err, sizeof err) == TSK_EINVAL,
	    "an API token is refused by /ingest: %s", err);
	ok(verify(ing, "umc", TSK_APITOKEN_INGEST, &got, err, sizeof err) == TSK_OK && strcmp(got.role, "ingest") == 0,
	    "the ingest token verifies for ingest");
	ok(verify(ing, "umc", TSK_APITOKEN_API, NULL, err, sizeof err) == TSK_EINVAL,
	    "and is refused by the API: %s", err);
	ok(verify(ing, "other", TSK_APITOKEN_INGEST, NULL, err, sizeof err) == TSK_EINVAL,
	    "and by another tenant's /ingest: %s", err);

	/* Hostile tokens */
	strcpy(bad, tok);
	bad[30] = bad[30] == 'A' ? 'B' : 'A';
	ok(verify(bad, "umc", TSK_APITOKEN_API, NULL, err, sizeof err) == TSK_EINVAL && strstr(err, "unknown") != NULL,
	    "one secret character changed: %s", err);
	strcpy(bad, tok);
	bad[5] = bad[5] == 'a' ? 'b' : 'a';
	ok(verify(bad, "umc", TSK_APITOKEN_API, NULL, err, sizeof err) == TSK_EINVAL, "another prefix: %s", err);
	strcpy(bad, tok);
	memcpy(bad + 4, "0123456789ab", 12);
	ok(verify(bad, "umc", TSK_APITOKEN_API, NULL, err, sizeof err) == TSK_EINVAL, "an unknown prefix: %s", err);
	{
		/* The prefix of one token with the secret of another. */
		strcpy(bad, tok);
		memcpy(bad + 17, tok2 + 17, 43);
		ok(verify(bad, "umc", TSK_APITOKEN_API, NULL, err, sizeof err) == TSK_EINVAL, "a spliced token: %s", err);
	}
	snprintf(bad, sizeof bad, "%s=", tok);
	ok(verify(bad, "umc", TSK_APITOKEN_API, NULL, err, sizeof err) == TSK_EINVAL && strstr(err, "malformed"),
	    "one character too many: %s", err);
	snprintf(bad, sizeof bad, "%.*s", TSK_APITOKEN_LEN - 1, tok);
	ok(verify(bad, "umc", TSK_APITOKEN_API, NULL, err, sizeof err) == TSK_EINVAL && strstr(err, "malformed"),
	    "one too few: %s", err);
	strcpy(bad, tok);
	bad[0] = 'T';
	ok(verify(bad, "umc", TSK_APITOKEN_API, NULL, err, sizeof err) == TSK_EINVAL, "Tsk_: %s", err);
	strcpy(bad, tok);
	bad[5] = 'G';
	ok(verify(bad, "umc", TSK_APITOKEN_API, NULL, err, sizeof err) == TSK_EINVAL && strstr(err, "malformed"),
	    "a prefix that is not hex: %s", err);
	strcpy(bad, tok);
	bad[40] = '+';
	ok(verify(bad, "umc", TSK_APITOKEN_API, NULL, err, sizeof err) == TSK_EINVAL && strstr(err, "malformed"),
	    "a secret that is not base64url: %s", err);
	ok(verify("", "umc", TSK_APITOKEN_API, NULL, err, sizeof err) == TSK_EINVAL, "empty");
	ok(verify(NULL, "umc", TSK_APITOKEN_API, NULL, err, sizeof err) == TSK_EINVAL, "NULL");
	ok(verify("eyJhbGciOiJIUzI1NiJ9.e30.x", "umc", TSK_APITOKEN_API, NULL, err, sizeof err) == TSK_EINVAL,
	    "a JWT is not an API token");

	/* Listing */
	rc = tsk_apitoken_list(db, "umc", &list, err, sizeof err);
	ok(rc == TSK_OK && json_array_size(list) == 2, "umc lists 2 tokens: %s", rc == TSK_OK ? "ok" : err);
	{
		char *text = json_dumps(list, JSON_COMPACT);
		ok(text != NULL && strstr(text, tok + 17) == NULL && strstr(text, "token_hash") == NULL &&
		    strstr(text, "\"prefix\"") != NULL && strstr(text, "\"last_used_at\"") != NULL,
		    "without secret or hash: %s", text ? text : "");
		free(text);
	}
	json_decref(list);
	ok(tsk_apitoken_list(db, "nope", &list, err, sizeof err) == TSK_ENOTFOUND, "unknown tenant: %s", err);

	/* Revoking, expiring */
	ok(tsk_apitoken_revoke(db, "other", "grafana", NULL, err, sizeof err) == TSK_OK, "revoke other's grafana by name");
	ok(verify(tok, "umc", TSK_APITOKEN_API, NULL, err, sizeof err) == TSK_OK, "umc's grafana still works");
	ok(verify(tok2, "other", TSK_APITOKEN_API, NULL, err, sizeof err) == TSK_EINVAL && strstr(err, "revoked"),
	    "other's is revoked: %s", err);
	ok(tsk_apitoken_revoke(db, "other", "grafana", NULL, err, sizeof err) == TSK_ENOTFOUND,
	    "revoking it again: not found (%s)", err);
	ok(tsk_apitoken_create(db, "other", "grafana", "admin", tok2, NULL, err, sizeof err) == TSK_OK,
	    "its name may be used again");
	snprintf(sql, sizeof sql, "%lld", (long long)got.id);
	ok(tsk_apitoken_revoke(db, "other", sql, NULL, err, sizeof err) == TSK_ENOTFOUND,
	    "umc's ingest token cannot be revoked through tenant other: %s", err);
	ok(tsk_apitoken_revoke(db, "umc", sql, &rec, err, sizeof err) == TSK_OK && strcmp(rec.name, "ingest") == 0,
	    "revoke by id %s", sql);
	ok(verify(ing, "umc", TSK_APITOKEN_INGEST, NULL, err, sizeof err) == TSK_EINVAL, "the ingest token is refused");
	dbtest_val(db, "UPDATE public.api_token SET expires_at = now() - interval '1 second' WHERE name = 'grafana'"
	    " AND tenant_id = (SELECT id FROM public.tenant WHERE slug = 'umc')");
	ok(verify(tok, "umc", TSK_APITOKEN_API, NULL, err, sizeof err) == TSK_EINVAL && strstr(err, "expired"),
	    "an expired token: %s", err);
	ok(tsk_apitoken_revoke(db, "umc", "", NULL, err, sizeof err) == TSK_EINVAL, "revoke without a name");

	/* A tenant's tokens go with it. */
	ok(tsk_tenant_delete(db, "other", err, sizeof err) == TSK_OK, "delete tenant other");
	is_str(dbtest_val(db, "SELECT count(*) FROM public.api_token t LEFT JOIN public.tenant n ON n.id = t.tenant_id"
	    " WHERE n.id IS NULL"), "0", "its tokens are gone");

	return dbtest_close(&t);
}
