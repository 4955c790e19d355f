#!/usr/bin/env bash
# Runs one fuzz target under libFuzzer, coverage-guided, on stable Rust:
#
#   fuzz/libfuzzer/run.sh <target> [seconds] [libFuzzer flags...]
#
# Needs `cargo install cargo-fuzz` (and a C++ compiler, for libFuzzer itself). Starts from the
# committed seeds (fuzz/corpus/<target>/, never written to) and grows its corpus in
# target/libfuzzer/corpus/<target>/, so a second run picks up where the first stopped. Crashes
# land in fuzz/libfuzzer/artifacts/<target>/. SANITIZER=address adds AddressSanitizer, which
# needs nightly flags: the script then sets RUSTC_BOOTSTRAP=1.
set -euo pipefail

target=${1:?usage: fuzz/libfuzzer/run.sh <target> [seconds] [libFuzzer flags...]}
seconds=${2:-600}
shift $(( $# < 2 ? $# : 2 ))
sanitizer=${SANITIZER:-none}

cd "$(dirname "$0")/../.."
if [ "$sanitizer" != none ]; then
  export RUSTC_BOOTSTRAP=1
fi
grown="target/libfuzzer/corpus/$target"
mkdir -p "$grown"
exec cargo fuzz run --fuzz-dir fuzz/libfuzzer --target-dir target/libfuzzer \
  --sanitizer "$sanitizer" "$target" "$grown" "fuzz/corpus/$target" \
  -- -max_total_time="$seconds" "$@"
