/*
 * Long-lived API tokens of a tenant, for scripts (`Authorization: Bearer tsk_...`) and for ingest
 * clients (role "ingest": accepted by POST /ingest besides the shared secret, by nothing else).
 *
 * A token is "tsk_" + prefix (12 hex digits, public: it finds the row and names the token in lists)
 * + "_" + secret (32 random bytes in base64url, 43 characters). Only a BLAKE2b hash of the whole token is
 * stored: the token is shown once, when it is made, and cannot be read back. 256 random bits make a
 * slow password hash unnecessary; the hash is compared in constant time. Revoking keeps the row.
 */
#ifndef TSK_APITOKEN_H
#define TSK_APITOKEN_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "core/tsk.h"

#define TSK_APITOKEN_LEN 60        /* characters of a token, without the NUL */
#define TSK_APITOKEN_PREFIX_LEN 12
#define TSK_APITOKEN_NAME_MAX 100  /* bytes */
#define TSK_APITOKEN_ROLE_MAX 16   /* bytes of the longest role, with the NUL */

/* What the token is presented for: the JSON API, or POST /ingest. An ingest token is refused by the
 * API and an API token by /ingest. */
enum tsk_apitoken_use { TSK_APITOKEN_API = 1, TSK_APITOKEN_INGEST = 2 };

struct tsk_apitoken {
	int64_t id;
	int64_t user_id;                     /* 0: a token of its own, not a user's */
	char tenant[TSK_SLUG_MAX + 1];       /* "" for a public-site token */
	char name[TSK_APITOKEN_NAME_MAX + 1];
	char role[TSK_APITOKEN_ROLE_MAX];    /* owner admin operator technician viewer, or ingest */
	char prefix[TSK_APITOKEN_PREFIX_LEN + 1];
};

/* A membership role or "ingest". TSK_OK or TSK_EINVAL with why. */
int tsk_apitoken_role_check(const char *role, char *err, size_t errlen);
/* 1..TSK_APITOKEN_NAME_MAX bytes, no control characters, not only digits (`token rm` takes an id or a
 * name). TSK_OK or TSK_EINVAL. */
int tsk_apitoken_name_check(const char *name, char *err, size_t errlen);

/*
 * Makes a token for tenant `slug` named `name` with `role`. name NULL is allowed for role "ingest" only
 * and means "ingest". token (TSK_APITOKEN_LEN + 1 bytes) receives the token: the only time it exists in
 * clear. out (may be NULL) receives its record. TSK_ENOTFOUND for an unknown tenant, TSK_EEXIST when a
 * live token of the tenant has that name, TSK_EINVAL for a bad name or role.
 */
int tsk_apitoken_create(PGconn *db, const char *slug, const char *name, const char *role, char *token,
    struct tsk_apitoken *out, char *err, size_t errlen);

/* The tenant's tokens, live ones first, never the secret or its hash: [{id, tenant, name, role, prefix,
 * created_at, last_used_at, revoked_at}] (times RFC 3339 UTC or null). TSK_ENOTFOUND for an unknown
 * tenant. */
int tsk_apitoken_list(PGconn *db, const char *slug, json_t **out, char *err, size_t errlen);

/* Revokes the tenant's live token with that id (digits) or name. out (may be NULL) receives its record.
 * TSK_ENOTFOUND when the tenant has no such live token. */
int tsk_apitoken_revoke(PGconn *db, const char *slug, const char *name_or_id, struct tsk_apitoken *out,
    char *err, size_t errlen);

/*
 * Checks a presented token for tenant `slug` (NULL or "" for the public site) and `use`. TSK_OK fills out
 * (may be NULL) and notes the use (last_used_at, at most once a minute per token). TSK_EINVAL when
 * refused: malformed, unknown, hash mismatch, revoked, expired, another tenant's, a user's token whose
 * user is inactive, or the wrong use; err says which, for the log (answer the client the same for all).
 * Another status for a database failure.
 */
int tsk_apitoken_verify(PGconn *db, const char *token, const char *slug, enum tsk_apitoken_use use,
    struct tsk_apitoken *out, char *err, size_t errlen);

#endif
