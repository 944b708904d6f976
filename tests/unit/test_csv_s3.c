/* lib/s3.c's pure parts: s3:// URLs and the percent-encoding of object keys (S3's canonical URI). The
 * requests themselves are tested against a real server in tests/t/44-export-s3.t. */
#include <stdlib.h>

#include "query/s3.h"
#include "tap.h"
#include "core/tsk.h"

static void
url(const char *in, const char *bucket, const char *key)
{
	char err[TSK_ERRLEN] = "", *b = NULL, *k = NULL;
	int rc = tsk_s3_parse_url(in, &b, &k, err, sizeof err);

	if (bucket == NULL) {
		is_int(rc, TSK_EINVAL, "refuses %s (%s)", in, err);
		ok(b == NULL && k == NULL, "and returns no strings");
	} else {
		is_int(rc, TSK_OK, "parses %s", in);
		is_str(b, bucket, "bucket of %s", in);
		is_str(k, key, "key of %s", in);
	}
	free(b);
	free(k);
}

static void
enc(const char *key, const char *want)
{
	char *got = tsk_s3_encode_key(key);
	is_str(got, want, "encode \"%s\"", key);
	free(got);
}

int
main(void)
{
	url("s3://exports/a.csv", "exports", "a.csv");
	url("s3://my.bucket-1/dir/sub/file name.csv", "my.bucket-1", "dir/sub/file name.csv");
	url("s3://exports/dir/", "exports", "dir/");
	url("s3://ab/x", NULL, NULL);          /* bucket too short */
	url("s3://exports", NULL, NULL);       /* no key */
	url("s3://exports/", NULL, NULL);      /* empty key */
	url("s3:///key", NULL, NULL);          /* no bucket */
	url("http://exports/key", NULL, NULL); /* not s3:// */
	url("s3://ex?ports/key", NULL, NULL);  /* a character that would change the path */
	url("s3://../key", NULL, NULL);
	/* "." and ".." segments would be resolved by the HTTP client: s3://bkt/../../etc/k.csv became
	 * PUT /etc/k.csv. Refused, never rewritten. */
	url("s3://bkt/../../etc/k.csv", NULL, NULL);
	url("s3://exports/a/./b.csv", NULL, NULL);
	url("s3://exports/a/..", NULL, NULL);
	url("s3://exports/.", NULL, NULL);
	url("s3://exports/a/..b/c..d/.e", "exports", "a/..b/c..d/.e"); /* dots inside a name are fine */
	url("s3://exports/a\nb", NULL, NULL);                          /* a control character */

	enc("plain/key-1_2.3~x.csv", "plain/key-1_2.3~x.csv");
	enc("a b+c;é.csv", "a%20b%2Bc%3B%C3%A9.csv");
	enc("50%/?#&=", "50%25/%3F%23%26%3D");
	return done_testing();
}
