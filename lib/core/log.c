#include <stdio.h>
#include <unistd.h>

#include "core/log.h"

static const char *prog = "tsk";
static int level = TSK_LOG_NORMAL;
static int progress_shown;

void
tsk_log_init(const char *progname, int lvl)
{
	prog = progname;
	level = lvl;
}

const char *
tsk_progname(void)
{
	return prog;
}

int
tsk_log_level(void)
{
	return level;
}

static void
vlog(int min, const char *fmt, va_list ap)
{
	if (level < min)
		return;
	if (progress_shown)
		tsk_progress_done();
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

#define LOGFN(name, min) \
	void name(const char *fmt, ...) \
	{ \
		va_list ap; \
		va_start(ap, fmt); \
		vlog(min, fmt, ap); \
		va_end(ap); \
	}
LOGFN(tsk_err, -100)
LOGFN(tsk_warn, TSK_LOG_NORMAL)
LOGFN(tsk_info, TSK_LOG_VERBOSE)
LOGFN(tsk_debug, TSK_LOG_DEBUG)

void
tsk_progress(const char *fmt, ...)
{
	va_list ap;

	if (level < TSK_LOG_NORMAL || !isatty(STDERR_FILENO))
		return;
	fprintf(stderr, "\r%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\033[K", stderr);
	progress_shown = 1;
}

void
tsk_progress_done(void)
{
	if (progress_shown) {
		fputc('\n', stderr);
		progress_shown = 0;
	}
}
