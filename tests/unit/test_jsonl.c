/* lib/core/jsonl.c: line reading with NUL bytes, CRLF, blank lines, and a bounded line length. */
#include <stdio.h>

#include "tap.h"
#include "core/jsonl.h"

static FILE *
input(const char *s, size_t n)
{
	FILE *f = tmpfile();
	fwrite(s, 1, n, f);
	rewind(f);
	return f;
}

int
main(void)
{
	struct tsk_jsonl r;
	static const char text[] = "{\"a\":1}\r\n\n   \nx\0y\nlast";
	FILE *f = input(text, sizeof text - 1);

	for (int bounded = 0; bounded < 2; bounded++) {
		rewind(f);
		tsk_jsonl_init(&r, f);
		r.max = bounded ? 100 : 0;
		const char *how = bounded ? "bounded" : "unbounded";
		ok(tsk_jsonl_next_line(&r) == 1 && r.len == 7 && strcmp(r.line, "{\"a\":1}") == 0, "%s: CRLF stripped", how);
		ok(tsk_jsonl_next_line(&r) == 1 && r.len == 3 && memcmp(r.line, "x\0y", 3) == 0 && r.lineno == 4,
		    "%s: blank lines skipped, a NUL kept, line numbers counted", how);
		ok(tsk_jsonl_next_line(&r) == 1 && strcmp(r.line, "last") == 0, "%s: a last line without newline", how);
		ok(tsk_jsonl_next_line(&r) == 0, "%s: then the end", how);
		tsk_jsonl_free(&r);
	}
	fclose(f);

	/* 10 MB on one line between two short ones: only max bytes are kept, the next line is intact. */
	size_t big = 10 * 1024 * 1024;
	char *buf = malloc(big + 32);
	memcpy(buf, "one\n", 4);
	memset(buf + 4, 'z', big);
	memcpy(buf + 4 + big, "\ntwo\n", 5);
	f = input(buf, big + 9);
	free(buf);
	tsk_jsonl_init(&r, f);
	r.max = 4096;
	ok(tsk_jsonl_next_line(&r) == 1 && !r.overlong && strcmp(r.line, "one") == 0, "a short line");
	ok(tsk_jsonl_next_line(&r) == 1 && r.overlong && r.len == 4096, "a 10 MB line comes back cut, marked overlong");
	ok(r.cap <= 8192, "memory stays bounded (%zu bytes)", r.cap);
	ok(tsk_jsonl_next_line(&r) == 1 && !r.overlong && strcmp(r.line, "two") == 0 && r.lineno == 3,
	    "the next line is whole and numbered");
	ok(tsk_jsonl_next_line(&r) == 0, "end");
	tsk_jsonl_free(&r);
	fclose(f);

	/* Text from devices as JSON: bad bytes replaced, good UTF-8 kept. */
	json_t *j = tsk_json_lossy_string("ok \xc3\xa1 \xff\x00z", 9);
	is_str(json_string_value(j), "ok \xc3\xa1 \xef\xbf\xbd\xef\xbf\xbdz", "invalid bytes and NUL become U+FFFD");
	json_decref(j);
	j = tsk_json_lossy_string("plain", 5);
	is_str(json_string_value(j), "plain", "valid text unchanged");
	json_decref(j);
	return done_testing();
}
