/*
 * HS256 tokens: what tsk_jwt_issue makes, and every hostile token tsk_jwt_verify must refuse: other
 * algorithms (none, HS512, lower case, missing), bad base64url, bad JSON, tampering, another key,
 * another type, another tenant, expired and future tokens, claims of the wrong type, short secrets.
 * Hostile tokens are built here by hand (header and payload text, signed or not with the real key).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "tap.h"
#include "core/tsk.h"
#include "registry/jwt.h"

static const char *secret = "0123456789abcdef0123456789abcdef-test-key";
static const char *other = "fedcba9876543210fedcba9876543210-other-key";
static const int64_t now = 1760000000; /* 2025-10-09 */

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

static void
b64(char *out, size_t outlen, const char *s, size_t n)
{
	sodium_bin2base64(out, outlen, (const unsigned char *)s, n, B64);
}

/* header.payload.signature from texts; sign: 1 HMAC-SHA-256 under key, 0 an empty signature. */
static char *
craft(const char *key, const char *header, const char *payload, int sign)
{
	static char tok[4096];
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	size_t n;

	b64(tok, sizeof tok, header, strlen(header));
	n = strlen(tok);
	tok[n++] = '.';
	b64(tok + n, sizeof tok - n, payload, strlen(payload));
	n = strlen(tok);
	if (sign) {
		crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
		crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok, n);
		crypto_auth_hmacsha256_final(&st, mac);
		tok[n++] = '.';
		sodium_bin2base64(tok + n, sizeof tok - n, mac, sizeof mac, B64);
	} else {
		tok[n++] = '.';
		tok[n] = '\0';
	}
	return tok;
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define CLAIMS(extra) \
	"{\"token_type\":\"access\",\"sub\":\"42\",\"tenant\":\"umc\",\"pgen\":3," \
	"\"jti\":\"0123456789abcdef0123456789abcdef\",\"iat\":1760000000,\"exp\":1760003600" extra "}"

static int
verify(const char *tok, const char *tenant, char *err, size_t errlen)
{
	return tsk_jwt_verify(secret, tok, TSK_JWT_ACCESS, tenant, now + 10, NULL, err, errlen);
}

/* A crafted token is refused, with `why` in the message. */
static void
refused(const char *tok, const char *why, const char *what)
{
	char err[TSK_ERRLEN] = "";
	int rc = verify(tok, "umc", err, sizeof err);

	ok(rc == TSK_EINVAL && strstr(err, why) != NULL, "%s: refused (%s)", what, err);
}

int
main(void)
{
	char tok[TSK_JWT_MAX + 1], tok2[TSK_JWT_MAX + 1], buf[TSK_JWT_MAX + 2], err[TSK_ERRLEN];
	struct tsk_jwt_claims c, v;
	int rc;

	if (sodium_init() < 0)
		return 1;

	/* Secrets */
	ok(tsk_jwt_secret_check("0123456789abcdef0123456789abcde", err, sizeof err) == TSK_EINVAL,
	    "a 31-byte secret is refused: %s", err);
	ok(tsk_jwt_secret_check("0123456789abcdef0123456789abcdef", err, sizeof err) == TSK_OK, "32 bytes will do");
	ok(tsk_jwt_secret_check(NULL, err, sizeof err) == TSK_EINVAL, "no secret is refused: %s", err);
	rc = tsk_jwt_issue("short", TSK_JWT_ACCESS, 1, "umc", 1, now, 60, tok, sizeof tok, NULL, err, sizeof err);
	ok(rc == TSK_EINVAL, "issuing under a short secret is refused: %s", err);
	strcpy(tok, craft("short", HS256, CLAIMS(""), 1));
	ok(tsk_jwt_verify("short", tok, TSK_JWT_ACCESS, "umc", now, NULL, err, sizeof err) == TSK_EINVAL,
	    "verifying under a short secret is refused: %s", err);

	/* Round trip */
	rc = tsk_jwt_issue(secret, TSK_JWT_ACCESS, 42, "umc", 3, now, TSK_JWT_ACCESS_TTL, tok, sizeof tok, &c, err,
	    sizeof err);
	ok(rc == TSK_OK, "issue an access token: %s", rc == TSK_OK ? tok : err);
	b64(buf, sizeof buf, HS256, strlen(HS256));
	ok(strncmp(tok, buf, strlen(buf)) == 0 && tok[strlen(buf)] == '.', "the header is exactly " HS256);
	rc = tsk_jwt_verify(secret, tok, TSK_JWT_ACCESS, "umc", now, &v, err, sizeof err);
	ok(rc == TSK_OK, "it verifies: %s", rc == TSK_OK ? "ok" : err);
	ok(v.type == TSK_JWT_ACCESS && v.sub == 42 && strcmp(v.tenant, "umc") == 0 && v.pgen == 3 &&
	    v.iat == now && v.exp == now + 3600 && strcmp(v.jti, c.jti) == 0 && strlen(v.jti) == 32,
	    "claims read back: sub 42, tenant umc, pgen 3, iat, exp, jti %s", v.jti);
	tsk_jwt_issue(secret, TSK_JWT_ACCESS, 42, "umc", 3, now, TSK_JWT_ACCESS_TTL, tok2, sizeof tok2, &v, err,
	    sizeof err);
	ok(strcmp(v.jti, c.jti) != 0 && strcmp(tok, tok2) != 0, "each token has its own jti");

	/* Type */
	ok(tsk_jwt_verify(secret, tok, TSK_JWT_REFRESH, "umc", now, NULL, err, sizeof err) == TSK_EINVAL,
	    "an access token is not a refresh token: %s", err);
	rc = tsk_jwt_issue(secret, TSK_JWT_REFRESH, 42, "umc", 3, now, TSK_JWT_REFRESH_TTL, tok2, sizeof tok2, NULL,
	    err, sizeof err);
	ok(rc == TSK_OK && tsk_jwt_verify(secret, tok2, TSK_JWT_REFRESH, "umc", now + 86400, NULL, err, sizeof err)
	    == TSK_OK, "a refresh token verifies as one, a day later");
	ok(tsk_jwt_verify(secret, tok2, TSK_JWT_ACCESS, "umc", now, NULL, err, sizeof err) == TSK_EINVAL,
	    "a refresh token is not an access token: %s", err);

	/* Tenant binding */
	ok(tsk_jwt_verify(secret, tok, TSK_JWT_ACCESS, "other", now, NULL, err, sizeof err) == TSK_EINVAL &&
	    strstr(err, "another tenant") != NULL, "tenant umc's token is refused on tenant other: %s", err);
	ok(tsk_jwt_verify(secret, tok, TSK_JWT_ACCESS, NULL, now, NULL, err, sizeof err) == TSK_EINVAL,
	    "and on the public site: %s", err);
	ok(tsk_jwt_verify(secret, tok, TSK_JWT_ACCESS, "umc2", now, NULL, err, sizeof err) == TSK_EINVAL,
	    "and on a tenant whose slug starts the same: %s", err);
	tsk_jwt_issue(secret, TSK_JWT_ACCESS, 7, NULL, 1, now, 60, tok2, sizeof tok2, NULL, err, sizeof err);
	ok(tsk_jwt_verify(secret, tok2, TSK_JWT_ACCESS, "", now, &v, err, sizeof err) == TSK_OK && v.tenant[0] == '\0',
	    "a public-site token verifies on the public site");
	ok(tsk_jwt_verify(secret, tok2, TSK_JWT_ACCESS, "umc", now, NULL, err, sizeof err) == TSK_EINVAL,
	    "a public-site token is refused on a tenant: %s", err);

	/* Time */
	ok(tsk_jwt_verify(secret, tok, TSK_JWT_ACCESS, "umc", now + 3599, NULL, err, sizeof err) == TSK_OK,
	    "valid one second before exp");
	ok(tsk_jwt_verify(secret, tok, TSK_JWT_ACCESS, "umc", now + 3600, NULL, err, sizeof err) == TSK_EINVAL &&
	    strstr(err, "expired") != NULL, "expired at exp: %s", err);
	ok(tsk_jwt_verify(secret, tok, TSK_JWT_ACCESS, "umc", now - TSK_JWT_LEEWAY, NULL, err, sizeof err) == TSK_OK,
	    "a clock %d s behind is within the leeway", TSK_JWT_LEEWAY);
	ok(tsk_jwt_verify(secret, tok, TSK_JWT_ACCESS, "umc", now - TSK_JWT_LEEWAY - 1, NULL, err, sizeof err)
	    == TSK_EINVAL && strstr(err, "not valid yet") != NULL, "issued in the future beyond the leeway: %s", err);
	c.nbf = now + 600;
	c.exp = now + 3600;
	ok(tsk_jwt_sign(secret, &c, tok2, sizeof tok2, err, sizeof err) == TSK_OK &&
	    tsk_jwt_verify(secret, tok2, TSK_JWT_ACCESS, "umc", now, NULL, err, sizeof err) == TSK_EINVAL &&
	    strstr(err, "not valid yet") != NULL, "nbf in the future: %s", err);
	ok(tsk_jwt_verify(secret, tok2, TSK_JWT_ACCESS, "umc", now + 600, NULL, err, sizeof err) == TSK_OK,
	    "and valid from nbf");
	ok(tsk_jwt_issue(secret, TSK_JWT_ACCESS, 1, "umc", 1, now, 0, tok2, sizeof tok2, NULL, err, sizeof err)
	    == TSK_EINVAL, "a lifetime of 0 is refused");
	v = c;
	v.jti[0] = '\0';
	ok(tsk_jwt_sign(secret, &v, tok2, sizeof tok2, err, sizeof err) == TSK_EINVAL, "signing without a jti is refused");
	v = c;
	v.sub = 0;
	ok(tsk_jwt_sign(secret, &v, tok2, sizeof tok2, err, sizeof err) == TSK_EINVAL, "signing for user 0 is refused");
	ok(tsk_jwt_sign(secret, &c, tok2, 40, err, sizeof err) == TSK_EINVAL, "a buffer too small is refused: %s", err);

	/* Keys and tampering */
	ok(tsk_jwt_verify(other, tok, TSK_JWT_ACCESS, "umc", now, NULL, err, sizeof err) == TSK_EINVAL &&
	    strstr(err, "bad signature") != NULL, "another key: %s", err);
	strcpy(tok2, craft(secret, HS256, CLAIMS(""), 1));
	ok(verify(tok2, "umc", err, sizeof err) == TSK_OK, "a hand-made token with the real key verifies: %s",
	    err);
	{
		/* The payload re-encoded with another tenant, the old signature kept. */
		char forged[TSK_JWT_MAX + 1], pay[512];
		const char *sig = strrchr(tok2, '.');
		const char *claims = "{\"token_type\":\"access\",\"sub\":\"42\",\"tenant\":\"evil\",\"pgen\":3,"
		                     "\"jti\":\"0123456789abcdef0123456789abcdef\",\"iat\":1760000000,\"exp\":1760003600}";
		b64(forged, sizeof forged, HS256, strlen(HS256));
		strcat(forged, ".");
		b64(pay, sizeof pay, claims, strlen(claims));
		strcat(forged, pay);
		strcat(forged, sig);
		ok(tsk_jwt_verify(secret, forged, TSK_JWT_ACCESS, "evil", now, NULL, err, sizeof err) == TSK_EINVAL &&
		    strstr(err, "bad signature") != NULL, "a payload changed under the old signature: %s", err);
	}
	strcpy(buf, tok2);
	{
		char *sig = strrchr(buf, '.') + 1;
		sig[5] = sig[5] == 'A' ? 'B' : 'A';
		refused(buf, "signature", "one signature character changed");
	}
	strcpy(buf, tok2);
	buf[strlen(buf) - 1] = '\0';
	refused(buf, "signature", "a signature one character short");
	strcpy(buf, tok2);
	strcat(buf, "A");
	refused(buf, "signature", "a signature one character long");
	strcpy(buf, tok2);
	strcat(buf, "=");
	refused(buf, "signature", "a padded signature");
	{
		/* 'A'..'P' and 'Q'.. differ only in the last encoded bits: a non-canonical last character. */
		char *last;
		strcpy(buf, tok2);
		last = buf + strlen(buf) - 1;
		*last = *last == 'A' ? 'B' : (char)(*last ^ 1);
		refused(buf, "signature", "a changed last signature character");
	}

	/* Algorithms */
	refused(craft(secret, "{\"alg\":\"none\",\"typ\":\"JWT\"}", CLAIMS(""), 0), "HS256", "alg none, empty signature");
	refused(craft(secret, "{\"alg\":\"none\",\"typ\":\"JWT\"}", CLAIMS(""), 1), "HS256",
	    "alg none with a valid HMAC");
	refused(craft(secret, "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", CLAIMS(""), 1), "HS256", "alg HS512");
	refused(craft(secret, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", CLAIMS(""), 1), "HS256", "alg RS256");
	refused(craft(secret, "{\"alg\":\"hs256\",\"typ\":\"JWT\"}", CLAIMS(""), 1), "HS256", "alg hs256");
	refused(craft(secret, "{\"typ\":\"JWT\"}", CLAIMS(""), 1), "HS256", "no alg");
	refused(craft(secret, "{\"alg\":null}", CLAIMS(""), 1), "HS256", "alg null");
	refused(craft(secret, "{\"alg\":[\"HS256\"]}", CLAIMS(""), 1), "HS256", "alg as an array");
	refused(craft(secret, "{\"alg\":\"HS256\\u0000x\"}", CLAIMS(""), 1), "JSON", "alg with a NUL (jansson refuses \\u0000)");
	refused(craft(secret, "{\"alg\":\"HS256\",\"alg\":\"none\"}", CLAIMS(""), 1), "header",
	    "a duplicated alg");
	refused(craft(secret, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"../../x\"}", CLAIMS(""), 1), "header",
	    "an extra header member (kid)");
	refused(craft(secret, "{\"alg\":\"HS256\",\"typ\":\"JWS\"}", CLAIMS(""), 1), "header", "typ JWS");
	ok(verify(craft(secret, "{\"alg\":\"HS256\"}", CLAIMS(""), 1), "umc", err, sizeof err) == TSK_OK,
	    "a header without typ verifies");

	/* Encoding and structure */
	refused("", "empty", "an empty token");
	refused("abc", "three parts", "one part");
	refused("a.b", "three parts", "two parts");
	strcpy(buf, tok2);
	strcat(buf, ".x");
	refused(buf, "three parts", "four parts");
	refused("!!!!.e30.AAAA", "base64url", "header not base64url");
	refused(".e30.AAAA", "base64url", "an empty header");
	{
		char h[64];
		b64(h, sizeof h, HS256, strlen(HS256));
		snprintf(buf, sizeof buf, "%s=.e30.AAAA", h);
		refused(buf, "base64url", "a padded header");
		snprintf(buf, sizeof buf, " %s.e30.AAAA", h);
		refused(buf, "base64url", "a space before the header");
	}
	refused(craft(secret, "not json", CLAIMS(""), 1), "JSON", "header not JSON");
	refused(craft(secret, "[\"HS256\"]", CLAIMS(""), 1), "JSON object", "header an array");
	refused(craft(secret, HS256, "not json", 1), "JSON", "payload not JSON");
	refused(craft(secret, HS256, "[1,2]", 1), "JSON object", "payload an array");
	refused(craft(secret, HS256, CLAIMS(",\"tenant\":\"evil\""), 1), "JSON", "a duplicated claim");
	{
		char *p = strchr(tok2, '.') + 1;
		strcpy(buf, tok2);
		buf[p - tok2 + 3] = '*';
		refused(buf, "signature", "a non-base64url payload character (signature checked first)");
	}
	memset(buf, 'A', TSK_JWT_MAX + 1);
	buf[10] = '.';
	buf[20] = '.';
	buf[TSK_JWT_MAX + 1] = '\0';
	refused(buf, "too long", "a token over TSK_JWT_MAX");

	/* Claims */
#define PAY(s) "{" s ",\"jti\":\"0123456789abcdef0123456789abcdef\",\"iat\":1760000000,\"exp\":1760003600}"
	refused(craft(secret, HS256, PAY("\"sub\":\"42\",\"tenant\":\"umc\",\"pgen\":3"), 1), "token_type",
	    "no token_type");
	refused(craft(secret, HS256, PAY("\"token_type\":\"id\",\"sub\":\"42\",\"tenant\":\"umc\",\"pgen\":3"), 1),
	    "token_type", "token_type id");
	refused(craft(secret, HS256, PAY("\"token_type\":\"access\",\"tenant\":\"umc\",\"pgen\":3"), 1), "sub", "no sub");
	refused(craft(secret, HS256, PAY("\"token_type\":\"access\",\"sub\":42,\"tenant\":\"umc\",\"pgen\":3"), 1),
	    "sub", "sub a number");
	refused(craft(secret, HS256, PAY("\"token_type\":\"access\",\"sub\":\"0\",\"tenant\":\"umc\",\"pgen\":3"), 1),
	    "sub", "sub 0");
	refused(craft(secret, HS256, PAY("\"token_type\":\"access\",\"sub\":\"-1\",\"tenant\":\"umc\",\"pgen\":3"), 1),
	    "sub", "sub -1");
	refused(craft(secret, HS256, PAY("\"token_type\":\"access\",\"sub\":\"042\",\"tenant\":\"umc\",\"pgen\":3"), 1),
	    "sub", "sub with a leading zero");
	refused(craft(secret, HS256,
	    PAY("\"token_type\":\"access\",\"sub\":\"99999999999999999999\",\"tenant\":\"umc\",\"pgen\":3"), 1),
	    "sub", "sub out of range");
	refused(craft(secret, HS256, PAY("\"token_type\":\"access\",\"sub\":\"42\",\"tenant\":7,\"pgen\":3"), 1),
	    "tenant", "tenant a number");
	refused(craft(secret, HS256, PAY("\"token_type\":\"access\",\"sub\":\"42\",\"tenant\":\"umc\\u0000x\",\"pgen\":3"),
	    1), "JSON", "tenant with a NUL");
	refused(craft(secret, HS256, PAY("\"token_type\":\"access\",\"sub\":\"42\",\"tenant\":\"umc\""), 1), "pgen",
	    "no pgen");
	refused(craft(secret, HS256, PAY("\"token_type\":\"access\",\"sub\":\"42\",\"tenant\":\"umc\",\"pgen\":\"3\""), 1),
	    "pgen", "pgen a string");
	refused(craft(secret, HS256, PAY("\"token_type\":\"access\",\"sub\":\"42\",\"tenant\":\"umc\",\"pgen\":-1"), 1),
	    "pgen", "pgen negative");
	refused(craft(secret, HS256, "{\"token_type\":\"access\",\"sub\":\"42\",\"tenant\":\"umc\",\"pgen\":3,"
	    "\"jti\":\"0123456789abcdef0123456789abcdef\",\"iat\":1760000000}", 1), "exp", "no exp");
	refused(craft(secret, HS256, "{\"token_type\":\"access\",\"sub\":\"42\",\"tenant\":\"umc\",\"pgen\":3,"
	    "\"jti\":\"0123456789abcdef0123456789abcdef\",\"iat\":1760000000,\"exp\":1.76e12}", 1), "exp", "exp a real");
	refused(craft(secret, HS256, "{\"token_type\":\"access\",\"sub\":\"42\",\"tenant\":\"umc\",\"pgen\":3,"
	    "\"jti\":\"0123456789abcdef0123456789abcdef\",\"exp\":1760003600}", 1), "iat", "no iat");
	refused(craft(secret, HS256, "{\"token_type\":\"access\",\"sub\":\"42\",\"tenant\":\"umc\",\"pgen\":3,"
	    "\"iat\":1760000000,\"exp\":1760003600}", 1), "jti", "no jti");
	refused(craft(secret, HS256, CLAIMS(",\"nbf\":\"soon\""), 1), "nbf", "nbf a string");
	refused(craft(secret, HS256, "{\"token_type\":\"access\",\"sub\":\"42\",\"tenant\":\"umc\",\"pgen\":3,"
	    "\"jti\":\"0123456789abcdef0123456789abcdef\",\"iat\":1760000000,\"exp\":1760000000}", 1), "expired",
	    "exp equal to iat");

	return done_testing();
}
