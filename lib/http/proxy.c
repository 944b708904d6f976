/*
 * The client's address behind trusted reverse proxies (trusted_proxies): X-Forwarded-For is believed
 * only as far as the hops that added to it are trusted, so a client cannot choose its own address (and
 * with it a fresh login rate-limit bucket) by sending the header itself.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tsk.h"
#include "http/http.h"

/* An address in 16 bytes: IPv4 (and IPv4-mapped IPv6, as a dual-stack socket reports v4 peers) as
 * ::ffff:a.b.c.d, so one comparison covers both spellings. 4 or 6 (how s was written), or -1 when s is
 * no address. */
static int
addr16(const char *s, size_t n, unsigned char out[16])
{
	char tmp[INET6_ADDRSTRLEN + 1];
	unsigned char v4[4];

	if (n == 0 || n >= sizeof tmp)
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET, tmp, v4) == 1) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, v4, 4);
		return 4;
	}
	return inet_pton(AF_INET6, tmp, out) == 1 ? 6 : -1;
}

/* Spaces and tabs off both ends of s[0..*n). */
static const char *
trim(const char *s, size_t *n)
{
	while (*n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		(*n)--;
	}
	while (*n > 0 && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
		(*n)--;
	return s;
}

int
tsk_http_proxies_parse(const char *list, struct tsk_http_cidr **out, size_t *nout, char *err, size_t errlen)
{
	struct tsk_http_cidr *v = NULL, *nv;
	size_t n = 0;
	const char *p = list;

	*out = NULL;
	*nout = 0;
	while (p != NULL && *p) {
		const char *e = strchr(p, ','), *slash, *item;
		size_t len = e != NULL ? (size_t)(e - p) : strlen(p), alen;
		struct tsk_http_cidr c;
		long bits;
		int fam;

		item = trim(p, &len);
		p = e != NULL ? e + 1 : NULL;
		if (len == 0)
			continue;
		slash = memchr(item, '/', len);
		alen = slash != NULL ? (size_t)(slash - item) : len;
		if ((fam = addr16(item, alen, c.addr)) < 0) {
			free(v);
			return tsk_seterr(err, errlen, TSK_EINVAL, "trusted_proxies: \"%.*s\" is not an address or CIDR",
			    (int)(len < 100 ? len : 100), item);
		}
		c.bits = 128;
		if (slash != NULL) {
			char num[8], *end;
			size_t bl = len - alen - 1;
			if (bl == 0 || bl >= sizeof num) {
				free(v);
				return tsk_seterr(err, errlen, TSK_EINVAL, "trusted_proxies: bad prefix length in \"%.*s\"",
				    (int)(len < 100 ? len : 100), item);
			}
			memcpy(num, slash + 1, bl);
			num[bl] = '\0';
			bits = strtol(num, &end, 10);
			if (*end != '\0' || num[0] < '0' || num[0] > '9' || bits > (fam == 4 ? 32 : 128)) {
				free(v);
				return tsk_seterr(err, errlen, TSK_EINVAL, "trusted_proxies: bad prefix length in \"%.*s\"",
				    (int)(len < 100 ? len : 100), item);
			}
			c.bits = (int)bits + (fam == 4 ? 96 : 0);
		}
		if ((nv = realloc(v, (n + 1) * sizeof *v)) == NULL) {
			free(v);
			return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
		}
		v = nv;
		v[n++] = c;
	}
	*out = v;
	*nout = n;
	return TSK_OK;
}

static int
trusted(const struct tsk_http_cidr *nets, size_t n, const unsigned char a[16])
{
	for (size_t i = 0; i < n; i++) {
		int full = nets[i].bits / 8, rest = nets[i].bits % 8;
		if (memcmp(nets[i].addr, a, (size_t)full) != 0)
			continue;
		if (rest == 0 || ((nets[i].addr[full] ^ a[full]) & (0xff << (8 - rest))) == 0)
			return 1;
	}
	return 0;
}

int
tsk_http_client_addr(const struct tsk_http_cidr *nets, size_t n, const char *peer, const char *xff, char *out,
    size_t outlen)
{
	unsigned char a[16];
	const char *end;

	snprintf(out, outlen, "%s", peer != NULL ? peer : "");
	if (n == 0 || xff == NULL || peer == NULL || addr16(peer, strlen(peer), a) < 0 || !trusted(nets, n, a))
		return 0;
	/* From the right: each hop was added by the one after it, and is believed while that one is trusted.
	 * The first address not trusted is the client; an entry that is no address ends the walk at the
	 * last hop believed. */
	end = xff + strlen(xff);
	while (end > xff) {
		const char *start = end;
		size_t len;
		while (start > xff && start[-1] != ',')
			start--;
		len = (size_t)(end - start);
		const char *item = trim(start, &len);
		end = start > xff ? start - 1 : xff;
		if (len == 0)
			continue;
		if (addr16(item, len, a) < 0 || len >= outlen)
			return 1;
		memcpy(out, item, len);
		out[len] = '\0';
		if (!trusted(nets, n, a))
			return 1;
	}
	return 1;
}
