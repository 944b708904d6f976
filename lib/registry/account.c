#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "registry/account.h"
#include "registry/auth.h"
#include "pg/db.h"
#include "registry/tenant.h"
#include "core/text.h"
#include "core/tsk.h"

int
tsk_role_check(const char *role, char *err, size_t errlen)
{
	static const char *const roles[] = { "owner", "admin", "operator", "technician", "viewer", NULL };

	for (int i = 0; role != NULL && roles[i] != NULL; i++)
		if (strcmp(role, roles[i]) == 0)
			return TSK_OK;
	return tsk_seterr(err, errlen, TSK_EINVAL,
	    "invalid role \"%s\": owner, admin, operator, technician or viewer", role ? role : "");
}

int
tsk_email_check(const char *email, char *norm, size_t normlen, char *err, size_t errlen)
{
	size_t n = email != NULL ? strlen(email) : 0;
	const char *at = email != NULL ? strchr(email, '@') : NULL;

	/* Not echoed: the bytes are not text a terminal or a JSON log could show. */
	if (n > 0 && !tsk_utf8_valid(email, n))
		return tsk_seterr(err, errlen, TSK_EINVAL, "invalid email address: not valid UTF-8");
	if (n == 0 || n >= normlen || n > 254 || at == NULL || at == email || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL || strchr(at + 1, '.') == NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "invalid email address \"%.300s\"", email ? email : "");
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)email[i];
		if (c != '\0' && (c <= ' ' || c == 0x7f || c == '"' || c == ',' || c == ';' || c == '<' || c == '>'))
			return tsk_seterr(err, errlen, TSK_EINVAL, "invalid email address \"%s\"", email);
		norm[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	return TSK_OK;
}

int
tsk_email_normalize(PGconn *db, const char *email, char *norm, size_t normlen, char *err, size_t errlen)
{
	const char *p[] = { norm };
	PGresult *res;
	int rc, ascii = 1;

	if ((rc = tsk_email_check(email, norm, normlen, err, errlen)) != TSK_OK)
		return rc;
	for (const char *c = norm; *c; c++)
		if ((unsigned char)*c >= 0x80)
			ascii = 0;
	if (ascii)
		return TSK_OK;
	/* The same lower() as the table's CHECK (email = lower(email)): Unicode-aware in a UTF-8 database. */
	rc = tsk_db_exec(db, "SELECT lower($1), current_setting('server_encoding') = 'UTF8'"
	    " AND current_setting('client_encoding') = 'UTF8'", 1, p, &res, err, errlen);
	if (rc != TSK_OK)
		return rc;
	const char *low = PQgetvalue(res, 0, 0);
	size_t n = strlen(low);
	if (PQgetvalue(res, 0, 1)[0] != 't')
		rc = tsk_seterr(err, errlen, TSK_EINVAL,
		    "invalid email address \"%s\": non-ASCII addresses need a UTF8 database and connection", email);
	else if (n >= normlen || n > 254)
		rc = tsk_seterr(err, errlen, TSK_EINVAL, "invalid email address \"%s\": too long", email);
	else
		memcpy(norm, low, n + 1);
	PQclear(res);
	return rc;
}

int
tsk_user_add(PGconn *db, const char *email, const char *password, int staff, char *err, size_t errlen)
{
	char norm[256], hash[TSK_HASH_LEN];
	const char *p[] = { norm, hash, staff ? "true" : "false" };
	int rc;

	if ((rc = tsk_email_normalize(db, email, norm, sizeof norm, err, errlen)) != TSK_OK ||
	    (rc = tsk_auth_hash_password(password, hash, err, errlen)) != TSK_OK)
		return rc;
	rc = tsk_db_exec(db, "INSERT INTO public.app_user (email, password_hash, is_staff) VALUES ($1, $2, $3)", 3, p,
	    NULL, err, errlen);
	if (rc == TSK_EEXIST)
		return tsk_seterr(err, errlen, TSK_EEXIST, "user \"%s\" exists already", norm);
	return rc;
}

static int
one_row(PGconn *db, const char *sql, int n, const char *const *p, const char *what, char *err, size_t errlen)
{
	PGresult *res;
	int rc = tsk_db_exec(db, sql, n, p, &res, err, errlen);

	if (rc != TSK_OK)
		return rc;
	if (PQntuples(res) < 1)
		rc = tsk_seterr(err, errlen, TSK_ENOTFOUND, "%s", what);
	PQclear(res);
	return rc;
}

int
tsk_user_passwd(PGconn *db, const char *email, const char *password, char *err, size_t errlen)
{
	char norm[256], hash[TSK_HASH_LEN], what[300];
	const char *p[] = { norm, hash };
	int rc;

	if ((rc = tsk_email_normalize(db, email, norm, sizeof norm, err, errlen)) != TSK_OK ||
	    (rc = tsk_auth_hash_password(password, hash, err, errlen)) != TSK_OK)
		return rc;
	snprintf(what, sizeof what, "unknown user \"%s\"", norm);
	return one_row(db, "UPDATE public.app_user SET password_hash = $2, password_changed_at = now()"
	    " WHERE email = $1 RETURNING 1", 2, p, what, err, errlen);
}

/* Tenants where this user is the only active owner: removing or demoting the user would leave them ownerless.
 * Runs inside the caller's transaction, after locking the memberships involved. */
static int
last_owner_of(PGconn *db, const char *email, const char *slug, char *tenant, size_t tlen, char *err,
    size_t errlen)
{
	const char *p[] = { email, slug };
	PGresult *res;
	int rc;

	rc = tsk_db_exec(db,
	    "SELECT t.slug FROM public.membership m JOIN public.app_user u ON u.id = m.user_id"
	    " JOIN public.tenant t ON t.id = m.tenant_id"
	    " WHERE u.email = $1 AND m.role = 'owner' AND m.status = 'active' AND ($2::text IS NULL OR t.slug = $2)"
	    " AND NOT EXISTS (SELECT 1 FROM public.membership o WHERE o.tenant_id = m.tenant_id"
	    "   AND o.role = 'owner' AND o.status = 'active' AND o.user_id <> m.user_id)"
	    " ORDER BY t.slug", 2, p, &res, err, errlen);
	if (rc != TSK_OK)
		return rc;
	tenant[0] = '\0';
	if (PQntuples(res) > 0)
		snprintf(tenant, tlen, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return TSK_OK;
}

/* Serializes membership changes of a tenant (or of all, for user removal) so two concurrent removals
 * cannot both see "another owner exists". */
static int
lock_members(PGconn *db, char *err, size_t errlen)
{
	return tsk_db_cmd(db, "LOCK TABLE public.membership IN SHARE ROW EXCLUSIVE MODE", err, errlen);
}

int
tsk_user_rm(PGconn *db, const char *email, char *err, size_t errlen)
{
	char norm[256], what[300], tenant[TSK_SLUG_MAX + 1];
	const char *p[] = { norm };
	int rc;

	if ((rc = tsk_email_normalize(db, email, norm, sizeof norm, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_begin(db, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = lock_members(db, err, errlen)) != TSK_OK ||
	    (rc = last_owner_of(db, norm, NULL, tenant, sizeof tenant, err, errlen)) != TSK_OK)
		goto fail;
	if (tenant[0] != '\0') {
		rc = tsk_seterr(err, errlen, TSK_EINVAL,
		    "\"%s\" is the last owner of tenant \"%s\": add another owner first", norm, tenant);
		goto fail;
	}
	snprintf(what, sizeof what, "unknown user \"%s\"", norm);
	if ((rc = one_row(db, "DELETE FROM public.app_user WHERE email = $1 RETURNING 1", 1, p, what, err,
	         errlen)) != TSK_OK)
		goto fail;
	return tsk_db_commit(db, err, errlen);
fail:
	tsk_db_rollback(db);
	return rc;
}

int
tsk_user_list(PGconn *db, json_t **out, char *err, size_t errlen)
{
	return tsk_db_json_rows(db,
	    "SELECT json_build_object('email', u.email, 'staff', u.is_staff, 'active', u.is_active,"
	    " 'created_at', to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	    " 'tenants', coalesce((SELECT json_agg(json_build_object('tenant', t.slug, 'role', m.role)"
	    "   ORDER BY t.slug) FROM public.membership m JOIN public.tenant t ON t.id = m.tenant_id"
	    "   WHERE m.user_id = u.id), '[]'::json))::text FROM public.app_user u ORDER BY u.email",
	    0, NULL, out, err, errlen);
}

int
tsk_user_verify(PGconn *db, const char *email, const char *password, int *is_staff, char *err, size_t errlen)
{
	char norm[256];
	const char *p[] = { norm };
	PGresult *res;
	int rc;

	if ((rc = tsk_email_normalize(db, email, norm, sizeof norm, err, errlen)) != TSK_OK)
		return rc == TSK_EINVAL ? tsk_seterr(err, errlen, TSK_EINVAL, "invalid email or password") : rc;
	rc = tsk_db_exec(db, "SELECT password_hash, is_staff FROM public.app_user WHERE email = $1 AND is_active",
	    1, p, &res, err, errlen);
	if (rc != TSK_OK)
		return rc;
	if (PQntuples(res) == 1 && tsk_auth_verify_password(PQgetvalue(res, 0, 0), password) == TSK_OK) {
		if (is_staff != NULL)
			*is_staff = PQgetvalue(res, 0, 1)[0] == 't';
		rc = TSK_OK;
	} else {
		rc = tsk_seterr(err, errlen, TSK_EINVAL, "invalid email or password");
	}
	PQclear(res);
	return rc;
}

static int
member_target(PGconn *db, const char *slug, const char *norm, char *err, size_t errlen)
{
	char what[300];
	const char *p[] = { norm };
	int rc;

	if ((rc = tsk_tenant_exists(db, slug, err, errlen)) != TSK_OK)
		return rc;
	snprintf(what, sizeof what, "unknown user \"%s\"", norm);
	return one_row(db, "SELECT 1 FROM public.app_user WHERE email = $1", 1, p, what, err, errlen);
}

int
tsk_member_add(PGconn *db, const char *slug, const char *email, const char *role, char *err, size_t errlen)
{
	char norm[256], tenant[TSK_SLUG_MAX + 1];
	const char *p[] = { norm, slug, role };
	int rc;

	if ((rc = tsk_email_normalize(db, email, norm, sizeof norm, err, errlen)) != TSK_OK ||
	    (rc = tsk_role_check(role, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_begin(db, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = lock_members(db, err, errlen)) != TSK_OK || (rc = member_target(db, slug, norm, err, errlen)) != TSK_OK)
		goto fail;
	if (strcmp(role, "owner") != 0) {
		if ((rc = last_owner_of(db, norm, slug, tenant, sizeof tenant, err, errlen)) != TSK_OK)
			goto fail;
		if (tenant[0] != '\0') {
			rc = tsk_seterr(err, errlen, TSK_EINVAL,
			    "\"%s\" is the last owner of \"%s\": make someone else owner first", norm, slug);
			goto fail;
		}
	}
	rc = tsk_db_exec(db,
	    "INSERT INTO public.membership (user_id, tenant_id, role)"
	    " SELECT u.id, t.id, $3 FROM public.app_user u, public.tenant t WHERE u.email = $1 AND t.slug = $2"
	    " ON CONFLICT (user_id, tenant_id) DO UPDATE SET role = EXCLUDED.role, status = 'active', updated_at = now()",
	    3, p, NULL, err, errlen);
	if (rc != TSK_OK)
		goto fail;
	return tsk_db_commit(db, err, errlen);
fail:
	tsk_db_rollback(db);
	return rc;
}

int
tsk_member_rm(PGconn *db, const char *slug, const char *email, char *err, size_t errlen)
{
	char norm[256], tenant[TSK_SLUG_MAX + 1], what[400];
	const char *p[] = { norm, slug };
	int rc;

	if ((rc = tsk_email_normalize(db, email, norm, sizeof norm, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_db_begin(db, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = lock_members(db, err, errlen)) != TSK_OK || (rc = member_target(db, slug, norm, err, errlen)) != TSK_OK ||
	    (rc = last_owner_of(db, norm, slug, tenant, sizeof tenant, err, errlen)) != TSK_OK)
		goto fail;
	if (tenant[0] != '\0') {
		rc = tsk_seterr(err, errlen, TSK_EINVAL,
		    "\"%s\" is the last owner of \"%s\": a tenant always keeps one owner", norm, slug);
		goto fail;
	}
	snprintf(what, sizeof what, "\"%s\" is not a member of \"%s\"", norm, slug);
	if ((rc = one_row(db, "DELETE FROM public.membership m USING public.app_user u, public.tenant t"
	         " WHERE m.user_id = u.id AND m.tenant_id = t.id AND u.email = $1 AND t.slug = $2 RETURNING 1",
	         2, p, what, err, errlen)) != TSK_OK)
		goto fail;
	return tsk_db_commit(db, err, errlen);
fail:
	tsk_db_rollback(db);
	return rc;
}

int
tsk_member_list(PGconn *db, const char *slug, json_t **out, char *err, size_t errlen)
{
	const char *p[] = { slug };
	int rc;

	if ((rc = tsk_tenant_exists(db, slug, err, errlen)) != TSK_OK)
		return rc;
	return tsk_db_json_rows(db,
	    "SELECT json_build_object('tenant', t.slug, 'email', u.email, 'role', m.role, 'status', m.status,"
	    " 'since', to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))::text"
	    " FROM public.membership m JOIN public.app_user u ON u.id = m.user_id"
	    " JOIN public.tenant t ON t.id = m.tenant_id WHERE t.slug = $1"
	    " ORDER BY array_position(ARRAY['owner','admin','operator','technician','viewer'], m.role), u.email",
	    1, p, out, err, errlen);
}
