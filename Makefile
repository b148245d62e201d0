# tund — top-level build. Components are found by directory, so adding a file
# never needs an edit here:
#   lib*/ *.c           -> $(B)/lib<name>.a        (libipc, libnetcfg, libprofile)
#   proto/*.proto       -> generated protobuf-c in $(B)/proto -> $(B)/libproto.a
#   <program dir>/*.c   -> $(B)/<program>; main() lives in main.c, the rest is
#                          also archived so unit tests can link it
#   test/unit/test-*.c  -> $(B)/test/test-* (no root needed)
#   test/helpers/*.c    -> $(B)/test/helpers/* (programs tests drive)
#   test/fuzz/fuzz-*.c  -> $(BF)/fuzz-* (clang, libFuzzer)
#   test/integration/*.sh  run as root in namespaces by `make check`

PREFIX ?= /usr
SBINDIR ?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/libexec/tund
UNITDIR ?= /lib/systemd/system
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=
# What the Debian package installs besides the programs (make install DESTDIR=... PREFIX=/usr).
SYSCONFDIR ?= /etc
NMDIR ?= $(PREFIX)/lib/NetworkManager
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
POLKITRULESDIR ?= $(PREFIX)/share/polkit-1/rules.d
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# iproute2 6.1 (bookworm) reads rt_protos.d only under /etc/iproute2.
RTPROTOSDIR ?= $(SYSCONFDIR)/iproute2/rt_protos.d
MANPAGES = $(patsubst man/%.scd,$(B)/man/%,$(wildcard man/*.scd))
DEB_OUT ?= $(B)/deb
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

B ?= build
# A build directory inside the checkout is named relative to it, however it was given: tests
# run `make -C` from a bind-mounted view of the checkout with an absolute B, and the targets
# in the .d files must be the same strings a plain `make` uses, or a header change would no
# longer rebuild what depends on it.
override B := $(patsubst $(CURDIR)/%,%,$(B))
BF ?= build-fuzz
CC ?= cc
CFLAGS ?= -O2 -g
SAN_FLAGS ?=
PKGS := libsystemd libmnl libnftnl libnl-3.0 libnl-route-3.0 libprotobuf-c inih libseccomp

LIBDIRS := $(sort $(patsubst %/,%,$(dir $(wildcard lib*/*.c))))
# program directory -> program name
PROGRAMS := services/helper:tund-helperd services/netshim:tund-netshimd \
	tunnel-shim:tund-tunnel tools/tundctl:tundctl
prog_dir = $(firstword $(subst :, ,$(1)))
prog_name = $(lastword $(subst :, ,$(1)))
BUILT_PROGRAMS := $(foreach p,$(PROGRAMS),$(if $(wildcard $(call prog_dir,$(p))/main.c),$(p)))

PROTOS := $(wildcard proto/*.proto)
PROTO_C := $(patsubst proto/%.proto,$(B)/proto/%.pb-c.c,$(PROTOS))
PROTO_H := $(PROTO_C:.c=.h)

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -fno-strict-aliasing \
	-D_GNU_SOURCE -DTUND_VERSION='"$(VERSION)"' -I. -I$(B)/proto \
	$(addprefix -I,$(LIBDIRS)) $(foreach p,$(BUILT_PROGRAMS),-I$(call prog_dir,$(p))) \
	$(PKG_CFLAGS) $(CFLAGS) $(SAN_FLAGS)
ALL_LDFLAGS := $(LDFLAGS) $(SAN_FLAGS)

# Static archives, linked as one group so their order does not matter.
prog_lib = $(B)/lib$(call prog_name,$(1)).a
ARCHIVES := $(foreach p,$(BUILT_PROGRAMS),$(call prog_lib,$(p))) \
	$(foreach d,$(LIBDIRS),$(B)/$(d).a) $(B)/libproto.a
LINK_ARCHIVES = -Wl,--start-group $(ARCHIVES) -Wl,--end-group

UNIT_TESTS := $(patsubst test/unit/%.c,$(B)/test/%,$(wildcard test/unit/test-*.c))
TEST_HELPERS := $(patsubst test/helpers/%.c,$(B)/test/helpers/%,$(wildcard test/helpers/*.c))
BINARIES := $(foreach p,$(BUILT_PROGRAMS),$(B)/$(call prog_name,$(p)))

.PHONY: all check unit integration asan asan-unit fuzz-smoke fuzz fuzzers deps install clean demo \
	programs deb \
	bench bench-routes format
.DELETE_ON_ERROR:
.SECONDARY:

all: $(BINARIES) $(UNIT_TESTS) $(TEST_HELPERS)

# --- protobuf-c: generated at build time, never committed ---
$(B)/proto/%.pb-c.c $(B)/proto/%.pb-c.h: proto/%.proto $(PROTOS)
	@mkdir -p $(B)/proto
	protoc-c --c_out=$(B)/proto -Iproto $<

$(B)/proto/%.o: $(B)/proto/%.pb-c.c $(PROTO_H)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(B)/libproto.a: $(patsubst proto/%.proto,$(B)/proto/%.o,$(PROTOS))
	rm -f $@ && ar rcs $@ $^

# --- objects: every .c under the tree, with header dependencies ---
$(B)/obj/%.o: %.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<
-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

objs_of = $(patsubst %.c,$(B)/obj/%.o,$(filter-out $(1)/main.c,$(wildcard $(1)/*.c)))

define LIB_RULE
$(B)/$(1).a: $(call objs_of,$(1))
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach d,$(LIBDIRS),$(eval $(call LIB_RULE,$(d))))

define PROG_RULE
$(call prog_lib,$(1)): $(call objs_of,$(call prog_dir,$(1)))
	rm -f $$@ && ar rcs $$@ $$^
$(B)/$(call prog_name,$(1)): $(B)/obj/$(call prog_dir,$(1))/main.o $(ARCHIVES)
	$(CC) $(ALL_LDFLAGS) -o $$@ $$< $(LINK_ARCHIVES) $(PKG_LIBS)
endef
$(foreach p,$(BUILT_PROGRAMS),$(eval $(call PROG_RULE,$(p))))

$(B)/test/%: $(B)/obj/test/unit/%.o $(ARCHIVES)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LINK_ARCHIVES) $(PKG_LIBS)

$(B)/test/helpers/%: $(B)/obj/test/helpers/%.o $(ARCHIVES)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LINK_ARCHIVES) $(PKG_LIBS)

# --- tests ---
# `make check` runs unit tests, then (as root) the namespace integration tests.
# test/integration/lib*.sh are libraries the scripts source, not tests.
# EXCLUDE: patterns of scripts to leave out (the sanitizer run leaves out the package build).
INTEGRATION_TESTS = $(sort $(filter-out test/integration/lib% $(EXCLUDE), \
	$(wildcard test/integration/*$(T)*.sh)))

check: all
	B=$(B) test/run $(UNIT_TESTS) $(INTEGRATION_TESTS)

unit: all
	B=$(B) test/run $(UNIT_TESTS)

# Only the scripts matching T, e.g. `make integration T=netcfg`.
integration: all
	B=$(B) test/run $(INTEGRATION_TESTS)

ASAN_MAKE = $(MAKE) B=build-asan CC=clang CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
# The whole suite with ASan+UBSan daemons and tests, but for the system test: it builds and
# boots the .deb, which a sanitizer build is not (dh_dwz rejects its objects), and the
# valgrind run (valgrind cannot run ASan binaries).
asan:
	+$(ASAN_MAKE) EXCLUDE="test/integration/system-% test/integration/e2e-valgrind.sh" check

# Only the unit tests under ASan+UBSan (LeakSanitizer checks each test's child at exit), for
# a quick check (CI runs `make asan`).
asan-unit:
	+$(ASAN_MAKE) unit

# --- fuzzing (clang + libFuzzer) ---
FUZZERS := $(patsubst test/fuzz/%.c,$(BF)/%,$(wildcard test/fuzz/fuzz-*.c))
FUZZ_TIME ?= 10
fuzzers:
	$(MAKE) B=$(BF) CC=clang CFLAGS="-O1 -g -fno-omit-frame-pointer" \
		SAN_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
		$(FUZZERS)

$(BF)/fuzz-%: test/fuzz/fuzz-%.c $(ARCHIVES)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(LINK_ARCHIVES) $(PKG_LIBS)

fuzz-smoke: fuzzers
	test/fuzz/run $(FUZZ_TIME) $(FUZZERS)

fuzz: fuzzers
	test/fuzz/run $${FUZZ_TIME:-600} $(FUZZERS)

# --- the rest ---
deps:
	test/deps.sh deps.txt

demo: all
	test/demo.sh

bench: all
	B=$(B) test/bench/run

bench-routes: all
	B=$(B) test/bench/bench-routes.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# Fails on any drift from .clang-format (the suite runs it too: test/integration/style-format.sh).
format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

# Man pages from scdoc sources: man/NAME.SECTION.scd -> $(B)/man/NAME.SECTION
$(B)/man/%: man/%.scd
	@mkdir -p $(dir $@)
	scdoc <$< >$@

# What `make install` needs built (the Debian package builds only this).
programs: $(BINARIES) $(MANPAGES)

# /etc/tund holds profiles with private keys: root only (tmpfiles.d enforces it at every boot).
install: programs
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR)
	for p in $(filter-out %/tund-tunnel,$(BINARIES)); do install -m 0755 $$p $(DESTDIR)$(SBINDIR)/; done
	$(if $(filter %/tund-tunnel,$(BINARIES)),install -m 0755 $(B)/tund-tunnel $(DESTDIR)$(LIBEXECDIR)/)
	$(if $(wildcard units/*),install -d $(DESTDIR)$(UNITDIR) && install -m 0644 $(wildcard units/*) $(DESTDIR)$(UNITDIR)/)
	for m in $(MANPAGES); do s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s && \
		install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	$(if $(wildcard tools/tundctl/tundctl.bash-completion),install -d $(DESTDIR)$(BASHCOMPDIR) && \
		install -m 0644 tools/tundctl/tundctl.bash-completion $(DESTDIR)$(BASHCOMPDIR)/tundctl)
	$(if $(wildcard tools/nm-dispatcher/90-tund),install -d $(DESTDIR)$(NMDIR)/dispatcher.d && \
		install -m 0755 tools/nm-dispatcher/90-tund $(DESTDIR)$(NMDIR)/dispatcher.d/)
	$(if $(wildcard tools/nm-dispatcher/*.conf),install -d $(DESTDIR)$(NMDIR)/conf.d && \
		install -m 0644 $(wildcard tools/nm-dispatcher/*.conf) $(DESTDIR)$(NMDIR)/conf.d/)
	install -d $(DESTDIR)$(RTPROTOSDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	install -m 0644 data/rt_protos.d/tund.conf $(DESTDIR)$(RTPROTOSDIR)/
	install -m 0644 data/sysusers.d/tund.conf $(DESTDIR)$(SYSUSERSDIR)/
	install -m 0644 data/tmpfiles.d/tund.conf $(DESTDIR)$(TMPFILESDIR)/
	install -d $(DESTDIR)$(POLKITRULESDIR)
	install -m 0644 data/polkit-1/rules.d/60-tund.rules $(DESTDIR)$(POLKITRULESDIR)/
	install -d -m 0700 $(DESTDIR)$(SYSCONFDIR)/tund

# The Debian package, built with dpkg-buildpackage from a copy of the tree in a temporary
# directory (nothing is written next to the checkout); the .deb ends up in $(DEB_OUT).
deb:
	debian/make-deb $(DEB_OUT)

clean:
	rm -rf build build-asan $(BF)
