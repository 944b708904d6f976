/*
 * The account services behind the API's account endpoints (lib/http/ only; api_account.c):
 *   - the password-reset mailer: a request is only queued, and one thread of its own (with its own
 *     PostgreSQL connection) looks the address up, makes the token and sends the mail. So the answer to
 *     POST /api/auth/password-reset/request/ costs the same for a known and an unknown address: the
 *     lookup, hashing and SMTP exchange happen after it, for both or for neither;
 *   - the avatar store: the S3 settings, bucket and public URL of avatars (optional: without them the
 *     avatar endpoints answer 503).
 * Settings come from the daemon's options and configuration at start (SIGHUP does not change them):
 *   the daemon's mail server (opts.mail: without one no reset mail is sent, and the requests are still
 *   answered the same) and frontend_url (opts.frontend_url, default http://localhost:5173), the site
 *   the reset link points to; reset_mail_burst and reset_mail_rate (mails to one address, in a
 *   burst and then per hour; default 5 and 5);
 *   avatar_bucket (no bucket: no avatars), avatar_url (the public base URL of the bucket; default
 *   s3_endpoint/avatar_bucket), and the S3 keys of query/s3.h (s3_endpoint, s3_region, credentials).
 * Thread-safe: the handlers of every worker call it.
 */
#ifndef TSK_HTTP_ACCOUNT_H
#define TSK_HTTP_ACCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "query/s3.h"

#define TSK_HTTP_RESET_TTL_S 3600            /* a reset token lives an hour (account.c's SQL says so too) */
#define TSK_HTTP_RESET_QUEUE 1024            /* requests waiting for the mailer; more are dropped (logged) */
#define TSK_HTTP_AVATAR_MAX (5 * 1024 * 1024) /* bytes of an avatar image */
/* The body limit of POST /api/users/me/avatar/: the image and the multipart envelope around it. */
#define TSK_HTTP_AVATAR_BODY_MAX (TSK_HTTP_AVATAR_MAX + 64 * 1024)

struct tsk_conf;
struct tsk_http_account;

/* Reads the settings (mail and frontend_url: the daemon's, copied; conf may be NULL) and starts the
 * mailer. TSK_OK, TSK_EINVAL (a bad setting: err says which), TSK_EFAIL. */
struct tsk_mail_conf;
int tsk_http_account_new(const struct tsk_conf *conf, const struct tsk_mail_conf *mail, const char *frontend_url,
    const char *dsn, struct tsk_http_account **out, char *err, size_t errlen);
/* Sends what is queued until deadline_us (tsk_now_us clock), then stops the mailer (what is left is
 * dropped, logged). */
void tsk_http_account_stop(struct tsk_http_account *a, int64_t deadline_us);
/* Stops (without waiting) and frees. */
void tsk_http_account_free(struct tsk_http_account *a);

/* Queues a reset request for email (as typed) asked on tenant (NULL: the public site): returns at once,
 * having done the same work whatever the address. */
void tsk_http_account_reset_request(struct tsk_http_account *a, const char *email, const char *tenant);

/* The avatar store, or NULL when avatars are not configured. */
struct tsk_http_avatar_store {
	struct tsk_s3_config s3;
	const char *bucket;
	const char *url_base;   /* the object's URL is url_base "/" key */
};
const struct tsk_http_avatar_store *tsk_http_account_avatars(const struct tsk_http_account *a);

#endif

/* The hex SHA-256 of a reset token, as password_reset_token.token_hash holds it (65 bytes). */
void tsk_http_reset_hash(const char *token, char hex[65]);
