#include <stdarg.h>
#include <stdio.h>

#include "core/tsk.h"

int
tsk_exit_code(int status)
{
	switch (status) {
	case TSK_OK:
		return TSK_EXIT_OK;
	case TSK_ETEMP:
	case TSK_EFULL:
		return TSK_EXIT_TEMP;
	case TSK_EINVAL:
	case TSK_ENOTFOUND:
	case TSK_EEXIST:
		return TSK_EXIT_USAGE;
	default:
		return TSK_EXIT_FAIL;
	}
}

int
tsk_seterr(char *err, size_t errlen, int status, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return status;
}
