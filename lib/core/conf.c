#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"
#include "core/tsk.h"

void
tsk_conf_init(struct tsk_conf *c)
{
	memset(c, 0, sizeof *c);
}

static void
kv_free(struct tsk_conf_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void
tsk_conf_free(struct tsk_conf *c)
{
	kv_free(c->flags, c->nflags);
	kv_free(c->file, c->nfile);
	free(c->path);
	tsk_conf_init(c);
}

static int
kv_put(struct tsk_conf_kv **kv, size_t *n, const char *key, const char *value)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*kv)[i].key, key) == 0) {
			char *v = strdup(value);
			if (v == NULL)
				return TSK_EFAIL;
			free((*kv)[i].value);
			(*kv)[i].value = v;
			return TSK_OK;
		}
	}
	struct tsk_conf_kv *nkv = realloc(*kv, (*n + 1) * sizeof **kv);
	if (nkv == NULL)
		return TSK_EFAIL;
	*kv = nkv;
	nkv[*n].key = strdup(key);
	nkv[*n].value = strdup(value);
	if (nkv[*n].key == NULL || nkv[*n].value == NULL) {
		free(nkv[*n].key);
		free(nkv[*n].value);
		return TSK_EFAIL;
	}
	(*n)++;
	return TSK_OK;
}

static const char *
kv_get(const struct tsk_conf_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value;
	return NULL;
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int
tsk_conf_load(struct tsk_conf *c, const char *path, char *err, size_t errlen)
{
	int must_exist = 1, rc = TSK_OK;
	char *line = NULL;
	size_t cap = 0;
	long lineno = 0;
	FILE *f;

	if (path == NULL && (path = getenv("TSK_CONFIG")) == NULL) {
		path = TSK_CONF_DEFAULT_PATH;
		must_exist = 0;
	}
	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT && !must_exist)
			return TSK_OK;
		return tsk_seterr(err, errlen, TSK_EINVAL, "%s: %s", path, strerror(errno));
	}
	while (getline(&line, &cap, f) >= 0) {
		char *p = line, *eq, *hash;
		lineno++;
		if ((hash = strchr(p, '#')) != NULL)
			*hash = '\0';
		p = trim(p);
		if (*p == '\0')
			continue;
		if ((eq = strchr(p, '=')) == NULL) {
			rc = tsk_seterr(err, errlen, TSK_EINVAL, "%s:%ld: expected key = value", path, lineno);
			goto out;
		}
		*eq = '\0';
		char *key = trim(p), *val = trim(eq + 1);
		size_t vl = strlen(val);
		if (vl >= 2 && (val[0] == '"' || val[0] == '\'') && val[vl - 1] == val[0]) {
			val[vl - 1] = '\0';
			val++;
		}
		for (char *k = key; *k; k++) {
			if (!isalnum((unsigned char)*k) && *k != '_') {
				rc = tsk_seterr(err, errlen, TSK_EINVAL, "%s:%ld: invalid key \"%s\"", path, lineno, key);
				goto out;
			}
		}
		if (*key == '\0' || kv_put(&c->file, &c->nfile, key, val) != TSK_OK) {
			rc = tsk_seterr(err, errlen, TSK_EINVAL, "%s:%ld: invalid line", path, lineno);
			goto out;
		}
	}
	free(c->path);
	c->path = strdup(path);
out:
	free(line);
	fclose(f);
	return rc;
}

int
tsk_conf_set(struct tsk_conf *c, const char *key, const char *value)
{
	return kv_put(&c->flags, &c->nflags, key, value);
}

const char *
tsk_conf_get(const struct tsk_conf *c, const char *key)
{
	const char *v;
	char env[128] = "TSK_";
	size_t i;

	if ((v = kv_get(c->flags, c->nflags, key)) != NULL)
		return v;
	for (i = 0; key[i] != '\0' && i + 5 < sizeof env; i++)
		env[4 + i] = (char)toupper((unsigned char)key[i]);
	env[4 + i] = '\0';
	if ((v = getenv(env)) != NULL && *v != '\0')
		return v;
	return kv_get(c->file, c->nfile, key);
}

const char *
tsk_conf_get_default(const struct tsk_conf *c, const char *key, const char *def)
{
	const char *v = tsk_conf_get(c, key);
	return v != NULL ? v : def;
}

const char *
tsk_conf_dsn(const struct tsk_conf *c)
{
	const char *v = tsk_conf_get(c, "database_url");

	if (v == NULL && (v = getenv("DATABASE_URL")) != NULL && *v == '\0')
		v = NULL;
	return v != NULL ? v : "";
}

const char *
tsk_conf_read_dsn(const struct tsk_conf *c)
{
	const char *v = tsk_conf_get(c, "read_dsn");

	if (v == NULL || *v == '\0' || kv_get(c->flags, c->nflags, "database_url") != NULL)
		return tsk_conf_dsn(c);
	return v;
}
