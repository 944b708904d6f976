/* Passwords and secrets: argon2id hashes (libsodium), constant-time comparison, random tokens. */
#ifndef TSK_AUTH_H
#define TSK_AUTH_H

#include <stddef.h>

#define TSK_HASH_LEN 128 /* crypto_pwhash_STRBYTES */
#define TSK_PASSWORD_MIN 8
#define TSK_PASSWORD_MAX 1024 /* bytes: a longer one is refused, never truncated */

int tsk_auth_init(char *err, size_t errlen);
/* The password policy on len bytes: TSK_PASSWORD_MIN..TSK_PASSWORD_MAX bytes, no NUL byte (C strings
 * would cut it there, and "abc\0x" would equal "abc\0y"). TSK_OK or TSK_EINVAL with why. */
int tsk_auth_password_check(const char *password, size_t len, char *err, size_t errlen);
/* Checks the password policy then hashes it with argon2id. out holds TSK_HASH_LEN bytes. */
int tsk_auth_hash_password(const char *password, char *out, char *err, size_t errlen);
/* TSK_OK when the password matches the stored hash, TSK_EINVAL when not (also for a password longer
 * than TSK_PASSWORD_MAX, which no hash can match). */
int tsk_auth_verify_password(const char *hash, const char *password);
/* Constant-time equality of two strings (lengths are not secret). */
int tsk_auth_equal(const char *a, const char *b);

#endif
