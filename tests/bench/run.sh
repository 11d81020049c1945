#!/usr/bin/env bash
# Run benchmark: `berth run --rm --network none IMAGE /bin/true` (crun's bundle
# has a network namespace with loopback only, podman runs --network=none;
# berth's default bridge adds a veth: tests/bench/network.sh measures that)
# against `crun run` on an
# OCI bundle of the same image and against `podman run --rm`, side by side in
# one hyperfine run; then the RSS of berth's per-container monitor next to
# conmon's. Informational, not pass/fail, not part of `make check`.
#
#   bash tests/bench/run.sh                     # as root, Debian 12
#   RUNS=100 WARMUP=5 MONITORS=5 bash tests/bench/run.sh
#   BERTH=path/to/berth bash tests/bench/run.sh # default: `make TAG=bench`,
#                       binary only (build/x86_64/local-bench/berth; the
#                       existing one if the build fails)
#
# - Image: the fixtures' img_single (busybox-static, /bin/true), pushed to a
#   local plain-HTTP registry; berth and podman pull it from there, the crun
#   bundle is `umoci unpack` of the same OCI layout.
# - crun's config.json is made to match what berth sets up: namespaces pid,
#   mount, uts, ipc, net, cgroup; no terminal; Docker's default capabilities;
#   berth's masked/read-only paths and mounts (with hostname, hosts and
#   resolv.conf bind mounts, no /sys/fs/cgroup); no rlimits; no_new_privs.
#   Left different: crun's rootfs is a plain directory, berth mounts an
#   overlay (its container layer) every run, as podman does.
# - crun refuses this host's hybrid cgroup layout, so the timed commands run
#   under one wrapper, `unshare -m sh -c 'umount /sys/fs/cgroup/unified;
#   exec CMD'` (a private mount namespace; the host is untouched). The
#   wrapper alone is timed too and times are also shown net of it; berth is
#   also timed plain. crun gets a new id per run (bench-$$) and `crun run`
#   deletes its state on exit.
# - podman: --network=none (berth's default is an empty netns too; the
#   bridge would add a host bridge, iptables rules and /run/netns files),
#   storage, runroot, tmpdir, runtime state and a containers.conf (file
#   locks) in the work dir, cgroupfs under a per-run cgroup parent, file
#   events, --ulimit nofile/nproc within this shell's hard limits (crun
#   cannot raise them without CAP_SYS_RESOURCE). crun first, then runc;
#   the output says which ran, or why none did.
# - Monitor memory: MONITORS detached `berth run -d IMAGE /bin/busybox sleep
#   1000`; for each process with comm berth-monitor of this data root, VmRSS
#   (status), Pss and USS (Private_*, smaps_rollup); the mean. The same for
#   conmon with `podman run -d`, next to the issue's figures (conmon 2 MiB,
#   containerd-shim 13 MiB).
# - Report: mean +- sd, median, min-max, net of the wrapper; ratios
#   berth/crun and berth/podman on means and medians (a shared host: outliers
#   move the means); the issue's target (berth no slower than crun) as
#   PASS/MISS; what `run --rm` left in berth's containers/.
# Exit 0 when berth's and crun's times and berth's monitor RSS were
# measured (podman is optional), else 1. The EXIT trap removes everything
# started, also on failure or ^C: berth containers (rm -f), podman
# containers, crun leftovers, processes still running from the work dir
# (by pid), the per-run cgroups, the work dir (data root, podman storage,
# bundle), /run/crun if this run made it (podman 4.3 runs one `crun delete`
# without its --runtime-flag root), the registry.
# shellcheck disable=SC2317 # functions called from the trap
set -u

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUNS=${RUNS:-40}
WARMUP=${WARMUP:-5}
MONITORS=${MONITORS:-5}
case "$RUNS$WARMUP$MONITORS" in '' | *[!0-9]*)
	echo "run bench: RUNS, WARMUP and MONITORS must be numbers" >&2
	exit 2
	;;
esac
[ "$RUNS" -ge 30 ] || RUNS=30
[ "$MONITORS" -ge 1 ] || MONITORS=1
T_START=$EPOCHREALTIME

say() { printf '%s\n' "$*"; }
die() {
	printf 'run bench: %s\n' "$*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (containers, mount namespaces and apt-get need it)"

# --- dependencies ------------------------------------------------------------
need=()
want() { # COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || need+=("$2")
}
want hyperfine hyperfine
want crun crun
want umoci umoci
want skopeo skopeo
want docker-registry docker-registry
want podman podman
want curl curl
want python3 python3
want unshare util-linux
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || need+=(busybox-static)
apt_install() { # PACKAGE...
	say "installing: $*"
	apt-get update -q >/dev/null 2>&1 || say "(apt-get update reported errors; trying the install anyway)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
		>/tmp/berth-bench-apt.$$.log 2>&1 || {
		tail -5 /tmp/berth-bench-apt.$$.log >&2
		rm -f /tmp/berth-bench-apt.$$.log
		return 1
	}
	rm -f /tmp/berth-bench-apt.$$.log
	say "installed: $*"
}
if [ ${#need[@]} -gt 0 ]; then
	apt_install "${need[@]}" || die "apt-get install ${need[*]} failed"
fi

# --- berth binary --------------------------------------------------------------
if [ -n "${BERTH:-}" ]; then
	case "$BERTH" in /*) ;; *) BERTH=$PWD/$BERTH ;; esac
else
	BERTH=$TOP/build/x86_64/local-bench/berth
	# Only the object tree's binary: the plain `make` goal would also copy it
	# over build/x86_64/berth, which other work may be using.
	if ! make -C "$TOP" -s -j2 TAG=bench build/x86_64/local-bench/berth \
		>/tmp/berth-bench-make.$$.log 2>&1; then
		if [ -x "$BERTH" ]; then
			say "note: the build failed ($(grep -m1 'error' /tmp/berth-bench-make.$$.log || tail -1 /tmp/berth-bench-make.$$.log)); using the existing $BERTH ($(date -r "$BERTH" '+%Y-%m-%d %H:%M'))"
		else
			tail -5 /tmp/berth-bench-make.$$.log >&2
			rm -f /tmp/berth-bench-make.$$.log
			die "cannot build berth"
		fi
	fi
	rm -f /tmp/berth-bench-make.$$.log
fi
[ -x "$BERTH" ] || die "no berth binary at $BERTH"

# --- registry, image, work dir, cleanup ---------------------------------------------
# shellcheck source=../integration/fixtures/registry.sh
. "$TOP/tests/integration/fixtures/registry.sh"
# shellcheck source=../integration/fixtures/images.sh
. "$TOP/tests/integration/fixtures/images.sh"

WORK=
BR= # berth's data root
CS= # crun's state root
CGP= # per-run cgroup parent (name), for crun and podman
UNIFIED= # the cgroup2 mount point that crun refuses (hybrid hosts), else empty
PODMAN=() # podman and its global options, set once the work dir exists
# "${WRAP[@]}" CMD...: CMD in a private mount namespace without the cgroup2
# mount (set again once UNIFIED is known).
wrap_set() {
	# shellcheck disable=SC2016 # expanded by that sh
	WRAP=(unshare -m sh -c '[ -z "$1" ] || umount "$1" || exit 97; shift; exec "$@"' sh "$UNIFIED")
}
wrap_set

unmount_under() { # DIR: unmount everything mounted at or below DIR, deepest first
	local m
	awk -v p="$1/" '{ m = $5; gsub(/\\040/, " ", m); if (index(m "/", p) == 1) print m }' \
		/proc/self/mountinfo | sort -r | while IFS= read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "warning: cannot unmount $m"
	done
}

# procs_of DIR [COMM]: pids of processes whose command line mentions DIR (and
# whose comm is COMM), i.e. started by this script: monitors, conmons.
procs_of() {
	local p c
	for p in /proc/[0-9]*; do
		if [ -n "${2:-}" ]; then
			c=$(cat "$p/comm" 2>/dev/null) || continue
			[ "$c" = "$2" ] || continue
		fi
		# a monitor's command line is its title; its open container dir names the root
		{ tr '\0' '\n' <"$p/cmdline"; ls -l "$p/fd"; } 2>/dev/null | grep -qF -- "$1" || continue
		echo "${p#/proc/}"
	done
}

cleanup() {
	local ids id p c
	trap - INT TERM HUP
	if [ -n "$BR" ] && [ -d "$BR" ]; then
		mapfile -t ids < <("$BERTH" --root "$BR" ps -aq 2>/dev/null)
		[ ${#ids[@]} -eq 0 ] || "$BERTH" --root "$BR" rm -f "${ids[@]}" >/dev/null 2>&1 ||
			say "warning: berth rm -f ${ids[*]} failed"
	fi
	if [ ${#PODMAN[@]} -gt 0 ] && [ -d "$WORK/podman" ]; then
		timeout 60 "${WRAP[@]}" "${PODMAN[@]}" rm -af -t 0 >/dev/null 2>&1 ||
			say "warning: podman rm -af failed"
	fi
	if [ -n "$CS" ] && [ -d "$CS" ]; then
		for id in $(crun --root "$CS" list -q 2>/dev/null); do
			"${WRAP[@]}" crun --root "$CS" delete -f "$id" >/dev/null 2>&1 || say "warning: crun delete -f $id failed"
		done
	fi
	if [ -n "$WORK" ]; then
		# Still running from the work dir (a monitor or conmon whose rm failed):
		# its children first (the container's init: its pid namespace goes with it).
		for p in $(procs_of "$WORK/"); do
			c=$(cat "/proc/$p/comm" 2>/dev/null)
			kill -KILL $(pgrep -P "$p") 2>/dev/null
			kill -KILL "$p" 2>/dev/null && say "warning: killed leftover process $p ($c)"
		done
	fi
	if [ -n "$CGP" ]; then
		local d
		for d in /sys/fs/cgroup/*/"$CGP" /sys/fs/cgroup/"$CGP"; do
			[ -d "$d" ] || continue
			find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
			[ -d "$d" ] && say "warning: cannot remove cgroup $d"
		done
	fi
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		unmount_under "$WORK"
		case "$WORK" in */berth-bench-run.*) rm -rf "$WORK" ;; esac
	fi
	# podman 4.3 runs `crun delete --force` without its --runtime-flag, so crun
	# makes its default state dir: remove it if this run made it and it is empty.
	[ "$RUN_CRUN_NEW" = 0 ] || rmdir /run/crun 2>/dev/null
	registry_stop_all
}
RUN_CRUN_NEW=0
[ -e /run/crun ] || RUN_CRUN_NEW=1
trap cleanup EXIT

WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-run.XXXXXX") || die "mktemp failed"
case "$WORK" in *[!A-Za-z0-9_./-]*) die "the work directory $WORK has characters this script does not quote" ;; esac
LOGS=$WORK/logs
mkdir -p "$LOGS"
CGP=${WORK##*/}

# The cgroup layout: "hybrid" when v1 controllers and a cgroup2 mount coexist.
# mountinfo: the fs type follows the "-" field (optional fields come before it).
fstypes() { awk '{ for (i = 7; i < NF; i++) if ($i == "-") { print $(i + 1), $5; break } }' /proc/self/mountinfo; }
CG_LAYOUT=$(fstypes | awk '$1 == "cgroup" { v1 = 1 } $1 == "cgroup2" { v2 = 1 }
	END { print (v1 && v2) ? "hybrid" : v2 ? "v2" : v1 ? "v1" : "none" }')
if [ "$CG_LAYOUT" = hybrid ]; then
	UNIFIED=$(fstypes | awk '$1 == "cgroup2" { print $2; exit }')
fi
wrap_set

registry_start bench http || die "cannot start the registry"
img_single bench bench/busybox:1 || die "cannot build or push the image"
REF=$IMG_REF
LAYOUT=${IMG_SRC#oci:} # DIR:TAG, umoci's syntax

# --- berth: pull ---------------------------------------------------------------------
BR=$WORK/berth/root
mkdir -p "$WORK/berth/config"
printf '{"insecure-registries":["%s"]}\n' "$REG_BENCH_HOST" >"$WORK/berth/config/daemon.json"
export BERTH_CONFIG=$WORK/berth/config
"$BERTH" --root "$BR" pull -q "$REF" >"$LOGS/berth-pull.log" 2>&1 ||
	die "berth pull $REF failed: $(tail -3 "$LOGS/berth-pull.log" | tr '\n' ' ')"

# --- crun: bundle ----------------------------------------------------------------------
CS=$WORK/crun/state
CB=$WORK/crun/bundle
mkdir -p "$CS" "$WORK/crun/etc"
umoci unpack --image "$LAYOUT" "$CB" >"$LOGS/umoci.log" 2>&1 ||
	die "umoci unpack $LAYOUT failed: $(tail -3 "$LOGS/umoci.log" | tr '\n' ' ')"
echo bench >"$WORK/crun/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$WORK/crun/etc/hosts"
cp /etc/resolv.conf "$WORK/crun/etc/resolv.conf" 2>/dev/null || : >"$WORK/crun/etc/resolv.conf"
python3 - "$CB/config.json" "$WORK/crun/etc" "/$CGP/crun" <<'EOF' || die "cannot edit the crun config"
import json, sys
path, etc, cgpath = sys.argv[1:4]
c = json.load(open(path))
# Docker's default set, which berth also grants (CapMask a80425fb).
caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT",
        "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP"]
p = c["process"]
p["terminal"] = False
p["args"] = ["/bin/true"]
p["env"] = ["PATH=/bin", "HOSTNAME=bench"]
p["capabilities"] = {k: caps for k in ("bounding", "effective", "inheritable", "permitted")}
p.pop("rlimits", None)
p["noNewPrivileges"] = True
c["hostname"] = "bench"
c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/sys/fs/cgroup"] + [
    {"destination": "/etc/" + f, "type": "bind", "source": etc + "/" + f, "options": ["rbind", "rprivate"]}
    for f in ("hostname", "hosts", "resolv.conf")]
l = c["linux"]
l["namespaces"] = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")]
l["maskedPaths"] = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                    "/sys/firmware", "/sys/devices/virtual/powercap"]
l["readonlyPaths"] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
l["cgroupsPath"] = cgpath
json.dump(c, open(path, "w"), indent=1)
EOF

# --- podman: storage, pull -------------------------------------------------------------
PD=$WORK/podman
mkdir -p "$PD/tmp" "$PD/net" "$PD/runtime" "$PD/bigtmp"
printf '[storage]\ndriver = "overlay"\nrunroot = "%s"\ngraphroot = "%s"\n' "$PD/run" "$PD/root" >"$PD/storage.conf"
# File locks in the tmp dir instead of the host-wide /dev/shm/libpod_lock.
printf '[engine]\nlock_type = "file"\n' >"$PD/containers.conf"
# Read by podman only (every podman command here, hyperfine's too).
export CONTAINERS_STORAGE_CONF=$PD/storage.conf CONTAINERS_CONF=$PD/containers.conf
podman_set() { # RUNTIME DRIVER
	PODMAN=(podman --root "$PD/root" --runroot "$PD/run" --storage-driver "$2" --tmpdir "$PD/tmp"
		--network-config-dir "$PD/net" --cgroup-manager=cgroupfs --events-backend=file
		--runtime "$1" --runtime-flag "root=$PD/runtime/$1")
}
PODMAN_WHY=
PODMAN_HOW= # how podman runs here (runtime, wrapped or not), empty when it does not
PODMAN_RUN=() # `run` options
PODMAN_WRAP=1
podman_pull() {
	local drv
	for drv in overlay vfs; do
		podman_set crun "$drv"
		# TMPDIR: where containers/image stages blobs (default /var/tmp).
		if TMPDIR=$PD/bigtmp "${PODMAN[@]}" pull -q --tls-verify=false "docker://$REF" \
			>"$LOGS/podman-pull.$drv.log" 2>&1; then
			PODMAN_DRIVER=$drv
			return 0
		fi
		PODMAN_WHY="${PODMAN_WHY:+$PODMAN_WHY; }pull ($drv): $(grep -v '^$' "$LOGS/podman-pull.$drv.log" | tail -1)"
		"${PODMAN[@]}" system reset -f >/dev/null 2>&1
		unmount_under "$PD/root"
		rm -rf "$PD/root" "$PD/run"
	done
	return 1
}
# podman_try RUNTIME WRAP(0|1) NPROC: one untimed `run --rm`; 0 when it worked.
podman_try() {
	local log=$LOGS/podman-try.$1.$2.$3.log
	podman_set "$1" "$PODMAN_DRIVER"
	PODMAN_RUN=(--rm --network=none --cgroup-parent="/$CGP/podman"
		--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=$3:$3")
	if [ "$2" = 1 ]; then
		timeout 120 "${WRAP[@]}" "${PODMAN[@]}" run "${PODMAN_RUN[@]}" "$REF" /bin/true
	else
		timeout 120 "${PODMAN[@]}" run "${PODMAN_RUN[@]}" "$REF" /bin/true
	fi >"$log" 2>&1 && return 0
	PODMAN_WHY="${PODMAN_WHY:+$PODMAN_WHY; }$1$([ "$2" = 1 ] && echo ", wrapped"), nproc $3: $(grep -v '^$' "$log" | tail -1)"
	return 1
}
PODMAN_DRIVER=
PODMAN_PLAIN= # what happens without the wrapper (crun), for the report
if podman_pull; then
	hard_nproc=$(ulimit -Hu)
	[ "$hard_nproc" = unlimited ] && hard_nproc=1048576
	nprocs=()
	for n in 32768 1024; do [ "$n" -le "$hard_nproc" ] && nprocs+=("$n"); done
	[ ${#nprocs[@]} -gt 0 ] || nprocs=("$hard_nproc")
	for n in "${nprocs[@]}"; do
		if podman_try crun 0 "$n"; then
			PODMAN_PLAIN=ok
			break
		fi
	done
	[ -n "$PODMAN_PLAIN" ] || PODMAN_PLAIN="fails: ${PODMAN_WHY##*; }"
	PODMAN_WHY=
	# Timed wrapped like crun and berth, so the wrapper's cost is the same in all.
	for rt in crun runc; do
		if [ "$rt" = runc ] && ! command -v runc >/dev/null 2>&1; then
			apt_install runc || {
				PODMAN_WHY="${PODMAN_WHY:+$PODMAN_WHY; }runc: cannot install it"
				break
			}
		fi
		for w in 1 0; do
			[ "$rt" = crun ] && [ "$w" = 0 ] && continue # tried above
			for n in "${nprocs[@]}"; do
				if podman_try "$rt" "$w" "$n"; then
					PODMAN_HOW="$rt, $([ "$w" = 1 ] && echo "wrapped" || echo "not wrapped"), storage $PODMAN_DRIVER, nproc $n"
					PODMAN_WRAP=$w
					break 3
				fi
			done
		done
	done
fi

# --- check that each command works, build the hyperfine command lines -------------------
# (hyperfine -N splits these like a shell; the work dir holds no special characters)
if [ -n "$UNIFIED" ]; then PRE="umount $UNIFIED || exit 97;"; else PRE=; fi
declare -A H=(
	[wrap]="unshare -m sh -c '$PRE exec /bin/true'"
	[berth]="unshare -m sh -c '$PRE exec $BERTH --root $BR run --rm --network none $REF /bin/true'"
	[crun]="unshare -m sh -c '$PRE exec crun --root $CS run --bundle $CB bench-\$\$'"
	[plain]="$BERTH --root $BR run --rm --network none $REF /bin/true"
)
if [ -n "$PODMAN_HOW" ]; then
	pod="${PODMAN[*]} run ${PODMAN_RUN[*]} $REF /bin/true"
	if [ "$PODMAN_WRAP" = 1 ]; then H[podman]="unshare -m sh -c '$PRE exec $pod'"; else H[podman]=$pod; fi
fi

say "== berth run benchmark =="
say "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
say "machine:  $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
say "cgroups:  $CG_LAYOUT${UNIFIED:+ (cgroup2 at $UNIFIED: unmounted inside the wrapper)}"
say "work dir: $WORK ($(df -PT "$WORK" | awk 'NR == 2 { print $2 " on " $1 }'))"
say "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, at start)"
say "berth:    $BERTH ($(stat -c %s "$BERTH") bytes; $("$BERTH" version 2>/dev/null | head -1), $("$BERTH" version 2>/dev/null | sed -n 's/^features: *//p'))"
say "crun:     $(crun --root "$CS" --version 2>/dev/null | head -1)" # plain --version creates /run/crun
say "podman:   $(podman --version 2>/dev/null || echo missing); conmon $(conmon --version 2>/dev/null | sed -n 's/^conmon version //p' | head -1)"
say "hyperfine: $(hyperfine --version 2>/dev/null)"
say "image:    $REF (fixtures img_single: busybox-static, one layer); crun bundle: umoci unpack of the same layout"
say "runs:     $RUNS per command after $WARMUP warm-up runs, one hyperfine run, no intermediate shell (-N)"
say ""
say "checks (one untimed run each):"

check() { # NAME CMDLINE: runs it once like hyperfine -N would; 0 when it exits 0
	local log=$LOGS/check.$1.log
	eval "set -- $2"
	"$@" >"$log" 2>&1
}
declare -A OK=()
for t in wrap berth crun plain; do
	if check "$t" "${H[$t]}"; then
		OK[$t]=1
		say "  $t: ok"
	else
		say "  $t: FAILS: $(grep -v '^$' "$LOGS/check.$t.log" | tail -2 | tr '\n' ' ')"
	fi
done
if [ -n "$PODMAN_HOW" ] && check podman "${H[podman]}"; then
	OK[podman]=1
	say "  podman: ok ($PODMAN_HOW)"
elif [ -n "$PODMAN_HOW" ]; then
	say "  podman: FAILS: $(grep -v '^$' "$LOGS/check.podman.log" | tail -2 | tr '\n' ' ')"
	PODMAN_WHY="check run failed"
	PODMAN_HOW=
else
	say "  podman: UNAVAILABLE (${PODMAN_WHY:-not tried})"
fi
[ -z "${PODMAN_PLAIN:-}" ] || say "  (podman with crun without the wrapper: $PODMAN_PLAIN)"

# --- the timed run -------------------------------------------------------------------
NAMES=()
declare -A LABEL=([wrap]="wrapper alone" [berth]="berth (wrapped)" [crun]="crun (wrapped)"
	[plain]="berth (plain)" [podman]="podman$([ "$PODMAN_WRAP" = 1 ] && echo " (wrapped)" || echo " (plain)")")
HF=(hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$WORK/hyperfine.json")
for t in wrap berth crun plain podman; do
	[ -n "${OK[$t]:-}" ] || continue
	NAMES+=("$t")
	HF+=(-n "${LABEL[$t]}" "${H[$t]}")
done
say ""
HF_OK=0
if [ ${#NAMES[@]} -gt 0 ]; then
	say "hyperfine (commands: ${NAMES[*]}):"
	if "${HF[@]}" >"$LOGS/hyperfine.log" 2>&1; then
		HF_OK=1
		sed -n '/Benchmark/,$p' "$LOGS/hyperfine.log" | grep -v '^$' | sed 's/^/  /'
	else
		say "  hyperfine FAILED: $(grep -v '^$' "$LOGS/hyperfine.log" | tail -3 | tr '\n' ' ')"
	fi
fi
left=$(find "$BR/containers" -mindepth 1 -maxdepth 1 ! -name .lock 2>/dev/null | wc -l)
[ "$left" = 0 ] || say "note: after the --rm runs berth's containers/ holds $left entries ($(find "$BR/containers" -mindepth 1 -maxdepth 1 ! -name .lock -printf '%f\n' | sed 's/\(.\{18\}\).*/\1.../' | sort | uniq -c | sort -rn | head -3 | awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }'))"

# --- monitor memory --------------------------------------------------------------------
# mem PID: "rss_kib pss_kib uss_kib"
mem() {
	local rss pss uss
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
	read -r pss uss < <(awk '/^Pss:/ { p = $2 } /^Private_(Clean|Dirty):/ { u += $2 }
		END { print p + 0, u + 0 }' "/proc/$1/smaps_rollup" 2>/dev/null)
	[ -n "$rss" ] && [ -n "$pss" ] && echo "$rss $pss $uss"
}
MEMS=$WORK/mem
: >"$MEMS"
say ""
say "monitor memory ($MONITORS detached containers each, /bin/busybox sleep 1000):"
ids=()
for ((i = 1; i <= MONITORS; i++)); do
	if id=$("$BERTH" --root "$BR" run -d "$REF" /bin/busybox sleep 1000 2>"$LOGS/berth-d.$i.log"); then
		ids+=("$id")
	else
		say "  berth run -d #$i FAILED: $(tail -2 "$LOGS/berth-d.$i.log" | tr '\n' ' ')"
	fi
done
sleep 1 # let the monitors settle (first poll, log file open)
n=0
for p in $(procs_of "$BR" berth-monitor); do
	m=$(mem "$p") || continue
	echo "berth-monitor $p $m" >>"$MEMS"
	n=$((n + 1))
done
say "  berth: ${#ids[@]} containers started, $n berth-monitor processes of this data root"
[ ${#ids[@]} -eq 0 ] || "$BERTH" --root "$BR" rm -f "${ids[@]}" >"$LOGS/berth-rm.log" 2>&1 ||
	say "  berth rm -f FAILED: $(tail -2 "$LOGS/berth-rm.log" | tr '\n' ' ')"

if [ -n "$PODMAN_HOW" ]; then
	# All in one wrapper shell: the containers' mounts live in its namespace.
	pcmd=("${PODMAN[@]}" run -d "${PODMAN_RUN[@]:1}" "$REF" /bin/busybox sleep 1000)
	# shellcheck disable=SC2016 # expanded by that sh
	starter=(sh -c 'n=$1; shift; i=0; while [ $i -lt $n ]; do "$@" || exit 1; i=$((i + 1)); done' sh "$MONITORS" "${pcmd[@]}")
	if [ "$PODMAN_WRAP" = 1 ]; then
		"${WRAP[@]}" "${starter[@]}" >"$LOGS/podman-d.log" 2>&1
	else
		"${starter[@]}" >"$LOGS/podman-d.log" 2>&1
	fi || say "  podman run -d FAILED: $(grep -v '^$' "$LOGS/podman-d.log" | tail -2 | tr '\n' ' ')"
	sleep 1
	n=0
	for p in $(procs_of "$PD/" conmon); do
		m=$(mem "$p") || continue
		echo "conmon $p $m" >>"$MEMS"
		n=$((n + 1))
	done
	say "  podman: $n conmon processes of this storage"
	if [ "$PODMAN_WRAP" = 1 ]; then
		timeout 120 "${WRAP[@]}" "${PODMAN[@]}" rm -af -t 0
	else
		timeout 120 "${PODMAN[@]}" rm -af -t 0
	fi >"$LOGS/podman-rm.log" 2>&1 || say "  podman rm -af FAILED: $(grep -v '^$' "$LOGS/podman-rm.log" | tail -2 | tr '\n' ' ')"
fi

# --- report ----------------------------------------------------------------------------
# hstat NAME FIELD: mean|stddev|median|min|max in ms, from hyperfine's JSON; empty if none
hstat() {
	[ "$HF_OK" = 1 ] || return 0
	python3 - "$WORK/hyperfine.json" "${LABEL[$1]}" "$2" <<'EOF'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    if r["command"] == sys.argv[2]:
        print("%.3f" % (r[sys.argv[3]] * 1000))
EOF
}
ratio() { # A B: A/B with 2 decimals, or n/a
	if [ -z "$1" ] || [ -z "$2" ]; then echo n/a; else awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; fi
}
minus() { # A B: A-B, or empty
	if [ -z "$1" ] || [ -z "$2" ]; then echo; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; fi
}
memavg() { # KIND FIELD(3 rss, 4 pss, 5 uss): mean in KiB, empty when none
	awk -v k="$1" -v f="$2" '$1 == k { s += $f; n++ } END { if (n) printf "%.0f", s / n }' "$MEMS"
}
mib() { [ -n "$1" ] && awk -v k="$1" 'BEGIN { printf "%.2f MiB", k / 1024 }' || echo n/a; }

say ""
say "times (ms; net = minus the wrapper alone):"
printf '  %-18s %16s %8s %17s %8s\n' command "mean +- sd" median "min-max" net
wrap_mean=$(hstat wrap mean)
for t in wrap berth crun plain podman; do
	if [ "$t" = podman ] && [ -z "${OK[podman]:-}" ]; then
		printf '  %-18s %s\n' podman "unavailable: ${PODMAN_WHY:-?}"
		continue
	fi
	mean=$(hstat "$t" mean)
	if [ -z "$mean" ]; then
		printf '  %-18s %s\n' "${LABEL[$t]}" "not measured"
		continue
	fi
	net=
	case $t in berth | crun) net=$(minus "$mean" "$wrap_mean") ;; podman) [ "$PODMAN_WRAP" = 1 ] && net=$(minus "$mean" "$wrap_mean") ;; esac
	[ -n "$net" ] && net=$(printf '%.2f' "$net")
	printf '  %-18s %16s %8.2f %17s %8s\n' "${LABEL[$t]}" \
		"$(printf '%.2f +- %.2f' "$mean" "$(hstat "$t" stddev)")" "$(hstat "$t" median)" \
		"$(printf '%.2f-%.2f' "$(hstat "$t" min)" "$(hstat "$t" max)")" "${net:--}"
done

# ratios STAT: the ratio lines from one statistic (mean or median) as
# "label|value" lines; the report puts the two statistics side by side.
ratios() {
	local b c p pl w bn cn
	w=$(hstat wrap "$1") b=$(hstat berth "$1") c=$(hstat crun "$1") p=$(hstat podman "$1") pl=$(hstat plain "$1")
	bn=$(minus "$b" "$w") cn=$(minus "$c" "$w")
	echo "berth/crun, both wrapped|$(ratio "$b" "$c")"
	echo "berth/crun, net of the wrapper|$(ratio "$bn" "$cn")"
	echo "berth plain / crun net of the wrapper|$(ratio "$pl" "$cn")"
	if [ -z "$p" ]; then
		echo "berth/podman|n/a"
	elif [ "$PODMAN_WRAP" = 1 ]; then
		echo "berth/podman, both wrapped|$(ratio "$b" "$p")"
		echo "berth/podman, net of the wrapper|$(ratio "$bn" "$(minus "$p" "$w")")"
	else
		echo "berth/podman, both plain|$(ratio "$pl" "$p")"
	fi
}
bm=$(hstat berth mean) cm=$(hstat crun mean)
bn=$(minus "$bm" "$wrap_mean") cn=$(minus "$cm" "$wrap_mean")
bmed=$(hstat berth median) cmed=$(hstat crun median)
say ""
say "ratios (below 1 means berth is faster):"
printf '  %-40s %6s %7s\n' "" mean median
paste -d'|' <(ratios mean) <(ratios median | cut -d'|' -f2) | while IFS='|' read -r l a b; do
	printf '  %-40s %6s %7s\n' "$l" "$a" "$b"
done
[ -n "$(hstat podman mean)" ] || say "  (podman: ${PODMAN_WHY:-not measured})"

say ""
say "per-container monitor memory (mean over the processes; PSS shares the text pages among them):"
printf '  %-22s %3s %12s %12s %12s\n' process n VmRSS PSS USS
for k in berth-monitor conmon; do
	n=$(awk -v k="$k" '$1 == k' "$MEMS" | wc -l)
	if [ "$n" = 0 ]; then
		printf '  %-22s %3s %s\n' "$k" 0 "$([ "$k" = conmon ] && echo "not measured${PODMAN_WHY:+: $PODMAN_WHY}" || echo "not measured")"
		continue
	fi
	printf '  %-22s %3s %12s %12s %12s\n' "$k" "$n" "$(mib "$(memavg "$k" 3)")" "$(mib "$(memavg "$k" 4)")" "$(mib "$(memavg "$k" 5)")"
done
printf '  %-22s %3s %12s\n' "conmon (issue)" - "2.00 MiB" "containerd-shim (issue)" - "13.00 MiB"
brss=$(memavg berth-monitor 3) crss=$(memavg conmon 3)
printf '  %-44s %6s\n' "berth-monitor/conmon RSS, measured" "$(ratio "$brss" "$crss")"
printf '  %-44s %6s\n' "berth-monitor/conmon RSS, 2 MiB" "$(ratio "$brss" 2048)"
printf '  %-44s %6s\n' "berth-monitor/containerd-shim RSS, 13 MiB" "$(ratio "$brss" 13312)"

say ""
say "target (issue, informational):"
if [ -n "$bm" ] && [ -n "$cm" ]; then
	verdict=$(awk -v a="$bm" -v b="$cm" 'BEGIN { print (a <= b) ? "PASS" : "MISS" }')
	say "  berth run no slower than crun run (mean ratio <= 1.0)   $verdict  ($(ratio "$bm" "$cm") wrapped, $(ratio "$bn" "$cn") net; median $(ratio "$bmed" "$cmed"))"
else
	say "  berth run no slower than crun run (mean ratio <= 1.0)   n/a"
fi

say ""
say "load at end: $(cut -d' ' -f1-3 /proc/loadavg); took $(awk -v a="${T_START/,/.}" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.0f", b - a }') s"
say "raw memory samples (process pid rss_kib pss_kib uss_kib):"
sed 's/^/  /' "$MEMS"
[ -n "$bm" ] && [ -n "$cm" ] && [ -n "$brss" ] || exit 1
exit 0
