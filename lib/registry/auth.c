#include <stdio.h>
#include <string.h>
#include <sodium.h>

#include "registry/auth.h"
#include "core/tsk.h"

int
tsk_auth_init(char *err, size_t errlen)
{
	if (sodium_init() < 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "libsodium failed to initialize");
	return TSK_OK;
}

int
tsk_auth_password_check(const char *password, size_t len, char *err, size_t errlen)
{
	if (memchr(password, '\0', len) != NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "password contains a NUL byte");
	if (len > TSK_PASSWORD_MAX)
		return tsk_seterr(err, errlen, TSK_EINVAL, "password longer than %d bytes", TSK_PASSWORD_MAX);
	if (len < TSK_PASSWORD_MIN)
		return tsk_seterr(err, errlen, TSK_EINVAL, "password shorter than %d characters", TSK_PASSWORD_MIN);
	return TSK_OK;
}

int
tsk_auth_hash_password(const char *password, char *out, char *err, size_t errlen)
{
	int rc;

	if ((rc = tsk_auth_init(err, errlen)) != TSK_OK)
		return rc;
	if ((rc = tsk_auth_password_check(password, strlen(password), err, errlen)) != TSK_OK)
		return rc;
	/* crypto_pwhash_str uses argon2id in libsodium >= 1.0.15; the parameters travel inside the string. */
	if (crypto_pwhash_str_alg(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
	        crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory while hashing the password");
	return TSK_OK;
}

int
tsk_auth_verify_password(const char *hash, const char *password)
{
	if (sodium_init() < 0)
		return TSK_EFAIL;
	if (strlen(password) > TSK_PASSWORD_MAX)
		return TSK_EINVAL;
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0 ? TSK_OK : TSK_EINVAL;
}

int
tsk_auth_equal(const char *a, const char *b)
{
	size_t n = strlen(a);

	if (n != strlen(b))
		return 0;
	return sodium_memcmp(a, b, n) == 0;
}
