# callmesh — one Makefile for libs, services, tests and the local runtime.
# make deps | build | test | bench | run | up | down | clean | format-check
# make SANITIZE=address,undefined test   (or SANITIZE=thread)
# make TESTS='integration/test_sip_* unit/*' test   (some suites only)

CC       ?= cc
BUILD    ?= build
SANITIZE ?=

# every libs/<mod> with sources; linked as one group so order does not matter
LIBS_ORDER := $(sort $(patsubst libs/%/,%,$(dir $(wildcard libs/*/*.c))))
SERVICES   := api-gateway room-manager sip-bridge twilio-dialer agent-worker
# every library as pkg-config name:Debian package (scripts/deps.sh installs the packages)
PKG_DEBS   := libnats:libnats-dev libcjson:libcjson-dev libpq:libpq-dev \
              libmicrohttpd:libmicrohttpd-dev libcurl:libcurl4-openssl-dev libcrypto:libssl-dev \
              sofia-sip-ua:libsofia-sip-ua-dev espeak-ng:libespeak-ng-dev \
              pocketsphinx:libpocketsphinx-dev libwebsockets:libwebsockets-dev opus:libopus-dev \
              speexdsp:libspeexdsp-dev libsrtp2:libsrtp2-dev \
              libprotobuf-c:libprotobuf-c-dev
PKGS       := $(foreach p,$(PKG_DEBS),$(firstword $(subst :, ,$(p))))

# Goals that compile nothing work before `make deps` has installed the -dev
# packages; `run` installs them first and then plans the build in a fresh make.
# Every other goal asks pkg-config now and stops, naming what it cannot find.
NOPKG_GOALS := deps clean down run format-check
ifneq ($(filter-out $(NOPKG_GOALS),$(or $(MAKECMDGOALS),build)),)
  ifeq ($(shell command -v pkg-config),)
    $(error pkg-config is not installed: run 'make deps' (or 'make run', which runs it first))
  endif
  PKG_MISSING := $(shell for p in $(PKGS); do pkg-config --exists "$$p" || echo "$$p"; done)
  ifneq ($(PKG_MISSING),)
    $(error pkg-config cannot find $(foreach p,$(PKG_MISSING),$(p) (Debian package $(patsubst $(p):%,%,$(filter $(p):%,$(PKG_DEBS))))): run 'make deps' to install it, or add the directory of its .pc file to PKG_CONFIG_PATH)
  endif
  PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
  PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wvla -Wformat=2 -Wwrite-strings
CFLAGS  ?= -O2 -g
override CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARN) -Ilibs -Itests $(PKG_CFLAGS) -MMD -MP -pthread
override LDLIBS  += $(PKG_LIBS) -pthread -lm -ldl

comma := ,
ifneq ($(SANITIZE),)
  BUILD   := build/san-$(subst $(comma),-,$(SANITIZE))
  override CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  override LDFLAGS += -fsanitize=$(SANITIZE)
endif

OBJ  = $(BUILD)/obj
BIN  = $(BUILD)/bin
LIBD = $(BUILD)/lib

lib_srcs  = $(wildcard libs/$(1)/*.c)
lib_objs  = $(patsubst %.c,$(OBJ)/%.o,$(call lib_srcs,$(1)))
LIB_ARS  := $(foreach l,$(LIBS_ORDER),$(LIBD)/libcm_$(l).a)
LINK_LIBS = -Wl,--start-group $(LIB_ARS) -Wl,--end-group
# every service is a library of all its objects but main.o; its binary is
# main.o + that library. Tests, benches and fuzzers link every service and
# every lib in one group: the linker pulls only the objects a program
# references, so a test links what it tests without a rule of its own.
svc_objs  = $(patsubst %.c,$(OBJ)/%.o,$(filter-out services/$(1)/main.c,$(wildcard services/$(1)/*.c)))
SVC_ARS  := $(foreach s,$(SERVICES),$(LIBD)/libsvc_$(s).a)
LINK_ALL  = -Wl,--start-group $(SVC_ARS) $(LIB_ARS) -Wl,--end-group
LINK_TEST = -Wl,--start-group $(HARNESS_AR) $(SVC_ARS) $(LIB_ARS) -Wl,--end-group
# one definition per global name across the libraries of that group, or a
# program could silently link the wrong one (checked before any test links)
SYMS_OK  := $(LIBD)/symbols.ok

SVC_BINS := $(foreach s,$(SERVICES),$(BIN)/$(s))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
INTEG_SRCS := $(wildcard tests/integration/test_*.c)
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(UNIT_SRCS) $(INTEG_SRCS))
HARNESS_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(wildcard tests/harness/*.c))
# the test harness (processes, ports, fixtures such as sip_bridge_fx.c) is a
# library too: a program gets the fixtures it calls, nothing more
HARNESS_AR   := $(LIBD)/libtest_harness.a
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%-replay,$(FUZZ_SRCS))
BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
TOOL_SRCS := $(wildcard tools/*.c)
TOOL_BINS := $(patsubst tools/%.c,$(BIN)/%,$(TOOL_SRCS))

.PHONY: all build deps test unit integration bench run up down clean fuzz-replay tools format-check
.DEFAULT_GOAL := build
all: build
build: $(SVC_BINS) $(TOOL_BINS)
tools: $(TOOL_BINS)

deps:
	@scripts/deps.sh

# layout rules of .editorconfig and .clang-format, checked, never applied
format-check:
	@node scripts/format-check.mjs

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS) -c $< -o $@

define lib_rule
$(LIBD)/libcm_$(1).a: $(call lib_objs,$(1))
	@mkdir -p $$(dir $$@)
	@rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach l,$(LIBS_ORDER),$(eval $(call lib_rule,$(l))))

define svc_rule
$(LIBD)/libsvc_$(1).a: $(call svc_objs,$(1))
	@mkdir -p $$(dir $$@)
	@rm -f $$@ && ar rcs $$@ $$^
$(BIN)/$(1): $(OBJ)/services/$(1)/main.o $(LIBD)/libsvc_$(1).a $(LIB_ARS)
	@mkdir -p $$(dir $$@)
	@echo "  LD    $$@"
	@$(CC) $$(LDFLAGS) -o $$@ $$< -Wl,--start-group $(LIBD)/libsvc_$(1).a $(LIB_ARS) -Wl,--end-group $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call svc_rule,$(s))))

$(BIN)/%: $(OBJ)/tools/%.o $(LIB_ARS)
	@mkdir -p $(dir $@)
	@echo "  LD    $@"
	@$(CC) $(LDFLAGS) -o $@ $< $(LINK_LIBS) $(LDLIBS)

$(HARNESS_AR): $(HARNESS_OBJS)
	@mkdir -p $(dir $@)
	@rm -f $@ && ar rcs $@ $^

$(SYMS_OK): $(HARNESS_AR) $(SVC_ARS) $(LIB_ARS)
	@dup=$$(for a in $^; do nm -g --defined-only $$a | awk -v a=$$(basename $$a) \
		'NF == 3 && $$2 != "V" && $$2 != "W" { print $$3, a }' | sort -u; done | \
		sort | awk '{ n[$$1]++; w[$$1] = w[$$1] " " $$2 } END { for (s in n) if (n[s] > 1) print s ":" w[s] }'); \
	if [ -n "$$dup" ]; then echo "global names defined in two libraries (make one static or prefix it):" >&2; \
		echo "$$dup" >&2; exit 1; fi
	@touch $@

# services' headers are reached as "<service>/<file>.h" by tests and benches only
$(OBJ)/tests/%.o $(OBJ)/bench/%.o: override CFLAGS += -Iservices

$(BUILD)/tests/%: $(OBJ)/tests/%.o $(HARNESS_AR) $(SVC_ARS) $(LIB_ARS) | $(SYMS_OK)
	@mkdir -p $(dir $@)
	@echo "  LD    $@"
	@$(CC) $(LDFLAGS) -o $@ $< $(LINK_TEST) $(LDLIBS)

# Fuzz targets built with a replay main (no libFuzzer needed) for make test;
# `make fuzz` builds real libFuzzer binaries with clang.
$(BUILD)/fuzz/%-replay: $(OBJ)/tests/fuzz/%.o $(OBJ)/tests/fuzz/replay_main.o $(SVC_ARS) $(LIB_ARS) | $(SYMS_OK)
	@mkdir -p $(dir $@)
	@echo "  LD    $@"
	@$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LINK_ALL) $(LDLIBS)

# benches share the test harness's process, port and CPU helpers
$(BUILD)/bench/%: $(OBJ)/bench/%.o $(HARNESS_AR) $(SVC_ARS) $(LIB_ARS) | $(SYMS_OK)
	@mkdir -p $(dir $@)
	@echo "  LD    $@"
	@$(CC) $(LDFLAGS) -o $@ $< $(LINK_TEST) $(LDLIBS)

# make TESTS="glob ..." test runs only the suites it names (tests/run.sh reads
# TESTS from the environment, where make puts a command-line variable)
test: build $(TEST_BINS) $(FUZZ_REPLAY)
	@BUILD=$(BUILD) tests/run.sh

bench: build $(BENCH_BINS)
	@BUILD=$(BUILD) bench/run.sh

up: build
	@BUILD=$(BUILD) scripts/stack.sh up
down:
	@BUILD=$(BUILD) scripts/stack.sh down
# deps first, then a make of its own that reads pkg-config after the install
run:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory build
	@BUILD=$(BUILD) scripts/stack.sh run

clean:
	rm -rf build

# ---- LiveKit's client engine (livekit-ffi; libs/lkrtc, issue #10) -----------
# The engine is the npm addon pinned in runtime/livekit (make deps). Everything
# derived from it is generated here under $(BUILD)/gen/lkrtc, never in git:
#   proto/*.proto     from the pinned schema's proto/*_pb.js (gen-proto.mjs)
#   *.pb-c.[ch]       protoc-c, compiled as one object (ffi_proto.c includes them)
#   napi_stubs.c      one stub per napi_* symbol the engine leaves undefined
#   napi.dynlist      those names, exported from every executable
#                     (--dynamic-list) so dlopen() of the BIND_NOW addon resolves
#                     them; they are never called outside Node.
# The engine itself is loaded with dlopen() at the first join (libs/lkrtc/lkrtc.h
# says where it is looked for; LIVEKIT_FFI_LIB overrides).
LK_NPM     := runtime/livekit/node_modules/@livekit
LK_SCHEMA  := $(LK_NPM)/rtc-ffi-bindings
LK_ENGINE  := $(LK_NPM)/rtc-ffi-bindings-linux-x64-gnu/rtc-node.linux-x64-gnu.node
LK_GEN     := $(BUILD)/gen/lkrtc
LK_GEN_OBJS := $(OBJ)/gen/lkrtc/ffi_proto.o $(OBJ)/gen/lkrtc/napi_stubs.o
override CFLAGS  += -I$(BUILD)/gen
override LDFLAGS += -Wl,--dynamic-list=$(LK_GEN)/napi.dynlist

$(LK_GEN)/proto.stamp: libs/lkrtc/gen-proto.mjs $(LK_SCHEMA)/package.json
	@mkdir -p $(LK_GEN)/proto
	@echo "  GEN   $(LK_GEN) (livekit-ffi schema)"
	@rm -f $(LK_GEN)/proto/*.proto $(LK_GEN)/*.pb-c.[ch]
	@node libs/lkrtc/gen-proto.mjs $(LK_SCHEMA) $(LK_GEN)/proto >/dev/null
	@protoc-c --proto_path=$(LK_GEN)/proto --c_out=$(LK_GEN) $(LK_GEN)/proto/*.proto
	@{ echo "/* Generated: every livekit-ffi message, one object. */"; \
	   for f in $(LK_GEN)/*.pb-c.c; do echo "#include \"$$(basename $$f)\""; done; } > $(LK_GEN)/ffi_proto.c
	@touch $@
$(LK_GEN)/ffi_proto.c: $(LK_GEN)/proto.stamp
$(LK_GEN)/napi_stubs.c $(LK_GEN)/napi.dynlist &: libs/lkrtc/gen-napi-stubs.sh $(LK_ENGINE)
	@mkdir -p $(LK_GEN)
	@echo "  GEN   $(LK_GEN)/napi_stubs.c"
	@libs/lkrtc/gen-napi-stubs.sh $(LK_ENGINE) $(LK_GEN)/napi_stubs.c $(LK_GEN)/napi.dynlist
# generated code: our warnings but protoc-c's brace style
$(OBJ)/gen/lkrtc/%.o: $(LK_GEN)/%.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS) -Wno-missing-braces -I$(LK_GEN) -c $< -o $@
$(call lib_objs,lkrtc): | $(LK_GEN)/proto.stamp
$(LIBD)/libcm_lkrtc.a: $(LK_GEN_OBJS)
# every link reads the dynamic list: it exists before any library is built
$(LIB_ARS) $(SVC_ARS) $(HARNESS_AR): | $(LK_GEN)/napi.dynlist

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- libFuzzer binaries (`make fuzz`, needs clang): build/san-fuzzer-no-link-address-undefined/fuzz/fuzz_<x>
# Run one with: <bin> -max_total_time=60 tests/fuzz/corpus/<x>
FUZZ_SAN := fuzzer-no-link,address,undefined
.PHONY: fuzz fuzz-bins
fuzz:
	$(MAKE) CC=clang SANITIZE=$(FUZZ_SAN) fuzz-bins
fuzz-bins: $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
$(BUILD)/fuzz/fuzz_%: $(OBJ)/tests/fuzz/fuzz_%.o $(SVC_ARS) $(LIB_ARS) | $(SYMS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $< $(LINK_ALL) $(LDLIBS)
.SECONDARY:

# fuzz_lkrtc_event loads this stand-in for the livekit-ffi engine (no
# sanitizers: a shim that only passes calls on to the fuzzer)
$(BUILD)/fuzz/libfake_lkffi.so: tests/fuzz/fake_lkffi.c
	@mkdir -p $(dir $@)
	@echo "  LD    $@"
	@$(CC) -std=c11 $(WARN) -O1 -g -fPIC -shared -o $@ $<
$(BUILD)/fuzz/fuzz_lkrtc_event $(BUILD)/fuzz/fuzz_lkrtc_event-replay: | $(BUILD)/fuzz/libfake_lkffi.so
