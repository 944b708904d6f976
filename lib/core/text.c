/* Shared text routines (text.h). */
#include "core/text.h"

int
tsk_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
tsk_pct_decode(const char *s, size_t n, char *out, size_t outlen, int strict)
{
	size_t i = 0, w = 0;

	while (i < n) {
		int c = (unsigned char)s[i], hi, lo;
		if (c == '%' && i + 2 < n && (hi = tsk_hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = tsk_hexval((unsigned char)s[i + 2])) >= 0) {
			c = hi << 4 | lo;
			i += 3;
			if (strict && c == 0)
				return -1;
		} else {
			if (c == '%' && strict)
				return -1;
			i++;
		}
		if (w + 1 >= outlen)
			return -1;
		out[w++] = (char)c;
	}
	if (outlen == 0)
		return -1;
	out[w] = '\0';
	return (long)w;
}

int
tsk_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned c = *p++;
		int n;
		unsigned min, cp;
		if (c == 0)
			return 0;
		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			min = 0x80;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			min = 0x800;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			min = 0x10000;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (end - p < n)
			return 0;
		for (int i = 0; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		p += n;
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
	}
	return 1;
}
