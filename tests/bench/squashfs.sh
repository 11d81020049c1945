#!/usr/bin/env bash
# Squashfs layer store benchmark (issue 8, "Figures"): the squashfs driver
# against the overlay-directory driver on one ~200 MiB image of real,
# compressible files. Informational, not pass/fail, not part of `make check`.
#
# Run (as root, from anywhere in the checkout):
#
#   bash tests/bench/squashfs.sh
#   ROUNDS=7 RUNS=50 bash tests/bench/squashfs.sh
#   BERTH=path/to/berth bash tests/bench/squashfs.sh
#
# Knobs (environment): ROUNDS (5) timed pulls per driver, RUNS (30) container
# starts per driver (hyperfine), BENCH_SOURCES (default below: host
# directories, one layer each, "DIR:MIB" = up to MIB MiB of that directory's
# files), BERTH (default: `make BOARD=x86_64-generic TAG=sqbench` builds
# build/x86_64/x86_64-generic-sqbench/berth; an existing binary is used if the
# build fails), TMPDIR (the work directory's file system: both stores, the
# mksquashfs output and the registry's storage are on it).
#
# The image (deterministic for a given host: files in sorted order, owners
# 0:0, mtimes fixed, modes as on the host, no hardlinks): layer 1 is
# bin/busybox (the host's busybox-static, with sh and true links) plus the
# first files of the first source, each further source one layer; a
# directory's files are taken in sorted order while they fit its budget.
# Built with python's tarfile and umoci, cached in build/fixtures-tmp/
# sqbench-<hash of the file list>, pushed to a plain-HTTP docker-registry on
# 127.0.0.1 (tests/integration/fixtures).
#
# What it measures:
# - disk: `du -s -B1` (allocated bytes) of DIR/layers after a pull with each
#   driver (target of the issue: squashfs <= 0.6 x directories); apparent
#   sizes too.
# - pull time: `berth pull -q` into an empty data root with each driver,
#   ROUNDS rounds, the order alternating every round, `sync` before each
#   (outside the timing); wall time from EPOCHREALTIME, median (min-max),
#   and CPU time (user+sys of the process tree, /usr/bin/time): wall time
#   depends on what else the machine runs, CPU time much less.
# - squashfs pull against "directory pull + mksquashfs": the directory pull
#   of the same round plus `mksquashfs LAYERDIR OUT -comp gzip -b 131072
#   -noappend` of every unpacked layer (what converting on a build server
#   costs; mksquashfs uses all CPUs). The image bytes of both are compared.
# - container start: hyperfine, `berth run --rm IMAGE /bin/true` from each
#   data root in the same hyperfine run (--warmup 3, RUNS runs); then the
#   squashfs case again while another container holds the mounts (so the
#   loop setup and squashfs mount cost shows separately).
#
# Cleanup on exit, also on ^C: containers removed, everything under the work
# directory unmounted, loop devices backed by files in it detached, the
# registry stopped, the work directory removed.
# shellcheck disable=SC2317 # functions called from the trap
set -u

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROUNDS=${ROUNDS:-5}
RUNS=${RUNS:-30}
BENCH_SOURCES=${BENCH_SOURCES:-/usr/lib/x86_64-linux-gnu:80 /usr/lib/python3.11:50 /usr/share/perl:20 /usr/share/vim:20 /usr/share/man:30}
case "$ROUNDS$RUNS" in '' | *[!0-9]*)
	echo "squashfs bench: ROUNDS and RUNS must be numbers" >&2
	exit 2
	;;
esac
[ "$ROUNDS" -ge 1 ] || ROUNDS=1
[ "$RUNS" -ge 2 ] || RUNS=2
T_START=$EPOCHREALTIME

say() { printf '%s\n' "$*"; }
die() {
	printf 'squashfs bench: %s\n' "$*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (loop devices, mounts, containers)"
for t in docker-registry skopeo umoci mksquashfs hyperfine python3 losetup /usr/bin/time; do
	command -v "$t" >/dev/null || die "$t is not installed (scripts/bootstrap; hyperfine, time and squashfs-tools from apt)"
done
BB=/bin/busybox
[ -x "$BB" ] || BB=/usr/bin/busybox
[ -x "$BB" ] || die "busybox-static is not installed"

# --- berth binary ----------------------------------------------------------------
if [ -n "${BERTH:-}" ]; then
	case "$BERTH" in /*) ;; *) BERTH=$PWD/$BERTH ;; esac
else
	BERTH=$TOP/build/x86_64/x86_64-generic-sqbench/berth
	# Only the object tree's binary: the plain `make` goal would also copy it
	# over build/x86_64/berth, which other work may be using.
	if ! make -C "$TOP" -s BOARD=x86_64-generic TAG=sqbench build/x86_64/x86_64-generic-sqbench/berth \
		>/tmp/berth-sqbench-make.$$.log 2>&1; then
		[ -x "$BERTH" ] || {
			tail -5 /tmp/berth-sqbench-make.$$.log >&2
			rm -f /tmp/berth-sqbench-make.$$.log
			die "cannot build berth"
		}
		say "note: the build failed ($(tail -1 /tmp/berth-sqbench-make.$$.log)); using the existing $BERTH"
	fi
	rm -f /tmp/berth-sqbench-make.$$.log
fi
[ -x "$BERTH" ] || die "no berth binary at $BERTH"
"$BERTH" version 2>/dev/null | grep -q '+squashfs' || die "$BERTH is built without squashfs"
grep -qw squashfs /proc/filesystems || modprobe squashfs 2>/dev/null
grep -qw squashfs /proc/filesystems || die "the kernel has no squashfs"

# --- work dir, cleanup -----------------------------------------------------------
# shellcheck source=../integration/fixtures/registry.sh
. "$TOP/tests/integration/fixtures/registry.sh"
# shellcheck source=../integration/fixtures/images.sh
. "$TOP/tests/integration/fixtures/images.sh"

WORK=
unmount_under() { # DIR: unmount everything at or below DIR, deepest first
	local m
	awk -v p="$1/" '{ m = $5; gsub(/\\040/, " ", m); if (index(m "/", p) == 1) print m }' \
		/proc/self/mountinfo | sort -r | while IFS= read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "warning: cannot unmount $m"
	done
}
cleanup() {
	local r c dev
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		for r in "$WORK"/r-*; do
			[ -d "$r" ] || continue
			for c in $("$BERTH" --root "$r" ps -aq 2>/dev/null); do
				"$BERTH" --root "$r" rm -f "$c" >/dev/null 2>&1
			done
		done
		unmount_under "$WORK"
		losetup -l -n -O NAME,BACK-FILE 2>/dev/null | awk -v p="$WORK/" 'index($2, p) == 1 { print $1 }' |
			while read -r dev; do losetup -d "$dev" 2>/dev/null; done
		case "$WORK" in */berth-sqbench.*) rm -rf "$WORK" ;; esac
	fi
	registry_stop_all
}
trap cleanup EXIT

WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-sqbench.XXXXXX") || die "mktemp failed"
LOGS=$WORK/logs
mkdir -p "$LOGS"

# --- the image -------------------------------------------------------------------
cat >"$WORK/img.py" <<'EOF'
import hashlib, io, json, os, stat, sys, tarfile
MTIME = 1704067200  # 2024-01-01T00:00:00Z

def plan(out, busybox, *specs):
    """Chooses the files; writes the plan (JSON) and prints its hash."""
    layers = []
    for n, spec in enumerate(specs):
        top, _, mib = spec.rpartition(":")
        if not os.path.isdir(top):
            sys.stderr.write("skipping %s: not a directory\n" % top)
            continue
        left = int(mib) << 20
        ents, seen = [], set()
        if not layers:
            st = os.stat(busybox)
            ents += [["d", "bin", 0o755], ["f", "bin/busybox", 0o755, busybox, st.st_size, st.st_mtime_ns],
                     ["l", "bin/sh", "busybox"], ["l", "bin/true", "busybox"]]
            left -= st.st_size
        def parents(rel):
            parts = rel.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in seen:
                    seen.add(d)
                    ents.append(["d", d, stat.S_IMODE(os.lstat("/" + d).st_mode)])
        for d, dirs, files in os.walk(top):
            dirs.sort()
            for f in sorted(files):
                p = os.path.join(d, f)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                rel = p.lstrip("/")
                if stat.S_ISLNK(st.st_mode):
                    parents(rel)
                    ents.append(["l", rel, os.readlink(p)])
                elif stat.S_ISREG(st.st_mode) and st.st_size <= left and os.access(p, os.R_OK):
                    parents(rel)
                    ents.append(["f", rel, stat.S_IMODE(st.st_mode), p, st.st_size, st.st_mtime_ns])
                    left -= st.st_size
        layers.append({"source": spec, "entries": ents})
    data = json.dumps(layers, sort_keys=True).encode()
    with open(out, "w") as f:
        f.write(data.decode())
    print(hashlib.sha256(data).hexdigest()[:16])

def build(planfile, outdir):
    layers = json.load(open(planfile))
    for i, l in enumerate(layers, 1):
        t = tarfile.open(os.path.join(outdir, "layer%d.tar" % i), "w", format=tarfile.PAX_FORMAT)
        for e in l["entries"]:
            ti = tarfile.TarInfo(e[1])
            ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = MTIME, 0, 0, "", ""
            if e[0] == "d":
                ti.type, ti.mode = tarfile.DIRTYPE, e[2]
                t.addfile(ti)
            elif e[0] == "l":
                ti.type, ti.mode, ti.linkname = tarfile.SYMTYPE, 0o777, e[2]
                t.addfile(ti)
            else:
                ti.type, ti.mode, ti.size = tarfile.REGTYPE, e[2], e[4]
                with open(e[3], "rb") as f:
                    t.addfile(ti, f)
        t.close()

def summary(planfile):
    for i, l in enumerate(json.load(open(planfile)), 1):
        files = [e for e in l["entries"] if e[0] == "f"]
        print("  layer %d: %-32s %6d files %5d dirs %5d symlinks %7.1f MiB" % (
            i, l["source"], len(files), sum(e[0] == "d" for e in l["entries"]),
            sum(e[0] == "l" for e in l["entries"]), sum(e[4] for e in files) / 1048576))

def total(planfile):
    print(sum(e[4] for l in json.load(open(planfile)) for e in l["entries"] if e[0] == "f"))

def stats(*vals):
    """median min max of the numbers given."""
    v = sorted(float(x) for x in vals)
    n = len(v)
    med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    print("%.3f %.3f %.3f" % (med, v[0], v[-1]))

def hyper(path, name):
    """median mean stddev min max (ms) of one hyperfine command."""
    for r in json.load(open(path))["results"]:
        if r["command"] == name:
            ms = [x * 1000 for x in r["times"]]
            ms.sort()
            n = len(ms)
            med = ms[n // 2] if n % 2 else (ms[n // 2 - 1] + ms[n // 2]) / 2
            print("%.1f %.1f %.1f %.1f %.1f" % (med, r["mean"] * 1000, (r["stddev"] or 0) * 1000, ms[0], ms[-1]))

if __name__ == "__main__":
    f = {"plan": plan, "build": build, "summary": summary, "total": total, "stats": stats,
         "hyper": hyper}[sys.argv[1]]
    sys.exit(f(*sys.argv[2:]) or 0)
EOF
img() { python3 "$WORK/img.py" "$@"; }

# shellcheck disable=SC2086 # BENCH_SOURCES is a list
KEY=$(img plan "$WORK/plan.json" "$BB" $BENCH_SOURCES 2>"$LOGS/plan.err") || die "planning the image failed: $(tail -2 "$LOGS/plan.err")"
LAYOUT=$IMG_CACHE/sqbench-$KEY
if [ ! -f "$LAYOUT/.done" ]; then
	say "building the image (once; cached in $LAYOUT) ..."
	b=$LAYOUT.tmp.$$
	rm -rf "$b"
	mkdir -p "$b/tars" || die "mkdir $b"
	(img build "$WORK/plan.json" "$b/tars" && _img_new "$b/oci" sqbench amd64 "$b"/tars/layer*.tar &&
		umoci gc --layout "$b/oci") >"$LOGS/build.log" 2>&1 || {
		rm -rf "$b"
		die "building the image failed: $(tail -3 "$LOGS/build.log")"
	}
	cp "$WORK/plan.json" "$b/oci/plan.json"
	rm -rf "$LAYOUT"
	mv "$b/oci" "$LAYOUT" && rm -rf "$b" && touch "$LAYOUT/.done" || die "cannot store $LAYOUT"
fi
registry_start bench http >/dev/null || die "cannot start the registry"
img_push bench "oci:$LAYOUT:sqbench" bench/sqfs:1 || die "cannot push the image"
REF=$IMG_REF
NLAYERS=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$LAYOUT/plan.json")
RAW=$(img total "$LAYOUT/plan.json")
ZIP=$(python3 -c '
import json, sys
idx = json.load(open(sys.argv[1] + "/index.json"))
m = [x for x in idx["manifests"] if x.get("annotations", {}).get("org.opencontainers.image.ref.name") == "sqbench"][0]
m = json.load(open(sys.argv[1] + "/blobs/sha256/" + m["digest"].split(":")[1]))
print(sum(l["size"] for l in m["layers"]))' "$LAYOUT")

CS=$WORK/squashfs.json CO=$WORK/overlay.json
printf '{"insecure-registries": ["%s"], "storage-driver": "squashfs"}\n' "$REG_BENCH_HOST" >"$CS"
printf '{"insecure-registries": ["%s"], "storage-driver": "overlay"}\n' "$REG_BENCH_HOST" >"$CO"
export BERTH_CONFIG=$WORK/cfg
mkdir -p "$BERTH_CONFIG"
RS=$WORK/r-squashfs RO=$WORK/r-overlay

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
secs() { awk -v a="${1/,/.}" -v b="${2/,/.}" 'BEGIN { printf "%.3f", b - a }'; }

say "== berth squashfs store benchmark =="
say "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
say "machine:  $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
say "work dir: $WORK ($(df -PT "$WORK" | awk 'NR == 2 { print $2 " on " $1 }'))"
say "berth:    $BERTH ($(stat -c %s "$BERTH") bytes; $("$BERTH" version 2>/dev/null | head -1))"
say "tools:    $(mksquashfs -version 2>/dev/null | head -1); $(hyperfine --version)"
say "image:    $REF: $NLAYERS layers, $(mib "$RAW") MiB of file data, $(mib "$ZIP") MiB gzip blobs (key $KEY)"
img summary "$LAYOUT/plan.json"
say "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, at start; wall times suffer from other load, CPU times much less)"
say "rounds:   $ROUNDS pulls per driver (after one untimed warm-up each), $RUNS container starts per case"

# --- pulls -------------------------------------------------------------------------
RESULTS=$WORK/results
: >"$RESULTS"
pull() { # DRIVER ROOT: a timed pull into an empty data root; prints "wall_s cpu_s"
	local cfg=$CS t0 t1 rc c u sy
	[ "$1" = overlay ] && cfg=$CO
	for c in $("$BERTH" --root "$2" ps -aq 2>/dev/null); do "$BERTH" --root "$2" rm -f "$c" >/dev/null 2>&1; done
	unmount_under "$2"
	rm -rf "$2"
	sync
	t0=$EPOCHREALTIME
	/usr/bin/time -f '%U %S' -o "$WORK/time.out" -- \
		"$BERTH" --config-file "$cfg" --root "$2" pull -q "$REF" >"$LOGS/pull.$1.log" 2>&1
	rc=$?
	t1=$EPOCHREALTIME
	[ $rc = 0 ] || die "pull with $1 failed: $(tail -2 "$LOGS/pull.$1.log" | tr '\n' ' ')"
	read -r u sy <<<"$(tail -1 "$WORK/time.out")"
	echo "$(secs "$t0" "$t1") $(awk -v a="$u" -v b="$sy" 'BEGIN { printf "%.2f", a + b }')"
}
layer_hexes() { # ROOT CONFIG
	"$BERTH" --config-file "$2" --root "$1" image inspect "$REF" |
		python3 -c 'import json,sys; [print(l[7:]) for l in json.load(sys.stdin)[0]["RootFS"]["Layers"]]'
}
mksq() { # the directory root's layers -> $WORK/mksq/*.sqfs; prints "wall_s cpu_s"
	local t0 t1 hexes u sy
	rm -rf "$WORK/mksq"
	mkdir -p "$WORK/mksq"
	hexes=$(layer_hexes "$RO" "$CO") || die "image inspect failed"
	t0=$EPOCHREALTIME
	# shellcheck disable=SC2016 # expanded by that bash
	/usr/bin/time -f '%U %S' -o "$WORK/time.out" -- bash -c 'for h in $3; do
		mksquashfs "$1/layers/sha256/$h" "$2/$h.sqfs" -comp gzip -b 131072 -noappend -quiet -no-progress || exit 1
	done' _ "$RO" "$WORK/mksq" "$hexes" >>"$LOGS/mksquashfs.log" 2>&1 ||
		die "mksquashfs failed: $(tail -2 "$LOGS/mksquashfs.log")"
	t1=$EPOCHREALTIME
	read -r u sy <<<"$(tail -1 "$WORK/time.out")"
	echo "$(secs "$t0" "$t1") $(awk -v a="$u" -v b="$sy" 'BEGIN { printf "%.2f", a + b }')"
}

say ""
say "warm-up pulls ..."
pull squashfs "$RS" >/dev/null
pull overlay "$RO" >/dev/null
for ((r = 1; r <= ROUNDS; r++)); do
	if ((r % 2)); then order=(squashfs overlay); else order=(overlay squashfs); fi
	line="round $r/$ROUNDS:"
	for d in "${order[@]}"; do
		if [ "$d" = squashfs ]; then
			read -r s c <<<"$(pull squashfs "$RS")"
			[ -n "$s" ] || exit 1
			echo "sq $r $s $c" >>"$RESULTS"
			line+=" squashfs ${s}s (cpu ${c}s)"
		else
			read -r s c <<<"$(pull overlay "$RO")"
			[ -n "$s" ] || exit 1
			read -r m mc <<<"$(mksq)"
			[ -n "$m" ] || exit 1
			echo "dir $r $s $c" >>"$RESULTS"
			echo "mksq $r $m $mc" >>"$RESULTS"
			echo "dirmksq $r $(awk -v a="$s" -v b="$m" 'BEGIN { printf "%.3f", a + b }') $(awk -v a="$c" -v b="$mc" 'BEGIN { printf "%.2f", a + b }')" >>"$RESULTS"
			line+=" overlay ${s}s (cpu ${c}s) + mksquashfs ${m}s (cpu ${mc}s)"
		fi
	done
	say "  $line"
done
pick() { # KIND [FIELD] -> "median min max" of wall (3) or cpu (4)
	# shellcheck disable=SC2046
	img stats $(awk -v k="$1" -v f="${2:-3}" '$1 == k { print $f }' "$RESULTS")
}
read -r sq_med sq_min sq_max <<<"$(pick sq)"
read -r dir_med dir_min dir_max <<<"$(pick dir)"
read -r mk_med mk_min mk_max <<<"$(pick mksq)"
read -r dm_med _ _ <<<"$(pick dirmksq)"
read -r sq_cpu _ _ <<<"$(pick sq 4)"
read -r dir_cpu _ _ <<<"$(pick dir 4)"
read -r dm_cpu _ _ <<<"$(pick dirmksq 4)"

# --- disk ------------------------------------------------------------------------------
du_s=$(du -s -B1 "$RS/layers" | cut -f1) du_o=$(du -s -B1 "$RO/layers" | cut -f1)
ap_s=$(du -s -b "$RS/layers" | cut -f1) ap_o=$(du -s -b "$RO/layers" | cut -f1)
img_s=$(cat "$RS"/layers/sqfs/*.sqfs | wc -c) img_m=$(cat "$WORK"/mksq/*.sqfs | wc -c)
files_o=$(find "$RO/layers/sha256" | wc -l)

# --- container start -----------------------------------------------------------------
say ""
say "container starts (hyperfine) ..."
run_s="$BERTH --config-file $CS --root $RS run --rm $REF /bin/true"
run_o="$BERTH --config-file $CO --root $RO run --rm $REF /bin/true"
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$WORK/start.json" \
	-n squashfs "$run_s" -n overlay "$run_o" >"$LOGS/hyperfine.log" 2>&1 ||
	die "hyperfine failed: $(tail -3 "$LOGS/hyperfine.log")"
"$BERTH" --config-file "$CS" --root "$RS" run -d --name holder "$REF" sh -c 'while :; do sleep 1; done' \
	>"$LOGS/holder.log" 2>&1 || die "cannot start the holder container: $(tail -1 "$LOGS/holder.log")"
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$WORK/held.json" \
	-n squashfs-held "$run_s" >>"$LOGS/hyperfine.log" 2>&1 ||
	die "hyperfine failed: $(tail -3 "$LOGS/hyperfine.log")"
"$BERTH" --root "$RS" rm -f holder >/dev/null 2>&1
read -r st_s st_s_mean st_s_sd _ _ <<<"$(img hyper "$WORK/start.json" squashfs)"
read -r st_o st_o_mean st_o_sd _ _ <<<"$(img hyper "$WORK/start.json" overlay)"
read -r st_h st_h_mean st_h_sd _ _ <<<"$(img hyper "$WORK/held.json" squashfs-held)"

# --- table ---------------------------------------------------------------------------------
target=$(awk -v a="$du_s" -v b="$du_o" 'BEGIN { print (a <= 0.6 * b) ? "PASS" : "MISS" }')
say ""
say "figures (squashfs driver vs overlay directories; ratio = squashfs / other, below 1: squashfs smaller or faster)"
say ""
printf '%-46s %16s %16s %7s  %s\n' "figure" "squashfs" "other" "ratio" "note"
printf '%-46s %16s %16s %7s  %s\n' "disk used, du -B1 DIR/layers" "$(mib "$du_s") MiB" "$(mib "$du_o") MiB" \
	"$(ratio "$du_s" "$du_o")" "target <= 0.60: $target"
printf '%-46s %16s %16s %7s  %s\n' "  apparent size, du -b DIR/layers" "$(mib "$ap_s") MiB" "$(mib "$ap_o") MiB" \
	"$(ratio "$ap_s" "$ap_o")" "$files_o paths unpacked"
printf '%-46s %16s %16s %7s  %s\n' "pull time vs overlay pull, median" "${sq_med} s" "${dir_med} s" \
	"$(ratio "$sq_med" "$dir_med")" "min-max ${sq_min}-${sq_max} / ${dir_min}-${dir_max} s"
printf '%-46s %16s %16s %7s  %s\n' "  CPU (user+sys) of those pulls, median" "${sq_cpu} s" "${dir_cpu} s" \
	"$(ratio "$sq_cpu" "$dir_cpu")" "zlib level 9 on both sides of the next row"
printf '%-46s %16s %16s %7s  %s\n' "pull time vs overlay pull + mksquashfs, median" "${sq_med} s" "${dm_med} s" \
	"$(ratio "$sq_med" "$dm_med")" "mksquashfs alone ${mk_med} s (${mk_min}-${mk_max}) on $(nproc) CPUs"
printf '%-46s %16s %16s %7s  %s\n' "  CPU (user+sys), pull vs pull + mksquashfs" "${sq_cpu} s" "${dm_cpu} s" \
	"$(ratio "$sq_cpu" "$dm_cpu")" ""
printf '%-46s %16s %16s %7s  %s\n' "image bytes vs mksquashfs (gzip, 128K)" "$(mib "$img_s") MiB" "$(mib "$img_m") MiB" \
	"$(ratio "$img_s" "$img_m")" "gzip blobs $(mib "$ZIP") MiB, file data $(mib "$RAW") MiB"
printf '%-46s %16s %16s %7s  %s\n' "container start, run --rm /bin/true, median" "${st_s} ms" "${st_o} ms" \
	"$(ratio "$st_s" "$st_o")" "mean ${st_s_mean}±${st_s_sd} / ${st_o_mean}±${st_o_sd} ms, $RUNS runs"
printf '%-46s %16s %16s %7s  %s\n' "  squashfs with mounts held by a container" "${st_h} ms" "${st_o} ms" \
	"$(ratio "$st_h" "$st_o")" "mean ${st_h_mean}±${st_h_sd} ms: loop+mount cost $(awk -v a="$st_s" -v b="$st_h" 'BEGIN { printf "%.1f", a - b }') ms"
say ""
say "raw pull samples (kind round wall_s cpu_s; dirmksq = dir + mksq):"
sed 's/^/  /' "$RESULTS"
say "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
say "took $(awk -v a="${T_START/,/.}" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.0f", b - a }') s"
exit 0
