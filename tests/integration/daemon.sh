#!/bin/bash
# The daemon (issue 5): `berth daemon` on a UNIX socket in a temp dir, driven
# by the real docker CLI and by `berth` on the same data root: version
# negotiation, info, pull, images, run (--rm, -d, -it through a pty), ps,
# logs (-f), exec, stop, restart, kill, wait, inspect, rm, rmi, volumes,
# events; kill -9 of the daemon while containers run; restart policies;
# healthchecks; malformed requests, oversized heads and bodies, clients that
# go away, 500 idle connections.
#
# Every process this test starts is stopped by the EXIT trap, also on failure:
# containers (berth rm -f), daemons (by pid), the registry, and any process
# still holding a file under the work dir (a leftover monitor or worker is
# also reported as a failure).
# shellcheck disable=SC2034 # variables read by checks that expect evals
. "$(dirname "$0")/lib"
. "$TOP/tests/integration/fixtures/registry.sh"
. "$TOP/tests/integration/fixtures/images.sh"

if [ "$(id -u)" != 0 ]; then
	skip "daemon" "needs root for namespaces and mounts"
	finish
fi
if ! command -v docker >/dev/null; then
	skip "daemon" "no docker CLI (Debian's docker.io or docker-cli has it)"
	finish
fi
if ! "${RUNNER[@]}" "$BERTH" version 2>/dev/null | grep -q -- '+daemon'; then
	skip "daemon" "this build has no daemon (CONFIG_DAEMON off)"
	finish
fi

W=$(mktemp -d /tmp/berth-daemon.XXXXXX)
ROOT=$W/root
SOCK=$W/berth.sock
export BERTH_CONFIG=$W/cfg DOCKER_CONFIG=$W/docker DOCKER_HOST=unix://$SOCK DOCKER_CLI_HINTS=false
mkdir -p "$BERTH_CONFIG" "$DOCKER_CONFIG"
DPID=        # the daemon running now
DPIDS=()     # every daemon started (kill -9 leaves orphans behind)
BG=()        # background helpers (docker events, logs -f)


cleanup() {
	local p ids left
	trap - EXIT
	for p in "${BG[@]}"; do kill -KILL "$p" 2>/dev/null; done
	mapfile -t ids < <("${RUNNER[@]}" "$BERTH" --root "$ROOT" ps -aq 2>/dev/null)
	[ ${#ids[@]} -eq 0 ] || "${RUNNER[@]}" "$BERTH" --root "$ROOT" rm -f "${ids[@]}" >/dev/null 2>&1
	for p in "${DPIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || continue
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	for p in "${DPIDS[@]}" "${BG[@]}"; do wait "$p"; done 2>/dev/null
	sleep 0.5
	left=$(for p in $(procs_in_w); do echo "$p:$(title "$p")"; done)
	if [ -n "$left" ]; then
		notok "cleanup: no process left" "still running after rm -f and daemon stop: $left"
		for p in $(procs_in_w); do kill -KILL "$p" 2>/dev/null; done
		sleep 0.5
	elif [ "${CLEANUP_CHECK:-0}" = 1 ]; then
		ok "cleanup: no monitor, worker or daemon left"
	fi
	awk -v p="$W/" '{ if (index($5 "/", p) == 1) print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	registry_stop_all
	if [ -n "${KEEP_WORK:-}" ]; then echo "# work dir kept: $W"; else rm -rf "$W"; fi
	exit $T_FAILED
}
trap cleanup EXIT

# dk ARGS...: the docker CLI against the daemon, leaving OUT, ERR and RC.
dk() {
	local o e
	o=$(mktemp) e=$(mktemp)
	timeout "${DK_TIMEOUT:-60}" docker "$@" >"$o" 2>"$e" </dev/null
	RC=$?
	OUT=$(cat "$o") ERR=$(cat "$e")
	rm -f "$o" "$e"
}
B=(--root "$ROOT")

ping_ok() { curl -sf -m 5 --unix-socket "$SOCK" http://berth/_ping >/dev/null 2>&1; }
daemon_start() {
	setpriv --pdeathsig TERM -- "${RUNNER[@]}" "$BERTH" --root "$ROOT" daemon -H "unix://$SOCK" \
		-l debug </dev/null >>"$W/daemon.log" 2>&1 &
	DPID=$!
	DPIDS+=("$DPID")
	local i
	for i in $(seq 100); do
		ping_ok && return 0
		kill -0 "$DPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
# workers: the daemon's request children still running (title berthd-worker)
workers() {
	local p n=0
	for p in $(pgrep -P "$DPID"); do
		case "$(title "$p")" in berthd-worker*) n=$((n + 1)) ;; esac
	done
	echo $n
}
# wait_for SECONDS COMMAND...: polls until COMMAND succeeds (its arguments
# are expanded once: poll a function, or eval a single-quoted string)
wait_for() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 5; i++)); do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}
state_of() { # NAME: "status exitcode restarts" via the API
	docker inspect -f '{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}' "$1" 2>/dev/null
}
state_is() { [ "$(state_of "$1")" = "$2" ]; }
status_is() { [ "$(docker inspect -f '{{.State.Status}}' "$1" 2>/dev/null)" = "$2" ]; }
health_is() { [ "$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1" 2>/dev/null)" = "$2" ]; }
workers_le() { [ "$(workers)" -le "$1" ]; }

registry_start dmn http >/dev/null || { notok "registry" "could not start"; finish; }
img_single dmn kit/busybox:1 || { notok "image" "could not build kit/busybox:1"; finish; }
REF_SMALL=$IMG_REF
img_run dmn kit/run:1 || { notok "image" "could not build kit/run:1"; finish; }
REF=$IMG_REF DIGEST=$IMG_DIGEST
echo "{\"insecure-registries\": [\"$REG_DMN_HOST\"]}" >"$BERTH_CONFIG/daemon.json"
# a pid 1 that exits 0 on TERM at once, and one that ignores TERM
LOOP='trap "exit 0" TERM; while :; do sleep 1 & wait; done'
DEAF='trap "" TERM; while :; do sleep 1; done'

# --- start ---------------------------------------------------------------------
if ! daemon_start; then
	notok "daemon starts and answers /_ping" "$(tail -5 "$W/daemon.log")"
	finish
fi
ok "daemon starts and answers /_ping"
expect "daemon: socket mode 0660" "mode $(stat -c %a "$SOCK")" test "$(stat -c %a "$SOCK")" = 660
run "${B[@]}" daemon -H "unix://$W/second.sock"
expect "daemon: a second daemon on the same data root is refused" "exit 1, one error line" \
	test "$RC:$(grep -c 'another daemon' <<<"$ERR")" = "1:1"

# --- version, info ---------------------------------------------------------------
dk version --format '{{.Server.Platform.Name}}|{{.Server.APIVersion}}|{{.Client.APIVersion}}|{{.Server.MinAPIVersion}}'
IFS='|' read -r srv sapi capi smin <<<"$OUT"
expect "docker version: server is Berth" "platform name" test "$RC:$srv" = "0:Berth"
expect "docker version: API version negotiated (client uses the server's)" "server $sapi client $capi" \
	test -n "$sapi" -a "$sapi" = "$capi"
hdr=$(curl -sS -m 5 -I --unix-socket "$SOCK" http://berth/_ping)
apiv=$(sed -n 's/^Api-Version: *\([0-9.]*\).*/\1/ip' <<<"$hdr" | tr -d '\r')
expect "_ping: Api-Version header equals docker version's" "header '$apiv'" test "$apiv" = "$sapi"
code=$(curl -s -m 5 -o "$W/old.json" -w '%{http_code}' --unix-socket "$SOCK" http://berth/v1.12/version)
expect "API: a version below the minimum ($smin) is refused with 400 and a JSON message" "HTTP $code" \
	eval "[ '$code' = 400 ] && python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))[\"message\"]' '$W/old.json'"
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://berth/v1.24/version)
expect "API: a version-prefixed path at the minimum works" "HTTP $code" test "$code" = 200

dk info --format '{{.DockerRootDir}}|{{.Containers}}|{{.Images}}|{{.OSType}}'
expect "docker info: data root, 0 containers, 0 images" "info" test "$RC:$OUT" = "0:$ROOT|0|0|linux"

# --- pull, images ------------------------------------------------------------------
dk pull "$REF"
expect "docker pull: exit 0 with progress lines and the digest" "pull output" \
	test "$RC" = 0 -a -n "$(grep -E ': Pull complete$' <<<"$OUT")" \
	-a -n "$(grep -Fx "Digest: $DIGEST" <<<"$OUT")" -a -n "$(grep -F 'Status: Downloaded newer image' <<<"$OUT")"
dk pull "$REF"
expect "docker pull again: up to date" "output" test "$RC" = 0 -a -n "$(grep -F 'Image is up to date' <<<"$OUT")"
dk pull "$REG_DMN_HOST/kit/nosuch:1"
expect "docker pull of a missing image: exit 1 with the registry's reason" "output" \
	test "$RC" = 1 -a -n "$ERR"
dk images --format '{{.Repository}}:{{.Tag}}'
expect "docker images lists the pulled image" "list" test "$RC:$OUT" = "0:$REF"
run "${B[@]}" images
expect "berth images lists the image pulled through the daemon" "list" \
	test "$RC:$(awk 'NR > 1 { print $1 ":" $2 }' <<<"$OUT")" = "0:$REF"

# --- run --rm ------------------------------------------------------------------------
dk run --rm "$REF" sh -c 'echo out; echo err >&2; exit 3'
expect "docker run --rm: output, stderr and exit code 3" "run" test "$RC|$OUT|$ERR" = "3|out|err"
dk run --rm "$REF" sh -c 'echo $$; cat /proc/1/cmdline | tr "\0" " "'
expect "docker run --rm: the command is pid 1" "pid" test "$RC:$(head -1 <<<"$OUT")" = "0:1"
dk run --rm "$REF" nosuchcmd
expect "docker run --rm: command not found is 127" "exit code" test "$RC" = 127
dk run --rm -e FOO=bar -w /tmp "$REF" sh -c 'echo $FOO $(pwd)'
expect "docker run --rm -e -w" "env and workdir" test "$RC:$OUT" = "0:bar /tmp"
dk ps -aq
expect "docker run --rm leaves no container" "ps -a" test "$RC:$OUT" = "0:"
dk volume ls -q
expect "docker run --rm leaves no anonymous volume (the image declares /data)" "volumes" \
	test "$RC:$OUT" = "0:"

# --- run -d, ps, logs, exec, inspect ---------------------------------------------------------
dk run -d --name web "$REF" sh -c "echo started; $LOOP"
web=$OUT
expect "docker run -d --name: prints the 64-hex id" "id" eval '[ "$RC" = 0 ] && [[ "$web" =~ ^[0-9a-f]{64}$ ]]'
dk ps --format '{{.ID}} {{.Names}} {{.Image}}'
expect "docker ps: the container with its name and image" "ps" test "$RC:$OUT" = "0:${web:0:12} web $REF"
dk inspect -f '{{.State.Status}} {{.Name}} {{.Id}} {{.Config.Image}} {{.State.Running}}' web
expect "docker inspect -f State.Status" "inspect" test "$RC:$OUT" = "0:running /web $web $REF true"
wpid=$(docker inspect -f '{{.State.Pid}}' web)
expect "docker inspect: State.Pid is a live process" "pid $wpid" kill -0 "${wpid:-0}"
run "${B[@]}" ps --format '{{.Names}}'
expect "berth ps (no daemon involved) sees the container docker started" "berth ps" test "$RC:$OUT" = "0:web"
dk logs web
expect "docker logs" "logs" test "$RC:$OUT" = "0:started"
dk exec web sh -c 'echo $((6*7)); exit 5'
expect "docker exec: output and exit code 5" "exec" test "$RC:$OUT" = "5:42"
dk exec -e X=1 -w /tmp web sh -c 'echo $X $(pwd) $HOSTNAME'
expect "docker exec -e -w: env, workdir, the container's hostname" "exec" test "$RC:$OUT" = "0:1 /tmp ${web:0:12}"
dk exec web nosuchcmd
expect "docker exec of a missing command: 126 or 127" "exit" eval '[ "$RC" = 127 ] || [ "$RC" = 126 ]'
dk top web
expect "docker top lists the container's processes" "top" test "$RC" = 0 -a -n "$(grep -F 'sh -c' <<<"$OUT")"
dk stats --no-stream --format '{{.Name}} {{.ID}}' web
expect "docker stats --no-stream: the container's name" "stats" test "$RC:$OUT" = "0:web ${web:0:12}"

# --- restart, stop, kill, wait ------------------------------------------------------------------
t0=$(docker inspect -f '{{.State.StartedAt}}' web)
dk restart -t 5 web
dk inspect -f '{{.State.Status}} {{.State.StartedAt}} {{.State.Pid}}' web
read -r st t1 p1 <<<"$OUT"
expect "docker restart: running again, new start time and pid" "before $t0 $wpid, after $OUT" \
	test "$st" = running -a "$t1" != "$t0" -a "$p1" != "$wpid"
dk run -d --name deaf "$REF" sh -c "$DEAF"
s=$EPOCHREALTIME
dk stop -t 1 deaf
took=$(awk -v a="$s" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
dk inspect -f '{{.State.Status}} {{.State.ExitCode}}' deaf
expect "docker stop -t 1 of a TERM-ignoring pid 1: exited 137 after ~1 s" "took ${took}s, $OUT" \
	eval '[ "$OUT" = "exited 137" ] && awk -v t="$took" "BEGIN { exit !(t >= 0.9 && t < 8) }"'
dk stop -t 5 web
dk inspect -f '{{.State.Status}} {{.State.ExitCode}}' web
expect "docker stop delivers TERM (the trap exits 0)" "state" test "$OUT" = "exited 0"
dk start web
dk kill web
krc=$RC kerr=$ERR
sleep 0.5
dk inspect -f '{{.State.Status}} {{.State.ExitCode}}' web
expect "docker kill (no --signal: KILL)" "kill rc $krc '$kerr', state $OUT" test "$krc:$OUT" = "0:exited 137"
dk start web
dk kill -s TERM web
krc=$RC
wait_for 5 status_is web exited
dk inspect -f '{{.State.Status}} {{.State.ExitCode}}' web
expect "docker kill -s TERM (the trap exits 0)" "kill rc $krc, $OUT" test "$krc:$OUT" = "0:exited 0"
dk rm -f web
DK_TIMEOUT=10 dk wait deaf
expect "docker wait on an exited container returns its code at once" "wait" test "$RC:$OUT" = "0:137"
dk run -d --name waited "$REF" sh -c 'sleep 1; exit 9'
dk wait waited
expect "docker wait on a running container returns its exit code" "wait" test "$RC:$OUT" = "0:9"

# --- logs -f ends when the container exits; a client that goes away mid-stream ------------------------
dk run -d --name lf "$REF" sh -c 'echo a; sleep 2; echo b; exit 4'
s=$EPOCHREALTIME
DK_TIMEOUT=30 dk logs -f lf
took=$(awk -v a="$s" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
expect "docker logs -f follows and ends when the container exits" "rc $RC after ${took}s" \
	test "$RC:$OUT" = "0:a"$'\n'"b"
dk run -d --name chatty "$REF" sh -c 'while :; do echo tick; sleep 0.2; done'
sleep 1
n0=$(workers)
docker logs -f chatty >/dev/null 2>&1 &
lp=$!
BG+=("$lp")
sleep 1
{
	kill -KILL "$lp"
	wait "$lp"
} 2>/dev/null
wait_for 5 workers_le "$n0"
expect "a logs -f client killed mid-stream: its worker goes" "workers $(workers), before $n0" \
	test "$(workers)" -le "$n0"
dk rm -f chatty lf waited deaf

# docker run -d waits for the exit (POST /wait?condition=next-exit) and
# hangs up once it printed the id: that request's worker must go with it.
dk run -d --name idle "$REF" sh -c "$LOOP"
wait_for 5 workers_le 0
expect "no request worker outlives its client (docker run -d hangs up its wait)" \
	"$(workers) berthd-worker process(es) still running: $(for p in $(pgrep -P "$DPID"); do title "$p"; echo; done | grep -c berthd-worker)" \
	test "$(workers)" = 0
dk rm -f idle

# --- run -it through a pty ---------------------------------------------------------------------
# script(1) gives docker a terminal; the keys are typed once the container runs.
(
	for _ in $(seq 100); do
		[ -n "$(docker ps -q --filter name=^tty$ 2>/dev/null)" ] && break
		sleep 0.2
	done
	sleep 1
	printf 'echo abc$((6*7)); [ -t 0 ] && echo TTY-YES\n'
	sleep 1
	printf 'exit 7\n'
	sleep 20
) | timeout 60 script -qec "docker run -it --rm --name tty $REF sh" /dev/null >"$W/tty.out" 2>&1
RC=$?
OUT=$(tr -d '\r' <"$W/tty.out")
expect "docker run -it through a pty: interactive shell, exit code 7" "rc $RC" \
	test "$RC" = 7 -a -n "$(grep -x 'abc42' <<<"$OUT")" -a -n "$(grep -x 'TTY-YES' <<<"$OUT")"
# the docker CLI's detach keys: it stops relaying and closes; berthd keeps the
# container (and its stdin) running
(
	for _ in $(seq 100); do
		[ -n "$(docker ps -q --filter name=^dtk$ 2>/dev/null)" ] && break
		sleep 0.2
	done
	sleep 1
	printf '\020\021'
	sleep 3
) | timeout 30 script -qec "docker run -it --name dtk $REF sh" /dev/null >"$W/dtk.out" 2>&1
RC=$?
expect "docker run -it: ctrl-p ctrl-q detaches (exit 0), the shell runs on" \
	"rc $RC state $(docker inspect -f '{{.State.Status}}' dtk 2>&1)" \
	test "$RC:$(docker inspect -f '{{.State.Status}}' dtk 2>/dev/null)" = "0:running"
dk rm -f dtk
DK_TIMEOUT=30 dk run -t --rm "$REF" sh -c '[ -t 1 ] && echo tty; exit 2'
expect "docker run -t without a terminal on our side: tty inside, exit 2" "rc/out" \
	test "$RC:$(tr -d '\r' <<<"$OUT")" = "2:tty"

# --- events ------------------------------------------------------------------------------------
docker events --filter container=ev --format '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}' \
	>"$W/events.out" 2>&1 &
BG+=($!)
evp=$!
sleep 1
dk run --rm --name ev "$REF" sh -c 'exit 2'
wait_for 10 grep -q destroy "$W/events.out"
kill "$evp" 2>/dev/null
got=$(grep -E ' (create|start|die|destroy) ' "$W/events.out" | awk '{ print $2 }' | tr '\n' ' ')
expect "docker events streams create, start, die, destroy for a run --rm" "got '$got'" \
	test "$got" = "create start die destroy " -a -z "$(grep -v '^container .* ev$' "$W/events.out")"
dk events --since 0 --until "$(date +%s)" --filter event=pull --format '{{.Action}} {{.Actor.ID}}'
expect "docker events --since/--until: the pull is in the history" "events" \
	test "$RC" = 0 -a -n "$(grep -Fx "pull $REF" <<<"$OUT")"

# --- volumes -----------------------------------------------------------------------------------
dk volume create vol1
expect "docker volume create" "create" test "$RC:$OUT" = "0:vol1"
dk run --rm -v vol1:/v "$REF" sh -c 'echo kept >/v/f'
dk run --rm -v vol1:/v "$REF" cat /v/f
expect "a named volume keeps data across containers" "content" test "$RC:$OUT" = "0:kept"
dk volume ls --format '{{.Driver}} {{.Name}}'
expect "docker volume ls" "list" test "$RC:$(grep -c 'vol1' <<<"$OUT"):$(grep -cx 'local vol1' <<<"$OUT")" = "0:1:1"
dk volume inspect -f '{{.Name}} {{.Driver}}' vol1
expect "docker volume inspect" "inspect" test "$RC:$OUT" = "0:vol1 local"
dk run -d --name dfc -v vol1:/v "$REF" sh -c "head -c 50000 /dev/zero >/big; $LOOP"
dk system df --format '{{.Type}} {{.TotalCount}} {{.Size}}'
expect "docker system df: images, containers and volumes counted, sizes from the disk" "df: $OUT" \
	eval '[ "$RC" = 0 ] && grep -qE "^Images [1-9][0-9]* [0-9.]+[kM]B$" <<<"$OUT" &&
		grep -qE "^Containers [1-9][0-9]* [0-9.]+kB$" <<<"$OUT" && grep -qE "^Local Volumes [1-9][0-9]* [0-9.]+k?B$" <<<"$OUT"'
dk rm -f dfc
dk search "$REG_DMN_HOST/kit"
expect "docker search REGISTRY/TERM lists the registry's matching repositories" "search: $OUT" \
	eval '[ "$RC" = 0 ] && grep -q "^$REG_DMN_HOST/kit/busybox " <<<"$OUT" && grep -q "^$REG_DMN_HOST/kit/run " <<<"$OUT"'
dk search busybox
expect "docker search without a registry: a clear error" "search: rc=$RC $ERR" \
	eval '[ "$RC" = 1 ] && grep -q "not a registry host" <<<"$ERR"'
dk volume rm vol1
expect "docker volume rm" "rm" test "$RC:$OUT" = "0:vol1"
dk volume ls -q
expect "docker volume ls after rm" "list after rm" test "$RC:$(grep -c vol1 <<<"$OUT")" = "0:0"
dk volume prune -af
dk volume ls -q
expect "docker volume prune -a removes unused volumes" "list after prune" test "$RC:$OUT" = "0:"

# --- rm, rmi -----------------------------------------------------------------------------------
dk run -d --name gone "$REF" sh -c "$LOOP"
gone=$OUT
mon=$(pgrep -f "^berth-monitor ${gone:0:12}")
dk rm -f gone
expect "docker rm -f of a running container: gone, monitor gone" "rc $RC, monitor $mon" \
	eval '[ "$RC" = 0 ] && ! docker inspect gone >/dev/null 2>&1 && ! kill -0 ${mon:-0} 2>/dev/null && [ ! -d "$ROOT/containers/$gone" ]'
dk rm nosuch
expect "docker rm of an unknown container: exit 1, 'No such container'" "rm" \
	test "$RC" = 1 -a -n "$(grep -F 'No such container' <<<"$ERR")"
dk pull "$REF_SMALL"
dk run -d --name user "$REF_SMALL" sh -c "$LOOP"
dk rmi "$REF_SMALL"
expect "docker rmi of an image a container uses: refused (409 conflict)" "rmi" \
	test "$RC" = 1 -a -n "$ERR"
dk rm -f user
dk rmi "$REF_SMALL"
expect "docker rmi: untagged and deleted" "rmi" \
	test "$RC" = 0 -a -n "$(grep -F "Untagged: $REF_SMALL" <<<"$OUT")" -a -n "$(grep '^Deleted: sha256:' <<<"$OUT")"
dk images --format '{{.Repository}}:{{.Tag}}'
expect "docker images no longer lists it" "images" test "$RC:$OUT" = "0:$REF"
dk images -q --filter "reference=$REG_DMN_HOST/kit/nosuch"
expect "docker images --filter reference=PATTERN" "images" test "$RC:$OUT" = "0:"

# --- the same through berth, mixed with docker ---------------------------------------------------
run "${B[@]}" run --rm "$REF" sh -c 'echo via berth; exit 3'
expect "berth run --rm (daemon running): output and exit code 3" "run" test "$RC:$OUT" = "3:via berth"
run "${B[@]}" run -d --name bc "$REF" sh -c "echo hi; $LOOP"
dk ps --format '{{.Names}}'
expect "docker ps sees a container started by berth" "ps" test "$RC:$OUT" = "0:bc"
dk exec bc sh -c 'echo $((2+3))'
expect "docker exec into a container berth started" "exec" test "$RC:$OUT" = "0:5"
dk logs bc
expect "docker logs of a container berth started" "logs" test "$RC:$OUT" = "0:hi"
run "${B[@]}" exec bc sh -c 'exit 6'
expect "berth exec: exit code 6" "exec" test "$RC" = 6
dk run -d --name dc "$REF" sh -c "$DEAF"
run "${B[@]}" stop -t 1 dc
run "${B[@]}" inspect -f '{{.State.Status}} {{.State.ExitCode}}' dc
expect "berth stop -t 1 of a docker-started TERM-ignoring container: exited 137" "state" \
	test "$OUT" = "exited 137"
dk inspect -f '{{.State.Status}} {{.State.ExitCode}}' dc
expect "docker inspect agrees" "state" test "$OUT" = "exited 137"
run "${B[@]}" restart -t 1 dc
dk inspect -f '{{.State.Status}}' dc
expect "berth restart: docker sees it running" "state" test "$OUT" = running
run "${B[@]}" logs bc
expect "berth logs" "logs" test "$RC:$OUT" = "0:hi"
run "${B[@]}" volume create bvol
dk volume ls -q
expect "docker volume ls sees berth's volume" "list" test "$(grep -cx bvol <<<"$OUT")" = 1
dk volume rm bvol
run "${B[@]}" rm -f bc dc
dk ps -aq
expect "berth rm -f: docker sees nothing left" "ps" test "$RC:$OUT" = "0:"

# --- restart policy ----------------------------------------------------------------------------
dk run -d --name onf --restart on-failure:3 "$REF" sh -c 'exit 1'
wait_for 30 state_is onf "exited 1 3"
sleep 3 # no fourth restart may come
dk inspect -f '{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}' onf
expect "restart policy on-failure:3: restarted exactly 3 times, then exited 1" "got '$OUT'" \
	test "$OUT" = "exited 1 3 on-failure:3"
dk events --since 0 --until "$(date +%s)" --filter container=onf --format '{{.Action}}'
expect "events: 4 starts and 4 dies for it" "events" \
	test "$(grep -cx start <<<"$OUT"):$(grep -cx die <<<"$OUT")" = "4:4"
dk run -d --name always --restart always "$REF" sh -c 'sleep 1; exit 0'
wait_for 20 eval '[ "$(docker inspect -f "{{.RestartCount}}" always)" -ge 2 ]'
expect "restart policy always: restarted after exit 0" "restarts $(docker inspect -f '{{.RestartCount}}' always)" \
	test "$(docker inspect -f '{{.RestartCount}}' always)" -ge 2
dk stop -t 1 always
sleep 3
dk inspect -f '{{.State.Status}}' always
expect "restart policy always: a stopped container stays stopped" "state" test "$OUT" = exited
dk rm -f onf always

# --- healthchecks ------------------------------------------------------------------------------
dk run -d --name hgood --health-cmd 'test -e /tmp/ready' --health-interval 1s --health-retries 20 \
	"$REF" sh -c "sleep 3; touch /tmp/ready; $LOOP"
dk inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' hgood
expect "healthcheck: State.Health is 'starting' as soon as run -d returns" "got '$OUT'" test "$OUT" = starting
dk run -d --name hbad --health-cmd 'exit 1' --health-interval 1s --health-retries 2 "$REF" sh -c "$LOOP"
seen=
for _ in $(seq 60); do
	h=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' hgood 2>/dev/null)
	[ -n "$h" ] && [ "${seen##* }" != "$h" ] && seen="$seen $h"
	[ "$h" = healthy ] && break
	sleep 0.5
done
expect "healthcheck that fails then succeeds: starting -> healthy" "seen:$seen" test "$seen" = " starting healthy"
wait_for 20 health_is hbad unhealthy
dk inspect -f '{{.State.Health.Status}} {{.State.Health.FailingStreak}} {{len .State.Health.Log}}' hbad
read -r hs fs nl <<<"$OUT"
expect "healthcheck that always fails: unhealthy, failing streak >= retries, a log" "got '$OUT'" \
	eval '[ "$hs" = unhealthy ] && [ "$fs" -ge 2 ] && [ "$nl" -ge 2 ]'
dk ps --format '{{.Names}} {{.Status}}'
expect "docker ps shows (healthy) and (unhealthy)" "ps" \
	test -n "$(grep -E '^hgood Up .*\(healthy\)$' <<<"$OUT")" -a -n "$(grep -E '^hbad Up .*\(unhealthy\)$' <<<"$OUT")"
dk rm -f hgood hbad

# --- kill -9 of the daemon while containers run -------------------------------------------------
dk run -d --name k1 "$REF" sh -c "$LOOP"
k1=$OUT
dk run -d --name k2 "$REF" sh -c "$DEAF"
dk run -d --name k3 "$REF" sh -c 'sleep 3; exit 5'
dk run -d --name k4 --restart on-failure:2 "$REF" sh -c 'sleep 3; exit 1'
p1=$(docker inspect -f '{{.State.Pid}}' k1) p2=$(docker inspect -f '{{.State.Pid}}' k2)
m1=$(pgrep -f "^berth-monitor ${k1:0:12}")
{
	kill -KILL "$DPID"
	wait "$DPID"
} 2>/dev/null
sleep 4 # k3 and k4 exit while no daemon runs
expect "kill -9 of the daemon: containers and their monitors keep running" "pids $p1 $p2, monitor $m1" \
	eval 'kill -0 $p1 && kill -0 $p2 && kill -0 ${m1:-0}'
run "${B[@]}" ps --format '{{.Names}}'
expect "with no daemon, berth ps still lists the running ones" "ps" \
	test "$(sort <<<"$OUT" | tr '\n' ' ')" = "k1 k2 "
if daemon_start; then
	ok "daemon restarts on the same socket after kill -9"
else
	notok "daemon restarts on the same socket after kill -9" "$(tail -3 "$W/daemon.log")"
fi
dk ps --format '{{.Names}} {{.Status}}'
# k4 (on-failure, exited 1 while the daemon was down) may already be back
expect "restarted daemon: docker ps lists the running containers as Up" "ps: $OUT" \
	test "$(grep -v '^k4 ' <<<"$OUT" | sort | sed 's/ Up .*/ Up/' | tr '\n' ' ')" = "k1 Up k2 Up "
dk inspect -f '{{.State.Status}} {{.State.ExitCode}}' k3
expect "restarted daemon: the exit code of a container that exited meanwhile (5)" "state" test "$OUT" = "exited 5"
wait_for 15 eval '[ "$(docker inspect -f "{{.RestartCount}}" k4)" -ge 1 ]'
dk inspect -f '{{.RestartCount}}' k4
expect "restarted daemon: on-failure applies to an exit that happened while it was down" \
	"RestartCount $OUT" test "${OUT:-0}" -ge 1
dk stop -t 1 k2
dk inspect -f '{{.State.Status}} {{.State.ExitCode}}' k2
expect "restarted daemon stops an adopted container (137)" "state" test "$OUT" = "exited 137"
dk stop k1
dk inspect -f '{{.State.Status}} {{.State.ExitCode}}' k1
expect "restarted daemon stops an adopted container with TERM (0)" "state" \
	test "$OUT" = "exited 0" -a -n "$(kill -0 "$p1" 2>&1)"
dk rm -f k1 k2 k3 k4

# --- bad input -------------------------------------------------------------------------------
python3 - "$SOCK" "$DPID" >"$W/bad.out" 2>&1 <<'EOF'
import json, os, signal, socket, sys, time
S, PID = sys.argv[1], sys.argv[2]
def rss():
    for l in open("/proc/%s/status" % PID):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])
def conn(timeout=10):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(S)
    return s
def exchange(data, timeout=10):
    """sends data, reads until the peer closes or a whole answer is in"""
    s = conn(timeout)
    try:
        s.sendall(data)
    except OSError:
        pass
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
            head, sep, body = out.partition(b"\r\n\r\n")
            if sep:
                cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if cl and len(body) >= int(cl[0].split(b":")[1]):
                    break
    except OSError:
        pass
    s.close()
    return out
def status(resp):
    try:
        return int(resp.split(b" ", 2)[1])
    except Exception:
        return 0
def json_msg(resp):
    try:
        return json.loads(resp.partition(b"\r\n\r\n")[2])["message"]
    except Exception:
        return None
def ping():
    t = time.time()
    r = exchange(b"GET /_ping HTTP/1.1\r\nHost: berth\r\n\r\n")
    return status(r), round(time.time() - t, 3)
def report(name, good, why=""):
    print(("ok - " if good else "not ok - ") + name + ("" if good else ": " + why), flush=True)

r = exchange(b"GARBAGE\r\n\r\n")
report("bad input: a garbage request line gets 400 and a JSON message", status(r) == 400 and json_msg(r), repr(r[:120]))
p = ping()
report("bad input: the daemon still answers /_ping after it", p[0] == 200, str(p))
r = exchange(b"GET /_ping HTTP/1.1\r\nHost: berth\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n")
report("bad input: a 17 KB header gets 431", status(r) == 431, repr(r[:120]))
r = exchange(b"GET /_ping HTTP/1.1\r\n" + b"X-H: v\r\n" * 3000 + b"\r\n")
report("bad input: 3000 header lines get 431", status(r) == 431, repr(r[:120]))
r = exchange(b"POST /v1.45/containers/create HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\n"
             b"Content-Length: 2000000\r\n\r\n" + b"{" * 1000)
report("bad input: a 2 MB body (Content-Length) gets 413", status(r) == 413, repr(r[:120]))
r = exchange(b"POST /v1.45/containers/create HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n" + (b"100000\r\n" + b"a" * 0x100000 + b"\r\n") * 2 + b"0\r\n\r\n")
report("bad input: a 2 MB chunked body gets 413", status(r) == 413, repr(r[:120]))
r = exchange(b"POST /v1.45/containers/create HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\n"
             b"Content-Length: 9\r\n\r\n{\"Image\":")
report("bad input: malformed JSON body gets 400 with a message", status(r) == 400 and json_msg(r), repr(r[:160]))
r = exchange(b"GET /v1.45/nosuch/endpoint HTTP/1.1\r\nHost: berth\r\n\r\n")
report("unknown endpoint: 404 with Docker's JSON error", status(r) == 404 and json_msg(r), repr(r[:160]))
r = exchange(b"GET /v1.45/swarm HTTP/1.1\r\nHost: berth\r\n\r\n")
report("unsupported endpoint (swarm): an error status with a JSON message, no hang",
       400 <= status(r) < 600 and json_msg(r), repr(r[:160]))
r = exchange(b"BREW /_ping HTTP/1.1\r\nHost: berth\r\n\r\n")
report("unknown method: an error status, no hang", 400 <= status(r) < 600, repr(r[:160]))
# clients that go away mid-request: in the head, in the body
for part in (b"GET /_pi", b"POST /v1.45/containers/create HTTP/1.1\r\nContent-Le",
             b"POST /v1.45/containers/create HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"Im"):
    s = conn(); s.sendall(part); s.close()
time.sleep(0.3)
p = ping()
report("clients that disconnect mid-request: the daemon still answers /_ping", p[0] == 200 and os.path.exists("/proc/" + PID), str(p))
# a slow client: one byte at a time, then a complete request
s = conn()
for c in b"GET /_ping HTTP/1.1\r\nHost: berth\r\n\r\n":
    s.send(bytes([c]))
    time.sleep(0.005)
r = s.recv(4096)
s.close()
report("a request sent byte by byte is answered", status(r) == 200, repr(r[:80]))
# 500 idle connections at once
before = rss()
idle = []
signal.alarm(60)  # blocking connects wait for the backlog; never forever
try:
    for i in range(500):
        s = socket.socket(socket.AF_UNIX)
        s.connect(S)
        s.settimeout(10)
        idle.append(s)
except OSError as e:
    print("# connect %d: %s" % (len(idle), e))
signal.alarm(0)
time.sleep(0.5)
during = rss()
p = ping()
report("500 idle connections: /_ping still answered (200) within 1 s", p[0] == 200 and p[1] < 1.0,
       "%d connected, /_ping got %s" % (len(idle), p))
for s in idle[:200]:
    try:
        s.send(b"GET /_ping HTTP/1.1\r\nHost: be")
    except OSError:
        pass
time.sleep(0.5)
during = max(during, rss())
p = ping()
report("500 idle connections, 200 with half a request: /_ping still answered (200) within 1 s",
       p[0] == 200 and p[1] < 1.0, str(p))
for s in idle:
    s.close()
time.sleep(1)
after = rss()
report("500 idle connections: daemon RSS bounded (+4 MiB at most while open, +1 MiB after)",
       during - before <= 4096 and after - before <= 1024,
       "VmRSS before %d kB, while open %d kB, after %d kB" % (before, during, after))
print("# VmRSS before %d kB, with 500 connections %d kB, after %d kB" % (before, during, after))
EOF
cat "$W/bad.out"
grep -q '^not ok' "$W/bad.out" && T_FAILED=1
expect "bad input: the daemon is still alive and answers docker version" "daemon gone" \
	eval 'kill -0 $DPID && docker version >/dev/null 2>&1'

# --- stop -------------------------------------------------------------------------------------
dk run -d --name survivor "$REF" sh -c "$LOOP"
sp=$(docker inspect -f '{{.State.Pid}}' survivor)
kill -TERM "$DPID"
for _ in $(seq 50); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
wait "$DPID"
RC=$?
expect "daemon: SIGTERM stops it with exit 0, socket removed, containers keep running" "rc $RC" \
	eval '[ "$RC" = 0 ] && [ ! -e "$SOCK" ] && kill -0 $sp'
run "${B[@]}" rm -f survivor
expect "berth rm -f with no daemon running" "rm" test "$RC" = 0
CLEANUP_CHECK=1
finish
