#!/bin/bash
# make valgrind: every C unit test under valgrind (memcheck, leaks), then the end-to-end tests that run
# the tools under valgrind (tests/valgrind/*.t; not part of make test, where they would cost more than
# the rest of the suite). The whole suite under valgrind would take hours: the 50 000-message and
# outage tests are about time, not memory, and run under ASan in `make asan`.
set -u
cd "$(dirname "$0")/.." || exit 1
export TSK_ROOT=$(pwd) TSK_BUILD=${TSK_BUILD:-build}
. tests/lib/servers.sh
dir=$(mktemp -d /tmp/tsk-vg.XXXXXX)
servers_start "$dir" fast || exit 1
trap 'servers_stop; rm -rf "$dir"' EXIT
vg="valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --suppressions=tests/lib/valgrind.supp --trace-children=no"
cat >"$dir/vg-exec" <<SH
#!/bin/sh
exec $vg "\$@"
SH
chmod +x "$dir/vg-exec"
# The unit test programs (not the compiler's .d dependency files next to them).
units=$(for f in "$TSK_BUILD"/tests/test_*; do [ -f "$f" ] && [ -x "$f" ] && echo "$f"; done)
prove -j "${PROVE_JOBS:-2}" --exec "$dir/vg-exec" $units && prove -j "${PROVE_JOBS:-2}" ${PROVE_FLAGS:-} tests/valgrind/*.t
