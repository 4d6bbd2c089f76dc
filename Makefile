# Graft: `make demo` and `make test` do everything on a fresh Debian machine (as root).
PREFIX ?= /usr/local
SWIFT ?= swift
export PATH := /opt/swift/usr/bin:$(PATH)
# Python with torch, torchvision and pillow, for `make fixtures` and `make bench` only.
TORCH_PY ?= $(shell for p in $(HOME)/torchenv/bin/python python3; do $$p -c 'import torch, torchvision' 2>/dev/null && echo $$p && break; done)
DEBS = libdnnl-dev libzip-dev libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev pkg-config libopenmpi-dev openmpi-bin curl
# The demo's data: Fashion-MNIST, as Debian packages it.
DEMO_DEBS = dataset-fashion-mnist
# The commands: `make install` installs each with its man page and its bash, zsh and fish
# completions, and `make test` checks that all of them generate. A new command is one word here.
TOOLS = inspect_weights predict batch_predict finetune evaluate graft
# Where `make install` puts them (DESTDIR too, for packaging).
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man/man1
BASH_COMPLETIONS = $(PREFIX)/share/bash-completion/completions
ZSH_COMPLETIONS = $(PREFIX)/share/zsh/site-functions
FISH_COMPLETIONS = $(PREFIX)/share/fish/vendor_completions.d
# swift-argument-parser's generate-manual plugin writes one page per command here.
MANUALS = .build/plugins/GenerateManual/outputs

.PHONY: deps build-info build test demo fixtures install man man-check bench clean fuzz fuzz-replay report-check scale-test example-check serve-check docs

# Installs the Debian packages that are missing; does nothing when all are present.
deps:
	@missing=""; for p in $(DEBS) $(EXTRA_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The commit `--version` prints (`finetune 0.9.0 (commit 1a2b3c4)`, `-dirty` with uncommitted
# changes): written to Sources/CBuildInfo/build_commit.c (gitignored) before every build, and
# only when it changed, so that the same commit rebuilds nothing. Outside a git clone, and for
# a plain `swift build` of a tree where make never ran, the commands say `commit unknown`.
BUILD_COMMIT_C = Sources/CBuildInfo/build_commit.c
build-info:
	@c=""; \
	if [ "$$(git rev-parse --show-toplevel 2>/dev/null)" = "$$(pwd -P)" ]; then \
	  c=$$(git rev-parse --short=7 HEAD 2>/dev/null || true); \
	  if [ -n "$$c" ] && ! git diff --quiet HEAD -- 2>/dev/null; then c="$$c-dirty"; fi; \
	fi; \
	printf '%s\n' '// Written by `make` (build-info); not committed.' '#include "BuildInfo.h"' \
	  "const char *graft_build_commit(void) { return \"$$c\"; }" > $(BUILD_COMMIT_C).tmp; \
	if cmp -s $(BUILD_COMMIT_C).tmp $(BUILD_COMMIT_C); then rm -f $(BUILD_COMMIT_C).tmp; \
	else mv $(BUILD_COMMIT_C).tmp $(BUILD_COMMIT_C); fi

build: deps build-info
	$(SWIFT) build -c release

# The suite runs twice: on this CPU's best kernels, then capped to AVX2 (oneDNN reads
# ONEDNN_MAX_CPU_ISA once per process), so every run covers the AVX-512 and the AVX2 paths
# (8-channel blocks, no bf16: bf16 tests skip with the reason, refusal tests run).
#
# Each pass runs with a TMPDIR of its own, removed when the pass ends, passed or failed: the
# tests, the commands they start and swift's own temporary files all land there, so no run leaves
# files in /tmp (tests also remove their Scratch folder at exit). A pass needs about 0.5 GB there;
# below 2 GB free the run says so first, so that a full disk is not read as a failing test.
TEST_TMP = t=$$(mktemp -d "$${TMPDIR:-/tmp}/graft-make-test.XXXXXX") && trap 'rm -rf "$$t"' EXIT && export TMPDIR="$$t" &&
test: deps build-info
	@scripts/disk_check.sh "$${TMPDIR:-/tmp}" .
	$(SWIFT) build --build-tests
	$(TEST_TMP) $(SWIFT) test --skip-build
	@echo "== the same tests with oneDNN capped to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2) =="
	$(TEST_TMP) ONEDNN_MAX_CPU_ISA=AVX2 $(SWIFT) test --skip-build
	$(MAKE) man-check CONFIGURATION=debug
	$(MAKE) docs
	$(MAKE) example-check

# The Graft library's documentation (DocC, swift-docc-plugin): an archive in
# .build/plugins/Swift-DocC/outputs/Graft.doccarchive (`swift package --disable-sandbox
# preview-documentation --target Graft` serves it on localhost). Fails on any DocC warning (a
# broken link, a parameter left undocumented) and on a public symbol without a summary; part of
# `make test`.
DOCS_COVERAGE = .build/docs-coverage.txt
docs:
	@mkdir -p .build
	$(SWIFT) package generate-documentation --target Graft --warnings-as-errors \
	  --experimental-documentation-coverage --coverage-summary-level detailed > $(DOCS_COVERAGE) 2>&1 \
	  || { grep -v '|' $(DOCS_COVERAGE); exit 1; }
	@missing=$$(awk -F'|' 'NF > 7 && $$2 !~ /Kind|CollectionGroup|Operator|Tutorial/ && $$3 ~ /false/ { print $$1 $$8 }' $(DOCS_COVERAGE) \
	  | grep -v -e 'init(rawValue:)' -e '^rawValue ' -e hashValue -e 'hash(into' -e localizedDescription); \
	if [ -n "$$missing" ]; then echo "docs: public symbols of Graft without a summary:"; echo "$$missing"; exit 1; fi
	@echo "docs: every public symbol documented; .build/plugins/Swift-DocC/outputs/Graft.doccarchive"

# Examples/: a package that depends on Graft by .package(path: ".."), as a project using Graft
# as a library would: built (debug); classify run on a fixture checkpoint and image, its top class
# checked; classify-server (Hummingbird) started and asked for the same image. Its dependencies resolve as Graft's do (the same git URLs). SwiftPM refuses a package
# whose library targets use unsafeFlags as a dependency by URL, but not by path: so first no
# target of Package.swift may have any (swift package dump-package).
example-check:
	@if $(SWIFT) package dump-package | grep -q '"unsafeFlags"'; then \
	  echo "example-check: a target in Package.swift uses unsafeFlags (swift package dump-package): SwiftPM refuses Graft as a dependency by URL when a library target does"; exit 1; fi
	$(SWIFT) build --package-path Examples
	@out=$$(Examples/.build/debug/classify) && echo "$$out" && echo "$$out" | grep -q '^jpeg_420.jpg: sunflowers ' \
	  || { echo "example-check: Examples' classify did not print jpeg_420.jpg: sunflowers"; exit 1; }
	@PORT=18091 Examples/.build/debug/classify-server > /dev/null 2>&1 & pid=$$!; out=""; \
	for i in $$(seq 1 150); do \
	  out=$$(curl -s --data-binary @Fixtures/images/src/jpeg_420.jpg http://127.0.0.1:18091/classify) && [ -n "$$out" ] && break; sleep 0.2; \
	done; kill $$pid; echo "classify-server: $$out"; echo "$$out" | grep -q '"className":"sunflowers"' \
	  || { echo "example-check: Examples' classify-server did not answer sunflowers"; exit 1; }

demo:
	$(MAKE) build EXTRA_DEBS="$(DEMO_DEBS)"
	scripts/demo.sh

# Regenerates Fixtures/ from real PyTorch (never run by CI; the outputs are committed).
fixtures:
	@if [ -z "$(TORCH_PY)" ]; then echo "make fixtures needs torch: python3 -m venv ~/torchenv && ~/torchenv/bin/pip install torch torchvision pillow"; exit 1; fi
	$(TORCH_PY) Fixtures/make_fixtures.py

# The man pages (section 1), from each command's --help by swift-argument-parser's
# generate-manual plugin (offline: the plugin is in the resolved package), dated by the commit.
# Then three fixes of its output for a command without subcommands: a blank line (a paragraph
# break in the discussion, which mdoc warns about) becomes .Pp, and the synopsis' "subcommand"
# and the "help" entry, from the parser's own help subcommand, go.
CONFIGURATION ?= release
man: build-info
	$(SWIFT) package plugin generate-manual --configuration $(CONFIGURATION) \
	  --date "$$(git log -1 --format=%cs 2>/dev/null || date +%F)" --authors "Graft's developers"
	for t in $(TOOLS); do \
	  if [ $$t = graft ]; then sed -i -e 's/^$$/.Pp/' $(MANUALS)/$$t/$$t.1 || exit 1; continue; fi; \
	  sed -i -e 's/^$$/.Pp/' -e '/^\.Ar subcommand$$/d' -e '/^\.It Em help$$/,/^\.El$$/d' $(MANUALS)/$$t/$$t.1 || exit 1; \
	done

# Every command's man page and bash, zsh and fish completions generate, and say what they should
# (run by `make test`, on the debug build it made).
man-check: man
	@for t in $(TOOLS); do \
	  page=$(MANUALS)/$$t/$$t.1; \
	  grep -qi "^\.Dt $$t 1" "$$page" && grep -q '^\.Sh DESCRIPTION' "$$page" && grep -q 'Fl -version' "$$page" \
	    && ! grep -q -e '^$$' "$$page" && { [ $$t = graft ] || ! grep -q '^\.Ar subcommand' "$$page"; } \
	    || { echo "man-check: $$page is missing or not $$t's man page"; exit 1; }; \
	  for sh in bash zsh fish; do \
	    out=$$(.build/$(CONFIGURATION)/$$t --generate-completion-script $$sh) && echo "$$out" | grep -q "$$t" \
	      && echo "$$out" | grep -q 'version' \
	      || { echo "man-check: $$t --generate-completion-script $$sh failed"; exit 1; }; \
	  done; \
	  echo "man-check: $$t: man page and bash, zsh, fish completions"; \
	done

# Executables, man pages and completions, where man, bash-completion, zsh and fish look.
install: build man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(BASH_COMPLETIONS) \
	  $(DESTDIR)$(ZSH_COMPLETIONS) $(DESTDIR)$(FISH_COMPLETIONS)
	for t in $(TOOLS); do \
	  install -m 755 .build/release/$$t $(DESTDIR)$(BINDIR)/$$t && \
	  install -m 644 $(MANUALS)/$$t/$$t.1 $(DESTDIR)$(MANDIR)/$$t.1 && \
	  .build/release/$$t --generate-completion-script bash > $(DESTDIR)$(BASH_COMPLETIONS)/$$t && \
	  .build/release/$$t --generate-completion-script zsh > $(DESTDIR)$(ZSH_COMPLETIONS)/_$$t && \
	  .build/release/$$t --generate-completion-script fish > $(DESTDIR)$(FISH_COMPLETIONS)/$$t.fish \
	  || exit 1; \
	done

clean:
	rm -rf .build .build-fuzz

# Graft against PyTorch on this machine (PyTorch parts where torch is importable); prints ratios.
bench: build
	TORCH_PY="$(TORCH_PY)" python3 Benchmarks/bench.py

# graft serve under load on loopback (wrk), about 4 minutes: throughput against batch_predict,
# latency at concurrency 1, 8 and 64, RSS over 20,000 requests, garbage, truncated, slow and
# vanishing clients, 10x overload, kill -9. Prints the figures; not part of `make test`.
serve-check:
	$(MAKE) build EXTRA_DEBS="wrk bc curl"
	scripts/serve_check.sh

# Two "hosts" on this machine (network namespaces joined by a veth pair, one core each):
# batch_predict and data-parallel finetune under mpirun across them, with the run's figures.
# Needs root; not part of `make test`. scripts/scale_test.sh says more.
scale-test:
	$(MAKE) build EXTRA_DEBS="$(DEMO_DEBS) iproute2"
	scripts/scale_test.sh

# Fuzzing: libFuzzer + AddressSanitizer builds of the checkpoint reader, the JPEG and PNG
# decoders, the ImageFolder scan and graft serve's multipart uploads (Fuzz/), each run for
# FUZZ_SECONDS from seeds in Fixtures/ and Fuzz/seeds/;
# a summary line per target, findings in .build-fuzz/work/findings/. scripts/fuzz.sh says more.
#   make fuzz FUZZ_TARGETS=checkpoint FUZZ_SECONDS=600
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= checkpoint jpeg png imagefolder multipart
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TARGETS="$(FUZZ_TARGETS)" SWIFT=$(SWIFT) scripts/fuzz.sh

# Replays the saved findings in Fixtures/fuzz/ through the sanitizer build (make test replays
# them through the plain build).
fuzz-replay: deps
	FUZZ_TARGETS="$(FUZZ_TARGETS)" SWIFT=$(SWIFT) scripts/fuzz.sh replay

# Renders the demo's report.html in headless Chromium (Debian's chromium) to docs/report.png;
# fails if the page did not render, logged errors, or misses a part. Runs `make demo` first
# when demo-out/report.html is not there.
report-check:
	$(MAKE) deps EXTRA_DEBS=chromium
	@[ -f demo-out/report.html ] || $(MAKE) demo
	scripts/report_check.sh demo-out/report.html docs/report.png
