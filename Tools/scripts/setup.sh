#!/usr/bin/env bash
# What the build needs beyond the Swift toolchain, installed only when missing: Debian/Ubuntu's libzstd-dev
# (header and library of the CZstd module: the compressed expert tier), liburing-dev (the CUring target:
# the expert cache's io_uring reads) and pkg-config (SwiftPM finds zstd with it). The README's run and test commands start with this; it prints nothing when all is present.
# Elsewhere (macOS: `brew install zstd pkg-config`; other Linux: the distribution's zstd development package)
# it says what to install and exits 1.
set -euo pipefail

if [ -f /usr/include/zstd.h ] && [ -f /usr/include/liburing.h ] && command -v pkg-config >/dev/null 2>&1; then exit 0; fi
if [ "$(uname)" = Darwin ]; then
  if [ -f /opt/homebrew/include/zstd.h ] || [ -f /usr/local/include/zstd.h ]; then exit 0; fi
  echo "setup: install zstd and pkg-config (brew install zstd pkg-config), then run this again" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: install your distribution's zstd and liburing development packages (zstd.h, liburing.h and their libraries) and pkg-config" >&2
  exit 1
fi

PACKAGES=(libzstd-dev liburing-dev pkg-config)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "setup: need root to install ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi
echo "setup: installing ${missing[*]} (apt-get)" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
