#!/bin/bash
# Fleet heartbeat and desired state (issue 6, docs/heartbeat.md): the
# reference portal (scripts/portal.py, through fixtures/portal_test.py) on
# loopback and `berth daemon` with a fleet config (interval 1 s, settle-time
# 2 s): the first heartbeat and its fields, the device id, the bearer token;
# a revision deploys two containers; one changes and the other's pid does
# not; a crash-looping one rolls back and is not retried; bad documents are
# refused; 304 and 204; backoff while the portal fails and no burst after;
# Retry-After; a slow portal does not block the API; SIGKILL of the daemon
# at several points of an update, then restart: old or new revision, never a
# mix, no *.prev left.
#
# The EXIT trap stops everything, also on failure: containers (berth rm -f),
# daemons (by pid), the portal, the registry, and processes still holding a
# file under the work dir (reported as a failure).
# shellcheck disable=SC2034 # variables read by checks that expect evals
. "$(dirname "$0")/lib"
. "$TOP/tests/integration/fixtures/registry.sh"
. "$TOP/tests/integration/fixtures/images.sh"

if [ "$(id -u)" != 0 ]; then
	skip "fleet" "needs root for namespaces and mounts"
	finish
fi
if ! "${RUNNER[@]}" "$BERTH" version 2>/dev/null | grep -q -- '+heartbeat'; then
	skip "fleet" "this build has no heartbeat (CONFIG_HEARTBEAT off)"
	finish
fi

W=$(mktemp -d /tmp/berth-fleet.XXXXXX)
ROOT=$W/root
SOCK=$W/berth.sock
export BERTH_CONFIG=$W/cfg
mkdir -p "$BERTH_CONFIG"
DPID='' PPID_PORTAL=''
DPIDS=()
B=(--root "$ROOT")
T_START=$EPOCHREALTIME

# fleet children (berthd-update, berthd-heartbeat) of any daemon of this test,
# also orphans of a killed one
fleet_kids() {
	local p
	for p in $(procs_in_w); do
		case "$(title "$p")" in berthd-update* | berthd-heartbeat*) echo "$p" ;; esac
	done
}

cleanup() {
	local p ids left
	trap - EXIT
	mapfile -t ids < <("${RUNNER[@]}" "$BERTH" --root "$ROOT" ps -aq 2>/dev/null)
	for p in "${DPIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || continue
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	for p in $(fleet_kids); do kill -KILL "$p" 2>/dev/null; done
	mapfile -t ids < <("${RUNNER[@]}" "$BERTH" --root "$ROOT" ps -aq 2>/dev/null)
	[ ${#ids[@]} -eq 0 ] || "${RUNNER[@]}" "$BERTH" --root "$ROOT" rm -f "${ids[@]}" >/dev/null 2>&1
	[ -z "$PPID_PORTAL" ] || kill -TERM "$PPID_PORTAL" 2>/dev/null
	for p in "${DPIDS[@]}" $PPID_PORTAL; do wait "$p"; done 2>/dev/null
	sleep 0.5
	left=$(for p in $(procs_in_w); do echo "$p:$(title "$p")"; done)
	if [ -n "$left" ]; then
		notok "cleanup: no process left" "still running after rm -f and daemon stop: $left"
		for p in $(procs_in_w); do kill -KILL "$p" 2>/dev/null; done
		sleep 0.5
	elif [ "${CLEANUP_CHECK:-0}" = 1 ]; then
		ok "cleanup: no monitor, update child or daemon left"
	fi
	awk -v p="$W/" '{ if (index($5 "/", p) == 1) print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	registry_stop_all
	if [ -n "${KEEP_WORK:-}" ]; then echo "# work dir kept: $W"; else rm -rf "$W"; fi
	exit $T_FAILED
}
trap cleanup EXIT

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
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# --- portal ----------------------------------------------------------------------------------
PORT=$(fix_free_port)
PURL=http://127.0.0.1:$PORT
TOKEN=tok-$RANDOM$RANDOM
setpriv --pdeathsig TERM -- python3 "$TOP/tests/integration/fixtures/portal_test.py" --port "$PORT" \
	--dir "$W/portal" --token "$TOKEN" </dev/null >"$W/portal.log" 2>&1 &
PPID_PORTAL=$!
wait_for 10 curl -sf -m 2 -o /dev/null "$PURL/admin/heartbeats" ||
	{ notok "portal" "did not start: $(cat "$W/portal.log")"; finish; }
mode() { curl -sf -m 5 -X POST -d "{\"mode\": \"$1\"}" "$PURL/admin/mode"; }
desired() { curl -sf -m 5 -X PUT --data-binary "$1" "$PURL/admin/desired"; }
# pyq EXPRESSION: evaluates a Python expression over L, the portal's heartbeat
# log (entries: t, device, req_bytes, resp_bytes, status, if_none_match, body)
# and H, the request headers; prints the result (lists one item a line).
pyq() {
	curl -sf -m 5 "$PURL/admin/heartbeats" >"$W/hb.jsonl"
	curl -sf -m 5 "$PURL/admin/headers" >"$W/hdr.jsonl"
	python3 - "$W/hb.jsonl" "$W/hdr.jsonl" "$1" <<'EOF'
import json, sys
L = [json.loads(l) for l in open(sys.argv[1])]
H = [json.loads(l) for l in open(sys.argv[2])]
r = eval(sys.argv[3])
if isinstance(r, (list, tuple)):
    print("\n".join(str(x) for x in r))
elif r is not None:
    print(r)
EOF
}
nhb() { curl -sf -m 5 "$PURL/admin/heartbeats" | wc -l; }
nhb_ge() { [ "$(nhb)" -ge "$1" ]; }
pyq_ge() { [ "$(pyq "$1")" -ge "$2" ]; }
# the revision the last heartbeat reported: "ID STATE"
last_rev() {
	curl -sf -m 5 "$PURL/admin/heartbeats" | tail -1 | python3 -c '
import json, sys
l = sys.stdin.read()
r = json.loads(l)["body"]["revision"] if l.strip() else None
print("%s %s" % (r["id"], r["state"]) if r else "none")'
}

# --- registry, images, daemon ------------------------------------------------------------------
registry_start flt http >/dev/null || { notok "registry" "could not start"; finish; }
img_run flt kit/run:1 || { notok "image" "could not build kit/run:1"; finish; }
REF=$IMG_REF
printf '%s\n' "$TOKEN" >"$W/token"
cat >"$BERTH_CONFIG/daemon.json" <<EOF
{"insecure-registries": ["$REG_FLT_HOST"],
 "fleet": {"portal": "$PURL", "interval": 1, "settle-time": 2, "token-file": "$W/token"}}
EOF

daemon_start() {
	setpriv --pdeathsig TERM -- "${RUNNER[@]}" "$BERTH" --root "$ROOT" daemon -H "unix://$SOCK" \
		-l debug </dev/null >>"$W/daemon.log" 2>&1 &
	DPID=$!
	DPIDS+=("$DPID")
	wait_for 10 eval 'kill -0 $DPID 2>/dev/null || return 1; curl -sf -m 2 -o /dev/null --unix-socket "$SOCK" http://berth/_ping'
}
daemon_kill() { # kill -9; with "all" also its update and heartbeat children
	local kids
	kids=$(pgrep -P "$DPID" | while read -r p; do
		case "$(title "$p")" in berthd-update* | berthd-heartbeat*) echo "$p" ;; esac
	done)
	{
		kill -KILL "$DPID"
		[ "$1" != all ] || [ -z "$kids" ] || kill -KILL $kids
		wait "$DPID"
	} 2>/dev/null
}

# containers: "NAME=STATE:REVISION-LABEL" sorted, one line
ctrs() {
	local n
	for n in $("${RUNNER[@]}" "$BERTH" "${B[@]}" ps -a --format '{{.Names}}' 2>/dev/null | sort); do
		"${RUNNER[@]}" "$BERTH" "${B[@]}" inspect -f '{{.State.Status}} {{json .Config.Labels}}' "$n" 2>/dev/null |
			python3 -c 'import json,sys; s, _, l = sys.stdin.read().strip().partition(" "); print(sys.argv[1] + "=" + s + ":" + (json.loads(l) or {}).get("berth.fleet.revision", "-"))' "$n"
	done | tr '\n' ' ' | sed 's/ $//'
}
ctrs_are() { [ "$(ctrs)" = "$1" ]; }
cpid() { "${RUNNER[@]}" "$BERTH" "${B[@]}" inspect -f '{{.State.Pid}}' "$1" 2>/dev/null; }
clabel() { # NAME KEY
	"${RUNNER[@]}" "$BERTH" "${B[@]}" inspect -f '{{json .Config.Labels}}' "$1" 2>/dev/null |
		python3 -c 'import json,sys; print((json.load(sys.stdin) or {}).get(sys.argv[1], ""))' "$2"
}
# the device is done with an update: no journal, no update child anywhere
# (an orphan of a killed daemon counts), status.json says no update is on
idle_dev() {
	[ ! -e "$ROOT/fleet/journal.json" ] && [ -z "$(fleet_kids | while read -r p; do
		case "$(title "$p")" in berthd-update*) echo "$p" ;; esac
	done)" ] && python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])).get("update") is not None)' \
		"$ROOT/fleet/status.json" 2>/dev/null
}
rev_is() { [ "$(last_rev)" = "$1" ]; }

# pid 1s that exit on TERM (at once / after about a second)
LOOP='trap "exit 0" TERM; while :; do sleep 1 & wait; done'
SLOWSTOP='trap "sleep 1; exit 0" TERM; while :; do sleep 1 & wait; done'
# doc REV [NAME IMAGE ENV CMD]...: a desired-state document; keys always in
# the same order (the device hashes each entry to see what changed); ENV
# "REV=x" sets one variable, "" none; "REV=x;always" also sets restart: always
doc() {
	python3 - "$@" <<'EOF'
import json, sys
a = sys.argv[1:]
cs = []
for i in range(1, len(a), 4):
    env, _, restart = a[i + 2].partition(";")
    c = {"name": a[i], "image": a[i + 1], "cmd": ["sh", "-c", a[i + 3]]}
    if env:
        c["env"] = [env]
    if restart:
        c["restart"] = restart
    cs.append(c)
print(json.dumps({"revision": a[0], "containers": cs}))
EOF
}

if ! daemon_start; then
	notok "daemon with a fleet config starts" "$(tail -5 "$W/daemon.log")"
	finish
fi

# --- first heartbeat ---------------------------------------------------------------------------
wait_for 10 nhb_ge 1
run "${B[@]}" info
devid=$(sed -n 's/^Device ID: *\([^ ]*\).*/\1/p' <<<"$OUT")
expect "first heartbeat within 10 s" "$(nhb) heartbeats" test "$(nhb)" -ge 1
expect "heartbeat: the URL's device id is berth info's Device ID ($devid)" "got $(pyq 'L[0]["device"]')" \
	test -n "$devid" -a "$(pyq 'L[0]["device"]')" = "$devid" -a "$(pyq 'L[0]["body"]["id"]')" = "$devid"
expect "heartbeat: Authorization: Bearer <token-file's token>, Content-Type JSON, answered 304" \
	"$(pyq 'H[0]') status $(pyq 'L[0]["status"]')" \
	test "$(pyq 'H[0].get("Authorization")')|$(pyq 'H[0].get("Content-Type","").split(";")[0]')|$(pyq 'L[0]["status"]')" \
	= "Bearer $TOKEN|application/json|304"
expect "first heartbeat: no If-None-Match (nothing applied yet)" "$(pyq 'L[0]["if_none_match"]')" \
	test -z "$(pyq 'L[0]["if_none_match"]')"
ver=$("${RUNNER[@]}" "$BERTH" version | sed -n 's/^berth version //p')
arch=$("${RUNNER[@]}" "$BERTH" version | sed -n 's/^arch: *//p')
board=$("${RUNNER[@]}" "$BERTH" version | sed -n 's/^board: *//p')
# the fields of docs/heartbeat.md, with their types
bad=$(pyq '[k for k, ok in [
 ("v", L[0]["body"].get("v") == 1),
 ("board", L[0]["body"].get("board") == "'"$board"'"),
 ("arch", L[0]["body"].get("arch") == "'"$arch"'"),
 ("kernel", L[0]["body"].get("kernel") == "'"$(uname -r)"'"),
 ("berth", L[0]["body"].get("berth") == "'"$ver"'"),
 ("features", isinstance(L[0]["body"].get("features"), list) and all(isinstance(f, str) for f in L[0]["body"]["features"])),
 ("uptime", isinstance(L[0]["body"].get("uptime"), (int, float)) and L[0]["body"]["uptime"] > 0),
 ("load", isinstance(L[0]["body"].get("load"), list) and len(L[0]["body"]["load"]) == 3),
 ("mem.total", L[0]["body"].get("mem", {}).get("total", 0) > 0),
 ("mem.avail", L[0]["body"].get("mem", {}).get("avail", 0) > 0),
 ("disk.images", isinstance(L[0]["body"].get("disk", {}).get("images"), (int, float))),
 ("disk.free", L[0]["body"].get("disk", {}).get("free", 0) > 0),
 ("clock", L[0]["body"].get("clock") in ("synced", "unsynced")),
 ("revision", "revision" in L[0]["body"] and L[0]["body"]["revision"] is None),
 ("update", "update" in L[0]["body"] and L[0]["body"]["update"] is None),
 ("containers", L[0]["body"].get("containers") == []),
 ("images", L[0]["body"].get("images") == []),
 ("error", isinstance(L[0]["body"].get("error"), str)),
] if not ok]')
expect "first heartbeat: every field of docs/heartbeat.md, with its type" \
	"wrong or missing: $(tr '\n' ' ' <<<"$bad"); body $(pyq 'json.dumps(L[0]["body"])' | head -c 700)" test -z "$bad"
extra=$(pyq 'sorted(set(L[0]["body"]) - {"v","id","board","arch","kernel","berth","features","uptime","load","mem","disk","clock","revision","update","containers","images","error"})')
expect "first heartbeat: no field the protocol does not document" "extra: $extra" test -z "$extra"
wait_for 10 nhb_ge 5
gaps=$(pyq '["%.2f" % (b["t"] - a["t"]) for a, b in zip(L, L[1:])]' | tr '\n' ' ')
expect "heartbeats every interval (1 s) +-20% jitter, not in lockstep" "gaps: $gaps" \
	eval 'awk -v g="$gaps" "BEGIN { n = split(g, a, \" \"); lo = 9; hi = 0; for (i = 1; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] } exit !(n >= 3 && lo >= 0.7 && hi <= 1.45 && hi - lo >= 0.03) }"'

# --- a revision deploys two containers -----------------------------------------------------------------
t0=$EPOCHREALTIME
n0=$(nhb)
desired "$(doc r1 web "$REF" REV=r1 "$LOOP" db "$REF" REV=r1 "$LOOP")"
wait_for 20 ctrs_are "db=running:r1 web=running:r1"
deploy=$(since "$t0")
expect "r1: two containers deployed and running" "containers: $(ctrs)" test "$(ctrs)" = "db=running:r1 web=running:r1"
echo "# r1 served -> both containers running: ${deploy} s"
wait_for 20 rev_is "r1 applied"
expect "r1: the next heartbeats report revision r1 applied" "last: $(last_rev)" rev_is "r1 applied"
upd=$(pyq '",".join(sorted(set(e["body"]["update"]["step"] for e in L['"$n0"':] if e["body"]["update"] and e["body"]["update"]["id"] == "r1")))')
expect "r1: heartbeats during the update carried its progress (update: r1, settling)" "steps seen '$upd'" \
	eval '[[ ",$upd," == *,settling,* ]]'
during=$(pyq '" ".join("%s/%s" % (e["if_none_match"], e["status"]) for e in L['"$n0"':] if e["body"]["update"] and e["body"]["update"]["id"] == "r1")')
expect "r1: during the update If-None-Match carries \"r1\" and the portal answers 304 (no document sent again)" \
	"If-None-Match/status: $during" eval '[ -n "$during" ] && [ -z "$(tr " " "\n" <<<"$during" | grep -v "^\"r1\"/304$")" ]'
pyq 'json.dumps([c for c in L[-1]["body"]["containers"]])' >"$W/c.json"
expect "r1: the heartbeat lists both containers: name, image, digest, state, exit, restarts, health, started" "$(cat "$W/c.json")" \
	python3 -c '
import json, sys
cs = {c["name"]: c for c in json.load(open(sys.argv[1]))}
assert set(cs) == {"web", "db"}, cs
for c in cs.values():
    assert c["image"] == sys.argv[2] and c["digest"].startswith("sha256:") and c["state"] == "running", c
    assert c["exit"] == 0 and c["restarts"] == 0 and isinstance(c["health"], str) and c["started"] > 1e9, c
' "$W/c.json" "$REF"
imgs=$(pyq '",".join(i["ref"] + "/" + str(i["digest"].startswith("sha256:")) + "/" + str(i["size"] > 0) for i in L[-1]["body"]["images"])')
expect "r1: the heartbeat lists the image with digest and size" "images: $imgs" test "$imgs" = "$REF/True/True"
webpid=$(cpid web) dbpid=$(cpid db)
n1=$(nhb)
wait_for 10 nhb_ge $((n1 + 3))
inm=$(pyq 'sorted(set(e["if_none_match"] for e in L['"$n1"':]))')
st=$(pyq 'sorted(set(e["status"] for e in L['"$n1"':]))')
expect "304 path: If-None-Match carries \"r1\", the portal answers 304" "If-None-Match $inm, statuses $st" \
	test "$inm|$st" = '"r1"|304'
expect "304 path: nothing re-applied (pids unchanged)" "web $webpid -> $(cpid web), db $dbpid -> $(cpid db)" \
	test "$(cpid web):$(cpid db)" = "$webpid:$dbpid"
hb2=$(pyq 'max(e["req_bytes"] for e in L)')
expect "heartbeat body with 2 containers well under 4 KiB" "$hb2 bytes" test "$hb2" -lt 4096
echo "# heartbeat with 2 containers: request body $hb2 bytes"

# --- 204 path ----------------------------------------------------------------------------------
mode ok204
n2=$(nhb)
sleep 4
n3=$(nhb)
mode ok
st=$(pyq 'sorted(set(e["status"] for e in L['"$n2"':'"$n3"']))')
cnt=$((n3 - n2))
expect "204 path: 'nothing new' answered 204 keeps the normal interval (no backoff, no error)" \
	"statuses $st, $cnt heartbeats in 4 s, device error '$(pyq 'L[-1]["body"]["error"]')'" \
	eval '[ "$st" = 204 ] && [ "$cnt" -ge 3 ] && [ -z "$(pyq "L[-1][\"body\"][\"error\"]")" ]'
expect "204 path: nothing re-applied" "pids" test "$(cpid web):$(cpid db)" = "$webpid:$dbpid"

# --- a revision changes one container ---------------------------------------------------------------
t0=$EPOCHREALTIME
desired "$(doc r2 web "$REF" REV=r2 "$LOOP" db "$REF" REV=r1 "$LOOP")"
wait_for 30 rev_is "r2 applied"
expect "r2: applied" "last: $(last_rev)" rev_is "r2 applied"
echo "# r2 served -> applied (settle-time 2 s): $(since "$t0") s"
expect "r2: the changed container was replaced, the other kept its pid" \
	"web $webpid -> $(cpid web), db $dbpid -> $(cpid db); $(ctrs)" \
	eval '[ "$(cpid db)" = "$dbpid" ] && [ "$(cpid web)" != "$webpid" ] && [ "$(ctrs)" = "db=running:r1 web=running:r2" ]'
run "${B[@]}" exec web sh -c 'echo $REV'
expect "r2: the new container has the new env" "exec" test "$RC:$OUT" = "0:r2"
webpid=$(cpid web)
webspec=$(clabel web berth.fleet.spec)

# --- a crash-looping revision rolls back --------------------------------------------------------------
t0=$EPOCHREALTIME
desired "$(doc r3 web "$REF" "REV=r3;always" 'sleep 0.3; exit 1' db "$REF" REV=r1 "$LOOP")"
wait_for 40 rev_is "r3 rolled-back"
rb=$(since "$t0")
expect "r3 (crash loop): the heartbeat reports rolled-back" "last: $(last_rev)" rev_is "r3 rolled-back"
echo "# r3 served -> rolled-back reported: ${rb} s"
why=$(pyq 'L[-1]["body"]["revision"]["error"]')
expect "r3: the reason names the failing container" "reason '$why'" eval '[[ "$why" == *web* ]]'
expect "r3: the old containers run again (r2's web, db untouched), no .prev left" \
	"$(ctrs); db pid $dbpid -> $(cpid db); web spec $(clabel web berth.fleet.spec)" \
	eval '[ "$(ctrs)" = "db=running:r1 web=running:r2" ] && [ "$(cpid db)" = "$dbpid" ] && [ "$(clabel web berth.fleet.spec)" = "$webspec" ]'
n4=$(nhb)
webpid=$(cpid web)
wait_for 10 nhb_ge $((n4 + 4))
again=$(pyq 'len([e for e in L['"$n4"':] if e["body"]["update"]])')
inm=$(pyq 'sorted(set(e["if_none_match"] for e in L['"$n4"':]))')
expect "r3: not retried (If-None-Match \"r3\", no update, web pid unchanged)" \
	"If-None-Match $inm, updates $again, web $webpid -> $(cpid web)" \
	test "$inm|$again|$(cpid web)" = "\"r3\"|0|$webpid"

# --- refused documents ---------------------------------------------------------------------------
for bad in "r4|duplicate names|$(doc r4 web "$REF" "" "$LOOP" web "$REF" "" "$LOOP")|twice" \
	"r5|a bad image reference|$(doc r5 web "BAD::ref" "" "$LOOP")|reference" \
	"r6|a bad container name|$(doc r6 'we b' "$REF" "" "$LOOP")|name" \
	"r7|cmd not a list|{\"revision\":\"r7\",\"containers\":[{\"name\":\"web\",\"image\":\"$REF\",\"cmd\":\"sleep 1\"}]}|cmd"; do
	IFS='|' read -r rev what d word <<<"$bad"
	before=$(ctrs) bw=$(cpid web) bd=$(cpid db)
	desired "$d"
	wait_for 15 rev_is "$rev refused"
	why=$(pyq 'L[-1]["body"]["revision"]["error"]')
	expect "$rev ($what): refused with a reason, nothing changed" \
		"last $(last_rev), reason '$why', $before -> $(ctrs), pids $bw $bd -> $(cpid web) $(cpid db)" \
		eval '[ "$(last_rev)" = "$rev refused" ] && [[ "$why" == *"$word"* ]] && [ "$(ctrs)" = "$before" ] && [ "$(cpid web):$(cpid db)" = "$bw:$bd" ]'
done
n5=$(nhb)
wait_for 10 nhb_ge $((n5 + 3))
inm=$(pyq 'sorted(set(e["if_none_match"] for e in L['"$n5"':]))')
expect "a refused revision is not retried (If-None-Match carries it)" "If-None-Match $inm" test "$inm" = '"r7"'
# an image the registry does not have: nothing changes, the reason is reported
before=$(ctrs) bw=$(cpid web)
n6=$(nhb)
desired "$(doc r8 web "$REG_FLT_HOST/kit/nosuch:1" "" "$LOOP" db "$REF" REV=r1 "$LOOP")"
wait_for 15 eval '[ -n "$(pyq "[1 for e in L[$n6:] if \"nosuch\" in (e[\"body\"][\"error\"] + json.dumps(e[\"body\"][\"revision\"]))][:1]")" ]'
n7=$(nhb)
sleep 3
n8=$(nhb)
expect "r8 (an image the registry does not have): nothing changed, the reason reported" \
	"last $(last_rev), error '$(pyq 'L[-1]["body"]["error"]')', $before -> $(ctrs)" \
	eval '[ "$(ctrs)" = "$before" ] && [ "$(cpid web)" = "$bw" ] && pyq "L[-1][\"body\"][\"error\"] + json.dumps(L[-1][\"body\"][\"revision\"])" | grep -q nosuch'
expect "r8: reported as refused (docs: an unknown image is refused as a whole)" "last $(last_rev)" rev_is "r8 refused"
pulls=$(grep -c "GET /v2/kit/nosuch/manifests/" "$REG_FLT_LOG")
expect "r8: no heartbeat/pull loop (at most one heartbeat per interval: <= 5 in 3 s)" \
	"$((n8 - n7)) heartbeats in 3 s, $pulls manifest requests for the missing image in all" \
	test $((n8 - n7)) -le 5
# a revision naming what already runs: applied, nothing restarted; it also
# ends r8 (the tests after this one want a quiet device)
bw=$(cpid web) bd=$(cpid db)
desired "$(doc r9 web "$REF" REV=r2 "$LOOP" db "$REF" REV=r1 "$LOOP")"
wait_for 20 rev_is "r9 applied"
expect "r9 (the running specs again): applied, nothing restarted" "last $(last_rev), pids $bw $bd -> $(cpid web) $(cpid db)" \
	eval 'rev_is "r9 applied" && [ "$(cpid web):$(cpid db)" = "$bw:$bd" ]'
# a new container whose name reads as the prefix of another container's id
# (names are looked up by name, not as id prefixes)
hex=$("${RUNNER[@]}" "$BERTH" "${B[@]}" inspect -f '{{.Id}}' web | cut -c1-2)
desired "$(doc r10 web "$REF" REV=r2 "$LOOP" db "$REF" REV=r1 "$LOOP" "$hex" "$REF" REV=r10 "$LOOP")"
wait_for 20 eval 'rev_is "r10 applied" || rev_is "r10 rolled-back"'
expect "r10 (adds a container named '$hex', the start of web's id): web and db untouched, '$hex' added" \
	"last $(last_rev), $(ctrs), pids $bw $bd -> $(cpid web) $(cpid db)" \
	eval 'rev_is "r10 applied" && [ "$(cpid web):$(cpid db)" = "$bw:$bd" ] && [ "$(ctrs)" = "$(printf "%s\n" "db=running:r1" "web=running:r2" "$hex=running:r10" | sort | tr "\n" " " | sed "s/ \$//")" ]'

# r11: r10's specs with every object's keys in reverse order: a spec is the
# same spec whatever the order of its keys, so nothing restarts
bh=$(cpid "$hex")
r11=$(doc r11 web "$REF" REV=r2 "$LOOP" db "$REF" REV=r1 "$LOOP" "$hex" "$REF" REV=r10 "$LOOP" |
	python3 -c 'import json, sys
def rev(o):
    if isinstance(o, dict):
        return {k: rev(o[k]) for k in reversed(list(o))}
    if isinstance(o, list):
        return [rev(x) for x in o]
    return o
print(json.dumps(rev(json.load(sys.stdin))))')
desired "$r11"
wait_for 20 eval 'rev_is "r11 applied" || rev_is "r11 rolled-back"'
expect "r11 (r10 with every object's keys reversed): applied, nothing restarted" \
	"last $(last_rev), pids $bw $bd $bh -> $(cpid web) $(cpid db) $(cpid "$hex")" \
	eval 'rev_is "r11 applied" && [ "$(cpid web):$(cpid db):$(cpid "$hex")" = "$bw:$bd:$bh" ]'

# --- a slow portal does not block the daemon ----------------------------------------------------
mode delay:4
sleep 1.5
s=$EPOCHREALTIME
curl -sf -m 5 -o /dev/null --unix-socket "$SOCK" http://berth/_ping
RC=$?
took=$(since "$s")
expect "a heartbeat waiting on a slow portal does not block the API (/_ping)" "rc $RC after ${took}s" \
	eval '[ "$RC" = 0 ] && awk -v t="$took" "BEGIN { exit !(t < 1) }"'
mode ok
sleep 5 # the delayed heartbeat ends before the next part counts

# --- portal down, then back: backoff, no burst -------------------------------------------------------
nf=$(nhb)
tf=$EPOCHREALTIME
mode fail
sleep 9
mode ok
# the answers after the last failure
AFTER='(lambda f: [e for e in L[f + 1:] if e["status"] in (200, 304)])(max([i for i, e in enumerate(L) if e["status"] == 500] + [-1]))'
wait_for 15 pyq_ge "len($AFTER)" 1
sleep 4
fails=$(pyq '["%.2f" % e["t"] for e in L['"$nf"':] if e["status"] == 500]' | tr '\n' ' ')
fgaps=$(pyq '(lambda f: ["%.2f" % (b - a) for a, b in zip(f, f[1:])])([e["t"] for e in L['"$nf"':] if e["status"] == 500])' | tr '\n' ' ')
expect "portal failing 9 s: at most 4 attempts (without backoff: 9)" "attempts at $fails" \
	test "$(wc -w <<<"$fails")" -ge 2 -a "$(wc -w <<<"$fails")" -le 4
expect "portal failing: the waits grow (2x, 4x the interval, +-20%)" "gaps $fgaps" \
	eval 'awk -v g="$fgaps" "BEGIN { n = split(g, a, \" \"); if (n < 1 || a[1] < 1.5) exit 1; for (i = 2; i <= n; i++) if (a[i] < a[i-1] * 1.3) exit 1 }"'
bgaps=$(pyq '(lambda t: ["%.2f" % (b - a) for a, b in zip(t, t[1:])])([e["t"] for e in '"$AFTER"'])' | tr '\n' ' ')
expect "portal back: no burst (normal interval from the first success on, >= 0.7 s apart)" "gaps after $bgaps" \
	eval 'awk -v g="$bgaps" "BEGIN { n = split(g, a, \" \"); if (n < 2) exit 1; for (i = 1; i <= n; i++) if (a[i] < 0.7 || a[i] > 1.5) exit 1 }"'
err=$(pyq "${AFTER}[0][\"body\"][\"error\"]")
expect "portal back: the first heartbeat reports the outage as the last error" "error '$err'" \
	eval '[[ "$err" == *500* ]]'

# --- busy: Retry-After ---------------------------------------------------------------------------
# first429 FROM: index of the first 429 answer at or after entry FROM, or -1
first429() { pyq '([i for i, e in enumerate(L) if i >= '"$1"' and e["status"] == 429] + [-1])[0]'; }
nb=$(nhb)
mode busy:3
wait_for 5 eval '[ "$(first429 $nb)" -ge 0 ]'
mode ok
i429=$(first429 "$nb")
wait_for 10 nhb_ge $((i429 + 2))
ra=$(pyq '"%.2f" % (L['"$i429"' + 1]["t"] - L['"$i429"']["t"])')
expect "busy (429, Retry-After: 3): the next heartbeat not before 3 s, not much later" "next after ${ra}s" \
	eval 'awk -v t="$ra" "BEGIN { exit !(t >= 2.95 && t <= 4.5) }"'
sleep 1.5 # a heartbeat in flight ends
nb=$(nhb)
mode busy:1000000
wait_for 5 eval '[ "$(first429 $nb)" -ge 0 ]'
mode ok
sleep 0.5
nb=$(nhb)
sleep 3
expect "busy with an absurd Retry-After: the device waits (capped at an hour), the daemon still answers" \
	"$(($(nhb) - nb)) heartbeats in 3 s, hb.json $(cat "$ROOT/fleet/hb.json" 2>/dev/null)" \
	eval '[ "$(nhb)" = "$nb" ] && curl -sf -m 5 -o /dev/null --unix-socket "$SOCK" http://berth/_ping'

# --- SIGKILL during an update, restart: old or new, never a mix ------------------------------------------
# Both containers change in every revision (their env), so after any cut both
# carry the same revision label: the new one (applied) or the last applied
# one (rolled back, or the update dropped). The old containers take about a
# second to stop (a wider "replacing" window). Odd rounds kill the daemon
# alone (its update child lives on as an orphan), even ones the daemon and
# its fleet children (as a power cut would).
# (a restart also ends the hour-long wait busy:1000000 asked for)
daemon_kill all
nb=$(nhb)
daemon_start || notok "daemon restarts" "$(tail -3 "$W/daemon.log")"
wait_for 10 nhb_ge $((nb + 1))
desired "$(doc k0 web "$REF" REV=k0 "$SLOWSTOP" db "$REF" REV=k0 "$SLOWSTOP")"
wait_for 30 rev_is "k0 applied"
cur=k0
expect "kill loop: base revision k0 applied" "last $(last_rev), $(ctrs)" \
	test "$(last_rev)|$(ctrs)" = "k0 applied|db=running:k0 web=running:k0"
i=0
for delay in 0.3 0.8 1.3 1.8 2.3 2.8 3.5 4.5; do
	i=$((i + 1))
	rev=k$i
	how=one
	[ $((i % 2)) = 0 ] && how=all
	desired "$(doc $rev web "$REF" REV=$rev "$SLOWSTOP" db "$REF" REV=$rev "$SLOWSTOP")"
	sleep "$delay"
	step=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' "$ROOT/fleet/journal.json" 2>/dev/null)
	daemon_kill "$how"
	if ! daemon_start; then
		# an update child of the killed daemon may still hold the data root's
		# lock: say so, then start once it is gone
		notok "kill -9 ($how) ${delay}s after serving $rev: the daemon restarts at once" \
			"$(tail -1 "$W/daemon.log"); still running: $(for p in $(fleet_kids); do echo "$p:$(title "$p")"; done)"
		wait_for 60 eval '[ -z "$(fleet_kids)" ]'
		daemon_start || notok "kill loop: daemon restarts after kill -9" "$(tail -3 "$W/daemon.log")"
	fi
	# settled: the device reported this revision (applied or rolled back) and
	# no update runs; a cut while pulling makes it fetch the revision again
	wait_for 40 eval 'idle_dev && { rev_is "$rev applied" || rev_is "$rev rolled-back"; }'
	sleep 0.5
	got=$(last_rev)
	[ "$got" = "$rev applied" ] && cur=$rev
	c=$(ctrs)
	expect "kill -9 ($how) ${delay}s after serving $rev (journal step '${step:-none}'): settles on one revision ($got), all containers of $cur, no .prev" \
		"last '$got', containers: $c" \
		eval '{ [ "$got" = "$rev applied" ] || [ "$got" = "$rev rolled-back" ]; } && [ "$c" = "db=running:$cur web=running:$cur" ]'
done

# --- a cut update whose process still holds the lock when the daemon starts ----------------------
# (a killed process lets go of its files only once it has died; one stuck in
# the kernel holds them a while): the restarted daemon must not give the
# journal up but recover once the lock is free. flock(1) plays that process.
rev=k9
desired "$(doc $rev web "$REF" REV=$rev "$SLOWSTOP" db "$REF" REV=$rev "$SLOWSTOP")"
wait_for 20 eval '[ "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[\"step\"])" "$ROOT/fleet/journal.json" 2>/dev/null)" = replacing ]'
sleep 0.3
daemon_kill all
flock -x "$ROOT/fleet/update.lock" sleep 2 &
HOLDER=$!
sleep 0.2
daemon_start || notok "lock held at restart: the daemon restarts at once" "$(tail -3 "$W/daemon.log")"
sleep 1
expect "lock held at restart: the journal waits (not dropped) while another process holds the lock" \
	"journal $(cat "$ROOT/fleet/journal.json" 2>/dev/null)" test -e "$ROOT/fleet/journal.json"
wait "$HOLDER"
wait_for 40 eval 'idle_dev && { rev_is "$rev applied" || rev_is "$rev rolled-back"; }'
sleep 0.5
got=$(last_rev)
[ "$got" = "$rev applied" ] && cur=$rev
c=$(ctrs)
expect "lock held at restart, then freed: recovered to one revision ($got), all containers of $cur, no .prev" \
	"last '$got', containers: $c" \
	eval '{ [ "$got" = "$rev applied" ] || [ "$got" = "$rev rolled-back" ]; } && [ "$c" = "db=running:$cur web=running:$cur" ]'

# --- end ------------------------------------------------------------------------------------------
expect "the whole run stayed under 4 minutes" "took $(since "$T_START") s" \
	eval 'awk -v t="$(since "$T_START")" "BEGIN { exit !(t < 240) }"'
echo "# fleet test took $(since "$T_START") s"
CLEANUP_CHECK=1
finish
