/*
 * HS256 JSON Web Tokens (RFC 7519) for the HTTP API: access and refresh tokens bound to a tenant and to
 * the user's password generation. HMAC-SHA-256 from libsodium, base64url without padding.
 *
 * A token is header.payload.signature. The header is always exactly {"alg":"HS256","typ":"JWT"}; the
 * payload holds
 *   token_type  "access" or "refresh"
 *   sub         the user id, as a decimal string
 *   tenant      the tenant's slug; absent for the public site
 *   pgen        the user's password generation when the token was issued
 *   jti         32 random hex digits
 *   iat, exp    issued at, expires at (seconds since the epoch); nbf when given
 *
 * Verification refuses (TSK_EINVAL, err says why, for the log only: a client gets one answer): a token
 * longer than TSK_JWT_MAX, anything but three base64url parts, a header that is not JSON or names an
 * algorithm other than HS256 ("none", "HS512", none at all), a signature that does not match (compared
 * in constant time), a payload that is not a JSON object with the claims above in their types, another
 * token type, another tenant, an expired token, and one issued (iat) or valid (nbf) in the future by more
 * than TSK_JWT_LEEWAY seconds. Times come from the caller, so tests can move the clock.
 *
 * The key is the `jwt_secret` configuration value: at least TSK_JWT_SECRET_MIN bytes. Thread-safe.
 */
#ifndef TSK_JWT_H
#define TSK_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "core/tsk.h"

#define TSK_JWT_SECRET_MIN 32      /* bytes of jwt_secret */
#define TSK_JWT_MAX 1024           /* the longest token accepted or made, without the NUL */
#define TSK_JWT_LEEWAY 60          /* seconds a clock may be ahead (iat, nbf) */
#define TSK_JWT_ACCESS_TTL 3600    /* seconds: 60 minutes */
#define TSK_JWT_REFRESH_TTL 604800 /* seconds: 7 days */
#define TSK_JWT_JTI_LEN 32         /* hex digits */

enum tsk_jwt_type { TSK_JWT_ACCESS = 1, TSK_JWT_REFRESH = 2 };

struct tsk_jwt_claims {
	enum tsk_jwt_type type;
	int64_t sub;                     /* user id, > 0 */
	char tenant[TSK_SLUG_MAX + 1];   /* "" for the public site */
	int64_t pgen;                    /* password generation, >= 0 */
	char jti[TSK_JWT_JTI_LEN + 1];
	int64_t iat, exp;                /* seconds since the epoch */
	int64_t nbf;                     /* 0: none */
};

/* "access" or "refresh". */
const char *tsk_jwt_type_name(enum tsk_jwt_type type);

/* The secret is long enough (TSK_JWT_SECRET_MIN bytes). TSK_OK, or TSK_EINVAL with why. */
int tsk_jwt_secret_check(const char *secret, char *err, size_t errlen);

/*
 * Makes a token of `type` for user `sub` on `tenant` (NULL or "" for the public site) with password
 * generation `pgen`, issued at now_s and valid for ttl_s seconds, with a fresh random jti. out holds
 * outlen bytes (TSK_JWT_MAX + 1 is always enough). claims (may be NULL) receives what was signed.
 */
int tsk_jwt_issue(const char *secret, enum tsk_jwt_type type, int64_t sub, const char *tenant, int64_t pgen,
    int64_t now_s, int64_t ttl_s, char *out, size_t outlen, struct tsk_jwt_claims *claims, char *err,
    size_t errlen);

/* Signs the claims as given (jti, iat, exp, nbf included): tsk_jwt_issue's second half, for tests. */
int tsk_jwt_sign(const char *secret, const struct tsk_jwt_claims *claims, char *out, size_t outlen, char *err,
    size_t errlen);

/*
 * Checks a token: signature, type `want`, tenant (NULL or "" expects a public-site token), times against
 * now_s. On TSK_OK claims (may be NULL) receives the claims. The user (does the id exist, is it active,
 * is pgen still current, is it a member of the tenant) is the caller's next check: tsk_auth_jwt in
 * registry/login.h does both.
 */
int tsk_jwt_verify(const char *secret, const char *token, enum tsk_jwt_type want, const char *tenant,
    int64_t now_s, struct tsk_jwt_claims *claims, char *err, size_t errlen);

#endif
