# ngx_http_byok_module — the only entry points: build, run, test, bench,
# fuzz, install.  See README.md.

NGINX_SRC ?= /usr/share/nginx/src
NGINX_BIN ?= /usr/sbin/nginx
BUILD     := $(CURDIR)/build
CC        ?= cc

# SANITIZE=1: the module, unit tests and byokctl built with ASan + UBSan in
# build/asan/ (the normal build is left alone); `make test SANITIZE=1` (or
# `make test-asan`) runs the suite against it with t/sanitize.pl, which
# preloads the sanitizer runtime into Debian's nginx and fails the run on
# any sanitizer report.  Works with gcc (default) and clang (CC=clang).
SANITIZE       ?=
SANITIZE_FLAGS ?= -fsanitize=address,undefined -fno-omit-frame-pointer
TEST_WRAP      ?=
ifeq ($(SANITIZE),1)
BUILD       := $(CURDIR)/build/asan
TEST_WRAP   := perl t/sanitize.pl $(BUILD)
SANITIZE_CC_OPT := -g -O1 $(SANITIZE_FLAGS)
endif

# Debian's nginx-dev records the flags its nginx was configured with; a
# module must be configured with the same ones to load into that binary.
NGINX_CONF_FLAGS ?= $(shell test -f $(NGINX_SRC)/conf_flags \
    && sed -n 's/^NGX_CONF_FLAGS=( *\(.*\) *)$$/\1/p' $(NGINX_SRC)/conf_flags \
    || echo --with-compat --with-threads --with-http_ssl_module \
            --with-http_auth_request_module)

CATALOG_PATH ?= $(CURDIR)/catalog/providers.json
PREFIX       ?= /usr
MODULES_DIR  ?= $(PREFIX)/lib/nginx/modules
DATA_DIR     ?= $(PREFIX)/share/nginx-byok

MODULE_SRCS := config $(filter-out admin/byokctl.c, \
                   $(wildcard ngx_http_byok_module/*.c \
                              ngx_http_byok_module/*.h admin/*.c))

UNIT_CFLAGS := -std=gnu99 -g -O1 -Wall -Wextra -Werror \
               -Wno-unused-parameter -Ingx_http_byok_module
UNIT_TESTS  := seal jwt catalog validate

# what a unit test links besides t/unit/test_X.c and ngx_http_byok_X.c
UNIT_EXTRA_validate := ngx_http_byok_module/ngx_http_byok_catalog.c

# byokctl: the offline operations tool, on the module's nginx-free code
CTL_CFLAGS  := -std=gnu99 -g -O2 -Wall -Wextra -Werror -Ingx_http_byok_module
CTL_SRCS    := admin/byokctl.c ngx_http_byok_module/ngx_http_byok_seal.c \
               ngx_http_byok_module/ngx_http_byok_store_sqlite.c

ifeq ($(SANITIZE),1)
override NGINX_CONF_FLAGS += --with-cc-opt='$(SANITIZE_CC_OPT)' \
                             --with-ld-opt='$(SANITIZE_FLAGS)'
UNIT_CFLAGS += $(SANITIZE_FLAGS)
CTL_CFLAGS  += $(SANITIZE_FLAGS)
endif

.PHONY: all run test unit byokctl deps bench fuzz install clean FORCE

all: $(BUILD)/ngx_http_byok_module.so

# nginx's configure writes a Makefile into its working directory, so it runs
# in a scratch tree of symlinks: nothing is written under NGINX_SRC.
# the compiled-in catalog path: a different CATALOG_PATH reconfigures
$(BUILD)/catalog-path: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CATALOG_PATH)' | cmp -s - $@ || echo '$(CATALOG_PATH)' > $@

$(BUILD)/nginx/Makefile: config $(BUILD)/catalog-path
	rm -rf $(BUILD)/nginx $(BUILD)/nginx-tree
	mkdir -p $(BUILD)/nginx-tree
	ln -s $(NGINX_SRC)/auto $(NGINX_SRC)/configure $(NGINX_SRC)/src \
	    $(BUILD)/nginx-tree/
	cd $(BUILD)/nginx-tree && BYOK_CATALOG_PATH='$(CATALOG_PATH)' \
	    ./configure $(NGINX_CONF_FLAGS) --builddir=$(BUILD)/nginx \
	    --add-dynamic-module=$(CURDIR) > $(BUILD)/configure.log \
	    || { tail -20 $(BUILD)/configure.log; exit 1; }

ifeq ($(SANITIZE),1)
# other sanitizer flags or another compiler: configure again
$(BUILD)/nginx/Makefile: $(BUILD)/sanitize-flags
$(BUILD)/sanitize-flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(SANITIZE_FLAGS)' | cmp -s - $@ \
	    || echo '$(CC) $(SANITIZE_FLAGS)' > $@
endif

$(BUILD)/ngx_http_byok_module.so: $(BUILD)/nginx/Makefile $(MODULE_SRCS)
	$(MAKE) -C $(BUILD)/nginx-tree -f $(BUILD)/nginx/Makefile modules
	cp $(BUILD)/nginx/ngx_http_byok_module.so $@.tmp
	mv -f $@.tmp $@    # a new inode: a running nginx keeps its mapping

$(BUILD)/unit/test_%: t/unit/test_%.c ngx_http_byok_module/ngx_http_byok_%.c \
                      ngx_http_byok_module/ngx_http_byok_%.h t/unit/tap.h
	@mkdir -p $(BUILD)/unit
	$(CC) $(UNIT_CFLAGS) -o $@ $< ngx_http_byok_module/ngx_http_byok_$*.c \
	    $(UNIT_EXTRA_$*) -lcrypto -ljansson

$(BUILD)/unit/test_validate: $(UNIT_EXTRA_validate) \
                             ngx_http_byok_module/ngx_http_byok_catalog.h

unit: $(UNIT_TESTS:%=$(BUILD)/unit/test_%)

$(BUILD)/byokctl: $(CTL_SRCS) ngx_http_byok_module/ngx_http_byok_seal.h \
                  ngx_http_byok_module/ngx_http_byok_store.h
	@mkdir -p $(BUILD)
	$(CC) $(CTL_CFLAGS) -o $@ $(CTL_SRCS) -lcrypto -lsqlite3 -ljansson

byokctl: $(BUILD)/byokctl

# a test tool: writes a key into a store past the API's validation
PUTKEY_SRCS := t/tools/putkey.c ngx_http_byok_module/ngx_http_byok_seal.c \
               ngx_http_byok_module/ngx_http_byok_store_sqlite.c

$(BUILD)/putkey: $(PUTKEY_SRCS) ngx_http_byok_module/ngx_http_byok_seal.h \
                 ngx_http_byok_module/ngx_http_byok_store.h
	@mkdir -p $(BUILD)
	$(CC) $(CTL_CFLAGS) -o $@ $(PUTKEY_SRCS) -lcrypto -lsqlite3

deps:
	sh t/install-deps.sh

run: deps
	$(MAKE) all
	sh dev/run.sh '$(BUILD)' '$(NGINX_BIN)'

test: deps
	$(MAKE) all unit byokctl $(BUILD)/putkey
	BYOK_CATALOG='$(CURDIR)/catalog/providers.json' \
	TEST_NGINX_BYOK_MODULE='$(BUILD)/ngx_http_byok_module.so' \
	BYOKCTL='$(BUILD)/byokctl' BYOK_PUTKEY='$(BUILD)/putkey' \
	TEST_NGINX_BINARY='$(NGINX_BIN)' \
	    $(TEST_WRAP) perl t/harness.pl $(BUILD)/unit t

# the suite against the ASan + UBSan build (build/asan/), see t/README.md
.PHONY: test-asan test-valgrind
test-asan:
	$(MAKE) test SANITIZE=1

# the suite with every nginx under valgrind memcheck and t/valgrind.suppress
# (slow: see t/README.md); a file that bails out does not stop the run; the
# browser test, whose nginx valgrind would not watch, is left out
VALGRIND_TIMEOUT ?= 30
test-valgrind:
	EXTRA_PKGS=valgrind sh t/install-deps.sh
	TEST_NGINX_USE_VALGRIND=1 TEST_NGINX_TIMEOUT=$(VALGRIND_TIMEOUT) \
	TEST_BROWSER=0 TEST_KEEP_GOING=1 $(MAKE) test

# wrk on loopback: one table, also in build/bench/results.txt (bench/)
bench: all
	bash bench/run.sh '$(BUILD)' '$(NGINX_BIN)'

# libFuzzer harnesses with ASan + UBSan, FUZZ_TIME seconds each (fuzz/)
FUZZ_TIME ?= 180

fuzz:
	EXTRA_PKGS="clang libclang-rt-dev" sh t/install-deps.sh
	FUZZ_TIME=$(FUZZ_TIME) sh fuzz/run.sh

.PHONY: fuzz-smoke
fuzz-smoke:
	$(MAKE) fuzz FUZZ_TIME=30

install: all
	install -d $(DESTDIR)$(MODULES_DIR) $(DESTDIR)$(DATA_DIR)
	install -m 0644 $(BUILD)/ngx_http_byok_module.so $(DESTDIR)$(MODULES_DIR)/
	install -m 0644 catalog/providers.json $(DESTDIR)$(DATA_DIR)/
	install -d $(DESTDIR)$(DATA_DIR)/cabinet
	install -m 0644 cabinet/index.html cabinet/cabinet.css \
	    cabinet/cabinet.js $(DESTDIR)$(DATA_DIR)/cabinet/

clean:
	rm -rf $(BUILD) t/servroot*
