/*
 * The ingest spool (see spool.h for the contract). Durability rests on two sqlite facts, quoted from
 * https://www.sqlite.org/pragma.html#pragma_synchronous:
 *
 *   "WAL mode is always consistent with synchronous=NORMAL, but WAL mode does lose durability. A
 *    transaction committed in WAL mode with synchronous=NORMAL might roll back following a power loss
 *    or system crash. Transactions are durable across application crashes regardless of the
 *    synchronous setting or journal mode."
 *
 *   "In WAL mode when synchronous is NORMAL (1), the WAL file is synchronized before each checkpoint
 *    and the database file is synchronized after each completed checkpoint [...] but no sync
 *    operations occur during most transactions. With synchronous=FULL in WAL mode, an additional sync
 *    operation of the WAL file happens after each transaction commit."
 *
 * So a commit under NORMAL is a write(2) into the -wal file: once it returns the bytes are in the
 * kernel's page cache and a SIGKILL cannot take them back; only the kernel or the power can. FULL adds
 * an fsync per commit and closes that gap.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/spool.h"
#include "core/buf.h"
#include "core/tsk.h"

#define BODY_VERSION 1
#define BODY_VERSION_RAW 2  /* format 1, then the message as received: topic, payload */
#define BODY_VERSION_ARCH 3 /* format 2, then what the archive needs: msg_key, message time, device_id */
#define F_UNIT   0x01
#define F_SITE   0x02
#define F_ASSET  0x04
#define F_LABELS 0x08

/* The log normally cycles through ~1000 frames (4 MB). If a long read held a checkpoint back and it
 * grew past this, it is truncated back to this size when it restarts, instead of keeping its peak. */
#define WAL_SIZE_LIMIT (64 * 1024 * 1024)

struct tsk_spool {
	struct tsk_spool_counters c;
	struct tsk_spool_opts o;
	char *path, *wal_path, *shm_path;
	int fd;                         /* holds the flock(2) for the life of the handle */
	dev_t dev;                      /* the file's identity, for the registry below */
	ino_t ino;
	struct tsk_spool *next;         /* in the registry, once fd is open */
	pthread_mutex_t wmu, rmu;
	sqlite3 *w;                     /* write connection, under wmu */
	sqlite3_stmt *ins_msg, *del_msg, *del_range, *begin, *commit, *rollback;
	sqlite3_stmt *ins_dead, *purge_dead;    /* on d */
	int64_t next_id;                /* under wmu */
	struct tsk_buf wbuf;            /* encoding buffer, under wmu */
	sqlite3 *r;                     /* read connection, under rmu */
	sqlite3_stmt *peek, *oldest, *dead_n, *dead_reasons, *dead_list;
	/* The dead letters live in a file of their own (dead_path, "<spool>.dead"), opened with sqlite's
	 * default VFS in WAL mode so that other processes (tsk-ingest dead, dead purge) may read and purge
	 * it while this one runs; the spool file itself stays exclusive. Under dmu. */
	char *dead_path;
	pthread_mutex_t dmu;
	sqlite3 *d;
	sqlite3_stmt *dead_count;
	int dead_only;                  /* tsk_spool_dead_open: only the dead letters, no spool */
};

/* ---- small helpers ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

/* CRC-32 (IEEE 802.3, as zlib's crc32), continuing from crc. */
static uint32_t
crc32_update(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *b = p;

	crc = ~crc;
	while (n-- > 0)
		crc = crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void
put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint32_t
get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
cnt_add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static void
cnt_sub(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_sub_explicit(c, v, memory_order_relaxed);
}

static uint64_t
cnt_get(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static char *
path_with(const char *path, const char *suffix)
{
	size_t n = strlen(path) + strlen(suffix) + 1;
	char *s = malloc(n);

	if (s != NULL)
		snprintf(s, n, "%s%s", path, suffix);
	return s;
}

/* Maps an sqlite failure to a status: a busy database is worth retrying, a full disk is back-pressure
 * like the cap, anything else is a failure. Call before sqlite3_reset, which can change the message. */
static int
sqlerr(const struct tsk_spool *sp, sqlite3 *db, int rc, const char *what, char *err, size_t errlen)
{
	int st = TSK_EFAIL;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		st = TSK_ETEMP;
		break;
	case SQLITE_FULL:
		st = TSK_EFULL;
		break;
	}
	return tsk_seterr(err, errlen, st, "spool %s: %s: %s", sp->path, what, sqlite3_errmsg(db));
}

/* ---- body encoding ---- */

static int
buf_str(struct tsk_buf *b, const char *s)
{
	size_t n = strlen(s);

	return tsk_buf_varint(b, n) != 0 || tsk_buf_add(b, s, n) != 0 ? -1 : 0;
}

static int
buf_u64(struct tsk_buf *b, uint64_t v)
{
	unsigned char t[8];

	put_le64(t, v);
	return tsk_buf_add(b, t, 8);
}

static int
labels_out(const char *s, size_t n, void *data)
{
	return tsk_buf_add(data, s, n);
}

static uint32_t
row_crc(int64_t id, int64_t received_us, const char *tenant, size_t tlen, const unsigned char *payload,
    size_t plen)
{
	unsigned char h[16];
	uint32_t c;

	put_le64(h, (uint64_t)id);
	put_le64(h + 8, (uint64_t)received_us);
	c = crc32_update(0, h, sizeof h);
	c = crc32_update(c, tenant, tlen);
	c = crc32_update(c, "", 1);
	return crc32_update(c, payload, plen);
}

/* Labels: a 4-byte length, patched after jansson has written the compact JSON. */
static int
encode_labels(struct tsk_buf *b, json_t *labels)
{
	size_t at = b->len;
	uint32_t n;

	if (tsk_buf_reserve(b, 4) != 0)
		return -1;
	b->len += 4;
	if (json_dump_callback(labels, labels_out, b, JSON_COMPACT) != 0)
		return -1;
	if (b->len - at - 4 > UINT32_MAX)
		return -1;
	n = (uint32_t)(b->len - at - 4);
	for (int i = 0; i < 4; i++)
		b->p[at + i] = (char)(unsigned char)(n >> (8 * i));
	return 0;
}

static int
encode_reading(struct tsk_buf *b, const char *tenant, const struct tsk_reading *r)
{
	unsigned char flags = 0;
	uint64_t bits;
	int has_labels = r->labels != NULL && json_object_size(r->labels) > 0;

	/* A reading of the message's own tenant stores "", so the tenant is written once per row. */
	const char *t = r->tenant == NULL || strcmp(r->tenant, tenant) == 0 ? "" : r->tenant;

	memcpy(&bits, &r->value, sizeof bits);
	flags |= r->unit != NULL ? F_UNIT : 0;
	flags |= r->site != NULL ? F_SITE : 0;
	flags |= r->asset_tag != NULL ? F_ASSET : 0;
	flags |= has_labels ? F_LABELS : 0;
	if (buf_str(b, t) || buf_str(b, r->device_id) || buf_str(b, r->sensor_id) ||
	    buf_u64(b, (uint64_t)r->ts_us) || buf_u64(b, bits) || tsk_buf_add(b, &flags, 1))
		return -1;
	if ((r->unit != NULL && buf_str(b, r->unit)) || (r->site != NULL && buf_str(b, r->site)) ||
	    (r->asset_tag != NULL && buf_str(b, r->asset_tag)))
		return -1;
	if (has_labels && encode_labels(b, r->labels) != 0)
		return -1;
	return 0;
}

static int
encode_msg(const struct tsk_spool *sp, struct tsk_buf *b, int64_t id, const struct tsk_spool_msg *m, char *err,
    size_t errlen)
{
	unsigned char ver = BODY_VERSION, crc[4];
	uint32_t c;

	if (m->tenant == NULL || *m->tenant == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "spool %s: a message needs a tenant", sp->path);
	if (m->archive && m->topic == NULL)
		return tsk_seterr(err, errlen, TSK_EINVAL, "spool %s: a message to archive needs its topic", sp->path);
	if (!m->archive && (m->n == 0 || m->r == NULL))
		return tsk_seterr(err, errlen, TSK_EINVAL, "spool %s: a message needs at least one reading",
		    sp->path);
	for (size_t i = 0; i < m->n; i++) {
		const struct tsk_reading *r = &m->r[i];
		if (r->device_id == NULL || *r->device_id == '\0' || r->sensor_id == NULL ||
		    *r->sensor_id == '\0')
			return tsk_seterr(err, errlen, TSK_EINVAL, "spool %s: reading %zu has no %s", sp->path,
			    i, r->device_id == NULL || *r->device_id == '\0' ? "device_id" : "sensor_id");
		if (r->labels != NULL && !json_is_object(r->labels))
			return tsk_seterr(err, errlen, TSK_EINVAL, "spool %s: reading %zu: labels is not an object",
			    sp->path, i);
		if (r->tenant != NULL && *r->tenant == '\0')
			return tsk_seterr(err, errlen, TSK_EINVAL, "spool %s: reading %zu has an empty tenant",
			    sp->path, i);
	}
	if (m->topic != NULL)
		ver = m->archive ? BODY_VERSION_ARCH : BODY_VERSION_RAW;
	tsk_buf_reset(b);
	if (tsk_buf_add(b, &ver, 1) != 0 || tsk_buf_varint(b, m->n) != 0)
		goto oom;
	for (size_t i = 0; i < m->n; i++)
		if (encode_reading(b, m->tenant, &m->r[i]) != 0)
			goto oom;
	if (m->topic != NULL && (buf_str(b, m->topic) != 0 || tsk_buf_varint(b, m->raw_len) != 0 ||
	    (m->raw_len > 0 && tsk_buf_add(b, m->raw, m->raw_len) != 0)))
		goto oom;
	if (ver == BODY_VERSION_ARCH) {
		unsigned char has_dev = m->device_id != NULL;
		if (buf_u64(b, (uint64_t)m->key) || buf_u64(b, (uint64_t)m->ts_us) || tsk_buf_add(b, &has_dev, 1) ||
		    (has_dev && buf_str(b, m->device_id)))
			goto oom;
	}
	c = row_crc(id, m->received_us, m->tenant, strlen(m->tenant), (const unsigned char *)b->p, b->len);
	for (int i = 0; i < 4; i++)
		crc[i] = (unsigned char)(c >> (8 * i));
	if (tsk_buf_add(b, crc, 4) != 0)
		goto oom;
	return TSK_OK;
oom:
	return tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: out of memory encoding a message", sp->path);
}

/* ---- body decoding ---- */

struct rd {
	const unsigned char *p, *e;
};

static int
rd_varint(struct rd *d, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (d->p >= d->e)
			return -1;
		unsigned char c = *d->p++;
		*v |= (uint64_t)(c & 0x7f) << shift;
		if ((c & 0x80) == 0)
			return 0;
	}
	return -1;
}

static int
rd_bytes(struct rd *d, size_t n, const unsigned char **out)
{
	if ((size_t)(d->e - d->p) < n)
		return -1;
	*out = d->p;
	d->p += n;
	return 0;
}

static int
rd_u64(struct rd *d, uint64_t *v)
{
	const unsigned char *p;

	if (rd_bytes(d, 8, &p) != 0)
		return -1;
	*v = get_le64(p);
	return 0;
}

/* A length-prefixed string, copied into a new C string. */
static int
rd_str(struct rd *d, char **out)
{
	const unsigned char *p;
	uint64_t n;

	*out = NULL;
	if (rd_varint(d, &n) != 0 || n > (uint64_t)(d->e - d->p) || rd_bytes(d, (size_t)n, &p) != 0)
		return -1;
	if ((*out = malloc((size_t)n + 1)) == NULL)
		return -1;
	memcpy(*out, p, (size_t)n);
	(*out)[n] = '\0';
	return 0;
}

/* Verifies a row against its checksum and header; NULL when sound, else what is wrong. */
static const char *
check_row(int64_t id, const char *tenant, int64_t received_us, int64_t n, const unsigned char *body,
    size_t len)
{
	struct rd d;
	uint64_t count;
	uint32_t stored;

	if (tenant == NULL)
		return "no tenant";
	if (body == NULL || len < 6)
		return "body too short";
	stored = (uint32_t)body[len - 4] | (uint32_t)body[len - 3] << 8 | (uint32_t)body[len - 2] << 16 |
	    (uint32_t)body[len - 1] << 24;
	if (row_crc(id, received_us, tenant, strlen(tenant), body, len - 4) != stored)
		return "checksum mismatch";
	if (body[0] != BODY_VERSION && body[0] != BODY_VERSION_RAW && body[0] != BODY_VERSION_ARCH)
		return "unknown body format";
	d.p = body + 1;
	d.e = body + len - 4;
	/* Only a message kept for the archive may have no reading. */
	if (rd_varint(&d, &count) != 0 || n < (body[0] == BODY_VERSION_ARCH ? 0 : 1) || count != (uint64_t)n)
		return "reading count does not match the body";
	return NULL;
}

static int
decode_reading(struct rd *d, const char *tenant, struct tsk_reading *r)
{
	const unsigned char *p, *flags;
	uint64_t ts, bits;
	char *t;

	memset(r, 0, sizeof *r);
	if (rd_str(d, &t) != 0)
		goto bad;
	if (*t == '\0') {
		free(t);
		t = strdup(tenant);
	}
	r->tenant = t;
	if (r->tenant == NULL || rd_str(d, &r->device_id) != 0 || rd_str(d, &r->sensor_id) != 0 ||
	    rd_u64(d, &ts) != 0 || rd_u64(d, &bits) != 0 || rd_bytes(d, 1, &flags) != 0)
		goto bad;
	r->ts_us = (int64_t)ts;
	memcpy(&r->value, &bits, sizeof bits);
	if (((*flags & F_UNIT) && rd_str(d, &r->unit) != 0) || ((*flags & F_SITE) && rd_str(d, &r->site) != 0) ||
	    ((*flags & F_ASSET) && rd_str(d, &r->asset_tag) != 0))
		goto bad;
	if (*flags & F_LABELS) {
		uint32_t n;
		if (rd_bytes(d, 4, &p) != 0)
			goto bad;
		n = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		if (rd_bytes(d, n, &p) != 0)
			goto bad;
		/* JSON_ALLOW_NUL: jansson wrote a "\u0000" inside a label as such; read it back the same. */
		r->labels = json_loadb((const char *)p, n, JSON_ALLOW_NUL, NULL);
		if (!json_is_object(r->labels))
			goto bad;
	} else if ((r->labels = json_object()) == NULL) {
		goto bad;
	}
	return 0;
bad:
	tsk_reading_free(r);
	return -1;
}

/* Appends the row's readings and its entry to the batch; on failure the batch keeps what it had. */
static int
decode_row(struct tsk_spool_batch *b, int64_t id, const char *tenant, int64_t received_us,
    const unsigned char *body, size_t len)
{
	struct tsk_spool_entry *e;
	struct tsk_reading r;
	struct rd d = { body + 1, body + len - 4 };
	size_t first = b->readings.n;
	uint64_t count;

	if (b->nmsg == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		e = realloc(b->msg, cap * sizeof *e);
		if (e == NULL)
			return -1;
		b->msg = e;
		b->cap = cap;
	}
	e = &b->msg[b->nmsg];
	e->topic = NULL;
	e->raw = NULL;
	e->raw_len = 0;
	e->archive = 0;
	e->key = e->ts_us = 0;
	e->device_id = NULL;
	if (rd_varint(&d, &count) != 0)
		return -1;
	for (uint64_t i = 0; i < count; i++) {
		if (decode_reading(&d, tenant, &r) != 0)
			goto undo;
		if (tsk_readings_push(&b->readings, &r) != 0) {
			tsk_reading_free(&r);
			goto undo;
		}
	}
	if (body[0] == BODY_VERSION_RAW || body[0] == BODY_VERSION_ARCH) {
		const unsigned char *p;
		uint64_t n;
		if (rd_str(&d, &e->topic) != 0 || rd_varint(&d, &n) != 0 || rd_bytes(&d, (size_t)n, &p) != 0 ||
		    (e->raw = malloc(n > 0 ? (size_t)n : 1)) == NULL)
			goto undo;
		memcpy(e->raw, p, (size_t)n);
		e->raw_len = (size_t)n;
	}
	if (body[0] == BODY_VERSION_ARCH) {
		const unsigned char *has_dev;
		uint64_t key, ts;
		if (rd_u64(&d, &key) != 0 || rd_u64(&d, &ts) != 0 || rd_bytes(&d, 1, &has_dev) != 0 ||
		    (*has_dev && rd_str(&d, &e->device_id) != 0))
			goto undo;
		e->archive = 1;
		e->key = (int64_t)key;
		e->ts_us = (int64_t)ts;
	}
	if (d.p != d.e)
		goto undo;
	if ((e->tenant = strdup(tenant)) == NULL)
		goto undo;
	e->id = id;
	e->received_us = received_us;
	e->first = first;
	e->n = (size_t)count;
	e->bytes = len;
	b->nmsg++;
	return 0;
undo:
	free(e->topic);
	free(e->raw);
	free(e->device_id);
	e->topic = NULL;
	e->raw = NULL;
	e->device_id = NULL;
	while (b->readings.n > first)
		tsk_reading_free(&b->readings.v[--b->readings.n]);
	return -1;
}

/* ---- opening ---- */

static int
prep(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

/* Runs a statement that returns one integer (a PRAGMA or a count). */
static int
query_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int64(st, 0);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_ERROR;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * Spools open in this process. POSIX (fcntl) locks belong to the process and inode, and close(2) of
 * ANY descriptor of the file drops all of them; sqlite keeps such locks on the database file while a
 * connection is open. A second open of a file this process already has must therefore fail before it
 * opens a descriptor, or its close() would strip the first handle's locks and let another process
 * checkpoint and delete the log under it.
 */
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tsk_spool *registry;

static int
registered(dev_t dev, ino_t ino)
{
	for (struct tsk_spool *p = registry; p != NULL; p = p->next)
		if (p->dev == dev && p->ino == ino)
			return 1;
	return 0;
}

static int
lock_file_locked(struct tsk_spool *sp, char *err, size_t errlen)
{
	int flags = O_RDWR | O_CLOEXEC | (sp->o.must_exist ? 0 : O_CREAT);
	struct stat st;

	if (stat(sp->path, &st) == 0 && registered(st.st_dev, st.st_ino))
		return tsk_seterr(err, errlen, TSK_ETEMP, "spool %s: already open in this process", sp->path);
	/* 0600: the spool holds every tenant's readings. sqlite gives -wal and -shm the same mode. */
	if ((sp->fd = open(sp->path, flags, 0600)) < 0) {
		if (errno == ENOENT && sp->o.must_exist)
			return tsk_seterr(err, errlen, TSK_ENOTFOUND, "spool %s: no such file", sp->path);
		return tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: %s", sp->path, strerror(errno));
	}
	if (fstat(sp->fd, &st) != 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: %s", sp->path, strerror(errno));
	sp->dev = st.st_dev;
	sp->ino = st.st_ino;
	sp->next = registry;
	registry = sp;
	/* flock, not fcntl: a flock belongs to this descriptor alone, so no other close() can drop it. It
	 * is held until after sqlite has closed the file. */
	if (flock(sp->fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			return tsk_seterr(err, errlen, TSK_ETEMP, "spool %s: in use by another process", sp->path);
		return tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: flock: %s", sp->path, strerror(errno));
	}
	return TSK_OK;
}

static int
lock_file(struct tsk_spool *sp, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&registry_mu);
	rc = lock_file_locked(sp, err, errlen);
	pthread_mutex_unlock(&registry_mu);
	return rc;
}

/* Closes the descriptor (and so the flock) and leaves the registry, as one step. */
static void
unlock_file(struct tsk_spool *sp)
{
	pthread_mutex_lock(&registry_mu);
	if (sp->fd >= 0)
		close(sp->fd);
	sp->fd = -1;
	for (struct tsk_spool **pp = &registry; *pp != NULL; pp = &(*pp)->next)
		if (*pp == sp) {
			*pp = sp->next;
			break;
		}
	pthread_mutex_unlock(&registry_mu);
}

/*
 * Looks at the raw file before sqlite does, for what sqlite would not call an error: a short read past
 * the end of the file is zero-filled by its unix VFS, so a truncated file can pass for a valid one
 * with missing rows. When the -wal log holds data, sqlite replays it and the database file alone
 * proves nothing (a checkpoint may have been cut short); quick_check and the row checksums judge then.
 */
static int
precheck(struct tsk_spool *sp, int *is_new, char *err, size_t errlen)
{
	struct stat st, wst;
	unsigned char h[100];
	uint32_t psize, npages;
	int have_wal;

	if (fstat(sp->fd, &st) != 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: %s", sp->path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: not a regular file", sp->path);
	have_wal = stat(sp->wal_path, &wst) == 0 && wst.st_size > 0;
	if (st.st_size == 0) {
		/* sqlite deletes the log of a zero-length database: never let it. */
		if (have_wal)
			return tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: the file is empty but %s holds %lld "
			    "bytes; refusing to open it (sqlite would discard the log): move both aside",
			    sp->path, sp->wal_path, (long long)wst.st_size);
		*is_new = 1;
		return TSK_OK;
	}
	if (st.st_size < (off_t)sizeof h || pread(sp->fd, h, sizeof h, 0) != (ssize_t)sizeof h)
		return tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: truncated: %lld bytes is shorter than an "
		    "sqlite header; left untouched", sp->path, (long long)st.st_size);
	if (memcmp(h, "SQLite format 3", 16) != 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: not an sqlite3 database (no sqlite header); "
		    "left untouched", sp->path);
	psize = (uint32_t)h[16] << 8 | h[17];
	if (psize == 1)
		psize = 65536;
	if (psize < 512 || psize > 65536 || (psize & (psize - 1)) != 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: corrupt header (page size %u); left "
		    "untouched", sp->path, psize);
	if (have_wal)
		return TSK_OK;
	if (st.st_size % psize != 0)
		return tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: torn or truncated: %lld bytes is not a whole "
		    "number of %u-byte pages; left untouched", sp->path, (long long)st.st_size, psize);
	npages = get_be32(h + 28);
	/* The header's page count is valid only when its change counter matches (file format docs). */
	if (npages != 0 && get_be32(h + 24) == get_be32(h + 92) && (uint64_t)st.st_size < (uint64_t)npages * psize)
		return tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: truncated: the header says %u pages "
		    "(%llu bytes) but the file has %lld; left untouched", sp->path, npages,
		    (unsigned long long)npages * psize, (long long)st.st_size);
	return TSK_OK;
}

static int
open_conn(struct tsk_spool *sp, sqlite3 **db, char *err, size_t errlen)
{
	/*
	 * NOMUTEX: each connection is only ever used under its own mutex in this file.
	 * "unix-excl": the unix VFS, except that the process takes one exclusive POSIX lock on the file and
	 * keeps the WAL index in its own memory instead of the -shm file, so connections of this process
	 * lock each other in memory. The default VFS makes six fcntl(2) calls per autocommit transaction;
	 * this one none, which measured 25 -> 15 us of CPU per put and about twice the puts/s. It fits
	 * because only one process may use a spool anyway (the flock above); an sqlite3 shell opening the
	 * file meanwhile gets "database is locked" instead of checkpointing the log from under us.
	 */
	int rc = sqlite3_open_v2(sp->path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, "unix-excl");

	if (rc != SQLITE_OK) {
		tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: %s", sp->path,
		    *db != NULL ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
		return TSK_EFAIL;
	}
	sqlite3_extended_result_codes(*db, 1);
	/* Until the file has passed its checks nothing may write to it, not even the checkpoint sqlite
	 * runs when the last connection closes. */
	sqlite3_db_config(*db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	sqlite3_busy_timeout(*db, sp->o.busy_timeout_ms);
	return TSK_OK;
}

/* Is this our spool, a database the first open left without a schema, or something else? */
static int
identify(struct tsk_spool *sp, int *is_new, char *err, size_t errlen)
{
	int64_t appid, version, nobj;
	int rc;

	if ((rc = query_int(sp->w, "PRAGMA application_id", &appid)) != SQLITE_OK ||
	    (rc = query_int(sp->w, "PRAGMA user_version", &version)) != SQLITE_OK ||
	    (rc = query_int(sp->w, "SELECT count(*) FROM sqlite_master", &nobj)) != SQLITE_OK)
		return tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: unreadable: %s; left untouched", sp->path,
		    sqlite3_errmsg(sp->w));
	if (appid == 0 && version == 0 && nobj == 0) {
		*is_new = 1;
		return TSK_OK;
	}
	if (appid != TSK_SPOOL_APPLICATION_ID)
		return tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: not a TrakSense spool (application_id "
		    "0x%08" PRIx32 ", %lld schema objects); left untouched", sp->path, (uint32_t)appid,
		    (long long)nobj);
	if (version != TSK_SPOOL_SCHEMA_VERSION)
		return tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: schema version %lld, this build handles "
		    "version %d%s; left untouched", sp->path, (long long)version, TSK_SPOOL_SCHEMA_VERSION,
		    version > TSK_SPOOL_SCHEMA_VERSION ? " (written by a newer tsk)" : "");
	return TSK_OK;
}

/* Appends one row of sqlite's check output to why, as part of one line: "; " between problems,
 * newlines folded the same way, sqlite's "*** in database main ***" banner dropped. */
static void
append_line(char *why, size_t size, const char *text)
{
	static const char banner[] = "*** in database main ***";
	size_t n = strlen(why);

	for (const char *p = text; *p != '\0' && n + 3 < size; p++) {
		if (strncmp(p, banner, sizeof banner - 1) == 0) {
			p += sizeof banner - 2;
		} else if (*p == '\n' || *p == '\r') {
			if (n > 0 && why[n - 1] != ' ')
				n += (size_t)snprintf(why + n, size - n, "; ");
		} else {
			why[n++] = *p;
			why[n] = '\0';
		}
	}
	if (n > 0 && why[n - 1] != ' ' && n + 3 < size)
		snprintf(why + n, size - n, "; ");
}

static int
check_integrity(struct tsk_spool *sp, char *err, size_t errlen)
{
	const char *name = sp->o.full_check ? "integrity_check" : "quick_check";
	char sql[40], why[TSK_ERRLEN] = "";
	sqlite3_stmt *st = NULL;
	int rc, status = TSK_OK;
	size_t n;

	/* Up to 4 problems are enough to report; the check stops there instead of walking on. */
	snprintf(sql, sizeof sql, "PRAGMA %s(4)", name);
	if ((rc = sqlite3_prepare_v2(sp->w, sql, -1, &st, NULL)) == SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *line = (const char *)sqlite3_column_text(st, 0);
			if (line == NULL || strcmp(line, "ok") != 0)
				append_line(why, sizeof why, line != NULL ? line : "?");
		}
	}
	n = strlen(why);
	if (n >= 2 && strcmp(why + n - 2, "; ") == 0)
		why[n - 2] = '\0';
	if (rc != SQLITE_DONE)
		status = tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: corrupt (%s fails: %s); left untouched: "
		    "move it aside (with its -wal file) and salvage what it holds with `sqlite3 FILE .dump`", sp->path, name,
		    sqlite3_errmsg(sp->w));
	else if (why[0] != '\0')
		status = tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: corrupt (%s: %s); left untouched: move it "
		    "aside (with its -wal file) and salvage what it holds with `sqlite3 FILE .dump`", sp->path, name, why);
	sqlite3_finalize(st);
	return status;
}

static int
create_schema(struct tsk_spool *sp, char *err, size_t errlen)
{
	static const char sql[] =
	    "BEGIN IMMEDIATE;"
	    "CREATE TABLE msg(id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, received_us INTEGER NOT NULL,"
	    " n INTEGER NOT NULL, body BLOB NOT NULL);"
	    "CREATE TABLE dead(id INTEGER PRIMARY KEY, received_us INTEGER NOT NULL, reason TEXT NOT NULL,"
	    " detail TEXT, source TEXT, body BLOB);"
	    "PRAGMA application_id = 1414744915;" /* TSK_SPOOL_APPLICATION_ID */
	    "PRAGMA user_version = 1;"            /* TSK_SPOOL_SCHEMA_VERSION */
	    "COMMIT;";
	int rc;

	_Static_assert(TSK_SPOOL_APPLICATION_ID == 1414744915 && TSK_SPOOL_SCHEMA_VERSION == 1,
	    "the schema SQL spells these out");
	if ((rc = sqlite3_exec(sp->w, sql, NULL, NULL, NULL)) != SQLITE_OK) {
		int st = sqlerr(sp, sp->w, rc, "creating the schema", err, errlen);
		sqlite3_exec(sp->w, "ROLLBACK", NULL, NULL, NULL);
		return st;
	}
	return TSK_OK;
}

static int
configure(struct tsk_spool *sp, char *err, size_t errlen)
{
	char sql[128];
	sqlite3_stmt *st = NULL;
	int rc, wal = 0;

	/* On a new file only (a no-op afterwards): 4 KiB, the filesystem's block. Each commit appends one
	 * frame of this size to the log; 1 KiB pages halved the bytes written per put but cost more CPU
	 * (tests/bench/spool), and a message of many readings would spill into overflow pages. */
	sqlite3_exec(sp->w, "PRAGMA page_size=4096", NULL, NULL, NULL);
	/* The spool is created in, and stays in, WAL mode: this is a no-op on an existing spool. */
	if ((rc = sqlite3_prepare_v2(sp->w, "PRAGMA journal_mode=WAL", -1, &st, NULL)) == SQLITE_OK &&
	    (rc = sqlite3_step(st)) == SQLITE_ROW)
		wal = sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
	if (!wal) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: cannot use WAL mode: %s", sp->path,
		    rc == SQLITE_ROW ? "the filesystem does not support it" : sqlite3_errmsg(sp->w));
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	/* The checkpoint runs in the committing thread, every ~1000 frames (~1000 single-message puts):
	 * that put takes 10-50 ms (the fsyncs of the log and the database) instead of ~20 us. A 4000-frame
	 * interval measured no faster overall and made the pause longer. */
	snprintf(sql, sizeof sql, "PRAGMA synchronous=%s; PRAGMA journal_size_limit=%d; PRAGMA wal_autocheckpoint=1000;",
	    sp->o.sync_full ? "FULL" : "NORMAL", WAL_SIZE_LIMIT);
	if ((rc = sqlite3_exec(sp->w, sql, NULL, NULL, NULL)) != SQLITE_OK)
		return sqlerr(sp, sp->w, rc, "configuring", err, errlen);
	return TSK_OK;
}

static int
prepare_all(struct tsk_spool *sp, char *err, size_t errlen)
{
	const struct {
		sqlite3 **db;
		sqlite3_stmt **st;
		const char *sql;
	} q[] = {
		{ &sp->w, &sp->ins_msg, "INSERT INTO msg(id, tenant, received_us, n, body) VALUES(?1, ?2, ?3, ?4, ?5)" },
		{ &sp->w, &sp->del_msg, "DELETE FROM msg WHERE id = ?1" },
		{ &sp->w, &sp->del_range, "DELETE FROM msg WHERE id BETWEEN ?1 AND ?2" },
		/* IMMEDIATE takes the write lock up front, so the busy handler applies, not a deadlock. */
		{ &sp->w, &sp->begin, "BEGIN IMMEDIATE" },
		{ &sp->w, &sp->commit, "COMMIT" },
		{ &sp->w, &sp->rollback, "ROLLBACK" },
		{ &sp->r, &sp->peek, "SELECT id, tenant, received_us, n, body FROM msg ORDER BY id LIMIT ?1" },
		{ &sp->r, &sp->oldest, "SELECT received_us FROM msg ORDER BY id LIMIT 1" },
	};

	for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
		if (*q[i].db != NULL && *q[i].st == NULL && prep(*q[i].db, q[i].sql, q[i].st) != SQLITE_OK)
			return tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: damaged schema (%s); left untouched",
			    sp->path, sqlite3_errmsg(*q[i].db));
	return TSK_OK;
}

/* Reads every row once: verifies each checksum, and sets the exact depth and the next id. The I/O is
 * the same quick_check just did; the CRC is what catches a changed byte inside a row's payload. */
static int
load_depth(struct tsk_spool *sp, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	uint64_t msgs = 0, readings = 0, bytes = 0;
	int64_t last = 0;
	int rc, status = TSK_OK;

	rc = sqlite3_prepare_v2(sp->w, "SELECT id, tenant, received_us, n, body FROM msg ORDER BY id", -1, &st,
	    NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), n = sqlite3_column_int64(st, 3);
		const unsigned char *body = sqlite3_column_blob(st, 4);
		size_t len = (size_t)sqlite3_column_bytes(st, 4);
		/* A row whose checksum fails is counted like the others: peek quarantines it as a dead letter
		 * when the flusher reaches it, and the rest of the spool flows on. */
		if (check_row(id, (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 2), n, body,
		    len) != NULL)
			cnt_add(&sp->c.corrupt_seen, 1);
		msgs++;
		readings += (uint64_t)n;
		bytes += len;
		last = id;
		rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE) {
		status = tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: corrupt: reading messages: %s; left "
		    "untouched", sp->path, sqlite3_errmsg(sp->w));
		goto done;
	}
	atomic_store(&sp->c.depth_msgs, msgs);
	atomic_store(&sp->c.depth_readings, readings);
	atomic_store(&sp->c.depth_bytes, bytes);
	sp->next_id = last + 1;
done:
	sqlite3_finalize(st);
	return status;
}

static void
finalize_all(struct tsk_spool *sp)
{
	sqlite3_stmt **all[] = { &sp->ins_msg, &sp->del_msg, &sp->del_range, &sp->ins_dead, &sp->purge_dead, &sp->begin,
		&sp->commit, &sp->rollback, &sp->peek, &sp->oldest, &sp->dead_n, &sp->dead_reasons,
		&sp->dead_list, &sp->dead_count };

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		sqlite3_finalize(*all[i]);
		*all[i] = NULL;
	}
}

/* Closes everything. On a failed open, also removes the -wal and -shm files sqlite created while
 * reading, when they did not exist before and hold nothing. */
static void
release(struct tsk_spool *sp, int had_wal, int had_shm)
{
	struct stat st;

	finalize_all(sp);
	sqlite3_close(sp->d);
	sqlite3_close(sp->r);
	sqlite3_close(sp->w);
	free(sp->dead_path);
	pthread_mutex_destroy(&sp->dmu);
	if (sp->dead_only) {
		pthread_mutex_destroy(&sp->wmu);
		pthread_mutex_destroy(&sp->rmu);
		free(sp->path);
		free(sp);
		return;
	}
	if (had_wal == 0 && stat(sp->wal_path, &st) == 0 && st.st_size == 0)
		unlink(sp->wal_path);
	if (had_shm == 0)
		unlink(sp->shm_path);
	/* Only now: closing a descriptor of the file would drop sqlite's fcntl locks while it held any. */
	unlock_file(sp);
	pthread_mutex_destroy(&sp->wmu);
	pthread_mutex_destroy(&sp->rmu);
	tsk_buf_free(&sp->wbuf);
	free(sp->path);
	free(sp->wal_path);
	free(sp->shm_path);
	free(sp);
}

/* ---- the dead-letter file ---- */

#define DEAD_APPLICATION_ID 0x54534B44 /* "TSKD" */

static int
dead_err(struct tsk_spool *sp, int rc, const char *what, char *err, size_t errlen)
{
	int st = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ? TSK_ETEMP :
	    (rc & 0xff) == SQLITE_FULL ? TSK_EFULL : TSK_EFAIL;

	return tsk_seterr(err, errlen, st, "dead letters %s: %s: %s", sp->dead_path, what,
	    sp->d != NULL ? sqlite3_errmsg(sp->d) : sqlite3_errstr(rc));
}

/* Re-reads the number of dead letters (another process may have purged some). Under dmu. */
static int
dead_recount(struct tsk_spool *sp, char *err, size_t errlen)
{
	int rc = sqlite3_step(sp->dead_count), st = TSK_OK;

	if (rc == SQLITE_ROW)
		atomic_store(&sp->c.depth_dead, (uint64_t)sqlite3_column_int64(sp->dead_count, 0));
	else
		st = dead_err(sp, rc, "counting", err, errlen);
	sqlite3_reset(sp->dead_count);
	return st;
}

/* Opens (create: or creates, mode 0600) the dead-letter file, in WAL mode, shared with other processes. */
static int
dead_open(struct tsk_spool *sp, int create, char *err, size_t errlen)
{
	static const char schema[] =
	    "CREATE TABLE IF NOT EXISTS dead(id INTEGER PRIMARY KEY, received_us INTEGER NOT NULL,"
	    " reason TEXT NOT NULL, detail TEXT, source TEXT, body BLOB)";
	const struct {
		sqlite3_stmt **st;
		const char *sql;
	} q[] = {
		{ &sp->ins_dead, "INSERT INTO dead(received_us, reason, detail, source, body) VALUES(?1, ?2, ?3, ?4, ?5)" },
		{ &sp->purge_dead, "DELETE FROM dead WHERE id <= ?1" },
		{ &sp->dead_n, "SELECT count(*) FROM dead WHERE reason = ?1" },
		{ &sp->dead_count, "SELECT count(*) FROM dead" },
		{ &sp->dead_reasons, "SELECT reason, count(*) FROM dead GROUP BY reason ORDER BY 2 DESC, 1" },
		{ &sp->dead_list, "SELECT id, received_us, reason, detail, source, body FROM dead "
		    "WHERE id > ?1 AND (?2 IS NULL OR reason = ?2) ORDER BY id LIMIT ?3" },
	};
	int64_t appid = 0;
	int rc, fd;

	if (create && (fd = open(sp->dead_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) >= 0)
		close(fd);
	rc = sqlite3_open_v2(sp->dead_path, &sp->d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		if (!create && access(sp->dead_path, F_OK) != 0)
			return tsk_seterr(err, errlen, TSK_ENOTFOUND, "dead letters %s: no such file", sp->dead_path);
		return dead_err(sp, rc, "opening", err, errlen);
	}
	sqlite3_extended_result_codes(sp->d, 1);
	sqlite3_busy_timeout(sp->d, sp->o.busy_timeout_ms);
	if ((rc = query_int(sp->d, "PRAGMA application_id", &appid)) != SQLITE_OK)
		return dead_err(sp, rc, "reading", err, errlen);
	if (appid != 0 && appid != DEAD_APPLICATION_ID)
		return tsk_seterr(err, errlen, TSK_EFAIL, "dead letters %s: not a TrakSense dead-letter file "
		    "(application_id 0x%08" PRIx32 "); left untouched", sp->dead_path, (uint32_t)appid);
	if (appid == 0 && (rc = sqlite3_exec(sp->d, "PRAGMA journal_mode=WAL; PRAGMA application_id = 1414744900;",
	    NULL, NULL, NULL)) != SQLITE_OK)
		return dead_err(sp, rc, "configuring", err, errlen);
	_Static_assert(DEAD_APPLICATION_ID == 1414744900, "the SQL spells it out");
	if ((rc = sqlite3_exec(sp->d, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_exec(sp->d, schema, NULL, NULL, NULL)) != SQLITE_OK)
		return dead_err(sp, rc, "configuring", err, errlen);
	for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
		if ((rc = prep(sp->d, q[i].sql, q[i].st)) != SQLITE_OK)
			return dead_err(sp, rc, "preparing", err, errlen);
	return dead_recount(sp, err, errlen);
}

/* A spool written before the dead letters had their own file keeps them in its `dead` table: they are
 * copied over (one transaction), then deleted from the spool. A crash in between leaves them in both,
 * and the next open copies them again: duplicates, never a loss. */
static int
dead_migrate(struct tsk_spool *sp, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int64_t n = 0;
	int rc, status = TSK_OK;

	if (query_int(sp->w, "SELECT count(*) FROM dead", &n) != SQLITE_OK || n == 0)
		return TSK_OK;
	if ((rc = sqlite3_exec(sp->d, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
		return dead_err(sp, rc, "moving the spool's dead letters", err, errlen);
	rc = sqlite3_prepare_v2(sp->w, "SELECT received_us, reason, detail, source, body FROM dead ORDER BY id", -1, &st,
	    NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < 5; i++)
			sqlite3_bind_value(sp->ins_dead, i + 1, sqlite3_column_value(st, i));
		rc = sqlite3_step(sp->ins_dead);
		sqlite3_reset(sp->ins_dead);
		sqlite3_clear_bindings(sp->ins_dead);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		status = dead_err(sp, rc, "moving the spool's dead letters", err, errlen);
		sqlite3_exec(sp->d, "ROLLBACK", NULL, NULL, NULL);
		return status;
	}
	if ((rc = sqlite3_exec(sp->d, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
		return dead_err(sp, rc, "moving the spool's dead letters", err, errlen);
	if ((rc = sqlite3_exec(sp->w, "DELETE FROM dead", NULL, NULL, NULL)) != SQLITE_OK)
		return sqlerr(sp, sp->w, rc, "moving the dead letters out", err, errlen);
	return dead_recount(sp, err, errlen);
}

int
tsk_spool_dead_open(const char *spool_path, const struct tsk_spool_opts *opts, struct tsk_spool **out, char *err,
    size_t errlen)
{
	struct tsk_spool *sp;
	int rc;

	*out = NULL;
	if (spool_path == NULL || *spool_path == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "spool: no file name");
	if ((sp = calloc(1, sizeof *sp)) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	sp->fd = -1;
	sp->dead_only = 1;
	pthread_mutex_init(&sp->wmu, NULL);
	pthread_mutex_init(&sp->rmu, NULL);
	pthread_mutex_init(&sp->dmu, NULL);
	if (opts != NULL)
		sp->o = *opts;
	if (sp->o.busy_timeout_ms <= 0)
		sp->o.busy_timeout_ms = 5000;
	if ((sp->path = strdup(spool_path)) == NULL || (sp->dead_path = path_with(spool_path, ".dead")) == NULL) {
		release(sp, 1, 1);
		return tsk_seterr(err, errlen, TSK_EFAIL, "out of memory");
	}
	if ((rc = dead_open(sp, 0, err, errlen)) != TSK_OK) {
		release(sp, 1, 1);
		return rc;
	}
	*out = sp;
	return TSK_OK;
}

int
tsk_spool_open(const char *path, const struct tsk_spool_opts *opts, struct tsk_spool **out, char *err,
    size_t errlen)
{
	struct tsk_spool *sp;
	int rc, is_new = 0, had_wal = -1, had_shm = -1;

	*out = NULL;
	pthread_once(&crc_once, crc_init);
	if (path == NULL || *path == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "spool: no file name");
	if ((sp = calloc(1, sizeof *sp)) == NULL)
		return tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: out of memory", path);
	sp->fd = -1;
	pthread_mutex_init(&sp->wmu, NULL);
	pthread_mutex_init(&sp->rmu, NULL);
	pthread_mutex_init(&sp->dmu, NULL);
	if (opts != NULL)
		sp->o = *opts;
	if (sp->o.busy_timeout_ms <= 0)
		sp->o.busy_timeout_ms = 5000;
	sp->path = strdup(path);
	sp->wal_path = path_with(path, "-wal");
	sp->shm_path = path_with(path, "-shm");
	sp->dead_path = path_with(path, ".dead");
	if (sp->path == NULL || sp->wal_path == NULL || sp->shm_path == NULL || sp->dead_path == NULL) {
		rc = tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: out of memory", path);
		goto fail;
	}
	if ((rc = lock_file(sp, err, errlen)) != TSK_OK)
		goto fail;
	had_wal = access(sp->wal_path, F_OK) == 0;
	had_shm = access(sp->shm_path, F_OK) == 0;
	if ((rc = precheck(sp, &is_new, err, errlen)) != TSK_OK ||
	    (rc = open_conn(sp, &sp->w, err, errlen)) != TSK_OK)
		goto fail;
	if (!is_new && (rc = identify(sp, &is_new, err, errlen)) != TSK_OK)
		goto fail;
	/* Every check reads only; the first write is configure() or create_schema(). */
	if (is_new) {
		if ((rc = configure(sp, err, errlen)) != TSK_OK || (rc = create_schema(sp, err, errlen)) != TSK_OK)
			goto fail;
	} else if ((rc = check_integrity(sp, err, errlen)) != TSK_OK) {
		goto fail;
	}
	if ((rc = prepare_all(sp, err, errlen)) != TSK_OK || (rc = load_depth(sp, err, errlen)) != TSK_OK ||
	    (rc = configure(sp, err, errlen)) != TSK_OK)
		goto fail;
	/* The file is sound: from here a clean close may checkpoint and remove the log as usual. */
	sqlite3_db_config(sp->w, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
	if ((rc = open_conn(sp, &sp->r, err, errlen)) != TSK_OK)
		goto fail;
	if (sqlite3_exec(sp->r, "PRAGMA query_only=1", NULL, NULL, NULL) != SQLITE_OK) {
		rc = sqlerr(sp, sp->r, SQLITE_ERROR, "configuring the reader", err, errlen);
		goto fail;
	}
	if ((rc = prepare_all(sp, err, errlen)) != TSK_OK)
		goto fail;
	/* Last: a spool that fails its checks leaves no dead-letter file behind. */
	if ((rc = dead_open(sp, 1, err, errlen)) != TSK_OK || (rc = dead_migrate(sp, err, errlen)) != TSK_OK)
		goto fail;
	*out = sp;
	return TSK_OK;
fail:
	release(sp, had_wal, had_shm);
	return rc;
}

void
tsk_spool_close(struct tsk_spool *sp)
{
	if (sp != NULL)
		release(sp, 1, 1);
}

/* ---- appending ---- */

/* Refuses what would take the spool past a cap; an empty spool takes one message of any size. */
static int
over_cap(const struct tsk_spool *sp, uint64_t msgs, uint64_t bytes, size_t add)
{
	if (msgs == 0)
		return 0;
	return (sp->o.max_msgs != 0 && msgs + 1 > sp->o.max_msgs) ||
	    (sp->o.max_bytes != 0 && bytes + add > sp->o.max_bytes);
}

/* Encodes and inserts one message under wmu; msgs and bytes are the depth it would join. *capped says
 * the cap refused it (a full disk is TSK_EFULL too, but not capped). */
static int
insert_one(struct tsk_spool *sp, const struct tsk_spool_msg *m, uint64_t msgs, uint64_t bytes, int *capped,
    char *err, size_t errlen)
{
	int rc, st;

	*capped = 0;
	if ((st = encode_msg(sp, &sp->wbuf, sp->next_id, m, err, errlen)) != TSK_OK)
		return st;
	if ((*capped = over_cap(sp, msgs, bytes, sp->wbuf.len)) != 0)
		return tsk_seterr(err, errlen, TSK_EFULL, "spool %s: full (%llu messages, %llu bytes; cap %llu "
		    "messages, %llu bytes)", sp->path, (unsigned long long)msgs, (unsigned long long)bytes,
		    (unsigned long long)sp->o.max_msgs, (unsigned long long)sp->o.max_bytes);
	sqlite3_bind_int64(sp->ins_msg, 1, sp->next_id);
	sqlite3_bind_text(sp->ins_msg, 2, m->tenant, -1, SQLITE_STATIC);
	sqlite3_bind_int64(sp->ins_msg, 3, m->received_us);
	sqlite3_bind_int64(sp->ins_msg, 4, (sqlite3_int64)m->n);
	sqlite3_bind_blob64(sp->ins_msg, 5, sp->wbuf.p, sp->wbuf.len, SQLITE_STATIC);
	rc = sqlite3_step(sp->ins_msg);
	st = rc == SQLITE_DONE ? TSK_OK : sqlerr(sp, sp->w, rc, "storing a message", err, errlen);
	sqlite3_reset(sp->ins_msg);
	if (st == TSK_OK)
		sp->next_id++;
	return st;
}

int
tsk_spool_put(struct tsk_spool *sp, const char *tenant, const struct tsk_reading *r, size_t n,
    int64_t received_us, char *err, size_t errlen)
{
	struct tsk_spool_msg m = { .tenant = tenant, .r = r, .n = n, .received_us = received_us };

	return tsk_spool_put_msg(sp, &m, err, errlen);
}

int
tsk_spool_put_msg(struct tsk_spool *sp, const struct tsk_spool_msg *mp, char *err, size_t errlen)
{
	struct tsk_spool_msg m = *mp;
	size_t n = m.n;
	uint64_t readings = 0;
	size_t len;
	int st, capped;

	pthread_mutex_lock(&sp->wmu);
	/* Autocommit: the INSERT is its own transaction, committed when sqlite3_step returns. */
	st = insert_one(sp, &m, cnt_get(&sp->c.depth_msgs), cnt_get(&sp->c.depth_bytes), &capped, err, errlen);
	len = sp->wbuf.len;
	if (st == TSK_OK) {
		readings = n;
		cnt_add(&sp->c.depth_msgs, 1);
		cnt_add(&sp->c.depth_readings, readings);
		cnt_add(&sp->c.depth_bytes, len);
	}
	pthread_mutex_unlock(&sp->wmu);
	if (st == TSK_OK) {
		cnt_add(&sp->c.put_msgs, 1);
		cnt_add(&sp->c.put_readings, readings);
		cnt_add(&sp->c.put_bytes, len);
	} else if (st == TSK_EFULL) {
		cnt_add(&sp->c.put_full, 1);
	} else {
		cnt_add(&sp->c.put_errors, 1);
	}
	return st;
}

static int
step_simple(struct tsk_spool *sp, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
	int rc = sqlite3_step(st), status = TSK_OK;

	if (rc != SQLITE_DONE)
		status = sqlerr(sp, sp->w, rc, what, err, errlen);
	sqlite3_reset(st);
	return status;
}

int
tsk_spool_put_batch(struct tsk_spool *sp, const struct tsk_spool_msg *m, size_t n, size_t *done, char *err,
    size_t errlen)
{
	uint64_t msgs, bytes, bytes0, readings = 0;
	size_t i = 0;
	int st, capped = 0;

	*done = 0;
	if (n == 0)
		return TSK_OK;
	pthread_mutex_lock(&sp->wmu);
	msgs = cnt_get(&sp->c.depth_msgs);
	bytes = bytes0 = cnt_get(&sp->c.depth_bytes);
	st = step_simple(sp, sp->begin, "beginning a batch", err, errlen);
	for (i = 0; st == TSK_OK && i < n; i++) {
		st = insert_one(sp, &m[i], msgs, bytes, &capped, err, errlen);
		if (capped)
			break;  /* the cap, not the disk: commit the prefix */
		msgs++;
		bytes += sp->wbuf.len;
		readings += m[i].n;
	}
	if (st == TSK_OK || capped)
		st = step_simple(sp, sp->commit, "committing a batch", err, errlen);
	if (st != TSK_OK) {
		/* A failed statement may already have ended the transaction. */
		if (sqlite3_get_autocommit(sp->w) == 0)
			step_simple(sp, sp->rollback, "rolling back", NULL, 0);
		cnt_add(st == TSK_EFULL ? &sp->c.put_full : &sp->c.put_errors, n);
	} else {
		*done = i;
		cnt_add(&sp->c.depth_msgs, i);
		cnt_add(&sp->c.depth_readings, readings);
		cnt_add(&sp->c.depth_bytes, bytes - bytes0);
		cnt_add(&sp->c.put_msgs, i);
		cnt_add(&sp->c.put_readings, readings);
		cnt_add(&sp->c.put_bytes, bytes - bytes0);
		if (capped) {
			cnt_add(&sp->c.put_full, n - i);
			st = tsk_seterr(err, errlen, TSK_EFULL, "spool %s: full: stored %zu of %zu messages", sp->path,
			    i, n);
		}
	}
	pthread_mutex_unlock(&sp->wmu);
	return st;
}

/* ---- draining ---- */

void
tsk_spool_batch_init(struct tsk_spool_batch *b)
{
	memset(b, 0, sizeof *b);
}

void
tsk_spool_batch_clear(struct tsk_spool_batch *b)
{
	for (size_t i = 0; i < b->nmsg; i++) {
		free(b->msg[i].tenant);
		free(b->msg[i].topic);
		free(b->msg[i].raw);
		free(b->msg[i].device_id);
	}
	b->nmsg = 0;
	tsk_readings_clear(&b->readings);
}

void
tsk_spool_batch_free(struct tsk_spool_batch *b)
{
	tsk_spool_batch_clear(b);
	free(b->msg);
	tsk_readings_free(&b->readings);
	tsk_spool_batch_init(b);
}

static void
bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	if (s != NULL)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* Inserts one dead letter (the caller holds dmu) and counts it. TSK_OK or the failure, with `what`. */
static int
insert_dead(struct tsk_spool *sp, int64_t received_us, const char *reason, const char *detail, const char *source,
    const void *body, size_t len, const char *what, char *err, size_t errlen)
{
	int rc, st = TSK_OK;

	sqlite3_bind_int64(sp->ins_dead, 1, received_us);
	bind_text_or_null(sp->ins_dead, 2, reason);
	bind_text_or_null(sp->ins_dead, 3, detail);
	bind_text_or_null(sp->ins_dead, 4, source);
	if (body != NULL)
		sqlite3_bind_blob64(sp->ins_dead, 5, body, len, SQLITE_STATIC);
	else
		sqlite3_bind_null(sp->ins_dead, 5);
	rc = sqlite3_step(sp->ins_dead);
	if (rc != SQLITE_DONE)
		st = dead_err(sp, rc, what, err, errlen);
	sqlite3_reset(sp->ins_dead);
	sqlite3_clear_bindings(sp->ins_dead);
	if (st == TSK_OK) {
		cnt_add(&sp->c.depth_dead, 1);
		cnt_add(&sp->c.dead_put, 1);
	}
	return st;
}

/* Moves a message row whose checksum fails into the dead letters: its bytes as the body (the tenant
 * column as the source), the reason TSK_SPOOL_QUARANTINE_REASON; then deletes it from msg. Not subject
 * to max_dead: these bytes exist nowhere else. Called with rmu held (takes dmu, then wmu). */
static int
quarantine(struct tsk_spool *sp, int64_t id, const char *tenant, int64_t received_us, int64_t n,
    const unsigned char *body, size_t len, const char *why, char *err, size_t errlen)
{
	char detail[256];
	int st = TSK_OK;

	snprintf(detail, sizeof detail, "spool message %lld: %s; the body is the row's stored bytes", (long long)id, why);
	/* First the copy (committed in the dead-letter file), then the delete: a crash in between leaves
	 * the row to be quarantined again, never lost. */
	pthread_mutex_lock(&sp->dmu);
	st = insert_dead(sp, received_us, TSK_SPOOL_QUARANTINE_REASON, detail, tenant, body, len,
	    "quarantining a corrupt message", err, errlen);
	pthread_mutex_unlock(&sp->dmu);
	if (st != TSK_OK)
		return st;
	pthread_mutex_lock(&sp->wmu);
	sqlite3_bind_int64(sp->del_msg, 1, id);
	st = step_simple(sp, sp->del_msg, "quarantining a corrupt message", err, errlen);
	if (st == TSK_OK && sqlite3_changes(sp->w) == 1) {
		cnt_sub(&sp->c.depth_msgs, 1);
		cnt_sub(&sp->c.depth_readings, (uint64_t)n);
		cnt_sub(&sp->c.depth_bytes, len);
		cnt_add(&sp->c.quarantined, 1);
	}
	pthread_mutex_unlock(&sp->wmu);
	return st;
}

int
tsk_spool_peek(struct tsk_spool *sp, size_t max_msgs, size_t max_readings, struct tsk_spool_batch *b,
    char *err, size_t errlen)
{
	int rc, st = TSK_OK;

	tsk_spool_batch_clear(b);
	if (max_msgs == 0)
		return tsk_seterr(err, errlen, TSK_EINVAL, "spool %s: peek of 0 messages", sp->path);
	pthread_mutex_lock(&sp->rmu);
	sqlite3_bind_int64(sp->peek, 1, max_msgs > INT64_MAX ? INT64_MAX : (sqlite3_int64)max_msgs);
	while ((rc = sqlite3_step(sp->peek)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(sp->peek, 0), n = sqlite3_column_int64(sp->peek, 3);
		int64_t received_us = sqlite3_column_int64(sp->peek, 2);
		const char *tenant = (const char *)sqlite3_column_text(sp->peek, 1);
		const unsigned char *body = sqlite3_column_blob(sp->peek, 4);
		size_t len = (size_t)sqlite3_column_bytes(sp->peek, 4);
		const char *why;

		if (max_readings != 0 && b->nmsg > 0 && b->readings.n + (uint64_t)n > max_readings)
			break;
		why = check_row(id, tenant, received_us, n, body, len);
		if (why != NULL) {
			/* Its bytes go to the dead letters, the row leaves the spool, the batch goes on: one bad
			 * row must not hold back every message behind it. */
			if ((st = quarantine(sp, id, tenant, received_us, n, body, len, why, err, errlen)) != TSK_OK)
				break;
			continue;
		}
		if (decode_row(b, id, tenant, received_us, body, len) != 0)
			why = "undecodable body (or out of memory)";
		if (why != NULL) {
			st = tsk_seterr(err, errlen, TSK_EFAIL, "spool %s: corrupt: message %lld: %s", sp->path,
			    (long long)id, why);
			break;
		}
	}
	if (st == TSK_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
		st = sqlerr(sp, sp->r, rc, "reading messages", err, errlen);
	/* Reset now: a statement left open pins its read snapshot, and a checkpoint cannot move past it. */
	sqlite3_reset(sp->peek);
	pthread_mutex_unlock(&sp->rmu);
	if (st != TSK_OK)
		tsk_spool_batch_clear(b);
	else
		cnt_add(&sp->c.peek_msgs, b->nmsg);
	return st;
}

/* Deletes b->msg[from .. to) in one transaction, under wmu. */
static int
ack_chunk(struct tsk_spool *sp, const struct tsk_spool_batch *b, size_t from, size_t to, char *err, size_t errlen)
{
	uint64_t msgs = 0, readings = 0, bytes = 0;
	int rc, st;

	pthread_mutex_lock(&sp->wmu);
	if ((st = step_simple(sp, sp->begin, "beginning an ack", err, errlen)) != TSK_OK)
		goto rollback;
	/* One statement for the chunk when its ids run without a gap (the usual case: ids are handed out
	 * in order and peek reads in id order). It counts only when it removed exactly the chunk's rows;
	 * otherwise (some already gone) it is undone and the rows are deleted one by one. */
	if (b->msg[to - 1].id - b->msg[from].id == (int64_t)(to - from - 1)) {
		sqlite3_bind_int64(sp->del_range, 1, b->msg[from].id);
		sqlite3_bind_int64(sp->del_range, 2, b->msg[to - 1].id);
		rc = sqlite3_step(sp->del_range);
		sqlite3_reset(sp->del_range);
		if (rc != SQLITE_DONE) {
			st = sqlerr(sp, sp->w, rc, "deleting acked messages", err, errlen);
			goto rollback;
		}
		if (sqlite3_changes(sp->w) == (int)(to - from)) {
			for (size_t i = from; i < to; i++) {
				readings += b->msg[i].n;
				bytes += b->msg[i].bytes;
			}
			msgs = to - from;
			goto commit;
		}
		/* Undo it: restart the transaction for the row-by-row path. */
		if ((st = step_simple(sp, sp->rollback, "rolling back", err, errlen)) != TSK_OK ||
		    (st = step_simple(sp, sp->begin, "beginning an ack", err, errlen)) != TSK_OK)
			goto rollback;
	}
	for (size_t i = from; i < to; i++) {
		sqlite3_bind_int64(sp->del_msg, 1, b->msg[i].id);
		rc = sqlite3_step(sp->del_msg);
		if (rc != SQLITE_DONE) {
			st = sqlerr(sp, sp->w, rc, "deleting acked messages", err, errlen);
			sqlite3_reset(sp->del_msg);
			goto rollback;
		}
		/* A row already gone changes nothing and counts nothing. */
		if (sqlite3_changes(sp->w) == 1) {
			msgs++;
			readings += b->msg[i].n;
			bytes += b->msg[i].bytes;
		}
		sqlite3_reset(sp->del_msg);
	}
commit:
	if ((st = step_simple(sp, sp->commit, "committing an ack", err, errlen)) != TSK_OK)
		goto rollback;
	cnt_sub(&sp->c.depth_msgs, msgs);
	cnt_sub(&sp->c.depth_readings, readings);
	cnt_sub(&sp->c.depth_bytes, bytes);
	cnt_add(&sp->c.ack_msgs, msgs);
	cnt_add(&sp->c.ack_readings, readings);
	pthread_mutex_unlock(&sp->wmu);
	return TSK_OK;
rollback:
	if (sqlite3_get_autocommit(sp->w) == 0)
		step_simple(sp, sp->rollback, "rolling back", NULL, 0);
	pthread_mutex_unlock(&sp->wmu);
	return st;
}

/*
 * In transactions of ACK_CHUNK ids, releasing the write mutex in between: one transaction for a batch
 * of 5000 held puts back for 100+ ms (tests/bench/spool). Splitting is safe because the rows are
 * already committed downstream: a crash between two chunks replays the rest of the batch, exactly as a
 * crash before the ack would.
 */
#define ACK_CHUNK 256

int
tsk_spool_ack(struct tsk_spool *sp, struct tsk_spool_batch *b, char *err, size_t errlen)
{
	int st;

	for (size_t i = 0; i < b->nmsg; i += ACK_CHUNK) {
		size_t to = b->nmsg - i > ACK_CHUNK ? i + ACK_CHUNK : b->nmsg;
		if ((st = ack_chunk(sp, b, i, to, err, errlen)) != TSK_OK)
			return st;      /* the batch stays: acking it again is harmless */
	}
	tsk_spool_batch_clear(b);
	return TSK_OK;
}

/* ---- dead letters ---- */

int
tsk_spool_dead_put(struct tsk_spool *sp, int64_t received_us, const char *reason, const char *detail,
    const char *source, const void *body, size_t len, char *err, size_t errlen)
{
	int st = TSK_OK;

	if (reason == NULL || *reason == '\0')
		return tsk_seterr(err, errlen, TSK_EINVAL, "spool %s: a dead letter needs a reason", sp->path);
	pthread_mutex_lock(&sp->dmu);
	/* At the cap, count again: another process (tsk-ingest dead purge) may have made room. */
	if (sp->o.max_dead != 0 && cnt_get(&sp->c.depth_dead) >= sp->o.max_dead &&
	    (dead_recount(sp, err, errlen) != TSK_OK || cnt_get(&sp->c.depth_dead) >= sp->o.max_dead)) {
		st = tsk_seterr(err, errlen, TSK_EFULL, "spool %s: dead letters full (%llu)", sp->path,
		    (unsigned long long)sp->o.max_dead);
		goto out;
	}
	st = insert_dead(sp, received_us, reason, detail, source, body, len, "storing a dead letter", err, errlen);
out:
	if (st == TSK_EFULL)
		cnt_add(&sp->c.dead_full, 1);
	pthread_mutex_unlock(&sp->dmu);
	return st;
}

int
tsk_spool_dead_count(struct tsk_spool *sp, const char *reason, uint64_t *n, char *err, size_t errlen)
{
	int rc, st = TSK_OK;

	pthread_mutex_lock(&sp->dmu);
	if (reason == NULL) {
		st = dead_recount(sp, err, errlen);
		*n = cnt_get(&sp->c.depth_dead);
		pthread_mutex_unlock(&sp->dmu);
		return st;
	}
	sqlite3_bind_text(sp->dead_n, 1, reason, -1, SQLITE_STATIC);
	rc = sqlite3_step(sp->dead_n);
	if (rc == SQLITE_ROW)
		*n = (uint64_t)sqlite3_column_int64(sp->dead_n, 0);
	else
		st = dead_err(sp, rc, "counting dead letters", err, errlen);
	sqlite3_reset(sp->dead_n);
	pthread_mutex_unlock(&sp->dmu);
	return st;
}

int
tsk_spool_dead_reasons(struct tsk_spool *sp, int (*cb)(void *arg, const char *reason, uint64_t n), void *arg,
    char *err, size_t errlen)
{
	int rc, st = TSK_OK;

	pthread_mutex_lock(&sp->dmu);
	while ((rc = sqlite3_step(sp->dead_reasons)) == SQLITE_ROW)
		if ((st = cb(arg, (const char *)sqlite3_column_text(sp->dead_reasons, 0),
		    (uint64_t)sqlite3_column_int64(sp->dead_reasons, 1))) != 0)
			break;
	if (st == TSK_OK && rc != SQLITE_DONE)
		st = dead_err(sp, rc, "counting dead letters", err, errlen);
	sqlite3_reset(sp->dead_reasons);
	pthread_mutex_unlock(&sp->dmu);
	return st;
}

int
tsk_spool_dead_list(struct tsk_spool *sp, const char *reason, int64_t after_id, size_t max,
    int (*cb)(void *arg, const struct tsk_spool_dead *d), void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *q = sp->dead_list;
	int rc, st = TSK_OK;

	pthread_mutex_lock(&sp->dmu);
	sqlite3_bind_int64(q, 1, after_id);
	bind_text_or_null(q, 2, reason);
	sqlite3_bind_int64(q, 3, max == 0 || max > INT64_MAX ? -1 : (sqlite3_int64)max);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct tsk_spool_dead d = {
			.id = sqlite3_column_int64(q, 0),
			.received_us = sqlite3_column_int64(q, 1),
			.reason = (const char *)sqlite3_column_text(q, 2),
			.detail = (const char *)sqlite3_column_text(q, 3),
			.source = (const char *)sqlite3_column_text(q, 4),
			.body = sqlite3_column_blob(q, 5),
			.len = (size_t)sqlite3_column_bytes(q, 5),
		};
		if ((st = cb(arg, &d)) != 0)
			break;
	}
	if (st == TSK_OK && rc != SQLITE_DONE)
		st = dead_err(sp, rc, "listing dead letters", err, errlen);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	pthread_mutex_unlock(&sp->dmu);
	return st;
}

int
tsk_spool_dead_purge(struct tsk_spool *sp, int64_t upto_id, uint64_t *deleted, char *err, size_t errlen)
{
	int rc, st = TSK_OK;
	uint64_t n = 0;

	pthread_mutex_lock(&sp->dmu);
	sqlite3_bind_int64(sp->purge_dead, 1, upto_id);
	rc = sqlite3_step(sp->purge_dead);
	if (rc == SQLITE_DONE)
		n = (uint64_t)sqlite3_changes64(sp->d);
	else
		st = dead_err(sp, rc, "purging dead letters", err, errlen);
	sqlite3_reset(sp->purge_dead);
	if (st == TSK_OK)
		dead_recount(sp, NULL, 0);
	pthread_mutex_unlock(&sp->dmu);
	if (deleted != NULL)
		*deleted = n;
	return st;
}

/* ---- observing ---- */

int
tsk_spool_stats(struct tsk_spool *sp, struct tsk_spool_stats *st, char *err, size_t errlen)
{
	struct stat fs;
	int rc, status = TSK_OK;

	memset(st, 0, sizeof *st);
	if (sp->dead_only) {
		pthread_mutex_lock(&sp->dmu);
		status = dead_recount(sp, err, errlen);
		pthread_mutex_unlock(&sp->dmu);
		st->dead = cnt_get(&sp->c.depth_dead);
		return status;
	}
	pthread_mutex_lock(&sp->rmu);
	rc = sqlite3_step(sp->oldest);
	if (rc == SQLITE_ROW)
		st->oldest_us = sqlite3_column_int64(sp->oldest, 0);
	else if (rc != SQLITE_DONE)
		status = sqlerr(sp, sp->r, rc, "reading the oldest message", err, errlen);
	sqlite3_reset(sp->oldest);
	pthread_mutex_unlock(&sp->rmu);
	st->msgs = cnt_get(&sp->c.depth_msgs);
	st->readings = cnt_get(&sp->c.depth_readings);
	st->bytes = cnt_get(&sp->c.depth_bytes);
	pthread_mutex_lock(&sp->dmu);
	if (status == TSK_OK)
		status = dead_recount(sp, err, errlen);
	pthread_mutex_unlock(&sp->dmu);
	st->dead = cnt_get(&sp->c.depth_dead);
	if (fstat(sp->fd, &fs) == 0)
		st->file_bytes = (uint64_t)fs.st_size;
	if (stat(sp->wal_path, &fs) == 0)
		st->wal_bytes = (uint64_t)fs.st_size;
	return status;
}

const struct tsk_spool_counters *
tsk_spool_counters(const struct tsk_spool *sp)
{
	return &sp->c;
}
