#!/bin/bash
# The OpenAPI document and its viewers: GET /api/schema/ serves lib/http/openapi.json (valid OpenAPI 3.1
# for @seriousme/openapi-schema-validator), /api/docs/ (Swagger UI) and /api/redoc/ (ReDoc) load only
# files of this host, /api/docs/static/ serves web_root's files safely (content types, 404s, no way out
# of web_root, no link followed), and the checker behind openapi_check catches answers of a wrong shape.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/httpd.sh"
. "$TSK_ROOT/tests/npm-deps.sh"
fresh_db t_httpd_openapi
tsk tenant create --slug umc --name UMC --domain umc.localhost >/dev/null
api_user owner@umc.localhost umc owner

# --- the document itself ---------------------------------------------------------------------------------
out=$(openapi_node validate)
ok $? "lib/http/openapi.json is valid OpenAPI 3.1"
[ $? -eq 0 ] || diag "$out"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); del d["info"]; d["paths"]["/health"]["get"]["responses"]["200"]={"content":{}}; json.dump(d,open(sys.argv[2],"w"))' \
	lib/http/openapi.json "$T/broken.json"
out=$(TSK_OPENAPI_DOC=$T/broken.json openapi_node validate)
is "$?" 1 "the validator refuses a document without info and with a response without description"
like "$out" 'FAIL' "and says where"

# The daemon's default web_root in the build tree is $TSK_BUILD/web, which make fills from the npm cache
# (make deps); a build made before make deps gets it here the same way.
[ -f "$TSK_BUILD/web/.tsk-lock-sha256" ] || { npm_install web && npm_web_copy "$TSK_BUILD/web"; }
httpd_start --config /dev/null --workers 2
ok $? "tsk-httpd answers"
UMC="umc.localhost:$HTTPD_PORT"
hdr() { grep -i "^$1:" "$T/api.hdr" | tr -d '\r' | sed 's/^[^:]*: *//'; }

# --- GET /api/schema/ ---------------------------------------------------------------------------------------
call GET "$UMC" /api/schema/
is "$API_STATUS" 200 "GET /api/schema/ with no credentials: 200"
is "$(hdr Content-Type)" application/vnd.oai.openapi+json "as application/vnd.oai.openapi+json"
cmp -s "$API_REC.body" lib/http/openapi.json
ok $? "the document served is lib/http/openapi.json, byte for byte"
call GET "$UMC" '/api/schema/?format=json'
is "$API_STATUS $(hdr Content-Type)" "200 application/vnd.oai.openapi+json" "?format=json: the same"
call GET "$UMC" '/api/schema/?format=yaml'
is "$API_STATUS $API_BODY" '404 {"detail":"Not found."}' "?format=yaml: 404 (JSON only)"
call GET localhost /api/schema/
is "$API_STATUS" 404 "not on the public host"
call POST "$UMC" /api/schema/
is "$API_STATUS" 405 "POST /api/schema/: 405"
is "$(hdr Allow)" "GET, HEAD, OPTIONS" "with Allow"

# --- the pages ------------------------------------------------------------------------------------------------
for p in /api/docs/ /api/redoc/; do
	call GET "$UMC" "$p"
	is "$API_STATUS $(hdr Content-Type)" "200 text/html; charset=utf-8" "GET $p: an HTML page, no credentials needed"
	like "$API_BODY" '/api/schema/' "$p reads /api/schema/"
	like "$(hdr Content-Security-Policy)" "^default-src 'self';.* connect-src 'self';" "$p: a policy that allows this host only"
	# Nothing is loaded from another site: every src and href is a path of this host.
	refs=$(grep -oE '(src|href|spec-url)="[^"]*"' <<<"$API_BODY" | sed -E 's/^[a-z-]+="(.*)"$/\1/')
	[ -n "$refs" ] && ! grep -qv '^/api/' <<<"$refs" && ! grep -qiE 'https?:|//' <<<"$API_BODY"
	ok $? "$p loads nothing from the internet (only /api/ paths, no URL)"
	for r in $refs; do
		[ "$r" = /api/schema/ ] && continue
		call GET "$UMC" "$r"
		is "$API_STATUS" 200 "$p: $r is served"
	done
done

# --- /api/docs/static/ ----------------------------------------------------------------------------------------
M=$(npm_dir web)/node_modules
while IFS='|' read -r file type src; do
	call GET "$UMC" "/api/docs/static/$file"
	is "$API_STATUS $(hdr Content-Type)" "200 $type" "/api/docs/static/$file: 200 $type"
	cmp -s "$API_REC.body" "$M/$src"
	ok $? "/api/docs/static/$file is the npm package's $src"
done <<'EOF'
swagger-ui/swagger-ui-bundle.js|text/javascript; charset=utf-8|swagger-ui-dist/swagger-ui-bundle.js
swagger-ui/swagger-ui.css|text/css; charset=utf-8|swagger-ui-dist/swagger-ui.css
swagger-ui/favicon-32x32.png|image/png|swagger-ui-dist/favicon-32x32.png
redoc/redoc.standalone.js|text/javascript; charset=utf-8|redoc/bundles/redoc.standalone.js
EOF
is "$(hdr X-Content-Type-Options)" nosniff "static files: X-Content-Type-Options: nosniff"
notfound() { # notfound PATH DESCRIPTION [CURL ARGS...]
	local p=$1 d=$2
	shift 2
	call GET "$UMC" "$p" "$@"
	like "$API_STATUS $API_BODY" '^404 \{"detail":"Not found\."\}$' "$d: 404"
}
notfound /api/docs/static/swagger-ui/nope.js "a file that is not there"
notfound /api/docs/static/nope/swagger-ui.css "a directory that is not there"
notfound /api/docs/static/swagger-ui/ "a directory"
notfound /api/docs/static/swagger-ui/../../../../../etc/passwd "../ in the path" --path-as-is
notfound /api/docs/static/swagger-ui/%2e%2e "an encoded .." --path-as-is
notfound /api/docs/static/%2e%2e/.tsk-lock-sha256 "an encoded .. as the directory" --path-as-is
notfound /api/docs/static/swagger-ui/..%2f..%2f..%2f..%2fetc%2fpasswd "encoded slashes" --path-as-is
notfound /api/docs/static/swagger-ui/%2fetc%2fpasswd "an absolute path" --path-as-is

# A web_root of the test's own (the key, through the environment): dot files, links, directories.
W=$T/web
mkdir -p "$W/swagger-ui/sub" "$W/redoc"
echo 'secret' >"$W/swagger-ui/.hidden"
echo 'secret' >"$T/outside.js"
ln -s "$T/outside.js" "$W/swagger-ui/link.js"
printf 'console.log(1)\n' >"$W/swagger-ui/mine.js"
printf 'x' >"$W/swagger-ui/blob.bin"
httpd_stop
TSK_WEB_ROOT=$W httpd_start --config /dev/null --workers 2
ok $? "a second daemon with web_root $W"
UMC="umc.localhost:$HTTPD_PORT"
call GET "$UMC" /api/docs/static/swagger-ui/mine.js
is "$API_STATUS $API_BODY" "200 console.log(1)" "web_root is read from the configuration"
call GET "$UMC" /api/docs/static/swagger-ui/blob.bin
is "$API_STATUS $(hdr Content-Type)" "200 application/octet-stream" "an unknown extension: application/octet-stream"
notfound /api/docs/static/swagger-ui/.hidden "a dot file"
notfound /api/docs/static/swagger-ui/link.js "a symbolic link (to a file outside web_root)"
notfound /api/docs/static/swagger-ui/sub "a directory"
notfound /api/docs/static/swagger-ui/swagger-ui-bundle.js "a file this web_root lacks"
call GET "$UMC" /api/docs/
is "$API_STATUS" 200 "the page is served without its files all the same"

# --- the checker catches a wrong shape -------------------------------------------------------------------
TOKEN=$(api_token "$UMC" owner@umc.localhost)
call GET "$UMC" /api/users/me/ -H "Authorization: Bearer $TOKEN"
is "$API_STATUS" 200 "GET /api/users/me/: 200 (a real answer to corrupt)"
ME=$API_BODY
B=$T/bad.log
mkdir -p "$B"
n=0
record() { # record METHOD PATH STATUS TYPE BODY: one made-up exchange
	n=$((n + 1))
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >"$B/$(printf %06d $n).meta"
	printf '%s' "$5" >"$B/$(printf %06d $n).body"
}
mutate() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); exec(sys.argv[2]); print(json.dumps(d))' "$ME" "$1"; }
record GET /api/users/me/ 200 application/json "$ME"
out=$(openapi_node check "$B")
ok $? "the checker passes the real answer"
checker_catches() { # checker_catches DESCRIPTION REGEX METHOD PATH STATUS TYPE BODY
	local d=$1 re=$2
	shift 2
	rm -f "$B"/*
	record "$@"
	out=$(openapi_node check "$B")
	is "$?" 1 "the checker refuses $d"
	like "$out" "$re" "and says why"
}
checker_catches "a missing required property" "required.*email" GET /api/users/me/ 200 application/json "$(mutate 'del d["email"]')"
checker_catches "a property of the wrong type" "/id must be integer" GET /api/users/me/ 200 application/json "$(mutate 'd["id"]=str(d["id"])')"
checker_catches "a property the shape does not have" "additional" GET /api/users/me/ 200 application/json "$(mutate 'd["password"]="x"')"
checker_catches "a value outside its enum" "/role must be equal to one of" GET /api/users/me/ 200 application/json "$(mutate 'd["role"]="root"')"
checker_catches "an error of the wrong shape" "" GET /api/users/me/ 401 application/json '{"error":"no"}'
checker_catches "a status the operation does not have" "status 418" GET /api/users/me/ 418 application/json '{"detail":"x"}'
checker_catches "a method the path does not have (other than 405)" "DELETE is not an operation" DELETE /api/users/me/ 200 application/json "$ME"
checker_catches "a path that is not in the document (other than 404)" "not in the document" GET /api/nothing/ 200 application/json '{}'
checker_catches "a content type that is not declared" "content type" GET /api/users/me/ 200 text/html "$ME"
checker_catches "a body that is not JSON" "not JSON" GET /api/users/me/ 200 application/json '{"id":'
checker_catches "a page envelope without next" "required.*next" GET /api/sites/ 200 application/json '{"count":0,"previous":null,"results":[]}'
checker_catches "an ingest answer of no known kind" "" POST /ingest 202 application/json '{"status":"done"}'

# Every answer this test received, through the same checker.
openapi_check
done_testing
