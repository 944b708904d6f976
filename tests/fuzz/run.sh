#!/bin/sh
# Fuzzes the payload parsers with libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer.
#
#   tests/fuzz/run.sh [SECONDS]   build, then fuzz for SECONDS (default 60)
#   tests/fuzz/run.sh check       build, then run every file of tests/fuzz/corpus once (regression)
#   tests/fuzz/run.sh merge       minimize tests/fuzz/corpus plus what fuzzing found into a fresh
#                                 tests/fuzz/corpus (keep it to a few hundred small files)
#
# The lib sources are compiled here with clang so that they are instrumented; build/libtsk.a is not.
# Only the modules the parsers use are compiled, so work in progress elsewhere in lib/ cannot break
# the fuzzer. New inputs go to build/fuzz/corpus, crashes to build/fuzz/crash-*: a crash, once fixed, is
# copied into tests/fuzz/corpus as a regression case (name it crash-<what>).
# Needs clang and libclang-rt-14-dev (Debian 12): apt-get install clang libclang-rt-14-dev
set -eu
cd "$(dirname "$0")/../.."

OUT=${TSK_FUZZ_BUILD:-build/fuzz}
SRC="tests/fuzz/fuzz_payload.c lib/model/payload.c lib/model/payload_single.c lib/model/payload_standard.c lib/model/payload_senml.c lib/model/payload_reading.c lib/model/topic.c lib/model/reading.c lib/core/text.c lib/core/time.c lib/core/tsk.c"
BIN=$OUT/fuzz_payload
SEEDS=tests/fuzz/corpus
mkdir -p "$OUT/corpus"

command -v clang >/dev/null || { echo "run.sh: clang is missing (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
clang -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-Wall -Wextra -Werror -iquote lib -o "$BIN" $SRC -ljansson -lm

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

case "${1:-60}" in
check)
	"$BIN" "$SEEDS"/*
	echo "run.sh: $(ls "$SEEDS" | wc -l) corpus files pass"
	;;
merge)
	fresh=$OUT/corpus.merged.$$
	mkdir "$fresh"
	# Edge coverage only (no hit counters): a few hundred small files that reach every edge found.
	"$BIN" -merge=1 -use_counters=0 -max_len=8192 "$fresh" "$SEEDS" "$OUT/corpus"
	# Keep the hand-written seeds and crash regressions by name even when merge finds them redundant.
	for f in "$SEEDS"/seed-* "$SEEDS"/crash-*; do [ -e "$f" ] && cp "$f" "$fresh/"; done
	rm -rf "$SEEDS" && mv "$fresh" "$SEEDS"
	echo "run.sh: corpus now $(ls "$SEEDS" | wc -l) files, $(cat "$SEEDS"/* | wc -c) bytes"
	;;
*[!0-9]*)
	echo "usage: tests/fuzz/run.sh [SECONDS | check | merge]" >&2
	exit 2
	;;
*)
	"$BIN" -max_total_time="$1" -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-dict=tests/fuzz/payload.dict -artifact_prefix="$OUT/" "$OUT/corpus" "$SEEDS"
	;;
esac
