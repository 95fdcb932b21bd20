# ckt — GNU Makefile.  `make` builds bin/; `make check` runs every test;
# `make deps` installs what the build, tests and benchmarks need (Debian).
# Variables: PREFIX DESTDIR DEV=1 (adds -Werror) SANITIZE=address,undefined.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/ckt
MANDIR ?= $(PREFIX)/share/man
VERSION := 0.1.0

CC ?= cc
PKG_CONFIG ?= pkg-config
PKGS := libcurl openssl libarchive jansson gpgme libzstd libisal zlib libsodium yaml-0.1

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla \
	-Wwrite-strings -Wpointer-arith -Wundef -Wimplicit-fallthrough \
	-Wno-missing-field-initializers
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(CFLAGS) $(WARN) -fno-common -fstack-protector-strong \
	-D_FORTIFY_SOURCE=2 -D_GNU_SOURCE -DCKT_VERSION='"$(VERSION)"' \
	-DCKT_PREFIX='"$(PREFIX)"' -I. $(shell $(PKG_CONFIG) --cflags $(PKGS))
# --as-needed: a tool loads only the shared libraries it calls (ckt-image and
# the ckt dispatcher start in 2 ms instead of 9 without curl, gpgme & co.).
ALL_LDFLAGS := -Wl,--as-needed $(LDFLAGS)
# libcurl and libarchive are loaded on first use (libimg/lazylib.h), so no
# tool links them; their sonames come from the development symlinks.
LAZY_PKGS := libcurl libarchive
soname = $(shell objdump -p "$$($(CC) -print-file-name=lib$(1).so)" 2>/dev/null | \
	sed -n 's/^ *SONAME *//p')
LIBCURL_SONAME := $(or $(call soname,curl),libcurl.so.4)
LIBARCHIVE_SONAME := $(or $(call soname,archive),libarchive.so.13)
LIBJANSSON_SONAME := $(or $(call soname,jansson),libjansson.so.4)
ALL_CFLAGS += -DIMG_LIBCURL_SONAME='"$(LIBCURL_SONAME)"' \
	-DIMG_LIBARCHIVE_SONAME='"$(LIBARCHIVE_SONAME)"' \
	-DIMG_LIBJANSSON_SONAME='"$(LIBJANSSON_SONAME)"'
LIBS := $(shell $(PKG_CONFIG) --libs $(filter-out $(LAZY_PKGS),$(PKGS))) -lpthread
ifeq ($(DEV),1)
ALL_CFLAGS += -Werror
endif
ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
ALL_LDFLAGS += -fsanitize=$(SANITIZE)
endif

BUILD := build
# Quiet by default; V=1 shows every command.
ifneq ($(V),1)
Q := @
QCC = @echo "  CC      $<";
QLD = @echo "  LD      $@";
QAR = @echo "  AR      $@";
endif
# Rebuild everything when the flags change (git's GIT-CFLAGS trick).
FLAGS_FILE := $(BUILD)/FLAGS
$(shell mkdir -p $(BUILD) && echo '$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)' > $(BUILD)/FLAGS.new && \
	(cmp -s $(BUILD)/FLAGS.new $(FLAGS_FILE) || mv $(BUILD)/FLAGS.new $(FLAGS_FILE)); rm -f $(BUILD)/FLAGS.new)

objs = $(patsubst %.c,$(BUILD)/%.o,$(1))
BASE_SRC := $(wildcard base/*.c)
STORE_SRC := $(wildcard store/*.c)
KEYS_SRC := $(wildcard keys/*.c)
IMG_SRC := $(wildcard libimg/*.c libimg/launch/*.c)
CLI_SRC := tools/cli.c
TOOL_SRC := $(filter-out $(CLI_SRC),$(wildcard tools/ckt*.c))
TOOLS := $(patsubst tools/%.c,bin/%,$(TOOL_SRC))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
MAN_SRC := $(wildcard man/*.scd)
MANS := $(patsubst man/%.scd,$(BUILD)/man/%,$(MAN_SRC))

LIB_BASE := $(BUILD)/libckt-base.a
LIB_STORE := $(BUILD)/libckt-store.a
LIB_KEYS := $(BUILD)/libckt-keys.a
LIB_IMG := $(BUILD)/libckt-img.a
# Link order follows the dependency direction: tools -> libimg -> keys/store -> base.
ALL_LIBS := $(LIB_IMG) $(LIB_KEYS) $(LIB_STORE) $(LIB_BASE)

# Keep objects that pattern rules build on the way (tools, tests).
.SECONDARY:

.PHONY: all check unit integration deps lint install uninstall clean bench demo man
all: $(TOOLS)

$(BUILD)/%.o: %.c $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(QCC)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB_BASE): $(call objs,$(BASE_SRC))
$(LIB_STORE): $(call objs,$(STORE_SRC))
$(LIB_KEYS): $(call objs,$(KEYS_SRC))
$(LIB_IMG): $(call objs,$(IMG_SRC))
$(BUILD)/libckt-%.a:
	@mkdir -p $(dir $@)
	$(QAR)rm -f $@ && ar rcs $@ $^

bin/%: $(BUILD)/tools/%.o $(call objs,$(CLI_SRC)) $(ALL_LIBS)
	@mkdir -p bin
	$(QLD)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(QLD)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- dependencies --------------------------------------------------------
DEPS_BUILD := libcurl4-openssl-dev libssl-dev libarchive-dev libjansson-dev libgpgme-dev \
	libzstd-dev libisal-dev zlib1g-dev libsodium-dev libyaml-dev pkg-config gcc make
DEPS_TEST := libcmocka-dev bats docker-registry skopeo umoci appc-spec crun gnupg uidmap \
	busybox-static jq python3 perl file \
	python3-cryptography python3-jwt apache2-utils openssl python3-nacl \
	curl xz-utils bzip2 zstd procps
DEPS_DOCS := scdoc
DEPS_BENCH := hyperfine debootstrap time bubblewrap
DEPS := $(DEPS_BUILD) $(DEPS_TEST) $(DEPS_DOCS) $(DEPS_BENCH)
deps:
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "run as root: apt-get install -y" $$missing; exit 1; fi; \
	echo "installing:" $$missing; \
	if [ -z "$$CKT_APT_UPDATED" ]; then apt-get update -qq; fi && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing

# ---- tests ---------------------------------------------------------------
# The static multi-call helper of the exec fixture image (tests/fixtures/init.c):
# libc only, never sanitized (static linking and ASan do not mix).
FIXTURE_INIT := $(BUILD)/fixtures/init
$(FIXTURE_INIT): tests/fixtures/init.c
	@mkdir -p $(dir $@)
	$(QLD)$(CC) -static -O2 -Wall -Wextra -o $@ $<

unit: $(UNIT_BIN) $(FIXTURE_INIT)

check: deps
	$(MAKE) all unit
	CKT_TOP=$(CURDIR) prove -j2 --timer --exec tests/run-test $(UNIT_BIN) $(sort $(wildcard tests/integration/*.bats))

lint:
	@bad=$$(grep -nE '\b(strcpy|strcat|sprintf|vsprintf|strtok|gets|atoi|atol|gmtime|localtime|mktemp|tmpnam|system|popen)[[:space:]]*\(' \
		$$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]') | \
		grep -vE '(snprintf|vsnprintf|vasprintf|asprintf)[[:space:]]*\(' | grep -v 'lint-ok' ; true); \
	if [ -n "$$bad" ]; then echo "banned functions (STYLE.md):"; echo "$$bad"; exit 1; fi; \
	echo "lint: clean"

# ---- docs, install -------------------------------------------------------
man: $(MANS)
$(BUILD)/man/%: man/%.scd
	@mkdir -p $(dir $@)
	scdoc < $< > $@

install: all man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(TOOLS) $(DESTDIR)$(BINDIR)/
	for m in $(MANS); do install -m 0644 $$m $(DESTDIR)$(MANDIR)/man1/; done

uninstall:
	rm -f $(patsubst bin/%,$(DESTDIR)$(BINDIR)/%,$(TOOLS))
	rm -f $(patsubst $(BUILD)/man/%,$(DESTDIR)$(MANDIR)/man1/%,$(MANS))

bench: all $(FIXTURE_INIT)
	bench/run.sh

demo: all
	tests/demo.sh

clean:
	rm -rf $(BUILD) bin
