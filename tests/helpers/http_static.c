/*
 * A static 200 from libmicrohttpd with the flags tsk-httpd uses (internal thread pool, epoll), for the
 * httpd benchmark's baseline: what the HTTP library costs without the daemon's own work.
 *   http_static PORT [THREADS]     runs until SIGTERM or SIGINT
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
    const char *upload_data, size_t *upload_size, void **con_cls)
{
	static const char body[] = "{\"db\":true,\"spool\":true,\"healthy\":true}";
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)cls, (void)url, (void)method, (void)version, (void)upload_data;
	if (*con_cls == NULL) {
		*con_cls = (void *)1;
		return MHD_YES;
	}
	*upload_size = 0;
	r = MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

int
main(int argc, char **argv)
{
	struct MHD_Daemon *d;
	sigset_t s;
	int sig;

	if (argc < 2) {
		fprintf(stderr, "usage: http_static PORT [THREADS]\n");
		return 2;
	}
	sigemptyset(&s);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGINT);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC, (uint16_t)atoi(argv[1]),
	    NULL, NULL, handler, NULL, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(argc > 2 ? atoi(argv[2]) : 4),
	    MHD_OPTION_CONNECTION_LIMIT, 10000u, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "http_static: cannot listen on %s\n", argv[1]);
		return 1;
	}
	sigwait(&s, &sig);
	MHD_stop_daemon(d);
	return 0;
}
