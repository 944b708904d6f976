/* Replays the fuzzing corpus (tests/fuzz/corpus) through the fuzz target's checks with the normal
 * build, so every input the fuzzer ever kept, crash regressions included, runs on each `make test`
 * (under ASan with `make asan`, under valgrind with `make valgrind`). The target aborts when a parser
 * breaks a guarantee. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../fuzz/fuzz_payload.c"
#include "tap.h"

static int
replay(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		if (f != NULL)
			fclose(f);
		return -1;
	}
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

int
main(void)
{
	const char *dir = "tests/fuzz/corpus";
	struct dirent *e;
	DIR *d = opendir(dir);
	int files = 0, failed = 0;

	if (!ok(d != NULL, "corpus directory %s", dir))
		return done_testing();
	while ((e = readdir(d)) != NULL) {
		char path[1024];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		files++;
		/* In-process, so valgrind and ASan see it all; an abort() ends the test (rerun a single input
		 * with tests/fuzz/run.sh check to find which). */
		if (replay(path) != 0) {
			failed++;
			ok(0, "corpus input %s is readable", e->d_name);
		}
	}
	closedir(d);
	ok(files > 100, "%d corpus inputs replayed", files);
	ok(failed == 0, "no input broke a parser guarantee");
	return done_testing();
}
