/*
 * The tenant API's meta endpoints (routes in tsk_api_meta_routes; plumbing in api.h), public like
 * drf-spectacular's (anonymous routes):
 *   GET /api/schema/                  the OpenAPI 3.1 document, lib/http/openapi.json compiled in
 *                                     (tests/embed-file.sh); ?format=json is the same, another format 404
 *   GET /api/docs/                    Swagger UI, a page that loads its script and style from
 *   GET /api/redoc/                   ReDoc                       /api/docs/static/ and the document
 *   GET /api/docs/static/{dir}/{file} a file of web_root (the npm packages' files, `make deps`):
 *                                     only DIR/FILE names of letters, digits, '.', '-' and '_' that do
 *                                     not start with '.', only regular files; anything else is 404
 * Nothing is loaded from anywhere else: the pages' Content-Security-Policy allows this host only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/api.h"

/* build/lib/openapi_embed.c */
extern const char tsk_openapi_json[];
extern const size_t tsk_openapi_json_len;

/* A static file larger than this is not served (the largest, swagger-ui-bundle.js, is under 2 MiB). */
#define STATIC_MAX (16 * 1024 * 1024)

/* The pages' policy: scripts, styles, images, fonts, workers and requests from this host only (the inline
 * start-up script of Swagger UI, and ReDoc's worker made from a blob:, are the exceptions). */
static const char csp[] = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'self'";

static const char swagger_page[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>TrakSense API \xe2\x80\x94 Swagger UI</title>\n"
    "<link rel=\"stylesheet\" href=\"/api/docs/static/swagger-ui/swagger-ui.css\">\n"
    "<link rel=\"icon\" type=\"image/png\" href=\"/api/docs/static/swagger-ui/favicon-32x32.png\" sizes=\"32x32\">\n"
    "<link rel=\"icon\" type=\"image/png\" href=\"/api/docs/static/swagger-ui/favicon-16x16.png\" sizes=\"16x16\">\n"
    "</head>\n"
    "<body>\n"
    "<div id=\"swagger-ui\"></div>\n"
    "<script src=\"/api/docs/static/swagger-ui/swagger-ui-bundle.js\"></script>\n"
    "<script>\n"
    "window.ui = SwaggerUIBundle({\n"
    "  url: \"/api/schema/\",\n"
    "  dom_id: \"#swagger-ui\",\n"
    "  deepLinking: true,\n"
    "  presets: [SwaggerUIBundle.presets.apis],\n"
    "  layout: \"BaseLayout\",\n"
    "  validatorUrl: null,\n"
    "  persistAuthorization: false,\n"
    "  withCredentials: true\n"
    "});\n"
    "</script>\n"
    "</body>\n"
    "</html>\n";

static const char redoc_page[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>TrakSense API \xe2\x80\x94 ReDoc</title>\n"
    "<style>body { margin: 0; padding: 0; }</style>\n"
    "</head>\n"
    "<body>\n"
    "<redoc spec-url=\"/api/schema/\"></redoc>\n"
    "<script src=\"/api/docs/static/redoc/redoc.standalone.js\"></script>\n"
    "</body>\n"
    "</html>\n";

/* A copy of n bytes as the answer's body, with its content type (a static string). */
static void
bytes_reply(struct tsk_api_ctx *c, int status, const char *type, const char *p, size_t n)
{
	char *body = malloc(n > 0 ? n : 1);

	if (body == NULL) {
		tsk_api_detail(c, 500, "out of memory");
		return;
	}
	memcpy(body, p, n);
	c->out->status = status;
	c->out->body = body;
	c->out->len = n;
	c->out->content_type = type;
}

static void
get_schema(struct tsk_api_ctx *c)
{
	const char *format = tsk_api_arg(c, "format");

	if (format != NULL && strcmp(format, "json") != 0 && strcmp(format, "openapi-json") != 0) {
		tsk_api_detail(c, 404, "Not found.");
		return;
	}
	bytes_reply(c, 200, "application/vnd.oai.openapi+json", tsk_openapi_json, tsk_openapi_json_len);
}

static void
page(struct tsk_api_ctx *c, const char *html, size_t n)
{
	bytes_reply(c, 200, "text/html; charset=utf-8", html, n);
	if (c->out->status == 200)
		tsk_http_reply_header(c->out, "Content-Security-Policy", csp);
}

static void
get_docs(struct tsk_api_ctx *c)
{
	page(c, swagger_page, sizeof swagger_page - 1);
}

static void
get_redoc(struct tsk_api_ctx *c)
{
	page(c, redoc_page, sizeof redoc_page - 1);
}

/* A name that stays where it is put: letters, digits, '.', '-', '_', not starting with '.'. */
static int
safe_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128 || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		    ch == '-' || ch == '_'))
			return 0;
	}
	return 1;
}

static const char *
content_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".png", "image/png" },
		{ ".svg", "image/svg+xml" },
		{ ".html", "text/html; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".map", "application/json" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".woff2", "font/woff2" },
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot != NULL && i < sizeof types / sizeof types[0]; i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

static void
get_static(struct tsk_api_ctx *c)
{
	const char *root = c->rq->web_root;
	char path[4096];
	struct stat sb;
	char *body = NULL;
	size_t got = 0;
	int fd = -1;

	if (root == NULL || root[0] == '\0' || c->nargs != 2 || !safe_name(c->arg[0]) || !safe_name(c->arg[1]))
		goto not_found;
	if ((size_t)snprintf(path, sizeof path, "%s/%s/%s", root, c->arg[0], c->arg[1]) >= sizeof path)
		goto not_found;
	/* No link is followed at the file itself; the names above cannot climb out of web_root. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0)
		goto not_found;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > STATIC_MAX)
		goto not_found;
	if ((body = malloc(sb.st_size > 0 ? (size_t)sb.st_size : 1)) == NULL) {
		close(fd);
		tsk_api_detail(c, 500, "out of memory");
		return;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t r = read(fd, body + got, (size_t)sb.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	fd = -1;
	if (got != (size_t)sb.st_size) {
		free(body);
		goto not_found;
	}
	c->out->status = 200;
	c->out->body = body;
	c->out->len = got;
	c->out->content_type = content_type(c->arg[1]);
	tsk_http_reply_header(c->out, "X-Content-Type-Options", "nosniff");
	tsk_http_reply_header(c->out, "Cache-Control", "public, max-age=3600");
	return;
not_found:
	if (fd >= 0)
		close(fd);
	tsk_api_detail(c, 404, "Not found.");
}

const struct tsk_api_route tsk_api_meta_routes[] = {
	{ .method = "GET", .pattern = "/api/schema/", .fn = get_schema, .anonymous = 1 },
	{ .method = "GET", .pattern = "/api/docs/", .fn = get_docs, .anonymous = 1 },
	{ .method = "GET", .pattern = "/api/redoc/", .fn = get_redoc, .anonymous = 1 },
	{ .method = "GET", .pattern = "/api/docs/static/{}/{}", .fn = get_static, .anonymous = 1 },
	{ .method = NULL },
};
