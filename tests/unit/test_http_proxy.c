/* tsk-httpd's trusted_proxies: the list parser, and which X-Forwarded-For address is the client's. */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "core/tsk.h"
#include "http/http.h"

static const struct {
	const char *list;   /* trusted_proxies */
	const char *peer, *xff;
	const char *want;   /* the client's address */
} cases[] = {
	/* No trusted proxy: the header is ignored, whatever it says. */
	{ "", "127.0.0.1", "1.2.3.4", "127.0.0.1" },
	{ "10.0.0.1", "127.0.0.1", "1.2.3.4", "127.0.0.1" },
	/* A trusted peer: the last address it added. */
	{ "127.0.0.1", "127.0.0.1", "1.2.3.4", "1.2.3.4" },
	{ "127.0.0.1", "127.0.0.1", " 1.2.3.4 ", "1.2.3.4" },
	/* What the client wrote itself (left of the proxy's hop) is not believed. */
	{ "127.0.0.1", "127.0.0.1", "6.6.6.6, 1.2.3.4", "1.2.3.4" },
	/* A chain of trusted proxies: the first untrusted address from the right. */
	{ "127.0.0.1, 10.0.0.0/8", "127.0.0.1", "6.6.6.6, 1.2.3.4, 10.1.2.3", "1.2.3.4" },
	{ "127.0.0.1,10.0.0.0/8", "127.0.0.1", "10.9.9.9, 10.1.2.3", "10.9.9.9" },
	/* An entry that is no address stops the walk at the last hop believed. */
	{ "127.0.0.1,10.0.0.0/8", "127.0.0.1", "1.2.3.4, unknown, 10.1.2.3", "10.1.2.3" },
	{ "127.0.0.1", "127.0.0.1", "garbage", "127.0.0.1" },
	{ "127.0.0.1", "127.0.0.1", "", "127.0.0.1" },
	{ "127.0.0.1", "127.0.0.1", ",,", "127.0.0.1" },
	/* Networks: the prefix decides. */
	{ "192.168.0.0/16", "192.168.200.7", "1.2.3.4", "1.2.3.4" },
	{ "192.168.0.0/16", "192.169.0.1", "1.2.3.4", "192.169.0.1" },
	{ "192.168.1.128/25", "192.168.1.200", "1.2.3.4", "1.2.3.4" },
	{ "192.168.1.128/25", "192.168.1.100", "1.2.3.4", "192.168.1.100" },
	{ "0.0.0.0/0", "8.8.8.8", "1.2.3.4", "1.2.3.4" },
	/* IPv6, and IPv4 peers as a dual-stack socket reports them. */
	{ "::1", "::1", "2001:db8::5", "2001:db8::5" },
	{ "fd00::/8", "fd12:3456::1", "1.2.3.4", "1.2.3.4" },
	{ "fd00::/8", "fe80::1", "1.2.3.4", "fe80::1" },
	{ "127.0.0.1", "::ffff:127.0.0.1", "1.2.3.4", "1.2.3.4" },
	{ "::ffff:10.0.0.0/104", "10.2.3.4", "1.2.3.4", "1.2.3.4" },
};

static const char *const bad_lists[] = { "localhost", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x",
	"10.0.0.0/-1", "1.2.3.4.5", "10.0.0.1/8/8" };

int
main(void)
{
	char err[TSK_ERRLEN], out[64];
	struct tsk_http_cidr *nets;
	size_t n;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (!is_int(tsk_http_proxies_parse(cases[i].list, &nets, &n, err, sizeof err), TSK_OK, "parse \"%s\"",
		    cases[i].list))
			continue;
		tsk_http_client_addr(nets, n, cases[i].peer, cases[i].xff, out, sizeof out);
		is_str(out, cases[i].want, "trusted \"%s\", peer %s, X-Forwarded-For \"%s\" -> %s", cases[i].list,
		    cases[i].peer, cases[i].xff, cases[i].want);
		free(nets);
	}
	for (size_t i = 0; i < sizeof bad_lists / sizeof bad_lists[0]; i++)
		is_int(tsk_http_proxies_parse(bad_lists[i], &nets, &n, err, sizeof err), TSK_EINVAL, "\"%s\" is refused",
		    bad_lists[i]);
	ok(tsk_http_proxies_parse(NULL, &nets, &n, err, sizeof err) == TSK_OK && n == 0 && nets == NULL,
	    "no list: no proxies");
	ok(tsk_http_proxies_parse(" , ", &nets, &n, err, sizeof err) == TSK_OK && n == 0, "an empty list");
	ok(tsk_http_client_addr(NULL, 0, "127.0.0.1", "1.2.3.4", out, sizeof out) == 0 && strcmp(out, "127.0.0.1") == 0,
	    "no proxies: the peer, and 0");
	return done_testing();
}
