#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/auth.h"
#include "registry/password.h"

#define MAX_SIMILARITY 0.7

/*
 * A short list in the spirit of Django's 20 000 (which comes from leaked password dumps): the most
 * common passwords of at least 8 characters, English and Portuguese. Lower case, sorted for bsearch.
 */
static const char *const common[] = {
	"00000000", "11111111", "12121212", "123123123", "12341234", "12344321", "12345678", "123456789",
	"1234567890", "123456789a", "123mudar", "1q2w3e4r", "1q2w3e4r5t", "1qaz2wsx", "22222222", "55555555",
	"66666666", "69696969", "77777777", "87654321", "88888888", "99999999", "a1b2c3d4", "aa123456",
	"abc12345", "abcd1234", "abcdefgh", "admin123", "administrator", "alterar123", "asdfasdf", "asdfghjk",
	"asdfghjkl", "baseball", "basketball", "batman123", "brasil123", "changeme", "charlie1", "computer",
	"corinthians", "dragon12", "estrela1", "flamengo", "football", "futebol1", "iloveyou", "internet",
	"jennifer", "jesus123", "jordan23", "letmein1", "master12", "michelle", "mudar123", "mudar@123",
	"palmeiras", "passw0rd", "password", "password1", "password12", "password123", "princess", "q1w2e3r4",
	"qazwsxedc", "qwer1234", "qwerty12", "qwerty123", "qwertyui", "qwertyuiop", "senha123", "senha1234",
	"senha12345", "senha@123", "sunshine", "superman", "teste123", "trustno1", "welcome1", "whatever",
	"zaq12wsx",
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The code points of a UTF-8 string, with ASCII and Latin-1 letters lowered (a byte that is not UTF-8
 * counts as itself). *n receives the count; NULL when out of memory. */
static uint32_t *
code_points(const char *s, size_t *n)
{
	size_t len = strlen(s), k = 0;
	uint32_t *cp = malloc((len + 1) * sizeof *cp);
	const unsigned char *p = (const unsigned char *)s;

	if (cp == NULL)
		return NULL;
	while (*p) {
		uint32_t c = *p;
		int more = c >= 0xf0 && c < 0xf8 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
		int ok = 1;

		if (c >= 0x80 && c < 0xc0)
			more = 0;
		for (int i = 1; i <= more; i++)
			if ((p[i] & 0xc0) != 0x80)
				ok = 0;
		if (more > 0 && ok) {
			c &= 0x3fu >> more;
			for (int i = 1; i <= more; i++)
				c = (c << 6) | (p[i] & 0x3fu);
			p += more + 1;
		} else {
			p++;
		}
		if ((c >= 'A' && c <= 'Z') || (c >= 0xc0 && c <= 0xde && c != 0xd7))
			c += 32;
		cp[k++] = c;
	}
	*n = k;
	return cp;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* quick_ratio of two code point arrays (sorted in place). */
static double
ratio(uint32_t *a, size_t na, uint32_t *b, size_t nb)
{
	size_t i = 0, j = 0, m = 0;

	if (na + nb == 0)
		return 0;
	qsort(a, na, sizeof *a, cmp_u32);
	qsort(b, nb, sizeof *b, cmp_u32);
	while (i < na && j < nb) {
		if (a[i] == b[j])
			m++, i++, j++;
		else if (a[i] < b[j])
			i++;
		else
			j++;
	}
	return 2.0 * (double)m / (double)(na + nb);
}

double
tsk_password_quick_ratio(const char *a, const char *b)
{
	size_t na, nb;
	uint32_t *x = code_points(a, &na), *y = code_points(b, &nb);
	double r = x != NULL && y != NULL ? ratio(x, na, y, nb) : 0;

	free(x);
	free(y);
	return r;
}

/* Python's \w, near enough: ASCII letters, digits and '_', and every non-ASCII code point. */
static int
word_char(uint32_t c)
{
	return c >= 0x80 || (c < 0x80 && (isalnum((int)c) || c == '_'));
}

/* Django's similarity rule for one attribute: 1 when the password is too similar to the value or to one
 * of its words. */
static int
similar(const uint32_t *pw, size_t npw, const char *value)
{
	size_t nv, i = 0;
	uint32_t *v, *a, *b;
	int hit = 0;

	if (value == NULL || *value == '\0' || (v = code_points(value, &nv)) == NULL)
		return 0;
	a = malloc((npw + 1) * sizeof *a);
	b = malloc((nv + 1) * sizeof *b);
	/* The words of the value, then the whole value (as re.split(r"\W+", value) + [value]). */
	while (a != NULL && b != NULL && !hit && i <= nv) {
		size_t start, end;
		int whole = i == nv;

		if (whole) {
			start = 0;
			end = nv;
		} else {
			start = i;
			while (i < nv && word_char(v[i]))
				i++;
			end = i;
			while (i < nv && !word_char(v[i]))
				i++;
			if (i == start) /* only separators: nothing more */
				i = nv;
		}
		size_t part = end - start;
		/* Django skips a part much shorter than the password (exceeds_maximum_length_ratio). */
		if (!(npw >= 10 * part && (double)part < MAX_SIMILARITY / 2 * (double)npw)) {
			memcpy(a, pw, npw * sizeof *a);
			memcpy(b, v + start, part * sizeof *b);
			hit = ratio(a, npw, b, part) >= MAX_SIMILARITY;
		}
		if (whole)
			break;
	}
	free(a);
	free(b);
	free(v);
	return hit;
}

int
tsk_password_common(const char *password)
{
	char low[64];
	const char *key = low;
	size_t n;

	while (*password == ' ' || *password == '\t' || *password == '\n' || *password == '\r')
		password++;
	n = strlen(password);
	while (n > 0 && (password[n - 1] == ' ' || password[n - 1] == '\t' || password[n - 1] == '\n' ||
	    password[n - 1] == '\r'))
		n--;
	if (n == 0 || n >= sizeof low)
		return 0;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)password[i]);
	low[n] = '\0';
	return bsearch(&key, common, sizeof common / sizeof common[0], sizeof common[0], cmp_str) != NULL;
}

size_t
tsk_password_problems(const char *password, const struct tsk_password_user *u, json_t *msgs)
{
	/* Django's order (DEFAULT_USER_ATTRIBUTES); the first attribute that is too similar is named. */
	static const char *const names[] = { "nome de usuário", "primeiro nome", "último nome", "endereço de email" };
	size_t n = 0, npw;
	uint32_t *pw = code_points(password, &npw);
	char msg[200];
	int digits = *password != '\0';

	if (pw == NULL)
		return 0;
	if (u != NULL) {
		const char *vals[] = { u->username, u->first_name, u->last_name, u->email };
		for (int i = 0; i < 4; i++)
			if (similar(pw, npw, vals[i])) {
				snprintf(msg, sizeof msg, "A senha é muito parecida com %s.", names[i]);
				json_array_append_new(msgs, json_string(msg));
				n++;
				break;
			}
	}
	if (npw < TSK_PASSWORD_MIN) {
		snprintf(msg, sizeof msg, "Esta senha é muito curta. Ela precisa conter pelo menos %d caracteres.",
		    TSK_PASSWORD_MIN);
		json_array_append_new(msgs, json_string(msg));
		n++;
	}
	if (tsk_password_common(password)) {
		json_array_append_new(msgs, json_string("Esta senha é muito comum."));
		n++;
	}
	for (const char *p = password; *p; p++)
		if (*p < '0' || *p > '9')
			digits = 0;
	if (digits) {
		json_array_append_new(msgs, json_string("Esta senha é inteiramente numérica."));
		n++;
	}
	free(pw);
	return n;
}
