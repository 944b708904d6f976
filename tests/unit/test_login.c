/*
 * Login and token users against a real PostgreSQL: one answer (and about one cost) for unknown users
 * and wrong passwords, disabled accounts and non-members told apart only after the right password,
 * failed-login limits per account and per address, the password generation (bumped by every password
 * change, by the trigger of migration public/020) refusing older tokens, memberships and the active
 * flag checked on every token. Needs $TSK_TEST_DSN (tests/run); makes and drops a database of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "dbtest.h"
#include "core/tsk.h"
#include "pg/db.h"
#include "pg/migrate.h"
#include "registry/account.h"
#include "registry/apitoken.h"
#include "registry/jwt.h"
#include "registry/login.h"
#include "registry/ratelimit.h"
#include "registry/tenant.h"

static PGconn *db;
static const char *secret = "a-jwt-secret-of-more-than-32-bytes-for-tests";

static int
login(const char *user, const char *pw, const char *tenant, const struct tsk_login_limits *l,
    struct tsk_principal *p, char *err, size_t errlen)
{
	return tsk_auth_login(db, user, pw, tenant, l, p, err, errlen);
}

static double
seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(void)
{
	struct dbtest t;
	char err[TSK_ERRLEN] = "", err2[TSK_ERRLEN] = "";
	char tok[TSK_JWT_MAX + 1], tok2[TSK_JWT_MAX + 1];
	struct tsk_principal p, q;
	const int64_t now = 1760000000;
	int rc;

	switch (dbtest_open(&t, "tsk_login")) {
	case 0: return 0;
	case -1: return dbtest_close(&t);
	}
	db = t.db;
	rc = tsk_tenant_create(db, "umc", "UMC", NULL, err, sizeof err) | tsk_tenant_create(db, "other", "Other", NULL,
	    err, sizeof err);
	rc |= tsk_user_add(db, "owner@umc.localhost", "Owner@12345", 0, err, sizeof err);
	rc |= tsk_user_add(db, "viewer@umc.localhost", "Viewer@12345", 0, err, sizeof err);
	rc |= tsk_user_add(db, "staff@ops.localhost", "Staff@12345", 1, err, sizeof err);
	rc |= tsk_user_add(db, "off@umc.localhost", "Off@123456", 0, err, sizeof err);
	rc |= tsk_member_add(db, "umc", "owner@umc.localhost", "owner", err, sizeof err);
	rc |= tsk_member_add(db, "umc", "viewer@umc.localhost", "viewer", err, sizeof err);
	rc |= tsk_member_add(db, "umc", "off@umc.localhost", "operator", err, sizeof err);
	ok(rc == TSK_OK, "tenants umc and other, four users, three members of umc: %s", err);
	dbtest_val(db, "UPDATE public.app_user SET is_active = false WHERE email = 'off@umc.localhost'");

	/* Login */
	rc = login("owner@umc.localhost", "Owner@12345", "umc", NULL, &p, err, sizeof err);
	ok(rc == TSK_OK && p.why == TSK_AUTH_OK, "the owner logs in on umc: %s", rc == TSK_OK ? "ok" : err);
	ok(p.user_id > 0 && strcmp(p.email, "owner@umc.localhost") == 0 && strcmp(p.role, "owner") == 0 &&
	    strcmp(p.tenant, "umc") == 0 && p.pgen == 1 && p.is_active && !p.is_staff,
	    "principal: id, email, role owner, tenant umc, pgen 1");
	is_str(dbtest_val(db, "SELECT last_login IS NOT NULL FROM public.app_user WHERE email = 'owner@umc.localhost'"), "t",
	    "last_login is set");
	rc = login("  Owner@UMC.Localhost ", "Owner@12345", "umc", NULL, &p, err, sizeof err);
	ok(rc == TSK_OK, "the address in another case, with spaces: %s", rc == TSK_OK ? "ok" : err);
	rc = login("owner@umc.localhost", "Owner@12345", NULL, NULL, &p, err, sizeof err);
	ok(rc == TSK_OK && p.role[0] == '\0' && p.tenant[0] == '\0', "and on the public site, without a role");

	rc = login("owner@umc.localhost", "Wrong@12345", "umc", NULL, &p, err, sizeof err);
	ok(rc == TSK_EINVAL && p.why == TSK_AUTH_BAD_CREDENTIALS, "a wrong password: %s", err);
	rc = login("ghost@umc.localhost", "Wrong@12345", "umc", NULL, &q, err2, sizeof err2);
	ok(rc == TSK_EINVAL && q.why == TSK_AUTH_BAD_CREDENTIALS, "an unknown user: %s", err2);
	is_str(err2, err, "the same answer for both");
	ok(login("owner", "Owner@12345", "umc", NULL, &p, err, sizeof err) == TSK_EINVAL &&
	    p.why == TSK_AUTH_BAD_CREDENTIALS, "a name without @ matches nobody");
	ok(login("", "", "umc", NULL, &p, err, sizeof err) == TSK_EINVAL && p.why == TSK_AUTH_BAD_CREDENTIALS,
	    "empty name and password");
	ok(login(NULL, NULL, "umc", NULL, &p, err, sizeof err) == TSK_EINVAL && p.why == TSK_AUTH_BAD_CREDENTIALS,
	    "NULL name and password");
	{
		/* The unknown user's login runs argon2id too: its cost is of the same order as a wrong password's.
		 * Without the dummy hash it would be a single index lookup, some 50 times faster. */
		double t0, known = 0, unknown = 0;
		for (int i = 0; i < 3; i++) {
			t0 = seconds();
			login("owner@umc.localhost", "Wrong@12345", "umc", NULL, &p, err, sizeof err);
			known += seconds() - t0;
			t0 = seconds();
			login("ghost@umc.localhost", "Wrong@12345", "umc", NULL, &p, err, sizeof err);
			unknown += seconds() - t0;
		}
		ok(unknown > known * 0.3 && unknown < known * 3.0, "unknown user %.1f ms, wrong password %.1f ms",
		    unknown * 1000 / 3, known * 1000 / 3);
	}
	rc = login("off@umc.localhost", "Off@123456", "umc", NULL, &p, err, sizeof err);
	ok(rc == TSK_EINVAL && p.why == TSK_AUTH_DISABLED, "an inactive user with the right password: %s", err);
	rc = login("off@umc.localhost", "Wrong@123456", "umc", NULL, &p, err, sizeof err);
	ok(rc == TSK_EINVAL && p.why == TSK_AUTH_BAD_CREDENTIALS, "with a wrong one: invalid credentials, not disabled");
	rc = login("owner@umc.localhost", "Owner@12345", "other", NULL, &p, err, sizeof err);
	ok(rc == TSK_EINVAL && p.why == TSK_AUTH_NOT_MEMBER, "the owner of umc on tenant other: %s", err);
	rc = login("staff@ops.localhost", "Staff@12345", "umc", NULL, &p, err, sizeof err);
	ok(rc == TSK_EINVAL && p.why == TSK_AUTH_NOT_MEMBER, "staff is no member of umc by being staff: %s", err);
	rc = login("staff@ops.localhost", "Staff@12345", "", NULL, &p, err, sizeof err);
	ok(rc == TSK_OK && p.is_staff, "staff logs in on the public site, is_staff set");
	rc = login("owner@umc.localhost", "Owner@12345", "nope", NULL, &p, err, sizeof err);
	ok(rc == TSK_EINVAL && p.why == TSK_AUTH_NOT_MEMBER, "an unknown tenant: not a member");

	/* Rate limits: 3 failures per account, 5 per address. */
	{
		struct tsk_login_limits l = { tsk_ratelimit_new(3, 1, 1024), tsk_ratelimit_new(5, 1, 1024), "192.0.2.7",
			now * 1000000 };
		for (int i = 0; i < 3; i++)
			login("viewer@umc.localhost", "Wrong@12345", "umc", &l, &p, err, sizeof err);
		rc = login("viewer@umc.localhost", "Viewer@12345", "umc", &l, &p, err, sizeof err);
		ok(rc == TSK_EINVAL && p.why == TSK_AUTH_RATE_LIMITED && p.retry_after_us > 0,
		    "after 3 failures even the right password is refused: %s, retry after %.0f s", err,
		    p.retry_after_us / 1e6);
		l.address = "192.0.2.8";
		for (int i = 0; i < 4; i++)
			login("ghost@umc.localhost", "Wrong@12345", "umc", &l, &q, err, sizeof err);
		ok(q.why == TSK_AUTH_RATE_LIMITED, "an unknown account is limited alike (no enumeration)");
		rc = login("  GHOST@umc.localhost ", "Wrong@12345", "umc", &l, &q, err, sizeof err);
		ok(q.why == TSK_AUTH_RATE_LIMITED, "spaces and capitals do not make another account's bucket");
		/* U+212A KELVIN SIGN lower-cases to "k" in PostgreSQL: "ghost" spelled with it is the same
		 * account, so the same bucket (it used to be a fresh one per spelling). */
		l.address = "192.0.2.9";
		for (int i = 0; i < 3; i++)
			login("kelvin@umc.localhost", "Wrong@12345", "umc", &l, &q, err, sizeof err);
		rc = login("\xe2\x84\xaa" "ELVIN@umc.localhost", "Wrong@12345", "umc", &l, &q, err, sizeof err);
		ok(q.why == TSK_AUTH_RATE_LIMITED, "a Unicode spelling of a limited account (Kelvin sign for k) is limited too");
		l.address = "192.0.2.8";
		l.address = "198.51.100.1";
		rc = login("owner@umc.localhost", "Wrong@12345", "umc", &l, &p, err, sizeof err);
		ok(p.why == TSK_AUTH_BAD_CREDENTIALS, "another account from another address still gets an answer");
		l.address = "192.0.2.7";
		login("a@example.com", "Wrong@12345", "umc", &l, &p, err, sizeof err);
		login("b@example.com", "Wrong@12345", "umc", &l, &p, err, sizeof err);
		rc = login("owner@umc.localhost", "Owner@12345", "umc", &l, &p, err, sizeof err);
		ok(rc == TSK_EINVAL && p.why == TSK_AUTH_RATE_LIMITED, "5 failures from 192.0.2.7 limit that address for"
		    " every account");
		l.now_us += 60 * INT64_C(1000000);
		rc = login("owner@umc.localhost", "Owner@12345", "umc", &l, &p, err, sizeof err);
		ok(rc == TSK_OK, "a minute later a try is back: %s", rc == TSK_OK ? "ok" : err);
		is_str(dbtest_val(db, "SELECT host(last_login_ip) FROM public.app_user WHERE email = 'owner@umc.localhost'"), "192.0.2.7",
		    "last_login_ip is the address");
		rc = login("viewer@umc.localhost", "Viewer@12345", "umc", &l, &p, err, sizeof err);
		ok(rc == TSK_OK, "the viewer logs in with the right password: %s", rc == TSK_OK ? "ok" : err);
		ok(tsk_ratelimit_check(l.by_account, "account:viewer@umc.localhost", l.now_us, NULL),
		    "and the success cleared the account's failures");
		for (int i = 0; i < 8; i++)
			rc |= login("viewer@umc.localhost", "Viewer@12345", "umc", &l, &p, err, sizeof err);
		ok(rc == TSK_OK, "successful logins from one address take nothing from its limit (8 in a row)");
		l.address = "not an address";
		rc = login("viewer@umc.localhost", "Viewer@12345", "umc", &l, &p, err, sizeof err);
		ok(rc == TSK_OK, "an address that is no IP is limited by, not stored: %s", rc == TSK_OK ? "ok" : err);
		is_str(dbtest_val(db, "SELECT last_login_ip IS NULL FROM public.app_user WHERE email = 'viewer@umc.localhost'"), "t",
		    "last_login_ip is NULL");
		tsk_ratelimit_free(l.by_account);
		tsk_ratelimit_free(l.by_address);
	}

	/* Tokens and the password generation */
	rc = login("owner@umc.localhost", "Owner@12345", "umc", NULL, &p, err, sizeof err);
	rc |= tsk_auth_issue(secret, &p, TSK_JWT_ACCESS, now, tok, sizeof tok, err, sizeof err);
	rc |= tsk_auth_issue(secret, &p, TSK_JWT_REFRESH, now, tok2, sizeof tok2, err, sizeof err);
	ok(rc == TSK_OK, "access and refresh tokens issued after login: %s", rc == TSK_OK ? "ok" : err);
	rc = tsk_auth_jwt(db, secret, tok, TSK_JWT_ACCESS, "umc", now + 60, &q, err, sizeof err);
	ok(rc == TSK_OK && q.user_id == p.user_id && strcmp(q.role, "owner") == 0, "the access token is the owner on umc");
	rc = tsk_auth_jwt(db, secret, tok2, TSK_JWT_REFRESH, "umc", now + 86400, &q, err, sizeof err);
	ok(rc == TSK_OK, "the refresh token works a day later");
	{
		/* Revoked (a logout): refused from then on; revoking twice is no error. */
		struct tsk_jwt_claims c;
		char tok3[TSK_JWT_MAX + 1];
		int64_t t = (int64_t)time(NULL); /* the denylist keeps rows by the database's clock */
		ok(tsk_auth_issue(secret, &p, TSK_JWT_REFRESH, t, tok3, sizeof tok3, err, sizeof err) == TSK_OK &&
		    tsk_jwt_verify(secret, tok3, TSK_JWT_REFRESH, "umc", t, &c, err, sizeof err) == TSK_OK &&
		    tsk_auth_revoke(db, &c, err, sizeof err) == TSK_OK && tsk_auth_revoke(db, &c, err, sizeof err) == TSK_OK,
		    "a refresh token revoked (twice)");
		rc = tsk_auth_jwt(db, secret, tok3, TSK_JWT_REFRESH, "umc", t, &q, err, sizeof err);
		ok(rc == TSK_EINVAL && q.why == TSK_AUTH_REVOKED, "a revoked refresh token is refused: %s", err);
		is_str(dbtest_val(db, "SELECT count(*) FROM public.revoked_token"), "1", "one denylist row, until it expires");
	}
	rc = tsk_auth_jwt(db, secret, tok, TSK_JWT_ACCESS, "other", now + 60, &q, err, sizeof err);
	ok(rc == TSK_EINVAL && q.why == TSK_AUTH_BAD_TOKEN, "umc's token on tenant other: %s", err);
	rc = tsk_auth_jwt(db, secret, tok, TSK_JWT_ACCESS, "umc", now + 3600, &q, err, sizeof err);
	ok(rc == TSK_EINVAL && q.why == TSK_AUTH_BAD_TOKEN, "an expired one: %s", err);
	ok(tsk_auth_issue(secret, &q, TSK_JWT_ACCESS, now, tok2, sizeof tok2, err, sizeof err) == TSK_EINVAL,
	    "no token for a refused principal");

	/* A token minted for the other tenant by someone holding the key, for a user who is no member. */
	tsk_jwt_issue(secret, TSK_JWT_ACCESS, p.user_id, "other", p.pgen, now, 60, tok2, sizeof tok2, NULL, err, sizeof err);
	rc = tsk_auth_jwt(db, secret, tok2, TSK_JWT_ACCESS, "other", now, &q, err, sizeof err);
	ok(rc == TSK_EINVAL && q.why == TSK_AUTH_NOT_MEMBER, "a valid token of a non-member: %s", err);

	dbtest_val(db, "UPDATE public.app_user SET is_staff = true WHERE email = 'owner@umc.localhost'");
	is_str(dbtest_val(db, "SELECT password_gen FROM public.app_user WHERE email = 'owner@umc.localhost'"), "1",
	    "an update that leaves the password alone keeps the generation");
	dbtest_val(db, "UPDATE public.app_user SET password_gen = 0 WHERE email = 'owner@umc.localhost'");
	is_str(dbtest_val(db, "SELECT password_gen FROM public.app_user WHERE email = 'owner@umc.localhost'"), "1",
	    "the generation cannot be lowered");
	ok(tsk_user_passwd(db, "owner@umc.localhost", "Changed@12345", err, sizeof err) == TSK_OK, "change the password");
	is_str(dbtest_val(db, "SELECT password_gen FROM public.app_user WHERE email = 'owner@umc.localhost'"), "2",
	    "the generation is 2");
	rc = tsk_auth_jwt(db, secret, tok, TSK_JWT_ACCESS, "umc", now + 60, &q, err, sizeof err);
	ok(rc == TSK_EINVAL && q.why == TSK_AUTH_STALE_TOKEN, "the token from before the change is refused: %s", err);
	rc = login("owner@umc.localhost", "Changed@12345", "umc", NULL, &p, err, sizeof err);
	ok(rc == TSK_OK && p.pgen == 2, "a new login has generation 2");
	tsk_auth_issue(secret, &p, TSK_JWT_ACCESS, now, tok, sizeof tok, err, sizeof err);
	ok(tsk_auth_jwt(db, secret, tok, TSK_JWT_ACCESS, "umc", now, &q, err, sizeof err) == TSK_OK, "and its token works");
	ok(tsk_auth_logout_everywhere(db, p.user_id, err, sizeof err) == TSK_OK, "log out everywhere");
	rc = tsk_auth_jwt(db, secret, tok, TSK_JWT_ACCESS, "umc", now, &q, err, sizeof err);
	ok(rc == TSK_EINVAL && q.why == TSK_AUTH_STALE_TOKEN, "refuses it too: %s", err);
	ok(tsk_auth_logout_everywhere(db, 999999, err, sizeof err) == TSK_ENOTFOUND, "an unknown user: %s", err);

	/* Bearer: an API token or an access JWT; capabilities by role */
	{
		char api[TSK_APITOKEN_LEN + 1];
		static const char *const roles[] = { "owner", "admin", "operator", "technician", "viewer", "ingest" };
		static const char *const want[] = { "1111", "1110", "1100", "1000", "1000", "0000" };
		struct tsk_principal r;

		rc = login("owner@umc.localhost", "Changed@12345", "umc", NULL, &p, err, sizeof err);
		tsk_auth_issue(secret, &p, TSK_JWT_ACCESS, now, tok, sizeof tok, err, sizeof err);
		rc = tsk_auth_bearer(db, secret, tok, "umc", now, &q, err, sizeof err);
		ok(rc == TSK_OK && q.user_id == p.user_id && q.token_id == 0 && tsk_auth_can(&q, TSK_CAP_DELETE_TENANT),
		    "a JWT bearer is the owner, who may delete the tenant");
		tsk_apitoken_create(db, "umc", "script", "technician", api, NULL, err, sizeof err);
		rc = tsk_auth_bearer(db, secret, api, "umc", now, &q, err, sizeof err);
		ok(rc == TSK_OK && q.token_id > 0 && q.user_id == 0 && strcmp(q.role, "technician") == 0 &&
		    strcmp(q.token_name, "script") == 0 && strcmp(q.tenant, "umc") == 0,
		    "an API token bearer: token script, role technician");
		ok(tsk_auth_can(&q, TSK_CAP_READ) && !tsk_auth_can(&q, TSK_CAP_WRITE), "a technician reads, does not write");
		ok(tsk_auth_issue(secret, &q, TSK_JWT_ACCESS, now, tok2, sizeof tok2, err, sizeof err) == TSK_EINVAL,
		    "no login token is made from an API token");
		rc = tsk_auth_bearer(db, secret, api, "other", now, &q, err, sizeof err);
		ok(rc == TSK_EINVAL && q.why == TSK_AUTH_BAD_TOKEN, "the API token on another tenant: %s", err);
		tsk_apitoken_create(db, "umc", NULL, "ingest", api, NULL, err, sizeof err);
		rc = tsk_auth_bearer(db, secret, api, "umc", now, &q, err, sizeof err);
		ok(rc == TSK_EINVAL && q.why == TSK_AUTH_BAD_TOKEN, "an ingest token is no bearer for the API: %s", err);
		ok(tsk_auth_bearer(db, secret, "garbage", "umc", now, &q, err, sizeof err) == TSK_EINVAL &&
		    q.why == TSK_AUTH_BAD_TOKEN, "garbage: %s", err);
		ok(tsk_auth_bearer(db, secret, NULL, "umc", now, &q, err, sizeof err) == TSK_EINVAL, "no token");
		ok(tsk_auth_bearer(db, secret, "tsk_", "umc", now, &q, err, sizeof err) == TSK_EINVAL, "tsk_ alone");

		for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
			char got[5];
			memset(&r, 0, sizeof r);
			strcpy(r.tenant, "umc");
			strcpy(r.role, roles[i]);
			got[0] = (char)('0' + tsk_auth_can(&r, TSK_CAP_READ));
			got[1] = (char)('0' + tsk_auth_can(&r, TSK_CAP_WRITE));
			got[2] = (char)('0' + tsk_auth_can(&r, TSK_CAP_MANAGE_TEAM));
			got[3] = (char)('0' + tsk_auth_can(&r, TSK_CAP_DELETE_TENANT));
			got[4] = '\0';
			is_str(got, want[i], "%s: read, write, manage team, delete tenant", roles[i]);
		}
		r.why = TSK_AUTH_NOT_MEMBER;
		strcpy(r.role, "owner");
		ok(!tsk_auth_can(&r, TSK_CAP_READ), "a refused principal can do nothing");
		r.why = TSK_AUTH_OK;
		r.tenant[0] = '\0';
		ok(!tsk_auth_can(&r, TSK_CAP_READ), "nor can anyone on the public site by role");
	}

	/* Membership and the active flag, checked on every use */
	rc = login("viewer@umc.localhost", "Viewer@12345", "umc", NULL, &p, err, sizeof err);
	tsk_auth_issue(secret, &p, TSK_JWT_ACCESS, now, tok, sizeof tok, err, sizeof err);
	ok(tsk_auth_jwt(db, secret, tok, TSK_JWT_ACCESS, "umc", now, &q, err, sizeof err) == TSK_OK &&
	    strcmp(q.role, "viewer") == 0, "the viewer's token reports role viewer");
	tsk_member_add(db, "umc", "viewer@umc.localhost", "operator", err, sizeof err);
	ok(tsk_auth_jwt(db, secret, tok, TSK_JWT_ACCESS, "umc", now, &q, err, sizeof err) == TSK_OK &&
	    strcmp(q.role, "operator") == 0, "a role change shows at once: operator");
	dbtest_val(db, "UPDATE public.app_user SET is_active = false WHERE email = 'viewer@umc.localhost'");
	rc = tsk_auth_jwt(db, secret, tok, TSK_JWT_ACCESS, "umc", now, &q, err, sizeof err);
	ok(rc == TSK_EINVAL && q.why == TSK_AUTH_DISABLED, "a deactivated user's token: %s", err);
	dbtest_val(db, "UPDATE public.app_user SET is_active = true WHERE email = 'viewer@umc.localhost'");
	tsk_member_rm(db, "umc", "viewer@umc.localhost", err, sizeof err);
	rc = tsk_auth_jwt(db, secret, tok, TSK_JWT_ACCESS, "umc", now, &q, err, sizeof err);
	ok(rc == TSK_EINVAL && q.why == TSK_AUTH_NOT_MEMBER, "a removed member's token: %s", err);
	tsk_user_rm(db, "viewer@umc.localhost", err, sizeof err);
	rc = tsk_auth_jwt(db, secret, tok, TSK_JWT_ACCESS, "umc", now, &q, err, sizeof err);
	ok(rc == TSK_EINVAL && q.why == TSK_AUTH_STALE_TOKEN, "a deleted user's token: %s", err);

	return dbtest_close(&t);
}
