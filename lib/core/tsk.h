/* Status codes shared by every libtsk module, and the exit codes the tools map them to. */
#ifndef TSK_H
#define TSK_H

#include <stddef.h>

/* Library return values: 0 is success, negative values say what kind of failure it was. */
enum tsk_status {
	TSK_OK = 0,
	TSK_EFAIL = -1,     /* permanent failure (bad SQL, constraint, I/O) */
	TSK_ETEMP = -2,     /* temporary: the database or broker is down; retrying later can work */
	TSK_EINVAL = -3,    /* bad input from the user */
	TSK_ENOTFOUND = -4, /* the named thing does not exist */
	TSK_EEXIST = -5,    /* the named thing exists already */
	TSK_EFULL = -6      /* a bounded store (the spool) is full */
};

/* Exit codes, documented in tsk(7). */
enum tsk_exit {
	TSK_EXIT_OK = 0,
	TSK_EXIT_FAIL = 1,
	TSK_EXIT_USAGE = 2,   /* bad arguments or input; nothing was changed */
	TSK_EXIT_PARTIAL = 3, /* some input was rejected, the rest was processed */
	TSK_EXIT_TEMP = 75    /* EX_TEMPFAIL: try again later (cron and systemd retry) */
};

#define TSK_ERRLEN 512

/* The longest tenant slug (a PostgreSQL identifier: 63 bytes). A slug buffer holds TSK_SLUG_MAX + 1. */
#define TSK_SLUG_MAX 63

/* Map a library status to the tool's exit code. */
int tsk_exit_code(int status);

/* snprintf into an error buffer; always returns `status` so callers can `return tsk_seterr(...)`. */
int tsk_seterr(char *err, size_t errlen, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
