/* Users (email login, argon2id password, staff flag) and their memberships in tenants. */
#ifndef TSK_ACCOUNT_H
#define TSK_ACCOUNT_H

#include <stddef.h>
#include <jansson.h>
#include <libpq-fe.h>

/* owner, admin, operator, technician, viewer. */
int tsk_role_check(const char *role, char *err, size_t errlen);
/* Checks an email address (valid UTF-8, one '@', a '.' after it, at most 254 bytes, no space, control
 * character or "<>,;) and lower-cases its ASCII letters into norm (normlen bytes). TSK_EINVAL with why. */
int tsk_email_check(const char *email, char *norm, size_t normlen, char *err, size_t errlen);
/* tsk_email_check, then, for an address with non-ASCII characters, PostgreSQL's lower() (Unicode-aware
 * in a UTF-8 database, the same function as app_user's CHECK (email = lower(email))): "Ü@x.y" and
 * "ü@x.y" are the same user. Every user and member function normalizes its email with it. */
int tsk_email_normalize(PGconn *db, const char *email, char *norm, size_t normlen, char *err, size_t errlen);

int tsk_user_add(PGconn *db, const char *email, const char *password, int staff, char *err, size_t errlen);
int tsk_user_passwd(PGconn *db, const char *email, const char *password, char *err, size_t errlen);
/* Removes a user; refused (TSK_EINVAL) when the user is the last owner of a tenant. */
int tsk_user_rm(PGconn *db, const char *email, char *err, size_t errlen);
/* [{email, staff, active, created_at, tenants:[{tenant, role}]}]; never the hash. */
int tsk_user_list(PGconn *db, json_t **out, char *err, size_t errlen);
/* TSK_OK when the email and password match an active user, TSK_EINVAL when not (no hint which). */
int tsk_user_verify(PGconn *db, const char *email, const char *password, int *is_staff, char *err,
    size_t errlen);

/* Adds the user to the tenant with the role (an active membership), or changes the role of an existing
 * member and makes it active again. Demoting the last active owner is refused. */
int tsk_member_add(PGconn *db, const char *slug, const char *email, const char *role, char *err, size_t errlen);
/* Removing the last owner is refused: a tenant always keeps one owner. */
int tsk_member_rm(PGconn *db, const char *slug, const char *email, char *err, size_t errlen);
/* [{tenant, email, role, status, since}] */
int tsk_member_list(PGconn *db, const char *slug, json_t **out, char *err, size_t errlen);

#endif
