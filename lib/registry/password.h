/*
 * How strong a new password is, by the four rules Django applies to the original's registration
 * (django.contrib.auth.password_validation's defaults), with their Portuguese messages:
 *   - not too similar to the user's user name, address, first or last name (a quick ratio of 0.7 or
 *     more between the lowered password and the attribute, or any word of it);
 *   - at least TSK_PASSWORD_MIN characters;
 *   - not one of a built-in list of common passwords (compared lowered and trimmed);
 *   - not entirely digits.
 * tsk_auth_password_check (registry/auth.h) still decides what can be stored at all (no NUL byte, at
 * most TSK_PASSWORD_MAX bytes).
 */
#ifndef TSK_PASSWORD_H
#define TSK_PASSWORD_H

#include <stddef.h>
#include <jansson.h>

/* What the similarity rule compares with; any may be NULL or "". */
struct tsk_password_user {
	const char *username, *email, *first_name, *last_name;
};

/* Appends to msgs (a JSON array) one message per rule the password breaks, in Django's order; returns
 * how many were appended (0: strong enough). u may be NULL (no similarity check). */
size_t tsk_password_problems(const char *password, const struct tsk_password_user *u, json_t *msgs);

/* 1 when the password, lowered and trimmed, is in the built-in list of common passwords. */
int tsk_password_common(const char *password);

/* Python's difflib.SequenceMatcher(a, b).quick_ratio() on code points: 2 * (characters in common,
 * counted as multisets) / (length of a + length of b); 0 when both are empty. For tests. */
double tsk_password_quick_ratio(const char *a, const char *b);

#endif
