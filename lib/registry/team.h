/*
 * Teams: a tenant's memberships as its owners and admins manage them (list, change role and status,
 * remove, counts), and invitations to join (create, cancel, resend, accept, and the public validate and
 * accept-with-signup). The HTTP API (lib/http/api_team.c) and tsk-tenant call these; nothing here
 * prints or sends mail (lib/notify/invite.c does).
 *
 * The rule every change keeps: a tenant has at least one active owner. Each change of a tenant's
 * memberships runs in one transaction that first locks the tenant's row (FOR NO KEY UPDATE), so two
 * concurrent demotions of the tenant's two owners are serialized and the second sees the first's result.
 *
 * Invite tokens are 43 characters of base64url (32 random bytes from libsodium); only their SHA-256 is
 * stored. An invite is valid while pending and before expires_at (created + 7 days). Times are taken
 * from now_us (tsk_now_us(): TSK_NOW fixes it in tests).
 *
 * Refusals return TSK_EINVAL (or TSK_ENOTFOUND for an unknown id or token) with *why saying which, for
 * the caller's answer, and err holding a sentence for a log or a terminal. Database failures return
 * their status (TSK_ETEMP: try later).
 */
#ifndef TSK_TEAM_H
#define TSK_TEAM_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <libpq-fe.h>

#define TSK_INVITE_TOKEN_LEN 43
#define TSK_INVITE_TTL_S (7 * 86400)
#define TSK_INVITE_MESSAGE_MAX 2000 /* characters */
#define TSK_NAME_MAX 150            /* characters of a first or last name */

enum tsk_team_why {
	TSK_TEAM_OK = 0,
	TSK_TEAM_BAD_VALUE,        /* a role, status or email that is not one */
	TSK_TEAM_LAST_OWNER,       /* the change would leave the tenant without an active owner */
	TSK_TEAM_NOT_FOUND,        /* no such membership or invite in this tenant */
	TSK_TEAM_ALREADY_MEMBER,   /* invite: the address has a membership; accept: the user has one */
	TSK_TEAM_PENDING_EXISTS,   /* invite: a pending, unexpired invite exists for the address */
	TSK_TEAM_NOT_PENDING,      /* cancel, resend: the invite is no longer pending */
	TSK_TEAM_UNKNOWN_TOKEN,    /* no invite has this token */
	TSK_TEAM_EXPIRED,          /* the invite's time is up (it is now marked expired) */
	TSK_TEAM_NOT_VALID,        /* accepted or cancelled already */
	TSK_TEAM_WRONG_EMAIL,      /* accept: the user's address is not the invite's */
	TSK_TEAM_USER_EXISTS,      /* accept with signup: an account with the invite's address exists */
	TSK_TEAM_BAD_PASSWORD      /* accept with signup: the password policy (registry/auth.h) */
};

/* What the invite mail needs (lib/notify/invite.c). */
struct tsk_invite_info {
	int64_t id;
	char email[256];
	char role[16];
	char tenant_name[256];
	char tenant_slug[64];
	char inviter_name[320];    /* the inviter's full name, or "Team" when none */
	char message[4 * TSK_INVITE_MESSAGE_MAX + 1];
	int64_t expires_us;
};

/* ---- members (tenant slug: the host's tenant) ------------------------------------------------------ */

/* One page (newest joined first) of the tenant's memberships as the API shows them: {id, user:{id,
 * email, username, first_name, last_name, full_name, initials, avatar}, role, status, invited_by_email,
 * joined_at, updated_at, can_manage_team, can_write, can_delete_tenant}; *count is the total. */
int tsk_team_members(PGconn *db, const char *slug, int64_t offset, int64_t limit, int64_t *count, json_t **out,
    char *err, size_t errlen);
/* One membership of the tenant by id (the same shape). TSK_ENOTFOUND. */
int tsk_team_member(PGconn *db, const char *slug, int64_t id, json_t **out, char *err, size_t errlen);
/* Sets role and/or status (NULL: unchanged); refused with TSK_TEAM_LAST_OWNER when the member is the
 * tenant's last active owner and would stop being one. *out (may be NULL) receives the membership. */
int tsk_team_member_update(PGconn *db, const char *slug, int64_t id, const char *role, const char *status,
    json_t **out, enum tsk_team_why *why, char *err, size_t errlen);
/* Soft removal: the membership becomes inactive (TSK_TEAM_LAST_OWNER as above). */
int tsk_team_member_remove(PGconn *db, const char *slug, int64_t id, enum tsk_team_why *why, char *err,
    size_t errlen);
/* {total_members, active_members, pending_invites (pending and unexpired), members_by_role (active
 * members), members_by_status}. */
int tsk_team_stats(PGconn *db, const char *slug, int64_t now_us, json_t **out, char *err, size_t errlen);

/* ---- invites ----------------------------------------------------------------------------------------- */

/* One page (newest first) of the tenant's invites: {id, email, role, status, message, invited_by_email,
 * invited_by_name, tenant_name, created_at, expires_at, accepted_at, is_valid, is_expired, email_sent,
 * email_error}; never a token. */
int tsk_invite_list(PGconn *db, const char *slug, int64_t now_us, int64_t offset, int64_t limit, int64_t *count,
    json_t **out, char *err, size_t errlen);
/* One invite of the tenant by id (the same shape). TSK_ENOTFOUND. */
int tsk_invite_get(PGconn *db, const char *slug, int64_t id, int64_t now_us, json_t **out, char *err,
    size_t errlen);
/*
 * A new invite of email (normalized like every account address) with role to the tenant, from the user
 * invited_by (0: nobody, e.g. the operator's tool), with an optional message (NULL or "": none). Refused
 * for an address that has a membership there (TSK_TEAM_ALREADY_MEMBER) or a pending unexpired invite
 * (TSK_TEAM_PENDING_EXISTS; a pending one whose time is up is marked expired first). token receives
 * the token (TSK_INVITE_TOKEN_LEN + 1 bytes), info what the mail needs.
 */
int tsk_invite_create(PGconn *db, const char *slug, int64_t invited_by, const char *email, const char *role,
    const char *message, int64_t now_us, char *token, struct tsk_invite_info *info, enum tsk_team_why *why,
    char *err, size_t errlen);
/* Cancels a pending invite (else TSK_TEAM_NOT_PENDING). */
int tsk_invite_cancel(PGconn *db, const char *slug, int64_t id, enum tsk_team_why *why, char *err, size_t errlen);
/* A pending, unexpired invite gets a new token (the old link dies) for another mail; its expiry stays.
 * TSK_TEAM_NOT_PENDING, TSK_TEAM_EXPIRED (now marked expired). */
int tsk_invite_resend(PGconn *db, const char *slug, int64_t id, int64_t now_us, char *token,
    struct tsk_invite_info *info, enum tsk_team_why *why, char *err, size_t errlen);
/* Records how the invite's mail went: sent, or the error (NULL: sent). */
int tsk_invite_mail_result(PGconn *db, int64_t id, const char *error, int64_t now_us, char *err, size_t errlen);

/* Public: the invite behind a token, {id, email, role, tenant_name, tenant_slug, invited_by_name,
 * expires_at}. TSK_ENOTFOUND (TSK_TEAM_UNKNOWN_TOKEN); TSK_TEAM_EXPIRED (marked expired);
 * TSK_TEAM_NOT_VALID. */
int tsk_invite_validate(PGconn *db, const char *token, int64_t now_us, json_t **out, enum tsk_team_why *why,
    char *err, size_t errlen);
/* A logged-in user accepts: the invite must be valid (as above), be for the user's address (any case:
 * TSK_TEAM_WRONG_EMAIL) and the user must have no membership in its tenant (TSK_TEAM_ALREADY_MEMBER).
 * Makes an active membership with the invite's role and inviter; *out is the membership (the members'
 * shape). */
int tsk_invite_accept(PGconn *db, const char *token, int64_t user_id, int64_t now_us, json_t **out,
    enum tsk_team_why *why, char *err, size_t errlen);
/* Public: a new account for the invite's address (name split at the first space into first and last
 * name; the password policy of registry/auth.h: TSK_TEAM_BAD_PASSWORD) and its membership, in one
 * transaction. TSK_TEAM_USER_EXISTS when the address has an account. *out: {message, user:{id, email,
 * full_name}, membership:{tenant_name, tenant_slug, role}} without the message. */
int tsk_invite_signup(PGconn *db, const char *token, const char *name, const char *password, int64_t now_us,
    json_t **out, enum tsk_team_why *why, char *err, size_t errlen);

#endif
