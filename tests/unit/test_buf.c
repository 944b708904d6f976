/* lib/core/buf.c and lib/core/text.c: the one growable buffer and the one percent-decoder. */
#include <stdint.h>

#include "tap.h"
#include "core/buf.h"
#include "core/text.h"

static void
test_buf(void)
{
	struct tsk_buf b = TSK_BUF_INIT;

	is_str(tsk_buf_cstr(&b), "", "an empty buffer is an empty string");
	ok(tsk_buf_puts(&b, "SELECT ") == 0, "puts");
	ok(tsk_buf_printf(&b, "%d, '%s'", 42, "x") == 0, "printf");
	is_str(tsk_buf_cstr(&b), "SELECT 42, 'x'", "pieces in order");
	is_int(b.len, 14, "length counts no NUL");

	/* Growth across many doublings, and a formatted piece larger than the whole capacity. */
	tsk_buf_reset(&b);
	for (int i = 0; i < 10000; i++)
		tsk_buf_printf(&b, "%04d", i);
	is_int(b.len, 40000, "10 000 four-digit pieces");
	ok(memcmp(b.p + 4 * 9999, "9999", 4) == 0, "the last piece is where it belongs");
	char big[5000];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	tsk_buf_reset(&b);
	tsk_buf_printf(&b, "<%s>", big);
	is_int(b.len, sizeof big + 1, "a piece larger than the capacity");
	ok(b.p[0] == '<' && b.p[b.len - 1] == '>', "it is whole");

	/* Binary bytes and varints (the spool's encoding). */
	tsk_buf_reset(&b);
	tsk_buf_varint(&b, 0);
	tsk_buf_varint(&b, 127);
	tsk_buf_varint(&b, 128);
	tsk_buf_varint(&b, UINT64_MAX);
	is_int(b.len, 1 + 1 + 2 + 10, "varint sizes 1, 1, 2, 10");
	ok((unsigned char)b.p[2] == 0x80 && (unsigned char)b.p[3] == 0x01, "128 is 80 01");
	tsk_buf_add(&b, "\0\1", 2);
	is_int(b.len, 16, "bytes with NUL appended");

	/* tsk_buf_need, then direct stores (the binary COPY encoder's way). */
	tsk_buf_reset(&b);
	for (int i = 0; i < 3000; i++) {
		if (tsk_buf_need(&b, 3) != 0)
			break;
		b.p[b.len++] = 'a';
		b.p[b.len++] = 'b';
		b.p[b.len++] = 'c';
	}
	is_int(b.len, 9000, "need then direct stores, across growths");
	ok(b.cap - b.len > 0 && memcmp(b.p + 8997, "abc", 3) == 0, "the last stores are there, room for the NUL");
	is_int(tsk_buf_need(&b, 0), 0, "need 0 succeeds");

	/* A failure is sticky until reset: reserve more than memory can hold. */
	ok(tsk_buf_reserve(&b, SIZE_MAX - 8) == -1, "an impossible reservation fails");
	ok(tsk_buf_failed(&b), "the buffer says it failed");
	ok(tsk_buf_puts(&b, "x") == -1 && tsk_buf_cstr(&b) == NULL, "and stays failed");
	ok(tsk_buf_need(&b, 1) == -1, "need fails too, even with room left");
	tsk_buf_reset(&b);
	ok(!tsk_buf_failed(&b) && tsk_buf_puts(&b, "y") == 0, "reset clears the failure");

	char *s = tsk_buf_take(&b);
	is_str(s, "y", "take hands over the string");
	ok(b.p == NULL && b.len == 0, "and leaves the buffer empty");
	free(s);
	ok(tsk_buf_take(&b) == NULL, "taking an empty buffer gives NULL");
	tsk_buf_free(&b);
}

static void
test_pct(void)
{
	char out[64];
	const char *s;

	s = "Casa%20de%20M%C3%A1quinas";
	is_int(tsk_pct_decode(s, strlen(s), out, sizeof out, 0), 17, "lenient decode length (á is two bytes)");
	is_str(out, "Casa de Máquinas", "lenient decode");
	s = "100%";
	ok(tsk_pct_decode(s, strlen(s), out, sizeof out, 0) == 4 && strcmp(out, "100%") == 0, "lenient keeps a bare %%");
	ok(tsk_pct_decode(s, strlen(s), out, sizeof out, 1) == -1, "strict refuses a bare %%");
	s = "%4a%4B+";
	ok(tsk_pct_decode(s, strlen(s), out, sizeof out, 1) == 3 && strcmp(out, "JK+") == 0, "either case of hex; + stays");
	s = "a%00b";
	ok(tsk_pct_decode(s, strlen(s), out, sizeof out, 1) == -1, "strict refuses a decoded NUL");
	s = "%2";
	ok(tsk_pct_decode(s, strlen(s), out, sizeof out, 0) == 2 && strcmp(out, "%2") == 0, "a cut escape is kept");
	ok(tsk_pct_decode(s, strlen(s), out, sizeof out, 1) == -1, "and refused when strict");
	s = "abcdef";
	ok(tsk_pct_decode(s, strlen(s), out, 6, 0) == -1, "no room for the NUL");
	ok(tsk_pct_decode(s, strlen(s), out, 7, 0) == 6, "exactly room");
	char inplace[] = "a%2Fb";
	ok(tsk_pct_decode(inplace, strlen(inplace), inplace, sizeof inplace, 1) == 3 && strcmp(inplace, "a/b") == 0,
	    "in place");
}

int
main(void)
{
	test_buf();
	test_pct();
	return done_testing();
}
