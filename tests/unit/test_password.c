/*
 * Password rules (registry/password.c): Python's quick_ratio on code points, Django's similarity rule
 * (its words, its length shortcut, its attribute order), the common list (sorted, for bsearch), all
 * digits, and every broken rule reported in order.
 */
#include <string.h>
#include <jansson.h>

#include "tap.h"
#include "registry/password.h"

/* The problems as one string, "|"-separated. */
static const char *
problems(const char *pw, const struct tsk_password_user *u)
{
	static char out[1024];
	json_t *a = json_array();
	size_t i;
	json_t *v;

	out[0] = '\0';
	tsk_password_problems(pw, u, a);
	json_array_foreach(a, i, v) {
		if (i > 0)
			strncat(out, "|", sizeof out - strlen(out) - 1);
		strncat(out, json_string_value(v), sizeof out - strlen(out) - 1);
	}
	json_decref(a);
	return out;
}

int
main(void)
{
	/* Values from Python's difflib.SequenceMatcher(a=, b=).quick_ratio(). */
	is_dbl(tsk_password_quick_ratio("abcd", "bcde"), 0.75, "quick_ratio abcd/bcde");
	is_dbl(tsk_password_quick_ratio("maria@example", "example"), 0.7, "quick_ratio maria@example/example");
	is_dbl(tsk_password_quick_ratio("ação", "acao"), 0.5, "quick_ratio counts code points, not bytes");
	is_dbl(tsk_password_quick_ratio("", "x"), 0.0, "quick_ratio with an empty side");
	is_dbl(tsk_password_quick_ratio("aaa", "a"), 0.5, "quick_ratio counts multisets");
	is_dbl(tsk_password_quick_ratio("ABC", "abc"), 1.0, "letters are compared lowered");

	struct tsk_password_user u = { "msouza", "m.souza@example.test", "Maria", "Souza" };
	is_str(problems("Tr4k-Sense!Pw", &u), "", "a good password: no problem");
	is_str(problems("maria@example", &u), "A senha é muito parecida com endereço de email.", "a word of the address");
	is_str(problems("Mariaaa1", &u), "A senha é muito parecida com primeiro nome.", "the first name");
	is_str(problems("Maria.Souza", &u), "A senha é muito parecida com nome de usuário.",
	    "the first attribute in Django's order is named (user name before names and address)");
	is_str(problems("x", &u), "Esta senha é muito curta. Ela precisa conter pelo menos 8 caracteres.", "short");
	is_str(problems("12345678", &u), "Esta senha é muito comum.|Esta senha é inteiramente numérica.",
	    "common and all digits: both, in order");
	is_str(problems("1234", NULL), "Esta senha é muito curta. Ela precisa conter pelo menos 8 caracteres.|"
	    "Esta senha é inteiramente numérica.", "short and all digits, no user");
	is_str(problems("ççççççç", NULL), "Esta senha é muito curta. Ela precisa conter pelo menos 8 caracteres.",
	    "length in characters, not bytes");
	/* Django skips a value much shorter than the password: "ab" cannot make a long password similar. */
	struct tsk_password_user tiny = { "ab", "", "", "" };
	is_str(problems("abababababababababababab", &tiny), "", "a value a tenth of the password's length is skipped");

	ok(tsk_password_common("password"), "password is common");
	ok(tsk_password_common("  PassWord123 "), "compared lowered and trimmed");
	ok(tsk_password_common("00000000") && tsk_password_common("zaq12wsx"), "the list's first and last entries");
	ok(tsk_password_common("senha123") && tsk_password_common("qwerty123"), "entries in the middle");
	ok(!tsk_password_common("Tr4k-Sense!Pw"), "a good one is not");
	ok(!tsk_password_common(""), "nor the empty string");
	return done_testing();
}
