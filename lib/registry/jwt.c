#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <sodium.h>

#include "registry/jwt.h"
#include "core/tsk.h"

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define HEADER "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

const char *
tsk_jwt_type_name(enum tsk_jwt_type type)
{
	return type == TSK_JWT_REFRESH ? "refresh" : "access";
}

int
tsk_jwt_secret_check(const char *secret, char *err, size_t errlen)
{
	if (secret == NULL || secret[0] == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "no jwt_secret configured");
	if (strlen(secret) < TSK_JWT_SECRET_MIN)
		return tsk_seterr(err, errlen, TSK_EINVAL, "jwt_secret is shorter than %d bytes", TSK_JWT_SECRET_MIN);
	return TSK_OK;
}

/* HMAC-SHA-256 of msg under the whole secret (any length: HMAC hashes a long key itself). */
static void
mac(const char *secret, const char *msg, size_t len, unsigned char out[crypto_auth_hmacsha256_BYTES])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof st);
}

/* Appends base64url of bin to out at *pos; 0, or -1 when it does not fit. */
static int
put_b64(char *out, size_t outlen, size_t *pos, const void *bin, size_t len)
{
	size_t need = sodium_base64_ENCODED_LEN(len, B64);

	if (*pos + need > outlen)
		return -1;
	sodium_bin2base64(out + *pos, need, bin, len, B64);
	*pos += need - 1;
	return 0;
}

/* Decodes exactly the n characters at s (all of them, no padding, no spaces). Decoded length, or -1. */
static long
get_b64(const char *s, size_t n, unsigned char *bin, size_t max)
{
	const char *end = NULL;
	size_t len = 0;

	if (n == 0 || sodium_base642bin(bin, max, s, n, NULL, &len, &end, B64) != 0 || end != s + n)
		return -1;
	return (long)len;
}

int
tsk_jwt_sign(const char *secret, const struct tsk_jwt_claims *c, char *out, size_t outlen, char *err,
    size_t errlen)
{
	unsigned char sig[crypto_auth_hmacsha256_BYTES];
	char sub[24];
	json_t *p;
	char *payload;
	size_t pos = 0;
	int rc;

	if ((rc = tsk_jwt_secret_check(secret, err, errlen)) != TSK_OK)
		return rc;
	if (sodium_init() < 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "libsodium failed to initialize");
	if (c->sub <= 0 || c->pgen < 0 || strnlen(c->tenant, sizeof c->tenant) > TSK_SLUG_MAX ||
	    strnlen(c->jti, sizeof c->jti) != TSK_JWT_JTI_LEN || strspn(c->jti, "0123456789abcdef") != TSK_JWT_JTI_LEN)
		return tsk_seterr(err, errlen, TSK_EINVAL, "bad token claims");
	snprintf(sub, sizeof sub, "%lld", (long long)c->sub);
	p = json_pack("{s:s, s:s}", "token_type", tsk_jwt_type_name(c->type), "sub", sub);
	if (p == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	if (c->tenant[0] != '\0')
		json_object_set_new(p, "tenant", json_string(c->tenant));
	json_object_set_new(p, "pgen", json_integer(c->pgen));
	json_object_set_new(p, "jti", json_string(c->jti));
	json_object_set_new(p, "iat", json_integer(c->iat));
	json_object_set_new(p, "exp", json_integer(c->exp));
	if (c->nbf != 0)
		json_object_set_new(p, "nbf", json_integer(c->nbf));
	payload = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(p);
	if (payload == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	rc = put_b64(out, outlen, &pos, HEADER, strlen(HEADER)) != 0 || pos + 1 >= outlen;
	if (rc == 0) {
		out[pos++] = '.';
		rc = put_b64(out, outlen, &pos, payload, strlen(payload));
	}
	free(payload);
	if (rc == 0 && pos + 1 < outlen) {
		mac(secret, out, pos, sig);
		out[pos++] = '.';
		rc = put_b64(out, outlen, &pos, sig, sizeof sig);
	} else {
		rc = -1;
	}
	if (rc != 0 || pos > TSK_JWT_MAX)
		return tsk_seterr(err, errlen, TSK_EINVAL, "token longer than its buffer");
	return TSK_OK;
}

int
tsk_jwt_issue(const char *secret, enum tsk_jwt_type type, int64_t sub, const char *tenant, int64_t pgen,
    int64_t now_s, int64_t ttl_s, char *out, size_t outlen, struct tsk_jwt_claims *claims, char *err,
    size_t errlen)
{
	struct tsk_jwt_claims c;
	unsigned char rnd[TSK_JWT_JTI_LEN / 2];

	if (sodium_init() < 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "libsodium failed to initialize");
	if (tenant != NULL && strlen(tenant) > TSK_SLUG_MAX)
		return tsk_seterr(err, errlen, TSK_EINVAL, "tenant slug too long");
	if (ttl_s <= 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "token lifetime must be positive");
	memset(&c, 0, sizeof c);
	c.type = type;
	c.sub = sub;
	snprintf(c.tenant, sizeof c.tenant, "%s", tenant != NULL ? tenant : "");
	c.pgen = pgen;
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(c.jti, sizeof c.jti, rnd, sizeof rnd);
	c.iat = now_s;
	c.exp = now_s + ttl_s;
	if (claims != NULL)
		*claims = c;
	return tsk_jwt_sign(secret, &c, out, outlen, err, errlen);
}

static int
refuse(char *err, size_t errlen, const char *why)
{
	return tsk_seterr(err, errlen, TSK_EINVAL, "token refused: %s", why);
}

/* An integer claim (JSON integer, not a real or a string). */
static int
int_claim(json_t *p, const char *key, int required, int64_t *out)
{
	json_t *v = json_object_get(p, key);

	if (v == NULL)
		return required ? -1 : 0;
	if (!json_is_integer(v))
		return -1;
	*out = (int64_t)json_integer_value(v);
	return 0;
}

static int
parse_claims(json_t *p, struct tsk_jwt_claims *c, char *err, size_t errlen)
{
	json_t *type = json_object_get(p, "token_type"), *sub = json_object_get(p, "sub");
	json_t *tenant = json_object_get(p, "tenant"), *jti = json_object_get(p, "jti");
	const char *s;
	size_t n;

	memset(c, 0, sizeof *c);
	if (!json_is_string(type))
		return refuse(err, errlen, "no token_type");
	if (strcmp(json_string_value(type), "access") == 0)
		c->type = TSK_JWT_ACCESS;
	else if (strcmp(json_string_value(type), "refresh") == 0)
		c->type = TSK_JWT_REFRESH;
	else
		return refuse(err, errlen, "unknown token_type");
	/* sub: a positive decimal without sign or leading zero, as tsk_jwt_sign writes it. */
	if (!json_is_string(sub))
		return refuse(err, errlen, "no sub");
	s = json_string_value(sub);
	n = strlen(s);
	if (n == 0 || n > 18 || s[0] == '0' || strspn(s, "0123456789") != n)
		return refuse(err, errlen, "bad sub");
	for (size_t i = 0; i < n; i++)
		c->sub = c->sub * 10 + (s[i] - '0');
	if (tenant != NULL) {
		if (!json_is_string(tenant) || json_string_length(tenant) > TSK_SLUG_MAX ||
		    strlen(json_string_value(tenant)) != json_string_length(tenant))
			return refuse(err, errlen, "bad tenant");
		snprintf(c->tenant, sizeof c->tenant, "%s", json_string_value(tenant));
	}
	if (int_claim(p, "pgen", 1, &c->pgen) != 0 || c->pgen < 0)
		return refuse(err, errlen, "bad pgen");
	if (!json_is_string(jti) || json_string_length(jti) != TSK_JWT_JTI_LEN ||
	    strspn(json_string_value(jti), "0123456789abcdef") != TSK_JWT_JTI_LEN)
		return refuse(err, errlen, "bad jti");
	memcpy(c->jti, json_string_value(jti), TSK_JWT_JTI_LEN + 1);
	if (int_claim(p, "iat", 1, &c->iat) != 0 || int_claim(p, "exp", 1, &c->exp) != 0 ||
	    int_claim(p, "nbf", 0, &c->nbf) != 0)
		return refuse(err, errlen, "bad iat, exp or nbf");
	return TSK_OK;
}

int
tsk_jwt_verify(const char *secret, const char *token, enum tsk_jwt_type want, const char *tenant,
    int64_t now_s, struct tsk_jwt_claims *claims, char *err, size_t errlen)
{
	unsigned char buf[TSK_JWT_MAX], want_sig[crypto_auth_hmacsha256_BYTES];
	struct tsk_jwt_claims c;
	const char *d1, *d2;
	json_t *h, *p, *alg, *typ;
	size_t n;
	long len;
	int rc;

	if ((rc = tsk_jwt_secret_check(secret, err, errlen)) != TSK_OK)
		return rc;
	if (sodium_init() < 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "libsodium failed to initialize");
	if (token == NULL || (n = strnlen(token, TSK_JWT_MAX + 1)) == 0)
		return refuse(err, errlen, "empty");
	if (n > TSK_JWT_MAX)
		return refuse(err, errlen, "too long");
	if ((d1 = strchr(token, '.')) == NULL || (d2 = strchr(d1 + 1, '.')) == NULL || strchr(d2 + 1, '.') != NULL)
		return refuse(err, errlen, "not three parts");

	/* The header: JSON naming HS256, nothing else. */
	if ((len = get_b64(token, (size_t)(d1 - token), buf, sizeof buf)) < 0)
		return refuse(err, errlen, "header is not base64url");
	if ((h = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL)) == NULL || !json_is_object(h)) {
		json_decref(h);
		return refuse(err, errlen, "header is not a JSON object");
	}
	alg = json_object_get(h, "alg");
	typ = json_object_get(h, "typ");
	rc = !json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0 ||
	    json_string_length(alg) != 5;
	if (!rc && ((typ != NULL && (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0)) ||
	               json_object_size(h) != (typ != NULL ? 2u : 1u)))
		rc = 2;
	json_decref(h);
	if (rc == 1)
		return refuse(err, errlen, "algorithm is not HS256");
	if (rc == 2)
		return refuse(err, errlen, "unexpected header");

	/* The signature, before anything of the payload is read. */
	if (get_b64(d2 + 1, strlen(d2 + 1), buf, sizeof buf) != (long)sizeof want_sig)
		return refuse(err, errlen, "bad signature encoding");
	mac(secret, token, (size_t)(d2 - token), want_sig);
	if (sodium_memcmp(buf, want_sig, sizeof want_sig) != 0)
		return refuse(err, errlen, "bad signature");

	if ((len = get_b64(d1 + 1, (size_t)(d2 - d1 - 1), buf, sizeof buf)) < 0)
		return refuse(err, errlen, "payload is not base64url");
	if ((p = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL)) == NULL || !json_is_object(p)) {
		json_decref(p);
		return refuse(err, errlen, "payload is not a JSON object");
	}
	rc = parse_claims(p, &c, err, errlen);
	json_decref(p);
	if (rc != TSK_OK)
		return rc;

	if (c.type != want)
		return refuse(err, errlen, want == TSK_JWT_ACCESS ? "not an access token" : "not a refresh token");
	if (strcmp(c.tenant, tenant != NULL ? tenant : "") != 0)
		return refuse(err, errlen, "issued for another tenant");
	if (now_s >= c.exp)
		return refuse(err, errlen, "expired");
	if (c.iat > now_s + TSK_JWT_LEEWAY || (c.nbf != 0 && c.nbf > now_s + TSK_JWT_LEEWAY))
		return refuse(err, errlen, "not valid yet");
	if (c.exp <= c.iat)
		return refuse(err, errlen, "expires before it was issued");
	if (claims != NULL)
		*claims = c;
	return TSK_OK;
}
