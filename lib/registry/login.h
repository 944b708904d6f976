/*
 * Who is calling: password login, and the checks that turn a verified token into a user.
 *
 * A principal is a user on a site: the public site (tenant "") or a tenant, where the user needs a
 * membership. is_staff is reported, never a membership: staff gates the operator pages of the public
 * site; on a tenant it grants nothing by itself.
 *
 * Every refusal returns TSK_EINVAL with principal->why saying which (for the log and the answer's
 * shape); a database failure returns its own status (TSK_ETEMP: try later).
 */
#ifndef TSK_LOGIN_H
#define TSK_LOGIN_H

#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "core/tsk.h"
#include "registry/apitoken.h"
#include "registry/jwt.h"
#include "registry/ratelimit.h"

enum tsk_auth_why {
	TSK_AUTH_OK = 0,
	TSK_AUTH_BAD_CREDENTIALS, /* unknown user or wrong password: the same answer for both */
	TSK_AUTH_DISABLED,        /* the password was right, the account is inactive */
	TSK_AUTH_NOT_MEMBER,      /* no membership in the tenant */
	TSK_AUTH_RATE_LIMITED,    /* too many failures for the account or the address; see retry_after_us */
	TSK_AUTH_BAD_TOKEN,       /* the token failed tsk_jwt_verify */
	TSK_AUTH_STALE_TOKEN,     /* unknown user, or the password changed since the token was issued */
	TSK_AUTH_REVOKED          /* a refresh token revoked by a logout (tsk_auth_revoke) */
};

struct tsk_principal {
	enum tsk_auth_why why;
	int64_t user_id;
	char email[256];
	int is_staff, is_active;
	int64_t pgen;                     /* the user's current password generation */
	char tenant[TSK_SLUG_MAX + 1];    /* "" for the public site */
	char role[16];                    /* the membership role in tenant, "" on the public site */
	int64_t retry_after_us;           /* TSK_AUTH_RATE_LIMITED: when to try again */
	int64_t token_id;                 /* authenticated by an API token: its id (user_id is then the
	                                   * token's user, 0 for a token of its own); 0 otherwise */
	char token_name[TSK_APITOKEN_NAME_MAX + 1];
};

/* A short English phrase for why (for logs). */
const char *tsk_auth_why_name(enum tsk_auth_why why);

/* Failed-login limits: by_account keyed by the name typed, by_address by the client's address. Either
 * limiter may be NULL (not limited). */
struct tsk_login_limits {
	struct tsk_ratelimit *by_account, *by_address;
	const char *address;   /* the client's address, also stored as last_login_ip when it is an IP */
	int64_t now_us;
};

/*
 * Password login on a site (tenant NULL or "" for the public site). username_or_email is the email
 * address, in any case (accounts have no separate user name: a value without '@' matches nobody).
 * An unknown user and a wrong password take the same time (argon2id runs against a dummy hash when
 * there is no user) and give the same answer, TSK_AUTH_BAD_CREDENTIALS; each counts as a failure in
 * both limiters. Every attempt takes its token from both limiters first (so concurrent attempts cannot
 * overrun them), and a limited account or address is refused before any hashing. The right password
 * gives the tokens back and forgets the account's failures; only then are TSK_AUTH_DISABLED and
 * TSK_AUTH_NOT_MEMBER told apart. On TSK_OK p is filled and last_login (and last_login_ip) are set.
 */
int tsk_auth_login(PGconn *db, const char *username_or_email, const char *password, const char *tenant,
    const struct tsk_login_limits *limits, struct tsk_principal *p, char *err, size_t errlen);

/*
 * The user behind a verified token, as of now: exists, is active, still has password generation pgen
 * (a password change since issuing refuses the token), and on a tenant has a membership there (whose
 * role is reported). TSK_OK fills p.
 */
int tsk_auth_user(PGconn *db, int64_t user_id, int64_t pgen, const char *tenant, struct tsk_principal *p,
    char *err, size_t errlen);

/* tsk_jwt_verify then tsk_auth_user: the whole check of an access (or refresh) token. A refresh token
 * is also looked up in the denylist (public.revoked_token): a revoked one is TSK_AUTH_REVOKED. */
int tsk_auth_jwt(PGconn *db, const char *secret, const char *token, enum tsk_jwt_type type, const char *tenant,
    int64_t now_s, struct tsk_principal *p, char *err, size_t errlen);

/*
 * An `Authorization: Bearer` value on a site: an API token (it starts with "tsk_": tsk_apitoken_verify
 * for the API; the principal has the token's role and id) or else an access JWT (tsk_auth_jwt).
 * Refusals are TSK_EINVAL with p->why TSK_AUTH_BAD_TOKEN (or what tsk_auth_user says).
 */
int tsk_auth_bearer(PGconn *db, const char *secret, const char *token, const char *tenant, int64_t now_s,
    struct tsk_principal *p, char *err, size_t errlen);

/* What a principal may do on its tenant, by its role (all need an accepted principal on a tenant):
 * READ any membership role; WRITE owner, admin, operator (a technician reads only); MANAGE_TEAM owner,
 * admin; DELETE_TENANT owner. An ingest token has none of them. 1 or 0. */
enum tsk_auth_cap { TSK_CAP_READ, TSK_CAP_WRITE, TSK_CAP_MANAGE_TEAM, TSK_CAP_DELETE_TENANT };
int tsk_auth_can(const struct tsk_principal *p, enum tsk_auth_cap cap);

/* A token of `type` for a principal that passed tsk_auth_login or tsk_auth_user (its user, tenant and
 * pgen), with the default lifetime of the type; never for one authenticated by an API token. out holds
 * TSK_JWT_MAX + 1 bytes. */
int tsk_auth_issue(const char *secret, const struct tsk_principal *p, enum tsk_jwt_type type, int64_t now_s,
    char *out, size_t outlen, char *err, size_t errlen);

/* Revokes the token with these (verified) claims until it expires: its jti goes into the denylist, and
 * rows of tokens that expired more than a day ago are deleted. Revoking it twice is no error. TSK_OK or the
 * database's status. */
int tsk_auth_revoke(PGconn *db, const struct tsk_jwt_claims *c, char *err, size_t errlen);

/* Ends every session of the user (raises the password generation) without changing the password.
 * TSK_ENOTFOUND for an unknown user. */
int tsk_auth_logout_everywhere(PGconn *db, int64_t user_id, char *err, size_t errlen);

#endif
