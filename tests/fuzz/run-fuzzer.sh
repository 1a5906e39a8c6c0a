#!/bin/sh
# usage: run-fuzzer.sh FUZZER SEEDS SECONDS
# Runs a libFuzzer target for SECONDS on a scratch corpus started from SEEDS
# (libFuzzer writes new inputs into its first corpus directory, and the
# seeds in the repository stay a readable handful). A crash keeps its
# reproducer in the build directory's fuzz-crashes/ and fails the test.
# A broken invariant (FZ_ASSERT) is said on the target's stdout, which
# stays open.
fuzzer=$1 seeds=$2 seconds=$3
scratch=$(mktemp -d)
crashes=$(dirname "$fuzzer")/fuzz-crashes
mkdir -p "$crashes"
trap 'rm -rf "$scratch"' EXIT
# libFuzzer's own failure status is 77, which meson reads as "skipped":
# every failure exits 1. On one, the end of the log says what broke.
"$fuzzer" -max_total_time="$seconds" -close_fd_mask=2 -print_final_stats=1 \
	-error_exitcode=1 -timeout_exitcode=1 \
	-artifact_prefix="$crashes/" "$scratch" "$seeds" >"$scratch.log" 2>&1
status=$?
grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY|Done)' "$scratch.log"
if [ "$status" -ne 0 ]; then
	echo "--- $fuzzer exited $status; the end of its log:"
	tail -n 60 "$scratch.log"
	[ "$status" -eq 77 ] && status=1
fi
rm -f "$scratch.log"
exit "$status"
