# berth pull and the image commands against real registries (Debian's
# docker-registry) over HTTP, HTTPS, basic and token auth; unpacked images are
# compared with umoci's unpack of the same image, through a real overlay mount.
. "$(dirname "$0")/lib"
. "$(dirname "$0")/fixtures/registry.sh"
. "$(dirname "$0")/fixtures/images.sh"

for tool in docker-registry skopeo umoci unshare; do
	command -v "$tool" >/dev/null || { skip "pull" "$tool is not installed (run scripts/bootstrap)"; finish; }
done
[ "$(id -u)" = 0 ] || { skip "pull" "needs root (owners, device nodes, overlay mounts)"; finish; }

W=$(mktemp -d /tmp/berth-pull.XXXXXX)
trap 'registry_stop_all; rm -rf "$W"' EXIT
export BERTH_CONFIG=$W/cfg
mkdir -p "$BERTH_CONFIG"
R=$W/root

b() { run --root "$R" "$@"; }
config() { printf '%s\n' "$1" >"$BERTH_CONFIG/daemon.json"; }
lastline() { tail -n1 <<<"$1"; }
one_error_line() { [ "$(printf '%s\n' "$ERR" | wc -l)" = 1 ] && [[ "$ERR" == "berth: error: "* ]]; }

# layers IMAGE: the image's layer directories, lowest first.
layers() {
	"${RUNNER[@]}" "$BERTH" --root "$R" image inspect "$1" |
		python3 -c 'import json,sys; [print(l[7:]) for l in json.load(sys.stdin)[0]["RootFS"]["Layers"]]' |
		sed "s|^|$R/layers/sha256/|"
}

# merged IMAGE CMD...: runs CMD with $MNT the overlay of the image's layers,
# in a private mount namespace, so nothing stays mounted whatever happens.
merged() {
	local img=$1 lower
	shift
	lower=$(layers "$img" | tac | paste -sd: -)
	[ -n "$lower" ] || return 1
	case "$lower" in *:*) ;; *) lower="$lower:$W/empty" ;; esac
	mkdir -p "$W/empty" "$W/mnt"
	MNT=$W/mnt LOWER=$lower unshare -m --propagation private bash -c \
		'mount -t overlay overlay -o ro,lowerdir="$LOWER" "$MNT" && "$@"' _ "$@"
}

# Compares two trees: paths, types, modes, owners, sizes, link targets,
# device numbers, contents. Prints the first differences.
cat >"$W/cmp.py" <<'EOF'
import hashlib, os, stat, sys
def walk(top):
    out = {}
    for d, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, top)
            e = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            if stat.S_ISREG(st.st_mode):
                e += (st.st_size, hashlib.sha256(open(p, 'rb').read()).hexdigest())
            elif stat.S_ISLNK(st.st_mode):
                e += (os.readlink(p),)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                e += (st.st_rdev,)
            out[rel] = e
    return out
a, b = walk(sys.argv[1]), walk(sys.argv[2])
bad = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
for k in bad[:5]:
    print("# differs:", k, a.get(k), b.get(k))
print("# compared %d entries, %d differ" % (len(a), len(bad)))
sys.exit(1 if bad or not a else 0)
EOF

# umoci_rootfs REG REF DIR: umoci's unpack of the same image into DIR/rootfs.
umoci_rootfs() {
	local o
	mapfile -t o < <(img_skopeo_opts "$1" src)
	rm -rf "$3" "$3.oci"
	skopeo --insecure-policy copy -q "${o[@]}" "docker://$2" "oci:$3.oci:x" >/dev/null 2>&1 &&
		umoci unpack --image "$3.oci:x" "$3" >/dev/null 2>&1
}

# --- plain HTTP registry ---------------------------------------------------
registry_start plain http || { notok "registry" "could not start docker-registry"; finish; }
config "{\"insecure-registries\": [\"$REG_PLAIN_HOST\"]}"

img_single plain test/busybox:1
single=$IMG_REF
b pull "$single"
expect "pull single-layer OCI image over HTTP" "rc/last line" \
	test "$RC" = 0 -a "$(lastline "$OUT")" = "$single"
expect "pull prints the manifest digest" "no Digest line" grep -qx "Digest: $IMG_DIGEST" <<<"$OUT"
b images
expect "images lists it" "missing" grep -qE "^$REG_PLAIN_HOST/test/busybox +1 " <<<"$OUT"
umoci_rootfs plain "$single" "$W/ref1"
expect "unpacked image equals umoci's unpack" "trees differ" \
	merged "$single" python3 "$W/cmp.py" "$W/ref1/rootfs" "$W/mnt"
b pull "$single"
expect "second pull: up to date, layer already exists" "wrong output" \
	grep -q "Already exists" <<<"$OUT"
expect "second pull says up to date" "wrong output" grep -q "Image is up to date" <<<"$OUT"

img_multilayer plain test/multi:1
b pull "$IMG_REF"
expect "pull multi-layer image (whiteouts, opaque dirs, hardlinks, long names, setuid)" "rc" test "$RC" = 0
expect "multi-layer image unpacks to the expected tree" "check-rootfs failed" \
	merged "$IMG_REF" "$FIX_PY" "$FIX_DIR/oci_tool.py" check-rootfs "$IMG_EXPECT" "$W/mnt"
umoci_rootfs plain "$IMG_REF" "$W/ref2"
expect "multi-layer image equals umoci's unpack" "trees differ" \
	merged "$IMG_REF" python3 "$W/cmp.py" "$W/ref2/rootfs" "$W/mnt"
wh=$(find "$R/layers/sha256" -type c | head -1)
expect "whiteouts are stored as overlayfs 0/0 character devices" "none found" \
	test -n "$wh" -a "$(stat -c %t:%T "$wh" 2>/dev/null)" = "0:0"
opq=$(getfattr -R --absolute-names -n trusted.overlay.opaque "$R/layers/sha256" 2>/dev/null | grep -c '^trusted.overlay.opaque="y"')
expect "opaque directories carry trusted.overlay.opaque" "none found" test "$opq" -ge 1

img_docker plain test/docker:1
b pull "$IMG_REF"
expect "pull Docker schema 2 image" "rc" test "$RC" = 0 -a "$(lastline "$OUT")" = "$IMG_REF"

img_index plain test/multiarch:1
idx=$IMG_REF
b pull "$idx"
expect "pull from an index picks the host platform" "rc" test "$RC" = 0
expect "host platform is linux/amd64" "wrong platform" \
	merged "$idx" grep -qx linux/amd64 "$W/mnt/etc/berth-platform"
b --root "$W/fw/var/lib/berth" pull -q --platform linux/arm64 "$idx"
arch=$("${RUNNER[@]}" "$BERTH" --root "$W/fw/var/lib/berth" image inspect "$idx" 2>/dev/null |
	python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Architecture"])' 2>/dev/null)
expect "--platform linux/arm64 into a firmware rootfs (--root)" "rc=$RC arch=$arch" \
	test "$RC" = 0 -a "$arch" = arm64 -a "$OUT" = "$idx"
b --root "$W/fw2" pull -q --platform linux/arm/v7 "$idx"
expect "--platform linux/arm/v7" "rc" test "$RC" = 0
b pull --platform linux/s390x "$idx"
expect "a platform the index lacks: one line listing what it has" "wrong" \
	eval 'test "$RC" = 1 && one_error_line && grep -q "linux/arm64" <<<"$ERR"'

# --- errors -------------------------------------------------------------------
before=$("${RUNNER[@]}" "$BERTH" --root "$R" images -q --no-trunc | sort)
b pull "Not/A:Valid:Ref"
expect "malformed reference: exit 1, one line" "wrong" eval 'test "$RC" = 1 && one_error_line'
b pull "$REG_PLAIN_HOST/test/busybox:nosuchtag"
expect "missing tag: exit 1, one line naming it" "wrong" \
	eval 'test "$RC" = 1 && one_error_line && grep -q "not found" <<<"$ERR"'
b pull "$REG_PLAIN_HOST/test/busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000"
expect "missing digest: exit 1, one line" "wrong" eval 'test "$RC" = 1 && one_error_line'
b pull "127.0.0.1:1/test/busybox:1"
expect "registry down: exit 1, one line" "wrong" eval 'test "$RC" = 1 && one_error_line'
after=$("${RUNNER[@]}" "$BERTH" --root "$R" images -q --no-trunc | sort)
expect "failed pulls change nothing" "images changed" test "$before" = "$after"

# --- tag, inspect, rmi, prune, df, search ---------------------------------------
b tag "$single" local/mine:2
b images local/mine
expect "tag adds a name" "not listed" grep -qE '^local/mine +2 ' <<<"$OUT"
b image inspect local/mine:2
expect "inspect shows both tags" "wrong" \
	eval 'test "$RC" = 0 && grep -q "\"local/mine:2\"" <<<"$OUT" && grep -q "\"$single\"" <<<"$OUT"'
id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Id"])' <<<"$OUT")
b rmi "${id:7:12}"
expect "rmi by id of an image with two tags needs -f" "wrong" \
	eval 'test "$RC" = 1 && one_error_line'
b rmi local/mine:2
expect "rmi of one tag untags only" "wrong" \
	eval 'test "$RC" = 0 && test "$OUT" = "Untagged: local/mine:2"'
b rmi "$single"
expect "rmi of a name whose image has another tag only untags" "wrong" \
	eval 'test "$RC" = 0 && test "$OUT" = "Untagged: $single"'
b tag "$id" local/mine:3
b rmi -f "${id:7:12}"
expect "rmi -f by id untags everything and deletes the image" "wrong" \
	eval 'test "$RC" = 0 && grep -q "^Untagged: local/mine:3" <<<"$OUT" && grep -q "^Deleted: $id" <<<"$OUT"'
b system df
expect "system df reports images" "wrong" grep -qE '^Images +[0-9]+' <<<"$OUT"
b search "$REG_PLAIN_HOST/test"
expect "search lists repositories with tags" "wrong" \
	eval 'test "$RC" = 0 && grep -qE "^$REG_PLAIN_HOST/test/multi +1" <<<"$OUT"'
b image prune -a -f
b images -q
expect "image prune -a removes everything and frees the layers" "left: $OUT" \
	eval 'test -z "$OUT" && test -z "$(ls "$R/layers/sha256")"'

# --- HTTPS, certs.d -------------------------------------------------------------
registry_start sec https || notok "registry" "https registry did not start"
img_single sec test/busybox:1
config '{}'
b pull "$IMG_REF"
expect "HTTPS with an unknown CA: refused, says why" "wrong" \
	eval 'test "$RC" = 1 && one_error_line && grep -q "unknown certificate authority" <<<"$ERR"'
mkdir -p "$BERTH_CONFIG/certs.d/$REG_SEC_HOST"
cp "$REG_SEC_CA" "$BERTH_CONFIG/certs.d/$REG_SEC_HOST/ca.crt"
b pull "$IMG_REF"
expect "HTTPS with the CA in certs.d" "rc=$RC err=$ERR" test "$RC" = 0

# --- basic auth and login --------------------------------------------------------
registry_start auth basic || notok "registry" "basic-auth registry did not start"
img_single auth test/busybox:1
mkdir -p "$BERTH_CONFIG/certs.d/$REG_AUTH_HOST"
cp "$REG_AUTH_CA" "$BERTH_CONFIG/certs.d/$REG_AUTH_HOST/ca.crt"
b pull "$IMG_REF"
expect "basic auth without login: refused, says to log in" "wrong" \
	eval 'test "$RC" = 1 && one_error_line && grep -q "berth login" <<<"$ERR"'
b login -u "$REG_AUTH_USER" -p wrong "$REG_AUTH_HOST"
expect "login with a wrong password fails, stores nothing" "wrong" \
	eval 'test "$RC" = 1 && one_error_line && ! grep -qs "$REG_AUTH_HOST" "$BERTH_CONFIG/config.json"'
run --root "$R" login -u "$REG_AUTH_USER" --password-stdin "$REG_AUTH_HOST" <<<"$REG_AUTH_PASS"
expect "login with the right password" "rc=$RC err=$ERR" \
	eval 'test "$RC" = 0 && test "$OUT" = "Login Succeeded" && test "$(stat -c %a "$BERTH_CONFIG/config.json")" = 600'
b pull "$IMG_REF"
expect "pull with stored credentials" "rc=$RC err=$ERR" test "$RC" = 0
b logout "$REG_AUTH_HOST"
expect "logout removes the credentials" "wrong" \
	eval 'test "$RC" = 0 && ! grep -q "$REG_AUTH_HOST" "$BERTH_CONFIG/config.json"'

# --- token auth --------------------------------------------------------------------
registry_start tok token || notok "registry" "token registry did not start"
img_single tok test/busybox:1
mkdir -p "$BERTH_CONFIG/certs.d/$REG_TOK_HOST"
cp "$REG_TOK_CA" "$BERTH_CONFIG/certs.d/$REG_TOK_HOST/ca.crt"
token_reset tok
b pull "$IMG_REF"
expect "anonymous Bearer token flow" "rc=$RC err=$ERR" test "$RC" = 0
expect "one token fetched for the pull" "tokens=$(token_stat tok tokens)" \
	test "$(token_stat tok tokens)" -ge 1 -a "$(token_stat tok tokens)" -le 4

# A token server that wants credentials: login through the token flow.
registry_start tokauth token --require-auth || notok "registry" "token registry did not start"
img_single tokauth test/busybox:1
mkdir -p "$BERTH_CONFIG/certs.d/$REG_TOKAUTH_HOST"
cp "$REG_TOKAUTH_CA" "$BERTH_CONFIG/certs.d/$REG_TOKAUTH_HOST/ca.crt"
b pull "$IMG_REF"
expect "credentialed token flow without login: refused" "wrong" \
	eval 'test "$RC" = 1 && one_error_line && grep -qi "credentials refused\|access denied" <<<"$ERR"'
b login -u "$REG_TOKAUTH_USER" -p "$REG_TOKAUTH_PASS" "$REG_TOKAUTH_HOST"
expect "login through the token flow" "rc=$RC err=$ERR" test "$RC" = 0
token_reset tokauth
b pull "$IMG_REF"
expect "pull with a token bought with credentials" "rc=$RC err=$ERR" \
	test "$RC" = 0 -a "$(token_stat tokauth anonymous)" = 0
finish
