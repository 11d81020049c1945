# Berth build. One static binary per board config, Kbuild-style fragments:
# each directory's module.mk lists obj-$(CONFIG_X) += file.o.
#
#   make                      current .config (x86_64-generic when missing) -> build/<arch>/berth
#   make ARCH=aarch64|armv7   that arch's generic board -> build/<arch>/berth
#   make BOARD=raspberrypi4   a board from board/ -> build/<arch>/berth
#   make menuconfig | <board>_defconfig | savedefconfig | olddefconfig
#   make check | check-cross | size | demo | format | format-check | clean

.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SECONDARY:
MAKEFLAGS += --no-print-directory
SHELL := /bin/bash

DIRS := board agent net store runtime
BOARDS := $(patsubst board/%/defconfig,%,$(wildcard board/*/defconfig))
KCONFIGS := Kconfig $(wildcard $(addsuffix /Kconfig,$(DIRS)))

# Which config: BOARD= or ARCH= on the command line pick a board's defconfig
# (kept in build/cfg/<board>/); otherwise the top-level .config.
ifneq ($(filter command line environment,$(origin ARCH)),)
  ifneq ($(ARCH),host)
    BOARD ?= $(ARCH)-generic
  endif
endif
ifneq ($(BOARD),)
  CFG := build/cfg/$(BOARD)/.config
  CFGNAME := $(BOARD)
else
  CFG := .config
  CFGNAME := local
endif

NOCONFIG_GOALS := clean distclean format format-check help bootstrap size check check-cross demo fuzz \
	menuconfig savedefconfig olddefconfig %_defconfig
ifneq ($(filter-out $(NOCONFIG_GOALS) $(addsuffix _defconfig,$(BOARDS)),$(or $(MAKECMDGOALS),all)),)
  -include $(CFG)
endif

CFG_ARCH := $(if $(filter y,$(CONFIG_ARCH_AARCH64)),aarch64,$(if $(filter y,$(CONFIG_ARCH_ARMV7)),armv7,x86_64))
# TARGET is the toolchain: the config's arch, or host (glibc + sanitizers) for unit tests.
TARGET ?= $(CFG_ARCH)
arch_row := $(shell awk '$$1 == "$(TARGET)"' scripts/arches)
ifeq ($(arch_row),)
  $(error unknown TARGET '$(TARGET)': see scripts/arches)
endif
TCC := $(word 2,$(arch_row))
CROSS := $(word 3,$(arch_row))
QEMU := $(word 4,$(arch_row))

# TAG gives a separate object tree (parallel work on one checkout: TAG=name).
OUT := build/$(TARGET)/$(CFGNAME)$(if $(TAG),-$(TAG))
# Fuzzers (clang, libFuzzer) link the host (glibc) build of the dependencies.
SYSROOT := build/$(if $(filter fuzz,$(TARGET)),host,$(TARGET))/sysroot

CPPFLAGS := -I$(OUT) -I. -isystem $(SYSROOT)/include -D_GNU_SOURCE
WARN := -Wall -Wextra -Wundef -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter -Wno-format-truncation -Werror
ifeq ($(TARGET),host)
  CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all $(WARN)
  LDFLAGS := -fsanitize=address,undefined
else ifeq ($(TARGET),fuzz)
  CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -Wno-unknown-warning-option \
	-fno-sanitize-recover=all $(WARN)
  LDFLAGS := -fsanitize=fuzzer,address,undefined
else
  CFLAGS := -std=gnu11 -Os -ffunction-sections -fdata-sections $(WARN)
  LDFLAGS := -static -s -Wl,--gc-sections
endif
LDLIBS := -L$(SYSROOT)/lib -lcjson -lbearssl -lcap -lz

# Kbuild-style fragments.
OBJS :=
MAIN_OBJS :=
define add_dir
obj-y :=
main-y :=
include $(1)/module.mk
OBJS += $$(addprefix $(OUT)/$(1)/,$$(obj-y))
MAIN_OBJS += $$(addprefix $(OUT)/$(1)/,$$(main-y))
endef
$(foreach d,$(DIRS),$(eval $(call add_dir,$(d))))
unit-y :=
include tests/unit/module.mk
UNIT_BINS := $(addprefix $(OUT)/tests/unit/,$(unit-y))
fuzz-y :=
include tests/fuzz/module.mk
FUZZ_BINS := $(addprefix $(OUT)/tests/fuzz/,$(fuzz-y))

.PHONY: all unit fuzzers fuzz check check-cross size demo clean distclean format format-check bootstrap \
	menuconfig savedefconfig olddefconfig help

# The copy is renamed into place: a running berth keeps its old file. A
# TAG build gets its own name, so it never replaces the shared binary.
BIN := build/$(TARGET)/berth$(if $(TAG),-$(TAG))
all: $(OUT)/berth
ifneq ($(TARGET),host)
	@mkdir -p build/$(TARGET) && cp $(OUT)/berth $(BIN).tmp.$$$$ && mv -f $(BIN).tmp.$$$$ $(BIN)
	@echo "built $(BIN) ($(CFGNAME), $$(stat -c %s $(BIN)) bytes)"
endif

unit: $(UNIT_BINS)

fuzzers: $(FUZZ_BINS)

# --- toolchain and dependencies ------------------------------------------------
build/.packages: scripts/bootstrap
	scripts/bootstrap --packages-only

$(SYSROOT)/.done: scripts/bootstrap scripts/deps.lock scripts/arches | build/.packages
	scripts/bootstrap $(TARGET)

bootstrap:
	scripts/bootstrap

# --- configuration -------------------------------------------------------------
build/cfg/allno/.config: $(KCONFIGS) | build/.packages
	@mkdir -p $(@D)
	KCONFIG_CONFIG=$@ kconfig-conf --allnoconfig Kconfig >/dev/null

build/cfg/allyes/.config: $(KCONFIGS) | build/.packages
	@mkdir -p $(@D)
	KCONFIG_CONFIG=$@ kconfig-conf --allyesconfig Kconfig >/dev/null

build/cfg/%/.config: board/%/defconfig $(KCONFIGS) | build/.packages
	@mkdir -p $(@D)
	KCONFIG_CONFIG=$@ kconfig-conf --defconfig=$< Kconfig >/dev/null

.config: $(KCONFIGS) | build/.packages
	@if [ -f $@ ]; then KCONFIG_CONFIG=$@ kconfig-conf --olddefconfig Kconfig >/dev/null; \
	else KCONFIG_CONFIG=$@ kconfig-conf --defconfig=board/x86_64-generic/defconfig Kconfig >/dev/null; fi
	@touch $@

%_defconfig: board/%/defconfig | build/.packages
	KCONFIG_CONFIG=$(CFG) kconfig-conf --defconfig=$< Kconfig >/dev/null
	@echo "$(CFG) written from $<"

menuconfig: | build/.packages
	@[ -f $(CFG) ] || $(MAKE) $(CFG)
	KCONFIG_CONFIG=$(CFG) kconfig-mconf Kconfig

olddefconfig: | build/.packages
	KCONFIG_CONFIG=$(CFG) kconfig-conf --olddefconfig Kconfig

savedefconfig: | build/.packages
	KCONFIG_CONFIG=$(CFG) kconfig-conf --savedefconfig=defconfig Kconfig
	@echo "defconfig written from $(CFG)"

$(OUT)/config.h: $(CFG) scripts/genconfig $(KCONFIGS)
	@mkdir -p $(@D)
	scripts/genconfig $(CFG) $(KCONFIGS) >$@.tmp && mv $@.tmp $@

# --- compile and link ----------------------------------------------------------
$(OUT)/%.o: %.c $(OUT)/config.h | $(SYSROOT)/.done
	@mkdir -p $(@D)
	@echo "  CC      $@"
	@$(TCC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(OUT)/libberth.a: $(OBJS)
	@rm -f $@
	@$(CROSS)ar rcs $@ $^

$(OUT)/berth: $(MAIN_OBJS) $(OUT)/libberth.a
	@echo "  LD      $@"
	@$(TCC) $(LDFLAGS) $(MAIN_OBJS) $(OUT)/libberth.a $(LDLIBS) -o $@

$(OUT)/tests/unit/%: $(OUT)/tests/unit/%.o $(OUT)/libberth.a
	@$(TCC) $(LDFLAGS) $< $(OUT)/libberth.a $(LDLIBS) -o $@

$(OUT)/tests/fuzz/%: $(OUT)/tests/fuzz/%.o $(OUT)/libberth.a
	@$(TCC) $(LDFLAGS) $< $(OUT)/libberth.a $(LDLIBS) -o $@

-include $(OBJS:.o=.d) $(MAIN_OBJS:.o=.d) $(UNIT_BINS:=.d) $(FUZZ_BINS:=.d)

# --- tests ---------------------------------------------------------------------
# Unit tests with ASan/UBSan on glibc, the real binary for integration tests.
check:
	@$(MAKE) BOARD=x86_64-generic TARGET=host unit
	@$(MAKE) BOARD=x86_64-generic TARGET=fuzz fuzzers
	@$(MAKE) BOARD=x86_64-generic all
	@scripts/testrun \
		$$(find build/host/x86_64-generic/tests/unit -type f -executable | sort) \
		$(sort $(wildcard tests/integration/*.sh)) \
		tests/fuzz/smoke.sh

# Longer fuzzing on demand: make fuzz FUZZ_SECONDS=600
fuzz:
	@$(MAKE) BOARD=x86_64-generic TARGET=fuzz fuzzers
	FUZZ_SECONDS=$(or $(FUZZ_SECONDS),300) tests/fuzz/smoke.sh

# The same unit tests, CLI checks and the run smoke test on the ARM builds,
# under qemu-user.
check-cross:
	@$(MAKE) BOARD=aarch64-generic all unit
	@$(MAKE) BOARD=armv7-generic all unit
	@scripts/testrun \
		--env BERTH=build/aarch64/berth --runner qemu-aarch64-static \
		$$(find build/aarch64/aarch64-generic/tests/unit -type f -executable | sort) \
		tests/integration/cli.sh tests/integration/run_smoke.sh \
		--env BERTH=build/armv7/berth --runner qemu-arm-static \
		$$(find build/armv7/armv7-generic/tests/unit -type f -executable | sort) \
		tests/integration/cli.sh tests/integration/run_smoke.sh

size:
	@for b in $(BOARDS); do $(MAKE) -s BOARD=$$b all >/dev/null || exit 1; \
		printf '%-18s %-8s %8s bytes\n' $$b \
		"$$(awk -F= '/^CONFIG_ARCH_.*=y/ { sub("CONFIG_ARCH_", "", $$1); print tolower($$1) }' build/cfg/$$b/.config)" \
		"$$(stat -c %s build/*/$$b/berth)"; done

demo:
	@$(MAKE) BOARD=x86_64-generic all
	@scripts/demo

# --- housekeeping --------------------------------------------------------------
SOURCES = $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null || find $(DIRS) tests -name '*.[ch]')

format:
	clang-format -i $(SOURCES)

format-check:
	@clang-format --dry-run -Werror $(SOURCES) && echo "format: clean"

clean:
	rm -rf $(wildcard build/*/local build/*/*-generic build/*/raspberrypi4 build/*/minimal build/*/allno build/*/allyes) build/cfg build/*/berth

distclean:
	rm -rf build .config .config.old defconfig

help:
	@sed -n '2,9p' Makefile | sed 's/^# \{0,1\}//'
