# The CLI's contract: version, help, exit codes, one-line errors, berthd.
. "$(dirname "$0")/lib"

lines() { [ -z "$1" ] && echo 0 || printf '%s\n' "$1" | wc -l; }

run version
arch=$(sed -n 's/^arch: *//p' <<<"$OUT")
expect "version prints version, arch, board, features" "bad output" \
	test "$RC" = 0 -a -n "$arch" -a "$(grep -c '^berth version [0-9]' <<<"$OUT")" = 1 \
	-a "$(grep -c '^board: ' <<<"$OUT")" = 1 -a "$(grep -cE '^features: ([+-][a-z0-9-]+ ?)+$' <<<"$OUT")" = 1
case "$(basename "$(dirname "$BERTH")")" in
x86_64 | aarch64 | armv7) want=$(basename "$(dirname "$BERTH")") ;;
*) want=$arch ;;
esac
expect "version arch matches the build ($want)" "arch '$arch'" test "$arch" = "$want"

run --version
expect "--version is one line" "bad output" test "$RC" = 0 -a "$(lines "$OUT")" = 1

run --help
expect "--help lists the commands" "missing commands" \
	test "$RC" = 0 -a -n "$(grep -E '^  version ' <<<"$OUT")" -a -n "$(grep -E '^  info ' <<<"$OUT")"

run frobnicate
expect "unknown command: exit 2, one line" "wrong" \
	test "$RC" = 2 -a "$ERR" = "berth: error: unknown command 'frobnicate' (see 'berth --help')" -a -z "$OUT"

run --frobnicate version
expect "unknown flag: exit 2, one line" "wrong" \
	test "$RC" = 2 -a "$(lines "$ERR")" = 1 -a -n "$(grep "^berth: error: unknown flag '--frobnicate'" <<<"$ERR")"

run version extra
expect "extra argument: exit 2, one line" "wrong" \
	test "$RC" = 2 -a "$(lines "$ERR")" = 1 -a -n "$(grep '^berth: error: version: unexpected argument' <<<"$ERR")"

run --root
expect "--root without a value: exit 2" "wrong" test "$RC" = 2 -a "$(lines "$ERR")" = 1

run
expect "no command: usage on stderr, exit 2" "wrong" test "$RC" = 2 -a -n "$(grep '^Usage: berth' <<<"$ERR")"

run --root /tmp/berth-cli-root info
if [ -r /etc/machine-id ] && [ -s /etc/machine-id ]; then
	expect "info shows data root and device id" "wrong" \
		test "$RC" = 0 -a -n "$(grep '^Data root:  /tmp/berth-cli-root$' <<<"$OUT")" \
		-a -n "$(grep -E '^Device ID:  [A-Za-z0-9._-]+ \(from [a-z-]+\)$' <<<"$OUT")"
else
	skip "info shows data root and device id" "this machine has no /etc/machine-id"
fi

# Started as berthd the binary is the daemon: same as `berth daemon`. Compared on
# --help and on a bad flag, which both return at once (with no arguments the
# daemon would start and run).
d=$(mktemp -d)
ln -s "$BERTH" "$d/berthd"
saved=$BERTH
BERTH=$d/berthd run --help
bh_rc=$RC bh_out=$OUT bh_err=$ERR
BERTH=$d/berthd run --bogus
BERTH=$saved
rm -rf "$d"
bd_rc=$RC bd_err=$ERR
run version
if grep -q -- '+daemon' <<<"$OUT"; then
	run daemon --help
	expect "berthd --help is berth daemon --help" "berthd: rc=$bh_rc out='$(head -1 <<<"$bh_out")'" \
		test "$bh_rc" = 0 -a "$RC" = 0 -a "$bh_out" = "$OUT" -a -n "$(grep '^Usage: berth daemon' <<<"$OUT")"
	run daemon --bogus
	expect "berthd with a bad flag fails as berth daemon does" "berthd: rc=$bd_rc err='$bd_err'" \
		test "$bd_rc" = 2 -a "$RC" = 2 -a "$bd_err" = "$ERR" -a -n "$(grep "unknown flag '--bogus'" <<<"$ERR")"
else
	expect "berthd in a build without the daemon fails clearly" "rc=$bh_rc err='$bh_err'" \
		test "$bh_rc" = 1 -a -n "$(grep '^berth: error: berthd: the daemon is not part of this build' <<<"$bh_err")"
fi
finish
