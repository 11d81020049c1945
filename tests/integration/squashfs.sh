#!/bin/bash
# The squashfs layer store (issue 8) against the directory store, black-box:
# the same images pulled into a data root with "storage-driver": "squashfs"
# and one with "overlay". Every layer image is checked with squashfs-tools
# (unsquashfs -s, -lln listing, -d extraction) and through the kernel (the
# loop mounts a running container uses) against the unpacked directory of the
# same layer; containers from both roots must see the same merged rootfs;
# mounts and loop devices come and go with containers; switching the driver
# of a populated root is refused; hostile layers are refused in the same
# words; a pull killed while it writes an image leaves nothing half-written
# visible. Ends with run_smoke.sh's checks on a squashfs root.
#
# Implicit parent directories (a layer lists a/b/c but not a/b): the
# directory driver gives them the metadata of the same directory in a lower
# layer (fixup after the pull); a squashfs image is read-only and keeps them
# 0755 root:root marked trusted.berth.implicit="1" (the layer root, when it
# has such children, trusted.berth.fixup="1"). The per-layer comparisons are
# made modulo that (printed as "# implicit ..." lines); the merged rootfs is
# compared exactly.
# shellcheck disable=SC2317,SC2016,SC2034 # helpers and variables used through expect/eval and traps
. "$(dirname "$0")/lib"
. "$(dirname "$0")/fixtures/registry.sh"
. "$(dirname "$0")/fixtures/images.sh"

[ "$(id -u)" = 0 ] || { skip "squashfs store" "needs root (loop devices, mounts, owners)"; finish; }
for tool in docker-registry skopeo umoci unsquashfs getfattr losetup setsid; do
	command -v "$tool" >/dev/null || { skip "squashfs store" "$tool is not installed (run scripts/bootstrap)"; finish; }
done
[ -x "$BERTH" ] || { notok "squashfs store" "no berth binary at $BERTH (build it first)"; finish; }
"${RUNNER[@]}" "$BERTH" version 2>/dev/null | grep -q '+squashfs' ||
	{ skip "squashfs store" "this berth build has no squashfs (CONFIG_SQUASHFS)"; finish; }
grep -qw squashfs /proc/filesystems || modprobe squashfs 2>/dev/null
if ! grep -qw squashfs /proc/filesystems || [ ! -e /dev/loop-control ]; then
	skip "squashfs store" "the kernel has no squashfs or no loop devices"
	finish
fi

W=$(mktemp -d /tmp/berth-sqfs.XXXXXX)
export BERTH_CONFIG=$W/cfg # credentials and certs.d stay in here
mkdir -p "$BERTH_CONFIG"
PGROUPS=() # setsid'd berth processes

bq() { "${RUNNER[@]}" "$BERTH" "$@" 2>/dev/null; } # quiet, for cleanup and probes
# Unmounts everything at or below DIR, deepest first.
unmount_under() {
	local m
	awk -v p="$1/" '{ m = $5; gsub(/\\040/, " ", m); if (index(m "/", p) == 1) print m }' \
		/proc/self/mountinfo | sort -r | while IFS= read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
}
# Loop devices whose backing file is below DIR, one "DEV FILE" a line.
loops_under() {
	losetup -l -n -O NAME,BACK-FILE 2>/dev/null | awk -v p="$1/" 'index($2, p) == 1 { print $1, $2 }'
}
mounts_under() { awk -v p="$1/" 'index($5 "/", p) == 1 { print $5 }' /proc/self/mountinfo; }
cleanup() {
	local r c g dev
	for g in "${PGROUPS[@]}"; do kill -KILL -- "-$g" 2>/dev/null; done
	for r in "$W"/r-*; do
		[ -d "$r" ] || continue
		for c in $(bq --root "$r" ps -aq); do bq --root "$r" rm -f "$c" >/dev/null; done
	done
	unmount_under "$W"
	loops_under "$W" | while read -r dev _; do losetup -d "$dev" 2>/dev/null; done
	registry_stop_all
	rm -rf "$W"
}
trap cleanup EXIT

count() { if [ -z "$1" ]; then echo 0; else printf '%s\n' "$1" | wc -l; fi; }
one_error_line() { [ "$(count "$ERR")" = 1 ] && [[ "$ERR" == "berth: error: "* ]]; }

# --- comparisons (python, stdlib only) ---------------------------------------
cat >"$W/sq.py" <<'EOF'
import errno, hashlib, json, os, re, stat, sys, tarfile, time

def norm(n):
    n = n.lstrip("/")
    parts = [p for p in n.split("/") if p not in ("", ".")]
    return "/".join(parts) or "."

def layout_layers(layout, tag):
    """diff_id hex and blob path of each layer of LAYOUT:TAG, lowest first."""
    def blob(d):
        return os.path.join(layout, "blobs", *d.split(":", 1))
    idx = json.load(open(os.path.join(layout, "index.json")))
    m = [x for x in idx["manifests"]
         if x.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
    man = json.load(open(blob(m["digest"])))
    conf = json.load(open(blob(man["config"]["digest"])))
    for l, d in zip(man["layers"], conf["rootfs"]["diff_ids"]):
        print(d[7:], blob(l["digest"]))

def implicit(blob):
    """The parent directories a layer tar uses without listing them."""
    names = set()
    with tarfile.open(blob, "r:*") as t:
        for m in t:
            names.add(norm(m.name))
    imp = set()
    for n in names:
        parts = n.split("/")
        for i in range(1, len(parts)):
            p = "/".join(parts[:i])
            if p not in names:
                imp.add(p)
    for p in sorted(imp):
        print(p)

def file_shas(blob):
    with tarfile.open(blob, "r:*") as t:
        for m in t:
            if m.isreg():
                h, f = hashlib.sha256(), t.extractfile(m)
                for b in iter(lambda: f.read(1 << 20), b""):
                    h.update(b)
                print(norm(m.name), h.hexdigest())

def xattrs(p):
    try:
        names = os.listxattr(p, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise
    out = {}
    for n in names:
        try:
            out[n] = os.getxattr(p, n, follow_symlinks=False).decode("latin-1")
        except OSError as e:
            out[n] = "<error %d>" % e.errno
    return out

def kind(m):
    return {stat.S_IFREG: "f", stat.S_IFDIR: "d", stat.S_IFLNK: "l", stat.S_IFCHR: "c",
            stat.S_IFBLK: "b", stat.S_IFIFO: "p", stat.S_IFSOCK: "s"}.get(stat.S_IFMT(m), "?")

def walk(top):
    """path -> metadata, and the hardlink groups (paths sharing an inode)."""
    ents, inos = {}, {}
    def one(p, rel):
        st = os.lstat(p)
        k = kind(st.st_mode)
        e = {"type": k, "mode": "%04o" % stat.S_IMODE(st.st_mode), "uid": st.st_uid,
             "gid": st.st_gid, "xattrs": xattrs(p)}
        if k == "f":
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for b in iter(lambda: f.read(1 << 20), b""):
                    h.update(b)
            e.update(size=st.st_size, sha256=h.hexdigest(), mtime=int(st.st_mtime))
        elif k == "l":
            e.update(target=os.readlink(p), size=st.st_size, mtime=int(st.st_mtime))
        elif k in "cb":
            e.update(rdev="%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))
        if k != "d":
            e["nlink"] = st.st_nlink
            if st.st_nlink > 1:
                inos.setdefault((st.st_dev, st.st_ino), []).append(rel)
        ents[rel] = e
        if k == "d":
            for n in sorted(os.listdir(p)):
                one(os.path.join(p, n), n if rel == "." else rel + "/" + n)
    one(top, ".")
    return ents, sorted(sorted(g) for g in inos.values())

def cmp_trees(dirtree, sqtree, implicit_file):
    """dirtree: the directory driver's layer; sqtree: the same layer from a
    squashfs image (extracted or mounted). Equal modulo implicit
    directories; prints '# ...' lines, exits 1 on a difference."""
    a, ga = walk(dirtree)
    b, gb = walk(sqtree)
    want_imp = set(l.strip() for l in open(implicit_file) if l.strip())
    bad, notes = [], []
    got_imp = set(p for p, e in b.items() if e["xattrs"].get("trusted.berth.implicit") == "1")
    if got_imp != want_imp:
        bad.append("implicit directories: marked %s, the layer leaves %s unlisted"
                   % (sorted(got_imp), sorted(want_imp)))
    fix = b.get(".", {}).get("xattrs", {}).get("trusted.berth.fixup") == "1"
    if fix != bool(want_imp):
        bad.append("layer root trusted.berth.fixup=%s with %d implicit directories" % (fix, len(want_imp)))
    for p in sorted(set(a) | set(b)):
        x, y = a.get(p), b.get(p)
        if x is None or y is None:
            bad.append("%s: only in the %s" % (p, "directory layer" if y is None else "squashfs image"))
            continue
        y = dict(y, xattrs={k: v for k, v in y["xattrs"].items()
                            if k not in ("trusted.berth.implicit", "trusted.berth.fixup")})
        if p in got_imp or (p == "." and fix):
            if (y["type"], y["mode"], y["uid"], y["gid"]) != ("d", "0755", 0, 0):
                bad.append("%s: implicit directory is %s %s %d:%d, want d 0755 0:0"
                           % (p, y["type"], y["mode"], y["uid"], y["gid"]))
            if (x["mode"], x["uid"], x["gid"]) != (y["mode"], y["uid"], y["gid"]):
                notes.append("implicit %s: directory driver %s %d:%d, squashfs %s %d:%d" % (
                    p, x["mode"], x["uid"], x["gid"], y["mode"], y["uid"], y["gid"]))
            x = {k: v for k, v in x.items() if k not in ("mode", "uid", "gid")}
            y = {k: v for k, v in y.items() if k not in ("mode", "uid", "gid")}
        if x != y:
            d = {k: (x.get(k), y.get(k)) for k in set(x) | set(y) if x.get(k) != y.get(k)}
            bad.append("%s differs (directory, squashfs): %s" % (p, d))
    if ga != gb:
        bad.append("hardlink groups differ: directory %s, squashfs %s" % (ga, gb))
    for n in notes:
        print("# " + n)
    for x in bad[:8]:
        print("# differs: " + x)
    print("# compared %d entries (%d implicit), %d differences" % (len(a), len(got_imp), len(bad)))
    return 1 if bad or len(a) < 2 else 0

LLN = re.compile(r"^(\S{10}) (\d+)/(\d+) +(\d+|\d+, *\d+) (\d{4}-\d\d-\d\d \d\d:\d\d) squashfs-root(/.*?)?(?: -> (.*))?$")

def cmp_lln(listing, dirtree, implicit_file):
    """unsquashfs -lln (TZ=UTC) against the directory layer: path, mode
    string, owner, size (devices: major,minor; directories: not compared),
    minute of mtime (files, symlinks), symlink target."""
    want_imp = set(l.strip() for l in open(implicit_file) if l.strip())
    got, bad = {}, []
    for line in open(listing):
        line = line.rstrip("\n")
        if not line:
            continue
        m = LLN.match(line)
        if not m:
            bad.append("unparsed line %r" % line)
            continue
        perm, uid, gid, size, when, path, target = m.groups()
        path = (path or "/")[1:] or "."
        e = {"perm": perm, "owner": "%s:%s" % (uid, gid)}
        if perm[0] in "-l":
            e.update(size=size, mtime=when)
        elif perm[0] in "cb":
            e["size"] = re.sub(r"\s+", "", size)
        if perm[0] == "l":
            e["target"] = target
        got[path] = e
    exp = {}
    for d, dirs, files in os.walk(dirtree):
        for n in [None] + dirs + files:
            p = d if n is None else os.path.join(d, n)
            if n is None and d != dirtree:
                continue
            rel = os.path.relpath(p, dirtree)
            st = os.lstat(p)
            e = {"perm": stat.filemode(st.st_mode), "owner": "%d:%d" % (st.st_uid, st.st_gid)}
            if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                e.update(size=str(st.st_size),
                         mtime=time.strftime("%Y-%m-%d %H:%M", time.gmtime(st.st_mtime)))
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                e["size"] = "%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
            if stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(p)
            exp[rel] = e
    for p in sorted(set(got) | set(exp)):
        x, y = exp.get(p), got.get(p)
        if x is None or y is None:
            bad.append("%s: only in the %s" % (p, "directory layer" if y is None else "listing"))
            continue
        if p in want_imp or (p == "." and want_imp):
            if y["perm"] != "drwxr-xr-x" or y["owner"] != "0:0":
                bad.append("%s: implicit directory listed %s %s" % (p, y["perm"], y["owner"]))
            x, y = x["perm"][0], y["perm"][0]
        if x != y:
            bad.append("%s: directory %s, listing %s" % (p, x, y))
    for x in bad[:8]:
        print("# differs: " + x)
    print("# listing: %d entries, %d differences" % (len(got), len(bad)))
    return 1 if bad or len(got) < 2 else 0

def tar_tree(path):
    ents, links = {}, []
    with tarfile.open(path, "r:*") as t:
        for m in t:
            n = norm(m.name)
            if m.islnk():
                links.append((n, norm(m.linkname)))
                continue
            e = {"type": "f" if m.isreg() else "d" if m.isdir() else "l" if m.issym() else
                 "c" if m.ischr() else "b" if m.isblk() else "p" if m.isfifo() else "?",
                 "mode": "%04o" % m.mode, "uid": m.uid, "gid": m.gid,
                 "xattrs": {k: v for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}}
            if m.isreg():
                e.update(size=m.size, sha256=hashlib.sha256(t.extractfile(m).read()).hexdigest())
            elif m.issym():
                e["target"] = m.linkname
            elif m.ischr() or m.isblk():
                e["rdev"] = "%d:%d" % (m.devmajor, m.devminor)
            if n in ents:
                e["dup"] = True
            ents[n] = e
    group = {}
    for n, tgt in links:
        ents[n] = ents.get(tgt, {"type": "dangling hardlink to " + tgt})
        g = group.get(tgt) or {tgt}
        g.add(n)
        group[tgt] = group[n] = g
    return ents, sorted(set(tuple(sorted(g)) for g in group.values()))

def cmp_tars(overlay_tar, squashfs_tar):
    """Exported rootfs from the overlay root against the squashfs root."""
    a, ga = tar_tree(overlay_tar)
    b, gb = tar_tree(squashfs_tar)
    bad = []
    for p in sorted(set(a) | set(b)):
        x, y = a.get(p), b.get(p)
        if x != y:
            if x is None or y is None:
                bad.append("%s: only from the %s root" % (p, "overlay" if y is None else "squashfs"))
            else:
                bad.append("%s (overlay, squashfs): %s" % (p, {k: (x.get(k), y.get(k)) for k in set(x) | set(y)
                                                              if x.get(k) != y.get(k)}))
    if ga != gb:
        bad.append("hardlink groups differ: overlay %s, squashfs %s" % (ga, gb))
    for x in bad[:8]:
        print("# differs: " + x)
    print("# exported rootfs: %d entries, %d differences" % (len(a), len(bad)))
    return 1 if bad or len(a) < 2 else 0

if __name__ == "__main__":
    f = {"layers": layout_layers, "implicit": implicit, "shas": file_shas, "tree": cmp_trees,
         "lln": cmp_lln, "tars": cmp_tars}[sys.argv[1]]
    sys.exit(f(*sys.argv[2:]) or 0)
EOF
sq() { "$FIX_PY" "$W/sq.py" "$@"; }

# --- registry, images, configs -------------------------------------------------
registry_start sq http >/dev/null || { notok "setup: registry" "could not start docker-registry"; finish; }
img_multilayer sq sq/multi:1 || { notok "setup: multi-layer image" "could not build or push"; finish; }
MULTI=$IMG_REF NLAYERS=$IMG_LAYERS EXPECT=$IMG_EXPECT
LAYOUT=${IMG_SRC#oci:}
LAYOUT=${LAYOUT%:multi}
sq layers "$LAYOUT" multi >"$W/layers" || { notok "setup: layers of the image" "cannot read $LAYOUT"; finish; }

conf() { # FILE DRIVER [MORE-JSON]: a daemon.json
	printf '{"insecure-registries": ["%s"], "storage-driver": "%s"%s}\n' "$REG_SQ_HOST" "$2" "${3:-}" >"$1"
}
CS=$W/squashfs.json CO=$W/overlay.json
conf "$CS" squashfs
conf "$CO" overlay
RS=$W/r-squashfs RO=$W/r-overlay
bs() { run --config-file "$CS" --root "$RS" "$@"; }
bo() { run --config-file "$CO" --root "$RO" "$@"; }

# --- 1. the pull: one image per layer, nothing unpacked ----------------------------
bs pull -q "$MULTI"
expect "pull with storage-driver squashfs" "pull failed" test "$RC:$OUT" = "0:$MULTI"
bo pull -q "$MULTI"
expect "pull the same image with storage-driver overlay (the reference)" "pull failed" test "$RC:$OUT" = "0:$MULTI"
expect "DIR/driver says squashfs" "driver file: '$(cat "$RS/driver" 2>&1)'" \
	test "$(cat "$RS/driver" 2>/dev/null)" = squashfs
want=$(awk '{ print $1 ".sqfs" }' "$W/layers" | sort)
have=$(ls "$RS/layers/sqfs" 2>/dev/null | sort)
expect "layers/sqfs holds one <diff_id>.sqfs per layer and nothing else" "want '$want' have '$have'" \
	test -n "$want" -a "$want" = "$have"
left=$(find "$RS/layers/sha256" -mindepth 1 2>/dev/null)
expect "layers/sha256 stays empty" "it holds: $left" test -d "$RS/layers/sha256" -a -z "$left"
sizes=$(stat -c %s "$RS"/layers/sqfs/*.sqfs 2>/dev/null | awk '$1 % 4096 { print }')
expect "every image is padded to 4 KiB (loop devices)" "sizes not multiple of 4096: $sizes" test -z "$sizes"

# --- 2. every layer against the directory driver, with squashfs-tools ----------------
i=0
while read -r hex blob; do
	i=$((i + 1))
	img=$RS/layers/sqfs/$hex.sqfs dir=$RO/layers/sha256/$hex
	sq implicit "$blob" >"$W/implicit.$i"
	s=$(unsquashfs -s "$img" 2>&1)
	src=$?
	expect "layer $i: unsquashfs -s accepts the image (squashfs 4.0, gzip, 128 KiB blocks)" "rc=$src: $(head -3 <<<"$s")" \
		eval 'test $src = 0 && grep -q "valid SQUASHFS 4:0 superblock" <<<"$s" &&
			grep -qx "Compression gzip" <<<"$s" && grep -qx "Block size 131072" <<<"$s"'
	TZ=UTC unsquashfs -lln "$img" >"$W/lln.$i" 2>"$W/lln.$i.err"
	lrc=$?
	out=$(sq lln "$W/lln.$i" "$dir" "$W/implicit.$i")
	crc=$?
	printf '%s\n' "$out" | grep '^# differs' | sed "s/^# /# layer $i: /"
	expect "layer $i: unsquashfs -lln (-lls, numeric owners) lists what the directory driver unpacked" \
		"unsquashfs rc=$lrc $(head -c 200 "$W/lln.$i.err") $(tail -1 <<<"$out")" test $lrc = 0 -a $crc = 0
	rm -rf "$W/x.$i"
	unsquashfs -q -n -d "$W/x.$i" "$img" >"$W/x.$i.log" 2>&1
	xrc=$?
	out=$(sq tree "$dir" "$W/x.$i" "$W/implicit.$i")
	crc=$?
	printf '%s\n' "$out" | grep -E '^# (differs|implicit)' | sed "s/^# /# layer $i: /"
	expect "layer $i: unsquashfs -d extracts the same tree (types, modes, owners, sizes, targets, xattrs, contents, hardlinks) modulo implicit dirs" \
		"unsquashfs rc=$xrc $(tail -c 200 "$W/x.$i.log") $(tail -1 <<<"$out")" test $xrc = 0 -a $crc = 0
	rm -rf "$W/x.$i"
done <"$W/layers"
opq=$(unsquashfs -q -n -d "$W/x.opq" "$RS/layers/sqfs/$(sed -n 2p "$W/layers" | cut -d' ' -f1).sqfs" >/dev/null 2>&1 &&
	getfattr -h --absolute-names -n trusted.overlay.opaque --only-values "$W/x.opq/data/opaque" 2>/dev/null)
wh=$(stat -c %F:%t:%T "$W/x.opq/data/deleted.txt" 2>/dev/null)
expect "layer 2: opaque dir carries trusted.overlay.opaque=y, whiteouts are 0/0 char devices" "opaque='$opq' whiteout '$wh'" \
	test "$opq:$wh" = "y:character special file:0:0"
rm -rf "$W/x.opq"

# --- 3. containers from the squashfs root ----------------------------------------------
# Exported rootfs of a container from each root: the same tree.
bs create --name ex "$MULTI" /bin/true
bs export -o "$W/s.tar" ex
src=$RC
bo create --name ex "$MULTI" /bin/true
bo export -o "$W/o.tar" ex
out=$(sq tars "$W/o.tar" "$W/s.tar")
crc=$?
printf '%s\n' "$out" | grep '^# differs'
expect "berth export: the container rootfs from the squashfs root equals the one from the overlay root" \
	"export rc=$src; $(tail -1 <<<"$out")" test $src = 0 -a $crc = 0
mkdir -p "$W/s.rootfs" "$W/o.rootfs"
tar --numeric-owner -xpf "$W/s.tar" -C "$W/s.rootfs" 2>/dev/null
tar --numeric-owner -xpf "$W/o.tar" -C "$W/o.rootfs" 2>/dev/null
out=$("$FIX_PY" "$FIX_DIR/oci_tool.py" check-rootfs "$EXPECT" "$W/o.rootfs")
expect "control: the overlay root's exported rootfs passes check-rootfs" "$(head -3 <<<"$out" | tr '\n' ';')" test -z "$out"
out=$("$FIX_PY" "$FIX_DIR/oci_tool.py" check-rootfs "$EXPECT" "$W/s.rootfs")
printf '%s\n' "$out" | head -5 | sed 's/^/# squashfs check-rootfs: /'
expect "the squashfs root's exported rootfs passes check-rootfs (whiteouts, opaque dirs, hardlinks, owners)" \
	"$(head -3 <<<"$out" | tr '\n' ';')" test -z "$out"
rm -rf "$W/s.rootfs" "$W/o.rootfs"
bs rm ex
bo rm ex

# Whiteouts and opaque directories seen from inside a running container.
bs run --rm "$MULTI" sh -c 'for f in /data/deleted.txt /data/gone-dir /data/opaque/a.txt /data/opaque/sub /data/dir-to-file/inner.txt; do [ -e $f ] && echo "present: $f"; done; cat /data/resurrected.txt /data/modified.txt /data/opaque/new.txt'
expect "inside a container: what layer 2 deletes or hides is gone, later versions win" "output: $OUT" \
	test "$RC:$OUT" = "0:layer 3 version
layer 2 version
new in layer 2"
bs run --rm "$MULTI" sh -c 'echo x >/data/keep.txt && cat /data/keep.txt && echo y >/new && cat /new && rm /data/hard-orig && ls /data/hardlink'
expect "inside a container: the rootfs is writable above the read-only images" "output: $OUT" \
	test "$RC:$OUT" = "0:x
y
/data/hardlink"

# Mounts while containers run; shared; released after rm.
nm0=$(count "$(mounts_under "$RS")")
nl0=$(count "$(loops_under "$RS")")
expect "no image is mounted while no container exists" "mounts=$nm0 loops=$nl0" test "$nm0:$nl0" = 0:0
bs run -d --name one "$MULTI" sh -c 'while :; do sleep 1; done'
rc1=$RC
m1=$(mounts_under "$RS") l1=$(loops_under "$RS")
want=$(awk -v r="$RS" '{ print r "/layers/mnt/" $1 }' "$W/layers" | sort)
expect "a running container: each layer loop-mounted on DIR/layers/mnt/<diff_id>" "rc=$rc1 mounts: $(tr '\n' ' ' <<<"$m1")" \
	test "$rc1" = 0 -a "$(sort <<<"$m1")" = "$want"
want=$(awk -v r="$RS" '{ print r "/layers/sqfs/" $1 ".sqfs" }' "$W/layers" | sort)
expect "a running container: one read-only loop device per image" "loops: $(tr '\n' ' ' <<<"$l1")" \
	eval 'test "$(awk "{ print \$2 }" <<<"$l1" | sort)" = "$want" &&
		test "$(for d in $(awk "{ print \$1 }" <<<"$l1"); do cat /sys/block/${d#/dev/}/ro; done | sort -u)" = 1'
fst=$(awk -v p="$RS/layers/mnt/" 'index($5, p) == 1 { for (i = 7; $i != "-"; i++); print $(i + 1) }' /proc/self/mountinfo | sort -u)
expect "the mounts are squashfs" "file system types: $fst" test "$fst" = squashfs
# Through the kernel: each mounted image against the directory layer.
i=0
while read -r hex _; do
	i=$((i + 1))
	out=$(sq tree "$RO/layers/sha256/$hex" "$RS/layers/mnt/$hex" "$W/implicit.$i")
	crc=$?
	printf '%s\n' "$out" | grep '^# differs' | sed "s/^# /# layer $i mounted: /"
	expect "layer $i through the kernel (loop mount): the same tree as the directory driver, modulo implicit dirs" \
		"$(tail -1 <<<"$out")" test $crc = 0
done <"$W/layers"
bs run -d --name two "$MULTI" sh -c 'while :; do sleep 1; done'
rc2=$RC
m2=$(mounts_under "$RS") l2=$(loops_under "$RS")
expect "two containers share one mount and one loop device per layer" \
	"rc=$rc2 mounts=$(count "$m2") loops=$(count "$l2") for $NLAYERS layers" \
	test "$rc2" = 0 -a "$m2" = "$m1" -a "$(count "$l2")" = "$NLAYERS"
bs exec two cat /data/keep.txt
expect "exec in the second container reads the shared layers" "output" test "$RC:$OUT" = "0:kept from layer 1"
bs rm -f one
m3=$(mounts_under "$RS")
expect "rm of one container keeps the mounts the other uses" "mounts=$(count "$m3")" test "$RC" = 0 -a "$m3" = "$m1"
bs rm -f two
m4=$(mounts_under "$RS") l4=$(loops_under "$RS")
dirs=$(find "$RS/layers/mnt" -mindepth 1 -not -name .lock 2>/dev/null)
expect "rm of the last container: no mount under DIR, no loop device on its images, no mount point left" \
	"rc=$RC mounts: $m4 loops: $l4 left: $dirs" test "$RC" = 0 -a -z "$m4$l4$dirs"
bs run --rm "$MULTI" /bin/true
m5=$(mounts_under "$RS") l5=$(loops_under "$RS")
expect "run --rm: mounts and loop devices are released when it exits" "rc=$RC mounts: $m5 loops: $l5" \
	test "$RC" = 0 -a -z "$m5$l5"

# --- 4. switching the driver ---------------------------------------------------------------
before=$(cd "$RS" && find layers blobs images repositories.json driver 2>/dev/null | sort)
run --config-file "$CO" --root "$RS" pull -q "$MULTI"
after=$(cd "$RS" && find layers blobs images repositories.json driver 2>/dev/null | sort)
expect "overlay on a root holding squashfs layers: exit 1, one line naming the root and both drivers, nothing changed" \
	"stderr: $ERR" eval 'test "$RC" = 1 && one_error_line && [[ $ERR == *"$RS"*squashfs*overlay* ]] &&
		test "$before" = "$after" -a "$(cat "$RS/driver")" = squashfs'
run --config-file "$CS" --root "$RO" pull -q "$MULTI"
expect "squashfs on a root holding overlay layers: exit 1, one line" "stderr: $ERR" \
	eval 'test "$RC" = 1 && one_error_line && [[ $ERR == *"$RO"*overlay*squashfs* ]] &&
		test -z "$(ls "$RO/layers/sqfs" 2>/dev/null)"'
bs rmi "$MULTI"
rmi_rc=$RC
bs image prune -a -f
prune_rc=$RC
left=$(find "$RS/layers/sqfs" -mindepth 1 2>/dev/null)
expect "rmi + image prune -a empties layers/sqfs" "rmi rc=$rmi_rc prune rc=$prune_rc left: $left" \
	test "$rmi_rc:$prune_rc" = 0:0 -a -z "$left"
run --config-file "$CO" --root "$RS" pull -q "$MULTI"
n=$(find "$RS/layers/sha256" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)
expect "after that, the overlay driver takes the root: pull works, DIR/driver says overlay, layers unpacked" \
	"rc=$RC err=$ERR driver=$(cat "$RS/driver" 2>&1) layer dirs=$n" \
	test "$RC" = 0 -a "$(cat "$RS/driver" 2>/dev/null)" = overlay -a "$n" = "$NLAYERS"
run --config-file "$CO" --root "$RS" run --rm "$MULTI" cat /data/keep.txt
expect "and runs containers from it" "rc=$RC out=$OUT err=$ERR" test "$RC:$OUT" = "0:kept from layer 1"

# --- 5. hostile layers -------------------------------------------------------------------------
# Each is refused by both drivers in the same words (the data root's path
# replaced by ROOT, the temporary layer's name, <12 hex>.<pid> or
# <12 hex>.<pid>.sqfs, by TMP) and leaves nothing under layers/ but empty
# directories.
cat >"$W/hostile.py" <<'EOF'
import io, sys, tarfile
out, kind = sys.argv[1], sys.argv[2]
t = tarfile.open(out, "w", format=tarfile.PAX_FORMAT)
def ti(name, typ=tarfile.REGTYPE, data=b"", link="", pax=None):
    i = tarfile.TarInfo(name)
    i.type, i.mode, i.mtime, i.size, i.linkname = typ, 0o644, 1704067200, len(data), link
    if pax:
        i.pax_headers = pax
    t.addfile(i, io.BytesIO(data) if data else None)
ti("ok.txt", data=b"fine\n")
if kind == "dotdot":
    ti("../" * 10 + "tmp/berth-escape.txt", data=b"escaped\n")
elif kind == "hardlink":
    ti("passwd", tarfile.LNKTYPE, link="../" * 10 + "etc/passwd")
elif kind == "symlink-parent":
    ti("evil", tarfile.SYMTYPE, link="/tmp")
    ti("evil/berth-escape.txt", data=b"escaped\n")
elif kind == "symlink-relative":
    ti("up", tarfile.SYMTYPE, link="../" * 10 + "tmp")
    ti("up/berth-escape.txt", data=b"escaped\n")
elif kind == "hardlink-via-symlink":
    ti("etc", tarfile.SYMTYPE, link="/etc")
    ti("pw", tarfile.LNKTYPE, link="etc/passwd")
elif kind == "hardlink-dir":
    ti("d", tarfile.DIRTYPE)
    ti("d2", tarfile.LNKTYPE, link="d")
elif kind == "root-file":
    ti("./", data=b"not a directory\n")
elif kind == "overlay-xattr":
    ti("dir", tarfile.DIRTYPE, pax={"SCHILY.xattr.trusted.overlay.opaque": "y"})
elif kind == "whiteout-dir":
    ti(".wh.dir", tarfile.DIRTYPE)
    ti(".wh.dir/x", data=b"x\n")
t.close()
EOF
tmpname() { sed -E 's|ROOT/layers/tmp/[0-9a-f]{12}\.[0-9]+(\.sqfs)?|ROOT/layers/tmp/TMP|g' <<<"$1"; }
fix_tmp
RHS=$W/r-hostile-squashfs RHO=$W/r-hostile-overlay
for kind in dotdot hardlink symlink-parent symlink-relative hardlink-via-symlink hardlink-dir root-file \
	overlay-xattr whiteout-dir; do
	what="hostile layer ($kind)"
	hw=$W/hostile-$kind
	mkdir -p "$hw"
	if ! "$FIX_PY" "$W/hostile.py" "$hw/layer.tar" "$kind" ||
		! _img_new "$FIX_TMP/oci" "hostile-$kind" amd64 "$hw/layer.tar" >"$hw/build.log" 2>&1 ||
		! img_push sq "oci:$FIX_TMP/oci:hostile-$kind" "sq/hostile:$kind"; then
		notok "$what" "could not build or push it: $(tail -2 "$hw/build.log")"
		continue
	fi
	run --config-file "$CS" --root "$RHS" pull -q "$IMG_REF"
	src=$RC serr=$(tmpname "${ERR//$RHS/ROOT}")
	sline=no
	one_error_line && sline=yes
	run --config-file "$CO" --root "$RHO" pull -q "$IMG_REF"
	orc=$RC oerr=$(tmpname "${ERR//$RHO/ROOT}")
	echo "# $kind: ${serr##*ROOT/layers/tmp/TMP: }"
	expect "$what: refused by the squashfs driver with exit 1, one line, the same line as the overlay driver" \
		"squashfs rc=$src '$serr'; overlay rc=$orc '$oerr'" \
		test "$src:$orc:$sline" = "1:1:yes" -a "$serr" = "$oerr"
	left=$(find "$RHS/layers" -mindepth 1 -not -type d -not -path "$RHS/layers/mnt/.lock" 2>/dev/null)
	lst=$(bq --config-file "$CS" --root "$RHS" images -q)
	expect "$what: nothing left in layers/ (no image, no temp file), no image listed, no mount" \
		"files: $left images: $lst mounts: $(mounts_under "$RHS")" \
		test -z "$left$lst$(mounts_under "$RHS")$(loops_under "$RHS")"
	found=$(find /tmp/berth-escape.txt "$W" -name berth-escape.txt 2>/dev/null)
	expect "$what: nothing written outside the layer" "found: $found" test -z "$found"
	rm -f /tmp/berth-escape.txt
done

# --- 6. killed mid-pull while it writes an image ----------------------------------------------------
RK=$W/r-kill
if ! img_big sq sq/big:24m 24 3; then # the image pull_faults.sh uses (cached)
	notok "crash mid-pull: img_big 24 MiB in 3 layers" "push failed"
else
	BIG=$IMG_REF
	BLAYOUT=${IMG_SRC#oci:}
	BLAYOUT=${BLAYOUT%:big}
	sq layers "$BLAYOUT" big >"$W/big.layers"
	while read -r hex blob; do
		sq shas "$blob" | sed "s/^/$hex /"
	done <"$W/big.layers" >"$W/big.shas"
	proxy_start slow "$REG_SQ_HOST" --rate 3000000 >/dev/null
	CK=$W/kill.json
	conf "$CK" squashfs ", \"retry-base-ms\": 5"
	sed -i "s/\"$REG_SQ_HOST\"/\"$REG_SQ_HOST\", \"$PROXY_SLOW_HOST\"/" "$CK"
	setsid "${RUNNER[@]}" "$BERTH" --config-file "$CK" --root "$RK" pull -q "$PROXY_SLOW_HOST/sq/big:24m" \
		</dev/null >"$W/kill.out" 2>&1 &
	kpid=$!
	PGROUPS+=("$kpid")
	seen=
	for ((t = 0; t < 1500; t++)); do
		seen=$(find "$RK/layers/tmp" -name '*.sqfs' -size +2048k 2>/dev/null | head -1)
		[ -n "$seen" ] && break
		kill -0 "$kpid" 2>/dev/null || break
		sleep 0.02
	done
	seen_size=$(stat -c %s "$seen" 2>/dev/null)
	kill -KILL -- "-$kpid" 2>/dev/null
	echo "# SIGKILL while ${seen#"$RK"/} held $seen_size bytes"
	wait "$kpid" 2>/dev/null
	krc=$?
	for ((t = 0; t < 250; t++)); do
		[ -z "$(pgrep -g "$kpid")" ] && break
		sleep 0.02
	done
	expect "crash mid-pull: SIGKILL landed while an image was being written in layers/tmp" \
		"pull exit $krc, image in progress: '${seen#"$RK"/}' ($seen_size bytes); $(tail -2 "$W/kill.out")" \
		test "$krc" = 137 -a -n "$seen"
	lst=$(bq --config-file "$CK" --root "$RK" images -q)
	half=
	for f in "$RK"/layers/sqfs/*.sqfs; do
		[ -e "$f" ] || continue
		h=$(basename "$f" .sqfs)
		grep -q "^$h " "$W/big.layers" && unsquashfs -s "$f" >/dev/null 2>&1 || half+=" $f"
	done
	other=$(find "$RK/layers" -mindepth 1 -not -type d -not -path "$RK/layers/tmp/*" \
		-not -path "$RK/layers/sqfs/*" -not -path "$RK/layers/mnt/.lock" 2>/dev/null)
	expect "crash mid-pull: no image listed, layers/sqfs holds only whole images, the rest only in layers/tmp and blobs/partial" \
		"images: '$lst' bad images:$half other files: $other" test -z "$lst$half$other"
	expect "crash mid-pull: nothing mounted, no loop device" "mounts: $(mounts_under "$RK") loops: $(loops_under "$RK")" \
		test -z "$(mounts_under "$RK")$(loops_under "$RK")"
	run --config-file "$CK" --root "$RK" pull -q "$BIG"
	prc=$RC perr=$ERR
	bad=
	while read -r hex name sha; do
		got=$(unsquashfs -cat "$RK/layers/sqfs/$hex.sqfs" "$name" 2>/dev/null | sha256sum | cut -d' ' -f1)
		[ "$got" = "$sha" ] || bad+=" $hex:$name"
	done <"$W/big.shas"
	lst=$(bq --config-file "$CK" --root "$RK" images -q | wc -l)
	expect "crash mid-pull: a second pull completes, both images whole (contents checked with unsquashfs -cat)" \
		"rc=$prc err=$perr listed=$lst wrong:$bad" test "$prc" = 0 -a "$lst" = 1 -a -z "$bad" -a -s "$W/big.shas"
	tmpl=$(ls -A "$RK/layers/tmp" 2>/dev/null)
	expect "crash mid-pull: the killed pull's temporary image is gone after the next pull" "layers/tmp: $tmpl" \
		test -z "$tmpl"
fi

# --- 7. run_smoke.sh's checks on a squashfs root ------------------------------------------------------
img_single sq kit/busybox:1 || { notok "smoke: image" "could not build"; finish; }
RSM=$W/r-smoke
B=(--config-file "$CS" --root "$RSM")

run "${B[@]}" pull -q --platform linux/amd64 "$IMG_REF"
expect "smoke (squashfs): pull" "pull works" test "$RC" = 0 -a "$(cat "$RSM/driver" 2>/dev/null)" = squashfs

run "${B[@]}" run --rm "$IMG_REF" echo hello from a container
expect "smoke (squashfs): run --rm prints the command's output" "output" test "$RC:$OUT" = "0:hello from a container"

run "${B[@]}" run --rm "$IMG_REF" sh -c 'echo $$; exit 7'
expect "smoke (squashfs): pid 1 and exit code" "pid 1, code 7" test "$RC:$OUT" = "7:1"

run "${B[@]}" run --rm "$IMG_REF" nosuchcmd
expect "smoke (squashfs): command not found is 127" "127 and one error line" \
	test "$RC:$(echo "$ERR" | wc -l)" = "127:1"

run "${B[@]}" run -d --name smoke "$IMG_REF" sh -c 'trap "exit 3" TERM; while :; do sleep 1 & wait; done'
id=$OUT
expect "smoke (squashfs): run -d prints the id" "64 hex" test "$RC:${#id}" = "0:64"

run "${B[@]}" exec smoke sh -c 'echo $HOSTNAME'
expect "smoke (squashfs): exec sees the container's hostname" "hostname is the short id" \
	test "$RC:$OUT" = "0:${id:0:12}"

run "${B[@]}" ps -q
expect "smoke (squashfs): ps lists it" "short id" test "$OUT" = "${id:0:12}"

run "${B[@]}" stop -t 10 smoke
run "${B[@]}" inspect -f '{{.State.Status}} {{.State.ExitCode}}' smoke
expect "smoke (squashfs): stop delivers SIGTERM" "exited 3" test "$OUT" = "exited 3"

run "${B[@]}" rm smoke
expect "smoke (squashfs): rm removes it" "no container left" \
	test "$RC:$(ls "$RSM/containers" | wc -l)" = "0:0"
expect "smoke (squashfs): no mount and no loop device left" "mounts: $(mounts_under "$RSM") loops: $(loops_under "$RSM")" \
	test -z "$(mounts_under "$RSM")$(loops_under "$RSM")"
finish
