#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets in Fuzz/ (Swift's -sanitize=fuzzer with the address
# sanitizer) and runs each for a bounded time, starting from its committed seed corpus in
# Fuzz/Corpus/<target>. What a run finds goes to .build/fuzz-artifacts/<target>/ and makes the
# command fail; the corpus it grows stays in .build/fuzz-corpus/<target>/ for the next run.
#
#   ./scripts/fuzz.sh [SECONDS] [TARGET...]    default 60 s for every target
#   make fuzz FUZZ_SECONDS=600                 the ten-minute runs recorded in docs/security.md
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(FuzzSMTPSession FuzzSMTPCommand FuzzSMTPInbound FuzzAddressList FuzzMessageHead FuzzMIME FuzzProxyHeader)
fi
build=(swift build --package-path Fuzz --build-path .build/fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld)
for target in "${targets[@]}"; do
  "${build[@]}" --product "$target"
done
bin="$("${build[@]}" --show-bin-path)"
# The Swift runtime's backtracer would race the address sanitizer's report; libFuzzer's is enough.
export SWIFT_BACKTRACE=enable=no
failed=()
for target in "${targets[@]}"; do
  corpus=".build/fuzz-corpus/$target"
  artifacts=".build/fuzz-artifacts/$target"
  mkdir -p "$corpus" "$artifacts"
  echo "fuzz: $target for ${seconds}s (corpus $corpus, seeds Fuzz/Corpus/$target)"
  if ! "$bin/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -artifact_prefix="$artifacts/" -print_final_stats=1 "$corpus" "Fuzz/Corpus/$target" 2> ".build/fuzz-$target.log"; then
    failed+=("$target")
    tail -40 ".build/fuzz-$target.log"
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|cov: " ".build/fuzz-$target.log" | tail -3 || true
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]} (inputs in .build/fuzz-artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s), ${seconds}s each, nothing found"
