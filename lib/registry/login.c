#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "registry/login.h"
#include "registry/auth.h"
#include "pg/db.h"
#include "core/tsk.h"

const char *
tsk_auth_why_name(enum tsk_auth_why why)
{
	switch (why) {
	case TSK_AUTH_OK: return "ok";
	case TSK_AUTH_BAD_CREDENTIALS: return "invalid credentials";
	case TSK_AUTH_DISABLED: return "account disabled";
	case TSK_AUTH_NOT_MEMBER: return "not a member of this tenant";
	case TSK_AUTH_RATE_LIMITED: return "too many failed logins";
	case TSK_AUTH_BAD_TOKEN: return "invalid token";
	case TSK_AUTH_STALE_TOKEN: return "token no longer valid";
	case TSK_AUTH_REVOKED: return "token revoked";
	}
	return "refused";
}

static int
refuse(struct tsk_principal *p, enum tsk_auth_why why, char *err, size_t errlen)
{
	p->why = why;
	return tsk_seterr(err, errlen, TSK_EINVAL, "%s", tsk_auth_why_name(why));
}

/* An argon2id hash of a random password, made once with the parameters of real ones: an unknown user's
 * login verifies against it, so it costs what a known user's does. */
static char dummy_hash[TSK_HASH_LEN];
static int dummy_ok;
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void
make_dummy(void)
{
	unsigned char rnd[16];
	char pw[33], err[TSK_ERRLEN];

	if (sodium_init() < 0)
		return;
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(pw, sizeof pw, rnd, sizeof rnd);
	dummy_ok = tsk_auth_hash_password(pw, dummy_hash, err, sizeof err) == TSK_OK;
}

/* Fills p from a row of (id, is_active, is_staff, password_gen, email, role) at column c. */
static void
fill(struct tsk_principal *p, PGresult *res, int c, const char *tenant)
{
	p->user_id = strtoll(PQgetvalue(res, 0, c), NULL, 10);
	p->is_active = PQgetvalue(res, 0, c + 1)[0] == 't';
	p->is_staff = PQgetvalue(res, 0, c + 2)[0] == 't';
	p->pgen = strtoll(PQgetvalue(res, 0, c + 3), NULL, 10);
	snprintf(p->email, sizeof p->email, "%s", PQgetvalue(res, 0, c + 4));
	snprintf(p->tenant, sizeof p->tenant, "%s", tenant != NULL ? tenant : "");
	snprintf(p->role, sizeof p->role, "%s", PQgetvalue(res, 0, c + 5));
}

#define USER_COLS "u.id, u.is_active, u.is_staff, u.password_gen, u.email, coalesce(m.role, ''), m.role IS NOT NULL"
/* Only an active membership lets its user in: an inactive or suspended one is no membership here. */
#define USER_FROM \
	" FROM public.app_user u LEFT JOIN (public.membership m JOIN public.tenant t ON t.id = m.tenant_id" \
	" AND t.slug = $2 AND m.status = 'active') ON m.user_id = u.id"

/* "kind:value", with the value as the lookup sees it (spaces around it trimmed, ASCII letters in lower
 * case), so " Owner@X" and "owner@x" share one bucket. */
static void
limiter_key(char *out, size_t outlen, const char *kind, const char *value)
{
	size_t n, len;

	value = value != NULL ? value : "";
	while (*value == ' ')
		value++;
	len = strlen(value);
	while (len > 0 && value[len - 1] == ' ')
		len--;
	n = (size_t)snprintf(out, outlen, "%s:%.*s", kind, (int)(len < 1024 ? len : 1024), value);
	for (size_t i = 0; i < n && i < outlen; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
}

int
tsk_auth_login(PGconn *db, const char *username_or_email, const char *password, const char *tenant,
    const struct tsk_login_limits *limits, struct tsk_principal *p, char *err, size_t errlen)
{
	struct tsk_ratelimit *acc = limits != NULL ? limits->by_account : NULL;
	struct tsk_ratelimit *adr = limits != NULL && limits->address != NULL ? limits->by_address : NULL;
	int64_t now = limits != NULL ? limits->now_us : 0, wait_a = 0, wait_b = 0;
	const char *name = username_or_email != NULL ? username_or_email : "";
	char akey[320], ikey[80], ip[INET6_ADDRSTRLEN];
	unsigned char addr[sizeof(struct in6_addr)];
	const char *params[2] = { name, tenant != NULL ? tenant : "" };
	PGresult *res = NULL;
	int rc, found = 0, member = 0, good;

	memset(p, 0, sizeof *p);
	/* The account's bucket is keyed by the address as the database finds the account (lower() folds
	 * all of Unicode: U+212A KELVIN SIGN is "k"), or else every spelling of one account would get a
	 * bucket of its own. Names the database cannot fold (not UTF-8) match no account anyway. */
	{
		PGresult *nr = NULL;
		char nerr[TSK_ERRLEN];
		if (strlen(name) <= 1024 && tsk_db_exec(db, "SELECT lower(btrim($1))", 1, &name, &nr, nerr, sizeof nerr) == TSK_OK &&
		    PQntuples(nr) == 1)
			limiter_key(akey, sizeof akey, "account", PQgetvalue(nr, 0, 0));
		else
			limiter_key(akey, sizeof akey, "account", name);
		PQclear(nr);
	}
	limiter_key(ikey, sizeof ikey, "address", adr != NULL ? limits->address : "");
	/* Every attempt takes a token from both buckets before any work, so concurrent attempts cannot get
	 * past the limit; a success gives them back (and clears the account's failures). */
	if (acc != NULL && !tsk_ratelimit_hit(acc, akey, now, &wait_a)) {
		p->retry_after_us = wait_a;
		return refuse(p, TSK_AUTH_RATE_LIMITED, err, errlen);
	}
	if (adr != NULL && !tsk_ratelimit_hit(adr, ikey, now, &wait_b)) {
		if (acc != NULL)
			tsk_ratelimit_refund(acc, akey, now);
		p->retry_after_us = wait_b;
		return refuse(p, TSK_AUTH_RATE_LIMITED, err, errlen);
	}
	rc = tsk_auth_init(err, errlen);
	pthread_once(&dummy_once, make_dummy);
	if (rc == TSK_OK && !dummy_ok)
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory while preparing the login");
	if (rc != TSK_OK)
		goto undo;

	/* Accounts are email addresses, stored in lower case. */
	if (strchr(name, '@') != NULL && strlen(name) <= 320) {
		rc = tsk_db_exec(db, "SELECT u.password_hash, " USER_COLS USER_FROM " WHERE u.email = lower(btrim($1))",
		    2, params, &res, err, errlen);
		if (rc != TSK_OK)
			goto undo; /* the server's failure is no failed login */
		found = PQntuples(res) == 1;
	}
	good = tsk_auth_verify_password(found ? PQgetvalue(res, 0, 0) : dummy_hash, password != NULL ? password : "")
	    == TSK_OK && found;
	if (!good) {
		PQclear(res);
		return refuse(p, TSK_AUTH_BAD_CREDENTIALS, err, errlen); /* the tokens stay taken */
	}
	fill(p, res, 1, tenant);
	member = PQgetvalue(res, 0, 7)[0] == 't';
	PQclear(res);
	/* The right password: whatever follows, it was no guess. */
	if (acc != NULL)
		tsk_ratelimit_reset(acc, akey);
	if (adr != NULL)
		tsk_ratelimit_refund(adr, ikey, now);
	if (!p->is_active)
		return refuse(p, TSK_AUTH_DISABLED, err, errlen);
	if (p->tenant[0] != '\0' && !member)
		return refuse(p, TSK_AUTH_NOT_MEMBER, err, errlen);

	char id[24];
	const char *q[] = { id, NULL };
	snprintf(id, sizeof id, "%lld", (long long)p->user_id);
	if (limits != NULL && limits->address != NULL &&
	    (inet_pton(AF_INET, limits->address, addr) == 1 || inet_pton(AF_INET6, limits->address, addr) == 1)) {
		snprintf(ip, sizeof ip, "%s", limits->address);
		q[1] = ip;
	}
	rc = tsk_db_exec(db, "UPDATE public.app_user SET last_login = now(), last_login_ip = $2::inet WHERE id = $1",
	    2, q, NULL, err, errlen);
	if (rc != TSK_OK)
		return rc;
	p->why = TSK_AUTH_OK;
	return TSK_OK;
undo:
	if (acc != NULL)
		tsk_ratelimit_refund(acc, akey, now);
	if (adr != NULL)
		tsk_ratelimit_refund(adr, ikey, now);
	return rc;
}

int
tsk_auth_user(PGconn *db, int64_t user_id, int64_t pgen, const char *tenant, struct tsk_principal *p,
    char *err, size_t errlen)
{
	char id[24];
	const char *params[2] = { id, tenant != NULL ? tenant : "" };
	PGresult *res;
	int rc, member;

	memset(p, 0, sizeof *p);
	snprintf(id, sizeof id, "%lld", (long long)user_id);
	rc = tsk_db_exec(db, "SELECT " USER_COLS USER_FROM " WHERE u.id = $1", 2, params, &res, err, errlen);
	if (rc != TSK_OK)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return refuse(p, TSK_AUTH_STALE_TOKEN, err, errlen);
	}
	fill(p, res, 0, tenant);
	member = PQgetvalue(res, 0, 6)[0] == 't';
	PQclear(res);
	if (!p->is_active)
		return refuse(p, TSK_AUTH_DISABLED, err, errlen);
	if (p->pgen != pgen)
		return refuse(p, TSK_AUTH_STALE_TOKEN, err, errlen);
	if (p->tenant[0] != '\0' && !member)
		return refuse(p, TSK_AUTH_NOT_MEMBER, err, errlen);
	p->why = TSK_AUTH_OK;
	return TSK_OK;
}

int
tsk_auth_jwt(PGconn *db, const char *secret, const char *token, enum tsk_jwt_type type, const char *tenant,
    int64_t now_s, struct tsk_principal *p, char *err, size_t errlen)
{
	struct tsk_jwt_claims c;
	int rc;

	memset(p, 0, sizeof *p);
	if ((rc = tsk_jwt_verify(secret, token, type, tenant, now_s, &c, err, errlen)) != TSK_OK) {
		p->why = TSK_AUTH_BAD_TOKEN;
		return rc;
	}
	if (type == TSK_JWT_REFRESH) {
		const char *params[1] = { c.jti };
		PGresult *res;
		int revoked;
		if ((rc = tsk_db_exec(db, "SELECT 1 FROM public.revoked_token WHERE jti = $1", 1, params, &res, err,
		    errlen)) != TSK_OK)
			return rc;
		revoked = PQntuples(res) > 0;
		PQclear(res);
		if (revoked)
			return refuse(p, TSK_AUTH_REVOKED, err, errlen);
	}
	return tsk_auth_user(db, c.sub, c.pgen, c.tenant, p, err, errlen);
}

int
tsk_auth_revoke(PGconn *db, const struct tsk_jwt_claims *c, char *err, size_t errlen)
{
	char sub[24], exp[24];
	const char *params[3] = { c->jti, sub, exp };

	/* Rows are pruned a day after their token expired: a token is checked against the daemon's clock,
	 * the rows against the database's, and the two need not agree to the second. */
	snprintf(sub, sizeof sub, "%lld", (long long)c->sub);
	snprintf(exp, sizeof exp, "%lld", (long long)c->exp);
	return tsk_db_exec(db,
	    "WITH pruned AS (DELETE FROM public.revoked_token WHERE expires_at < now() - interval '1 day')"
	    " INSERT INTO public.revoked_token (jti, user_id, expires_at) VALUES ($1, $2, to_timestamp($3))"
	    " ON CONFLICT (jti) DO NOTHING",
	    3, params, NULL, err, errlen);
}

int
tsk_auth_bearer(PGconn *db, const char *secret, const char *token, const char *tenant, int64_t now_s,
    struct tsk_principal *p, char *err, size_t errlen)
{
	struct tsk_apitoken t;
	int rc;

	if (token == NULL || strncmp(token, "tsk_", 4) != 0)
		return tsk_auth_jwt(db, secret, token, TSK_JWT_ACCESS, tenant, now_s, p, err, errlen);
	memset(p, 0, sizeof *p);
	if ((rc = tsk_apitoken_verify(db, token, tenant, TSK_APITOKEN_API, &t, err, errlen)) != TSK_OK) {
		p->why = TSK_AUTH_BAD_TOKEN;
		return rc;
	}
	p->why = TSK_AUTH_OK;
	p->user_id = t.user_id;
	p->is_active = 1;
	snprintf(p->tenant, sizeof p->tenant, "%s", t.tenant);
	snprintf(p->role, sizeof p->role, "%s", t.role);
	p->token_id = t.id;
	snprintf(p->token_name, sizeof p->token_name, "%s", t.name);
	return TSK_OK;
}

int
tsk_auth_can(const struct tsk_principal *p, enum tsk_auth_cap cap)
{
	static const char *const read[] = { "owner", "admin", "operator", "technician", "viewer", NULL };
	static const char *const write[] = { "owner", "admin", "operator", NULL };
	static const char *const manage[] = { "owner", "admin", NULL };
	static const char *const del[] = { "owner", NULL };
	const char *const *roles = cap == TSK_CAP_WRITE ? write : cap == TSK_CAP_MANAGE_TEAM ? manage :
	    cap == TSK_CAP_DELETE_TENANT ? del : read;

	if (p == NULL || p->why != TSK_AUTH_OK || p->tenant[0] == '\0')
		return 0;
	for (int i = 0; roles[i] != NULL; i++)
		if (strcmp(p->role, roles[i]) == 0)
			return 1;
	return 0;
}

int
tsk_auth_issue(const char *secret, const struct tsk_principal *p, enum tsk_jwt_type type, int64_t now_s,
    char *out, size_t outlen, char *err, size_t errlen)
{
	if (p->why != TSK_AUTH_OK || p->user_id <= 0 || p->token_id != 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "no authenticated user to issue a token for");
	return tsk_jwt_issue(secret, type, p->user_id, p->tenant, p->pgen, now_s,
	    type == TSK_JWT_REFRESH ? TSK_JWT_REFRESH_TTL : TSK_JWT_ACCESS_TTL, out, outlen, NULL, err, errlen);
}

int
tsk_auth_logout_everywhere(PGconn *db, int64_t user_id, char *err, size_t errlen)
{
	char id[24];
	const char *params[] = { id };
	long long rows = 0;
	int rc;

	snprintf(id, sizeof id, "%lld", (long long)user_id);
	rc = tsk_db_exec_rows(db, "UPDATE public.app_user SET password_gen = password_gen + 1 WHERE id = $1", 1, params,
	    &rows, err, errlen);
	if (rc == TSK_OK && rows != 1)
		rc = tsk_seterr(err, errlen, TSK_ENOTFOUND, "unknown user %lld", (long long)user_id);
	return rc;
}
