/* Teams and invites (see team.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "core/text.h"
#include "core/tsk.h"
#include "pg/db.h"
#include "registry/account.h"
#include "registry/auth.h"
#include "registry/team.h"

/* Times as the API shows them (UTC), the clock of the caller (TSK_NOW in tests) as a parameter. */
#define TS(x) "to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
#define NOW(n) "(timestamptz 'epoch' + " n "::bigint * interval '1 microsecond')"
#define FULL_NAME(u) "coalesce(nullif(btrim(" u ".first_name || ' ' || " u ".last_name), ''), " u ".email)"
#define INITIALS(u) \
	"upper(CASE WHEN " u ".first_name <> '' AND " u ".last_name <> ''" \
	" THEN left(" u ".first_name, 1) || left(" u ".last_name, 1)" \
	" WHEN " u ".first_name <> '' THEN left(" u ".first_name, 1) ELSE left(" u ".email, 1) END)"

#define MEMBER_JSON \
	"json_build_object('id', m.id, 'user', json_build_object('id', u.id, 'email', u.email, 'username', u.email," \
	" 'first_name', u.first_name, 'last_name', u.last_name, 'full_name', " FULL_NAME("u") "," \
	" 'initials', " INITIALS("u") ", 'avatar', NULL), 'role', m.role, 'status', m.status," \
	" 'invited_by_email', ib.email, 'joined_at', " TS("m.joined_at") ", 'updated_at', " TS("m.updated_at") "," \
	" 'can_manage_team', m.status = 'active' AND m.role IN ('owner', 'admin')," \
	" 'can_write', m.status = 'active' AND m.role IN ('owner', 'admin', 'operator')," \
	" 'can_delete_tenant', m.status = 'active' AND m.role = 'owner')::text"
#define MEMBER_FROM \
	" FROM public.membership m JOIN public.app_user u ON u.id = m.user_id JOIN public.tenant t ON t.id = m.tenant_id" \
	" LEFT JOIN public.app_user ib ON ib.id = m.invited_by_id"

/* $2 is the caller's now. */
#define INVITE_JSON \
	"json_build_object('id', i.id, 'email', i.email, 'role', i.role, 'status', i.status, 'message', i.message," \
	" 'invited_by_email', ib.email, 'invited_by_name', " FULL_NAME("ib") ", 'tenant_name', t.name," \
	" 'created_at', " TS("i.created_at") ", 'expires_at', " TS("i.expires_at") "," \
	" 'accepted_at', " TS("i.accepted_at") "," \
	" 'is_valid', i.status = 'pending' AND i.expires_at > " NOW("$2") "," \
	" 'is_expired', i.expires_at <= " NOW("$2") "," \
	" 'email_sent', i.email_sent_at IS NOT NULL, 'email_error', i.email_error)::text"
#define INVITE_FROM \
	" FROM public.invite i JOIN public.tenant t ON t.id = i.tenant_id LEFT JOIN public.app_user ib ON ib.id = i.invited_by_id"

static int
refuse(enum tsk_team_why *why, enum tsk_team_why w, int status, char *err, size_t errlen, const char *msg)
{
	if (why != NULL)
		*why = w;
	return tsk_seterr(err, errlen, status, "%s", msg);
}

/* A refusal whose sentence is in err already. */
static int
refused(enum tsk_team_why *why, enum tsk_team_why w, int status)
{
	if (why != NULL)
		*why = w;
	return status;
}

static void
num(char *buf, size_t len, int64_t v)
{
	snprintf(buf, len, "%lld", (long long)v);
}

/* The one JSON object of a query whose single row is a JSON text: TSK_ENOTFOUND without a row. */
static int
json_one(PGconn *db, const char *sql, int n, const char *const *p, json_t **out, char *err, size_t errlen)
{
	json_t *rows;
	int rc;

	*out = NULL;
	if ((rc = tsk_db_json_rows(db, sql, n, p, &rows, err, errlen)) != TSK_OK)
		return rc;
	if (json_array_size(rows) == 0) {
		json_decref(rows);
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "not found");
	}
	*out = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return TSK_OK;
}

static int
count_of(PGconn *db, const char *sql, int n, const char *const *p, int64_t *count, char *err, size_t errlen)
{
	PGresult *res;
	int rc;

	if ((rc = tsk_db_exec(db, sql, n, p, &res, err, errlen)) != TSK_OK)
		return rc;
	*count = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	return TSK_OK;
}

/* Inside a transaction: locks the tenant's row, which every change of its memberships and invites takes
 * first (FOR NO KEY UPDATE: it does not block inserts whose foreign keys point at the tenant). id
 * receives the tenant's id. */
static int
lock_tenant(PGconn *db, const char *slug, char *id, size_t idlen, char *err, size_t errlen)
{
	const char *p[] = { slug };
	PGresult *res;
	int rc;

	if ((rc = tsk_db_exec(db, "SELECT id FROM public.tenant WHERE slug = $1 FOR NO KEY UPDATE", 1, p, &res, err,
	    errlen)) != TSK_OK)
		return rc;
	if (PQntuples(res) != 1)
		rc = tsk_seterr(err, errlen, TSK_ENOTFOUND, "unknown tenant \"%s\"", slug);
	else
		snprintf(id, idlen, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}

/* ---- members ----------------------------------------------------------------------------------------- */

int
tsk_team_members(PGconn *db, const char *slug, int64_t offset, int64_t limit, int64_t *count, json_t **out,
    char *err, size_t errlen)
{
	char off[24], lim[24];
	const char *p[] = { slug, off, lim };
	int rc;

	*out = NULL;
	num(off, sizeof off, offset);
	num(lim, sizeof lim, limit);
	if ((rc = count_of(db, "SELECT count(*) FROM public.membership m JOIN public.tenant t ON t.id = m.tenant_id"
	    " WHERE t.slug = $1", 1, p, count, err, errlen)) != TSK_OK)
		return rc;
	return tsk_db_json_rows(db, "SELECT " MEMBER_JSON MEMBER_FROM " WHERE t.slug = $1"
	    " ORDER BY m.joined_at DESC, m.id DESC OFFSET $2 LIMIT $3", 3, p, out, err, errlen);
}

int
tsk_team_member(PGconn *db, const char *slug, int64_t id, json_t **out, char *err, size_t errlen)
{
	char mid[24];
	const char *p[] = { slug, mid };

	num(mid, sizeof mid, id);
	return json_one(db, "SELECT " MEMBER_JSON MEMBER_FROM " WHERE t.slug = $1 AND m.id = $2", 2, p, out, err,
	    errlen);
}

/* Role and status of a membership (locked), then the new ones after the last-owner check and the
 * update. Runs the whole change in one transaction behind the tenant's lock. */
static int
change_member(PGconn *db, const char *slug, int64_t id, const char *role, const char *status,
    enum tsk_team_why *why, char *err, size_t errlen)
{
	char tid[24], mid[24], cur_role[16], cur_status[16];
	const char *p[4] = { tid, mid, NULL, NULL };
	PGresult *res;
	int64_t others = 0;
	int rc;

	num(mid, sizeof mid, id);
	if ((rc = tsk_db_begin(db, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = lock_tenant(db, slug, tid, sizeof tid, err, errlen)) != TSK_OK)
		goto fail;
	if ((rc = tsk_db_exec(db, "SELECT role, status FROM public.membership WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
	    2, p, &res, err, errlen)) != TSK_OK)
		goto fail;
	if (PQntuples(res) != 1) {
		PQclear(res);
		rc = refuse(why, TSK_TEAM_NOT_FOUND, TSK_ENOTFOUND, err, errlen, "no such member");
		goto fail;
	}
	snprintf(cur_role, sizeof cur_role, "%s", PQgetvalue(res, 0, 0));
	snprintf(cur_status, sizeof cur_status, "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	p[2] = role != NULL ? role : cur_role;
	p[3] = status != NULL ? status : cur_status;
	/* The last active owner may not stop being one. Other owners were counted after the tenant's lock
	 * was granted, so a concurrent change that took it first is already committed and seen here. */
	if (strcmp(cur_role, "owner") == 0 && strcmp(cur_status, "active") == 0 &&
	    (strcmp(p[2], "owner") != 0 || strcmp(p[3], "active") != 0)) {
		if ((rc = count_of(db, "SELECT count(*) FROM public.membership WHERE tenant_id = $1 AND id <> $2"
		    " AND role = 'owner' AND status = 'active'", 2, p, &others, err, errlen)) != TSK_OK)
			goto fail;
		if (others == 0) {
			rc = refuse(why, TSK_TEAM_LAST_OWNER, TSK_EINVAL, err, errlen,
			    "the tenant must keep at least one active owner");
			goto fail;
		}
	}
	if ((rc = tsk_db_exec(db, "UPDATE public.membership SET role = $3, status = $4, updated_at = now()"
	    " WHERE tenant_id = $1 AND id = $2", 4, p, NULL, err, errlen)) != TSK_OK)
		goto fail;
	return tsk_db_commit(db, err, errlen);
fail:
	tsk_db_rollback(db);
	return rc;
}

static int
check_status(const char *status, enum tsk_team_why *why, char *err, size_t errlen)
{
	if (status == NULL || strcmp(status, "active") == 0 || strcmp(status, "inactive") == 0 ||
	    strcmp(status, "suspended") == 0)
		return TSK_OK;
	return refuse(why, TSK_TEAM_BAD_VALUE, TSK_EINVAL, err, errlen, "status must be active, inactive or suspended");
}

int
tsk_team_member_update(PGconn *db, const char *slug, int64_t id, const char *role, const char *status,
    json_t **out, enum tsk_team_why *why, char *err, size_t errlen)
{
	int rc;

	*why = TSK_TEAM_OK;
	if (out != NULL)
		*out = NULL;
	if (role != NULL && tsk_role_check(role, err, errlen) != TSK_OK)
		return refused(why, TSK_TEAM_BAD_VALUE, TSK_EINVAL);
	if ((rc = check_status(status, why, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = change_member(db, slug, id, role, status, why, err, errlen)) != TSK_OK)
		return rc;
	return out != NULL ? tsk_team_member(db, slug, id, out, err, errlen) : TSK_OK;
}

int
tsk_team_member_remove(PGconn *db, const char *slug, int64_t id, enum tsk_team_why *why, char *err,
    size_t errlen)
{
	*why = TSK_TEAM_OK;
	return change_member(db, slug, id, NULL, "inactive", why, err, errlen);
}

int
tsk_team_stats(PGconn *db, const char *slug, int64_t now_us, json_t **out, char *err, size_t errlen)
{
	char now[24];
	const char *p[] = { slug, now };

	num(now, sizeof now, now_us);
	return json_one(db,
	    "SELECT json_build_object("
	    " 'total_members', (SELECT count(*) FROM public.membership m WHERE m.tenant_id = t.id),"
	    " 'active_members', (SELECT count(*) FROM public.membership m WHERE m.tenant_id = t.id AND m.status = 'active'),"
	    " 'pending_invites', (SELECT count(*) FROM public.invite i WHERE i.tenant_id = t.id AND i.status = 'pending'"
	    "   AND i.expires_at > " NOW("$2") "),"
	    " 'members_by_role', coalesce((SELECT json_object_agg(role, n ORDER BY role) FROM (SELECT m.role, count(*) AS n"
	    "   FROM public.membership m WHERE m.tenant_id = t.id AND m.status = 'active' GROUP BY m.role) r), '{}'::json),"
	    " 'members_by_status', coalesce((SELECT json_object_agg(status, n ORDER BY status) FROM (SELECT m.status,"
	    "   count(*) AS n FROM public.membership m WHERE m.tenant_id = t.id GROUP BY m.status) s), '{}'::json))::text"
	    " FROM public.tenant t WHERE t.slug = $1", 2, p, out, err, errlen);
}

/* ---- invites ----------------------------------------------------------------------------------------- */

int
tsk_invite_list(PGconn *db, const char *slug, int64_t now_us, int64_t offset, int64_t limit, int64_t *count,
    json_t **out, char *err, size_t errlen)
{
	char now[24], off[24], lim[24];
	const char *p[] = { slug, now, off, lim };
	int rc;

	*out = NULL;
	num(now, sizeof now, now_us);
	num(off, sizeof off, offset);
	num(lim, sizeof lim, limit);
	if ((rc = count_of(db, "SELECT count(*) FROM public.invite i JOIN public.tenant t ON t.id = i.tenant_id"
	    " WHERE t.slug = $1", 1, p, count, err, errlen)) != TSK_OK)
		return rc;
	return tsk_db_json_rows(db, "SELECT " INVITE_JSON INVITE_FROM " WHERE t.slug = $1"
	    " ORDER BY i.created_at DESC, i.id DESC OFFSET $3 LIMIT $4", 4, p, out, err, errlen);
}

int
tsk_invite_get(PGconn *db, const char *slug, int64_t id, int64_t now_us, json_t **out, char *err, size_t errlen)
{
	char now[24], iid[24];
	const char *p[] = { slug, now, iid };

	num(now, sizeof now, now_us);
	num(iid, sizeof iid, id);
	return json_one(db, "SELECT " INVITE_JSON INVITE_FROM " WHERE t.slug = $1 AND i.id = $3", 3, p, out, err, errlen);
}

/* A new token: 32 random bytes in base64url (43 characters). */
static void
new_token(char *token)
{
	unsigned char rnd[32];

	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2base64(token, TSK_INVITE_TOKEN_LEN + 1, rnd, sizeof rnd, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(rnd, sizeof rnd);
}

/* The stored form of a token: its SHA-256 in hex. */
static void
token_hash(const char *token, char *hash)
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
	sodium_bin2hex(hash, 2 * sizeof h + 1, h, sizeof h);
}

/* What the mail of invite id needs. */
static int
fill_info(PGconn *db, const char *id, struct tsk_invite_info *info, char *err, size_t errlen)
{
	const char *p[] = { id };
	PGresult *res;
	int rc;

	memset(info, 0, sizeof *info);
	if ((rc = tsk_db_exec(db, "SELECT i.id, i.email, i.role, t.name, t.slug, coalesce(" FULL_NAME("ib") ", 'Team'),"
	    " coalesce(i.message, ''), (extract(epoch FROM i.expires_at) * 1000000)::bigint" INVITE_FROM " WHERE i.id = $1",
	    1, p, &res, err, errlen)) != TSK_OK)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return tsk_seterr(err, errlen, TSK_ENOTFOUND, "invite %s is gone", id);
	}
	info->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(info->email, sizeof info->email, "%s", PQgetvalue(res, 0, 1));
	snprintf(info->role, sizeof info->role, "%s", PQgetvalue(res, 0, 2));
	snprintf(info->tenant_name, sizeof info->tenant_name, "%s", PQgetvalue(res, 0, 3));
	snprintf(info->tenant_slug, sizeof info->tenant_slug, "%s", PQgetvalue(res, 0, 4));
	snprintf(info->inviter_name, sizeof info->inviter_name, "%s", PQgetvalue(res, 0, 5));
	snprintf(info->message, sizeof info->message, "%s", PQgetvalue(res, 0, 6));
	info->expires_us = strtoll(PQgetvalue(res, 0, 7), NULL, 10);
	PQclear(res);
	return TSK_OK;
}

/* Characters (code points) of a UTF-8 string. */
static size_t
chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

int
tsk_invite_create(PGconn *db, const char *slug, int64_t invited_by, const char *email, const char *role,
    const char *message, int64_t now_us, char *token, struct tsk_invite_info *info, enum tsk_team_why *why,
    char *err, size_t errlen)
{
	char norm[256], tid[24], now[24], by[24], hash[2 * crypto_hash_sha256_BYTES + 1], id[24], ttl[24];
	const char *p[7] = { tid, norm, now, NULL, role, NULL, hash };
	PGresult *res;
	int64_t n = 0;
	int rc;

	*why = TSK_TEAM_OK;
	token[0] = '\0';
	if ((rc = tsk_email_normalize(db, email, norm, sizeof norm, err, errlen)) != TSK_OK)
		return rc == TSK_EINVAL ? refused(why, TSK_TEAM_BAD_VALUE, rc) : rc;
	if (tsk_role_check(role, err, errlen) != TSK_OK)
		return refused(why, TSK_TEAM_BAD_VALUE, TSK_EINVAL);
	if (message != NULL && message[0] != '\0') {
		if (!tsk_utf8_valid(message, strlen(message)) || chars(message) > TSK_INVITE_MESSAGE_MAX)
			return refuse(why, TSK_TEAM_BAD_VALUE, TSK_EINVAL, err, errlen,
			    "the message must be UTF-8 text of at most 2000 characters");
		p[5] = message;
	}
	if (sodium_init() < 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "libsodium failed to initialize");
	num(now, sizeof now, now_us);
	num(ttl, sizeof ttl, (int64_t)TSK_INVITE_TTL_S);
	if (invited_by > 0) {
		num(by, sizeof by, invited_by);
		p[3] = by;
	}
	if ((rc = tsk_db_begin(db, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = lock_tenant(db, slug, tid, sizeof tid, err, errlen)) != TSK_OK)
		goto fail;
	if ((rc = count_of(db, "SELECT count(*) FROM public.membership m JOIN public.app_user u ON u.id = m.user_id"
	    " WHERE m.tenant_id = $1 AND u.email = $2", 2, p, &n, err, errlen)) != TSK_OK)
		goto fail;
	if (n > 0) {
		rc = refuse(why, TSK_TEAM_ALREADY_MEMBER, TSK_EINVAL, err, errlen, "this address is a member already");
		goto fail;
	}
	if ((rc = tsk_db_exec(db, "UPDATE public.invite SET status = 'expired' WHERE tenant_id = $1 AND email = $2"
	    " AND status = 'pending' AND expires_at <= " NOW("$3"), 3, p, NULL, err, errlen)) != TSK_OK ||
	    (rc = count_of(db, "SELECT count(*) FROM public.invite WHERE tenant_id = $1 AND email = $2"
	    " AND status = 'pending'", 2, p, &n, err, errlen)) != TSK_OK)
		goto fail;
	if (n > 0) {
		rc = refuse(why, TSK_TEAM_PENDING_EXISTS, TSK_EINVAL, err, errlen, "a pending invite exists for this address");
		goto fail;
	}
	new_token(token);
	token_hash(token, hash);
	{
		const char *q[8] = { p[0], p[1], p[2], p[3], p[4], p[5], p[6], ttl };
		rc = tsk_db_exec(db, "INSERT INTO public.invite (tenant_id, email, invited_by_id, role, message, token_hash,"
		    " created_at, expires_at) VALUES ($1, $2, $4, $5, $6, $7, " NOW("$3") ", " NOW("$3") " + $8::bigint *"
		    " interval '1 second') RETURNING id", 8, q, &res, err, errlen);
	}
	if (rc != TSK_OK)
		goto fail;
	snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if ((rc = fill_info(db, id, info, err, errlen)) != TSK_OK)
		goto fail;
	if ((rc = tsk_db_commit(db, err, errlen)) != TSK_OK)
		goto out;
	return TSK_OK;
fail:
	tsk_db_rollback(db);
out:
	sodium_memzero(token, TSK_INVITE_TOKEN_LEN + 1);
	return rc;
}

int
tsk_invite_cancel(PGconn *db, const char *slug, int64_t id, enum tsk_team_why *why, char *err, size_t errlen)
{
	char iid[24];
	const char *p[] = { slug, iid };
	PGresult *res;
	int rc;

	*why = TSK_TEAM_OK;
	num(iid, sizeof iid, id);
	if ((rc = tsk_db_exec(db, "WITH c AS (UPDATE public.invite i SET status = 'cancelled' FROM public.tenant t"
	    " WHERE t.id = i.tenant_id AND t.slug = $1 AND i.id = $2 AND i.status = 'pending' RETURNING 1)"
	    " SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM public.invite i JOIN public.tenant t"
	    " ON t.id = i.tenant_id WHERE t.slug = $1 AND i.id = $2)", 2, p, &res, err, errlen)) != TSK_OK)
		return rc;
	if (strcmp(PQgetvalue(res, 0, 0), "1") == 0)
		rc = TSK_OK;
	else if (strcmp(PQgetvalue(res, 0, 1), "0") == 0)
		rc = refuse(why, TSK_TEAM_NOT_FOUND, TSK_ENOTFOUND, err, errlen, "no such invite");
	else
		rc = refuse(why, TSK_TEAM_NOT_PENDING, TSK_EINVAL, err, errlen, "only pending invites can be cancelled");
	PQclear(res);
	return rc;
}

int
tsk_invite_resend(PGconn *db, const char *slug, int64_t id, int64_t now_us, char *token,
    struct tsk_invite_info *info, enum tsk_team_why *why, char *err, size_t errlen)
{
	char iid[24], now[24], hash[2 * crypto_hash_sha256_BYTES + 1];
	const char *p[] = { slug, iid, now };
	PGresult *res;
	int rc, pending, expired;

	*why = TSK_TEAM_OK;
	token[0] = '\0';
	if (sodium_init() < 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "libsodium failed to initialize");
	num(iid, sizeof iid, id);
	num(now, sizeof now, now_us);
	if ((rc = tsk_db_begin(db, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_exec(db, "SELECT i.status = 'pending', i.expires_at <= " NOW("$3") " FROM public.invite i"
	    " JOIN public.tenant t ON t.id = i.tenant_id WHERE t.slug = $1 AND i.id = $2 FOR UPDATE OF i", 3, p, &res,
	    err, errlen)) != TSK_OK)
		goto fail;
	if (PQntuples(res) != 1) {
		PQclear(res);
		rc = refuse(why, TSK_TEAM_NOT_FOUND, TSK_ENOTFOUND, err, errlen, "no such invite");
		goto fail;
	}
	pending = PQgetvalue(res, 0, 0)[0] == 't';
	expired = PQgetvalue(res, 0, 1)[0] == 't';
	PQclear(res);
	if (!pending) {
		rc = refuse(why, TSK_TEAM_NOT_PENDING, TSK_EINVAL, err, errlen, "only pending invites can be resent");
		goto fail;
	}
	const char *q[] = { iid, hash };
	if (expired) {
		if ((rc = tsk_db_exec(db, "UPDATE public.invite SET status = 'expired' WHERE id = $1", 1, q, NULL, err,
		    errlen)) != TSK_OK)
			goto fail;
		if ((rc = tsk_db_commit(db, err, errlen)) != TSK_OK)
			return rc;
		return refuse(why, TSK_TEAM_EXPIRED, TSK_EINVAL, err, errlen, "the invite has expired");
	}
	/* Only the hash is kept: a new mail needs a new token. */
	new_token(token);
	token_hash(token, hash);
	if ((rc = tsk_db_exec(db, "UPDATE public.invite SET token_hash = $2, email_sent_at = NULL, email_error = NULL"
	    " WHERE id = $1", 2, q, NULL, err, errlen)) != TSK_OK ||
	    (rc = fill_info(db, iid, info, err, errlen)) != TSK_OK)
		goto fail;
	if ((rc = tsk_db_commit(db, err, errlen)) != TSK_OK)
		goto out;
	return TSK_OK;
fail:
	tsk_db_rollback(db);
out:
	sodium_memzero(token, TSK_INVITE_TOKEN_LEN + 1);
	return rc;
}

int
tsk_invite_mail_result(PGconn *db, int64_t id, const char *error, int64_t now_us, char *err, size_t errlen)
{
	char iid[24], now[24];
	const char *p[] = { iid, error, now };

	num(iid, sizeof iid, id);
	num(now, sizeof now, now_us);
	return tsk_db_exec(db, "UPDATE public.invite SET email_sent_at = CASE WHEN $2::text IS NULL THEN " NOW("$3")
	    " END, email_error = left($2, 1000) WHERE id = $1", 3, p, NULL, err, errlen);
}

/* ---- accepting --------------------------------------------------------------------------------------- */

struct found {
	char id[24], tenant_id[24], invited_by[24], email[256], role[16];
	int pending, expired;
};

/*
 * The invite behind a token, locked when lock (inside the caller's transaction), checked for validity:
 * TSK_ENOTFOUND (unknown), TSK_EINVAL (expired: marked so, which the caller commits; or not pending).
 */
static int
find_token(PGconn *db, const char *token, const char *now, int lock, struct found *f, enum tsk_team_why *why,
    char *err, size_t errlen)
{
	char hash[2 * crypto_hash_sha256_BYTES + 1];
	const char *p[] = { hash, now };
	PGresult *res;
	int rc;

	memset(f, 0, sizeof *f);
	if (sodium_init() < 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "libsodium failed to initialize");
	token_hash(token, hash);
	rc = tsk_db_exec(db, lock ?
	    "SELECT id, tenant_id, coalesce(invited_by_id::text, ''), email, role, status = 'pending',"
	    " expires_at <= " NOW("$2") " FROM public.invite WHERE token_hash = $1 FOR UPDATE" :
	    "SELECT id, tenant_id, coalesce(invited_by_id::text, ''), email, role, status = 'pending',"
	    " expires_at <= " NOW("$2") " FROM public.invite WHERE token_hash = $1", 2, p, &res, err, errlen);
	if (rc != TSK_OK)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return refuse(why, TSK_TEAM_UNKNOWN_TOKEN, TSK_ENOTFOUND, err, errlen, "invalid invite token");
	}
	snprintf(f->id, sizeof f->id, "%s", PQgetvalue(res, 0, 0));
	snprintf(f->tenant_id, sizeof f->tenant_id, "%s", PQgetvalue(res, 0, 1));
	snprintf(f->invited_by, sizeof f->invited_by, "%s", PQgetvalue(res, 0, 2));
	snprintf(f->email, sizeof f->email, "%s", PQgetvalue(res, 0, 3));
	snprintf(f->role, sizeof f->role, "%s", PQgetvalue(res, 0, 4));
	f->pending = PQgetvalue(res, 0, 5)[0] == 't';
	f->expired = PQgetvalue(res, 0, 6)[0] == 't';
	PQclear(res);
	if (f->pending && f->expired) {
		const char *q[] = { f->id };
		/* The original's side effect, kept: a pending invite found past its time is marked expired. */
		if ((rc = tsk_db_exec(db, "UPDATE public.invite SET status = 'expired' WHERE id = $1 AND status = 'pending'",
		    1, q, NULL, err, errlen)) != TSK_OK)
			return rc;
		return refuse(why, TSK_TEAM_EXPIRED, TSK_EINVAL, err, errlen, "the invite has expired");
	}
	if (!f->pending)
		return refuse(why, f->expired ? TSK_TEAM_EXPIRED : TSK_TEAM_NOT_VALID, TSK_EINVAL, err, errlen,
		    f->expired ? "the invite has expired" : "the invite is no longer valid");
	return TSK_OK;
}

int
tsk_invite_validate(PGconn *db, const char *token, int64_t now_us, json_t **out, enum tsk_team_why *why,
    char *err, size_t errlen)
{
	char now[24];
	struct found f;
	int rc;

	*why = TSK_TEAM_OK;
	*out = NULL;
	num(now, sizeof now, now_us);
	if ((rc = find_token(db, token, now, 0, &f, why, err, errlen)) != TSK_OK)
		return rc;
	const char *p[] = { f.id };
	return json_one(db, "SELECT json_build_object('id', i.id, 'email', i.email, 'role', i.role, 'tenant_name', t.name,"
	    " 'tenant_slug', t.slug, 'invited_by_name', coalesce(" FULL_NAME("ib") ", 'Team'),"
	    " 'expires_at', " TS("i.expires_at") ")::text" INVITE_FROM " WHERE i.id = $1", 1, p, out, err, errlen);
}

/* Inside the transaction of an accepted invite: the membership, and the invite marked accepted by the
 * user. mid receives the membership's id. */
static int
join(PGconn *db, const struct found *f, const char *user_id, const char *now, char *mid, size_t midlen,
    enum tsk_team_why *why, char *err, size_t errlen)
{
	const char *p[] = { user_id, f->tenant_id, f->role, f->invited_by[0] != '\0' ? f->invited_by : NULL, now };
	PGresult *res;
	int64_t n = 0;
	int rc;

	if ((rc = count_of(db, "SELECT count(*) FROM public.membership WHERE user_id = $1 AND tenant_id = $2", 2, p, &n,
	    err, errlen)) != TSK_OK)
		return rc;
	if (n > 0)
		return refuse(why, TSK_TEAM_ALREADY_MEMBER, TSK_EINVAL, err, errlen, "already a member of this tenant");
	if ((rc = tsk_db_exec(db, "INSERT INTO public.membership (user_id, tenant_id, role, status, invited_by_id,"
	    " created_at, joined_at, updated_at) VALUES ($1, $2, $3, 'active', $4, " NOW("$5") ", " NOW("$5") ", "
	    NOW("$5") ") RETURNING id", 5, p, &res, err, errlen)) != TSK_OK)
		return rc;
	snprintf(mid, midlen, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	const char *q[] = { user_id, now, f->id };
	return tsk_db_exec(db, "UPDATE public.invite SET status = 'accepted', accepted_by_id = $1, accepted_at = "
	    NOW("$2") " WHERE id = $3", 3, q, NULL, err, errlen);
}

int
tsk_invite_accept(PGconn *db, const char *token, int64_t user_id, int64_t now_us, json_t **out,
    enum tsk_team_why *why, char *err, size_t errlen)
{
	char now[24], uid[24], mid[24];
	const char *p[2] = { uid, NULL };
	struct found f;
	PGresult *res;
	int rc, same;

	*why = TSK_TEAM_OK;
	*out = NULL;
	num(now, sizeof now, now_us);
	num(uid, sizeof uid, user_id);
	if ((rc = tsk_db_begin(db, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = find_token(db, token, now, 1, &f, why, err, errlen)) != TSK_OK) {
		if (*why == TSK_TEAM_EXPIRED && tsk_db_commit(db, err, errlen) != TSK_OK)
			return TSK_ETEMP;
		goto fail;
	}
	p[1] = f.email;
	if ((rc = tsk_db_exec(db, "SELECT lower(email) = lower($2) FROM public.app_user WHERE id = $1", 2, p, &res, err,
	    errlen)) != TSK_OK)
		goto fail;
	same = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!same) {
		rc = refuse(why, TSK_TEAM_WRONG_EMAIL, TSK_EINVAL, err, errlen, "the invite was sent to another address");
		goto fail;
	}
	if ((rc = join(db, &f, uid, now, mid, sizeof mid, why, err, errlen)) != TSK_OK)
		goto fail;
	if ((rc = tsk_db_commit(db, err, errlen)) != TSK_OK)
		return rc;
	const char *q[] = { mid };
	return json_one(db, "SELECT " MEMBER_JSON MEMBER_FROM " WHERE m.id = $1", 1, q, out, err, errlen);
fail:
	tsk_db_rollback(db);
	return rc;
}

int
tsk_invite_signup(PGconn *db, const char *token, const char *name, const char *password, int64_t now_us,
    json_t **out, enum tsk_team_why *why, char *err, size_t errlen)
{
	char now[24], first[4 * TSK_NAME_MAX + 1], last[4 * TSK_NAME_MAX + 1], hash[TSK_HASH_LEN], uid[24], mid[24];
	struct found f;
	PGresult *res;
	size_t n;
	const char *sp;
	int rc;

	*why = TSK_TEAM_OK;
	*out = NULL;
	/* The name: spaces around it trimmed, split at the first space into first and last name. */
	while (*name == ' ')
		name++;
	n = strlen(name);
	while (n > 0 && name[n - 1] == ' ')
		n--;
	sp = memchr(name, ' ', n);
	size_t fn = sp != NULL ? (size_t)(sp - name) : n;
	const char *ls = sp != NULL ? sp + 1 : name + n;
	size_t ln = (size_t)(name + n - ls);
	if (n == 0 || !tsk_utf8_valid(name, n) || fn >= sizeof first || ln >= sizeof last)
		return refuse(why, TSK_TEAM_BAD_VALUE, TSK_EINVAL, err, errlen, "the name must be UTF-8 text of at most "
		    "150 characters for the first and for the last name");
	memcpy(first, name, fn);
	first[fn] = '\0';
	memcpy(last, ls, ln);
	last[ln] = '\0';
	if (chars(first) > TSK_NAME_MAX || chars(last) > TSK_NAME_MAX)
		return refuse(why, TSK_TEAM_BAD_VALUE, TSK_EINVAL, err, errlen, "the name must be UTF-8 text of at most "
		    "150 characters for the first and for the last name");
	if (tsk_auth_password_check(password, strlen(password), err, errlen) != TSK_OK)
		return refused(why, TSK_TEAM_BAD_PASSWORD, TSK_EINVAL);
	if ((rc = tsk_auth_hash_password(password, hash, err, errlen)) != TSK_OK)
		return rc;
	num(now, sizeof now, now_us);
	if ((rc = tsk_db_begin(db, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = find_token(db, token, now, 1, &f, why, err, errlen)) != TSK_OK) {
		if (*why == TSK_TEAM_EXPIRED && tsk_db_commit(db, err, errlen) != TSK_OK)
			return TSK_ETEMP;
		goto fail;
	}
	{
		const char *p[] = { f.email, hash, first, last, now };
		enum tsk_db_kind kind;
		rc = tsk_db_exec_kind(db, "INSERT INTO public.app_user (email, password_hash, first_name, last_name, created_at)"
		    " SELECT $1, $2, $3, $4, " NOW("$5") " WHERE NOT EXISTS (SELECT 1 FROM public.app_user WHERE email = lower($1))"
		    " RETURNING id", 5, p, &res, &kind, err, errlen);
		if (rc != TSK_OK && kind == TSK_DB_UNIQUE) {
			rc = refuse(why, TSK_TEAM_USER_EXISTS, TSK_EINVAL, err, errlen, "an account with this address exists");
			goto fail;
		}
		if (rc != TSK_OK)
			goto fail;
		if (PQntuples(res) != 1) {
			PQclear(res);
			rc = refuse(why, TSK_TEAM_USER_EXISTS, TSK_EINVAL, err, errlen, "an account with this address exists");
			goto fail;
		}
		snprintf(uid, sizeof uid, "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	if ((rc = join(db, &f, uid, now, mid, sizeof mid, why, err, errlen)) != TSK_OK)
		goto fail;
	if ((rc = tsk_db_commit(db, err, errlen)) != TSK_OK)
		return rc;
	const char *q[] = { mid };
	return json_one(db, "SELECT json_build_object('user', json_build_object('id', u.id, 'email', u.email,"
	    " 'full_name', " FULL_NAME("u") "), 'membership', json_build_object('tenant_name', t.name, 'tenant_slug',"
	    " t.slug, 'role', m.role))::text" MEMBER_FROM " WHERE m.id = $1", 1, q, out, err, errlen);
fail:
	tsk_db_rollback(db);
	return rc;
}
