/*
 * Rate limiting of failed logins: one token bucket per key (an account, an address). A bucket holds up
 * to `burst` tokens and gains `per_minute` tokens a minute; each failure takes one, and a key whose
 * bucket is empty is limited until a token has come back.
 *
 * Memory is bounded and allocated once: keys are kept as 16-byte keyed hashes (BLAKE2b under a random
 * key of the limiter, so an attacker cannot aim many keys at one set) in a set-associative table of
 * `max_keys` slots. A full bucket is the same as no entry, so it frees its slot; when a set is full the
 * entry updated longest ago gives way. Thread-safe (one mutex; each call holds it for a few hundred
 * nanoseconds). The caller passes the clock (microseconds), so tests need not sleep.
 */
#ifndef TSK_RATELIMIT_H
#define TSK_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct tsk_ratelimit;

/* NULL when out of memory or burst < 1, per_minute <= 0, max_keys < 1 (rounded up to a whole set). */
struct tsk_ratelimit *tsk_ratelimit_new(double burst, double per_minute, size_t max_keys);
void tsk_ratelimit_free(struct tsk_ratelimit *rl);

/* 1 when the key may try now (its bucket holds a token), else 0 with *retry_after_us (may be NULL) the
 * time until it may. Takes nothing. */
int tsk_ratelimit_check(struct tsk_ratelimit *rl, const char *key, int64_t now_us, int64_t *retry_after_us);
/* A failure: takes one token. 1 when there was one, 0 when the key was already limited (*retry_after_us
 * as above). */
int tsk_ratelimit_hit(struct tsk_ratelimit *rl, const char *key, int64_t now_us, int64_t *retry_after_us);
/* Gives back one token taken by tsk_ratelimit_hit (up to the burst): a caller that takes a token before
 * an attempt, so that concurrent attempts cannot overrun the limit, returns it when the attempt
 * succeeded. */
void tsk_ratelimit_refund(struct tsk_ratelimit *rl, const char *key, int64_t now_us);
/* Forgets the key (a successful login clears its account's failures). */
void tsk_ratelimit_reset(struct tsk_ratelimit *rl, const char *key);
/* Keys with a bucket not yet full (for /metrics and tests). */
size_t tsk_ratelimit_count(struct tsk_ratelimit *rl, int64_t now_us);
/* Slots in the table: the most keys ever held at once. */
size_t tsk_ratelimit_capacity(const struct tsk_ratelimit *rl);

#endif
