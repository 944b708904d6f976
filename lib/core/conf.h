/*
 * Configuration: command-line flags > environment > configuration file.
 * The file (--config, else $TSK_CONFIG, else /etc/tsk/tsk.conf) holds `key = value` lines; `#` starts a
 * comment. The environment variable for a key is TSK_ plus the key in upper case
 * (database_url → TSK_DATABASE_URL). Keys are listed in tsk.conf(5).
 */
#ifndef TSK_CONF_H
#define TSK_CONF_H

#include <stddef.h>

#define TSK_CONF_DEFAULT_PATH "/etc/tsk/tsk.conf"

struct tsk_conf_kv {
	char *key, *value;
};

struct tsk_conf {
	struct tsk_conf_kv *flags, *file;
	size_t nflags, nfile;
	char *path; /* the file that was read, or NULL */
};

void tsk_conf_init(struct tsk_conf *c);
void tsk_conf_free(struct tsk_conf *c);
/* Reads the file. `path` NULL means $TSK_CONFIG or the default path; only an explicitly named file
 * (argument or $TSK_CONFIG) must exist. TSK_OK, or TSK_EINVAL with "file:line: why". */
int tsk_conf_load(struct tsk_conf *c, const char *path, char *err, size_t errlen);
/* A value given on the command line. */
int tsk_conf_set(struct tsk_conf *c, const char *key, const char *value);
/* flags > environment > file > NULL. */
const char *tsk_conf_get(const struct tsk_conf *c, const char *key);
const char *tsk_conf_get_default(const struct tsk_conf *c, const char *key, const char *def);

/* The libpq connection string: database_url (TSK_DATABASE_URL, or DATABASE_URL for compatibility),
 * else "" so libpq falls back to PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD, PGSERVICE. */
const char *tsk_conf_dsn(const struct tsk_conf *c);
/* The connection string for reads that may be served by a streaming replica: read_dsn (TSK_READ_DSN)
 * when set and --dsn was not given (an explicit --dsn names the one server to use), else
 * tsk_conf_dsn. Writes, and the rollup refresh, always use tsk_conf_dsn. */
const char *tsk_conf_read_dsn(const struct tsk_conf *c);

#endif
