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
