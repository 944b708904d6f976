#!/bin/bash
# The project's npm packages, each set pinned by a package-lock.json and installed by `npm ci` (exactly
# the locked versions, integrity-checked, no install scripts) into a cache, again only when its lock
# changes (the way tests/s3/s3.sh installs the S3 test server):
#   web       lib/http/web: swagger-ui-dist and redoc, the files tsk-httpd serves under /api/docs/static/
#   openapi   tests/openapi: the suite's OpenAPI validator and ajv (tests/lib/openapi-check.js)
# The cache is $TSK_NPM_CACHE/NAME, else /var/cache/tsk/NAME when that is writable (root), else
# build/cache/NAME; it survives `make clean` in the first cases.
#
#   npm-deps.sh install          both sets (make deps; needs the npm registry)
#   npm-deps.sh web DIR          copies the files the daemon serves from the web set into DIR
#                                (swagger-ui/, redoc/): make does it for $(BUILD)/web; without the set
#                                it says so and changes nothing
# Sourced (tests): npm_dir NAME prints the cache; npm_install NAME installs it when needed.

npm_src() {
	case "$1" in
	web) echo "${TSK_ROOT:-.}/lib/http/web" ;;
	openapi) echo "${TSK_ROOT:-.}/tests/openapi" ;;
	*) return 1 ;;
	esac
}

npm_dir() {
	if [ -n "${TSK_NPM_CACHE:-}" ]; then echo "$TSK_NPM_CACHE/$1"; return; fi
	if mkdir -p /var/cache/tsk 2>/dev/null && [ -w /var/cache/tsk ]; then echo "/var/cache/tsk/$1"; return; fi
	echo "${TSK_ROOT:-.}/build/cache/$1"
}

# The lock's checksum, as the stamp of an installed set.
npm_want() {
	local src
	src=$(npm_src "$1") || return 1
	cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -c1-64
}

# 0 when the set NAME is installed as its lock says.
npm_ready() {
	local dir
	dir=$(npm_dir "$1")
	[ -f "$dir/.tsk-lock-sha256" ] && [ "$(cat "$dir/.tsk-lock-sha256")" = "$(npm_want "$1")" ] && [ -d "$dir/node_modules" ]
}

npm_install() {
	local name=$1 src dir
	src=$(npm_src "$name") || { echo "npm_install: no package set $name" >&2; return 1; }
	npm_ready "$name" && return 0
	command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
		{ echo "npm_install: node and npm are needed (Debian packages nodejs npm)" >&2; return 1; }
	dir=$(npm_dir "$name")
	mkdir -p "$dir" || return 1
	# One install at a time (test files run in parallel): the others wait, then find it done.
	(
		flock 9
		npm_ready "$name" && exit 0
		rm -f "$dir/.tsk-lock-sha256"
		cp "$src/package.json" "$src/package-lock.json" "$dir/" || exit 1
		[ ! -f "$src/.npmrc" ] || cp "$src/.npmrc" "$dir/" || exit 1
		(cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >"$dir/npm.log" 2>&1) ||
			{ echo "npm_install: npm ci of $name failed; see $dir/npm.log" >&2; tail -5 "$dir/npm.log" >&2; exit 1; }
		npm_want "$name" >"$dir/.tsk-lock-sha256"
	) 9>"$dir.lock"
}

# The files the daemon serves: SOURCE (under node_modules) TARGET (under web_root).
npm_web_files() {
	cat <<'LIST'
swagger-ui-dist/swagger-ui-bundle.js swagger-ui/swagger-ui-bundle.js
swagger-ui-dist/swagger-ui.css swagger-ui/swagger-ui.css
swagger-ui-dist/favicon-16x16.png swagger-ui/favicon-16x16.png
swagger-ui-dist/favicon-32x32.png swagger-ui/favicon-32x32.png
swagger-ui-dist/LICENSE swagger-ui/LICENSE.txt
redoc/bundles/redoc.standalone.js redoc/redoc.standalone.js
redoc/LICENSE redoc/LICENSE.txt
LIST
}

# npm_web_copy DIR: the served files into DIR, replaced whole (a new DIR is moved into place).
npm_web_copy() {
	local dest=$1 mods tmp s t
	mods="$(npm_dir web)/node_modules"
	if ! npm_ready web; then
		echo "note: Swagger UI and ReDoc are not installed (make deps installs them); /api/docs/static/ will be 404" >&2
		return 0
	fi
	tmp="$dest.tmp.$$"
	rm -rf "$tmp" && mkdir -p "$tmp/swagger-ui" "$tmp/redoc" || return 1
	while read -r s t; do
		cp "$mods/$s" "$tmp/$t" || { rm -rf "$tmp"; return 1; }
	done < <(npm_web_files)
	npm_want web >"$tmp/.tsk-lock-sha256"
	rm -rf "$dest" && mv "$tmp" "$dest"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	TSK_ROOT=${TSK_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
	case "${1:-}" in
	install) npm_install web && npm_install openapi ;;
	web) [ $# -eq 2 ] || { echo "usage: $0 web DIR" >&2; exit 2; }; npm_web_copy "$2" ;;
	*) echo "usage: $0 install | web DIR" >&2; exit 2 ;;
	esac
fi
