/*
 * The failed-login limiter: a burst, then one try per refill interval; keys apart; a reset; a clock
 * that goes backwards; bounded memory under a flood of keys; many threads at once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "registry/ratelimit.h"

#define MIN (INT64_C(60) * 1000000)

struct job {
	struct tsk_ratelimit *rl;
	int id, allowed;
};

static void *
worker(void *arg)
{
	struct job *j = arg;
	char key[32];

	/* Every thread hammers the shared key and its own. */
	for (int i = 0; i < 1000; i++) {
		j->allowed += tsk_ratelimit_hit(j->rl, "shared", 0, NULL);
		snprintf(key, sizeof key, "own-%d", j->id);
		tsk_ratelimit_hit(j->rl, key, 0, NULL);
	}
	return NULL;
}

int
main(void)
{
	struct tsk_ratelimit *rl;
	int64_t t = 1000 * MIN, wait = 0;
	int n;

	ok(tsk_ratelimit_new(0, 1, 10) == NULL, "a burst under 1 is refused");
	ok(tsk_ratelimit_new(5, 0, 10) == NULL, "no refill is refused");
	ok(tsk_ratelimit_new(5, 1, 0) == NULL, "no room is refused");

	/* 5 failures at once, then one a minute. */
	rl = tsk_ratelimit_new(5, 1, 1000);
	ok(rl != NULL, "a limiter of 5, one a minute, 1000 keys");
	ok(tsk_ratelimit_check(rl, "alice", t, NULL), "an unknown key may try");
	for (n = 0; n < 10 && tsk_ratelimit_hit(rl, "alice", t, NULL); n++)
		;
	is_int(n, 5, "five failures are taken, the sixth is not");
	ok(!tsk_ratelimit_check(rl, "alice", t, &wait), "alice is limited now");
	ok(wait > 0 && wait <= MIN, "retry after %lld us, at most a minute", (long long)wait);
	ok(tsk_ratelimit_check(rl, "bob", t, NULL), "bob is not");
	ok(!tsk_ratelimit_check(rl, "alice", t + MIN / 2, NULL), "half a minute later still limited");
	ok(tsk_ratelimit_check(rl, "alice", t + MIN, NULL), "a minute later one try");
	ok(tsk_ratelimit_hit(rl, "alice", t + MIN, NULL), "taken");
	ok(!tsk_ratelimit_hit(rl, "alice", t + MIN, &wait) && wait > 0, "and the next is not");
	ok(!tsk_ratelimit_check(rl, "alice", t - 10 * MIN, NULL), "a clock gone backwards gives nothing back");
	is_int(tsk_ratelimit_count(rl, t + MIN), 1, "one key is held");
	ok(tsk_ratelimit_check(rl, "alice", t + 7 * MIN, NULL), "after the refill time alice may try again");
	is_int(tsk_ratelimit_count(rl, t + 7 * MIN), 0, "a full bucket is no entry");
	for (n = 0; n < 5; n++)
		tsk_ratelimit_hit(rl, "carol", t, NULL);
	ok(!tsk_ratelimit_check(rl, "carol", t, NULL), "carol is limited");
	tsk_ratelimit_refund(rl, "carol", t);
	ok(tsk_ratelimit_hit(rl, "carol", t, NULL) && !tsk_ratelimit_check(rl, "carol", t, NULL),
	    "a refund gives back one token");
	{
		size_t before = tsk_ratelimit_count(rl, t);
		for (n = 0; n < 10; n++)
			tsk_ratelimit_refund(rl, "dave", t);
		ok(tsk_ratelimit_count(rl, t) == before, "refunds make no entry for an unknown key");
		for (n = 0; n < 10 && tsk_ratelimit_hit(rl, "dave", t, NULL); n++)
			;
		is_int(n, 5, "nor raise its burst");
	}
	tsk_ratelimit_reset(rl, "carol");
	ok(tsk_ratelimit_check(rl, "carol", t, NULL), "a reset forgets her failures");
	ok(tsk_ratelimit_check(rl, "Carol", t, NULL) && tsk_ratelimit_check(rl, "carol ", t, NULL),
	    "keys are exact (the caller folds case)");
	tsk_ratelimit_free(rl);

	/* Bounded memory: a flood of keys evicts the oldest, never grows the table. */
	rl = tsk_ratelimit_new(3, 1, 64);
	ok(tsk_ratelimit_capacity(rl) == 64, "64 slots");
	for (n = 0; n < 3; n++)
		tsk_ratelimit_hit(rl, "victim", t, NULL);
	ok(!tsk_ratelimit_check(rl, "victim", t, NULL), "victim is limited");
	for (n = 0; n < 100000; n++) {
		char key[32];
		snprintf(key, sizeof key, "flood-%d", n);
		tsk_ratelimit_hit(rl, key, t + 1 + n, NULL);
	}
	ok(tsk_ratelimit_count(rl, t + 100001) <= 64, "after 100000 keys at most 64 are held (%zu)",
	    tsk_ratelimit_count(rl, t + 100001));
	ok(tsk_ratelimit_check(rl, "flood-99999", t + 100001, NULL) && tsk_ratelimit_count(rl, t + 100001) > 0,
	    "the newest keys are there");
	tsk_ratelimit_free(rl);

	/* Threads: 8 threads, 1000 failures each on one key with burst 100 and a frozen clock. */
	rl = tsk_ratelimit_new(100, 1, 256);
	{
		pthread_t th[8];
		struct job jobs[8];
		int total = 0;
		for (int i = 0; i < 8; i++) {
			jobs[i] = (struct job){ rl, i, 0 };
			pthread_create(&th[i], NULL, worker, &jobs[i]);
		}
		for (int i = 0; i < 8; i++) {
			pthread_join(th[i], NULL);
			total += jobs[i].allowed;
		}
		is_int(total, 100, "8 threads together got exactly the burst of 100 on the shared key");
		ok(!tsk_ratelimit_check(rl, "own-3", 0, NULL), "each thread's own key is limited too");
	}
	tsk_ratelimit_free(rl);
	tsk_ratelimit_free(NULL);
	return done_testing();
}
