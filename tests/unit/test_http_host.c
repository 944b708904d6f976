/* tsk-httpd's Host routing pieces: normalization (port, www., case) and the public host list. */
#include <string.h>

#include "tap.h"
#include "http/http.h"

static const struct {
	const char *in, *want; /* want NULL: refused */
} hosts[] = {
	{ "localhost", "localhost" },
	{ "localhost:8080", "localhost" },
	{ "LocalHost", "localhost" },
	{ "www.umc.example.com", "umc.example.com" },
	{ "WWW.umc.example.com:443", "umc.example.com" },
	{ "www.", "www." },
	{ "wwwx.example.com", "wwwx.example.com" },
	{ "api", "api" },
	{ "127.0.0.1:80", "127.0.0.1" },
	{ "[::1]:8080", "[::1]" },
	{ "[::1]", "[::1]" },
	{ "", NULL },
	{ ":8080", NULL },
	{ "localhost:", NULL },
	{ "localhost:80x", NULL },
	{ "a:1:2", NULL },
	{ "[::1", NULL },
	{ "[::1]x", NULL },
	{ "umc.example.com'--", NULL },
	{ "umc example", NULL },
	{ "umc/x", NULL },
	{ "umc\tx", NULL },
	{ "m\xc3\xa1quinas.example", NULL },
	{ "www.:1", "www." },
};

int
main(void)
{
	char out[256], big[400];

	for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
		int rc = tsk_http_host_normalize(hosts[i].in, out, sizeof out);
		if (hosts[i].want == NULL)
			is_int(rc, -1, "host \"%s\" refused", hosts[i].in);
		else if (is_int(rc, 0, "host \"%s\" accepted", hosts[i].in))
			is_str(out, hosts[i].want, "host \"%s\" -> \"%s\"", hosts[i].in, hosts[i].want);
	}
	ok(tsk_http_host_normalize(NULL, out, sizeof out) == -1, "no Host header");
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	ok(tsk_http_host_normalize(big, out, sizeof out) == -1, "a host longer than the buffer is refused, not cut");
	ok(tsk_http_host_normalize("localhost", out, 5) == -1, "a small buffer is refused");

	ok(tsk_http_host_in_list("localhost", "localhost,api"), "localhost is public");
	ok(tsk_http_host_in_list("api", "localhost,api"), "api is public");
	ok(tsk_http_host_in_list("api", " localhost , api "), "spaces around names are ignored");
	ok(tsk_http_host_in_list("ingest.example.com", "localhost,INGEST.example.com"), "names compare without case");
	ok(!tsk_http_host_in_list("umc.localhost", "localhost,api"), "a tenant host is not public");
	ok(!tsk_http_host_in_list("local", "localhost,api"), "a prefix of a name is not it");
	ok(!tsk_http_host_in_list("localhostx", "localhost,api"), "nor a longer name");
	ok(!tsk_http_host_in_list("", "localhost,,api"), "an empty name matches nothing");
	ok(!tsk_http_host_in_list("localhost", ""), "an empty list: nothing is public");
	return done_testing();
}
