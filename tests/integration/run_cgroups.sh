# berth run's core on the two cgroup layouts the host does not have, each in a
# private mount namespace (a holder process; every berth call enters it):
#   v1: the host's v1 controllers with the cgroup2 mount removed;
#   v2: cgroup2 alone at /sys/fs/cgroup. On this host memory, cpu and pids
#       stay bound to v1, so the v2 hierarchy holds no controller: only what
#       needs none is exercised for real (cgroup.procs, cgroup.freeze,
#       cgroup.kill, create/remove); -m, --cpus, --pids-limit must fail with
#       125. The v2 limit files are covered by the unit tests.
# run.sh covers the host's own (hybrid) layout.
. "$(dirname "$0")/lib"
. "$(dirname "$0")/fixtures/registry.sh"
. "$(dirname "$0")/fixtures/images.sh"

[ "$(id -u)" = 0 ] || { skip "run_cgroups" "needs root (mount namespaces, cgroups)"; finish; }
for tool in docker-registry skopeo umoci unshare nsenter setpriv python3; do
	command -v "$tool" >/dev/null || { notok "run_cgroups" "$tool is not installed (run scripts/bootstrap)"; finish; }
done
grep -q ' /sys/fs/cgroup/memory .* cgroup ' /proc/self/mountinfo || grep -q ' - cgroup2 ' /proc/self/mountinfo ||
	{ skip "run_cgroups" "no cgroup mounts on this host"; finish; }

W=$(mktemp -d /tmp/berth-runcg.XXXXXX)
HOLDERS=()
ALL_IDS=()
NS_PID=""
R=""

cleanup() {
	local h c
	for h in "${HOLDERS[@]}"; do
		NS_PID=${h%%:*} R=${h#*:}
		# only a holder still alive (its pid not reused)
		[ "$(tr '\0' ' ' 2>/dev/null <"/proc/$NS_PID/cmdline")" = "sleep 100000 " ] || continue
		for c in $(bq ps -aq --no-trunc 2>/dev/null); do bq rm -f -v "$c" >/dev/null 2>&1; done
		kill -KILL "$NS_PID" 2>/dev/null
		wait "$NS_PID" 2>/dev/null
	done
	for c in "${ALL_IDS[@]}"; do
		[ ${#c} -ge 12 ] || continue
		find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d -path "*/berth/$c*" -exec rmdir {} + 2>/dev/null
	done
	registry_stop_all
	rm -rf "$W"
}
trap cleanup EXIT

export BERTH_CONFIG=$W/cfg
mkdir -p "$BERTH_CONFIG"
NL=$'\n'

# ns_start NAME SETUP: a holder process in a new private mount namespace
# after running SETUP (bash) there; sets NS_PID, and R to a data root of its own.
ns_start() {
	local name=$1 setup=$2 i
	rm -f "$W/$name.ready"
	setpriv --pdeathsig KILL -- unshare -m --propagation private \
		bash -c "$setup && touch '$W/$name.ready' && exec sleep 100000" >"$W/$name.log" 2>&1 &
	NS_PID=$!
	R=$W/root-$name
	HOLDERS+=("$NS_PID:$R")
	for ((i = 0; i < 100; i++)); do
		[ -e "$W/$name.ready" ] && { bq pull -q "$IMG" >/dev/null 2>&1; return 0; }
		kill -0 "$NS_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "# $name: $(cat "$W/$name.log")"
	return 1
}
ns() { nsenter -t "$NS_PID" -m -- "$@"; }
bq() { nsenter -t "$NS_PID" -m -- "${RUNNER[@]}" "$BERTH" --root "$R" "$@"; }
b() {
	local o e
	o=$(mktemp) e=$(mktemp)
	bq "$@" >"$o" 2>"$e"
	RC=$?
	OUT=$(cat "$o") ERR=$(cat "$e")
	rm -f "$o" "$e"
}
ins() { bq inspect -f "$2" "$1" 2>/dev/null; }
t() {
	local name="$L: $1" why=$2
	local err=$ERR
	[ ${#err} -le 300 ] || err=...${err: -300}
	if eval "$3"; then ok "$name"; else notok "$name" "$why (rc=$RC out='${OUT:0:300}' err='$err')"; fi
}
lines() { [ -z "$1" ] && echo 0 || printf '%s\n' "$1" | wc -l; }
one_error_line() { [ "$(lines "$ERR")" = 1 ] && [[ "$ERR" == "berth: error: "* ]]; }
wait_for() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		eval "$2" && return 0
		sleep 0.1
	done
	eval "$2"
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
ctrs() { ls -A "$R/containers" 2>/dev/null | grep -v '^\.lock$'; }
root_mounts() { grep -cF "$R" "/proc/$NS_PID/mountinfo"; }
mons() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = berth-monitor ] || continue
		{ tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "--root $R "; } ||
			ls -l "$p/fd" 2>/dev/null | grep -qF -- "-> $R/" && echo "${p#/proc/}"
	done
}
# host view: every hierarchy is shared with the namespaces
cg_of() { [ -n "$1" ] && find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d -path "*/berth/$1*" 2>/dev/null; }
remember() { ALL_IDS+=("$@"); }
# alive PID: running (a zombie counts as dead)
alive() { local st; st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) && [ "${st:0:1}" != Z ]; }

registry_start plain http || { notok "registry" "could not start docker-registry"; finish; }
printf '{"insecure-registries": ["%s"]}\n' "$REG_PLAIN_HOST" >"$BERTH_CONFIG/daemon.json"
img_run plain test/run:1 || { notok "fixture" "img_run failed"; finish; }
IMG=$IMG_REF

# common LAYOUT-LABEL: what works on every layout
common() {
	b run --rm "$IMG" sh -c 'echo hello; exit 3'
	t "run: output and exit code" "wrong" '[ "$RC" = 3 ] && [ "$OUT" = hello ]'
	b create --name cr "$IMG" sh -c 'echo started; exit 6'
	remember "$OUT"
	t "create: no process, no cgroup" "wrong" '[ "$(ins cr "{{.State.Status}}")" = created ] && [ -z "$(cg_of "$OUT")" ]'
	b start -a cr
	t "start -a" "wrong" '[ "$RC" = 6 ] && [ "$OUT" = started ]'
	bq rm cr >/dev/null

	# a counter that stops while frozen
	id=$(bq run -d --name pz "$IMG" sh -c 'trap "exit 42" TERM; i=0; while :; do i=$((i+1)); echo $i >/tmp/c; sleep 0.05; done')
	remember "$id"
	pid=$(ins pz '{{.State.Pid}}')
	t "run -d: a cgroup berth/<id>" "pid=$pid" '[ -n "$(cg_of "$id")" ] && [ "$pid" -gt 0 ]'
	cnt() { cat "/proc/$pid/root/tmp/c" 2>/dev/null; }
	wait_for 5 '[ -n "$(cnt)" ]'
	b exec pz sh -c 'cat /proc/self/cgroup'
	t "exec joins the container's cgroups" "wrong" '[ "$RC" = 0 ] && [ -n "$OUT" ] && ! grep -v ":/$" <<<"$OUT" | grep -q .'
	b top pz
	t "top" "wrong" '[ "$RC" = 0 ] && grep -qw "$pid" <<<"$OUT"'
	b stats --no-stream
	t "stats --no-stream" "wrong" '[ "$RC" = 0 ] && grep -qE "^${id:0:12} +pz " <<<"$OUT"'
	b pause pz
	t "pause: status paused" "wrong" '[ "$RC" = 0 ] && [ "$(ins pz "{{.State.Status}}")" = paused ]'
	pause_check
	sleep 0.2
	a=$(cnt)
	sleep 0.6
	t "pause: no progress" "counter $a -> $(cnt)" '[ -n "$a" ] && [ "$a" = "$(cnt)" ]'
	b unpause pz
	a=$(cnt)
	t "unpause: progress again" "counter $a" '[ "$RC" = 0 ] && wait_for 5 "[ \"\$(cnt)\" != \"$a\" ]"'
	unpause_check
	s=$(now_ms)
	b stop -t 10 pz
	e=$(now_ms)
	t "stop: TERM, the container's own exit code" "took $((e - s)) ms" \
		'[ "$RC" = 0 ] && [ $((e - s)) -lt 5000 ] && [ "$(ins pz "{{.State.ExitCode}}")" = 42 ]'
	t "the cgroup is removed when the container exits" "$(cg_of "$id")" 'wait_for 3 "[ -z \"\$(cg_of $id)\" ]"'
	b start pz
	bq pause pz >/dev/null
	b rm -f pz
	t "rm -f of a paused container: gone, cgroup removed" "$(cg_of "$id")" \
		'[ "$RC" = 0 ] && ! bq inspect pz >/dev/null 2>&1 && wait_for 3 "[ -z \"\$(cg_of $id)\" ]"'

	id=$(bq run -d --name kk "$IMG" sh -c 'sleep 100 & sleep 100 & wait')
	remember "$id"
	# a process of ours moved into the container's cgroups, outside its pid
	# namespace: only a kill of the whole cgroup (v2: cgroup.kill) reaches it
	sleep 1000 &
	local stray=$! d
	disown "$stray"
	for d in $(cg_of "$id"); do echo "$stray" >"$d/cgroup.procs"; done
	b kill kk
	t "kill: 137, every process gone, cgroup removed" "$(cg_of "$id")" \
		'[ "$RC" = 0 ] && wait_for 5 "[ \"\$(ins kk \"{{.State.ExitCode}}\")\" = 137 ] && [ -z \"\$(cg_of $id)\" ]"'
	t "a process moved into the container's cgroup dies with it" "pid $stray alive" 'wait_for 5 "! alive $stray"'
	[ "$(tr '\0' ' ' 2>/dev/null <"/proc/$stray/cmdline")" != "sleep 1000 " ] || kill -KILL "$stray"
	bq rm kk >/dev/null

	local c0 m0 hosts=() h bad=0 leaked=""
	c0=$(ctrs) m0=$(root_mounts)
	for ((i = 0; i < 20; i++)); do
		h=$(bq run --rm "$IMG" hostname) || bad=$((bad + 1))
		hosts+=("$h")
	done
	for h in "${hosts[@]}"; do [ -n "$h" ] && leaked+=$(cg_of "$h"); done
	t "20 run --rm cycles succeed" "$bad failed" '[ "$bad" = 0 ]'
	t "20 cycles: no cgroup left" "${leaked:0:200}" '[ -z "$leaked" ]'
	t "20 cycles: no mount left" "$(grep -F "$R" "/proc/$NS_PID/mountinfo" | head -2)" '[ "$m0" = "$(root_mounts)" ]'
	t "20 cycles: containers/ as before" "new: $(comm -13 <(echo "$c0") <(ctrs) | wc -l) entries" '[ "$c0" = "$(ctrs)" ]'
	t "20 cycles: no berth-monitor left" "$(mons)" 'wait_for 3 "[ -z \"\$(mons)\" ]"'
}

# --- pure v1 ----------------------------------------------------------------------
L=v1
if ! grep -q ' /sys/fs/cgroup/memory .* cgroup ' /proc/self/mountinfo; then
	skip "v1" "the host has no cgroup v1 memory hierarchy"
elif ! ns_start v1 'if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi; ! grep -q " - cgroup2 " /proc/self/mountinfo'; then
	notok "v1" "could not make a mount namespace without cgroup2"
else
	pause_check() { t "pause: freezer.state FROZEN" "$(cat /sys/fs/cgroup/freezer/berth/$id/freezer.state 2>&1)" \
		'[ "$(cat /sys/fs/cgroup/freezer/berth/$id/freezer.state)" = FROZEN ]'; }
	unpause_check() { t "unpause: freezer.state THAWED" "wrong" '[ "$(cat /sys/fs/cgroup/freezer/berth/$id/freezer.state)" = THAWED ]'; }
	common

	b run --name oom -m 32m "$IMG" sh -c 'x=a; while :; do x=$x$x; done'
	t "memory hog under -m 32m: 137, OOMKilled" "$(ins oom '{{.State.OOMKilled}}')" \
		'[ "$RC" = 137 ] && [ "$(ins oom "{{.State.OOMKilled}}")" = true ]'
	remember "$(ins oom '{{.Id}}')"
	bq rm oom >/dev/null
	b run --rm --pids-limit 10 "$IMG" sh -c 'sh -c "while :; do sleep 30 & done" 2>/dev/null; set -- /proc/[0-9]*; echo $#'
	t "--pids-limit 10 stops a fork loop" "wrong" '[ "$RC" = 0 ] && [ "$OUT" -le 10 ] && [ "$OUT" -ge 3 ]'
	id=$(bq run -d -m 64m --cpus 0.5 --cpu-shares 512 --pids-limit 20 "$IMG" sleep 60)
	remember "$id"
	pid=$(ins "$id" '{{.State.Pid}}')
	v() { cat "/sys/fs/cgroup/$1/berth/$id/$2" 2>/dev/null; }
	t "limits in the v1 files (memory, cfs quota, shares)" "$(v memory memory.limit_in_bytes) $(v cpu cpu.cfs_quota_us) $(v cpu cpu.shares)" \
		'[ "$(v memory memory.limit_in_bytes)" = 67108864 ] && [ "$(v cpu cpu.cfs_quota_us)" = 50000 ] && [ "$(v cpu cpu.shares)" = 512 ]'
	t "--pids-limit with -m and --cpus: pids.max 20" "pids.max=$(v pids pids.max)" '[ "$(v pids pids.max)" = 20 ]'
	in_cgs() { local c; for c in memory pids freezer cpu; do grep -qx "$pid" "/sys/fs/cgroup/$c/berth/$id/cgroup.procs" || return 1; done; }
	t "pid 1 in the memory, pids, freezer and cpu cgroups" "pid=$pid" in_cgs
	t "no cgroup2 directory made" "exists" '[ ! -e /sys/fs/cgroup/unified/berth/$id ]'
	bq rm -f "$id" >/dev/null
	t "rm -f: no cgroup left in any hierarchy" "$(cg_of "$id")" 'wait_for 3 "[ -z \"\$(cg_of $id)\" ]"'
fi

# --- cgroup2 only -------------------------------------------------------------------
L=v2
if ! grep -qw cgroup2 /proc/filesystems; then
	skip "v2" "the kernel has no cgroup2"
elif ! ns_start v2 'umount -R /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && [ "$(grep -c " - cgroup" /proc/self/mountinfo)" = 1 ]'; then
	notok "v2" "could not mount cgroup2 alone at /sys/fs/cgroup"
else
	ctl=$(ns cat /sys/fs/cgroup/cgroup.controllers)
	echo "# v2 controllers available here: '${ctl}'"
	pause_check() {
		t "pause: cgroup.freeze 1, cgroup.events frozen 1" "$(ns cat /sys/fs/cgroup/berth/$id/cgroup.events 2>&1 | tr '\n' ' ')" \
			'[ "$(ns cat /sys/fs/cgroup/berth/$id/cgroup.freeze)" = 1 ] && wait_for 3 "ns grep -qx \"frozen 1\" /sys/fs/cgroup/berth/$id/cgroup.events"'
	}
	unpause_check() { t "unpause: cgroup.freeze 0" "wrong" '[ "$(ns cat /sys/fs/cgroup/berth/$id/cgroup.freeze)" = 0 ]'; }
	id=$(bq run -d --name where "$IMG" sleep 60)
	remember "$id"
	pid=$(ins where '{{.State.Pid}}')
	t "the container's cgroup is berth/<id> in cgroup2; pid 1 in cgroup.procs" "pid=$pid" \
		'ns grep -qx "$pid" /sys/fs/cgroup/berth/$id/cgroup.procs'
	t "no v1 directory made" "$(ls -d /sys/fs/cgroup/*/berth/$id 2>/dev/null | grep -v /unified/)" \
		'[ -z "$(ls -d /sys/fs/cgroup/*/berth/$id 2>/dev/null | grep -v /unified/)" ]'
	bq rm -f where >/dev/null
	common
	for f in "-m 32m:memory" "--pids-limit 10:pids" "--cpus 0.5:cpu" "--cpu-shares 512:cpu"; do
		opt=${f%:*} want=${f##*:}
		case " $ctl " in *" $want "*)
			skip "v2: $opt" "the $want controller is available in cgroup2 here (the 125 check is for hosts without it)"
			continue
			;;
		esac
		c0=$(ctrs)
		# shellcheck disable=SC2086
		b run --rm $opt "$IMG" true
		t "$opt without a $want controller: 125, one line naming it" "wrong" \
			'[ "$RC" = 125 ] && one_error_line && grep -q "$want" <<<"$ERR"'
		t "$opt: nothing left behind" "new: $(comm -13 <(echo "$c0") <(ctrs) | tr '\n' ' ')" '[ "$c0" = "$(ctrs)" ]'
	done
fi

# cgroup2 mounted over a tmpfs over the old tree: /proc/self/mountinfo still
# lists the hidden v1 and cgroup2 mounts; only the top one counts.
L=v2-overmounted
if grep -qw cgroup2 /proc/filesystems &&
	ns_start v2o 'mount -t tmpfs none /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup'; then
	b run --rm "$IMG" sh -c 'echo hello'
	t "run works (hidden mounts ignored)" "wrong" '[ "$RC" = 0 ] && [ "$OUT" = hello ]'
	c0=$(ctrs)
	b run -d --name ovr "$IMG" sleep 60
	id=$OUT
	remember "$id"
	t "the container's cgroup is in the visible cgroup2" "wrong" \
		'[ "$RC" = 0 ] && ns grep -qx "$(ins ovr "{{.State.Pid}}")" /sys/fs/cgroup/berth/$id/cgroup.procs'
	bq rm -f ovr >/dev/null 2>&1
fi

finish
