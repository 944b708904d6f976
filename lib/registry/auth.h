/* Passwords and secrets: argon2id hashes (libsodium), constant-time comparison, random tokens. */
#ifndef TSK_AUTH_H
#define TSK_AUTH_H

#include <stddef.h>

#define TSK_HASH_LEN 128 /* crypto_pwhash_STRBYTES */
#define TSK_PASSWORD_MIN 8

int tsk_auth_init(char *err, size_t errlen);
/* Checks the password policy (length) then hashes it with argon2id. out holds TSK_HASH_LEN bytes. */
int tsk_auth_hash_password(const char *password, char *out, char *err, size_t errlen);
/* TSK_OK when the password matches the stored hash, TSK_EINVAL when not. */
int tsk_auth_verify_password(const char *hash, const char *password);
/* Constant-time equality of two strings (lengths are not secret). */
int tsk_auth_equal(const char *a, const char *b);
/* Reads a password: from the terminal without echo (asked twice when confirm), else one line of stdin.
 * out holds outlen bytes; the trailing newline is removed. */
int tsk_auth_read_password(const char *prompt, int confirm, char *out, size_t outlen, char *err, size_t errlen);

#endif
