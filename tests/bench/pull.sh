#!/usr/bin/env bash
# Pull benchmark: berth against podman and skopeo+umoci, side by side in one
# run. Informational, not pass/fail, not part of `make check`.
#
# Run (as root, on Debian 12, from anywhere in the checkout):
#
#   bash tests/bench/pull.sh
#   ROUNDS=5 bash tests/bench/pull.sh          # more rounds (default 3)
#   BERTH=path/to/berth bash tests/bench/pull.sh
#
# Knobs (environment): ROUNDS (3), BENCH_MIB (200) and BENCH_LAYERS (3) for
# the image, BERTH (default: build it with
# `make BOARD=x86_64-generic TAG=bench` into
# build/x86_64/x86_64-generic-bench/berth; an existing binary is used if the
# build fails), TMPDIR (where the work directory goes: every tool writes on
# that same filesystem).
#
# What it does:
# - installs what is missing with apt-get (podman, time, skopeo, umoci,
#   docker-registry, curl, python3) and says what it installed;
# - starts a plain-HTTP docker-registry on 127.0.0.1 and pushes a
#   deterministic image of BENCH_MIB MiB in BENCH_LAYERS layers of
#   incompressible bytes (tests/integration/fixtures: registry.sh, images.sh);
# - one untimed warm-up pull per tool (page cache, binaries; also checks that
#   each tool works here), then ROUNDS timed rounds; the order of the tools
#   rotates every round so that noise and position effects spread evenly:
#     berth         `berth --root EMPTY pull REF`, daemon.json marking the
#                   registry insecure (BERTH_CONFIG)
#     podman        `podman pull` into an empty storage of its own
#                   (--root/--runroot/--tmpdir/--network-config-dir in the
#                   work dir, CONTAINERS_STORAGE_CONF a temporary storage.conf,
#                   cgroupfs, file events; overlay, vfs if overlay fails), so
#                   the system's own storage is never touched
#     skopeo+umoci  `skopeo copy docker://REF oci:DIR:bench` then
#                   `umoci unpack --image DIR:bench BUNDLE`, one timed unit
#                   (umoci also writes its mtree manifest: part of its unpack)
#   Every round starts with `sync` (outside the timing) so that no tool pays
#   for the previous one's writeback, and ends by deleting that tool's output.
#
# What it measures, per tool and round:
# - wall time: the shell's EPOCHREALTIME around the command, ms resolution;
#   the table shows the median over the rounds (and min-max).
# - peak RSS: /usr/bin/time's %M (the same number as the "Maximum resident
#   set size" of `time -v`), i.e. ru_maxrss of wait4(). The kernel reports
#   there the maximum over the process AND all its descendants it reaped
#   (each exiting process folds its own and its reaped children's peak into
#   its parent's), so it is max(parent, children), not a sum: for berth
#   that is max(main process, layer workers), for skopeo+umoci max(sh, skopeo,
#   umoci). podman pulls in one (multi-threaded) process, whose RSS covers
#   all its threads. Page cache is never counted. Because berth's workers
#   run at the same time as the parent, the script also prints an upper bound
#   for their sum: (1 + workers) x peak (shared text pages make the real sum
#   lower).
# - CPU: user+sys of the process tree (same wait4() accounting).
# - disk: du of what the tool left (store, or blobs + bundle).
# Then ratios berth/podman and berth/(skopeo+umoci) and the targets of the
# issue ("wall time <= 0.5 x podman", "peak RSS < 8 MiB") with PASS/MISS,
# informational. If podman cannot run here its column says why and berth is
# compared with skopeo+umoci only.
#
# Cleanup: the work directory (after unmounting anything below it) and the
# registry (the fixtures' registry_stop_all) go on exit, also on ^C.
# shellcheck disable=SC2317 # functions called by name (prepare_$tool, clean_$tool, the trap)
set -u

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROUNDS=${ROUNDS:-3}
BENCH_MIB=${BENCH_MIB:-200}
BENCH_LAYERS=${BENCH_LAYERS:-3}
case "$ROUNDS$BENCH_MIB$BENCH_LAYERS" in '' | *[!0-9]*)
	echo "pull bench: ROUNDS, BENCH_MIB and BENCH_LAYERS must be numbers" >&2
	exit 2
	;;
esac
[ "$ROUNDS" -ge 1 ] || ROUNDS=1
T_START=$EPOCHREALTIME

say() { printf '%s\n' "$*"; }
die() {
	printf 'pull bench: %s\n' "$*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (podman and umoci unpack need it, and apt-get installs)"

# --- dependencies ------------------------------------------------------------
need=()
want() { # COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || need+=("$2")
}
want podman podman
want skopeo skopeo
want umoci umoci
want docker-registry docker-registry
want curl curl
want python3 python3
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
	say "installing: ${need[*]}"
	apt-get update -q >/dev/null 2>&1 || say "(apt-get update reported errors; trying the install anyway)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" \
		>/tmp/berth-bench-apt.$$.log 2>&1 || {
		tail -5 /tmp/berth-bench-apt.$$.log >&2
		rm -f /tmp/berth-bench-apt.$$.log
		die "apt-get install ${need[*]} failed"
	}
	rm -f /tmp/berth-bench-apt.$$.log
	say "installed: ${need[*]}"
fi

# --- berth binary --------------------------------------------------------------
if [ -n "${BERTH:-}" ]; then
	case "$BERTH" in /*) ;; *) BERTH=$PWD/$BERTH ;; esac
else
	BERTH=$TOP/build/x86_64/x86_64-generic-bench/berth
	# Build only the object tree's binary (the plain `make` goal would also
	# copy it over build/x86_64/berth, which other work may be using).
	if ! make -C "$TOP" -s BOARD=x86_64-generic TAG=bench build/x86_64/x86_64-generic-bench/berth \
		>/tmp/berth-bench-make.$$.log 2>&1; then
		if [ -x "$BERTH" ]; then
			say "note: the build failed ($(tail -1 /tmp/berth-bench-make.$$.log)); using the existing $BERTH"
		else
			tail -5 /tmp/berth-bench-make.$$.log >&2
			rm -f /tmp/berth-bench-make.$$.log
			die "cannot build berth"
		fi
	fi
	rm -f /tmp/berth-bench-make.$$.log
fi
[ -x "$BERTH" ] || die "no berth binary at $BERTH"

# --- registry, image, work dir ---------------------------------------------------
# shellcheck source=../integration/fixtures/registry.sh
. "$TOP/tests/integration/fixtures/registry.sh"
# shellcheck source=../integration/fixtures/images.sh
. "$TOP/tests/integration/fixtures/images.sh"

WORK=
unmount_under() { # DIR: unmount everything mounted at or below DIR, deepest first
	local m
	awk -v p="$1/" '{ m = $5; gsub(/\\040/, " ", m); if (index(m "/", p) == 1) print m }' \
		/proc/self/mountinfo | sort -r | while IFS= read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "warning: cannot unmount $m"
	done
}
cleanup() {
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		unmount_under "$WORK"
		case "$WORK" in */berth-bench.*) rm -rf "$WORK" ;; esac
	fi
	registry_stop_all
}
trap cleanup EXIT

WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX") || die "mktemp failed"
LOGS=$WORK/logs
mkdir -p "$LOGS"

registry_start bench http || die "cannot start the registry"
img_big bench bench/big:1 "$BENCH_MIB" "$BENCH_LAYERS" || die "cannot build or push the image"
REF=$IMG_REF

# --- the three tools ---------------------------------------------------------------
# Each prepare_TOOL N sets CMD (an array) for run N, using only $WORK/TOOL.N,
# and ENVS, the environment it runs with; clean_TOOL N removes it. OUTDIR is
# what `du` measures. The environment is given to /usr/bin/time (env execs
# it), never by an `env` in front of the tool: ru_maxrss survives execve, so
# the peak would be env's own (about 1.6 MiB) whenever the tool's is smaller.

prepare_berth() {
	local d=$WORK/berth.$1
	mkdir -p "$d/config"
	printf '{"insecure-registries":["%s"]}\n' "$REG_BENCH_HOST" >"$d/config/daemon.json"
	OUTDIR=$d/root
	ENVS=(BERTH_CONFIG="$d/config")
	CMD=("$BERTH" --root "$d/root" pull "$REF")
}
clean_berth() { rm -rf "$WORK/berth.$1"; }

PODMAN_DRIVER=
PODMAN_WHY=
podman_opts() { # DIR DRIVER: podman's global options, all state under DIR
	local d=$1
	printf '%s\n' --root "$d/root" --runroot "$d/run" --storage-driver "$2" --tmpdir "$d/tmp" \
		--network-config-dir "$d/net" --cgroup-manager=cgroupfs --events-backend=file
}
prepare_podman_with() { # N DRIVER
	local d=$WORK/podman.$1 opts
	mkdir -p "$d/tmp" "$d/net" "$d/bigtmp"
	printf '[storage]\ndriver = "%s"\nrunroot = "%s"\ngraphroot = "%s"\n' "$2" "$d/run" "$d/root" \
		>"$d/storage.conf"
	mapfile -t opts < <(podman_opts "$d" "$2")
	OUTDIR=$d/root
	# TMPDIR: where containers/image stages big files (default /var/tmp).
	ENVS=(CONTAINERS_STORAGE_CONF="$d/storage.conf" TMPDIR="$d/bigtmp")
	CMD=(podman "${opts[@]}" pull -q --tls-verify=false "docker://$REF")
}
prepare_podman() { prepare_podman_with "$1" "$PODMAN_DRIVER"; }
clean_podman() {
	unmount_under "$WORK/podman.$1"
	rm -rf "$WORK/podman.$1"
}

prepare_skopeo() {
	local d=$WORK/skopeo.$1
	mkdir -p "$d"
	OUTDIR=$d
	ENVS=()
	# shellcheck disable=SC2016 # expanded by that sh
	CMD=(sh -c 'skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$1" "oci:$2:bench" &&
		umoci unpack --image "$2:bench" "$3"' sh "$REF" "$d/oci" "$d/bundle")
}
clean_skopeo() {
	unmount_under "$WORK/skopeo.$1"
	rm -rf "$WORK/skopeo.$1"
}

RESULTS=$WORK/results
: >"$RESULTS"

# measure TOOL ROUND: one timed pull; appends "TOOL ROUND rc wall_s rss_kib cpu_s disk_mib".
measure() {
	local tool=$1 n=$2 t0 t1 rc line rss u s disk log=$LOGS/$1.$2.log
	"prepare_$tool" "$n"
	sync
	t0=$EPOCHREALTIME
	env "${ENVS[@]}" /usr/bin/time -f '%M %U %S' -o "$WORK/time.out" -- "${CMD[@]}" >"$log" 2>&1
	rc=$?
	t1=$EPOCHREALTIME
	line=$(tail -1 "$WORK/time.out")
	read -r rss u s <<<"$line"
	disk=$(du -sm "$OUTDIR" 2>/dev/null | cut -f1)
	printf '%s %s %s %s %s %s %s\n' "$tool" "$n" "$rc" \
		"$(awk -v a="${t0/,/.}" -v b="${t1/,/.}" 'BEGIN { printf "%.3f", b - a }')" \
		"${rss:-0}" "$(awk -v a="${u:-0}" -v b="${s:-0}" 'BEGIN { printf "%.2f", a + b }')" \
		"${disk:-0}" >>"$RESULTS"
	if [ "$rc" != 0 ]; then
		say "  $tool round $n FAILED (exit $rc): $(tail -2 "$log" | tr '\n' ' ')"
	fi
	"clean_$tool" "$n"
	return "$rc"
}

# --- environment report ---------------------------------------------------------------
say "== berth pull benchmark =="
say "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
say "machine:  $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
say "work dir: $WORK ($(df -PT "$WORK" | awk 'NR == 2 { print $2 " on " $1 }'))"
say "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, at start)"
say "berth:    $BERTH ($(stat -c %s "$BERTH") bytes; $("$BERTH" version 2>/dev/null | head -1), $("$BERTH" version 2>/dev/null | sed -n 's/^board: *//p'))"
say "podman:   $(podman --version 2>/dev/null || echo missing)"
say "skopeo:   $(skopeo --version 2>/dev/null || echo missing)"
say "umoci:    $(umoci --version 2>/dev/null || echo missing)"
say "image:    $REF: $IMG_LAYERS layers, $(awk -v b="$IMG_SIZE" 'BEGIN { printf "%.1f", b / 1048576 }') MiB compressed (incompressible content)"
say "registry: docker-registry (distribution) over plain HTTP on 127.0.0.1"
say "rounds:   $ROUNDS per tool, after one untimed warm-up each"

# --- warm-up (and podman's driver) -----------------------------------------------------
say ""
say "warm-up:"
TOOLS=(berth)
warm() { # TOOL: untimed pull, result discarded
	local rc
	"prepare_$1" warm
	env "${ENVS[@]}" "${CMD[@]}" >"$LOGS/$1.warm.log" 2>&1
	rc=$?
	"clean_$1" warm
	return $rc
}
if warm berth; then
	say "  berth: ok"
else
	die "berth pull fails: $(tail -3 "$LOGS/berth.warm.log" | tr '\n' ' ')"
fi
for drv in overlay vfs; do
	prepare_podman_with warm "$drv"
	if env "${ENVS[@]}" "${CMD[@]}" >"$LOGS/podman.warm.$drv.log" 2>&1; then
		PODMAN_DRIVER=$drv
		clean_podman warm
		break
	fi
	PODMAN_WHY="${PODMAN_WHY:+$PODMAN_WHY; }$drv: $(grep -v '^$' "$LOGS/podman.warm.$drv.log" | tail -1)"
	clean_podman warm
done
if [ -n "$PODMAN_DRIVER" ]; then
	TOOLS+=(podman)
	say "  podman: ok (storage driver $PODMAN_DRIVER${PODMAN_WHY:+; failed first: $PODMAN_WHY})"
else
	say "  podman: UNAVAILABLE ($PODMAN_WHY)"
fi
if warm skopeo; then
	TOOLS+=(skopeo)
	say "  skopeo+umoci: ok"
else
	say "  skopeo+umoci: UNAVAILABLE ($(grep -v '^$' "$LOGS/skopeo.warm.log" | tail -1))"
fi

# --- timed rounds, rotating the order ---------------------------------------------------
say ""
for ((r = 1; r <= ROUNDS; r++)); do
	order=()
	for ((i = 0; i < ${#TOOLS[@]}; i++)); do
		order+=("${TOOLS[(i + r - 1) % ${#TOOLS[@]}]}")
	done
	say "round $r/$ROUNDS: ${order[*]}"
	for t in "${order[@]}"; do
		measure "$t" "$r"
	done
done

# --- report ----------------------------------------------------------------------------
# pick TOOL FIELD KIND: over the successful rounds; FIELD 4 wall, 5 rss, 6 cpu, 7 disk;
# KIND median|min|max. Empty when no round succeeded.
pick() {
	awk -v t="$1" '$1 == t && $3 == 0 { print $'"$2"' }' "$RESULTS" | sort -g | awk -v k="$3" '
		{ v[NR] = $1 }
		END {
			if (NR == 0) exit
			if (k == "min") print v[1]
			else if (k == "max") print v[NR]
			else if (NR % 2) print v[(NR + 1) / 2]
			else print (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}
okcount() { awk -v t="$1" '$1 == t && $3 == 0' "$RESULTS" | wc -l; }
name() { case $1 in skopeo) echo "skopeo+umoci" ;; *) echo "$1" ;; esac; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ratio() { # A B: A/B with 2 decimals, or n/a
	if [ -z "$1" ] || [ -z "$2" ]; then echo n/a; else awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; fi
}

say ""
printf '%-14s %6s %9s %15s %14s %11s %9s\n' tool "ok" "wall(med)" "wall(min-max)" "peak RSS(max)" "CPU(med)" "disk"
for t in berth podman skopeo; do
	n=$(okcount "$t")
	if [ "$t" = podman ] && [ -z "$PODMAN_DRIVER" ]; then
		printf '%-14s %s\n' "$(name "$t")" "unavailable: $PODMAN_WHY"
		continue
	fi
	if [ "$n" = 0 ]; then
		printf '%-14s %6s %s\n' "$(name "$t")" "0/$ROUNDS" "no successful round"
		continue
	fi
	printf '%-14s %6s %8.2fs %15s %10s MiB %10.2fs %5s MiB\n' "$(name "$t")" "$n/$ROUNDS" \
		"$(pick "$t" 4 median)" "$(printf '%.2f-%.2fs' "$(pick "$t" 4 min)" "$(pick "$t" 4 max)")" \
		"$(mib "$(pick "$t" 5 max)")" "$(pick "$t" 6 median)" "$(pick "$t" 7 median)"
done

bw=$(pick berth 4 median) pw=$(pick podman 4 median) sw=$(pick skopeo 4 median)
br=$(pick berth 5 max) pr=$(pick podman 5 max) sr=$(pick skopeo 5 max)
say ""
say "ratios (berth / peer; below 1 means berth is faster or smaller):"
printf '  %-28s %6s\n' "wall time berth/podman" "$(ratio "$bw" "$pw")"
printf '  %-28s %6s\n' "wall time berth/skopeo+umoci" "$(ratio "$bw" "$sw")"
printf '  %-28s %6s   (%s vs %s MiB)\n' "peak RSS berth/podman" "$(ratio "$br" "$pr")" \
	"$([ -n "$br" ] && mib "$br" || echo n/a)" "$([ -n "$pr" ] && mib "$pr" || echo n/a)"
printf '  %-28s %6s   (%s vs %s MiB)\n' "peak RSS berth/skopeo+umoci" "$(ratio "$br" "$sr")" \
	"$([ -n "$br" ] && mib "$br" || echo n/a)" "$([ -n "$sr" ] && mib "$sr" || echo n/a)"
if [ -n "$br" ]; then
	workers=$((BENCH_LAYERS < 3 ? BENCH_LAYERS : 3)) # max-concurrent-downloads default
	say "  berth: peak is max(main, workers); with $workers workers at once their sum is at most $((workers + 1)) x $(mib "$br") = $(mib $(((workers + 1) * br))) MiB"
fi

say ""
say "targets (informational):"
if [ -n "$bw" ] && [ -n "$pw" ]; then
	verdict=$(awk -v a="$bw" -v b="$pw" 'BEGIN { print (a <= 0.5 * b) ? "PASS" : "MISS" }')
	say "  target: berth wall time <= 0.5 x podman   $verdict  ($(ratio "$bw" "$pw") x: ${bw}s vs ${pw}s)"
else
	say "  target: berth wall time <= 0.5 x podman   n/a  (podman: ${PODMAN_WHY:-no successful round})"
fi
if [ -n "$br" ]; then
	verdict=$(awk -v k="$br" 'BEGIN { print (k < 8192) ? "PASS" : "MISS" }')
	say "  target: peak RSS < 8 MiB                  $verdict  ($(mib "$br") MiB)"
else
	say "  target: peak RSS < 8 MiB                  n/a  (no successful berth round)"
fi

say ""
say "load at end: $(cut -d' ' -f1-3 /proc/loadavg); took $(awk -v a="${T_START/,/.}" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.0f", b - a }') s"
say "raw samples (tool round exit wall_s rss_kib cpu_s disk_mib):"
sed 's/^skopeo /skopeo+umoci /; s/^/  /' "$RESULTS"
exit 0
