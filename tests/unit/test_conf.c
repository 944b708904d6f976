/* Configuration precedence: flags > environment > file; file syntax errors name file and line. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/conf.h"
#include "tap.h"
#include "core/tsk.h"

int
main(void)
{
	char path[] = "/tmp/tsk-conf-XXXXXX", err[TSK_ERRLEN];
	struct tsk_conf c;
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	fputs("# comment\ndatabase_url = host=filehost dbname=x   # trailing\nformat='table'\nspool = /var/lib/tsk/spool.db\n\n", f);
	fclose(f);
	unsetenv("TSK_DATABASE_URL");
	unsetenv("TSK_FORMAT");
	unsetenv("DATABASE_URL");
	tsk_conf_init(&c);
	ok(tsk_conf_load(&c, path, err, sizeof err) == TSK_OK, "loads the file");
	is_str(tsk_conf_get(&c, "database_url"), "host=filehost dbname=x", "file value, comment stripped");
	is_str(tsk_conf_get(&c, "format"), "table", "quotes removed");
	is_str(tsk_conf_get(&c, "missing"), NULL, "unknown key is NULL");
	is_str(tsk_conf_get_default(&c, "missing", "d"), "d", "default");
	setenv("TSK_DATABASE_URL", "host=envhost", 1);
	is_str(tsk_conf_dsn(&c), "host=envhost", "environment beats the file");
	tsk_conf_set(&c, "database_url", "host=flaghost");
	is_str(tsk_conf_dsn(&c), "host=flaghost", "a flag beats the environment");
	tsk_conf_free(&c);
	unsetenv("TSK_DATABASE_URL");

	/* read_dsn: reads go to it when set; an explicit --dsn names the one server for reads too. */
	tsk_conf_init(&c);
	unsetenv("TSK_READ_DSN");
	setenv("TSK_DATABASE_URL", "host=primary", 1);
	is_str(tsk_conf_read_dsn(&c), "host=primary", "no read_dsn: reads go to database_url");
	setenv("TSK_READ_DSN", "host=replica", 1);
	is_str(tsk_conf_read_dsn(&c), "host=replica", "read_dsn set: reads go to it");
	is_str(tsk_conf_dsn(&c), "host=primary", "and writes still to database_url");
	setenv("TSK_READ_DSN", "", 1);
	is_str(tsk_conf_read_dsn(&c), "host=primary", "an empty read_dsn is unset");
	setenv("TSK_READ_DSN", "host=replica", 1);
	tsk_conf_set(&c, "database_url", "host=flag");
	is_str(tsk_conf_read_dsn(&c), "host=flag", "--dsn beats read_dsn");
	tsk_conf_free(&c);
	unsetenv("TSK_READ_DSN");
	unsetenv("TSK_DATABASE_URL");

	tsk_conf_init(&c);
	setenv("DATABASE_URL", "host=compat", 1);
	is_str(tsk_conf_dsn(&c), "host=compat", "DATABASE_URL is honoured when nothing else is set");
	unsetenv("DATABASE_URL");
	is_str(tsk_conf_dsn(&c), "", "no DSN means libpq's PG* variables");
	ok(tsk_conf_load(&c, "/nonexistent/tsk.conf", err, sizeof err) == TSK_EINVAL, "a named missing file is an error");
	tsk_conf_free(&c);

	f = fopen(path, "w");
	fputs("ok = 1\nthis line is wrong\n", f);
	fclose(f);
	tsk_conf_init(&c);
	ok(tsk_conf_load(&c, path, err, sizeof err) == TSK_EINVAL, "a bad line is rejected");
	ok(strstr(err, ":2:") != NULL, "the error names the line: %s", err);
	tsk_conf_free(&c);
	unlink(path);
	return done_testing();
}
