/*
 * Mail: one message with a plain-text and an HTML part, sent over SMTP by libcurl. Used by team
 * invites and password resets (tsk-httpd, tsk-tenant) and by alert notifications.
 *
 * The server is a URL (configuration key smtp_url):
 *   smtp://host[:port]           plain SMTP (port 25 by default)
 *   smtp+starttls://host[:port]  SMTP that must upgrade with STARTTLS before anything is sent (587)
 *   smtps://host[:port]          SMTP over TLS from the first byte (465)
 * with optional user:password@ before the host (percent-encoded) for AUTH. TLS certificates are checked
 * against the system's CAs, or smtp_ca_file when given.
 *
 * Headers are encoded for non-ASCII subjects and names (RFC 2047 "=?UTF-8?B?...?=" words, never
 * splitting a character), both parts are UTF-8 in base64, and a header value with a line break is
 * refused (no header injection).
 */
#ifndef TSK_MAIL_H
#define TSK_MAIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct tsk_conf;

struct tsk_mail_conf {
	const char *url;        /* smtp_url */
	const char *from;       /* mail_from: an address, optionally "Name <address>" */
	const char *ca_file;    /* smtp_ca_file, or NULL for the system's CAs */
	long timeout_s;         /* smtp_timeout: the whole exchange, 0 for 30 s */
};

/* The smtp_url, mail_from, smtp_ca_file and smtp_timeout keys of a configuration. TSK_EINVAL when
 * smtp_url or mail_from is missing or smtp_timeout is not 1..600. The strings stay the conf's. */
int tsk_mail_conf_load(const struct tsk_conf *conf, struct tsk_mail_conf *c, char *err, size_t errlen);

struct tsk_mail {
	const char *to;         /* one address */
	const char *to_name;    /* display name, or NULL */
	const char *subject;    /* UTF-8 */
	const char *text;       /* the plain-text part (UTF-8) */
	const char *html;       /* the HTML part, or NULL for a text-only message */
};

/*
 * The message as it goes on the wire (RFC 5322 headers, MIME multipart/alternative), CRLF line ends,
 * appended to out: Date from now_s, Message-ID from msgid (without the angle brackets). TSK_EINVAL for
 * a bad address, a line break in a header value or text that is not UTF-8; TSK_EFAIL out of memory.
 */
int tsk_mail_format(const struct tsk_mail_conf *c, const struct tsk_mail *m, int64_t now_s, const char *msgid,
    struct tsk_buf *out, char *err, size_t errlen);

/*
 * Sends one message. TSK_OK when the server accepted it; TSK_EINVAL for a message or configuration
 * that can never be sent (bad address, bad URL), TSK_ETEMP when the server could not be reached or
 * refused it (err holds libcurl's reason and the server's reply code: worth retrying later).
 */
int tsk_mail_send(const struct tsk_mail_conf *c, const struct tsk_mail *m, char *err, size_t errlen);

#endif
