# Graft: `make demo` and `make test` do everything on a fresh Debian machine (as root).
PREFIX ?= /usr/local
SWIFT ?= swift
export PATH := /opt/swift/usr/bin:$(PATH)
# Python with torch, torchvision and pillow, for `make fixtures` and `make bench` only.
TORCH_PY ?= $(shell for p in $(HOME)/torchenv/bin/python python3; do $$p -c 'import torch, torchvision' 2>/dev/null && echo $$p && break; done)
DEBS = libdnnl-dev libzip-dev libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev pkg-config libopenmpi-dev openmpi-bin
# The demo's data: Fashion-MNIST, as Debian packages it.
DEMO_DEBS = dataset-fashion-mnist
TOOLS = inspect_weights predict batch_predict finetune evaluate

.PHONY: deps build test demo fixtures install bench clean fuzz fuzz-replay report-check scale-test

# Installs the Debian packages that are missing; does nothing when all are present.
deps:
	@missing=""; for p in $(DEBS) $(EXTRA_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	$(SWIFT) build -c release

# The suite runs twice: on this CPU's best kernels, then capped to AVX2 (oneDNN reads
# ONEDNN_MAX_CPU_ISA once per process), so every run covers the AVX-512 and the AVX2 paths
# (8-channel blocks, no bf16: bf16 tests skip with the reason, refusal tests run).
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	@echo "== the same tests with oneDNN capped to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2) =="
	ONEDNN_MAX_CPU_ISA=AVX2 $(SWIFT) test --skip-build

demo:
	$(MAKE) build EXTRA_DEBS="$(DEMO_DEBS)"
	scripts/demo.sh

# Regenerates Fixtures/ from real PyTorch (never run by CI; the outputs are committed).
fixtures:
	@if [ -z "$(TORCH_PY)" ]; then echo "make fixtures needs torch: python3 -m venv ~/torchenv && ~/torchenv/bin/pip install torch torchvision pillow"; exit 1; fi
	$(TORCH_PY) Fixtures/make_fixtures.py

install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	for t in $(TOOLS); do install -m 755 .build/release/$$t $(DESTDIR)$(PREFIX)/bin/$$t; done

clean:
	rm -rf .build .build-fuzz

# Graft against PyTorch on this machine (PyTorch parts where torch is importable); prints ratios.
bench: build
	TORCH_PY="$(TORCH_PY)" python3 Benchmarks/bench.py

# Two "hosts" on this machine (network namespaces joined by a veth pair, one core each):
# batch_predict and data-parallel finetune under mpirun across them, with the run's figures.
# Needs root; not part of `make test`. scripts/scale_test.sh says more.
scale-test:
	$(MAKE) build EXTRA_DEBS="$(DEMO_DEBS) iproute2"
	scripts/scale_test.sh

# Fuzzing: libFuzzer + AddressSanitizer builds of the checkpoint reader, the JPEG and PNG
# decoders and the ImageFolder scan (Fuzz/), each run for FUZZ_SECONDS from seeds in Fixtures/;
# a summary line per target, findings in .build-fuzz/work/findings/. scripts/fuzz.sh says more.
#   make fuzz FUZZ_TARGETS=checkpoint FUZZ_SECONDS=600
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= checkpoint jpeg png imagefolder
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
