#!/usr/bin/env bash
# Builds Tools/neon/qcheck.c with Sources/CKernels for AArch64 (baseline and +dotprod) and runs it
# under qemu-aarch64, so the NEON kernels are exercised on an x86 machine; then natively.
# Needs (Debian): qemu-user libc6-dev-arm64-cross libgcc-12-dev-arm64-cross binutils-aarch64-linux-gnu,
# and clang with ld.lld (the Swift toolchain's /opt/swift/usr/bin has both). What qcheck.c checks: its header.
# Exit status 0 when all three runs pass (about a minute on two cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${TMPDIR:-/tmp}/moe-neon-check
mkdir -p "$out"
gcc_dir=$(ls -d /usr/lib/gcc-cross/aarch64-linux-gnu/* | sort -V | tail -1)
src=(Tools/neon/qcheck.c Sources/CKernels/*.c)
inc=(-ISources/CKernels/include -ISources/CKernels)
for march in armv8-a armv8.2-a+dotprod; do
    clang --target=aarch64-linux-gnu -march="$march" --sysroot=/usr/aarch64-linux-gnu -isystem /usr/aarch64-linux-gnu/include \
        -B"$gcc_dir" -L"$gcc_dir" -fuse-ld=lld -static -O2 -Wall -Wextra "${inc[@]}" "${src[@]}" -lm -lpthread -o "$out/qcheck-$march"
    echo "== aarch64 $march ($(qemu-aarch64 --version | head -1))"
    qemu-aarch64 "$out/qcheck-$march"
done
clang -O2 -Wall -Wextra "${inc[@]}" "${src[@]}" -lm -lpthread -o "$out/qcheck-native"
echo "== native"
"$out/qcheck-native"
