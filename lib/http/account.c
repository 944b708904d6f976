/*
 * The account services (see account.h): the password-reset mailer thread and the avatar store's
 * settings.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libpq-fe.h>
#include <sodium.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/time.h"
#include "core/tsk.h"
#include "http/account.h"
#include "notify/mail.h"
#include "pg/db.h"
#include "registry/account.h"
#include "registry/ratelimit.h"

#define DEFAULT_FRONTEND "http://localhost:5173"
#define SUBJECT "Redefinição de Senha - TrakSense"

struct item {
	char email[320];
	char tenant[TSK_SLUG_MAX + 1]; /* "" : the public site */
};

struct tsk_http_account {
	char *dsn, *frontend;
	int mail_ok;
	struct tsk_mail_conf mail;
	char *mail_url, *mail_from, *mail_ca;
	struct tsk_ratelimit *per_address;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct item *q;                /* a ring of TSK_HTTP_RESET_QUEUE */
	size_t head, n;
	int stopping;
	int64_t deadline_us;
	pthread_t th;
	int started;
	PGconn *db;                    /* the mailer's own connection */

	int avatars_ok;
	struct tsk_http_avatar_store av;
	char *s3_endpoint, *s3_region, *s3_access, *s3_secret, *s3_token, *bucket, *url_base;
};

void
tsk_http_reset_hash(const char *token, char hex[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
	sodium_bin2hex(hex, 65, h, sizeof h);
}

/* ---- the mail ----------------------------------------------------------------------------------- */

/* s with &, <, >, " escaped for HTML, appended to b. */
static void
html_escape(struct tsk_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': tsk_buf_puts(b, "&amp;"); break;
		case '<': tsk_buf_puts(b, "&lt;"); break;
		case '>': tsk_buf_puts(b, "&gt;"); break;
		case '"': tsk_buf_puts(b, "&quot;"); break;
		default: tsk_buf_add(b, s, 1);
		}
	}
}

static int
send_mail(struct tsk_http_account *a, const char *email, const char *name, const char *token, char *err,
    size_t errlen)
{
	struct tsk_buf text = TSK_BUF_INIT, html = TSK_BUF_INIT, url = TSK_BUF_INIT;
	struct tsk_mail m;
	int rc;

	tsk_buf_printf(&url, "%s/reset-password?token=%s", a->frontend, token);
	tsk_buf_printf(&text,
	    "TrakSense\nRedefinição de Senha\n\n"
	    "Olá, %s.\n\n"
	    "Recebemos uma solicitação para redefinir a senha da sua conta na plataforma TrakSense.\n\n"
	    "Para prosseguir, acesse o link abaixo:\n%s\n\n"
	    "ATENÇÃO: Este link é válido por 1 hora e pode ser usado uma única vez.\n\n"
	    "Se você não solicitou esta redefinição, desconsidere este e-mail. Sua senha atual permanecerá "
	    "inalterada.\n\n"
	    "Este é um e-mail automático. Por favor, não responda.\n", name, tsk_buf_cstr(&url));
	tsk_buf_puts(&html, "<!DOCTYPE html>\n<html lang=\"pt-BR\"><head><meta charset=\"UTF-8\">"
	    "<title>Redefinição de Senha - TrakSense</title></head>\n<body style=\"font-family: Arial, sans-serif; "
	    "color: #333333;\">\n<h1 style=\"font-size: 22px;\">Redefinição de Senha</h1>\n<p>Olá, <strong>");
	html_escape(&html, name);
	tsk_buf_puts(&html, "</strong>.</p>\n<p>Recebemos uma solicitação para redefinir a senha da sua conta na "
	    "plataforma TrakSense. Para prosseguir, clique no botão abaixo.</p>\n<p><a href=\"");
	html_escape(&html, tsk_buf_cstr(&url));
	tsk_buf_puts(&html, "\" style=\"display: inline-block; padding: 12px 32px; background-color: #0d9488; "
	    "color: #ffffff; text-decoration: none;\">Redefinir Senha</a></p>\n"
	    "<p><strong>Atenção:</strong> este link é válido por 1 hora e pode ser usado uma única vez.</p>\n"
	    "<p>Se você não solicitou esta redefinição, desconsidere este e-mail. Sua senha atual permanecerá "
	    "inalterada.</p>\n<p style=\"font-size: 13px; color: #888888;\">Caso o botão não funcione, copie e cole "
	    "o link abaixo no navegador:<br>");
	html_escape(&html, tsk_buf_cstr(&url));
	tsk_buf_puts(&html, "</p>\n<p style=\"font-size: 12px; color: #aaaaaa;\">Este é um e-mail automático. Por "
	    "favor, não responda.</p>\n</body></html>\n");
	if (tsk_buf_failed(&text) || tsk_buf_failed(&html) || tsk_buf_failed(&url)) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}
	memset(&m, 0, sizeof m);
	m.to = email;
	m.subject = SUBJECT;
	m.text = tsk_buf_cstr(&text);
	m.html = tsk_buf_cstr(&html);
	rc = tsk_mail_send(&a->mail, &m, err, errlen);
out:
	tsk_buf_free(&text);
	tsk_buf_free(&html);
	if (url.p != NULL)
		sodium_memzero(url.p, url.cap);
	tsk_buf_free(&url);
	return rc;
}

/* ---- the mailer --------------------------------------------------------------------------------- */

static PGconn *
mailer_db(struct tsk_http_account *a)
{
	char err[TSK_ERRLEN];

	if (a->db != NULL && PQstatus(a->db) == CONNECTION_OK)
		return a->db;
	if (a->db != NULL)
		PQfinish(a->db);
	a->db = NULL;
	if (tsk_db_connect(a->dsn, &a->db, err, sizeof err) != TSK_OK) {
		tsk_warn("password reset: database unavailable: %s", err);
		a->db = NULL;
	}
	return a->db;
}

/* One request: the user, a new token (the older ones deleted), the mail. Every refusal is silent for
 * the client (it was answered already) and logged at debug level only: the log must not become the
 * account enumeration the answer avoids. */
static void
process(struct tsk_http_account *a, const struct item *it)
{
	char norm[256], err[TSK_ERRLEN], key[300], now[24], hash[65], token[64], id[24], name[320];
	unsigned char rnd[32];
	int64_t now_us = tsk_now_us(), wait = 0;
	PGresult *res = NULL;
	PGconn *db;
	int rc;

	if (!a->mail_ok)
		return;
	if ((db = mailer_db(a)) == NULL)
		return;
	if (tsk_email_normalize(db, it->email, norm, sizeof norm, err, sizeof err) != TSK_OK) {
		tsk_debug("password reset: %s", err);
		return;
	}
	snprintf(key, sizeof key, "reset:%s", norm);
	if (!tsk_ratelimit_hit(a->per_address, key, now_us, &wait)) {
		tsk_info("password reset: too many requests for one address; no mail for %lld s",
		    (long long)(wait / TSK_US_PER_S));
		return;
	}
	const char *p1[] = { norm, it->tenant };
	rc = tsk_db_exec(db,
	    "SELECT u.id, coalesce(nullif(u.first_name, ''), u.username, u.email), t.id"
	    " FROM public.app_user u LEFT JOIN public.tenant t ON t.slug = nullif($2, '')"
	    " WHERE u.email = $1 AND u.is_active AND ($2 = '' OR EXISTS (SELECT 1 FROM public.membership m"
	    "   WHERE m.user_id = u.id AND m.tenant_id = t.id))", 2, p1, &res, err, sizeof err);
	if (rc != TSK_OK) {
		tsk_warn("password reset: %s", err);
		return;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		tsk_debug("password reset: no active account for the address on this site");
		return;
	}
	snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
	snprintf(name, sizeof name, "%s", PQgetvalue(res, 0, 1));
	char tenant_id[24];
	snprintf(tenant_id, sizeof tenant_id, "%s", PQgetvalue(res, 0, 2));
	int has_tenant = !PQgetisnull(res, 0, 2);
	PQclear(res);

	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2base64(token, sizeof token, rnd, sizeof rnd, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(rnd, sizeof rnd);
	tsk_http_reset_hash(token, hash);
	snprintf(now, sizeof now, "%lld", (long long)now_us);
	const char *p2[] = { id, hash, has_tenant ? tenant_id : NULL, now };
	if ((rc = tsk_db_begin(db, err, sizeof err)) == TSK_OK &&
	    (rc = tsk_db_exec(db, "DELETE FROM public.password_reset_token WHERE user_id = $1"
	        " OR expires_at < to_timestamp($2::double precision / 1e6) - interval '1 day'", 2,
	        (const char *[]){ id, now }, NULL, err, sizeof err)) == TSK_OK &&
	    (rc = tsk_db_exec(db, "INSERT INTO public.password_reset_token (user_id, token_hash, tenant_id, created_at,"
	        " expires_at) VALUES ($1, $2, $3, to_timestamp($4::double precision / 1e6),"
	        " to_timestamp($4::double precision / 1e6) + interval '1 hour')", 4,
	        p2, NULL, err, sizeof err)) == TSK_OK)
		rc = tsk_db_commit(db, err, sizeof err);
	if (rc != TSK_OK) {
		tsk_db_rollback(db);
		tsk_warn("password reset: %s", err);
		sodium_memzero(token, sizeof token);
		return;
	}
	rc = send_mail(a, norm, name, token, err, sizeof err);
	sodium_memzero(token, sizeof token);
	/* The original swallows a failed send too: the user asks again. */
	if (rc != TSK_OK)
		tsk_warn("password reset: mail for user %s not sent: %s", id, err);
	else
		tsk_info("password reset: mail sent for user %s", id);
}

static void *
mailer(void *arg)
{
	struct tsk_http_account *a = arg;
	struct item it;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (a->n == 0 && !a->stopping)
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->n == 0 || (a->stopping && tsk_now_us() >= a->deadline_us))
			break;
		it = a->q[a->head];
		a->head = (a->head + 1) % TSK_HTTP_RESET_QUEUE;
		a->n--;
		pthread_mutex_unlock(&a->mu);
		process(a, &it);
		sodium_memzero(&it, sizeof it);
		pthread_mutex_lock(&a->mu);
	}
	if (a->n > 0)
		tsk_warn("password reset: %zu requests not handled at the stop", a->n);
	a->n = 0;
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

void
tsk_http_account_reset_request(struct tsk_http_account *a, const char *email, const char *tenant)
{
	struct item *it;
	int dropped = 0;

	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	if (a->stopping || a->n == TSK_HTTP_RESET_QUEUE) {
		dropped = 1;
	} else {
		it = &a->q[(a->head + a->n) % TSK_HTTP_RESET_QUEUE];
		snprintf(it->email, sizeof it->email, "%s", email);
		snprintf(it->tenant, sizeof it->tenant, "%s", tenant != NULL ? tenant : "");
		a->n++;
		pthread_cond_signal(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	if (dropped)
		tsk_warn("password reset: the queue is full (%d requests waiting); one dropped", TSK_HTTP_RESET_QUEUE);
}

/* ---- settings ----------------------------------------------------------------------------------- */

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* A count of mails: 1..1000. */
static int
count_key(const struct tsk_conf *conf, const char *key, long def, long *out, char *err, size_t errlen)
{
	const char *v = tsk_conf_get(conf, key);
	char *end;

	*out = def;
	if (v == NULL)
		return TSK_OK;
	*out = strtol(v, &end, 10);
	if (end == v || *end != '\0' || *out < 1 || *out > 1000)
		return tsk_seterr(err, errlen, TSK_EINVAL, "%s must be 1..1000, not \"%s\"", key, v);
	return TSK_OK;
}

static int
load_avatars(struct tsk_http_account *a, const struct tsk_conf *conf, char *err, size_t errlen)
{
	struct tsk_s3_config s3;
	const char *bucket = tsk_conf_get(conf, "avatar_bucket"), *base = tsk_conf_get(conf, "avatar_url");
	int rc;

	if (bucket == NULL || bucket[0] == '\0')
		return TSK_OK;
	for (const char *p = bucket; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		    *p == '-' || *p == '_'))
			return tsk_seterr(err, errlen, TSK_EINVAL, "avatar_bucket \"%s\": not a bucket name", bucket);
	if ((rc = tsk_s3_config_load(conf, NULL, NULL, &s3, err, errlen)) != TSK_OK)
		return rc;
	if (s3.access_key == NULL || s3.access_key[0] == '\0' || s3.secret_key == NULL || s3.secret_key[0] == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "avatar_bucket is set but there are no S3 credentials "
		    "(s3_access_key and s3_secret_key, or TSK_S3_ACCESS_KEY and TSK_S3_SECRET_KEY)");
	if (s3.endpoint != NULL && s3.endpoint[0] != '\0' && strncmp(s3.endpoint, "http://", 7) != 0 &&
	    strncmp(s3.endpoint, "https://", 8) != 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "s3_endpoint \"%s\" must start with http:// or https://",
		    s3.endpoint);
	if (base != NULL && base[0] != '\0' && strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "avatar_url \"%s\" must start with http:// or https://", base);
	a->s3_endpoint = dup_or_null(s3.endpoint);
	a->s3_region = dup_or_null(s3.region);
	a->s3_access = dup_or_null(s3.access_key);
	a->s3_secret = dup_or_null(s3.secret_key);
	a->s3_token = dup_or_null(s3.session_token);
	a->bucket = strdup(bucket);
	if (base != NULL && base[0] != '\0') {
		a->url_base = strdup(base);
	} else {
		const char *region = s3.region != NULL && s3.region[0] ? s3.region : "us-east-1";
		char def[600];
		if (s3.endpoint != NULL && s3.endpoint[0] != '\0')
			snprintf(def, sizeof def, "%s", s3.endpoint);
		else
			snprintf(def, sizeof def, "https://s3.%s.amazonaws.com", region);
		for (size_t n = strlen(def); n > 0 && def[n - 1] == '/'; n--)
			def[n - 1] = '\0';
		size_t n = strlen(def);
		snprintf(def + n, sizeof def - n, "/%s", bucket);
		a->url_base = strdup(def);
	}
	if (a->bucket == NULL || a->url_base == NULL || (s3.endpoint != NULL && a->s3_endpoint == NULL) ||
	    a->s3_access == NULL || a->s3_secret == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	for (size_t n = strlen(a->url_base); n > 0 && a->url_base[n - 1] == '/'; n--)
		a->url_base[n - 1] = '\0';
	a->av.s3 = s3;
	a->av.s3.endpoint = a->s3_endpoint;
	a->av.s3.region = a->s3_region;
	a->av.s3.access_key = a->s3_access;
	a->av.s3.secret_key = a->s3_secret;
	a->av.s3.session_token = a->s3_token;
	a->av.s3.cancel = NULL;
	a->av.bucket = a->bucket;
	a->av.url_base = a->url_base;
	a->avatars_ok = 1;
	return TSK_OK;
}

int
tsk_http_account_new(const struct tsk_conf *conf, const struct tsk_mail_conf *mail, const char *frontend_url,
    const char *dsn, struct tsk_http_account **out, char *err, size_t errlen)
{
	struct tsk_http_account *a;
	const char *front = frontend_url != NULL && frontend_url[0] != '\0' ? frontend_url : DEFAULT_FRONTEND;
	long burst, rate;
	int rc;

	*out = NULL;
	if (strncmp(front, "http://", 7) != 0 && strncmp(front, "https://", 8) != 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "frontend_url \"%s\" must start with http:// or https://", front);
	if (strpbrk(front, " \t\r\n\"<>") != NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "frontend_url \"%s\": not a URL", front);
	if (conf != NULL && ((rc = count_key(conf, "reset_mail_burst", 5, &burst, err, errlen)) != TSK_OK ||
	    (rc = count_key(conf, "reset_mail_rate", 5, &rate, err, errlen)) != TSK_OK))
		return rc;
	if (conf == NULL)
		burst = rate = 5;
	if (sodium_init() < 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "libsodium failed to initialize");
	if ((a = calloc(1, sizeof *a)) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	a->dsn = strdup(dsn != NULL ? dsn : "");
	a->frontend = strdup(front);
	a->q = calloc(TSK_HTTP_RESET_QUEUE, sizeof *a->q);
	a->per_address = tsk_ratelimit_new((double)burst, (double)rate / 60.0, 65536);
	if (a->dsn == NULL || a->frontend == NULL || a->q == NULL || a->per_address == NULL) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto fail;
	}
	for (size_t n = strlen(a->frontend); n > 0 && a->frontend[n - 1] == '/'; n--)
		a->frontend[n - 1] = '\0';
	if (mail != NULL && mail->url != NULL && mail->url[0] != '\0' && mail->from != NULL) {
		a->mail_url = strdup(mail->url);
		a->mail_from = strdup(mail->from);
		a->mail_ca = dup_or_null(mail->ca_file);
		if (a->mail_url == NULL || a->mail_from == NULL || (mail->ca_file != NULL && a->mail_ca == NULL)) {
			rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
			goto fail;
		}
		a->mail = *mail;
		a->mail.url = a->mail_url;
		a->mail.from = a->mail_from;
		a->mail.ca_file = a->mail_ca;
		a->mail_ok = 1;
	} else {
		tsk_warn("no smtp_url: password reset requests are answered but no mail is sent");
	}
	if (conf != NULL && (rc = load_avatars(a, conf, err, errlen)) != TSK_OK)
		goto fail;
	if (pthread_create(&a->th, NULL, mailer, a) != 0) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "cannot start the password reset mailer");
		goto fail;
	}
	a->started = 1;
	*out = a;
	return TSK_OK;
fail:
	tsk_http_account_free(a);
	return rc;
}

void
tsk_http_account_stop(struct tsk_http_account *a, int64_t deadline_us)
{
	if (a == NULL || !a->started)
		return;
	pthread_mutex_lock(&a->mu);
	a->stopping = 1;
	a->deadline_us = deadline_us;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->th, NULL);
	a->started = 0;
}

const struct tsk_http_avatar_store *
tsk_http_account_avatars(const struct tsk_http_account *a)
{
	return a != NULL && a->avatars_ok ? &a->av : NULL;
}

static void
wipe(char *s)
{
	if (s != NULL) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

void
tsk_http_account_free(struct tsk_http_account *a)
{
	if (a == NULL)
		return;
	tsk_http_account_stop(a, 0);
	if (a->db != NULL)
		PQfinish(a->db);
	tsk_ratelimit_free(a->per_address);
	if (a->q != NULL)
		sodium_memzero(a->q, TSK_HTTP_RESET_QUEUE * sizeof *a->q);
	free(a->q);
	free(a->dsn);
	free(a->frontend);
	wipe(a->mail_url); /* may hold SMTP credentials */
	free(a->mail_from);
	free(a->mail_ca);
	free(a->s3_endpoint);
	free(a->s3_region);
	wipe(a->s3_access);
	wipe(a->s3_secret);
	wipe(a->s3_token);
	free(a->bucket);
	free(a->url_base);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
}
