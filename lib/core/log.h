/* Logging: one line on stderr, prefixed with the program's name. */
#ifndef TSK_LOG_H
#define TSK_LOG_H

#include <stdarg.h>

enum { TSK_LOG_QUIET = -1, TSK_LOG_NORMAL = 0, TSK_LOG_VERBOSE = 1, TSK_LOG_DEBUG = 2 };

void tsk_log_init(const char *progname, int level);
const char *tsk_progname(void);
int tsk_log_level(void);
void tsk_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));   /* always shown */
void tsk_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* hidden by -q */
void tsk_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* shown with -v */
void tsk_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* shown with -vv */
/* Progress on stderr, only when stderr is a terminal: rewrites one line; tsk_progress_done ends it. */
void tsk_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tsk_progress_done(void);


#endif
