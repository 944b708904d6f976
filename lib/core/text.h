/* Small text routines shared by the layers: percent-decoding, hex digits, UTF-8 checks. */
#ifndef TSK_TEXT_H
#define TSK_TEXT_H

#include <stddef.h>

/* The value of a hex digit, or -1. */
int tsk_hexval(int c);

/*
 * Percent-decodes n bytes of s into out (outlen bytes, NUL-terminated); out may be s itself (decoding
 * only shrinks). strict: a '%' not followed by two hex digits, or a decoded NUL, is an error (URLs);
 * lenient: such a '%' is kept as it is, like Python's urllib.parse.unquote (MQTT topic segments).
 * '+' is never a space. Returns the decoded length, or -1 (bad escape when strict, or no room).
 */
long tsk_pct_decode(const char *s, size_t n, char *out, size_t outlen, int strict);

/* 1 when the len bytes at s are valid UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF) without NUL bytes. */
int tsk_utf8_valid(const char *s, size_t len);

#endif
