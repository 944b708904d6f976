/*
 * The invite mail: subject "You've been invited to join {tenant}" (English, as the original), a
 * plain-text and an HTML part naming the inviter, the role, the inviter's message and the expiry, and
 * the accept link {frontend_url}/accept-invite?token=TOKEN. Sent by tsk-httpd (POST /api/team/invites/
 * and its resend) and by `tsk-tenant invite add`.
 */
#ifndef TSK_NOTIFY_INVITE_H
#define TSK_NOTIFY_INVITE_H

#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "notify/mail.h"
#include "registry/team.h"

#define TSK_FRONTEND_URL_DEFAULT "http://localhost:5173"

/* The accept link into out (a trailing '/' of frontend_url is dropped; NULL: the default). TSK_OK, or
 * TSK_EINVAL when it does not fit. */
int tsk_invite_link(const char *frontend_url, const char *token, char *out, size_t outlen);

/*
 * Sends the invite's mail through mail (NULL: no smtp_url is configured, nothing is sent), then records
 * the outcome in the invite (email_sent, email_error) on db. TSK_OK when the server took it; otherwise
 * the failure's status with err saying why (the invite stands either way: callers log it and go on).
 */
int tsk_invite_mail(PGconn *db, const struct tsk_mail_conf *mail, const char *frontend_url,
    const struct tsk_invite_info *info, const char *token, int64_t now_us, char *err, size_t errlen);

#endif
