/*
 * Mail over SMTP by libcurl (see mail.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include <sodium.h>

#include "core/buf.h"
#include "core/conf.h"
#include "core/text.h"
#include "core/tsk.h"
#include "notify/mail.h"
#include "registry/account.h"

#define ADDR_MAX 320
#define NAME_MAX_ 256

int
tsk_mail_conf_load(const struct tsk_conf *conf, struct tsk_mail_conf *c, char *err, size_t errlen)
{
	const char *t = tsk_conf_get(conf, "smtp_timeout");

	memset(c, 0, sizeof *c);
	c->url = tsk_conf_get(conf, "smtp_url");
	c->from = tsk_conf_get(conf, "mail_from");
	c->ca_file = tsk_conf_get(conf, "smtp_ca_file");
	if (c->url == NULL || c->url[0] == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "no smtp_url (e.g. smtp://localhost:25)");
	if (c->from == NULL || c->from[0] == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "no mail_from (the sender's address)");
	if (t != NULL) {
		char *end;
		long v = strtol(t, &end, 10);

		if (end == t || (*end != '\0' && strcmp(end, "s") != 0) || v < 1 || v > 600)
			return tsk_seterr(err, errlen, TSK_EINVAL, "smtp_timeout is seconds, 1 to 600: \"%.40s\"", t);
		c->timeout_s = v;
	}
	return TSK_OK;
}

/* ---- addresses ------------------------------------------------------------------------------------ */

/* "Name <addr>" or "addr" into its parts (name "" when none); the address checked. */
static int
split_mailbox(const char *s, char *name, size_t namelen, char *addr, size_t addrlen, char *err, size_t errlen)
{
	const char *lt = strrchr(s, '<');
	char norm[ADDR_MAX];
	size_t n;

	name[0] = '\0';
	if (lt != NULL) {
		const char *gt = strchr(lt, '>');

		if (gt == NULL || gt[1] != '\0')
			return tsk_seterr(err, errlen, TSK_EINVAL, "\"%.80s\" is not an address nor Name <address>", s);
		n = (size_t)(lt - s);
		while (n > 0 && s[n - 1] == ' ')
			n--;
		if (n >= namelen)
			return tsk_seterr(err, errlen, TSK_EINVAL, "the name in \"%.80s\" is too long", s);
		memcpy(name, s, n);
		name[n] = '\0';
		n = (size_t)(gt - lt - 1);
		if (n >= addrlen)
			return tsk_seterr(err, errlen, TSK_EINVAL, "the address in \"%.80s\" is too long", s);
		memcpy(addr, lt + 1, n);
		addr[n] = '\0';
	} else {
		if (strlen(s) >= addrlen)
			return tsk_seterr(err, errlen, TSK_EINVAL, "the address \"%.80s\" is too long", s);
		snprintf(addr, addrlen, "%s", s);
	}
	return tsk_email_check(addr, norm, sizeof norm, err, errlen);
}

/* ---- header encoding ------------------------------------------------------------------------------ */

static int
plain_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

/* The length of the longest prefix of s (at most max bytes) that ends on a character boundary. */
static size_t
utf8_cut(const char *s, size_t len, size_t max)
{
	size_t n = len < max ? len : max;

	if (n == len)
		return n;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* RFC 2047 encoded words for s, folded with CRLF SP between them: 42 bytes of text a word are 56
 * base64 characters, 68 with "=?UTF-8?B?" and "?=", so even the first line ("Subject: " before it)
 * stays within 78 characters. */
static void
put_encoded_words(struct tsk_buf *b, const char *s)
{
	size_t len = strlen(s), off = 0;
	char enc[sodium_base64_ENCODED_LEN(42, sodium_base64_VARIANT_ORIGINAL)];

	while (off < len) {
		size_t n = utf8_cut(s + off, len - off, 42);

		sodium_bin2base64(enc, sizeof enc, (const unsigned char *)s + off, n, sodium_base64_VARIANT_ORIGINAL);
		tsk_buf_printf(b, "%s=?UTF-8?B?%s?=", off > 0 ? "\r\n " : "", enc);
		off += n;
	}
}

/* An unstructured header value (Subject): as it is when printable ASCII, else encoded words. */
static void
put_text_header(struct tsk_buf *b, const char *s)
{
	if (plain_ascii(s) && strstr(s, "=?") == NULL)
		tsk_buf_puts(b, s);
	else
		put_encoded_words(b, s);
}

/* A mailbox: Name <addr>, the name quoted (ASCII) or encoded words. */
static void
put_mailbox(struct tsk_buf *b, const char *name, const char *addr)
{
	if (name[0] == '\0') {
		tsk_buf_printf(b, "<%s>", addr);
		return;
	}
	if (plain_ascii(name) && strstr(name, "=?") == NULL) {
		tsk_buf_puts(b, "\"");
		for (const char *p = name; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				tsk_buf_puts(b, "\\");
			tsk_buf_add(b, p, 1);
		}
		tsk_buf_puts(b, "\"");
	} else {
		put_encoded_words(b, name);
	}
	tsk_buf_printf(b, " <%s>", addr);
}

/* A body part in base64, 76 characters a line. */
static void
put_base64(struct tsk_buf *b, const char *s)
{
	size_t len = strlen(s);
	char enc[sodium_base64_ENCODED_LEN(57, sodium_base64_VARIANT_ORIGINAL)];

	for (size_t off = 0; off < len; off += 57) {
		size_t n = len - off < 57 ? len - off : 57;

		sodium_bin2base64(enc, sizeof enc, (const unsigned char *)s + off, n, sodium_base64_VARIANT_ORIGINAL);
		tsk_buf_printf(b, "%s\r\n", enc);
	}
}

static int
check_value(const char *what, const char *s, char *err, size_t errlen)
{
	if (strpbrk(s, "\r\n") != NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "the %s holds a line break", what);
	if (!tsk_utf8_valid(s, strlen(s)))
		return tsk_seterr(err, errlen, TSK_EINVAL, "the %s is not UTF-8", what);
	return TSK_OK;
}

int
tsk_mail_format(const struct tsk_mail_conf *c, const struct tsk_mail *m, int64_t now_s, const char *msgid,
    struct tsk_buf *out, char *err, size_t errlen)
{
	char fname[NAME_MAX_], faddr[ADDR_MAX], tname[NAME_MAX_], taddr[ADDR_MAX], date[64], boundary[64];
	const char *subject = m->subject != NULL ? m->subject : "", *text = m->text != NULL ? m->text : "";
	unsigned char h[8];
	struct tm tm;
	time_t t = (time_t)now_s;
	int rc;

	if ((rc = check_value("sender", c->from != NULL ? c->from : "", err, errlen)) != TSK_OK ||
	    (rc = check_value("recipient", m->to != NULL ? m->to : "", err, errlen)) != TSK_OK ||
	    (rc = check_value("recipient's name", m->to_name != NULL ? m->to_name : "", err, errlen)) != TSK_OK ||
	    (rc = check_value("subject", subject, err, errlen)) != TSK_OK ||
	    (rc = check_value("Message-ID", msgid, err, errlen)) != TSK_OK)
		return rc;
	if (!tsk_utf8_valid(text, strlen(text)) || (m->html != NULL && !tsk_utf8_valid(m->html, strlen(m->html))))
		return tsk_seterr(err, errlen, TSK_EINVAL, "the message's text is not UTF-8");
	if ((rc = split_mailbox(c->from != NULL ? c->from : "", fname, sizeof fname, faddr, sizeof faddr, err,
	    errlen)) != TSK_OK)
		return rc;
	if ((rc = split_mailbox(m->to != NULL ? m->to : "", tname, sizeof tname, taddr, sizeof taddr, err,
	    errlen)) != TSK_OK)
		return rc;
	if (m->to_name != NULL && m->to_name[0] != '\0')
		snprintf(tname, sizeof tname, "%s", m->to_name);

	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	/* The boundary: "_" and "=" never occur in a base64 line, so no part can hold it. */
	crypto_generichash(h, sizeof h, (const unsigned char *)msgid, strlen(msgid), NULL, 0);
	snprintf(boundary, sizeof boundary, "=_tsk_%02x%02x%02x%02x%02x%02x%02x%02x", h[0], h[1], h[2], h[3], h[4],
	    h[5], h[6], h[7]);

	tsk_buf_printf(out, "Date: %s\r\nFrom: ", date);
	put_mailbox(out, fname, faddr);
	tsk_buf_puts(out, "\r\nTo: ");
	put_mailbox(out, tname, taddr);
	tsk_buf_puts(out, "\r\nSubject: ");
	put_text_header(out, subject);
	tsk_buf_printf(out, "\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\n", msgid);
	if (m->html == NULL) {
		tsk_buf_puts(out, "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n");
		put_base64(out, text);
	} else {
		tsk_buf_printf(out, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary);
		tsk_buf_printf(out, "--%s\r\nContent-Type: text/plain; charset=UTF-8\r\n"
		    "Content-Transfer-Encoding: base64\r\n\r\n", boundary);
		put_base64(out, text);
		tsk_buf_printf(out, "--%s\r\nContent-Type: text/html; charset=UTF-8\r\n"
		    "Content-Transfer-Encoding: base64\r\n\r\n", boundary);
		put_base64(out, m->html);
		tsk_buf_printf(out, "--%s--\r\n", boundary);
	}
	if (tsk_buf_failed(out))
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	return TSK_OK;
}

/* ---- sending -------------------------------------------------------------------------------------- */

struct upload {
	const char *p;
	size_t left;
};

static size_t
read_cb(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct upload *u = arg;
	size_t n = size * nmemb < u->left ? size * nmemb : u->left;

	memcpy(dst, u->p, n);
	u->p += n;
	u->left -= n;
	return n;
}

int
tsk_mail_send(const struct tsk_mail_conf *c, const struct tsk_mail *m, char *err, size_t errlen)
{
	char name[NAME_MAX_], from[ADDR_MAX + 2], to[ADDR_MAX + 2], addr[ADDR_MAX], msgid[128], curlerr[CURL_ERROR_SIZE];
	unsigned char rnd[12];
	struct tsk_buf msg = { 0 };
	struct curl_slist *rcpt = NULL;
	struct upload u;
	char *url = NULL;
	const char *at;
	int starttls = 0, rc;
	CURL *h = NULL;
	CURLcode cc;
	long code = 0;

	if (c->url == NULL || c->url[0] == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "no smtp_url");
	if (strncasecmp(c->url, "smtp+starttls://", 16) == 0) {
		starttls = 1;
		if (asprintf(&url, "smtp://%s", c->url + 16) < 0)
			url = NULL;
	} else if (strncasecmp(c->url, "smtp://", 7) == 0 || strncasecmp(c->url, "smtps://", 8) == 0) {
		url = strdup(c->url);
	} else {
		return tsk_seterr(err, errlen, TSK_EINVAL,
		    "smtp_url must start with smtp://, smtp+starttls:// or smtps://: \"%.80s\"", c->url);
	}
	if (url == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");

	if (sodium_init() < 0) {
		free(url);
		return tsk_seterr(err, errlen, TSK_EFAIL, "libsodium does not initialize");
	}
	randombytes_buf(rnd, sizeof rnd);
	if ((rc = split_mailbox(c->from != NULL ? c->from : "", name, sizeof name, addr, sizeof addr, err, errlen)) !=
	    TSK_OK)
		goto out;
	snprintf(from, sizeof from, "<%s>", addr);
	at = strrchr(addr, '@');
	snprintf(msgid, sizeof msgid, "%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x.tsk%s", rnd[0], rnd[1],
	    rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], rnd[8], rnd[9], rnd[10], rnd[11], at != NULL ? at : "@localhost");
	if ((rc = tsk_mail_format(c, m, (int64_t)time(NULL), msgid, &msg, err, errlen)) != TSK_OK)
		goto out;
	if ((rc = split_mailbox(m->to, name, sizeof name, addr, sizeof addr, err, errlen)) != TSK_OK)
		goto out;
	snprintf(to, sizeof to, "<%s>", addr);

	rc = TSK_EFAIL;
	if ((h = curl_easy_init()) == NULL || (rcpt = curl_slist_append(NULL, to)) == NULL) {
		tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}
	u.p = msg.p;
	u.left = msg.len;
	curlerr[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(h, CURLOPT_READDATA, &u);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)msg.len);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s > 0 ? c->timeout_s : 30L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->timeout_s > 0 && c->timeout_s < 10 ? c->timeout_s : 10L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curlerr);
	if (starttls)
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (c->ca_file != NULL && c->ca_file[0] != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (cc == CURLE_OK) {
		rc = TSK_OK;
	} else {
		int never = cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT || cc == CURLE_LOGIN_DENIED;

		rc = tsk_seterr(err, errlen, never ? TSK_EINVAL : TSK_ETEMP, "SMTP to %s: %s%s%s (server code %ld)", to,
		    curl_easy_strerror(cc), curlerr[0] ? ": " : "", curlerr, code);
	}
out:
	curl_slist_free_all(rcpt);
	if (h != NULL)
		curl_easy_cleanup(h);
	tsk_buf_free(&msg);
	free(url);
	return rc;
}
