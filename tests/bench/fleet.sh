#!/usr/bin/env bash
# Fleet benchmark (issue 6): the figures the issue asks for, with `berth
# daemon` heartbeating every second to the reference portal (scripts/portal.py,
# through tests/integration/fixtures/portal_test.py) on loopback, through a
# byte-counting TCP relay:
#   - bytes per heartbeat on the wire (request and answer, headers included),
#     with CONTAINERS containers running (the issue: under 4 KiB), and the
#     body alone; the 200 answer carrying the desired state
#   - CPU time per heartbeat: the daemon's reaped children's utime+stime
#     (/proc/PID/stat cutime+cstime) over HEARTBEATS heartbeats, when nothing
#     else runs (the heartbeat is a child), divided by their number; and the
#     daemon's own CPU over the same time
#   - time from a new revision being served (PUT to the portal) to the new
#     container running (image already local; and once with a pull from the
#     local registry), and to the device reporting it applied (settle-time
#     SETTLE s)
#   - rollback time: a revision whose new container crash-loops, from being
#     served to the old container running again and to the heartbeat
#     reporting rolled-back
# Informational, not pass/fail, not part of `make check`.
#
#   bash tests/bench/fleet.sh                    # as root, Debian 12
#   CONTAINERS=10 HEARTBEATS=60 REPEAT=5 SETTLE=2 bash tests/bench/fleet.sh
#   BERTH=path/to/berth bash tests/bench/fleet.sh   # default: `make TAG=bench`
# Exit 0 when the figures were measured. The EXIT trap removes everything
# started, also on failure or ^C.
# shellcheck disable=SC2317 # functions called from the trap
# shellcheck disable=SC2034 # variables read inside eval'd conditions
set -u

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
N=${CONTAINERS:-10}
HB=${HEARTBEATS:-60}
REPEAT=${REPEAT:-5}
SETTLE=${SETTLE:-2}
case "$N$HB$REPEAT$SETTLE" in '' | *[!0-9]*)
	echo "fleet bench: CONTAINERS, HEARTBEATS, REPEAT and SETTLE must be numbers" >&2
	exit 2
	;;
esac
say() { printf '%s\n' "$*"; }
die() {
	printf 'fleet bench: %s\n' "$*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "run as root (containers and apt-get need it)"
need=()
for c in docker-registry:docker-registry skopeo:skopeo umoci:umoci curl:curl python3:python3; do
	command -v "${c%%:*}" >/dev/null 2>&1 || need+=("${c#*:}")
done
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
	say "installing: ${need[*]}"
	apt-get update -q >/dev/null 2>&1
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
		die "apt-get install ${need[*]} failed"
fi

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
"$BERTH" version | grep -q -- '+heartbeat' || die "$BERTH has no heartbeat (CONFIG_HEARTBEAT)"

# shellcheck source=../integration/fixtures/registry.sh
. "$TOP/tests/integration/fixtures/registry.sh"
# shellcheck source=../integration/fixtures/images.sh
. "$TOP/tests/integration/fixtures/images.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-fleet.XXXXXX") || die "mktemp failed"
case "$WORK" in *[!A-Za-z0-9_./-]*) die "the work directory $WORK has characters this script does not quote" ;; esac
ROOT=$WORK/root
LOGS=$WORK/logs
mkdir -p "$LOGS" "$WORK/cfg"
export BERTH_CONFIG=$WORK/cfg
DPID='' PORTAL_PID='' RELAY_PID=''

procs_of_work() {
	local p f
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = $$ ] && continue
		[ "${p#/proc/}" = "$BASHPID" ] && continue
		for f in "$p"/cwd "$p"/fd/*; do
			case "$(readlink "$f" 2>/dev/null)" in "$WORK"/*)
				echo "${p#/proc/}"
				break
				;;
			esac
		done
	done
}
stop_pid() {
	local i
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null
}
cleanup() {
	local ids p
	trap - INT TERM HUP
	stop_pid "$DPID"
	for p in $(procs_of_work); do
		case "$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null)" in berthd-*) kill -KILL "$p" 2>/dev/null ;; esac
	done
	mapfile -t ids < <("$BERTH" --root "$ROOT" ps -aq 2>/dev/null)
	[ ${#ids[@]} -eq 0 ] || "$BERTH" --root "$ROOT" rm -f "${ids[@]}" >/dev/null 2>&1
	stop_pid "$RELAY_PID"
	stop_pid "$PORTAL_PID"
	sleep 0.5
	for p in $(procs_of_work); do
		say "warning: killing leftover process $p ($({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | cut -c1-60))"
		kill -KILL "$p" 2>/dev/null
	done
	awk -v p="$WORK/" '{ if (index($5 "/", p) == 1) print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
	case "$WORK" in */berth-bench-fleet.*) rm -rf "$WORK" ;; esac
	registry_stop_all
}
trap cleanup EXIT

wait_for() { # SECONDS COMMAND...: polls (every 50 ms) until COMMAND succeeds
	local end=$((EPOCHSECONDS + $1))
	shift
	while [ "$EPOCHSECONDS" -le "$end" ]; do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}
now() { printf '%s' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

# --- registry, portal, relay, daemon ----------------------------------------------------------------
registry_start bench http >/dev/null || die "cannot start the registry"
img_single bench bench/busybox:1 || die "cannot push bench/busybox:1"
REF2=$IMG_REF
img_run bench bench/run:1 || die "cannot push bench/run:1"
REF=$IMG_REF
PPORT=$(fix_free_port) RPORT=$(fix_free_port)
setpriv --pdeathsig TERM -- python3 "$TOP/tests/integration/fixtures/portal_test.py" --port "$PPORT" \
	</dev/null >"$LOGS/portal.log" 2>&1 &
PORTAL_PID=$!
# relay: counts the bytes of each connection, one JSON line per connection
setpriv --pdeathsig TERM -- python3 - "$RPORT" "$PPORT" "$WORK/relay.jsonl" </dev/null >"$LOGS/relay.log" 2>&1 <<'EOF' &
import json, socket, sys, threading, time
lport, bport, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
def pump(a, b, n, i):
    while True:
        try:
            d = a.recv(65536)
        except OSError:
            d = b""
        if not d:
            try:
                b.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        n[i] += len(d)
        b.sendall(d)
def serve(c):
    t0 = time.time()
    s = socket.create_connection(("127.0.0.1", bport))
    n = [0, 0]
    th = [threading.Thread(target=pump, args=(c, s, n, 0)), threading.Thread(target=pump, args=(s, c, n, 1))]
    for t in th:
        t.start()
    for t in th:
        t.join()
    c.close()
    s.close()
    with lock, open(out, "a") as f:
        f.write(json.dumps({"t": t0, "up": n[0], "down": n[1]}) + "\n")
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", lport))
l.listen(64)
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
RELAY_PID=$!
PURL=http://127.0.0.1:$PPORT
for _ in $(seq 100); do curl -sf -m 1 -o /dev/null "$PURL/admin/heartbeats" && break; sleep 0.1; done
curl -sf -m 1 -o /dev/null "$PURL/admin/heartbeats" || die "the portal did not start: $(tail -2 "$LOGS/portal.log")"
cat >"$WORK/cfg/daemon.json" <<EOF
{"insecure-registries": ["$REG_BENCH_HOST"],
 "fleet": {"portal": "http://127.0.0.1:$RPORT", "interval": 1, "settle-time": $SETTLE}}
EOF
setpriv --pdeathsig TERM -- "$BERTH" --root "$ROOT" daemon -H "unix://$WORK/berth.sock" \
	</dev/null >"$LOGS/daemon.log" 2>&1 &
DPID=$!
desired() { curl -sf -m 5 -X PUT --data-binary "$1" "$PURL/admin/desired"; }
hbs() { curl -sf -m 5 "$PURL/admin/heartbeats"; }
nhb() { hbs | wc -l; }
last_rev() { hbs | tail -1 | python3 -c 'import json,sys; l=sys.stdin.read(); r=json.loads(l)["body"]["revision"] if l.strip() else None; print("%s %s" % (r["id"], r["state"]) if r else "none")'; }
rev_is() { [ "$(last_rev)" = "$1" ]; }
LOOP='trap "exit 0" TERM; while :; do sleep 1 & wait; done'
# doc REV C0-IMAGE C0-ENV C0-CMD [RESTART]: CONTAINERS containers
# svc0..svc(N-1); svc0 as given, the others the same in every revision
# (names with a non-hex letter: a device finds "c0" by id prefix too)
doc() {
	python3 - "$N" "$REF" "$LOOP" "$@" <<'EOF'
import json, sys
n, ref, loop, rev, image, env, cmd = sys.argv[1:8]
restart = sys.argv[8] if len(sys.argv) > 8 else ""
cs = []
for i in range(int(n)):
    c = {"name": "svc%d" % i, "image": ref, "cmd": ["sh", "-c", loop], "env": ["N=%d" % i]}
    if i == 0:
        c = {"name": "svc0", "image": image, "cmd": ["sh", "-c", cmd], "env": [env]}
        if restart:
            c["restart"] = restart
    cs.append(c)
print(json.dumps({"revision": rev, "containers": cs}))
EOF
}
c0_is() { # REV: svc0 runs with the revision label REV
	[ "$("$BERTH" --root "$ROOT" inspect -f '{{.State.Status}} {{json .Config.Labels}}' svc0 2>/dev/null |
		sed -n 's/^running .*"berth.fleet.revision":"\([^"]*\)".*/\1/p')" = "$1" ]
}
c0_pid() { "$BERTH" --root "$ROOT" inspect -f '{{.State.Pid}}' svc0 2>/dev/null; }
wait_for 10 eval '[ "$(nhb)" -ge 1 ]' || die "no heartbeat: $(tail -3 "$LOGS/daemon.log")"

say "== berth fleet benchmark =="
say "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
say "machine:  $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), kernel $(uname -r), clock ticks $(getconf CLK_TCK)/s"
say "berth:    $BERTH ($(stat -c %s "$BERTH") bytes, $("$BERTH" version | head -1))"
say "setup:    heartbeat every 1 s (+-20%) over plain HTTP on loopback to scripts/portal.py; settle-time ${SETTLE}s; local registry (plain HTTP)"
say ""

# --- deploy N containers ----------------------------------------------------------------------------------
t0=$(now)
desired "$(doc b0 "$REF" REV=b0 "$LOOP")"
wait_for 120 rev_is "b0 applied" || die "revision b0 ($N containers) was not applied: $(last_rev)"
say "deploy:   $N containers (first pull of $REF included): served -> applied in $(since "$t0") s"
sleep 2

# --- bytes per heartbeat -----------------------------------------------------------------------------------
: >"$WORK/relay.jsonl"
n0=$(nhb)
sleep 10
python3 - "$WORK/relay.jsonl" "$PURL/admin/heartbeats" "$n0" "$N" <<'EOF'
import json, sys, urllib.request
rel = [json.loads(l) for l in open(sys.argv[1])]
log = [json.loads(l) for l in urllib.request.urlopen(sys.argv[2]).read().decode().splitlines()]
hb = log[int(sys.argv[3]):]
up = sorted(r["up"] for r in rel)
down = sorted(r["down"] for r in rel)
body = sorted(e["req_bytes"] for e in hb)
status = sorted(set(e["status"] for e in hb))
ncont = len(hb[-1]["body"]["containers"]) if hb else 0
print("bytes per heartbeat (%d heartbeats, %d containers reported, answers %s):" % (len(rel), ncont, status))
print("  request on the wire (headers + body): min %d, max %d bytes; body alone %d-%d bytes" % (
    up[0], up[-1], body[0], body[-1]))
print("  answer on the wire (%s): min %d, max %d bytes" % ("/".join(map(str, status)), down[0], down[-1]))
print("  target: request under 4 KiB with %d containers: %s" % (int(sys.argv[4]), "PASS" if up[-1] < 4096 else "MISS"))
EOF
# the 200 answer with the desired state, measured on the next revision
: >"$WORK/relay.jsonl"
desired "$(doc b1 "$REF" REV=b1 "$LOOP")"
wait_for 60 rev_is "b1 applied" || die "revision b1 was not applied: $(last_rev)"
python3 - "$WORK/relay.jsonl" "$(doc b1 "$REF" REV=b1 "$LOOP" | tr -d ' ' | wc -c)" <<'EOF'
import json, sys
rel = [json.loads(l) for l in open(sys.argv[1])]
big = max(r["down"] for r in rel)
print("  answer with the desired state (200): %d bytes on the wire (the document: %s bytes)" % (big, sys.argv[2]))
EOF
sleep 2

# --- CPU per heartbeat -------------------------------------------------------------------------------------
# cutime/cstime: CPU of reaped children; when idle, only heartbeat children
# end (no API request, no healthcheck, no update)
cpu() { awk '{ print $14 + $15, $16 + $17 }' "/proc/$DPID/stat"; }
tck=$(getconf CLK_TCK)
read -r self0 kids0 < <(cpu)
n0=$(nhb)
t0=$(now)
wait_for $((HB * 2 + 10)) eval '[ "$(nhb)" -ge $((n0 + HB)) ]'
read -r self1 kids1 < <(cpu)
n1=$(nhb)
el=$(since "$t0")
awk -v k=$((kids1 - kids0)) -v s=$((self1 - self0)) -v n=$((n1 - n0)) -v t="$tck" -v el="$el" -v c="$N" 'BEGIN {
	printf "CPU per heartbeat (%d heartbeats in %.1f s, %d containers, ticks of %.0f ms):\n", n, el, c, 1000 / t
	printf "  heartbeat child (utime+stime): %.1f ms per heartbeat (%d ticks in all)\n", k * 1000 / t / n, k
	printf "  daemon itself over the same time: %.1f ms per heartbeat (%d ticks; includes its supervision scans)\n", s * 1000 / t / n, s
}'

# --- served -> new container running -------------------------------------------------------------------------
say "new revision (svc0 changes, the $((N - 1)) others stay), served -> svc0 running / -> applied reported:"
runs=() applied=()
for i in $(seq "$REPEAT"); do
	rev=u$i
	t0=$(now)
	desired "$(doc $rev "$REF" REV=$rev "$LOOP")"
	wait_for 60 c0_is "$rev" || die "$rev: svc0 did not come up"
	runs+=("$(since "$t0")")
	wait_for 60 rev_is "$rev applied" || die "$rev was not applied: $(last_rev)"
	applied+=("$(since "$t0")")
done
t0=$(now)
desired "$(doc upull "$REF2" REV=upull "$LOOP")"
wait_for 120 c0_is upull || die "upull: svc0 did not come up"
pull_run=$(since "$t0")
wait_for 60 rev_is "upull applied" || die "upull was not applied: $(last_rev)"
pull_applied=$(since "$t0")
stats() { printf '%s\n' "$@" | awk '{ s += $1; if (NR == 1 || $1 < lo) lo = $1; if ($1 > hi) hi = $1 } END { printf "mean %.2f s, min %.2f, max %.2f (n=%d)", s / NR, lo, hi, NR }'; }
say "  image already local:  running $(stats "${runs[@]}");  applied $(stats "${applied[@]}")"
say "  with a pull ($REF2): running ${pull_run} s; applied ${pull_applied} s"
say "  (both include the wait for the next heartbeat, half an interval on average: 0.5 s; applied also the ${SETTLE} s settle-time)"

# --- rollback ---------------------------------------------------------------------------------------------------
say "crash-looping revision (svc0 exits 1 after 0.3 s, restart always), served -> old svc0 running again / -> rolled-back reported:"
back=() reported=()
prev=upull
for i in $(seq "$REPEAT"); do
	rev=bad$i
	oldpid=$(c0_pid)
	t0=$(now)
	desired "$(doc $rev "$REF" REV=$rev 'sleep 0.3; exit 1' always)"
	wait_for 60 eval 'c0_is "$prev" && [ "$(c0_pid)" != "$oldpid" ]' || die "$rev: the old svc0 did not come back"
	back+=("$(since "$t0")")
	wait_for 60 rev_is "$rev rolled-back" || die "$rev: no rolled-back report: $(last_rev)"
	reported+=("$(since "$t0")")
done
say "  old container running again: $(stats "${back[@]}")"
say "  rolled-back reported:        $(stats "${reported[@]}")"
exit 0
