/* The invite mail (see invite.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/tsk.h"
#include "notify/invite.h"
#include "notify/mail.h"
#include "registry/team.h"

int
tsk_invite_link(const char *frontend_url, const char *token, char *out, size_t outlen)
{
	const char *base = frontend_url != NULL && frontend_url[0] != '\0' ? frontend_url : TSK_FRONTEND_URL_DEFAULT;
	size_t n = strlen(base);
	int w;

	while (n > 0 && base[n - 1] == '/')
		n--;
	w = snprintf(out, outlen, "%.*s/accept-invite?token=%s", (int)n, base, token);
	return w < 0 || (size_t)w >= outlen ? TSK_EINVAL : TSK_OK;
}

/* s with &, <, >, " and ' as entities: text from users (names, the message) inside the HTML part. */
static void
html(struct tsk_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': tsk_buf_puts(b, "&amp;"); break;
		case '<': tsk_buf_puts(b, "&lt;"); break;
		case '>': tsk_buf_puts(b, "&gt;"); break;
		case '"': tsk_buf_puts(b, "&quot;"); break;
		case '\'': tsk_buf_puts(b, "&#39;"); break;
		case '\n': tsk_buf_puts(b, "<br>"); break;
		default: tsk_buf_add(b, s, 1);
		}
	}
}

static const char *
role_name(const char *role)
{
	return strcmp(role, "owner") == 0 ? "Owner" : strcmp(role, "admin") == 0 ? "Administrator" :
	    strcmp(role, "operator") == 0 ? "Operator" : strcmp(role, "technician") == 0 ? "Technician" : "Viewer";
}

int
tsk_invite_mail(PGconn *db, const struct tsk_mail_conf *mail, const char *frontend_url,
    const struct tsk_invite_info *info, const char *token, int64_t now_us, char *err, size_t errlen)
{
	struct tsk_buf subject = { 0 }, text = { 0 }, htm = { 0 };
	char link[2048], when[64], derr[TSK_ERRLEN];
	time_t t = (time_t)(info->expires_us / 1000000);
	struct tm tm;
	int rc;

	if (mail == NULL || mail->url == NULL || mail->url[0] == '\0') {
		rc = tsk_seterr(err, errlen, TSK_EINVAL, "no smtp_url is configured: the invite was not mailed");
		goto record;
	}
	if ((rc = tsk_invite_link(frontend_url, token, link, sizeof link)) != TSK_OK) {
		rc = tsk_seterr(err, errlen, TSK_EINVAL, "frontend_url is too long for a link");
		goto record;
	}
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%B %-d, %Y at %H:%M UTC", &tm);
	tsk_buf_printf(&subject, "You've been invited to join %s", info->tenant_name);
	tsk_buf_printf(&text, "You've been invited to join %s\n\nHi there,\n\n%s has invited you to join %s as %s.\n\n",
	    info->tenant_name, info->inviter_name, info->tenant_name, role_name(info->role));
	if (info->message[0] != '\0')
		tsk_buf_printf(&text, "Personal message from %s:\n%s\n\n", info->inviter_name, info->message);
	tsk_buf_printf(&text, "To accept this invitation, open the link below:\n%s\n\n"
	    "This invitation will expire on %s.\n\n"
	    "If you didn't expect this invitation, you can safely ignore this email.\n\nBest regards,\nThe TrakSense Team\n",
	    link, when);
	tsk_buf_puts(&htm, "<h2>You've been invited to join ");
	html(&htm, info->tenant_name);
	tsk_buf_puts(&htm, "</h2><p>Hi there,</p><p><b>");
	html(&htm, info->inviter_name);
	tsk_buf_puts(&htm, "</b> has invited you to join <b>");
	html(&htm, info->tenant_name);
	tsk_buf_printf(&htm, "</b> as %s.</p>", role_name(info->role));
	if (info->message[0] != '\0') {
		tsk_buf_puts(&htm, "<blockquote>");
		html(&htm, info->message);
		tsk_buf_puts(&htm, "</blockquote>");
	}
	tsk_buf_puts(&htm, "<p><a href=\"");
	html(&htm, link);
	tsk_buf_puts(&htm, "\">Accept the invitation</a></p><p>Or open this link: ");
	html(&htm, link);
	tsk_buf_printf(&htm, "</p><p>This invitation will expire on %s.</p>"
	    "<p>If you didn't expect this invitation, you can safely ignore this email.</p>"
	    "<p>Best regards,<br>The TrakSense Team</p>", when);
	if (tsk_buf_failed(&subject) || tsk_buf_failed(&text) || tsk_buf_failed(&htm)) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto record;
	}
	struct tsk_mail m = { .to = info->email, .subject = tsk_buf_cstr(&subject), .text = tsk_buf_cstr(&text),
		.html = tsk_buf_cstr(&htm) };
	rc = tsk_mail_send(mail, &m, err, errlen);
record:
	/* The outcome is the invite's, for the team's list; failing to note it loses nothing else. */
	if (tsk_invite_mail_result(db, info->id, rc == TSK_OK ? NULL : err, now_us, derr, sizeof derr) != TSK_OK &&
	    rc == TSK_OK)
		rc = tsk_seterr(err, errlen, TSK_ETEMP, "the mail went, but noting it in the invite failed: %s", derr);
	tsk_buf_free(&subject);
	tsk_buf_free(&text);
	tsk_buf_free(&htm);
	return rc;
}
