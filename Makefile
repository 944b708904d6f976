# TrakSense-C. `make` builds libtsk.a and every tool into build/; `make test` runs the suite
# against a private PostgreSQL and mosquitto; `make demo` shows the system working end to end.
VERSION   := 0.1.0
PREFIX    ?= /usr/local
DESTDIR   ?=
CC        ?= gcc
BUILD     ?= build
PGINC     := $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
OPT       ?= -O2 -g
SAN       ?=
CFLAGS    ?=
CFLAGS    += -std=c11 -D_GNU_SOURCE $(OPT) $(SAN) -Wall -Wextra -Werror -iquote lib -I$(PGINC) \
             -DTSK_VERSION='"$(VERSION)"'
# Header dependencies from the compiler, one file per target under $(BUILD)/dep (not beside the test
# binaries, which tests/run globs).
DEPFLAGS   = -MMD -MP -MF $(BUILD)/dep/$(subst /,_,$@).d
LDFLAGS   += $(SAN)
LDLIBS    := -lpq -lmosquitto -ljansson -lcurl -lsqlite3 -lsodium -lmicrohttpd -lpthread -lm

# lib/ is grouped by layer, one folder each (README.md, "The library"); headers are included as
# "layer/name.h" from -iquote lib.
LIB_SRC   := $(sort $(wildcard lib/*/*.c))
LIB_OBJ   := $(LIB_SRC:lib/%.c=$(BUILD)/lib/%.o) $(BUILD)/lib/sql_embed.o $(BUILD)/lib/openapi_embed.o
TOOLS_SRC := $(sort $(wildcard bin/tsk-*.c))
TOOLS     := $(TOOLS_SRC:bin/%.c=$(BUILD)/%)
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNITS     := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HELP_SRC  := $(sort $(wildcard tests/helpers/*.c))
HELPERS   := $(HELP_SRC:tests/helpers/%.c=$(BUILD)/tests/%)
SQL_FILES := $(sort $(wildcard sql/public/*.sql sql/tenant/*.sql))
MAN_PAGES := $(sort $(wildcard man/*.[0-9]))

# Debian packages the project needs; `make deps` installs the missing ones (as root).
DEB_PKGS  := libpq-dev postgresql-15 postgresql-client-15 libmosquitto-dev mosquitto mosquitto-clients \
             libjansson-dev libcurl4-openssl-dev libsqlite3-dev sqlite3 libmicrohttpd-dev libsodium-dev \
             pkg-config perl python3 python3-aiosmtpd jq openssl valgrind procps iproute2 curl ca-certificates wrk \
             libjs-chart.js chromium chromium-driver python3-selenium \
             systemd util-linux

.PHONY: all deps test check asan valgrind demo demo-stop install uninstall clean bench fuzz
all: $(TOOLS) $(UNITS) $(HELPERS) $(BUILD)/web/.tsk-lock-sha256

-include $(wildcard $(BUILD)/dep/*.d)

$(BUILD)/lib/%.o: lib/%.c | $(BUILD)/dep
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c -o $@ $<

# SQL migrations are compiled into the library, so an installed tool needs no data files to migrate.
$(BUILD)/lib/sql_embed.c: $(SQL_FILES) tests/embed-sql.sh | $(BUILD)/lib
	sh tests/embed-sql.sh $(SQL_FILES) > $@
$(BUILD)/lib/sql_embed.o: $(BUILD)/lib/sql_embed.c | $(BUILD)/dep
	$(CC) $(CFLAGS) $(DEPFLAGS) -c -o $@ $<

# The OpenAPI document (GET /api/schema/) is compiled in the same way.
$(BUILD)/lib/openapi_embed.c: lib/http/openapi.json tests/embed-file.sh | $(BUILD)/lib
	sh tests/embed-file.sh tsk_openapi_json lib/http/openapi.json > $@
$(BUILD)/lib/openapi_embed.o: $(BUILD)/lib/openapi_embed.c | $(BUILD)/dep
	$(CC) $(CFLAGS) $(DEPFLAGS) -c -o $@ $<

# Swagger UI and ReDoc for /api/docs/ and /api/redoc/: the few files tsk-httpd serves, copied from the
# npm packages `make deps` installed (tests/npm-deps.sh) into $(BUILD)/web, the daemon's web_root when
# it runs from the build tree. Without them the note says so and the build goes on (the pages load no
# script then).
$(BUILD)/web/.tsk-lock-sha256: lib/http/web/package.json lib/http/web/package-lock.json tests/npm-deps.sh
	@bash tests/npm-deps.sh web $(BUILD)/web

$(BUILD)/libtsk.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tsk-%: bin/tsk-%.c $(BUILD)/libtsk.a | $(BUILD)/dep
	$(CC) $(CFLAGS) $(DEPFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libtsk.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libtsk.a | $(BUILD)/tests $(BUILD)/dep
	$(CC) $(CFLAGS) $(DEPFLAGS) -iquote tests/unit $(LDFLAGS) -o $@ $< $(BUILD)/libtsk.a $(LDLIBS)

$(BUILD)/tests/%: tests/helpers/%.c $(BUILD)/libtsk.a | $(BUILD)/tests $(BUILD)/dep
	$(CC) $(CFLAGS) $(DEPFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libtsk.a $(LDLIBS)

$(BUILD)/lib $(BUILD)/tests $(BUILD)/dep:
	mkdir -p $@

# pgbouncer: the scaling test and benchmark put one in front of PostgreSQL (tests/lib/servers.sh).
DEB_PKGS  += pgbouncer

# Install missing Debian packages (as root). Plain `make` never does: it only builds.
deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: missing Debian packages:$$missing (run as root)" >&2; exit 1; fi; \
	  echo "make deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else echo "make deps: all Debian packages present"; fi
	@# npm: Swagger UI and ReDoc (lib/http/web) and the suite's OpenAPI tools (tests/openapi), each pinned
	@# by its package-lock.json, into a cache (tests/npm-deps.sh); then copied into $(BUILD)/web by make.
	@bash tests/npm-deps.sh install && echo "make deps: npm packages present (swagger-ui-dist, redoc, OpenAPI tools)"

test check: deps all
	@bash tests/run

asan:
	$(MAKE) BUILD=build/asan OPT='-O1 -g' SAN='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 TSK_BUILD=build/asan bash tests/run

valgrind: all
	bash tests/valgrind.sh

bench: all
	@for b in tests/bench/*; do [ -x "$$b" ] && "$$b"; done

# Fuzz the payload parsers with libFuzzer for FUZZ_SECONDS (clang is installed when missing).
FUZZ_SECONDS ?= 60
fuzz:
	bash tests/fuzz/run.sh $(FUZZ_SECONDS)

demo: deps all
	@bash tests/demo.sh start
demo-stop:
	@bash tests/demo.sh stop

# make install / make uninstall (PREFIX, DESTDIR). Units and cron files have @PREFIX@ replaced; the
# web assets are whatever make put under $(BUILD)/web (Swagger UI, ReDoc, stylesheets: tsk-httpd's
# default web_root is PREFIX/share/tsk/web when it runs from PREFIX/bin). Every file installed and
# every directory install created is listed in $(MANIFEST), and uninstall removes exactly those (a
# file changed since is removed too; a directory only when empty). Users are not created here: see
# README.md, "Install" (useradd --system tsk).
SYSTEMDUNITDIR ?= /lib/systemd/system
CRONDIR        ?= /etc/cron.d
MANIFEST       := $(PREFIX)/share/tsk/install-manifest
install: all
	@PREFIX='$(PREFIX)' DESTDIR='$(DESTDIR)' BUILD='$(BUILD)' SYSTEMDUNITDIR='$(SYSTEMDUNITDIR)' \
	  CRONDIR='$(CRONDIR)' MANIFEST='$(MANIFEST)' sh tests/install.sh install $(TOOLS)
uninstall:
	@DESTDIR='$(DESTDIR)' MANIFEST='$(MANIFEST)' sh tests/install.sh uninstall

clean:
	rm -rf build
