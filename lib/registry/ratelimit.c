#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "registry/ratelimit.h"

#define WAYS 8         /* slots per set */
#define IDLEN 16

struct slot {
	unsigned char id[IDLEN];
	int used;
	double tokens;      /* as of `at` */
	int64_t at;         /* microseconds */
};

struct tsk_ratelimit {
	pthread_mutex_t mu;
	double burst, per_us;
	size_t nsets;
	unsigned char hkey[crypto_generichash_KEYBYTES];
	struct slot *slots;
};

struct tsk_ratelimit *
tsk_ratelimit_new(double burst, double per_minute, size_t max_keys)
{
	struct tsk_ratelimit *rl;

	if (!(burst >= 1) || !(per_minute > 0) || max_keys < 1 || sodium_init() < 0)
		return NULL;
	if ((rl = calloc(1, sizeof *rl)) == NULL)
		return NULL;
	rl->burst = burst;
	rl->per_us = per_minute / 60e6;
	rl->nsets = (max_keys + WAYS - 1) / WAYS;
	if ((rl->slots = calloc(rl->nsets * WAYS, sizeof *rl->slots)) == NULL ||
	    pthread_mutex_init(&rl->mu, NULL) != 0) {
		free(rl->slots);
		free(rl);
		return NULL;
	}
	randombytes_buf(rl->hkey, sizeof rl->hkey);
	return rl;
}

void
tsk_ratelimit_free(struct tsk_ratelimit *rl)
{
	if (rl == NULL)
		return;
	pthread_mutex_destroy(&rl->mu);
	free(rl->slots);
	free(rl);
}

size_t
tsk_ratelimit_capacity(const struct tsk_ratelimit *rl)
{
	return rl->nsets * WAYS;
}

/* The key's id and set. */
static struct slot *
set_of(struct tsk_ratelimit *rl, const char *key, unsigned char id[IDLEN])
{
	uint64_t h;

	crypto_generichash(id, IDLEN, (const unsigned char *)key, strlen(key), rl->hkey, sizeof rl->hkey);
	memcpy(&h, id, sizeof h);
	return rl->slots + (size_t)(h % rl->nsets) * WAYS;
}

/* Tokens in the bucket at `now` (a clock that went backwards adds nothing). */
static double
level(const struct tsk_ratelimit *rl, const struct slot *s, int64_t now)
{
	double t = s->tokens;

	if (now > s->at)
		t += (double)(now - s->at) * rl->per_us;
	return t < rl->burst ? t : rl->burst;
}

static struct slot *
find(struct slot *set, const unsigned char id[IDLEN])
{
	for (int i = 0; i < WAYS; i++)
		if (set[i].used && sodium_memcmp(set[i].id, id, IDLEN) == 0)
			return &set[i];
	return NULL;
}

static int64_t
wait_for_token(const struct tsk_ratelimit *rl, double tokens)
{
	/* Rounded up, less a rounding error's worth so a whole interval stays whole. */
	double us = ceil((1.0 - tokens) / rl->per_us - 1e-3);

	return us < 1 ? 1 : (int64_t)us;
}

int
tsk_ratelimit_check(struct tsk_ratelimit *rl, const char *key, int64_t now_us, int64_t *retry_after_us)
{
	unsigned char id[IDLEN];
	struct slot *s;
	double t;

	pthread_mutex_lock(&rl->mu);
	s = find(set_of(rl, key, id), id);
	t = s != NULL ? level(rl, s, now_us) : rl->burst;
	pthread_mutex_unlock(&rl->mu);
	if (t >= 1)
		return 1;
	if (retry_after_us != NULL)
		*retry_after_us = wait_for_token(rl, t);
	return 0;
}

int
tsk_ratelimit_hit(struct tsk_ratelimit *rl, const char *key, int64_t now_us, int64_t *retry_after_us)
{
	unsigned char id[IDLEN];
	struct slot *set, *s, *victim = NULL;
	double t;
	int allowed;

	pthread_mutex_lock(&rl->mu);
	set = set_of(rl, key, id);
	if ((s = find(set, id)) == NULL) {
		/* A free slot, or one whose bucket has refilled (no different from no entry), else the entry
		 * updated longest ago. */
		for (int i = 0; i < WAYS && s == NULL; i++)
			if (!set[i].used || level(rl, &set[i], now_us) >= rl->burst)
				s = &set[i];
		for (int i = 0; i < WAYS && s == NULL; i++)
			if (victim == NULL || set[i].at < victim->at)
				victim = &set[i];
		if (s == NULL)
			s = victim;
		memcpy(s->id, id, IDLEN);
		s->used = 1;
		s->tokens = rl->burst;
		s->at = now_us;
	}
	t = level(rl, s, now_us);
	allowed = t >= 1;
	if (allowed)
		t -= 1;
	s->tokens = t;
	if (now_us > s->at)
		s->at = now_us;
	pthread_mutex_unlock(&rl->mu);
	if (!allowed && retry_after_us != NULL)
		*retry_after_us = wait_for_token(rl, t);
	return allowed;
}

void
tsk_ratelimit_refund(struct tsk_ratelimit *rl, const char *key, int64_t now_us)
{
	unsigned char id[IDLEN];
	struct slot *s;
	double t;

	pthread_mutex_lock(&rl->mu);
	if ((s = find(set_of(rl, key, id), id)) != NULL) {
		t = level(rl, s, now_us) + 1;
		s->tokens = t < rl->burst ? t : rl->burst;
		if (now_us > s->at)
			s->at = now_us;
	}
	pthread_mutex_unlock(&rl->mu);
}

void
tsk_ratelimit_reset(struct tsk_ratelimit *rl, const char *key)
{
	unsigned char id[IDLEN];
	struct slot *s;

	pthread_mutex_lock(&rl->mu);
	if ((s = find(set_of(rl, key, id), id)) != NULL)
		memset(s, 0, sizeof *s);
	pthread_mutex_unlock(&rl->mu);
}

size_t
tsk_ratelimit_count(struct tsk_ratelimit *rl, int64_t now_us)
{
	size_t n = 0;

	pthread_mutex_lock(&rl->mu);
	for (size_t i = 0; i < rl->nsets * WAYS; i++)
		n += rl->slots[i].used && level(rl, &rl->slots[i], now_us) < rl->burst;
	pthread_mutex_unlock(&rl->mu);
	return n;
}
