/*
 * Writing one object to an S3-compatible store (AWS S3, MinIO, Ceph RGW, s3rver) with libcurl's
 * CURLOPT_AWS_SIGV4 and path-style URLs (ENDPOINT/BUCKET/KEY), streaming in constant memory:
 * the object is written through a part buffer; an object that fits in one part is sent with one PUT,
 * a larger one as a multipart upload (CreateMultipartUpload, UploadPart per full buffer,
 * CompleteMultipartUpload), which tsk_s3_upload_abort() aborts. Every request carries the SHA-256 of its
 * body in x-amz-content-sha256, so the payload is covered by the signature too.
 *
 * Errors: TSK_EINVAL for a bad URL or missing keys, TSK_ETEMP for what may work later (connection
 * refused or reset, timeouts, HTTP 5xx, SlowDown), TSK_EFAIL otherwise (403 SignatureDoesNotMatch,
 * 404 NoSuchBucket, ...), with the server's error code and message in err.
 */
#ifndef TSK_S3_H
#define TSK_S3_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct tsk_s3_config {
	const char *endpoint;      /* "http://127.0.0.1:9000"; NULL means https://s3.REGION.amazonaws.com */
	const char *region;        /* NULL means us-east-1 */
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* temporary credentials' token, or NULL */
	size_t part_size;          /* 0 means TSK_S3_PART_SIZE; at least TSK_S3_MIN_PART */
	const volatile sig_atomic_t *cancel; /* when non-NULL and set, transfers stop (a signal arrived) */
};

#define TSK_S3_PART_SIZE (8u << 20)
#define TSK_S3_MIN_PART (5u << 20) /* S3's minimum for every part but the last */
#define TSK_S3_MAX_PARTS 10000

/* An object key we write: 1..1024 bytes, no control characters, no "." or ".." path segment (which
 * HTTP clients resolve, writing another object than the one named). TSK_OK or TSK_EINVAL. */
int tsk_s3_key_check(const char *key, char *err, size_t errlen);

struct tsk_conf;
/* The store's settings as every tool reads them: keys as a pair from TSK_S3_ACCESS_KEY and
 * TSK_S3_SECRET_KEY, else AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), else the
 * s3_access_key and s3_secret_key keys; endpoint (when NULL, the s3_endpoint key), s3_region (else
 * AWS_REGION, AWS_DEFAULT_REGION), s3_part_size in MiB. c points into conf and the environment.
 * TSK_OK or TSK_EINVAL. */
int tsk_s3_config_load(const struct tsk_conf *conf, const char *endpoint, const volatile sig_atomic_t *cancel,
    struct tsk_s3_config *c, char *err, size_t errlen);

/* Splits "s3://bucket/key/with/slashes" into bucket and key (new strings the caller frees). */
int tsk_s3_parse_url(const char *url, char **bucket, char **key, char *err, size_t errlen);

struct tsk_s3_upload;

/* Starts writing bucket/key; nothing is sent until a part is full or the upload is finished. */
int tsk_s3_upload_open(const struct tsk_s3_config *c, const char *bucket, const char *key,
    struct tsk_s3_upload **out, char *err, size_t errlen);
int tsk_s3_upload_write(struct tsk_s3_upload *u, const void *buf, size_t len, char *err, size_t errlen);
/* Sends the rest and makes the object visible. */
int tsk_s3_upload_finish(struct tsk_s3_upload *u, char *err, size_t errlen);
/* Abandons an unfinished upload: aborts the multipart upload if one was started (TSK_OK when there was
 * nothing to abort, else the abort's status, for a warning). */
int tsk_s3_upload_abort(struct tsk_s3_upload *u, char *err, size_t errlen);
void tsk_s3_upload_free(struct tsk_s3_upload *u);
/* What was sent so far: bytes and parts (0 parts while everything still fits in the buffer). */
uint64_t tsk_s3_upload_bytes(const struct tsk_s3_upload *u);
int tsk_s3_upload_parts(const struct tsk_s3_upload *u);

/* A URL that lets anyone GET bucket/key for expires_s seconds (1 s .. 7 days) from now_s, signed with the
 * keys of c (SigV4 query signing, path style; the endpoint must be scheme://host[:port]). *url is
 * malloc'd. TSK_OK, TSK_EINVAL (bad key, no credentials) or TSK_EFAIL. */
int tsk_s3_presign_get(const struct tsk_s3_config *c, const char *bucket, const char *key, int64_t now_s,
    long expires_s, char **url, char *err, size_t errlen);
/* One small object in one PUT (its bytes in memory), with its Content-Type (NULL: none). Retried like
 * an upload's requests. */
int tsk_s3_put(const struct tsk_s3_config *c, const char *bucket, const char *key, const void *data, size_t len,
    const char *content_type, char *err, size_t errlen);
/* Deletes one object; an object that is not there is no error. */
int tsk_s3_delete(const struct tsk_s3_config *c, const char *bucket, const char *key, char *err, size_t errlen);

/* RFC 3986 percent-encoding of an object key, '/' kept (S3's canonical URI). A new string, or NULL. */
char *tsk_s3_encode_key(const char *key);

#endif
