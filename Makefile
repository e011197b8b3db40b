# SPDX-License-Identifier: Apache-2.0
# Sluice build.  `make` builds everything into build/; `make check` installs
# missing Debian packages, builds, runs the unit tests, runs them again under
# AddressSanitizer + UndefinedBehaviorSanitizer, then the integration tests.
#
# Knobs: CFLAGS (default -O2 -g), SANITIZE=address,undefined, B=build dir,
# V=1 for full command lines, PREFIX and DESTDIR for `make install`.
# `make deb` builds the Debian package (PREFIX=/usr) into $(B)/.

VERSION := 0.1.0
PREFIX ?= /usr/local
B ?= build
CFLAGS ?= -O2 -g
SANITIZE ?=

PKGS := fuse3 libzmq liblz4 libxxhash liburing libmicrohttpd jansson libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIB_ZMQ := $(shell pkg-config --libs libzmq liblz4 libxxhash 2>/dev/null)
# common/etcd.c and members.c: in libsluice.a, so on every binary's line.
LIB_ETCD := $(shell pkg-config --libs jansson libcurl 2>/dev/null)
LIB_FUSE := $(shell pkg-config --libs fuse3 2>/dev/null)
LIB_HTTP := $(shell pkg-config --libs libmicrohttpd 2>/dev/null)
LIB_CN := $(shell pkg-config --libs liburing 2>/dev/null) $(LIB_HTTP) -ldl
LIB_CHECK := $(shell pkg-config --libs check 2>/dev/null)

override CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wstrict-prototypes \
	-Wmissing-prototypes -Wwrite-strings -D_FILE_OFFSET_BITS=64 \
	-D_GNU_SOURCE -fPIC -I. -Iinclude $(PKG_CFLAGS) \
	-DSL_VERSION='"$(VERSION)"' -DSL_MODULE_DIR='"$(PREFIX)/lib/sluice"'
override LDFLAGS += -pthread
ifneq ($(SANITIZE),)
override CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
override LDFLAGS += -fsanitize=$(SANITIZE)
endif

ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-6s %s\n' $(1) $(2)
endif

COMMON_SRC := $(wildcard common/*.c proto/*.c)
CN_SRC := $(filter-out cachenode/main.c,$(wildcard cachenode/*.c))
FC_SRC := $(filter-out fuse/main.c,$(wildcard fuse/*.c))
CTL_SRC := $(wildcard ctl/*.c)
# A backend is cachenode/backends/NAME.c, or a folder cachenode/backends/NAME/.
BACKENDS := $(patsubst cachenode/backends/%.c,%,$(wildcard cachenode/backends/*.c)) \
	$(patsubst cachenode/backends/%/,%,$(dir $(wildcard cachenode/backends/*/*.c)))
backend_src = $(or $(wildcard cachenode/backends/$(1).c),$(wildcard cachenode/backends/$(1)/*.c))
# Backend modules for tests only (test/backends/NAME.c): built next to the
# real ones for the integration tests, never installed; they share the
# fakes' do-nothing ops with the unit suites (test/helper_backend.c).
TEST_MODULES := $(patsubst test/backends/%.c,$(B)/sluice_backend_%.so,$(wildcard test/backends/*.c))
UNIT_SRC := $(wildcard test/test_*.c)
IT_SRC := $(wildcard test/it_*.c)
TEST_HELPERS := $(wildcard test/helper_*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIBSLUICE := $(B)/libsluice.a
LIBCN := $(B)/libcn.a
LIBFC := $(B)/libfc.a
BINS := $(if $(wildcard cachenode/main.c),$(B)/sluice-cachenode) \
	$(if $(wildcard fuse/main.c),$(B)/sluice-fuse) \
	$(if $(CTL_SRC),$(B)/sluicectl)
MODULES := $(patsubst %,$(B)/sluice_backend_%.so,$(sort $(BACKENDS)))
UNIT_BINS := $(patsubst test/%.c,$(B)/test/%,$(UNIT_SRC))
IT_BINS := $(patsubst test/%.c,$(B)/test/%,$(IT_SRC))

# Per-backend libraries: LIBS_<name>.
LIBS_s3 := $(shell pkg-config --libs libcurl expat 2>/dev/null)
LIBS_webhdfs := $(shell pkg-config --libs libcurl jansson 2>/dev/null)

.SECONDARY:

.PHONY: all tests check unit unit-san integration deps clean fuzz \
	format format-check demo demo-stop bench install man deb

all: $(BINS) $(MODULES)

tests: $(UNIT_BINS) $(IT_BINS) $(TEST_MODULES)

$(B)/obj/%.o: %.c
	$(call say,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIBSLUICE): $(call obj,$(COMMON_SRC))
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBCN): $(call obj,$(CN_SRC))
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBFC): $(call obj,$(FC_SRC))
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/sluice-cachenode: $(call obj,cachenode/main.c) $(LIBCN) $(LIBSLUICE)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -rdynamic -o $@ $^ $(LIB_CN) $(LIB_ZMQ) $(LIB_ETCD)

$(B)/sluice-fuse: $(call obj,fuse/main.c) $(LIBFC) $(LIBSLUICE)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIB_FUSE) $(LIB_HTTP) $(LIB_ZMQ) $(LIB_ETCD)

$(B)/sluicectl: $(call obj,$(CTL_SRC)) $(LIBSLUICE)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIB_ZMQ) $(LIB_ETCD)

define backend_rule
$(B)/sluice_backend_$(1).so: $(call obj,$(call backend_src,$(1))) $(LIBSLUICE)
	$$(call say,LD,$$@)
	$$(Q)$$(CC) $$(LDFLAGS) -shared -o $$@ $$^ $$(LIBS_$(1)) $$(LIB_ZMQ)
endef
$(foreach b,$(sort $(BACKENDS)),$(eval $(call backend_rule,$(b))))

$(B)/sluice_backend_%.so: $(B)/obj/test/backends/%.o $(call obj,test/helper_backend.c)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -shared -o $@ $^

$(B)/test/%: $(B)/obj/test/%.o $(call obj,$(TEST_HELPERS)) $(LIBFC) $(LIBCN) $(LIBSLUICE)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -rdynamic -o $@ $^ $(LIB_CHECK) $(LIB_FUSE) $(LIB_CN) $(LIB_ZMQ) \
		$(LIB_ETCD) $(LIBS_s3)

# Unit tests must not depend on FUSE or root; each binary prints Check's
# summary line.  CK_DEFAULT_TIMEOUT is per test case.
unit: $(UNIT_BINS) $(MODULES)
	@CK_DEFAULT_TIMEOUT=600 SLUICE_BUILD=$(B) test/run_suites.sh \
		"unit$(if $(SANITIZE), ($(SANITIZE)))" 900 $(UNIT_BINS)

unit-san:
	$(MAKE) B=build/san SANITIZE=address,undefined CFLAGS="-O1 -g" unit

integration: all $(IT_BINS) $(TEST_MODULES)
	@CK_DEFAULT_TIMEOUT=900 SLUICE_BUILD=$(B) test/run_suites.sh \
		integration 1200 $(IT_BINS) $(wildcard test/it_*.sh)

deps:
	@scripts/install-deps.sh

check: deps
	$(MAKE) all tests
	$(MAKE) unit
	$(MAKE) unit-san
	$(MAKE) integration

# libFuzzer targets (clang; not part of check; .ci/run runs them after
# it): fuzz_proto feeds every input to every decoder, fuzz_fields puts its
# bytes into one string field of one message, fuzz_config parses them as
# a cluster configuration, fuzz_s3xml as S3's XML documents, fuzz_cursor
# as LIST cursors.  Each runs for FUZZ_TIME seconds, from the seeds
# committed in test/fuzz/corpus/TARGET plus what earlier runs found
# ($(B)/fuzz/corpus/TARGET, where new inputs go); a crash keeps its input
# in $(B)/fuzz/ and fails the run.
FUZZ_TIME ?= 12
FUZZ_TARGETS := fuzz_proto fuzz_fields fuzz_config fuzz_s3xml fuzz_cursor
FUZZ_FLAGS := -g -O1 -std=gnu11 -D_GNU_SOURCE -I. -Iinclude $(PKG_CFLAGS) \
	-DSL_VERSION='"$(VERSION)"' -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all
FUZZ_SRC_fuzz_fields := test/helper_fields.c
FUZZ_SRC_fuzz_s3xml := cachenode/backends/s3/xml.c cachenode/backends/s3/url.c
FUZZ_LIBS_fuzz_s3xml := $(shell pkg-config --libs expat 2>/dev/null)
fuzz:
	@mkdir -p $(B)/fuzz
	$(foreach t,$(FUZZ_TARGETS),clang $(FUZZ_FLAGS) -o $(B)/fuzz/$(t) \
		test/fuzz/$(t).c $(FUZZ_SRC_$(t)) $(COMMON_SRC) \
		$(LIB_ZMQ) $(LIB_ETCD) $(LIB_HTTP) $(FUZZ_LIBS_$(t)) &&) true
	$(foreach t,$(FUZZ_TARGETS),mkdir -p $(B)/fuzz/corpus/$(t) \
		test/fuzz/corpus/$(t) && $(B)/fuzz/$(t) \
		-max_total_time=$(FUZZ_TIME) -artifact_prefix=$(B)/fuzz/ \
		$(B)/fuzz/corpus/$(t) test/fuzz/corpus/$(t) &&) true

FORMAT_SRC = $(shell git ls-files '*.c' '*.h')
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	@clang-format --dry-run -Werror $(FORMAT_SRC) && echo "format: clean"

demo:
	@scripts/demo.sh $(if $(MNT),--mount $(MNT)) $(if $(BACKEND),--backend $(BACKEND))
demo-stop:
	@scripts/demo.sh --stop

bench:
	@bench/run.sh

# Man pages: each binary's from its own --help and --version (help2man,
# plus the sections of deploy/man/NAME.h2m), so they cannot drift from
# it; sluice.conf(5) from README.md's configuration tables.
MAN8 := $(patsubst $(B)/%,$(B)/man/%.8,$(BINS))
MAN5 := $(B)/man/sluice.conf.5
man: $(MAN8) $(MAN5)

$(B)/man/%.8: $(B)/% deploy/man/%.h2m
	$(call say,MAN,$@)
	@mkdir -p $(dir $@)
	$(Q)PATH=$(abspath $(B)):$$PATH help2man --no-info --section=8 \
		--include=deploy/man/$*.h2m --output=$@ $*

$(MAN5): README.md deploy/man/conf2man.py
	$(call say,MAN,$@)
	@mkdir -p $(dir $@)
	$(Q)/usr/bin/python3 deploy/man/conf2man.py README.md $(VERSION) > $@.tmp
	$(Q)mv $@.tmp $@

# systemd units, with this PREFIX's binaries.
UNITS := $(patsubst deploy/systemd/%.in,$(B)/systemd/%,\
	$(wildcard deploy/systemd/*.service.in))
$(B)/systemd/%: deploy/systemd/%.in Makefile
	$(call say,GEN,$@)
	@mkdir -p $(dir $@)
	$(Q)sed 's|@bindir@|$(PREFIX)/bin|g' $< > $@

install: all man $(UNITS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/sluice \
		$(DESTDIR)$(PREFIX)/include/sluice \
		$(DESTDIR)$(PREFIX)/share/man/man5 \
		$(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(MODULES) $(DESTDIR)$(PREFIX)/lib/sluice
	install -m 644 include/sluice/backend.h $(DESTDIR)$(PREFIX)/include/sluice
	install -m 644 $(MAN5) $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 644 $(MAN8) $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 644 $(UNITS) $(DESTDIR)$(PREFIX)/lib/systemd/system

# The Debian package: `make install` with PREFIX=/usr from a build of its
# own (the module directory is compiled in), then deploy/debian/build-deb.sh.
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
DEB := $(B)/sluice_$(VERSION)_$(DEB_ARCH).deb
deb:
	$(Q)rm -rf $(B)/deb/debian
	$(Q)$(MAKE) --no-print-directory B=$(B)/deb/build PREFIX=/usr \
		DESTDIR=$(abspath $(B)/deb/debian/sluice) install >/dev/null
	$(Q)deploy/debian/build-deb.sh $(B)/deb $(VERSION) $(DEB)

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
