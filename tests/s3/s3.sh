# A real S3-compatible server for the tsk-export tests: @20minutes/s3rver 4.0.4 on node (see s3server.js
# for why this fork). Sourced by tests/t/44-export-s3.t and tests/bench/export.
#   s3_install        npm ci of tests/s3/package-lock.json into a cache (once; again when the lock changes)
#   s3_start DIR      starts it on a free loopback port with a fresh key pair and the bucket "exports"
#                     (or the comma-separated $S3_BUCKETS);
#                     exports TSK_S3_ENDPOINT TSK_S3_ACCESS_KEY TSK_S3_SECRET_KEY TSK_S3_REGION S3_DATA
#   s3_stop
#   s3_get BUCKET/KEY FILE   fetches an object with curl --aws-sigv4 (independent of tsk-export's code)
# The cache is $TSK_S3_CACHE, else /var/cache/tsk/s3rver when that is writable (root), else
# build/cache/s3rver; it survives `make clean` in the first case.

s3_cache_dir() {
	if [ -n "${TSK_S3_CACHE:-}" ]; then echo "$TSK_S3_CACHE"; return; fi
	if mkdir -p /var/cache/tsk 2>/dev/null && [ -w /var/cache/tsk ]; then echo /var/cache/tsk/s3rver; return; fi
	echo "${TSK_ROOT:-.}/build/cache/s3rver"
}

s3_install() {
	local src="${TSK_ROOT:-.}/tests/s3" dir stamp want
	dir=$(s3_cache_dir)
	command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
		{ echo "s3_install: node and npm are needed (Debian packages nodejs npm)" >&2; return 1; }
	want=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -c1-64)
	stamp="$dir/.tsk-lock-sha256"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$dir/node_modules/@20minutes/s3rver" ]; then
		return 0
	fi
	mkdir -p "$dir" || return 1
	cp "$src/package.json" "$src/package-lock.json" "$dir/" || return 1
	# npm ci installs exactly the locked versions (integrity-checked) and nothing else.
	(cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >"$dir/npm.log" 2>&1) ||
		{ echo "s3_install: npm ci failed; see $dir/npm.log" >&2; tail -5 "$dir/npm.log" >&2; return 1; }
	echo "$want" >"$stamp"
}

s3_start() {
	local dir=$1 i port
	s3_install || return 1
	mkdir -p "$dir/s3data"
	S3_DATA=$(cd "$dir/s3data" && pwd)
	TSK_S3_ACCESS_KEY=AKTSK$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
	TSK_S3_SECRET_KEY=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
	TSK_S3_REGION=us-east-1
	S3_MODULES="$(s3_cache_dir)/node_modules" S3_DIR="$S3_DATA" S3_PORT=0 S3_BUCKETS="${S3_BUCKETS:-exports}" \
		S3_ACCESS_KEY="$TSK_S3_ACCESS_KEY" S3_SECRET_KEY="$TSK_S3_SECRET_KEY" \
		node "${TSK_ROOT:-.}/tests/s3/s3server.js" >"$dir/s3.out" 2>"$dir/s3.log" &
	S3_PID=$!
	for i in $(seq 1 100); do
		port=$(sed -n 's/^port //p' "$dir/s3.out" 2>/dev/null)
		[ -n "$port" ] && break
		kill -0 "$S3_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$port" ]; then
		echo "s3_start: the S3 server did not start; see $dir/s3.log" >&2
		tail -5 "$dir/s3.log" >&2
		return 1
	fi
	TSK_S3_ENDPOINT="http://127.0.0.1:$port"
	export TSK_S3_ENDPOINT TSK_S3_ACCESS_KEY TSK_S3_SECRET_KEY TSK_S3_REGION S3_DATA S3_PID
}

s3_stop() {
	[ -n "${S3_PID:-}" ] || return 0
	kill "$S3_PID" 2>/dev/null
	wait "$S3_PID" 2>/dev/null
	S3_PID=
}

# s3_get BUCKET/KEY FILE [SECRET]: HTTP status on stdout, body in FILE.
s3_get() {
	local empty=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
	curl -sS -o "$2" -w '%{http_code}' --aws-sigv4 "aws:amz:$TSK_S3_REGION:s3" \
		--user "$TSK_S3_ACCESS_KEY:${3:-$TSK_S3_SECRET_KEY}" -H "x-amz-content-sha256: $empty" \
		"$TSK_S3_ENDPOINT/$1"
}
