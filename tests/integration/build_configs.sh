# Every board config, plus all-no and all-yes, builds a static stripped binary
# whose reported features match its .config, and config.h defines every symbol.
. "$(dirname "$0")/lib"
cd "$TOP"

boards=$(for d in board/*/defconfig; do basename "$(dirname "$d")"; done)
syms=$(cat Kconfig */Kconfig | sed -n 's/^[[:space:]]*config[[:space:]]\+\([A-Z0-9_]*\).*/\1/p' | sort -u)

# TAG=cfgtest: each config builds in its own tree and binary name, so the
# binary the other tests run (build/<arch>/berth) is not replaced by allyes.
for b in $boards allno allyes; do
	if ! log=$(make -s BOARD="$b" TAG=cfgtest all 2>&1); then
		notok "$b builds" "$(tail -3 <<<"$log" | tr '\n' ' ')"
		continue
	fi
	cfg=build/cfg/$b/.config
	arch=$(sed -n 's/^CONFIG_ARCH_\(.*\)=y$/\1/p' "$cfg" | tr 'A-Z' 'a-z')
	bin=build/$arch/$b-cfgtest/berth
	desc=$(file -b "$bin")
	expect "$b builds a static stripped $arch binary" "file: $desc" \
		grep -q 'statically linked, stripped' <<<"$desc"

	missing=$(for s in $syms; do grep -q "^#define CONFIG_$s " "build/$arch/$b-cfgtest/config.h" || echo "$s"; done)
	expect "$b config.h defines every Kconfig symbol" "missing: $missing" test -z "$missing"

	# Features as the binary reports them (native arch only) against .config.
	if [ "$arch" != x86_64 ]; then continue; fi
	feats=$("$bin" version | sed -n 's/^features: //p')
	bad=""
	for pair in daemon:DAEMON tls:TLS network:NETWORK squashfs:SQUASHFS heartbeat:HEARTBEAT tcp-tls:DAEMON_TLS seccomp:SECCOMP; do
		f=${pair%%:*} s=${pair#*:}
		if grep -q "^CONFIG_$s=y" "$cfg"; then want="+$f"; else want="-$f"; fi
		grep -qw -- "$want" <<<"$feats" || bad+=" $want"
	done
	expect "$b reports the features its config selects" "not reported:$bad (got '$feats')" test -z "$bad"
done

size=$(stat -c %s build/x86_64/x86_64-generic-cfgtest/berth 2>/dev/null || echo 0)
expect "x86_64-generic binary is under 1 MiB ($size bytes)" "too big" test "$size" -gt 0 -a "$size" -lt 1048576

mini=build/x86_64/minimal-cfgtest/berth
expect "minimal config leaves out TLS, daemon and squashfs" "$("$mini" version | tail -1)" \
	grep -q -- '-daemon.*-tls.*-squashfs' <<<"$("$mini" version)"
finish
