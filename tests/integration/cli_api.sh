#!/bin/bash
# The CLI through the daemon (issue 5): `berth -H unix://SOCK CMD` against a
# daemon on a temp socket and data root gives the same output and exit code
# as `berth --root ROOT CMD` on the same store for ps, images, inspect, logs,
# start, stop, restart, kill, rm, rmi, tag, pull, rename, pause, unpause,
# wait and volume; what it does is visible to the daemon at once and goes
# through it (the daemon's request log; a non-root CLI that cannot read the
# data root); -H to a dead socket, BERTH_HOST against --root, the minimal
# build without a daemon client.
#
# Every process this test starts is stopped by the EXIT trap, also on failure:
# containers (berth rm -f), the daemon (by pid), the registry, and any process
# still holding a file under the work dir.
. "$(dirname "$0")/lib"
. "$TOP/tests/integration/fixtures/registry.sh"
. "$TOP/tests/integration/fixtures/images.sh"

. "$TOP/tests/integration/fixtures/cliapi.sh"
cliapi_init cli_api

registry_start capi http >/dev/null || { notok "registry" "could not start"; finish; }
img_run capi kit/run:1 || { notok "image" "could not build kit/run:1"; finish; }
REF=$IMG_REF DIGEST=$IMG_DIGEST
cliapi_daemon "$REG_CAPI_HOST"

# --- pull, tag, images -----------------------------------------------------------
run "${A[@]}" pull "$REF"
expect "pull through the API: progress lines, digest, status, the reference last" "pull" \
	test "$RC" = 0 -a -n "$(grep -F ': Pull complete' <<<"$OUT")" \
	-a -n "$(grep -Fx "Digest: $DIGEST" <<<"$OUT")" -a "$(tail -1 <<<"$OUT")" = "$REF" \
	-a -n "$(grep -F 'Status: Downloaded newer image' <<<"$OUT")"
expect "pull through the API: the daemon did it" "log" test "$(logged 'POST /v1.45/images/create')" = 1
both pull "$REF"
same "pull again: the API and direct outputs are the same (up to date)"
both pull -q "$REF"
same "pull -q: same output"
both pull "$REG_CAPI_HOST/kit/nosuch:1"
expect "pull of a missing image through the API: exit 1, one error line" "pull" \
	test "$ARC" = 1 -a "$(wc -l <<<"$AERR")" = 1 -a -n "$(grep '^berth: error: ' <<<"$AERR")"
run "${A[@]}" tag "$REF" capi/other:2
expect "tag through the API" "tag" test "$RC:$OUT:$ERR" = "0::"
both images
same "images: same table"
expect "images: the new tag is listed" "images" test -n "$(grep -E '^capi/other +2 ' <<<"$OUT")"
both images --digests --no-trunc
same "images --digests --no-trunc: same table"
both images -q capi/other
same "images -q REPOSITORY: same ids"
both tag nosuch:1 capi/x:1
same "tag of a missing image: same error and exit code"
both inspect "$REF"
same "inspect an image: same JSON"
both image inspect -f '{{.Id}} {{.Os}}' capi/other:2
same "image inspect -f: same output"

# --- containers started directly, seen through the API ---------------------------------
LOOP='trap "exit 0" TERM; while :; do sleep 1 & wait; done'
run "${D[@]}" run -d --name c1 "$REF" sh -c "echo started; $LOOP"
run "${D[@]}" run --name c2 "$REF" sh -c 'echo out; echo err >&2; exit 3'
run "${D[@]}" create --name c3 "$REF" true
# c4 runs until /go exists (made just before logs -f), so the ps tables
# below see the same states whichever path runs first
run "${D[@]}" run -d --name c4 "$REF" sh -c 'echo a; until [ -e /go ]; do sleep 1; done; echo b >&2; echo c'
expect "setup: four containers" "ps" test "$("$BERTH" "${D[@]}" ps -aq | wc -l)" = 4
both ps
same "ps: same table"
both ps -a
same "ps -a: same table"
both ps -aq --no-trunc
same "ps -aq --no-trunc: same ids"
both ps -a --filter status=exited --format '{{.Names}} {{.State}} {{.Status}}'
same "ps --filter status=exited --format: same rows"
both ps --filter name=c3 --filter exited=3
same "ps with two filters: same (empty) table"
both ps -n 2 --format '{{.ID}} {{.Image}} {{.Command}} {{.Ports}}'
same "ps -n 2 --format: same rows"
both inspect c1
same "inspect a running container: same JSON"
both inspect -f '{{.State.Status}} {{.State.ExitCode}} {{.Name}}' c2 "$REF"
same "inspect -f of a container and an image: same output"
both inspect nosuch
same "inspect of nothing: same error and exit code"
expect "inspect of nothing: exit 1 with one line" "inspect" test "$ARC:$(wc -l <<<"$AERR")" = "1:1"
both container inspect -f '{{.State.Status}}' c2 nosuch
same "container inspect: same output and error"

# --- logs ------------------------------------------------------------------------
both logs c2
same "logs: stdout and stderr kept apart, the same"
expect "logs through the API: demultiplexed" "logs" test "$AOUT|$AERR" = "out|err"
both logs -t --tail 1 c2
same "logs -t --tail 1: same line"
both logs --since 2099-01-01T00:00:00Z c2
same "logs --since in the future: nothing, the same"
run "${D[@]}" exec c4 touch /go
run "${A[@]}" logs -f c4
expect "logs -f through the API: follows until the container exits" "logs -f" \
	test "$RC|$OUT|$ERR" = "0|a
c|b"
both logs nosuch
same "logs of nothing: same error and exit code"
run "${D[@]}" run -d -t --name tty "$REF" sh -c 'echo tty-out; echo tty-err >&2'
run "${D[@]}" wait tty
both logs tty
same "logs of a tty container: raw stream, the same"

# --- operations through the API, seen by the daemon at once -----------------------
run "${A[@]}" stop -t 5 c1
expect "stop through the API prints the name" "stop" test "$RC:$OUT" = "0:c1"
expect "stop through the API: the daemon shows exited at once" "state $(api_state c1)" \
	test "$(api_state c1)" = exited
expect "stop went through the daemon (its request log)" "log" test "$(logged 'POST /v1.45/containers/c1/stop?t=5')" = 1
run "${A[@]}" start c1
expect "start through the API" "start $(api_state c1)" test "$RC:$OUT:$(api_state c1)" = "0:c1:running"
run "${A[@]}" restart -t 5 c1
expect "restart through the API" "restart" test "$RC:$OUT:$(api_state c1)" = "0:c1:running"
run "${A[@]}" pause c1
expect "pause through the API" "pause" test "$RC:$OUT:$(api_state c1)" = "0:c1:paused"
both ps --format '{{.Names}} {{.Status}}'
same "ps of a paused container: same"
both pause c1
same "pause of a paused container: same error and exit code"
run "${A[@]}" unpause c1
expect "unpause through the API" "unpause" test "$RC:$OUT:$(api_state c1)" = "0:c1:running"
both rm c1
same "rm of a running container: same error and exit code"
expect "rm of a running container: exit 1" "rm" test "$ARC" = 1
run "${A[@]}" kill -s TERM c1
expect "kill through the API" "kill" test "$RC:$OUT" = "0:c1"
run "${A[@]}" wait c1 c2
expect "wait through the API: exit codes" "wait" test "$RC:$OUT" = "0:0
3"
both kill c1
same "kill of a stopped container: same error and exit code"
both stop nosuch
same "stop of nothing: same error and exit code"
expect "stop of nothing: exit 1, one line" "stop" test "$ARC:$(wc -l <<<"$AERR")" = "1:1"
run "${A[@]}" rename c3 c3new
expect "rename through the API" "rename" test "$RC:$OUT" = "0:"
run "${D[@]}" ps -a --filter name=c3 --format '{{.Names}}'
expect "rename through the API: the store has the new name" "ps" test "$OUT" = c3new
both rename nosuch x
same "rename of nothing: same error and exit code"
both start nosuch
same "start of nothing: same error and exit code"
run "${A[@]}" rm c3new c4 tty
expect "rm through the API" "rm" test "$RC:$OUT" = "0:c3new
c4
tty"
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://berth/containers/c4/json)
expect "rm through the API: the daemon has no c4 at once" "HTTP $code" test "$code" = 404

# --- run, create, exec, attach, start -a: through the API ---------------------------
# Generated names differ between the two runs: masked in errors that name them.
mask_name() { sed -E 's/start container [a-z]+_[a-z]+:/start container NAME:/'; }
n0=$(logged 'POST /v1.45/containers/create')
both run --rm "$REF" sh -c 'echo out; echo err >&2; exit 3'
same "run --rm: same stdout, stderr and exit code (3)"
expect "run --rm through the API: the daemon created it" "log" \
	test "$(logged 'POST /v1.45/containers/create')" = $((n0 + 1))
both ps -a --filter status=exited --filter exited=3 --format '{{.Names}}'
expect "run --rm through the API: nothing left (c2 alone has exited 3)" "ps: $AOUT" test "$AOUT:$OUT" = "c2:c2"
export CAPI_FROM_CLIENT=client-side
printf 'E1=one\n# comment\nE2=two\n' >"$W/env.list"
both run --rm -e FOO=bar -e CAPI_FROM_CLIENT --env-file "$W/env.list" -e E2=over -w /tmp \
	-u 1:2 -h hn "$REF" sh -c 'echo $FOO $CAPI_FROM_CLIENT $E1 $E2 $(pwd) $(id -u):$(id -g) $(hostname)'
same "run with -e, --env-file, -w, -u, -h: the same"
expect "run through the API: -e K takes K from the CLI's environment" "out $AOUT" \
	test "$AOUT" = "bar client-side one over /tmp 1:2 hn"
unset CAPI_FROM_CLIENT
both run --rm --read-only --tmpfs /scratch:size=1m --cap-drop ALL -m 64m --cpus 0.5 \
	--pids-limit 50 -l k=v --stop-signal USR1 --log-opt max-size=4k "$REF" \
	sh -c 'touch /x 2>/dev/null || echo ro; touch /scratch/y && echo tmpfs; cat /proc/self/status | grep ^CapEff'
same "run with --read-only, --tmpfs, --cap-drop, limits, labels: the same"
expect "run through the API: read-only root, tmpfs, no capabilities" "out $AOUT" \
	test "$AOUT" = "ro
tmpfs
CapEff:	0000000000000000"
o=$(printf 'line1\nline2\n' | "${RUNNER[@]}" "$BERTH" "${A[@]}" run --rm -i "$REF" sh -c 'cat; echo done'; echo "rc=$?")
expect "run -i through the API: stdin relayed, its end seen" "out $o" test "$o" = "line1
line2
done
rc=0"
both run --rm "$REF" /no/such/cmd
AERR=$(mask_name <<<"$AERR") ERR=$(mask_name <<<"$ERR")
same "run of a missing command: same error (127)"
expect "run of a missing command: exit 127, one line" "rc $ARC" test "$ARC:$(wc -l <<<"$AERR")" = "127:1"
both run --rm -m 1k "$REF" true
same "run -m 1k: same error, exit 125"
expect "run -m 1k: exit 125" "rc $ARC" test "$ARC" = 125
both run --rm "$REG_CAPI_HOST/kit/nosuch:1" true
same "run of an image nobody has: same output, error and exit code"
both run --rm --bogus "$REF" true
same "run with a bad flag: same error and exit code"
run "${A[@]}" run -d --name rd "$REF" sh -c "$LOOP"
expect "run -d through the API: the id, running at once" "rc $RC out $OUT" \
	test "$RC" = 0 -a -n "$(grep -xE '[0-9a-f]{64}' <<<"$OUT")" -a "$(api_state rd)" = running
expect "run -d through the API: the daemon started it" "log" test "$(logged 'POST /v1.45/containers/rd/start')" = 0 \
	-a "$(logged "POST /v1.45/containers/$OUT/start")" = 1
both run --name rd "$REF" true
same "run with a name in use: same error and exit code"
run "${A[@]}" create --name cra "$REF" sh -c 'echo created; exit 4'
run2_rc=$RC run2_out=$OUT
run "${D[@]}" create --name crd "$REF" sh -c 'echo created; exit 4'
expect "create through the API: an id, as direct" "api $run2_rc $run2_out" \
	test "$run2_rc:$RC" = "0:0" -a -n "$(grep -xE '[0-9a-f]{64}' <<<"$run2_out")" \
	-a "$(api_state cra)" = created
run "${A[@]}" start -a cra
AOUT=$OUT AERR=$ERR ARC=$RC
run "${D[@]}" start -a crd
same "start -a: same output and exit code (4)"
expect "start -a through the API: exit 4" "rc $ARC" test "$ARC:$AOUT" = "4:created"
both exec rd sh -c 'echo x; echo y >&2; exit 4'
same "exec: same stdout, stderr and exit code (4)"
expect "exec through the API: the daemon ran it" "log" test "$(logged 'POST /v1.45/containers/rd/exec')" = 1
export CAPI_FROM_CLIENT=client-side
both exec -e A=1 -e CAPI_FROM_CLIENT -w /tmp -u 1 rd sh -c 'echo $A $CAPI_FROM_CLIENT $(pwd) $(id -u)'
same "exec with -e, -w, -u: the same"
unset CAPI_FROM_CLIENT
expect "exec through the API: -e K from the CLI's environment" "out $AOUT" test "$AOUT" = "1 client-side /tmp 1"
o=$(printf 'in1\n' | "${RUNNER[@]}" "$BERTH" "${A[@]}" exec -i rd sh -c 'cat; echo end'; echo "rc=$?")
expect "exec -i through the API: stdin relayed" "out $o" test "$o" = "in1
end
rc=0"
both exec rd /no/such/cmd
same "exec of a missing command: same exit code and error"
expect "exec of a missing command: 126 or 127" "rc $ARC" test "$ARC" = 127 -o "$ARC" = 126
both exec nosuch true
same "exec in no container: same error and exit code"
both exec c2 true
same "exec in a stopped container: same error and exit code"
run "${A[@]}" exec -d rd touch /made
run "${D[@]}" exec rd test -e /made
expect "exec -d through the API: it ran" "rc $RC" test "$RC" = 0
both attach c2
same "attach to a stopped container: same error and exit code"
# attach: the container prints ticks until /go exists, then "late" and exits 6;
# /go is made once the attached CLI has shown a tick
run "${A[@]}" run -d --name at "$REF" sh -c 'until [ -e /go ]; do echo tick; sleep 0.2; done; echo late; exit 6'
"${RUNNER[@]}" "$BERTH" "${A[@]}" attach at >"$W/attach.out" 2>"$W/attach.err" </dev/null &
apid=$!
for _ in $(seq 100); do grep -q tick "$W/attach.out" && break; sleep 0.1; done
run "${D[@]}" exec at touch /go
wait $apid
rc=$?
expect "attach through the API: output until the exit, its exit code (6)" "rc $rc $(tail -2 "$W/attach.out")" \
	test "$rc:$(tail -1 "$W/attach.out")" = "6:late" -a -n "$(grep -F 'POST /v1.45/containers/at/attach' "$LOG")"
# signals given to a foreground run go to the container
"${RUNNER[@]}" "$BERTH" "${A[@]}" run --rm --name sig "$REF" \
	sh -c 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.2; done' \
	>"$W/sig.out" 2>&1 </dev/null &
spid=$!
for _ in $(seq 100); do grep -q ready "$W/sig.out" && break; sleep 0.1; done
kill -TERM $spid
wait $spid
rc=$?
expect "run through the API forwards SIGTERM; the trap's exit code (7)" "rc $rc $(cat "$W/sig.out")" \
	test "$rc:$(tail -1 "$W/sig.out")" = "7:got-term"
# a terminal: script(1) gives berth one; the keys are typed once the container runs
running_soon() { # NAME: waits (at most 20 s) until the daemon says it runs
	for _ in $(seq 100); do
		[ "$(api_state "$1")" = running ] && break
		sleep 0.2
	done
	sleep 0.5
}
(
	running_soon tty1
	printf 'echo abc$((6*7)); [ -t 0 ] && echo TTY-YES; stty size\n'
	sleep 1
	printf 'exit 9\n'
	sleep 20
) | timeout 60 script -qec "stty rows 33 cols 101; ${RUNNER[*]} $BERTH ${A[*]} run -it --rm --name tty1 $REF sh" /dev/null >"$W/tty.out" 2>&1
rc=$?
o=$(tr -d '\r' <"$W/tty.out")
expect "run -it through the API in a pty: a shell with a terminal of our size, exit 9" "rc $rc: $o" \
	test "$rc" = 9 -a -n "$(grep -x 'abc42' <<<"$o")" -a -n "$(grep -x 'TTY-YES' <<<"$o")" \
	-a -n "$(grep -x '33 101' <<<"$o")"
# docker's detach keys, typed once the shell runs: berth returns 0, the container runs on
(
	running_soon det
	printf '\020\021'
	sleep 3
) | timeout 30 script -qec "${RUNNER[*]} $BERTH ${A[*]} run -it --name det $REF sh" /dev/null >"$W/det.out" 2>&1
rc=$?
expect "run -it through the API: ctrl-p ctrl-q detaches (exit 0), the container runs on" \
	"rc $rc state $(api_state det)" test "$rc:$(api_state det)" = 0:running
run "${A[@]}" rm -f rd at cra crd det
expect "rm -f of the containers run through the API" "rc $RC" test "$RC" = 0

# --- volumes -------------------------------------------------------------------
run "${A[@]}" volume create v1
expect "volume create through the API" "create" test "$RC:$OUT" = "0:v1"
run "${D[@]}" volume create v2
both volume ls
same "volume ls: same table"
both volume ls -q
same "volume ls -q: same names"
both volume inspect v1 v2
same "volume inspect: same JSON"
both volume inspect nosuch
same "volume inspect of nothing: same error"
run "${A[@]}" volume rm v1 v2
expect "volume rm through the API" "rm" test "$RC:$OUT" = "0:v1
v2"
both volume rm nosuch
same "volume rm of nothing: same error and exit code"

# --- rmi -------------------------------------------------------------------------
run "${D[@]}" tag "$REF" capi/third:3
both rmi nosuch:1
same "rmi of nothing: same error and exit code"
run "${A[@]}" rmi capi/other:2
run2_out=$OUT run2_rc=$RC
run "${D[@]}" rmi capi/third:3
expect "rmi through the API: the same Untagged line as direct" "api '$run2_out' direct '$OUT'" \
	test "$run2_rc:$run2_out" = "0:Untagged: capi/other:2" -a "$RC:$OUT" = "0:Untagged: capi/third:3"

# --- who does the work: a non-root CLI through a socket it may use ------------------
chmod 0711 "$W"
chmod 0666 "$SOCK"
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
o=$("${NOBODY[@]}" "${RUNNER[@]}" "$BERTH" "${D[@]}" ps -a 2>&1)
expect "as nobody, the data root itself is out of reach" "direct ps: $o" test $? != 0
o=$("${NOBODY[@]}" "${RUNNER[@]}" "$BERTH" "${A[@]}" ps -a --format '{{.Names}}' 2>&1)
expect "as nobody, ps through the API lists the containers" "ps: $o" test "$o" = "c2
c1"
"${NOBODY[@]}" "${RUNNER[@]}" "$BERTH" "${A[@]}" start c1 >/dev/null 2>&1
expect "as nobody, start through the API: the daemon started it" "state $(api_state c1)" \
	test "$(api_state c1)" = running
o=$("${NOBODY[@]}" env BERTH_HOST="unix://$SOCK" "${RUNNER[@]}" "$BERTH" stop -t 5 c1 2>&1)
expect "as nobody, BERTH_HOST selects the API too (stop)" "stop: $o state $(api_state c1)" \
	test "$o:$(api_state c1)" = "c1:exited"

# --- choosing the path -------------------------------------------------------------
run -H "unix://$W/dead.sock" ps
expect "-H to a socket nobody answers: exit 1, one line, nothing on stdout" "dead" \
	test "$RC:$OUT:$(wc -l <<<"$ERR")" = "1::1" -a -n "$(grep -F "unix://$W/dead.sock" <<<"$ERR")"
run -H "tcp://127.0.0.1:2375" ps
expect "-H tcp://: a usage error" "tcp" test "$RC:$(wc -l <<<"$ERR")" = "2:1"
mkdir -p "$W/other"
BERTH_HOST=unix://$SOCK run --root "$W/other" ps -aq
expect "--root beats BERTH_HOST: that store, directly (empty)" "ps" test "$RC:$OUT" = "0:"
n0=$(logged 'GET /v1.45/containers/json')
BERTH_HOST=unix://$SOCK run ps -aq
expect "BERTH_HOST without --root: through the API" "ps" \
	test "$RC:$(wc -l <<<"$OUT"):$(logged 'GET /v1.45/containers/json')" = "0:2:$((n0 + 1))"
BERTH_HOST=unix://$W/dead.sock run ps
expect "BERTH_HOST to a dead socket: exit 1, one line" "dead" test "$RC:$(wc -l <<<"$ERR")" = "1:1"
BERTH_HOST=unix://$W/dead.sock run "${D[@]}" ps -aq
expect "BERTH_HOST to a dead socket with --root: direct, works" "ps" test "$RC:$(wc -l <<<"$OUT")" = "0:2"
run -H "unix://$SOCK" --root "$W/other" ps -aq
expect "-H beats --root" "ps" test "$RC:$(wc -l <<<"$OUT")" = "0:2"
run --help
expect "berth --help documents -H and BERTH_HOST" "help" \
	test -n "$(grep -F -- '-H, --host' <<<"$OUT")" -a -n "$(grep -F 'BERTH_HOST' <<<"$OUT")"

MIN=${BERTH_MINIMAL:-$TOP/build/x86_64/minimal-cfgtest/berth} # built by build_configs.sh
if [ -x "$MIN" ] && ! "$MIN" version 2>/dev/null | grep -q -- '+daemon'; then
	o=$("$MIN" -H "unix://$SOCK" ps 2>&1)
	rc=$?
	expect "minimal build (no daemon): -H is a usage error in one line" "rc $rc: $o" \
		test "$rc:$(wc -l <<<"$o")" = "2:1" -a -n "$(grep -F -- '-H' <<<"$o")"
else
	skip "minimal build rejects -H" "no minimal binary without a daemon at $MIN"
fi
finish
