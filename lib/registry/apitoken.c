#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "registry/apitoken.h"
#include "pg/db.h"
#include "core/tsk.h"

#define SECRET_BYTES 32
#define SECRET_B64 43 /* base64url of 32 bytes, no padding */
#define HASH_BYTES 32
#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* Keys BLAKE2b for this one purpose (domain separation); the token's random bits are its protection. */
static const unsigned char hash_key[] = "TrakSense API token hash, v1....";

#define TIME_JSON(col) \
	"to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define RECORD_COLS "a.id, coalesce(a.user_id, 0), coalesce(t.slug, ''), a.name, a.role, a.prefix"

int
tsk_apitoken_role_check(const char *role, char *err, size_t errlen)
{
	static const char *const roles[] = { "owner", "admin", "operator", "technician", "viewer", "ingest", NULL };

	for (int i = 0; role != NULL && roles[i] != NULL; i++)
		if (strcmp(role, roles[i]) == 0)
			return TSK_OK;
	return tsk_seterr(err, errlen, TSK_EINVAL,
	    "invalid token role \"%s\": owner, admin, operator, technician, viewer or ingest", role ? role : "");
}

int
tsk_apitoken_name_check(const char *name, char *err, size_t errlen)
{
	size_t n = name != NULL ? strlen(name) : 0;

	if (n == 0 || n > TSK_APITOKEN_NAME_MAX)
		return tsk_seterr(err, errlen, TSK_EINVAL, "a token name has 1 to %d bytes", TSK_APITOKEN_NAME_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < ' ' || name[i] == 0x7f)
			return tsk_seterr(err, errlen, TSK_EINVAL, "a token name has no control characters");
	if (strspn(name, "0123456789") == n)
		return tsk_seterr(err, errlen, TSK_EINVAL, "a token name is not only digits (those name an id)");
	return TSK_OK;
}

/* Hex BLAKE2b of the token text (2 * HASH_BYTES + 1 bytes). */
static void
token_hash(const char *token, size_t len, char hex[2 * HASH_BYTES + 1])
{
	unsigned char h[HASH_BYTES];

	crypto_generichash(h, sizeof h, (const unsigned char *)token, len, hash_key, sizeof hash_key - 1);
	sodium_bin2hex(hex, 2 * HASH_BYTES + 1, h, sizeof h);
}

/* The prefix of a well-formed token (TSK_APITOKEN_PREFIX_LEN + 1 bytes), or -1. */
static int
parse(const char *token, char *prefix)
{
	unsigned char secret[SECRET_BYTES];
	const char *s, *end = NULL;
	size_t len = 0;

	if (token == NULL || strnlen(token, TSK_APITOKEN_LEN + 1) != TSK_APITOKEN_LEN ||
	    strncmp(token, "tsk_", 4) != 0 || strspn(token + 4, "0123456789abcdef") != TSK_APITOKEN_PREFIX_LEN ||
	    token[4 + TSK_APITOKEN_PREFIX_LEN] != '_')
		return -1;
	s = token + 5 + TSK_APITOKEN_PREFIX_LEN;
	if (sodium_base642bin(secret, sizeof secret, s, SECRET_B64, NULL, &len, &end, B64) != 0 ||
	    end != s + SECRET_B64 || len != SECRET_BYTES)
		return -1;
	memcpy(prefix, token + 4, TSK_APITOKEN_PREFIX_LEN);
	prefix[TSK_APITOKEN_PREFIX_LEN] = '\0';
	return 0;
}

/* The record from RECORD_COLS at column `c` of row 0. */
static void
record(PGresult *res, int c, struct tsk_apitoken *out)
{
	if (out == NULL)
		return;
	memset(out, 0, sizeof *out);
	out->id = strtoll(PQgetvalue(res, 0, c), NULL, 10);
	out->user_id = strtoll(PQgetvalue(res, 0, c + 1), NULL, 10);
	snprintf(out->tenant, sizeof out->tenant, "%s", PQgetvalue(res, 0, c + 2));
	snprintf(out->name, sizeof out->name, "%s", PQgetvalue(res, 0, c + 3));
	snprintf(out->role, sizeof out->role, "%s", PQgetvalue(res, 0, c + 4));
	snprintf(out->prefix, sizeof out->prefix, "%s", PQgetvalue(res, 0, c + 5));
}

int
tsk_apitoken_create(PGconn *db, const char *slug, const char *name, const char *role, char *token,
    struct tsk_apitoken *out, char *err, size_t errlen)
{
	unsigned char secret[SECRET_BYTES], pre[TSK_APITOKEN_PREFIX_LEN / 2];
	char prefix[TSK_APITOKEN_PREFIX_LEN + 1], hex[2 * HASH_BYTES + 1];
	const char *p[5];
	PGresult *res;
	int rc;

	if ((rc = tsk_apitoken_role_check(role, err, errlen)) != TSK_OK)
		return rc;
	if (name == NULL && strcmp(role, "ingest") == 0)
		name = "ingest";
	if ((rc = tsk_apitoken_name_check(name, err, errlen)) != TSK_OK)
		return rc;
	if (slug == NULL || slug[0] == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "a token needs a tenant");
	if (sodium_init() < 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "libsodium failed to initialize");
	randombytes_buf(pre, sizeof pre);
	randombytes_buf(secret, sizeof secret);
	sodium_bin2hex(prefix, sizeof prefix, pre, sizeof pre);
	memcpy(token, "tsk_", 4);
	memcpy(token + 4, prefix, TSK_APITOKEN_PREFIX_LEN);
	token[4 + TSK_APITOKEN_PREFIX_LEN] = '_';
	sodium_bin2base64(token + 5 + TSK_APITOKEN_PREFIX_LEN, SECRET_B64 + 1, secret, sizeof secret, B64);
	sodium_memzero(secret, sizeof secret);
	token_hash(token, TSK_APITOKEN_LEN, hex);

	p[0] = slug;
	p[1] = name;
	p[2] = hex;
	p[3] = prefix;
	p[4] = role;
	rc = tsk_db_exec(db,
	    "WITH a AS (INSERT INTO public.api_token (tenant_id, name, token_hash, prefix, role)"
	    " SELECT t.id, $2, $3, $4, $5 FROM public.tenant t WHERE t.slug = $1 RETURNING *)"
	    " SELECT " RECORD_COLS " FROM a JOIN public.tenant t ON t.id = a.tenant_id", 5, p, &res, err, errlen);
	if (rc == TSK_EEXIST)
		rc = tsk_seterr(err, errlen, TSK_EEXIST, "tenant \"%s\" has a live token named \"%s\" already", slug, name);
	if (rc != TSK_OK) {
		sodium_memzero(token, TSK_APITOKEN_LEN + 1);
		return rc;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		sodium_memzero(token, TSK_APITOKEN_LEN + 1);
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "unknown tenant \"%s\"", slug);
	}
	record(res, 0, out);
	PQclear(res);
	return TSK_OK;
}

int
tsk_apitoken_list(PGconn *db, const char *slug, json_t **out, char *err, size_t errlen)
{
	const char *p[] = { slug };
	PGresult *res;
	int rc;

	rc = tsk_db_exec(db, "SELECT 1 FROM public.tenant WHERE slug = $1", 1, p, &res, err, errlen);
	if (rc != TSK_OK)
		return rc;
	rc = PQntuples(res) == 1 ? TSK_OK : tsk_seterr(err, errlen, TSK_ENOTFOUND, "unknown tenant \"%s\"", slug ? slug : "");
	PQclear(res);
	if (rc != TSK_OK)
		return rc;
	return tsk_db_json_rows(db,
	    "SELECT json_build_object('id', a.id, 'tenant', t.slug, 'name', a.name, 'role', a.role,"
	    " 'prefix', a.prefix, 'created_at', " TIME_JSON("a.created_at") ","
	    " 'last_used_at', " TIME_JSON("a.last_used_at") ", 'revoked_at', " TIME_JSON("a.revoked_at") ")::text"
	    " FROM public.api_token a JOIN public.tenant t ON t.id = a.tenant_id WHERE t.slug = $1"
	    " ORDER BY a.revoked_at IS NOT NULL, a.name, a.id",
	    1, p, out, err, errlen);
}

int
tsk_apitoken_revoke(PGconn *db, const char *slug, const char *name_or_id, struct tsk_apitoken *out,
    char *err, size_t errlen)
{
	int by_id = name_or_id != NULL && name_or_id[0] != '\0' && strlen(name_or_id) <= 18 &&
	    strspn(name_or_id, "0123456789") == strlen(name_or_id);
	const char *p[] = { slug, by_id ? name_or_id : NULL, by_id ? NULL : name_or_id };
	PGresult *res;
	int rc;

	if (name_or_id == NULL || name_or_id[0] == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "which token: a name or an id");
	rc = tsk_db_exec(db,
	    "WITH a AS (UPDATE public.api_token a SET revoked_at = now() FROM public.tenant t"
	    " WHERE t.id = a.tenant_id AND t.slug = $1 AND a.revoked_at IS NULL"
	    " AND (a.id = $2::bigint OR a.name = $3) RETURNING a.*)"
	    " SELECT " RECORD_COLS " FROM a JOIN public.tenant t ON t.id = a.tenant_id", 3, p, &res, err, errlen);
	if (rc != TSK_OK)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "tenant \"%s\" has no live token %s", slug ? slug : "",
		    name_or_id);
	}
	record(res, 0, out);
	PQclear(res);
	return TSK_OK;
}

static int
refuse(char *err, size_t errlen, const char *why)
{
	return tsk_seterr(err, errlen, TSK_EINVAL, "API token refused: %s", why);
}

int
tsk_apitoken_verify(PGconn *db, const char *token, const char *slug, enum tsk_apitoken_use use,
    struct tsk_apitoken *out, char *err, size_t errlen)
{
	char prefix[TSK_APITOKEN_PREFIX_LEN + 1], hex[2 * HASH_BYTES + 1];
	/* Compared against when the prefix is unknown, so both paths do the same work. */
	static const char nothing[2 * HASH_BYTES + 1] =
	    "0000000000000000000000000000000000000000000000000000000000000000";
	const char *p[] = { prefix }, *stored;
	const char *why = NULL;
	struct tsk_apitoken rec;
	PGresult *res;
	int rc, known, same;

	if (sodium_init() < 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "libsodium failed to initialize");
	if (parse(token, prefix) != 0)
		return refuse(err, errlen, "malformed");
	rc = tsk_db_exec(db,
	    "SELECT a.token_hash, a.revoked_at IS NOT NULL, coalesce(a.expires_at <= now(), false),"
	    " coalesce(u.is_active, true), " RECORD_COLS
	    " FROM public.api_token a LEFT JOIN public.tenant t ON t.id = a.tenant_id"
	    " LEFT JOIN public.app_user u ON u.id = a.user_id WHERE a.prefix = $1", 1, p, &res, err, errlen);
	if (rc != TSK_OK)
		return rc;
	known = PQntuples(res) == 1;
	stored = known ? PQgetvalue(res, 0, 0) : nothing;
	token_hash(token, TSK_APITOKEN_LEN, hex);
	same = strlen(stored) == 2 * HASH_BYTES && sodium_memcmp(stored, hex, 2 * HASH_BYTES) == 0;
	if (!known || !same)
		why = "unknown token";
	else if (PQgetvalue(res, 0, 1)[0] == 't')
		why = "revoked";
	else if (PQgetvalue(res, 0, 2)[0] == 't')
		why = "expired";
	else if (PQgetvalue(res, 0, 3)[0] != 't')
		why = "its user is inactive";
	if (why == NULL) {
		record(res, 4, &rec);
		if (strcmp(rec.tenant, slug != NULL ? slug : "") != 0)
			why = "a token of another tenant";
		else if ((strcmp(rec.role, "ingest") == 0) != (use == TSK_APITOKEN_INGEST))
			why = use == TSK_APITOKEN_INGEST ? "not an ingest token" : "an ingest token is for /ingest only";
	}
	PQclear(res);
	if (why != NULL)
		return refuse(err, errlen, why);

	/* Noted at most once a minute, so a busy script does not write a row per request. */
	char id[24];
	const char *q[] = { id };
	snprintf(id, sizeof id, "%lld", (long long)rec.id);
	rc = tsk_db_exec(db, "UPDATE public.api_token SET last_used_at = now() WHERE id = $1"
	    " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')", 1, q, NULL, err, errlen);
	if (rc != TSK_OK)
		return rc;
	if (out != NULL)
		*out = rec;
	return TSK_OK;
}
