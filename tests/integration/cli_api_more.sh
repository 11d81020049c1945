#!/bin/bash
# More of the CLI through the daemon: `berth -H unix://SOCK CMD` against a
# daemon on a temp socket and data root gives the same output and exit code
# as `berth --root ROOT CMD` on the same store for events (bounded and
# streaming), stats (--no-stream and streaming), top, port, export (stdout and -o),
# container/image/volume prune, info, system df and search; their errors
# (no such container, bad flags) are the same too, and each request went
# through the daemon (its request log).
#
# Every process this test starts is stopped by the EXIT trap, also on failure:
# containers (berth rm -f), the daemon (by pid), the registry, background
# `berth events`, and any process still holding a file under the work dir.
. "$(dirname "$0")/lib"
. "$TOP/tests/integration/fixtures/registry.sh"
. "$TOP/tests/integration/fixtures/images.sh"

. "$TOP/tests/integration/fixtures/cliapi.sh"
cliapi_init cli_api_more tar

# a command that hangs fails its check instead of the whole run
RUNNER=(timeout 60 "${RUNNER[@]}")
# stats samples differ between the runs: every number masked with its unit
# (999kB, 1.2MB) and runs of spaces squeezed (the padding follows the widths)
mask_num() { sed -E 's/[0-9]+(\.[0-9]+)?([kMGT]i?)?B?/N/g; s/ +/ /g'; }
same_num() { # NAME: as same, numbers masked
	expect "$1" "api rc=$ARC out='${AOUT:0:400}' err='$AERR' direct out='${OUT:0:400}'" \
		test "$ARC" = "$RC" -a "$(mask_num <<<"$AOUT")" = "$(mask_num <<<"$OUT")" -a "$AERR" = "$ERR"
}
now() { date +%s.%N; }

registry_start capi2 http >/dev/null || { notok "registry" "could not start"; finish; }
img_single capi2 kit/single:1 || { notok "image" "could not build kit/single:1"; finish; }
SREF=$IMG_REF
img_run capi2 kit/run:1 || { notok "image" "could not build kit/run:1"; finish; }
REF=$IMG_REF
cliapi_daemon "$REG_CAPI2_HOST"

# --- setup, on the store directly ---------------------------------------------------
T0=$(now)
run "${D[@]}" pull -q "$REF"
# m1 runs two processes that stay (sh and sleep): top and stats see the same ones
run "${D[@]}" run -d --name m1 -m 64m -v keep:/data "$REF" sh -c 'trap "exit 0" TERM; sleep 100000 & wait'
run "${D[@]}" run --name m2 "$REF" sh -c 'echo m2; exit 2'
run "${D[@]}" create --name m3 "$REF" true
T1=$(now)
expect "setup: three containers, m1 running" "ps" \
	test "$("$BERTH" "${D[@]}" ps -aq | wc -l):$("$BERTH" "${D[@]}" ps -q | wc -l)" = 3:1

# --- events ---------------------------------------------------------------------
both events --since "$T0" --until "$T1"
same "events --since --until: the same lines"
expect "events: create, start, die of the setup are there" "out $AOUT" \
	test "$(grep -c ' container create ' <<<"$AOUT"):$(grep -c ' container start ' <<<"$AOUT"):$(grep -c ' container die ' <<<"$AOUT")" = 3:2:1
expect "events went through the daemon (its request log)" "log" test "$(logged 'GET /v1.45/events?filters=')" = 1
both events --since "$T0" --until "$T1" --filter type=container --filter event=start --format '{{.Action}} {{.Actor.Attributes.name}}'
same "events with two filters and --format: the same"
expect "events --filter event=start: m1 and m2" "out $AOUT" test "$AOUT" = "start m1
start m2"
both events --since "$T0" --until "$T1" --filter container=m2 --filter container=m3 --format '{{.Action}} {{.Actor.Attributes.name}}'
same "events with two values of one filter: the same"
expect "events --filter container= twice: either" "out $AOUT" test "$AOUT" = "create m2
start m2
die m2
create m3"
both events --since 2001-01-01T00:00:00Z --until 2001-01-01T00:00:01Z
same "events in a past window with nothing: the same, empty"
expect "events in a past window: nothing, exit 0" "rc $ARC" test "$ARC:$AOUT" = "0:"
both events --filter nokey
same "events --filter without =: same usage error"
expect "events --filter without =: exit 2" "rc $ARC" test "$ARC" = 2
both events --since yesterday
same "events --since garbage: same usage error"
both events --bogus
same "events with a bad flag: same error and exit code"
both events extra
same "events with an argument: same error and exit code"
# streaming: both follow until a time ahead; an event made meanwhile shows
U=$(( $(date +%s) + 3 ))
"${RUNNER[@]}" "$BERTH" "${A[@]}" events --until "$U" --format '{{.Action}} {{.Actor.Attributes.name}}' >"$W/ev.api" 2>&1 &
BG+=($!)
"${RUNNER[@]}" "$BERTH" "${D[@]}" events --until "$U" --format '{{.Action}} {{.Actor.Attributes.name}}' >"$W/ev.direct" 2>&1 &
BG+=($!)
sleep 1
run "${D[@]}" create --name m4 "$REF" true
wait "${BG[@]}"
BG=()
expect "events following through the API: the new create, then the end at --until" "api '$(cat "$W/ev.api")'" \
	test "$(cat "$W/ev.api")" = "create m4"
expect "events following: the same on both paths" "direct '$(cat "$W/ev.direct")'" \
	test "$(cat "$W/ev.api")" = "$(cat "$W/ev.direct")"
run "${D[@]}" rm m4

# --- top ------------------------------------------------------------------------
both top m1
same "top: the same processes"
expect "top: sh and sleep" "out $AOUT" \
	test "$(wc -l <<<"$AOUT")" = 3 -a -n "$(grep -E ' sleep 100000$' <<<"$AOUT")"
expect "top went through the daemon" "log" test "$(logged 'GET /v1.45/containers/m1/top')" = 1
both top m2
same "top of a stopped container: same error and exit code"
expect "top of a stopped container: exit 1, one line" "rc $ARC" test "$ARC:$(wc -l <<<"$AERR")" = 1:1
both top nosuch
same "top of nothing: same error and exit code"
expect "top of nothing: the error says so" "err $AERR" test "$AERR" = "berth: error: top: no such container: nosuch"
both top
same "top without a container: same usage error"
both top --bogus m1
same "top with a bad flag: same error and exit code"

# --- stats ----------------------------------------------------------------------
both stats --no-stream
same_num "stats --no-stream: the same rows (numbers masked)"
expect "stats: m1 alone, its 64m limit, two processes" "out $AOUT" \
	test "$(wc -l <<<"$AOUT")" = 2 -a -n "$(grep -E '^[0-9a-f]{12} +m1 .*/ 67\.1MB .* 2$' <<<"$AOUT")" \
	-a -n "$(grep -E '^[0-9a-f]{12} +m1 .*/ 67\.1MB .* 2$' <<<"$OUT")"
expect "stats went through the daemon" "log" test "$(logged '/stats?stream=0')" = 1
both stats --no-stream -a
same_num "stats --no-stream -a: the same rows"
expect "stats -a: all three, newest first" "out $AOUT" \
	test "$(awk 'NR > 1 { print $2 }' <<<"$AOUT" | tr '\n' ' ')" = "m3 m2 m1 "
both stats --no-stream --no-trunc m2 m1
same_num "stats of two named containers, --no-trunc: the same rows"
expect "stats --no-trunc: full ids, in the order asked" "out $AOUT" \
	test "$(awk 'NR > 1 { print length($1) " " $2 }' <<<"$AOUT" | tr '\n' ' ')" = "64 m2 64 m1 "
both stats --no-stream m1 nosuch
same "stats of a missing container: same error, nothing else"
expect "stats of a missing container: exit 1, no table" "rc $ARC" test "$ARC:$AOUT" = "1:"
# streaming (docker's default): a table about every second until interrupted
for p in A D; do
	eval "args=(\"\${$p[@]}\")"
	timeout -s INT 3.5 "${RUNNER[@]}" "$BERTH" "${args[@]}" stats m1 >"$W/stream.$p" 2>&1
	echo "rc=$?" >>"$W/stream.$p"
done
expect "stats (streaming) through the API and directly: tables of m1 until SIGINT" \
	"api: $(grep -c '^CONTAINER ID' "$W/stream.A") tables, direct: $(grep -c '^CONTAINER ID' "$W/stream.D")" \
	test "$(grep -c '^CONTAINER ID' "$W/stream.A")" -ge 2 -a "$(grep -c '^CONTAINER ID' "$W/stream.D")" -ge 2 \
	-a "$(grep -c ' m1 ' "$W/stream.A")" = "$(grep -c '^CONTAINER ID' "$W/stream.A")" \
	-a "$(grep -cv '^CONTAINER ID\| m1 \|^rc=' "$W/stream.A" "$W/stream.D" | awk -F: '{ s += $2 } END { print s }')" = 0
both stats --no-stream --bogus
same "stats with a bad flag: same error and exit code"

# --- port -----------------------------------------------------------------------
both port m1
same "port of a container without published ports: the same (nothing)"
expect "port: nothing, exit 0" "rc $ARC" test "$ARC:$AOUT" = "0:"
expect "port went through the daemon (inspect)" "log" test "$(logged 'GET /v1.45/containers/m1/json')" = 1
both port m1 80
same "port of a port not published: same error"
expect "port 80: exit 1" "err $AERR" test "$ARC:$AERR" = "1:berth: error: port: no public port '80' published for m1"
both port m1 80/sctp
same "port with a bad protocol: same usage error"
both port nosuch
same "port of nothing: same error and exit code"
both port
same "port without arguments: same usage error"

# --- export ---------------------------------------------------------------------
"${RUNNER[@]}" "$BERTH" "${A[@]}" export m2 >"$W/api.tar" 2>"$W/api.err"; ARC=$?
"${RUNNER[@]}" "$BERTH" "${D[@]}" export m2 >"$W/direct.tar" 2>"$W/direct.err"; RC=$?
expect "export to stdout: the same archive, byte for byte" "rc $ARC/$RC" \
	test "$ARC:$RC" = 0:0 -a -s "$W/api.tar" -a ! -s "$W/api.err" \
	-a "$(cmp "$W/api.tar" "$W/direct.tar" 2>&1 && echo same)" = same
expect "export: a tar of the root filesystem" "tar" test -n "$(tar tf "$W/api.tar" | grep -E '^(\./)?bin/')"
expect "export went through the daemon" "log" test "$(logged 'GET /v1.45/containers/m2/export')" = 1
both export -o "$W/api-o.tar" m1
ARC2=$ARC
run "${D[@]}" export -o "$W/direct-o.tar" m1
expect "export -o: same exit code, no output, the file complete and no temp left" "rc $ARC2/$RC" \
	test "$ARC2:$RC:$AOUT$OUT$AERR$ERR" = "0:0:" -a ! -e "$W/api-o.tar.tmp" -a ! -e "$W/direct-o.tar.tmp" \
	-a "$(tar tf "$W/api-o.tar" | wc -l)" -gt 2 \
	-a "$(cmp "$W/api-o.tar" "$W/direct-o.tar" 2>&1 && echo same)" = same
both export -o "$W/nodir/x.tar" m2
same "export -o into a missing directory: same error"
expect "export -o into a missing directory: exit 1, nothing left" "rc $ARC" test "$ARC" = 1 -a ! -e "$W/nodir"
both export -o "$W/x.tar" nosuch
same "export of nothing: same error and exit code"
expect "export of nothing: no file" "ls" test ! -e "$W/x.tar" -a ! -e "$W/x.tar.tmp"
both export -o "$W/x.tar"
same "export without a container: same usage error"
both export --bogus m2
same "export with a bad flag: same error and exit code"

# --- info, system df, search ---------------------------------------------------------
both info
same "info: the same"
expect "info: board, data root, device id" "out $AOUT" \
	test -n "$(grep -Fx "Data root:  $ROOT" <<<"$AOUT")" -a -n "$(grep '^Board: ' <<<"$AOUT")" \
	-a -n "$(grep '^Device ID: ' <<<"$AOUT")"
expect "info went through the daemon" "log" test "$(logged 'GET /v1.45/info')" = 1
both info extra
same "info with an argument: same usage error"
both system df
same "system df: the same table"
nv=$("$BERTH" "${D[@]}" volume ls -q | wc -l)
expect "system df: one image used, three containers (one active), every volume" "out $AOUT" \
	test -n "$(grep -E '^Images +1 +1 ' <<<"$AOUT")" -a -n "$(grep -E '^Containers +3 +1 ' <<<"$AOUT")" \
	-a -n "$(grep -E "^Local Volumes +$nv " <<<"$AOUT")"
expect "system df went through the daemon" "log" test "$(logged 'GET /v1.45/system/df')" = 1
both system df extra
same "system df with an argument: same usage error"
both system bogus
same "system with a bad subcommand: same usage error"
both search "$REG_CAPI2_HOST/kit"
same "search: the same repositories and tags"
expect "search: both repositories" "out $AOUT" \
	test "$(wc -l <<<"$AOUT")" = 3 -a -n "$(grep -E "^$REG_CAPI2_HOST/kit/run +1$" <<<"$AOUT")"
expect "search went through the daemon" "log" test "$(logged 'GET /v1.45/images/search?term=')" = 1
both search --limit 1 "$REG_CAPI2_HOST/kit/single"
same "search --limit 1 TERM: the same"
both search busybox
same "search without a registry: same usage error"
expect "search without a registry: exit 2" "rc $ARC" test "$ARC" = 2
both search 127.0.0.1:1/x
same "search of a registry that does not answer: same error"
expect "search of a registry that does not answer: exit 1" "rc $ARC" test "$ARC" = 1
both search --limit 0 "$REG_CAPI2_HOST"
same "search --limit 0: same usage error"

# --- prune ----------------------------------------------------------------------
# The API run prunes first; the same things are made again for the direct run.
mask_ids() { sed -E 's/[0-9a-f]{64}/ID/g'; }
both container prune --bogus
same "container prune with a bad flag: same error and exit code"
OUT=$(echo n | "${RUNNER[@]}" "$BERTH" "${A[@]}" container prune 2>&1; echo "rc=$?")
AOUT=$OUT
OUT=$(echo n | "${RUNNER[@]}" "$BERTH" "${D[@]}" container prune 2>&1; echo "rc=$?")
expect "container prune answered no: the same prompt, nothing removed" "api '$AOUT'" \
	test "$AOUT" = "$OUT" -a "$("$BERTH" "${D[@]}" ps -aq | wc -l)" = 3
n0=$(logged 'POST /v1.45/containers/prune')
run "${A[@]}" container prune -f
AOUT=$OUT ARC=$RC AERR=$ERR
expect "container prune through the API: m2 and m3 gone, m1 stays" "ps" \
	test "$("$BERTH" "${D[@]}" ps -a --format '{{.Names}}')" = m1
expect "container prune went through the daemon" "log" test "$(logged 'POST /v1.45/containers/prune')" = $((n0 + 1))
run "${D[@]}" run --name m2 "$REF" sh -c 'echo m2; exit 2'
run "${D[@]}" create --name m3 "$REF" true
run "${D[@]}" container prune -f
expect "container prune: the same report (ids and sizes masked)" "api '$AOUT' direct '$OUT'" \
	test "$ARC:$RC" = 0:0 -a "$(mask_ids <<<"$AOUT" | mask_num)" = "$(mask_ids <<<"$OUT" | mask_num)" \
	-a "$(grep -c '^[0-9a-f]\{64\}$' <<<"$AOUT")" = 2 -a "$AERR$ERR" = ""
both container prune -f
same "container prune with nothing to prune: the same"
expect "container prune with nothing: 0B" "out $AOUT" test "$AOUT" = "Total reclaimed space: 0B"

both image prune -f
same "image prune with no dangling image: the same"
run "${D[@]}" pull -q "$SREF"
run "${A[@]}" image prune -a -f
AOUT=$OUT ARC=$RC AERR=$ERR
expect "image prune -a through the API: the unused image gone, the used one kept" "images" \
	test "$("$BERTH" "${D[@]}" images -q | wc -l)" = 1 -a -n "$(grep -F "untagged: $SREF" <<<"$AOUT")"
expect "image prune went through the daemon, with -a as docker's filter" "log" \
	test "$(logged 'POST /v1.45/images/prune?filters=%7B%22dangling%22%3A%5B%22false%22%5D%7D')" = 1
run "${D[@]}" pull -q "$SREF"
run "${D[@]}" image prune -a -f
same "image prune -a: the same report"
both image prune extra
same "image prune with an argument: same usage error"

# m2's and m3's anonymous volumes (the image has a VOLUME) outlived them
run "${A[@]}" volume prune -f
expect "volume prune through the API: the anonymous volumes of removed containers" "out $OUT" \
	test "$RC:$(head -1 <<<"$OUT")" = "0:Deleted Volumes:" -a "$(grep -c '^[0-9a-f]\{64\}$' <<<"$OUT")" -ge 1
run "${D[@]}" volume create v1
run "${D[@]}" volume create v2
both volume prune -f
same "volume prune of named volumes without -a: the same (nothing)"
expect "volume prune without -a: nothing, 0B" "out $AOUT" test "$AOUT" = "Total reclaimed space: 0B"
run "${A[@]}" volume prune -a -f
AOUT=$OUT ARC=$RC AERR=$ERR
expect "volume prune -a through the API: v1 and v2 gone, keep (m1's) stays" "volumes" \
	test "$("$BERTH" "${D[@]}" volume ls -q)" = keep
expect "volume prune went through the daemon, with -a as docker's filter" "log" \
	test "$(logged 'POST /v1.45/volumes/prune')" = 3 \
	-a "$(logged 'POST /v1.45/volumes/prune?filters=%7B%22all%22%3A%5B%22true%22%5D%7D')" = 1
run "${D[@]}" volume create v1
run "${D[@]}" volume create v2
run "${D[@]}" volume prune -a -f
same "volume prune -a: the same report"
expect "volume prune -a: the report" "out $AOUT" test "$(head -3 <<<"$AOUT")" = "Deleted Volumes:
v1
v2"
both volume prune --bogus
same "volume prune with a bad flag: same error and exit code"

finish
