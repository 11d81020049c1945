# Runs every libFuzzer target built by `make BOARD=x86_64-generic TARGET=fuzz
# fuzzers` for FUZZ_SECONDS (default 5) each, from its seed corpus in
# tests/fuzz/corpus/<name>/. A crash, leak or timeout fails; the input that
# caused it is kept in build/fuzz-artifacts/.
. "$(dirname "$0")/../integration/lib"
cd "$TOP"
secs=${FUZZ_SECONDS:-5}
dir=build/fuzz/x86_64-generic/tests/fuzz
art=build/fuzz-artifacts
mkdir -p "$art"
n=0
for bin in "$dir"/fuzz_*; do
	case "$bin" in *.o | *.d) continue ;; esac
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	n=$((n + 1))
	work=$(mktemp -d)
	seeds=tests/fuzz/corpus/$name
	[ -d "$seeds" ] || seeds=
	if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$art/$name-" -print_final_stats=1 \
		"$work" $seeds >"$art/$name.log" 2>&1; then
		ok "$name fuzzed ${secs}s: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$art/$name.log" | grep -o '[0-9]*$' || echo '?') runs"
	else
		notok "$name fuzzed ${secs}s" "$(grep -m1 -E 'ERROR|SUMMARY' "$art/$name.log") (log: $art/$name.log)"
	fi
	rm -rf "$work"
done
[ "$n" -gt 0 ] || skip "fuzz smoke" "no fuzz targets built in $dir"
finish
