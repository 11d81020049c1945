#!/usr/bin/env bash
# Daemon benchmark (issue 5): idle memory of `berth daemon` with 0 and with
# CONTAINERS running containers (daemon + per-container monitors), next to
# dockerd + containerd + shims (Debian's docker.io) and `podman system
# service` + conmons, all measured in the same run; then the latency of
# `docker ps` against each daemon's socket, and a whole `docker run --rm` through
# berthd and dockerd (hyperfine, one run, ratios).
# Informational, not pass/fail, not part of `make check`.
#
#   bash tests/bench/daemon.sh                  # as root, Debian 12
#   CONTAINERS=10 RUNS=50 SETTLE=3 bash tests/bench/daemon.sh
#   BERTH=path/to/berth bash tests/bench/daemon.sh   # default: `make TAG=bench`
#                        (build/x86_64/local-bench/berth only)
#
# - Every daemon gets its own socket, data root and state dirs under one work
#   dir: berthd (-H unix://WORK/berth.sock --root WORK/berth/root); dockerd
#   (--iptables=false --bridge=none, its own --data-root, --exec-root,
#   --pidfile, containerd namespace; it starts its own containerd); podman
#   (system service --time=0 on WORK/podman.sock, runc, cgroupfs, file
#   locks, storage under the work dir).
# - The same image (fixtures img_run: busybox-static) from a local registry;
#   every container runs `sleep 1000000`, detached, started with the docker
#   CLI against berthd and dockerd and with the podman CLI for podman.
# - Memory, per process: VmRSS (/proc/PID/status), Pss and USS
#   (Private_Clean + Private_Dirty, smaps_rollup), measured SETTLE seconds
#   after the last start. Processes counted: berthd = the daemon, its
#   berth-monitor processes, and any berthd-worker still running (a request
#   child); docker = dockerd, containerd, containerd-shim-runc-v2 of this
#   run; podman = the service process and the conmons of this run.
# - Targets (issue 5): daemon idle VmRSS under 1 MiB; each monitor under
#   256 KiB. Printed as PASS/MISS.
# - Latency: hyperfine -N `docker -H unix://SOCK ps` for each daemon with the
#   CONTAINERS containers running; ratios on means and medians.
# Exit 0 when berth's figures were measured (docker and podman are optional:
# the report says why one is missing). The EXIT trap removes everything
# started, also on failure or ^C.
# shellcheck disable=SC2317 # functions called from the trap
set -u

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
N=${CONTAINERS:-10}
RUNS=${RUNS:-50}
WARMUP=${WARMUP:-5}
SETTLE=${SETTLE:-3}
case "$N$RUNS$WARMUP$SETTLE" in '' | *[!0-9]*)
	echo "daemon bench: CONTAINERS, RUNS, WARMUP and SETTLE must be numbers" >&2
	exit 2
	;;
esac
say() { printf '%s\n' "$*"; }
die() {
	printf 'daemon bench: %s\n' "$*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "run as root (containers and apt-get need it)"

# --- dependencies --------------------------------------------------------------
need=()
want() { command -v "$1" >/dev/null 2>&1 || need+=("$2"); }
want hyperfine hyperfine
want docker-registry docker-registry
want skopeo skopeo
want umoci umoci
want curl curl
want python3 python3
want podman podman
want runc runc
want dockerd docker.io
want containerd containerd
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || need+=(busybox-static)
apt_install() {
	say "installing: $*"
	apt-get update -q >/dev/null 2>&1 || say "(apt-get update reported errors; trying the install anyway)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
		>/tmp/berth-bench-apt.$$.log 2>&1 || {
		tail -5 /tmp/berth-bench-apt.$$.log >&2
		rm -f /tmp/berth-bench-apt.$$.log
		return 1
	}
	rm -f /tmp/berth-bench-apt.$$.log
}
APT_WHY=
if [ ${#need[@]} -gt 0 ]; then
	# one by one: a peer that cannot be installed is left out, not fatal
	for p in "${need[@]}"; do apt_install "$p" || APT_WHY="$APT_WHY $p"; done
fi
command -v docker >/dev/null 2>&1 || die "no docker CLI (the latency test and the berthd figures use it)"
for c in hyperfine docker-registry skopeo umoci curl python3; do
	command -v "$c" >/dev/null 2>&1 || die "$c is missing and could not be installed"
done

# --- berth binary ------------------------------------------------------------------
if [ -n "${BERTH:-}" ]; then
	case "$BERTH" in /*) ;; *) BERTH=$PWD/$BERTH ;; esac
else
	BERTH=$TOP/build/x86_64/local-bench/berth
	if ! make -C "$TOP" -s -j2 TAG=bench build/x86_64/local-bench/berth >/tmp/berth-bench-make.$$.log 2>&1; then
		[ -x "$BERTH" ] || { tail -5 /tmp/berth-bench-make.$$.log >&2; rm -f /tmp/berth-bench-make.$$.log; die "cannot build berth"; }
		say "note: the build failed; using the existing $BERTH"
	fi
	rm -f /tmp/berth-bench-make.$$.log
fi
[ -x "$BERTH" ] || die "no berth binary at $BERTH"
"$BERTH" version | grep -q -- '+daemon' || die "$BERTH has no daemon (CONFIG_DAEMON)"

# shellcheck source=../integration/fixtures/registry.sh
. "$TOP/tests/integration/fixtures/registry.sh"
# shellcheck source=../integration/fixtures/images.sh
. "$TOP/tests/integration/fixtures/images.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-daemon.XXXXXX") || die "mktemp failed"
case "$WORK" in *[!A-Za-z0-9_./-]*) die "the work directory $WORK has characters this script does not quote" ;; esac
LOGS=$WORK/logs
mkdir -p "$LOGS"
BSOCK=$WORK/berth.sock DSOCK=$WORK/docker.sock PSOCK=$WORK/podman.sock
BPID='' DDPID='' PSPID=''
PODMAN=()

title() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null; }
# Processes holding a file (fd or cwd) under the work dir, or naming it.
procs_of_work() {
	local p f
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = $$ ] && continue
		[ "${p#/proc/}" = "$BASHPID" ] && continue
		if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "$WORK/"; then
			echo "${p#/proc/}"
			continue
		fi
		for f in "$p"/cwd "$p"/fd/*; do
			case "$(readlink "$f" 2>/dev/null)" in "$WORK"/*)
				echo "${p#/proc/}"
				break
				;;
			esac
		done
	done
}
stop_pid() { # PID: TERM, KILL after 15 s
	local i
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || return 0
	for ((i = 0; i < 150; i++)); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null
}
cleanup() {
	local ids p
	trap - INT TERM HUP
	if [ -d "$WORK/berth/root" ]; then
		mapfile -t ids < <("$BERTH" --root "$WORK/berth/root" ps -aq 2>/dev/null)
		[ ${#ids[@]} -eq 0 ] || "$BERTH" --root "$WORK/berth/root" rm -f "${ids[@]}" >/dev/null 2>&1
	fi
	stop_pid "$BPID"
	if [ -n "$DDPID" ]; then
		mapfile -t ids < <(timeout 30 docker -H "unix://$DSOCK" ps -aq 2>/dev/null)
		[ ${#ids[@]} -eq 0 ] || timeout 60 docker -H "unix://$DSOCK" rm -f "${ids[@]}" >/dev/null 2>&1
		stop_pid "$DDPID"
	fi
	if [ ${#PODMAN[@]} -gt 0 ]; then
		timeout 60 "${PODMAN[@]}" rm -af -t 0 >/dev/null 2>&1
		stop_pid "$PSPID"
		timeout 60 "${PODMAN[@]}" system reset -f >/dev/null 2>&1
	fi
	sleep 0.5
	for p in $(procs_of_work); do
		say "warning: killing leftover process $p ($(title "$p" | cut -c1-80))"
		kill -KILL "$p" 2>/dev/null
	done
	awk -v p="$WORK/" '{ if (index($5 "/", p) == 1) print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
	case "$WORK" in */berth-bench-daemon.*) rm -rf "$WORK" ;; esac
	registry_stop_all
}
trap cleanup EXIT

# mem PID...: "VmRSS Pss USS" summed, in kB
mem() {
	local p rss pss uss t_rss=0 t_pss=0 t_uss=0
	for p in "$@"; do
		rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		read -r pss uss < <(awk '/^Pss:/ { p = $2 } /^Private_(Clean|Dirty):/ { u += $2 } END { print p + 0, u + 0 }' \
			"/proc/$p/smaps_rollup" 2>/dev/null)
		t_rss=$((t_rss + ${rss:-0})) t_pss=$((t_pss + ${pss:-0})) t_uss=$((t_uss + ${uss:-0}))
	done
	echo "$t_rss $t_pss $t_uss"
}
kib() { awk -v k="$1" 'BEGIN { if (k >= 10240) printf "%.1f MiB", k / 1024; else printf "%d KiB", k }'; }
# row LABEL COUNT "RSS PSS USS": one line of the memory table
row() {
	local r p u
	read -r r p u <<<"$3"
	printf '  %-44s %3s  %10s %10s %10s\n' "$1" "$2" "$(kib "$r")" "$(kib "$p")" "$(kib "$u")"
}
children_titled() { # PID PREFIX: child pids whose title starts with PREFIX
	local c
	for c in $(pgrep -P "$1"); do case "$(title "$c")" in "$2"*) echo "$c" ;; esac; done
}

registry_start bench http >/dev/null || die "cannot start the registry"
img_run bench bench/run:1 || die "cannot build or push the image"
REF=$IMG_REF
say "== berth daemon benchmark =="
say "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
say "machine:  $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
say "berth:    $BERTH ($(stat -c %s "$BERTH") bytes, $("$BERTH" version | head -1))"
say "docker:   CLI $(docker version --format '{{.Client.Version}}' 2>/dev/null); dockerd $(dockerd --version 2>/dev/null | sed 's/^Docker version //' || echo missing); containerd $(containerd --version 2>/dev/null | awk '{ print $3 }')"
say "podman:   $(podman --version 2>/dev/null || echo missing); conmon $(conmon --version 2>/dev/null | sed -n 's/^conmon version //p' | head -1)"
say "image:    $REF (fixtures img_run, busybox-static); containers run 'sleep 1000000'"
say "settle:   ${SETTLE}s idle before each measurement; $N containers"
[ -z "$APT_WHY" ] || say "not installed:$APT_WHY"
say ""

# --- berthd ------------------------------------------------------------------------------
mkdir -p "$WORK/berth/config"
printf '{"insecure-registries":["%s"]}\n' "$REG_BENCH_HOST" >"$WORK/berth/config/daemon.json"
BERTH_CONFIG=$WORK/berth/config setpriv --pdeathsig TERM -- "$BERTH" --root "$WORK/berth/root" daemon \
	-H "unix://$BSOCK" </dev/null >"$LOGS/berthd.log" 2>&1 &
BPID=$!
for _ in $(seq 100); do curl -sf -m 2 -o /dev/null --unix-socket "$BSOCK" http://b/_ping && break; sleep 0.1; done
curl -sf -m 2 -o /dev/null --unix-socket "$BSOCK" http://b/_ping || die "berthd did not start: $(tail -3 "$LOGS/berthd.log")"
BD=(docker -H "unix://$BSOCK")
"${BD[@]}" pull -q "$REF" >"$LOGS/berth-pull.log" 2>&1 || die "docker pull via berthd failed: $(tail -2 "$LOGS/berth-pull.log")"
sleep "$SETTLE"
b_idle=$(mem "$BPID")
for i in $(seq "$N"); do
	"${BD[@]}" run -d --name "b$i" "$REF" sleep 1000000 >>"$LOGS/berth-run.log" 2>&1 || die "docker run via berthd failed: $(tail -2 "$LOGS/berth-run.log")"
done
sleep "$SETTLE"
mapfile -t b_mons < <(for id in $("${BD[@]}" ps -q --no-trunc); do pgrep -f "^berth-monitor ${id:0:12}"; done)
mapfile -t b_work < <(children_titled "$BPID" berthd-worker)
b_d=$(mem "$BPID")
b_m=$(mem "${b_mons[@]}")
b_w=$(mem "${b_work[@]}")
b_all=$(mem "$BPID" "${b_mons[@]}")
mon_max=0
for m in "${b_mons[@]}"; do
	r=$(mem "$m" | awk '{ print $1 }')
	[ "$r" -gt "$mon_max" ] && mon_max=$r
done

# --- dockerd -------------------------------------------------------------------------------------
D_WHY=
if command -v dockerd >/dev/null 2>&1; then
	mkdir -p "$WORK/docker"
	setpriv --pdeathsig TERM -- dockerd --iptables=false --bridge=none --data-root "$WORK/docker/data" \
		--exec-root "$WORK/docker/exec" --pidfile "$WORK/docker/dockerd.pid" -H "unix://$DSOCK" \
		--containerd-namespace berth-bench --insecure-registry "$REG_BENCH_HOST" \
		</dev/null >"$LOGS/dockerd.log" 2>&1 &
	DDPID=$!
	for _ in $(seq 300); do curl -sf -m 2 -o /dev/null --unix-socket "$DSOCK" http://d/_ping && break; kill -0 "$DDPID" 2>/dev/null || break; sleep 0.1; done
	if ! curl -sf -m 2 -o /dev/null --unix-socket "$DSOCK" http://d/_ping; then
		D_WHY="dockerd did not start: $(grep -v '^$' "$LOGS/dockerd.log" | tail -1 | cut -c1-200)"
		stop_pid "$DDPID"
		DDPID=
	fi
else
	D_WHY="dockerd is not installed (apt-get install docker.io failed)"
fi
DD=(docker -H "unix://$DSOCK")
if [ -n "$DDPID" ]; then
	"${DD[@]}" pull -q "$REF" >"$LOGS/docker-pull.log" 2>&1 || D_WHY="docker pull failed: $(tail -1 "$LOGS/docker-pull.log")"
fi
if [ -n "$DDPID" ] && [ -z "$D_WHY" ]; then
	sleep "$SETTLE"
	d_cd=$(pgrep -f -- "--config $WORK/docker/exec/containerd/containerd.toml" | head -1)
	d_idle_d=$(mem "$DDPID")
	d_idle_c=$(mem $d_cd)
	d_idle=$(mem "$DDPID" $d_cd)
	for i in $(seq "$N"); do
		"${DD[@]}" run -d --name "d$i" "$REF" sleep 1000000 >>"$LOGS/docker-run.log" 2>&1 || {
			D_WHY="docker run failed: $(tail -1 "$LOGS/docker-run.log")"
			break
		}
	done
	sleep "$SETTLE"
	mapfile -t d_shims < <(pgrep -f -- "containerd-shim-runc-v2 .*-address $WORK/docker/exec/")
	d_d=$(mem "$DDPID")
	d_c=$(mem $d_cd)
	d_s=$(mem "${d_shims[@]}")
	d_all=$(mem "$DDPID" $d_cd "${d_shims[@]}")
fi

# --- podman system service ------------------------------------------------------------------------------
P_WHY=
if command -v podman >/dev/null 2>&1 && command -v runc >/dev/null 2>&1; then
	PD=$WORK/podman
	mkdir -p "$PD/tmp" "$PD/net" "$PD/runtime" "$PD/bigtmp"
	printf '[engine]\nlock_type = "file"\n' >"$PD/containers.conf"
	export CONTAINERS_CONF=$PD/containers.conf
	PODMAN=(podman --root "$PD/root" --runroot "$PD/run" --storage-driver overlay --tmpdir "$PD/tmp"
		--network-config-dir "$PD/net" --cgroup-manager=cgroupfs --events-backend=file
		--runtime runc --runtime-flag "root=$PD/runtime/runc")
	if ! TMPDIR=$PD/bigtmp "${PODMAN[@]}" pull -q --tls-verify=false "docker://$REF" >"$LOGS/podman-pull.log" 2>&1; then
		P_WHY="podman pull failed: $(tail -1 "$LOGS/podman-pull.log")"
	else
		setpriv --pdeathsig TERM -- "${PODMAN[@]}" system service --time=0 "unix://$PSOCK" \
			</dev/null >"$LOGS/podman-service.log" 2>&1 &
		PSPID=$!
		for _ in $(seq 100); do curl -sf -m 2 -o /dev/null --unix-socket "$PSOCK" http://p/_ping && break; sleep 0.1; done
		curl -sf -m 2 -o /dev/null --unix-socket "$PSOCK" http://p/_ping ||
			P_WHY="podman system service did not answer: $(tail -1 "$LOGS/podman-service.log")"
	fi
	if [ -z "$P_WHY" ]; then
		sleep "$SETTLE"
		p_idle=$(mem "$PSPID")
		# the podman CLI (runc: crun refuses this host's hybrid cgroups; rlimits
		# within this shell's hard limits, which runc cannot raise)
		for i in $(seq "$N"); do
			timeout 120 "${PODMAN[@]}" run -d --name "p$i" --network=none \
				--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=1024:1024 \
				"$REF" sleep 1000000 >>"$LOGS/podman-run.log" 2>&1 || {
				P_WHY="podman run failed: $(grep -v '^$' "$LOGS/podman-run.log" | tail -1)"
				break
			}
		done
		sleep "$SETTLE"
		mapfile -t p_conmons < <(pgrep -f -- "^/usr/bin/conmon .*$PD/")
		p_s=$(mem "$PSPID")
		p_c=$(mem "${p_conmons[@]}")
		p_all=$(mem "$PSPID" "${p_conmons[@]}")
	fi
else
	P_WHY="podman or runc is not installed"
fi

# --- report: memory ---------------------------------------------------------------------------------------
say "idle memory (sum over the processes; USS = private pages):"
printf '  %-44s %3s  %10s %10s %10s\n' "" "n" "VmRSS" "Pss" "USS"
row "berthd, 0 containers" 1 "$b_idle"
row "berthd, $N containers: daemon" 1 "$b_d"
row "  monitors (berth-monitor)" "${#b_mons[@]}" "$b_m"
row "  daemon + monitors" "$((1 + ${#b_mons[@]}))" "$b_all"
[ ${#b_work[@]} -eq 0 ] || row "  + request workers left (berthd-worker)" "${#b_work[@]}" "$b_w"
if [ -n "${d_idle:-}" ]; then
	row "dockerd + containerd, 0 containers" 2 "$d_idle"
	row "  dockerd" 1 "$d_idle_d"
	row "  containerd" 1 "$d_idle_c"
fi
if [ -n "${d_all:-}" ]; then
	row "dockerd, $N containers" 1 "$d_d"
	row "  containerd" 1 "$d_c"
	row "  shims (containerd-shim-runc-v2)" "${#d_shims[@]}" "$d_s"
	row "  all" "$((2 + ${#d_shims[@]}))" "$d_all"
fi
[ -n "$D_WHY" ] && say "  docker: $D_WHY"
if [ -n "${p_idle:-}" ]; then
	row "podman system service, 0 containers" 1 "$p_idle"
fi
if [ -n "${p_all:-}" ] && [ -z "$P_WHY" ]; then
	row "podman system service, $N containers (podman CLI)" 1 "$p_s"
	row "  conmons" "${#p_conmons[@]}" "$p_c"
	row "  all" "$((1 + ${#p_conmons[@]}))" "$p_all"
fi
[ -n "$P_WHY" ] && say "  podman: $P_WHY"
read -r bi_rss bi_pss _ <<<"$b_idle"
read -r bm_rss bm_pss _ <<<"$b_m"
nm=${#b_mons[@]}
[ "$nm" -gt 0 ] || nm=1
say ""
say "targets (issue 5):"
say "  daemon idle VmRSS < 1 MiB:      $(kib "$bi_rss") (Pss $(kib "$bi_pss")): $([ "$bi_rss" -lt 1024 ] && echo PASS || echo MISS)"
say "  each monitor VmRSS < 256 KiB:   mean $(kib $((bm_rss / nm))), max $(kib "$mon_max") (mean Pss $(kib $((bm_pss / nm)))): $([ "$mon_max" -lt 256 ] && echo PASS || echo MISS)"
[ ${#b_mons[@]} = "$N" ] || say "  note: $N containers started, ${#b_mons[@]} monitors found"
if [ -n "${d_all:-}" ]; then
	read -r da_rss _ <<<"$d_all"
	read -r ba_rss _ <<<"$b_all"
	say "  dockerd+containerd+shims / berthd+monitors, $N containers (VmRSS): $(awk -v a="$da_rss" -v b="$ba_rss" 'BEGIN { printf "%.0fx", a / b }')"
fi

# --- report: docker ps latency -----------------------------------------------------------------------------------
say ""
say "docker ps latency ($N containers running; hyperfine -N, $RUNS runs after $WARMUP warm-up runs):"
cmds=(-n berthd "docker -H unix://$BSOCK ps")
[ -n "${d_all:-}" ] && cmds+=(-n dockerd "docker -H unix://$DSOCK ps")
[ -n "${p_all:-}" ] && [ -z "$P_WHY" ] && cmds+=(-n podman "docker -H unix://$PSOCK ps")
if hyperfine -N -w "$WARMUP" -r "$RUNS" --export-json "$WORK/ps.json" "${cmds[@]}" >"$LOGS/hyperfine.log" 2>&1; then
	python3 - "$WORK/ps.json" <<'EOF'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
for name, x in r.items():
    print("  %-8s mean %6.2f ms +- %5.2f   median %6.2f ms   min %6.2f   max %6.2f" % (
        name, x["mean"] * 1e3, x["stddev"] * 1e3, x["median"] * 1e3, x["min"] * 1e3, x["max"] * 1e3))
b = r["berthd"]
for peer in ("dockerd", "podman"):
    if peer in r:
        print("  %s / berthd: %.2fx (means), %.2fx (medians)" % (
            peer, r[peer]["mean"] / b["mean"], r[peer]["median"] / b["median"]))
EOF
else
	say "  hyperfine failed: $(tail -3 "$LOGS/hyperfine.log")"
fi
# the same request without the docker CLI (Go start-up is most of a run)
cmds=(-n berthd "curl -sf --unix-socket $BSOCK -o /dev/null http://d/v1.41/containers/json")
[ -n "${d_all:-}" ] && cmds+=(-n dockerd "curl -sf --unix-socket $DSOCK -o /dev/null http://d/v1.41/containers/json")
[ -n "${p_all:-}" ] && [ -z "$P_WHY" ] && cmds+=(-n podman "curl -sf --unix-socket $PSOCK -o /dev/null http://d/v1.41/containers/json")
say ""
say "GET /containers/json with curl (the API alone; same runs):"
if hyperfine -N -w "$WARMUP" -r "$RUNS" --export-json "$WORK/api.json" "${cmds[@]}" >"$LOGS/hyperfine-api.log" 2>&1; then
	python3 - "$WORK/api.json" <<'EOF'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
for name, x in r.items():
    print("  %-8s mean %6.2f ms +- %5.2f   median %6.2f ms   min %6.2f   max %6.2f" % (
        name, x["mean"] * 1e3, x["stddev"] * 1e3, x["median"] * 1e3, x["min"] * 1e3, x["max"] * 1e3))
b = r["berthd"]
for peer in ("dockerd", "podman"):
    if peer in r:
        print("  %s / berthd: %.2fx (means), %.2fx (medians)" % (
            peer, r[peer]["mean"] / b["mean"], r[peer]["median"] / b["median"]))
EOF
else
	say "  hyperfine failed: $(tail -3 "$LOGS/hyperfine-api.log")"
fi
# a whole container's life through each daemon: create, attach, start, wait, remove
say ""
say "docker run --rm IMAGE true ($N containers already running; hyperfine -N, $RUNS runs):"
cmds=(-n berthd "docker -H unix://$BSOCK run --rm --network none $REF true"
	-n "berth CLI via berthd" "$BERTH -H unix://$BSOCK run --rm --network none $REF true")
[ -n "${d_all:-}" ] && cmds+=(-n dockerd "docker -H unix://$DSOCK run --rm --network none $REF true")
if hyperfine -N -w "$WARMUP" -r "$RUNS" --export-json "$WORK/run.json" "${cmds[@]}" >"$LOGS/hyperfine-run.log" 2>&1; then
	python3 - "$WORK/run.json" <<'EOF'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
for name, x in r.items():
    print("  %-21s mean %7.2f ms +- %6.2f   median %7.2f ms" % (
        name, x["mean"] * 1e3, x["stddev"] * 1e3, x["median"] * 1e3))
b = r["berthd"]
if "dockerd" in r:
    print("  dockerd / berthd (docker CLI on both): %.2fx (means), %.2fx (medians)" % (
        r["dockerd"]["mean"] / b["mean"], r["dockerd"]["median"] / b["median"]))
EOF
else
	say "  hyperfine failed: $(tail -3 "$LOGS/hyperfine-run.log")"
fi
say ""
say "(the docker CLI itself takes most of each run: \`docker --version\` with no daemon: $(hyperfine -N -w 3 -r 20 --export-json "$WORK/v.json" 'docker --version' >/dev/null 2>&1 && python3 -c 'import json,sys; print("%.2f ms" % (json.load(open(sys.argv[1]))["results"][0]["mean"] * 1e3))' "$WORK/v.json"))"
exit 0
