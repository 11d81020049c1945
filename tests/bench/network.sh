#!/usr/bin/env bash
# Networking benchmark (issue 7, Figures). Informational, not pass/fail, not
# part of `make check`.
#
#   bash tests/bench/network.sh                  # as root
#   RUNS=50 MIB=1024 REPS=5 bash tests/bench/network.sh
#   BERTH=path/to/berth bash tests/bench/network.sh  # default: `make TAG=nt`,
#                        binary only (build/x86_64/local-nt/berth)
#
# (a) Start latency: `berth run --rm IMAGE true` with --network none, bridge,
#     bridge with -p (NAT rules: iptables runs per start and per removal) and
#     bridge with -p and "iptables": false (userland proxy only), side by side
#     in one hyperfine run (RUNS runs each, WARMUP warmups); the added time
#     and ratio of each over none.
# (b) Throughput through a published port: a python3 client on the host
#     pushes MIB MiB (1 MiB writes, then half-close and wait for the sink's
#     close) to a python3 sink in a container (256 KiB reads; python3 of the
#     host's /usr bind-mounted read-only), REPS times per path; median MB/s
#     (10^6 bytes/s), min-max, and the ratio to the direct path:
#       direct             the container's address (no port publishing at all)
#       NAT                host address:port, DNAT in OUTPUT
#       proxy 127.0.0.1    127.0.0.1:port (loopback is never DNATed)
#       proxy host addr    host address:port of a container started with
#                          "iptables": false (no rule: the proxy carries it)
#     and the same two published paths from "outside": a client in a peer
#     network namespace over a veth (DNAT in PREROUTING plus forwarding, or
#     the proxy). Client, proxy and sink share the host's CPUs: on a small
#     machine the proxy path (one more process copying) is CPU-bound.
#
# Everything runs in a private network namespace (unshare --net) like the
# integration test tests/integration/network.sh: an uplink veth with
# 198.51.100.1/24 (the "host address") to a peer namespace 198.51.100.2
# ("outside"), berth0, berth's rules and the host ports are the benchmark's
# own and go with it; the host's network is untouched and other berth roots
# on the machine do not disturb the figures.
#
# Docker: the issue asks for the same paths through docker "if it can run
# here"; without dockerd the output says so and shows berth alone.
#
# Exit 0 when both parts were measured, else 1. The EXIT trap removes the
# containers, the servers, the registry and the work dir.
# shellcheck disable=SC2317 # functions called from the trap
set -u

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
MIB=${MIB:-512}
REPS=${REPS:-3}
case "$RUNS$WARMUP$MIB$REPS" in '' | *[!0-9]*)
	echo "network bench: RUNS, WARMUP, MIB and REPS must be numbers" >&2
	exit 2
	;;
esac
[ "$RUNS" -ge 10 ] || RUNS=10
[ "$REPS" -ge 1 ] || REPS=1
[ "$MIB" -ge 16 ] || MIB=16

say() { printf '%s\n' "$*"; }
die() {
	printf 'network bench: %s\n' "$*" >&2
	exit 1
}

if [ -z "${NB_INNER:-}" ]; then
	[ "$(id -u)" = 0 ] || die "run as root (namespaces, veths, iptables)"
	for tool in hyperfine docker-registry skopeo umoci unshare nsenter python3 ip iptables; do
		command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (scripts/bootstrap)"
	done
	[ -x /usr/bin/python3 ] || die "/usr/bin/python3 is missing (the container's sink)"
	if [ -n "${BERTH:-}" ]; then
		case "$BERTH" in /*) ;; *) BERTH=$PWD/$BERTH ;; esac
	else
		BERTH=$TOP/build/x86_64/local-nt/berth
		# the object tree's binary only (the plain goal also copies it over
		# build/x86_64/berth, which other work may be using)
		make -C "$TOP" -s -j2 TAG=nt build/x86_64/local-nt/berth >/tmp/berth-nbench-make.$$.log 2>&1 ||
			{ [ -x "$BERTH" ] && say "note: the build failed; using the existing $BERTH"; }
		rm -f /tmp/berth-nbench-make.$$.log
	fi
	[ -x "$BERTH" ] || die "no berth binary at $BERTH"
	export BERTH RUNS WARMUP MIB REPS
	NB_INNER=1 exec unshare --net -- bash "$0" "$@"
fi

# --- inside the private network namespace -------------------------------------------
. "$TOP/tests/integration/fixtures/registry.sh"
. "$TOP/tests/integration/fixtures/images.sh"
. "$TOP/tests/integration/fixtures/netimg.sh"

HOST_IP=198.51.100.1
OUT_IP=198.51.100.2
W=$(mktemp -d /tmp/berth-nbench.XXXXXX)
R=$W/root
BG=()
OUTER=
bq() { timeout -k 5 300 "$BERTH" --root "$R" "$@"; }
onx() { nsenter --net="/proc/$OUTER/ns/net" "$@"; }
mons() {
	local p
	for p in $(pgrep -x berth-monitor); do
		tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF -- "--root $R " && echo "$p"
	done
}
cleanup() {
	local c p m
	trap - INT TERM HUP
	for p in "${BG[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait "${BG[@]}" 2>/dev/null
	if [ -d "$R/containers" ]; then
		for c in $(bq ps -aq --no-trunc 2>/dev/null); do bq rm -f -v "$c" >/dev/null 2>&1; done
	fi
	for p in $(mons); do kill -KILL "$p" 2>/dev/null && say "warning: killed leftover monitor $p"; done
	registry_stop_all
	grep -F "$W" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

say "berth network benchmark  $(date -u '+%Y-%m-%d %H:%M UTC')  $(uname -r)  $(nproc) CPUs"
say "berth: $BERTH ($(stat -c %s "$BERTH") bytes)"
say "iptables: $(iptables --version 2>&1)"

# --- the gateway --------------------------------------------------------------------
ip link set lo up
unshare --net -- sleep 100000 &
OUTER=$!
BG+=("$OUTER")
for _ in $(seq 50); do
	[ "$(readlink "/proc/$OUTER/ns/net")" != "$(readlink /proc/self/ns/net)" ] && break
	sleep 0.1
done
{ ip link add nbup0 type veth peer name nbout0 && ip link set nbout0 netns "$OUTER" &&
	ip addr add "$HOST_IP/24" dev nbup0 && ip link set nbup0 up &&
	onx ip link set lo up && onx ip addr add "$OUT_IP/24" dev nbout0 &&
	onx ip link set nbout0 up && ip route add default via "$OUT_IP"; } >"$W/setup.log" 2>&1 ||
	die "uplink veth: $(tr '\n' ' ' <"$W/setup.log")"
NAT_OK=1
iptables -t nat -S >/dev/null 2>&1 || NAT_OK=0

# --- registry, image, configs ---------------------------------------------------------
registry_start nb http >/dev/null || die "could not start the registry"
img_net nb kit/net:1 || die "could not build the image"
IMG=$IMG_REF
CFG_NAT=$W/cfg-nat CFG_PROXY=$W/cfg-proxy
mkdir -p "$CFG_NAT" "$CFG_PROXY" "$W/nt"
echo "{\"insecure-registries\": [\"$REG_NB_HOST\"]}" >"$CFG_NAT/daemon.json"
echo "{\"insecure-registries\": [\"$REG_NB_HOST\"], \"iptables\": false}" >"$CFG_PROXY/daemon.json"
export BERTH_CONFIG=$CFG_NAT
bq pull -q "$IMG" >/dev/null || die "pull failed"
net_helper "$W/nt/nt.py"
PYMNT=(-v /usr:/usr:ro -v "$W/nt:/nt:ro")
for d in /lib /lib64 /lib32 /libx32; do [ -e "$d" ] && PYMNT+=(-v "$d:$d:ro"); done
# the bridge and the NAT chains exist before anything is timed
bq run --rm -p 18999:80 "$IMG" true >/dev/null 2>&1 || die "a first run -p failed"

say ""
if command -v dockerd >/dev/null 2>&1; then
	say "docker: dockerd is installed, but this script does not drive it: berth alone below"
else
	say "docker: dockerd is not installed here (only the client: $(command -v docker || echo none)); no docker figures"
fi
[ "$NAT_OK" = 1 ] || say "NAT: iptables cannot list the nat table here: the NAT rows use the proxy too"

# --- (a) start latency ----------------------------------------------------------------
say ""
say "== (a) start latency: berth run --rm IMAGE true ($RUNS runs each, $WARMUP warmup) =="
B="$BERTH --root $R"
hyperfine -N --style none --runs "$RUNS" --warmup "$WARMUP" --export-json "$W/start.json" \
	-n none "env BERTH_CONFIG=$CFG_NAT $B run --rm --network none $IMG true" \
	-n bridge "env BERTH_CONFIG=$CFG_NAT $B run --rm $IMG true" \
	-n "bridge -p (NAT)" "env BERTH_CONFIG=$CFG_NAT $B run --rm -p 18080:80 $IMG true" \
	-n "bridge -p (proxy only)" "env BERTH_CONFIG=$CFG_PROXY $B run --rm -p 18080:80 $IMG true" \
	>"$W/hyperfine.log" 2>&1
A_OK=$?
if [ "$A_OK" = 0 ]; then
	python3 - "$W/start.json" <<'EOF'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"]
base = r[0]
bmean, bmed = base["mean"], base["median"]
print("%-24s %10s %10s %10s %15s %12s %9s" % ("network", "mean ms", "+-sd", "median", "min-max", "added ms", "ratio"))
for x in r:
    sd = x.get("stddev") or 0.0
    print("%-24s %10.1f %10.1f %10.1f %7.1f-%-7.1f %+12.1f %8.2fx" % (
        x["command"], x["mean"] * 1e3, sd * 1e3, x["median"] * 1e3, x["min"] * 1e3,
        x["max"] * 1e3, (x["mean"] - bmean) * 1e3, x["mean"] / bmean))
b = r[1]
print()
print("bridge over none: +%.1f ms mean (%.2fx), +%.1f ms median (%.2fx)" % (
    (b["mean"] - bmean) * 1e3, b["mean"] / bmean, (b["median"] - bmed) * 1e3, b["median"] / bmed))
EOF
else
	say "hyperfine failed:"
	tail -5 "$W/hyperfine.log"
fi

# --- (b) throughput ---------------------------------------------------------------------
say ""
say "== (b) throughput: $MIB MiB pushed to a sink in a container, $REPS reps per path, median =="
bq run -d --name sink -p 19000:9000 "${PYMNT[@]}" "$IMG" /usr/bin/python3 /nt/nt.py sink 9000 >/dev/null ||
	die "could not start the sink container"
BERTH_CONFIG=$CFG_PROXY bq run -d --name sinkp -p 19001:9000 "${PYMNT[@]}" "$IMG" \
	/usr/bin/python3 /nt/nt.py sink 9000 >/dev/null || die "could not start the proxy-only sink container"
CIP=$(bq exec sink ip -o -4 addr show eth0 | awk '{print $4}' | cut -d/ -f1)
for t in "$CIP 9000" "127.0.0.1 19000" "127.0.0.1 19001"; do
	# shellcheck disable=SC2086
	python3 "$W/nt/nt.py" waittcp $t 30 || die "sink not reachable at $t"
done
sinkp_id=$(bq inspect -f '{{.Id}}' sinkp)
sink_id=$(bq inspect -f '{{.Id}}' sink)
nat_rules=$(iptables-save 2>/dev/null | grep -c "berth:$sink_id")
proxy_rules=$(iptables-save 2>/dev/null | grep -c "berth:$sinkp_id")
say "container $CIP; rules for the NAT sink: $nat_rules, for the proxy-only sink: $proxy_rules (want 0)"

# measure LABEL [onx] HOST PORT: REPS pushes; appends "LABEL<TAB>MB/s..." to $W/tp
: >"$W/tp"
B_OK=1
measure() {
	local label=$1 pre=() i out
	shift
	[ "$1" = onx ] && pre=(nsenter --net="/proc/$OUTER/ns/net") && shift
	local vals=()
	for ((i = 0; i < REPS; i++)); do
		out=$("${pre[@]}" python3 "$W/nt/nt.py" push "$1" "$2" "$MIB" 2>&1) || {
			say "  $label: push failed: $out"
			B_OK=0
			return
		}
		vals+=("$(awk '{printf "%.1f", $1 / $2 / 1e6}' <<<"$out")")
	done
	printf '%s\t%s\n' "$label" "${vals[*]}" >>"$W/tp"
}
measure "direct (container IP)" "$CIP" 9000
measure "NAT (host addr:port)" "$HOST_IP" 19000
measure "proxy (127.0.0.1:port)" 127.0.0.1 19000
measure "proxy (host addr, no NAT)" "$HOST_IP" 19001
measure "outside -> NAT" onx "$HOST_IP" 19000
measure "outside -> proxy" onx "$HOST_IP" 19001
python3 - "$W/tp" <<'EOF'
import statistics, sys
rows = []
for line in open(sys.argv[1]):
    label, vals = line.rstrip("\n").split("\t")
    v = [float(x) for x in vals.split()]
    rows.append((label, statistics.median(v), min(v), max(v)))
if not rows:
    sys.exit(0)
base = rows[0][1]
print("%-28s %10s %19s %10s" % ("path", "MB/s", "min-max", "vs direct"))
for label, med, lo, hi in rows:
    print("%-28s %10.0f %9.0f-%-9.0f %9.2fx" % (label, med, lo, hi, med / base))
EOF
bq rm -f sink sinkp >/dev/null 2>&1

say ""
say "(a) measured: $([ "$A_OK" = 0 ] && echo yes || echo no); (b) measured: $([ "$B_OK" = 1 ] && echo yes || echo no)"
[ "$A_OK" = 0 ] && [ "$B_OK" = 1 ]
