#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
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
tsk_auth_hash_password(const char *password, char *out, char *err, size_t errlen)
{
	int rc;

	if ((rc = tsk_auth_init(err, errlen)) != TSK_OK)
		return rc;
	if (strlen(password) < TSK_PASSWORD_MIN)
		return tsk_seterr(err, errlen, TSK_EINVAL, "password shorter than %d characters", TSK_PASSWORD_MIN);
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

static int
read_line(FILE *f, char *out, size_t outlen)
{
	if (fgets(out, (int)outlen, f) == NULL)
		return -1;
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

static int
read_tty(const char *prompt, char *out, size_t outlen)
{
	struct termios old, noecho;
	int rc;

	fprintf(stderr, "%s", prompt);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) != 0)
		return -1;
	noecho = old;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
	rc = read_line(stdin, out, outlen);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return rc;
}

int
tsk_auth_read_password(const char *prompt, int confirm, char *out, size_t outlen, char *err, size_t errlen)
{
	char again[256];

	if (!isatty(STDIN_FILENO)) {
		if (read_line(stdin, out, outlen) != 0)
			return tsk_seterr(err, errlen, TSK_EINVAL, "no password on standard input");
		return TSK_OK;
	}
	if (read_tty(prompt, out, outlen) != 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "no password read");
	if (confirm) {
		if (read_tty("Again: ", again, sizeof again) != 0 || strcmp(out, again) != 0) {
			sodium_memzero(again, sizeof again);
			return tsk_seterr(err, errlen, TSK_EINVAL, "the passwords do not match");
		}
		sodium_memzero(again, sizeof again);
	}
	return TSK_OK;
}
