# ngx_http_byok_module — the only entry points: build, run, test, bench,
# fuzz, install.  See README.md.

NGINX_SRC ?= /usr/share/nginx/src
NGINX_BIN ?= /usr/sbin/nginx
BUILD     := $(CURDIR)/build
CC        ?= cc

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

MODULE_SRCS := config $(wildcard ngx_http_byok_module/*.c \
                                 ngx_http_byok_module/*.h admin/*.c)

UNIT_CFLAGS := -std=gnu99 -g -O1 -Wall -Wextra -Werror \
               -Wno-unused-parameter -Ingx_http_byok_module
UNIT_TESTS  := seal jwt catalog

.PHONY: all run test unit deps bench fuzz install clean FORCE

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

$(BUILD)/ngx_http_byok_module.so: $(BUILD)/nginx/Makefile $(MODULE_SRCS)
	$(MAKE) -C $(BUILD)/nginx-tree -f $(BUILD)/nginx/Makefile modules
	cp $(BUILD)/nginx/ngx_http_byok_module.so $@

$(BUILD)/unit/test_%: t/unit/test_%.c ngx_http_byok_module/ngx_http_byok_%.c \
                      ngx_http_byok_module/ngx_http_byok_%.h t/unit/tap.h
	@mkdir -p $(BUILD)/unit
	$(CC) $(UNIT_CFLAGS) -o $@ $< ngx_http_byok_module/ngx_http_byok_$*.c \
	    -lcrypto -ljansson

unit: $(UNIT_TESTS:%=$(BUILD)/unit/test_%)

deps:
	sh t/install-deps.sh

run: deps
	$(MAKE) all
	sh dev/run.sh '$(BUILD)' '$(NGINX_BIN)'

test: deps
	$(MAKE) all unit
	BYOK_CATALOG='$(CURDIR)/catalog/providers.json' \
	TEST_NGINX_BYOK_MODULE='$(BUILD)/ngx_http_byok_module.so' \
	TEST_NGINX_BINARY='$(NGINX_BIN)' \
	    perl t/harness.pl $(BUILD)/unit t

install: all
	install -d $(DESTDIR)$(MODULES_DIR) $(DESTDIR)$(DATA_DIR)
	install -m 0644 $(BUILD)/ngx_http_byok_module.so $(DESTDIR)$(MODULES_DIR)/
	install -m 0644 catalog/providers.json $(DESTDIR)$(DATA_DIR)/

clean:
	rm -rf $(BUILD) t/servroot*
