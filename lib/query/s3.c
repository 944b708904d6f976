#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <sodium.h>

#include "query/s3.h"
#include "core/conf.h"
#include "core/buf.h"
#include "core/tsk.h"

#define RESP_MAX 16384
#define ETAG_MAX 128
#define ATTEMPTS 4

struct tsk_s3_upload {
	CURL *curl;
	char *base;            /* ENDPOINT/BUCKET/ENCODED-KEY */
	char *bucket, *key;
	char sigv4[96];        /* "aws:amz:REGION:s3" */
	char *access_key, *secret_key, *token;
	const volatile sig_atomic_t *cancel;
	struct tsk_buf part;   /* the current part */
	size_t part_size;      /* a part is sent once it holds this much */
	char *upload_id;       /* set once a multipart upload was started */
	char (*etags)[ETAG_MAX];
	int parts;
	uint64_t sent;
	int done;
};

/* What one request answered. */
struct resp {
	long status;
	char body[RESP_MAX];
	size_t len;
	char etag[ETAG_MAX];
};

struct body {
	const char *p;
	size_t left;
};

static const char hexdig[] = "0123456789ABCDEF";

static int
unreserved(int c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

char *
tsk_s3_encode_key(const char *key)
{
	size_t n = strlen(key);
	char *out = malloc(3 * n + 1), *p = out;

	if (out == NULL)
		return NULL;
	for (const unsigned char *s = (const unsigned char *)key; *s; s++) {
		if (unreserved(*s) || *s == '/') {
			*p++ = (char)*s;
		} else {
			*p++ = '%';
			*p++ = hexdig[*s >> 4];
			*p++ = hexdig[*s & 15];
		}
	}
	*p = '\0';
	return out;
}

int
tsk_s3_key_check(const char *key, char *err, size_t errlen)
{
	size_t n = strlen(key);

	if (n == 0 || n > 1024)
		return tsk_seterr(err, errlen, TSK_EINVAL, "an S3 key has 1 to 1024 bytes");
	/* A "." or ".." segment would be resolved by HTTP clients and proxies ("a/../b" sent as "/b"), so
	 * the object written would not be the one named: refused rather than rewritten. */
	for (const char *seg = key; seg != NULL; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL) {
		size_t len = strcspn(seg, "/");
		if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return tsk_seterr(err, errlen, TSK_EINVAL, "S3 key \"%s\" has a \".\" or \"..\" segment", key);
	}
	for (const char *p = key; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return tsk_seterr(err, errlen, TSK_EINVAL, "S3 key has a control character");
	return TSK_OK;
}

int
tsk_s3_parse_url(const char *url, char **bucket, char **key, char *err, size_t errlen)
{
	const char *b, *slash;

	*bucket = *key = NULL;
	if (url == NULL || strncmp(url, "s3://", 5) != 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "\"%s\" is not an s3://BUCKET/KEY URL", url ? url : "");
	b = url + 5;
	slash = strchr(b, '/');
	if (slash == NULL || slash == b || slash[1] == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "\"%s\": an s3:// URL needs a bucket and a key", url);
	/* Bucket names: 3-63 of a-z 0-9 . - (S3's rules, relaxed to allow upper case and _ for older
	 * stores); anything else would change the path. */
	for (const char *p = b; p < slash; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_')
			return tsk_seterr(err, errlen, TSK_EINVAL, "\"%s\": invalid bucket name", url);
	if (slash - b < 3 || slash - b > 63)
		return tsk_seterr(err, errlen, TSK_EINVAL, "\"%s\": a bucket name has 3 to 63 characters", url);
	int rc;
	if ((rc = tsk_s3_key_check(slash + 1, err, errlen)) != TSK_OK)
		return rc;
	*bucket = strndup(b, (size_t)(slash - b));
	*key = strdup(slash + 1);
	if (*bucket == NULL || *key == NULL) {
		free(*bucket);
		free(*key);
		*bucket = *key = NULL;
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	}
	return TSK_OK;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct resp *r = arg;
	size_t n = size * nmemb, room = sizeof r->body - 1 - r->len;

	memcpy(r->body + r->len, data, n < room ? n : room);
	r->len += n < room ? n : room;
	r->body[r->len] = '\0';
	return n;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct resp *r = arg;
	size_t n = size * nmemb;

	if (n > 5 && strncasecmp(data, "etag:", 5) == 0) {
		const char *v = data + 5;
		size_t len = n - 5;
		while (len > 0 && (*v == ' ' || *v == '\t'))
			v++, len--;
		while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
			len--;
		if (len < sizeof r->etag) {
			memcpy(r->etag, v, len);
			r->etag[len] = '\0';
		}
	}
	return n;
}

static size_t
on_read(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;

	if (n > b->left)
		n = b->left;
	memcpy(dst, b->p, n);
	b->p += n;
	b->left -= n;
	return n;
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	const volatile sig_atomic_t *cancel = arg;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return cancel != NULL && *cancel ? 1 : 0;
}

/* The text of the first <tag>...</tag> in xml, or "" (out holds outlen bytes). */
static char *
xml_text(const char *xml, const char *tag, char *out, size_t outlen)
{
	char open[64], close[64];
	const char *a, *z;

	snprintf(open, sizeof open, "<%s>", tag);
	snprintf(close, sizeof close, "</%s>", tag);
	out[0] = '\0';
	if ((a = strstr(xml, open)) == NULL)
		return out;
	a += strlen(open);
	if ((z = strstr(a, close)) == NULL)
		return out;
	snprintf(out, outlen, "%.*s", (int)(z - a), a);
	return out;
}

static void
sha256_hex(const void *data, size_t len, char *hex)
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, data, len);
	for (size_t i = 0; i < sizeof h; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
}

/* One attempt: TSK_OK for a 2xx answer that is not an <Error>, else a status with err filled. */
static int
attempt(struct tsk_s3_upload *u, const char *method, const char *query, const void *data, size_t len,
    const char *content_type, struct resp *r, char *err, size_t errlen)
{
	char url[4096], hash[2 * crypto_hash_sha256_BYTES + 1], h[256], code[128], msg[256];
	struct curl_slist *hdrs = NULL;
	struct body b = { data, len };
	CURLcode cc;
	int rc;

	memset(r, 0, sizeof *r);
	snprintf(url, sizeof url, "%s%s%s", u->base, query != NULL ? "?" : "", query != NULL ? query : "");
	sha256_hex(data != NULL ? data : "", len, hash);
	snprintf(h, sizeof h, "x-amz-content-sha256: %s", hash);
	hdrs = curl_slist_append(hdrs, h);
	if (content_type != NULL) {
		snprintf(h, sizeof h, "Content-Type: %s", content_type);
		hdrs = curl_slist_append(hdrs, h);
	}
	if (u->token != NULL) {
		char *t = malloc(strlen(u->token) + 32);
		if (t != NULL) {
			sprintf(t, "x-amz-security-token: %s", u->token);
			hdrs = curl_slist_append(hdrs, t);
			free(t);
		}
	}
	/* No "Expect:" header to skip the 100-continue round trip: libcurl 7.88 would sign the empty header it
	 * then leaves out of the request, and every signature would be refused. */
	if (hdrs == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");

	curl_easy_reset(u->curl);
	curl_easy_setopt(u->curl, CURLOPT_URL, url);
	curl_easy_setopt(u->curl, CURLOPT_PATH_AS_IS, 1L); /* the path signed is the path sent */
	curl_easy_setopt(u->curl, CURLOPT_AWS_SIGV4, u->sigv4);
	curl_easy_setopt(u->curl, CURLOPT_USERNAME, u->access_key);
	curl_easy_setopt(u->curl, CURLOPT_PASSWORD, u->secret_key);
	curl_easy_setopt(u->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(u->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(u->curl, CURLOPT_CONNECTTIMEOUT, 15L);
	/* A store that stops answering for a minute is treated as down, not waited for forever. */
	curl_easy_setopt(u->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(u->curl, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(u->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(u->curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(u->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(u->curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(u->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(u->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(u->curl, CURLOPT_XFERINFODATA, (void *)u->cancel);
	if (strcmp(method, "PUT") == 0) {
		curl_easy_setopt(u->curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(u->curl, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(u->curl, CURLOPT_READDATA, &b);
		curl_easy_setopt(u->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(u->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(u->curl, CURLOPT_POSTFIELDS, data != NULL ? data : "");
		curl_easy_setopt(u->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else {
		curl_easy_setopt(u->curl, CURLOPT_CUSTOMREQUEST, method);
	}
	cc = curl_easy_perform(u->curl);
	curl_slist_free_all(hdrs);
	if (cc == CURLE_ABORTED_BY_CALLBACK)
		return tsk_seterr(err, errlen, TSK_EFAIL, "%s %s: interrupted", method, u->base);
	if (cc != CURLE_OK) {
		rc = cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT || cc == CURLE_SSL_CACERT_BADFILE ||
		    cc == CURLE_PEER_FAILED_VERIFICATION ? TSK_EFAIL : TSK_ETEMP;
		return tsk_seterr(err, errlen, rc, "%s %s: %s", method, u->base, curl_easy_strerror(cc));
	}
	curl_easy_getinfo(u->curl, CURLINFO_RESPONSE_CODE, &r->status);
	/* CompleteMultipartUpload can fail after its 200 header: the body is then an <Error>. */
	if (r->status >= 200 && r->status < 300 && strstr(r->body, "<Error>") == NULL)
		return TSK_OK;
	xml_text(r->body, "Code", code, sizeof code);
	xml_text(r->body, "Message", msg, sizeof msg);
	rc = r->status >= 500 || r->status == 408 || r->status == 429 || strcmp(code, "SlowDown") == 0 ||
	    strcmp(code, "InternalError") == 0 || strcmp(code, "RequestTimeout") == 0 ? TSK_ETEMP : TSK_EFAIL;
	if (*code == '\0')
		snprintf(code, sizeof code, "HTTP %ld", r->status);
	return tsk_seterr(err, errlen, rc, "%s s3://%s/%s: %s%s%s", method, u->bucket, u->key, code, *msg ? ": " : "",
	    msg);
}

/* A request with retries for what may be temporary (the body is in memory, so it can be sent again). */
static int
request(struct tsk_s3_upload *u, const char *method, const char *query, const void *data, size_t len,
    const char *content_type, struct resp *r, char *err, size_t errlen)
{
	static const long backoff_ms[] = { 250, 1000, 3000 };
	int rc = TSK_EFAIL;

	for (int i = 0; i < ATTEMPTS; i++) {
		rc = attempt(u, method, query, data, len, content_type, r, err, errlen);
		if (rc != TSK_ETEMP || i + 1 == ATTEMPTS || (u->cancel != NULL && *u->cancel))
			break;
		struct timespec ts = { backoff_ms[i] / 1000, backoff_ms[i] % 1000 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return rc;
}

static char *
encode_value(const char *s)
{
	char *out = malloc(3 * strlen(s) + 1), *p = out;

	if (out == NULL)
		return NULL;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (unreserved(*c)) {
			*p++ = (char)*c;
		} else {
			*p++ = '%';
			*p++ = hexdig[*c >> 4];
			*p++ = hexdig[*c & 15];
		}
	}
	*p = '\0';
	return out;
}

/* libcurl 7.88 signs the query string as given, so every query here is already canonical: keys in
 * order, values encoded, and '=' present even when the value is empty ("uploads="). */
static int
start_multipart(struct tsk_s3_upload *u, char *err, size_t errlen)
{
	struct resp *r = malloc(sizeof *r);
	char id[1024];
	int rc;

	if (r == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	rc = request(u, "POST", "uploads=", NULL, 0, "text/csv", r, err, errlen);
	if (rc == TSK_OK) {
		xml_text(r->body, "UploadId", id, sizeof id);
		if (*id == '\0')
			rc = tsk_seterr(err, errlen, TSK_EFAIL, "CreateMultipartUpload s3://%s/%s: no UploadId in the answer",
			    u->bucket, u->key);
		else if ((u->upload_id = strdup(id)) == NULL)
			rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	}
	free(r);
	return rc;
}

static int
send_part(struct tsk_s3_upload *u, char *err, size_t errlen)
{
	struct resp *r = NULL;
	char *id = NULL, *query = NULL;
	int rc;

	if (u->parts == TSK_S3_MAX_PARTS)
		return tsk_seterr(err, errlen, TSK_EFAIL, "s3://%s/%s: more than %d parts", u->bucket, u->key,
		    TSK_S3_MAX_PARTS);
	if (u->upload_id == NULL && (rc = start_multipart(u, err, errlen)) != TSK_OK)
		return rc;
	r = malloc(sizeof *r);
	id = encode_value(u->upload_id);
	query = id != NULL ? malloc(strlen(id) + 48) : NULL;
	if (r == NULL || query == NULL) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}
	sprintf(query, "partNumber=%d&uploadId=%s", u->parts + 1, id);
	rc = request(u, "PUT", query, u->part.p, u->part.len, NULL, r, err, errlen);
	if (rc != TSK_OK)
		goto out;
	if (*r->etag == '\0') {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "UploadPart s3://%s/%s: no ETag in the answer", u->bucket, u->key);
		goto out;
	}
	if (u->parts % 64 == 0) {
		void *e = realloc(u->etags, (size_t)(u->parts + 64) * sizeof *u->etags);
		if (e == NULL) {
			rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
			goto out;
		}
		u->etags = e;
	}
	snprintf(u->etags[u->parts++], ETAG_MAX, "%s", r->etag);
	u->sent += u->part.len;
	tsk_buf_reset(&u->part);
	/* Past every thousand parts the part size doubles, so the 10 000-part limit allows terabytes while
	 * an ordinary export keeps the small buffer. When the bigger buffer cannot be had, the parts stay
	 * as they were. */
	if (u->parts % 1000 == 0 && u->part_size < (512u << 20)) {
		if (tsk_buf_reserve(&u->part, u->part_size * 2) == 0)
			u->part_size *= 2;
		else
			tsk_buf_reset(&u->part);
	}
out:
	free(r);
	free(id);
	free(query);
	return rc;
}

static int
complete(struct tsk_s3_upload *u, char *err, size_t errlen)
{
	struct resp *r = NULL;
	char *id = NULL, *query = NULL;
	struct tsk_buf xml = TSK_BUF_INIT;
	int rc;

	r = malloc(sizeof *r);
	id = encode_value(u->upload_id);
	query = id != NULL ? malloc(strlen(id) + 16) : NULL;
	tsk_buf_puts(&xml, "<CompleteMultipartUpload>");
	for (int i = 0; i < u->parts; i++)
		tsk_buf_printf(&xml, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i + 1, u->etags[i]);
	tsk_buf_puts(&xml, "</CompleteMultipartUpload>");
	if (r == NULL || query == NULL || tsk_buf_failed(&xml)) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}
	sprintf(query, "uploadId=%s", id);
	rc = request(u, "POST", query, xml.p, xml.len, "application/xml", r, err, errlen);
out:
	free(r);
	free(id);
	free(query);
	tsk_buf_free(&xml);
	return rc;
}

/* The connection to bucket/key; reserve: with the part buffer (an upload), else without (one request). */
static int
conn_open(const struct tsk_s3_config *c, const char *bucket, const char *key, int reserve, struct tsk_s3_upload **out,
    char *err, size_t errlen)
{
	struct tsk_s3_upload *u;
	char endpoint[512];
	const char *region = c->region != NULL && *c->region ? c->region : "us-east-1";
	char *ekey = NULL;
	int rc = TSK_OK;

	*out = NULL;
	if ((rc = tsk_s3_key_check(key, err, errlen)) != TSK_OK)
		return rc;
	if (c->access_key == NULL || *c->access_key == '\0' || c->secret_key == NULL || *c->secret_key == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL,
		    "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or TSK_S3_ACCESS_KEY and TSK_S3_SECRET_KEY)");
	for (const char *p = region; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-')
			return tsk_seterr(err, errlen, TSK_EINVAL, "invalid S3 region \"%s\"", region);
	if (c->endpoint != NULL && *c->endpoint) {
		if (strncmp(c->endpoint, "http://", 7) != 0 && strncmp(c->endpoint, "https://", 8) != 0)
			return tsk_seterr(err, errlen, TSK_EINVAL, "S3 endpoint \"%s\" must start with http:// or https://",
			    c->endpoint);
		snprintf(endpoint, sizeof endpoint, "%s", c->endpoint);
	} else {
		snprintf(endpoint, sizeof endpoint, "https://s3.%s.amazonaws.com", region);
	}
	for (size_t n = strlen(endpoint); n > 0 && endpoint[n - 1] == '/'; n--)
		endpoint[n - 1] = '\0';
	if (sodium_init() < 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "libsodium failed to initialise");
	if ((u = calloc(1, sizeof *u)) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	u->part_size = c->part_size >= TSK_S3_MIN_PART ? c->part_size : TSK_S3_PART_SIZE;
	u->cancel = c->cancel;
	snprintf(u->sigv4, sizeof u->sigv4, "aws:amz:%s:s3", region);
	ekey = tsk_s3_encode_key(key);
	u->bucket = strdup(bucket);
	u->key = strdup(key);
	u->access_key = strdup(c->access_key);
	u->secret_key = strdup(c->secret_key);
	u->token = c->session_token != NULL && *c->session_token ? strdup(c->session_token) : NULL;
	if (reserve)
		tsk_buf_reserve(&u->part, u->part_size);
	u->base = ekey != NULL ? malloc(strlen(endpoint) + strlen(bucket) + strlen(ekey) + 3) : NULL;
	u->curl = curl_easy_init();
	if (ekey == NULL || u->bucket == NULL || u->key == NULL || u->access_key == NULL || u->secret_key == NULL ||
	    tsk_buf_failed(&u->part) || u->base == NULL || u->curl == NULL) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}
	sprintf(u->base, "%s/%s/%s", endpoint, bucket, ekey);
out:
	free(ekey);
	if (rc != TSK_OK)
		tsk_s3_upload_free(u);
	else
		*out = u;
	return rc;
}

int
tsk_s3_upload_open(const struct tsk_s3_config *c, const char *bucket, const char *key, struct tsk_s3_upload **out,
    char *err, size_t errlen)
{
	return conn_open(c, bucket, key, 1, out, err, errlen);
}

int
tsk_s3_put(const struct tsk_s3_config *c, const char *bucket, const char *key, const void *data, size_t len,
    const char *content_type, char *err, size_t errlen)
{
	struct tsk_s3_upload *u;
	struct resp *r;
	int rc;

	if ((rc = conn_open(c, bucket, key, 0, &u, err, errlen)) != TSK_OK)
		return rc;
	if ((r = malloc(sizeof *r)) == NULL)
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	else
		rc = request(u, "PUT", NULL, data, len, content_type, r, err, errlen);
	free(r);
	tsk_s3_upload_free(u);
	return rc;
}

int
tsk_s3_delete(const struct tsk_s3_config *c, const char *bucket, const char *key, char *err, size_t errlen)
{
	struct tsk_s3_upload *u;
	struct resp *r;
	int rc;

	if ((rc = conn_open(c, bucket, key, 0, &u, err, errlen)) != TSK_OK)
		return rc;
	if ((r = malloc(sizeof *r)) == NULL)
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	else
		rc = request(u, "DELETE", NULL, NULL, 0, NULL, r, err, errlen);
	/* S3 answers 204 whether or not the object existed; some stores answer 404 for a missing one. */
	if (rc == TSK_EFAIL && r != NULL && r->status == 404)
		rc = TSK_OK;
	free(r);
	tsk_s3_upload_free(u);
	return rc;
}

int
tsk_s3_upload_write(struct tsk_s3_upload *u, const void *data, size_t len, char *err, size_t errlen)
{
	const char *p = data;

	while (len > 0) {
		size_t room = u->part_size - u->part.len, n = room < len ? room : len;
		if (tsk_buf_add(&u->part, p, n) != 0)
			return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		p += n;
		len -= n;
		if (u->part.len == u->part_size) {
			int rc = send_part(u, err, errlen);
			if (rc != TSK_OK)
				return rc;
		}
	}
	return TSK_OK;
}

int
tsk_s3_upload_finish(struct tsk_s3_upload *u, char *err, size_t errlen)
{
	struct resp *r;
	int rc;

	if (u->upload_id == NULL) {
		if ((r = malloc(sizeof *r)) == NULL)
			return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		rc = request(u, "PUT", NULL, u->part.p, u->part.len, "text/csv", r, err, errlen);
		free(r);
		if (rc == TSK_OK) {
			u->sent += u->part.len;
			tsk_buf_reset(&u->part);
			u->done = 1;
		}
		return rc;
	}
	if (u->part.len > 0 && (rc = send_part(u, err, errlen)) != TSK_OK)
		return rc;
	if ((rc = complete(u, err, errlen)) == TSK_OK)
		u->done = 1;
	return rc;
}

int
tsk_s3_upload_abort(struct tsk_s3_upload *u, char *err, size_t errlen)
{
	struct resp *r = NULL;
	char *id = NULL, *query = NULL;
	int rc;

	if (u == NULL || u->done || u->upload_id == NULL)
		return TSK_OK;
	r = malloc(sizeof *r);
	id = encode_value(u->upload_id);
	query = id != NULL ? malloc(strlen(id) + 16) : NULL;
	if (r == NULL || query == NULL) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}
	sprintf(query, "uploadId=%s", id);
	/* Abort even after a signal: clear the cancel hook for this one request. */
	u->cancel = NULL;
	rc = request(u, "DELETE", query, NULL, 0, NULL, r, err, errlen);
	if (rc != TSK_OK) {
		char why[TSK_ERRLEN];
		snprintf(why, sizeof why, "%s", err);
		tsk_seterr(err, errlen, rc, "could not abort multipart upload %s (its parts stay on the store until a "
		    "lifecycle rule removes them): %s", u->upload_id, why);
	}
out:
	free(r);
	free(id);
	free(query);
	return rc;
}

void
tsk_s3_upload_free(struct tsk_s3_upload *u)
{
	if (u == NULL)
		return;
	if (u->curl != NULL)
		curl_easy_cleanup(u->curl);
	if (u->secret_key != NULL)
		sodium_memzero(u->secret_key, strlen(u->secret_key));
	free(u->base);
	free(u->bucket);
	free(u->key);
	free(u->access_key);
	free(u->secret_key);
	free(u->token);
	tsk_buf_free(&u->part);
	free(u->upload_id);
	free(u->etags);
	free(u);
}

uint64_t
tsk_s3_upload_bytes(const struct tsk_s3_upload *u)
{
	return u->sent;
}

int
tsk_s3_upload_parts(const struct tsk_s3_upload *u)
{
	return u->parts;
}

int
tsk_s3_config_load(const struct tsk_conf *conf, const char *endpoint, const volatile sig_atomic_t *cancel,
    struct tsk_s3_config *c, char *err, size_t errlen)
{
	const char *ak = getenv("TSK_S3_ACCESS_KEY"), *sk = getenv("TSK_S3_SECRET_KEY");

	memset(c, 0, sizeof *c);
	/* Keys come as a pair from one place: TSK_S3_*, else AWS_*, else the configuration file. */
	if (ak == NULL || *ak == '\0' || sk == NULL || *sk == '\0') {
		ak = getenv("AWS_ACCESS_KEY_ID");
		sk = getenv("AWS_SECRET_ACCESS_KEY");
		c->session_token = getenv("AWS_SESSION_TOKEN");
	}
	if (ak == NULL || *ak == '\0' || sk == NULL || *sk == '\0') {
		ak = tsk_conf_get(conf, "s3_access_key");
		sk = tsk_conf_get(conf, "s3_secret_key");
		c->session_token = NULL;
	}
	c->access_key = ak;
	c->secret_key = sk;
	c->endpoint = endpoint != NULL ? endpoint : tsk_conf_get(conf, "s3_endpoint");
	c->region = tsk_conf_get(conf, "s3_region");
	if (c->region == NULL && (c->region = getenv("AWS_REGION")) == NULL)
		c->region = getenv("AWS_DEFAULT_REGION");
	const char *ps = tsk_conf_get(conf, "s3_part_size");
	if (ps != NULL) {
		char *end;
		unsigned long long mib = strtoull(ps, &end, 10);
		if (end == ps || *end != '\0' || mib < 5 || mib > 5120)
			return tsk_seterr(err, errlen, TSK_EINVAL, "s3_part_size is in MiB, 5 to 5120: \"%s\"", ps);
		c->part_size = (size_t)mib << 20;
	}
	c->cancel = cancel;
	return TSK_OK;
}

/* ---- presigned GET (SigV4 query signing) --------------------------------------------------------- */

static void
hmac256(const unsigned char *key, size_t keylen, const char *msg, unsigned char out[32])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, strlen(msg));
	crypto_auth_hmacsha256_final(&st, out);
}

int
tsk_s3_presign_get(const struct tsk_s3_config *c, const char *bucket, const char *key, int64_t now_s,
    long expires_s, char **url, char *err, size_t errlen)
{
	const char *region = c->region != NULL && *c->region ? c->region : "us-east-1";
	char endpoint[512], host[512], date[9], amzdate[17], scope[128], cred[1024], hash[65], sig[65];
	char *ecred = NULL, *etoken = NULL;
	unsigned char k[32], k2[32];
	struct tsk_buf q = TSK_BUF_INIT, canon = TSK_BUF_INIT, sts = TSK_BUF_INIT, out = TSK_BUF_INIT;
	char *ekey = NULL, *secret = NULL;
	const char *h;
	struct tm tm;
	time_t t = (time_t)now_s;
	int rc = TSK_OK;

	*url = NULL;
	if ((rc = tsk_s3_key_check(key, err, errlen)) != TSK_OK)
		return rc;
	if (c->access_key == NULL || *c->access_key == '\0' || c->secret_key == NULL || *c->secret_key == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "no S3 credentials");
	if (expires_s < 1 || expires_s > 604800)
		return tsk_seterr(err, errlen, TSK_EINVAL, "a presigned URL lives 1 s to 7 days, not %ld s", expires_s);
	if (strlen(c->access_key) > 256 || (c->session_token != NULL && strlen(c->session_token) > 2048))
		return tsk_seterr(err, errlen, TSK_EINVAL, "S3 credentials too long");
	if (c->endpoint != NULL && *c->endpoint)
		snprintf(endpoint, sizeof endpoint, "%s", c->endpoint);
	else
		snprintf(endpoint, sizeof endpoint, "https://s3.%s.amazonaws.com", region);
	for (size_t n = strlen(endpoint); n > 0 && endpoint[n - 1] == '/'; n--)
		endpoint[n - 1] = '\0';
	if ((h = strstr(endpoint, "://")) == NULL || strchr(h + 3, '/') != NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "S3 endpoint \"%s\": want scheme://host[:port]", endpoint);
	snprintf(host, sizeof host, "%s", h + 3);
	if (sodium_init() < 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "libsodium failed to initialise");
	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%Y%m%d", &tm);
	strftime(amzdate, sizeof amzdate, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(scope, sizeof scope, "%s/%s/s3/aws4_request", date, region);
	snprintf(cred, sizeof cred, "%s/%s", c->access_key, scope);
	ecred = encode_value(cred);
	ekey = tsk_s3_encode_key(key);
	if (c->session_token != NULL && *c->session_token)
		etoken = encode_value(c->session_token);
	if (ecred == NULL || ekey == NULL || (c->session_token != NULL && *c->session_token && etoken == NULL)) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}
	/* The query in canonical (sorted) order: it is signed as it is sent. */
	tsk_buf_printf(&q, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%s&X-Amz-Date=%s&X-Amz-Expires=%ld",
	    ecred, amzdate, expires_s);
	if (etoken != NULL)
		tsk_buf_printf(&q, "&X-Amz-Security-Token=%s", etoken);
	tsk_buf_puts(&q, "&X-Amz-SignedHeaders=host");
	tsk_buf_printf(&canon, "GET\n/%s/%s\n%s\nhost:%s\n\nhost\nUNSIGNED-PAYLOAD", bucket, ekey,
	    tsk_buf_cstr(&q) != NULL ? tsk_buf_cstr(&q) : "", host);
	if (tsk_buf_failed(&canon) || tsk_buf_failed(&q)) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}
	sha256_hex(canon.p, canon.len, hash);
	tsk_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amzdate, scope, hash);
	if ((secret = malloc(strlen(c->secret_key) + 5)) == NULL || tsk_buf_cstr(&sts) == NULL) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		goto out;
	}
	sprintf(secret, "AWS4%s", c->secret_key);
	hmac256((const unsigned char *)secret, strlen(secret), date, k);
	hmac256(k, sizeof k, region, k2);
	hmac256(k2, sizeof k2, "s3", k);
	hmac256(k, sizeof k, "aws4_request", k2);
	hmac256(k2, sizeof k2, tsk_buf_cstr(&sts), k);
	for (size_t i = 0; i < sizeof k; i++)
		snprintf(sig + 2 * i, 3, "%02x", k[i]);
	tsk_buf_printf(&out, "%s/%s/%s?%s&X-Amz-Signature=%s", endpoint, bucket, ekey, tsk_buf_cstr(&q), sig);
	if ((*url = tsk_buf_take(&out)) == NULL)
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
out:
	if (secret != NULL) {
		sodium_memzero(secret, strlen(secret));
		free(secret);
	}
	sodium_memzero(k, sizeof k);
	sodium_memzero(k2, sizeof k2);
	free(ekey);
	free(ecred);
	free(etoken);
	tsk_buf_free(&q);
	tsk_buf_free(&canon);
	tsk_buf_free(&sts);
	tsk_buf_free(&out);
	return rc;
}
