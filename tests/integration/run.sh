# berth run and the container commands (issue 4) on the host's cgroup layout,
# as root with the real kernel: exit codes, image config and flags, namespaces,
# masked paths, capabilities, limits, volumes, logs, exec, stop/kill/pause,
# the monitor, pty mode, and no leaks (mounts, cgroups, fds, processes, files)
# after errors, rm and 100 run --rm cycles. run_cgroups.sh repeats the core on
# pure v1 and cgroup2-only layouts.
. "$(dirname "$0")/lib"
. "$(dirname "$0")/fixtures/registry.sh"
. "$(dirname "$0")/fixtures/images.sh"

[ "$(id -u)" = 0 ] || { skip "run" "needs root (namespaces, mounts, cgroups)"; finish; }
for tool in docker-registry skopeo umoci unshare tmux python3; do
	command -v "$tool" >/dev/null || { notok "run" "$tool is not installed (run scripts/bootstrap)"; finish; }
done

W=$(mktemp -d /tmp/berth-run.XXXXXX)
R=$W/root
TSOCK=berth-run-$$
BG=()      # background processes started here
ALL_IDS=() # every container id seen, to clear leftovers of a failed run

cleanup() {
	local c p m
	tmux -L "$TSOCK" kill-server >/dev/null 2>&1
	for p in "${BG[@]}"; do # only if still ours (a berth run of this data root)
		tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF -- "--root $R " && kill -KILL "$p"
	done
	if [ -d "$R/containers" ]; then
		for c in $(bq ps -aq --no-trunc 2>/dev/null); do bq rm -f -v "$c" >/dev/null 2>&1; done
	fi
	for p in $(mons); do kill -KILL "$p" 2>/dev/null; done
	# cgroups a buggy run left behind (empty ones only; ids of this test only)
	for c in "${ALL_IDS[@]}"; do
		[ ${#c} -ge 12 ] || continue
		find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d -path "*/berth/$c*" -exec rmdir {} + 2>/dev/null
	done
	registry_stop_all
	# never rm -rf through a mount point
	grep -F "$W" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$W"
}
trap cleanup EXIT

export BERTH_CONFIG=$W/cfg
mkdir -p "$BERTH_CONFIG" "$W/host"

b() { run --root "$R" "$@"; }
bq() { "${RUNNER[@]}" "$BERTH" --root "$R" "$@"; }
ins() { bq inspect -f "$2" "$1" 2>/dev/null; }
# t NAME WHY EXPR: ok if EXPR (evaluated) is true.
t() {
	local name=$1 why=$2
	local err=$ERR
	[ ${#err} -le 300 ] || err=...${err: -300}
	if eval "$3"; then ok "$name"; else notok "$name" "$why (rc=$RC out='${OUT:0:300}' err='$err')"; fi
}
lines() { [ -z "$1" ] && echo 0 || printf '%s\n' "$1" | wc -l; }
one_error_line() { [ "$(lines "$ERR")" = 1 ] && [[ "$ERR" == "berth: error: "* ]]; }
# wait_for SECONDS EXPR: polls EXPR every 0.1 s.
wait_for() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		eval "$2" && return 0
		sleep 0.1
	done
	eval "$2"
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# the data root's entries (dot entries too), one a line
ctrs() { ls -A "$R/containers" 2>/dev/null | grep -v '^\.lock$'; }
vols() { ls -A "$R/volumes" 2>/dev/null | grep -v '^\.lock$'; }
root_mounts() { grep -cF "$R" /proc/self/mountinfo; }
# berth-monitor processes of this data root (by command line or open files)
mons() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(cat "$p/comm" 2>/dev/null)" = berth-monitor ] || continue
		{ tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "--root $R "; } ||
			ls -l "$p/fd" 2>/dev/null | grep -qF -- "-> $R/" && echo "${p#/proc/}"
	done
}
# container cgroup directories (berth/<id> in every hierarchy)
cg_list() { find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d -path '*/berth/*' 2>/dev/null | sort; }
cg_of() { [ -n "$1" ] && find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d -path "*/berth/$1*" 2>/dev/null; }
# cg_leaked BEFORE: berth cgroups made since BEFORE (a cg_list) that hold no
# process (other berth users on this host may run containers meanwhile).
cg_leaked() {
	local d
	for d in $(comm -13 <(printf '%s\n' "$1") <(cg_list)); do
		[ -s "$d/cgroup.procs" ] || echo "$d"
	done
}
remember() { ALL_IDS+=("$@"); }
# alive PID: running (a zombie counts as dead)
alive() { local st; st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) && [ "${st:0:1}" != Z ]; }
hex64() { [[ "$1" =~ ^[0-9a-f]{64}$ ]]; }
NL=$'\n'
cap_of() { sed -n "s/^$1:[[:space:]]*//p" <<<"$2"; }

registry_start plain http || { notok "registry" "could not start docker-registry"; finish; }
printf '{"insecure-registries": ["%s"]%s}\n' "$REG_PLAIN_HOST" "${RUN_STORAGE_DRIVER:+, \"storage-driver\": \"$RUN_STORAGE_DRIVER\"}" >"$BERTH_CONFIG/daemon.json"
img_run plain test/run:1 || { notok "fixture" "img_run failed"; finish; }
IMG=$IMG_REF
img_run_ep plain test/run-ep:1 || { notok "fixture" "img_run_ep failed"; finish; }
EP=$IMG_REF
img_many plain test/many:45 45 || { notok "fixture" "img_many failed"; finish; }
MANY=$IMG_REF

# --- exit codes ----------------------------------------------------------------
b run --rm "$IMG" sh -c 'echo hello'
t "run pulls a missing image and runs it: exit 0" "wrong" '[ "$RC" = 0 ] && [ "$OUT" = hello ]'
b run --rm "$IMG" sh -c 'exit 3'
t "exit code is the command's (3)" "wrong" '[ "$RC" = 3 ]'
b run --rm "$IMG" /etc/passwd
t "not executable: 126, one line" "wrong" '[ "$RC" = 126 ] && one_error_line'
b run --rm "$IMG" /etc
t "a directory as command: 126" "wrong" '[ "$RC" = 126 ]'
b run --rm "$IMG" nosuchcmd
t "command not found: 127, one line" "wrong" '[ "$RC" = 127 ] && one_error_line'
b run --rm "$IMG" /no/such/path
t "missing path: 127" "wrong" '[ "$RC" = 127 ]'

b create --name dup "$IMG" true
remember "$OUT"
# fails NAME CMD...: berth fails with 125, one error line, nothing left behind
fails() {
	local name=$1 c0 v0 m0 g0 last
	shift
	c0=$(ctrs) v0=$(vols) m0=$(root_mounts) g0=$(cg_list)
	b "$@"
	last=$(tail -n1 <<<"$ERR")
	t "$name: exit 125, one error line" "wrong" \
		'[ "$RC" = 125 ] && [ "$(grep -c "^berth: error: " <<<"$ERR")" = 1 ] && [[ "$last" == "berth: error: "* ]] && [ -z "$OUT" ]'
	t "$name: no container directory left" "new: $(comm -13 <(echo "$c0") <(ctrs) | tr '\n' ' ')" '[ "$c0" = "$(ctrs)" ]'
	t "$name: no volume left" "new: $(comm -13 <(echo "$v0") <(vols) | tr '\n' ' ')" '[ "$v0" = "$(vols)" ]'
	t "$name: no mount left" "mounts: $(grep -F "$R" /proc/self/mountinfo | head -3)" '[ "$m0" = "$(root_mounts)" ]'
	t "$name: no cgroup left" "$(cg_leaked "$g0" | head -3)" 'wait_for 3 "[ -z \"\$(cg_leaked \"\$g0\")\" ]"'
}
fails "bad flag" run --rm --bogus "$IMG" true
fails "missing image" run --rm "$REG_PLAIN_HOST/test/nope:1" true
fails "volume path that does not exist" run --rm -v "$W/nonexistent:/x" "$IMG" true
fails "name in use" run --name dup "$IMG" true
fails "unknown user" run --rm -u nosuchuser "$IMG" true
fails "memory below the minimum" run --rm -m 1k "$IMG" true
fails "invalid container name" run --rm --name 'bad name!' "$IMG" true
b rm dup

c0=$(ctrs)
b run --rm "$IMG" nosuchcmd
t "--rm after a 127 leaves no container directory" "new: $(comm -13 <(echo "$c0") <(ctrs) | tr '\n' ' ')" '[ "$c0" = "$(ctrs)" ]'

# --- image config, env, entrypoint, user, workdir ------------------------------
FROM_HOST=from-the-host b run --rm -e FOO=override -e FROM_HOST -e UNSET_IN_HOST "$IMG" \
	sh -c 'echo "$FOO|$FROM_HOST|${UNSET_IN_HOST-unset}|$PATH"'
t "env: -e overrides the image, -e NAME takes the host's, unset stays unset" "wrong" \
	'[ "$OUT" = "override|from-the-host|unset|/usr/sbin:/usr/bin:/sbin:/bin" ]'
b run --rm "$IMG" sh -c 'echo "$FOO|$HOME|$HOSTNAME"'
t "env: image Env, HOME and HOSTNAME" "wrong" '[[ "$OUT" == "from-image|/root|"?* ]]'
printf 'A=1\n# a comment\n\nB=two words\nFOO=from-file\n' >"$W/envfile"
b run --rm --env-file "$W/envfile" -e A=flag "$IMG" sh -c 'echo "$A|$B|$FOO"'
t "--env-file: comments and blank lines skipped, values with spaces, -e wins" "wrong" \
	'[ "$OUT" = "flag|two words|from-file" ]'
b run --rm "$EP"
t "image Entrypoint + Cmd" "wrong" '[ "$RC" = 0 ] && [ "$OUT" = "ep default" ]'
b run --rm "$EP" a b
t "arguments replace Cmd, keep Entrypoint" "wrong" '[ "$OUT" = "ep a b" ]'
b run --rm --entrypoint /bin/sh "$EP" -c 'echo "$(id -u) $(pwd)"'
t "--entrypoint replaces it; image User and WorkingDir apply" "wrong" '[ "$OUT" = "1000 /home/app" ]'
b run --rm --entrypoint /bin/echo "$IMG"
t "--entrypoint drops the image Cmd" "wrong" '[ "$RC" = 0 ] && [ "$OUT" = "" ]'
b run --rm -u app "$IMG" sh -c 'echo "$(id -u):$(id -g) $(id -G) $HOME"'
t "-u name: uid, gid, supplementary groups from /etc/group, HOME" "wrong" \
	'set -- $OUT; [ "$1" = 1000:1000 ] && [[ " $* " == *" 29 "* ]] && [[ " $* " == *" 44 "* ]] && [ "${!#}" = /home/app ]'
b run --rm -u 1000 "$IMG" id -un
t "-u uid resolves the name" "wrong" '[ "$OUT" = app ]'
b run --rm -u 1000:44 "$IMG" sh -c 'echo $(id -u):$(id -g)'
t "-u uid:gid" "wrong" '[ "$OUT" = 1000:44 ]'
b run --rm -u 4242:4343 "$IMG" sh -c 'echo $(id -u):$(id -g)'
t "-u uid:gid not in /etc/passwd" "wrong" '[ "$OUT" = 4242:4343 ]'
b run --rm -u nobody "$IMG" sh -c 'touch /root/x 2>/dev/null; echo $?'
t "-u nobody cannot write root's 0700 home" "wrong" '[ "$OUT" = 1 ]'
b run --rm -w /tmp/new/dir "$IMG" pwd
t "-w creates and enters the directory" "wrong" '[ "$RC" = 0 ] && [ "$OUT" = /tmp/new/dir ]'
b run --rm -w /home/app -u app "$IMG" sh -c 'touch mine && stat -c %u mine'
t "-w with -u: files owned by the user" "wrong" '[ "$OUT" = 1000 ]'

# --- namespaces, hostname, /etc, /dev --------------------------------------------
cmd='echo $$; tr "\0" " " </proc/1/cmdline; true'
b run --rm "$IMG" sh -c "$cmd"
t "the command is pid 1" "wrong" '[ "$OUT" = "1${NL}sh -c $cmd " ]'
b run --rm "$IMG" sh -c 'ls /proc | grep -c "^[0-9]"'
t "pid namespace: only the container's processes" "wrong" '[ "$OUT" -le 3 ]'
b run --rm --hostname myhost "$IMG" sh -c 'hostname; grep -c "[[:space:]]myhost$" /etc/hosts; cat /etc/hostname'
t "--hostname sets the hostname, /etc/hosts and /etc/hostname" "wrong" '[ "$OUT" = "myhost${NL}1${NL}myhost" ]'
b run --rm -h short "$IMG" hostname
t "-h is run's short --hostname" "wrong" '[ "$RC" = 0 ] && [ "$OUT" = short ]'
id=$(bq run -d "$IMG" sh -c 'hostname; grep -c "[[:space:]]$(hostname)$" /etc/hosts; grep -c "^127.0.0.1[[:space:]]*localhost" /etc/hosts')
remember "$id"
bq wait "$id" >/dev/null
b logs "$id"
t "default hostname is the id's first 12 characters, in /etc/hosts with localhost" "id=$id" \
	'[ "$OUT" = "${id:0:12}""${NL}1${NL}1" ]'
bq rm -v "$id" >/dev/null
b run --rm "$IMG" sh -c 'test -s /etc/resolv.conf -o -f /etc/resolv.conf && echo ok'
t "/etc/resolv.conf exists" "wrong" '[ "$OUT" = ok ]'
b run --rm "$IMG" sh -c 'for d in null zero full random urandom tty ptmx; do test -c /dev/$d || echo "no $d"; done
	for d in pts shm mqueue; do test -d /dev/$d || echo "no $d"; done
	echo x >/dev/null && head -c 4 /dev/zero | od -An -tx1 | tr -d " "
	echo x >/dev/full 2>/dev/null || echo full-refused
	ls /dev | grep -c -E "^(sd|vd|nvme|mem$|kmsg$)"'
t "/dev: the usual nodes only, null/zero/full behave" "wrong" '[ "$OUT" = "00000000${NL}full-refused${NL}0" ]'
b run --rm "$IMG" sh -c 'echo 1 >/sys/kernel/berth 2>/dev/null; echo $?; touch /sys/x 2>/dev/null; echo $?; grep " /sys " /proc/mounts | grep -c "[ ,]ro[ ,]"'
t "/sys is read-only" "wrong" '[ "$OUT" = "1${NL}1${NL}1" ]'
b run --rm "$IMG" sh -c 'echo x >/proc/sys/kernel/hostname 2>/dev/null; echo $?; grep " /proc/sys " /proc/mounts | grep -c "[ ,]ro[ ,]"'
t "/proc/sys is read-only" "wrong" '[ "$OUT" = "1${NL}1" ]'
masked=""
for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/latency_stats /proc/sysrq-trigger; do
	[ -e "$p" ] && masked="$masked $p"
done
b run --rm "$IMG" sh -c 'for p in '"$masked"'; do printf "%s:%s " $p "$(cat $p 2>/dev/null | wc -c)"; done; ls -A /sys/firmware | wc -l'
t "masked paths read empty ($masked /sys/firmware)" "wrong" \
	'[ -n "$OUT" ] && ! grep -qE ":[1-9]" <<<"$OUT" && [ "${OUT##* }" = 0 ]'
b run --rm "$IMG" sh -c 'test -e /proc/kcore && head -c 1 /proc/kcore 2>/dev/null | wc -c || echo 0'
t "/proc/kcore absent, unreadable or empty" "wrong" '[ "$OUT" = 0 ]'
b run --rm --network none "$IMG" sh -c 'awk -F: "NR>2 {gsub(/ /, \"\", \$1); print \$1}" /proc/net/dev | sort | tr "\n" " "'
t "--network none: only lo" "wrong" '[ "$OUT" = "lo " ]'
b run --rm --network host "$IMG" sh -c 'awk -F: "NR>2 {print \$1}" /proc/net/dev | wc -l'
t "--network host sees the host's interfaces" "wrong" '[ "$OUT" = "$(awk "NR>2" /proc/net/dev | wc -l)" ] && [ "$OUT" -gt 1 ]'

# --- capabilities ------------------------------------------------------------------
st() { b run --rm "$@" "$IMG" cat /proc/self/status; }
st
t "default CapEff is docker's set (00000000a80425fb)" "wrong" '[ "$(cap_of CapEff "$OUT")" = 00000000a80425fb ]'
t "default bounding set is the same" "wrong" '[ "$(cap_of CapBnd "$OUT")" = 00000000a80425fb ]'
t "NoNewPrivs is 1 by default" "wrong" '[ "$(cap_of NoNewPrivs "$OUT")" = 1 ]'
st --cap-drop ALL
t "--cap-drop ALL: CapEff 0" "wrong" '[ "$RC" = 0 ] && [ "$(cap_of CapEff "$OUT")" = 0000000000000000 ]'
st --cap-add NET_ADMIN
t "--cap-add NET_ADMIN sets bit 12" "wrong" '[ "$(cap_of CapEff "$OUT")" = 00000000a80435fb ]'
st --cap-drop NET_RAW --cap-drop CAP_CHOWN
t "--cap-drop NET_RAW and CAP_CHOWN clear bits 13 and 0" "wrong" '[ "$(cap_of CapEff "$OUT")" = 00000000a80405fa ]'
st --cap-add SYS_NOPE
t "--cap-add of an unknown capability: 125" "wrong" '[ "$RC" = 125 ] && one_error_line'
host_bnd=$(cap_of CapBnd "$(cat /proc/self/status)")
st --privileged
t "--privileged: all of berth's own capabilities ($host_bnd)" "wrong" \
	'[ "$RC" = 0 ] && [ "$(cap_of CapEff "$OUT")" = "$host_bnd" ]'
t "--privileged: NoNewPrivs 0" "wrong" '[ "$RC" = 0 ] && [ "$(cap_of NoNewPrivs "$OUT")" = 0 ]'
b run --rm --privileged "$IMG" sh -c 'ls -A /sys/firmware | wc -l'
t "--privileged: /sys/firmware not masked" "wrong" '[ "$RC" = 0 ] && [ "$OUT" -gt 0 ]'
# seccomp: docker's default profile refuses these (runtime/seccomp.h)
sc_probe='grep Seccomp: /proc/self/status | tr -d "\t"; unshare -U true 2>/dev/null; echo userns=$?'
if "${RUNNER[@]}" "$BERTH" version | grep -q -- '+seccomp'; then
	b run --rm "$IMG" sh -c "$sc_probe"
	t "seccomp filter by default; a new user namespace is refused" "wrong" \
		'[ "$RC" = 0 ] && [ "$OUT" = "Seccomp:2${NL}userns=1" ]'
	b run --rm --security-opt seccomp=unconfined "$IMG" sh -c "$sc_probe"
	t "--security-opt seccomp=unconfined: no filter" "wrong" '[ "$RC" = 0 ] && [ "$(head -1 <<<"$OUT")" = Seccomp:0 ]'
	b run --rm --privileged "$IMG" sh -c "$sc_probe"
	t "--privileged: no filter" "wrong" '[ "$RC" = 0 ] && [ "$(head -1 <<<"$OUT")" = Seccomp:0 ]'
	b run --rm --cap-add SYS_ADMIN "$IMG" sh -c 'unshare -m true && echo unshared'
	t "--cap-add SYS_ADMIN: unshare allowed, as docker's profile does" "wrong" '[ "$RC" = 0 ] && [ "$OUT" = unshared ]'
	b run --rm "$IMG" sh -c 'unshare -m true 2>&1; echo rc=$?'
	t "without SYS_ADMIN: unshare refused (EPERM)" "wrong" \
		'grep -q "rc=1" <<<"$OUT" && grep -qi "not permitted" <<<"$OUT"'
else
	skip "seccomp" "this build has no CONFIG_SECCOMP"
fi
fails "--security-opt with a profile file" run --rm --security-opt seccomp=/x.json "$IMG" true
st -u app
t "non-root user: CapEff 0, bounding set kept" "wrong" \
	'[ "$(cap_of CapEff "$OUT")" = 0000000000000000 ] && [ "$(cap_of CapBnd "$OUT")" = 00000000a80425fb ]'
b run --rm "$IMG" sh -c 'mkdir /tmp/m && mount -t tmpfs none /tmp/m 2>/dev/null && echo mounted'
t "default caps: mount is refused" "wrong" '[ "$RC" != 0 ] && [ -z "$OUT" ]'
b run --rm --cap-add SYS_ADMIN "$IMG" sh -c 'mkdir /tmp/m && mount -t tmpfs none /tmp/m && echo mounted'
t "--cap-add SYS_ADMIN: mount works" "wrong" '[ "$RC" = 0 ] && [ "$OUT" = mounted ]'

# --- root filesystem -----------------------------------------------------------------
b run --read-only --tmpfs /tmp --tmpfs /run:size=1m --rm "$IMG" sh -c 'touch /x 2>/dev/null; echo $?; touch /tmp/x && echo tmp-ok; grep " /run " /proc/mounts | grep -c size=1024k'
t "--read-only rootfs; --tmpfs /tmp writable; tmpfs options applied" "wrong" '[ "$OUT" = "1${NL}tmp-ok${NL}1" ]'
id=$(bq run -d "$IMG" sh -c 'echo new >/created.txt; rm /etc/passwd')
remember "$id"
bq wait "$id" >/dev/null
if [ "${RUN_STORAGE_DRIVER:-}" = squashfs ]; then
	# the layers are read-only images: nothing can write to them
	lowest=$(ls -d "$R"/layers/sqfs/*.sqfs 2>/dev/null | head -1)
	layer_ok() { [ -n "$lowest" ] && unsquashfs -l "$lowest" 2>/dev/null | grep -q '/etc/passwd$' && ! unsquashfs -l "$lowest" 2>/dev/null | grep -q '/created.txt$'; }
else
	lowest=$(ls -d "$R"/layers/sha256/*/ 2>/dev/null | while read -r d; do [ -e "$d/etc/passwd" ] && echo "$d"; done | head -1)
	layer_ok() { [ -n "$lowest" ] && [ -e "$lowest/etc/passwd" ] && [ ! -e "$lowest/created.txt" ]; }
fi
t "writes go to the container's upper dir (a whiteout for the removed file), the image layer is untouched" \
	"upper: $(cd "$R/containers/$id/upper" 2>/dev/null && find . -path ./dev -prune -o -print | sort | tr '\n' ' '); state $(bq inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$id"); lowest '$lowest'" \
	'[ "$(cat "$R/containers/$id/upper/created.txt" 2>/dev/null)" = new ] && [ -c "$R/containers/$id/upper/etc/passwd" ] && layer_ok'
bq export "$id" >"$W/exp.tar"
RC=$? OUT=$(tar -tf "$W/exp.tar" 2>&1)
t "export: the rootfs as tar, with the container's changes" "wrong" \
	'[ "$RC" = 0 ] && grep -qx bin/busybox <<<"$OUT" && grep -qx created.txt <<<"$OUT" && ! grep -qx etc/passwd <<<"$OUT"'
b export -o "$W/export.tar" "$id"
t "export -o FILE" "wrong" '[ "$RC" = 0 ] && tar -tf "$W/export.tar" | grep -qx bin/sh'
bq rm -v "$id" >/dev/null
t "rm removes the container directory" "left: $(ls -A "$R/containers" | grep "$id")" '! ls -A "$R/containers" | grep -q "$id"'

# many layers: lowerdir longer than a page (4096) must still mount
lower_len=$(($(ls -d "$R"/layers/sha256/* | head -1 | wc -c) * 45))
b run --rm "$MANY" sh -c 'cat /layers/2 /layers/45; ls /layers | wc -l; test -x /bin/busybox && echo bb'
t "45-layer image runs (lowerdir about $lower_len bytes): lowest and highest layers seen" "wrong" \
	'[ "$RC" = 0 ] && [ "$OUT" = "layer 2${NL}layer 45${NL}44${NL}bb" ]'

# --- limits (hybrid: memory, cpu, pids in v1) --------------------------------------
b run --name oom -m 32m "$IMG" sh -c 'x=a; while :; do x=$x$x; done'
t "memory hog under -m 32m: exit 137" "wrong" '[ "$RC" = 137 ]'
t "inspect: OOMKilled true, exited 137" "$(ins oom '{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}')" \
	'[ "$(ins oom "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}")" = "exited 137 true" ]'
bq rm -v oom >/dev/null
remember "$(bq run -d --name nooom -m 32m "$IMG" sleep 100)"
bq kill nooom >/dev/null
b wait nooom
t "killed without OOM: 137 but OOMKilled false" "wrong" \
	'[ "$OUT" = 137 ] && [ "$(ins nooom "{{.State.OOMKilled}}")" = false ]'
bq rm -v nooom >/dev/null
s=$(now_ms)
b run --rm --pids-limit 10 "$IMG" sh -c 'sh -c "while :; do sleep 30 & done" 2>/dev/null; set -- /proc/[0-9]*; echo $#'
e=$(now_ms)
t "--pids-limit 10 stops a fork loop (tasks <= 10), without hanging" "took $((e - s)) ms" \
	'[ "$RC" = 0 ] && [ "$OUT" -le 10 ] && [ "$OUT" -ge 3 ] && [ $((e - s)) -lt 20000 ]'
b run --rm "$IMG" sh -c 'i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); done; set -- /proc/[0-9]*; echo $#'
t "without --pids-limit the same shell starts 20 sleeps" "wrong" '[ "$OUT" -gt 20 ]'
id=$(bq run -d -m 64m --memory-swap 96m --cpus 0.5 --cpu-shares 512 --pids-limit 20 "$IMG" sleep 60)
remember "$id"
pid=$(ins "$id" '{{.State.Pid}}')
cg() { cat "/sys/fs/cgroup/$1/berth/$id/$2" 2>/dev/null; }
if ! grep -q ' /sys/fs/cgroup/memory .* - cgroup ' /proc/self/mountinfo; then
	skip "host cgroup files" "not a v1/hybrid host (run_cgroups.sh covers cgroup2)"
else
t "host cgroup files: memory, memsw, cfs quota/period, shares" \
	"$(cg memory memory.limit_in_bytes) $(cg memory memory.memsw.limit_in_bytes) $(cg cpu cpu.cfs_quota_us)/$(cg cpu cpu.cfs_period_us) $(cg cpu cpu.shares)" \
	'[ "$(cg memory memory.limit_in_bytes)" = 67108864 ] && { [ ! -e /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes ] || [ "$(cg memory memory.memsw.limit_in_bytes)" = 100663296 ]; } && [ "$(cg cpu cpu.cfs_quota_us)" = 50000 ] && [ "$(cg cpu cpu.cfs_period_us)" = 100000 ] && [ "$(cg cpu cpu.shares)" = 512 ]'
t "--pids-limit 20 together with -m and --cpus: pids.max 20" "pids.max=$(cg pids pids.max)" '[ "$(cg pids pids.max)" = 20 ]'
t "the container's pid 1 is in its cgroups (memory, pids, freezer, cgroup2)" "pid=$pid" \
	'grep -qx "$pid" /sys/fs/cgroup/memory/berth/$id/cgroup.procs && grep -qx "$pid" /sys/fs/cgroup/pids/berth/$id/cgroup.procs && grep -qx "$pid" /sys/fs/cgroup/freezer/berth/$id/cgroup.procs && { [ ! -d /sys/fs/cgroup/unified ] || grep -qx "$pid" /sys/fs/cgroup/unified/berth/$id/cgroup.procs; }'
fi
b exec "$id" cat /proc/self/cgroup
t "exec joins the container's cgroups (cgroup namespace root)" "wrong" \
	'[ "$RC" = 0 ] && ! grep -v ":/$" <<<"$OUT" | grep -q .'
sleep 1000 &
stray=$!
disown "$stray"
for d in $(cg_of "$id"); do echo "$stray" >"$d/cgroup.procs"; done
bq rm -f "$id" >/dev/null
t "rm -f removes the cgroups in every hierarchy" "$(cg_of "$id")" 'wait_for 3 "[ -z \"\$(cg_of \"\$id\")\" ]"'
t "rm -f kills a process moved into the container's cgroups" "pid $stray alive" 'wait_for 5 "! alive $stray"'
[ "$(tr '\0' ' ' 2>/dev/null <"/proc/$stray/cmdline")" != "sleep 1000 " ] || kill -KILL "$stray"
b run --rm -m 32m --memory-swap 16m "$IMG" true
t "--memory-swap below --memory: 125" "wrong" '[ "$RC" = 125 ] && one_error_line'

# --- volumes ---------------------------------------------------------------------------
b run --rm -v "$W/host:/mnt" "$IMG" sh -c 'echo from-container >/mnt/f; stat -c %u /mnt/f'
t "bind rw: the host sees the container's write" "wrong" '[ "$RC" = 0 ] && [ "$(cat "$W/host/f" 2>/dev/null)" = from-container ]'
b run --rm -v "$W/host:/mnt:ro" "$IMG" sh -c 'cat /mnt/f; echo x >/mnt/g'
t "bind ro: readable, write fails" "wrong" '[ "$RC" != 0 ] && [ "$OUT" = from-container ] && [ ! -e "$W/host/g" ]'
b run --rm -v nv:/v "$IMG" sh -c 'echo kept >/v/k'
t "named volume created on first use" "wrong" '[ "$RC" = 0 ] && [ "$(cat "$R/volumes/nv/_data/k" 2>/dev/null)" = kept ]'
b volume ls
t "volume ls lists it" "wrong" 'grep -qE "^local +nv$" <<<"$OUT"'
b volume inspect nv
t "volume inspect shows its mountpoint" "wrong" \
	'[ "$RC" = 0 ] && python3 -c "import json,sys; v=json.load(sys.stdin)[0]; sys.exit(not (v[\"Name\"]==\"nv\" and v[\"Mountpoint\"]==sys.argv[1]))" "$R/volumes/nv/_data" <<<"$OUT"'
b run --rm -v nv:/w "$IMG" cat /w/k
t "a new container sees the named volume's data after the first was removed" "wrong" '[ "$OUT" = kept ]'
b run -d --name vuser -v nv:/v "$IMG" sleep 60
remember "$OUT"
b volume rm nv
t "volume rm refused while a container uses it" "wrong" '[ "$RC" != 0 ] && one_error_line && [ -d "$R/volumes/nv/_data" ]'
bq rm -f -v vuser >/dev/null
t "rm -v keeps named volumes" "wrong" '[ -e "$R/volumes/nv/_data/k" ]'
b volume rm nv
t "volume rm once unused: gone without a trace" "left: $(ls -A "$R/volumes")" '[ "$RC" = 0 ] && ! ls -A "$R/volumes" | grep -q nv'
b volume create made
t "volume create" "wrong" '[ "$RC" = 0 ] && [ "$OUT" = made ] && [ -d "$R/volumes/made/_data" ]'
# a new volume gets the image's content at its mount point (docker's copy)
# (the image's /etc, without the files berth mounts there)
b run --rm "$IMG" sh -c 'ls -A /etc | grep -vxE "hostname|hosts|resolv.conf"; stat -c %a:%u /etc'
etc_ls=$OUT
b run --rm -v cu:/etc "$IMG" cat /etc/passwd
t "a new named volume is filled from the image's directory" "ls: $(ls -A "$R/volumes/cu/_data" | tr '\n' ' ')" \
	'[ "$RC" = 0 ] && [ -n "$OUT" ] && [ "$(cat "$R/volumes/cu/_data/passwd")" = "$OUT" ] && [ "$(ls -A "$R/volumes/cu/_data"; stat -c %a:%u "$R/volumes/cu/_data")" = "$etc_ls" ]'
echo mine >"$R/volumes/cu/_data/passwd"
rm -f "$R/volumes/cu/_data/group"
b run --rm -v cu:/etc "$IMG" sh -c 'cat /etc/passwd; ls /etc/group 2>/dev/null'
t "a volume with content is not filled again" "wrong" '[ "$OUT" = mine ]'
b run --rm -v cu2:/etc:nocopy "$IMG" sh -c 'ls -A /etc | wc -l'
t "-v NAME:PATH:nocopy: the volume stays empty" "wrong" '[ "$RC" = 0 ] && [ "$OUT" = 0 ] && [ -z "$(ls -A "$R/volumes/cu2/_data")" ]'
b run --rm -v /etc "$IMG" cat /etc/passwd
t "an anonymous volume is filled too" "wrong" '[ "$RC" = 0 ] && [ -n "$OUT" ] && [ "$OUT" != mine ]'
fails "nocopy on a host path" run --rm -v "$W/host:/mnt:nocopy" "$IMG" true
bq volume rm cu cu2 >/dev/null

v0=$(vols)
id=$(bq run -d -v /anon2 "$IMG" sh -c 'echo a >/data/new; echo b >/anon2/new; grep -c " /data " /proc/self/mountinfo')
remember "$id"
bq wait "$id" >/dev/null
anon=$(comm -13 <(echo "$v0") <(vols))
t "image VOLUME /data and -v /anon2: two anonymous volumes, mounted, hold the writes" "new=$anon" \
	'[ "$(bq logs "$id")" = 1 ] && [ "$(wc -w <<<"$anon")" = 2 ] && cat $(printf "$R/volumes/%s/_data/new " $anon) 2>/dev/null | sort | tr -d "\n" | grep -qx ab'
b inspect -f '{{json .Mounts}}' "$id"
t "inspect Mounts lists the anonymous volumes" "wrong" 'grep -q "\"/data\"" <<<"$OUT" && grep -q "\"/anon2\"" <<<"$OUT"'
b rm -v "$id"
t "rm -v removes the anonymous volumes" "left: $(comm -13 <(echo "$v0") <(vols) | tr '\n' ' ')" '[ "$(vols)" = "$v0" ]'
b run --rm "$IMG" sh -c 'echo x >/data/y'
t "run --rm removes its anonymous volume" "left: $(comm -13 <(echo "$v0") <(vols) | tr '\n' ' ')" '[ "$RC" = 0 ] && [ "$(vols)" = "$v0" ]'
id=$(bq run -d "$IMG" true)
remember "$id"
bq wait "$id" >/dev/null
bq rm "$id" >/dev/null
t "rm without -v keeps the anonymous volume" "wrong" '[ "$(comm -13 <(echo "$v0") <(vols) | wc -l)" = 1 ]'
b volume prune -f
t "volume prune removes unused anonymous volumes, keeps named ones" "left: $(vols | tr '\n' ' ')" \
	'[ "$RC" = 0 ] && [ "$(vols)" = made ]'

b run -d --name vsrc -v shared:/shared "$IMG" sh -c 'echo s >/shared/f; echo d >/data/f; sleep 60'
remember "$OUT"
wait_for 5 '[ -e "$R/volumes/shared/_data/f" ]'
b run --rm --volumes-from vsrc "$IMG" sh -c 'cat /shared/f /data/f; echo w >/shared/w && echo wrote'
t "--volumes-from: named and anonymous volumes, writable" "wrong" '[ "$OUT" = "s${NL}d${NL}wrote" ]'
b run --rm --volumes-from vsrc:ro "$IMG" sh -c 'cat /shared/f; echo w >/shared/w2'
t "--volumes-from NAME:ro: read-only" "wrong" '[ "$RC" != 0 ] && [ "$OUT" = s ] && [ ! -e "$R/volumes/shared/_data/w2" ]'
b run --rm --volumes-from nosuch "$IMG" true
t "--volumes-from a missing container: 125" "wrong" '[ "$RC" = 125 ] && one_error_line'
bq rm -f -v vsrc >/dev/null

# --- logs ------------------------------------------------------------------------------
id=$(bq run -d --name lg "$IMG" sh -c 'echo out1; echo err1 >&2; echo out2; echo err2 >&2')
remember "$id"
bq wait lg >/dev/null
b logs lg
t "logs: stdout on stdout, stderr on stderr" "wrong" \
	'[ "$OUT" = "out1${NL}out2" ] && [ "$ERR" = "err1${NL}err2" ]'
b logs -t lg
re='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z out[12]$'
t "logs -t: RFC 3339 timestamps with nanoseconds" "wrong" \
	'[ "$(grep -cE "$re" <<<"$OUT")" = 2 ] && [ "$(lines "$OUT")" = 2 ]'
bq run -d --name lg5 "$IMG" sh -c 'for i in 1 2 3 4 5; do echo l$i; done' >/dev/null
bq wait lg5 >/dev/null
b logs --tail 2 lg5
t "logs --tail 2" "wrong" '[ "$OUT" = "l4${NL}l5" ]'
b logs --tail 0 lg5
t "logs --tail 0" "wrong" '[ "$RC" = 0 ] && [ -z "$OUT" ]'
bq rm lg lg5 >/dev/null
id=$(bq run -d --name lgf "$IMG" sh -c 'echo a; sleep 1; echo b; sleep 1; echo c')
remember "$id"
s=$(now_ms)
OUT=$(timeout 20 "${RUNNER[@]}" "$BERTH" --root "$R" logs -f lgf 2>&1)
RC=$?
e=$(now_ms)
t "logs -f follows until the container exits" "took $((e - s)) ms" \
	'[ "$RC" = 0 ] && [ "$OUT" = "a${NL}b${NL}c" ] && [ $((e - s)) -ge 1000 ]'
# --since: a line before a second boundary and one after it
id=$(bq run -d --name lgs "$IMG" sh -c 'echo early; sleep 2.5; echo late')
remember "$id"
wait_for 5 '[ "$(bq logs lgs 2>/dev/null)" = early ]'
t0=$(date +%s)
wait_for 2 '[ "$(date +%s)" -gt "$t0" ]'
mid=$(date +%s)
bq wait lgs >/dev/null
b logs --since "$mid" lgs
t "logs --since UNIX-SECONDS" "mid=$mid" '[ "$OUT" = late ]'
b logs --since 1h lgs
t "logs --since 1h" "wrong" '[ "$OUT" = "early${NL}late" ]'
bq rm lgf lgs >/dev/null

rot() { # NAME LOG-OPT...: 2000 lines of 32 bytes
	b run --name "$1" "${@:2}" "$IMG" sh -c 'i=1000; while [ $i -lt 3000 ]; do echo "line $i padding padding paddin"; i=$((i+1)); done'
}
rot rot1 --log-opt max-size=4k --log-opt max-file=2
rid=$(ins rot1 '{{.Id}}')
remember "$rid"
files=$(ls "$R/containers/$rid" | grep -c '^container\.log')
big=$(for f in "$R/containers/$rid"/container.log*; do stat -c %s "$f"; done | sort -n | tail -1)
t "log rotation: at most max-file=2 files of about max-size=4k" "files=$files biggest=$big" \
	'[ "$RC" = 0 ] && [ "$files" = 2 ] && [ "$big" -le 4500 ]'
b logs rot1
t "rotated logs keep the newest lines" "wrong" \
	'[ "$(tail -n1 <<<"$OUT")" = "line 2999 padding padding paddin" ] && [ "$(lines "$OUT")" -lt 2000 ] && [ "$(lines "$OUT")" -gt 20 ]'
bq rm rot1 >/dev/null
rot rot2 --log-opt max-size=4k,max-file=2
t "--log-opt max-size=4k,max-file=2 (comma form, as the README documents)" "wrong" '[ "$RC" = 0 ]'
bq rm rot2 >/dev/null 2>&1

# --- exec ------------------------------------------------------------------------------
id=$(bq run -d --name ex -e CE=ctr "$IMG" sleep 100)
remember "$id"
b exec ex sh -c 'echo "$FOO|$CE|$(id -u)|$(pwd)"'
t "exec: the container's env, user and workdir" "wrong" '[ "$OUT" = "from-image|ctr|0|/" ]'
b exec -e CE=exec -e NEW=1 -u app -w /tmp ex sh -c 'echo "$CE|$NEW|$(id -u)|$(pwd)"'
t "exec -e -u -w" "wrong" '[ "$OUT" = "exec|1|1000|/tmp" ]'
b exec ex sh -c 'exit 7'
t "exec returns the command's exit code" "wrong" '[ "$RC" = 7 ]'
b exec ex nosuch
t "exec of a missing command: 127" "wrong" '[ "$RC" = 127 ]'
b exec ex sh -c 'tr "\0" " " </proc/1/cmdline; echo; echo $$'
t "exec sees the container's pid namespace" "wrong" \
	'[ "$(head -n1 <<<"$OUT")" = "sleep 100 " ] && [ "$(tail -n1 <<<"$OUT")" -gt 1 ] && [ "$(tail -n1 <<<"$OUT")" -lt 100 ]'
b exec ex hostname
t "exec: the container's hostname" "wrong" '[ "$OUT" = "${id:0:12}" ]'
b exec ex grep CapEff /proc/self/status
t "exec: the container's capabilities" "wrong" '[ "$(cap_of CapEff "$OUT")" = 00000000a80425fb ]'
b exec ex grep -c "Seccomp:.2" /proc/self/status
t "exec: under the container's seccomp filter" "wrong" '[ "$OUT" = 1 ] || ! "${RUNNER[@]}" "$BERTH" version | grep -q -- +seccomp'
OUT=$(echo piped | "${RUNNER[@]}" "$BERTH" --root "$R" exec -i ex cat)
t "exec -i pipes stdin" "wrong" '[ "$OUT" = piped ]'
b top ex
t "top lists the container's processes" "wrong" \
	'[ "$RC" = 0 ] && grep -q "sleep 100" <<<"$OUT" && grep -qw "$(ins ex "{{.State.Pid}}")" <<<"$OUT"'
b stats --no-stream
t "stats --no-stream shows the container" "wrong" '[ "$RC" = 0 ] && grep -qE "^${id:0:12} +ex " <<<"$OUT"'
bq kill ex >/dev/null
bq wait ex >/dev/null
b exec ex true
t "exec into a stopped container: 125, one line" "wrong" '[ "$RC" = 125 ] && one_error_line'
bq rm ex >/dev/null

# --- lifecycle ---------------------------------------------------------------------------
s=$(now_ms)
b run -d --name lc "$IMG" sleep 100
e=$(now_ms)
id=$OUT
remember "$id"
t "run -d prints the 64-hex id and returns at once" "took $((e - s)) ms" 'hex64 "$OUT" && [ $((e - s)) -lt 5000 ]'
b ps
t "ps lists the running container" "wrong" 'grep -qE "^${id:0:12} .* lc$" <<<"$OUT"'
b ps -q
t "ps -q: short ids" "wrong" 'grep -qx "${id:0:12}" <<<"$OUT"'
b ps -q --no-trunc
t "ps -q --no-trunc: full ids" "wrong" 'grep -qx "$id" <<<"$OUT"'
b ps --format '{{.Names}} {{.Status}}' --filter name=lc
t "ps --format, --filter name=" "wrong" '[[ "$OUT" == "lc Up"* ]] && [ "$(lines "$OUT")" = 1 ]'
mpid=$(awk '{print $4}' "/proc/$(ins lc '{{.State.Pid}}')/stat" 2>/dev/null)
t "the container's parent is a berth-monitor (the CLI has exited)" "ppid=$mpid" \
	'[ "$(cat /proc/$mpid/comm 2>/dev/null)" = berth-monitor ]'

# stop: sh as pid 1 ignores TERM -> SIGKILL after -t
s=$(now_ms)
b stop -t 1 lc
e=$(now_ms)
t "stop -t 1: pid 1 ignoring TERM is killed after about 1 s" "took $((e - s)) ms" \
	'[ "$RC" = 0 ] && [ $((e - s)) -ge 900 ] && [ $((e - s)) -lt 8000 ]'
t "... exit code 137, status exited" "wrong" '[ "$(ins lc "{{.State.Status}} {{.State.ExitCode}}")" = "exited 137" ]'
t "the monitor is gone after the container stopped" "monitor $mpid alive" \
	'wait_for 3 "[ \"\$(cat /proc/$mpid/comm 2>/dev/null)\" != berth-monitor ]"'
b ps
t "ps without -a hides it" "wrong" '! grep -q " lc$" <<<"$OUT"'
b ps -a --filter status=exited -q --no-trunc
t "ps -a --filter status=exited" "wrong" 'grep -qx "$id" <<<"$OUT"'
b start lc
t "start a stopped container" "wrong" '[ "$RC" = 0 ] && [ "$(ins lc "{{.State.Status}}")" = running ]'
p1=$(ins lc '{{.State.Pid}}')
b restart -t 1 lc
p2=$(ins lc '{{.State.Pid}}')
t "restart: running again with a new pid 1" "pids $p1 $p2" \
	'[ "$RC" = 0 ] && [ "$(ins lc "{{.State.Status}}")" = running ] && [ "$p1" != "$p2" ] && [ -n "$p2" ]'
b rename lc lc2
t "rename" "wrong" '[ "$RC" = 0 ] && [ "$(ins "$id" "{{.Name}}")" = /lc2 ] && ! bq inspect lc >/dev/null 2>&1'
b rm lc2
t "rm of a running container is refused without -f" "wrong" '[ "$RC" != 0 ] && one_error_line && [ "$(ins lc2 "{{.State.Status}}")" = running ]'
b kill lc2
t "kill: SIGKILL, 137" "wrong" '[ "$RC" = 0 ] && wait_for 5 "[ \"\$(ins lc2 \"{{.State.ExitCode}}\")\" = 137 ]"'
bq rm lc2 >/dev/null

b run -d --name tr "$IMG" sh -c 'trap "exit 42" TERM; while :; do sleep 0.1; done'
remember "$OUT"
sleep 0.3
s=$(now_ms)
b stop -t 10 tr
e=$(now_ms)
t "stop: a TERM-trapping pid 1 stops at once with its own code" "took $((e - s)) ms" \
	'[ "$RC" = 0 ] && [ $((e - s)) -lt 5000 ] && [ "$(ins tr "{{.State.ExitCode}}")" = 42 ]'
bq rm tr >/dev/null
b run -d --name ss --stop-signal USR1 "$IMG" sh -c 'trap "exit 11" USR1; while :; do sleep 0.1; done'
remember "$OUT"
sleep 0.3
b stop ss
t "--stop-signal USR1" "wrong" '[ "$(ins ss "{{.State.ExitCode}}")" = 11 ]'
bq rm ss >/dev/null
b run -d --name sto --stop-timeout 1 "$IMG" sleep 100
remember "$OUT"
s=$(now_ms)
b stop sto
e=$(now_ms)
t "--stop-timeout 1 is stop's default timeout" "took $((e - s)) ms" '[ $((e - s)) -lt 6000 ] && [ "$(ins sto "{{.State.ExitCode}}")" = 137 ]'
bq rm sto >/dev/null
b run -d --name ks "$IMG" sh -c 'trap "exit 42" USR1; while :; do sleep 0.1; done'
remember "$OUT"
sleep 0.3
b kill -s USR1 ks
b wait ks
t "kill -s USR1; wait prints the exit code" "wrong" '[ "$RC" = 0 ] && [ "$OUT" = 42 ]'
bq rm ks >/dev/null

b run -d --name mon "$IMG" sh -c 'sleep 2; exit 9'
id=$OUT
remember "$id"
OUT=$(bash -c '"$@" ps --format "{{.Names}} {{.Status}}"' _ "${RUNNER[@]}" "$BERTH" --root "$R")
t "the monitor outlives the CLI: a new process sees the container running" "wrong" 'grep -q "^mon Up" <<<"$OUT"'
t "... a berth-monitor of this data root runs" "none" '[ -n "$(mons)" ]'
t "... and records the exit code" "$(ins mon '{{.State.Status}} {{.State.ExitCode}}')" \
	'wait_for 10 "[ \"\$(ins mon \"{{.State.Status}} {{.State.ExitCode}}\")\" = \"exited 9\" ]"'
t "... then exits" "monitors: $(mons)" 'wait_for 3 "[ -z \"\$(mons)\" ]"'
b run -d --rm --name drm "$IMG" true
remember "$OUT"
t "run -d --rm: removed once it exits" "still there" 'wait_for 5 "! bq inspect drm >/dev/null 2>&1"'
b run -d --name js "$IMG" sleep 100
id=$OUT
remember "$id"
b inspect js
t "inspect: JSON with Id, Name, State, Config" "wrong" \
	'[ "$RC" = 0 ] && python3 -c "import json,sys; d=json.load(sys.stdin)[0]; sys.exit(not (d[\"Id\"]==sys.argv[1] and d[\"Name\"]==\"/js\" and d[\"State\"][\"Status\"]==\"running\" and \"FOO=from-image\" in d[\"Config\"][\"Env\"]))" "$id" <<<"$OUT"'
bq rm -f js >/dev/null
b kill js
t "kill of a missing container: exit 1, one line" "wrong" '[ "$RC" = 1 ] && one_error_line'
"${RUNNER[@]}" "$BERTH" --root "$R" run --name fgk "$IMG" sh -c 'echo up; sleep 1; exit 5' >"$W/fgk.out" 2>&1 &
fg=$!
BG+=("$fg")
wait_for 10 'grep -qs up "$W/fgk.out"'
kill -KILL "$fg"
wait "$fg" 2>/dev/null
remember "$(ins fgk '{{.Id}}')"
t "a foreground run's CLI killed: the container runs on, its exit code is recorded" "$(ins fgk '{{.State.Status}} {{.State.ExitCode}}')" \
	'wait_for 10 "[ \"\$(ins fgk \"{{.State.Status}} {{.State.ExitCode}}\")\" = \"exited 5\" ]"'
bq rm -f fgk >/dev/null
b create --name cr "$IMG" sh -c 'echo created-then-started; exit 6'
t "create: status created, no process" "wrong" '[ "$RC" = 0 ] && [ "$(ins cr "{{.State.Status}} {{.State.Pid}}")" = "created 0" ]'
remember "$OUT"
b start -a cr
t "start -a: output and exit code" "wrong" '[ "$RC" = 6 ] && [ "$OUT" = created-then-started ]'
b run -d --name at "$IMG" sh -c 'sleep 1; echo attached; exit 4'
remember "$OUT"
OUT=$(timeout 20 "${RUNNER[@]}" "$BERTH" --root "$R" attach at 2>/dev/null)
RC=$?
t "attach: output and exit code" "wrong" '[ "$RC" = 4 ] && [ "$OUT" = attached ]'
b container prune -f
t "container prune removes stopped containers" "wrong" \
	'[ "$RC" = 0 ] && ! bq inspect cr >/dev/null 2>&1 && ! bq inspect at >/dev/null 2>&1 && ! bq inspect mon >/dev/null 2>&1'

# pause: the freezer; a counter stops advancing
id=$(bq run -d --name pz "$IMG" sh -c 'i=0; while :; do i=$((i+1)); echo $i >/tmp/c; sleep 0.05; done')
remember "$id"
cnt() { cat "/proc/$(ins pz '{{.State.Pid}}')/root/tmp/c" 2>/dev/null; }
wait_for 5 '[ -n "$(cnt)" ]'
b pause pz
t "pause: inspect says paused" "wrong" '[ "$RC" = 0 ] && [ "$(ins pz "{{.State.Status}} {{.State.Paused}}")" = "paused true" ]'
sleep 0.2
a=$(cnt)
sleep 0.6
t "pause: the container makes no progress" "counter $a -> $(cnt)" '[ -n "$a" ] && [ "$a" = "$(cnt)" ]'
b ps --filter name=pz
t "ps shows (Paused)" "wrong" 'grep -q "(Paused)" <<<"$OUT"'
b exec pz true
t "exec into a paused container: 125, one line" "wrong" '[ "$RC" = 125 ] && one_error_line'
b unpause pz
a=$(cnt)
t "unpause: running and progressing again" "counter $a" \
	'[ "$RC" = 0 ] && [ "$(ins pz "{{.State.Status}}")" = running ] && wait_for 5 "[ \"\$(cnt)\" != \"$a\" ]"'
bq pause pz >/dev/null
b rm -f pz
t "rm -f of a paused container" "wrong" '[ "$RC" = 0 ] && ! bq inspect pz >/dev/null 2>&1 && wait_for 3 "[ -z \"\$(cg_of $id)\" ]"'

# --init: pid 1 is a reaping init; the control shows the check can fail
b run --rm --init "$IMG" sh -c 'echo $$; cat /proc/1/comm'
t "--init: the command is not pid 1" "wrong" '[ "$RC" = 0 ] && [ "$(head -n1 <<<"$OUT")" != 1 ] && [ "$(tail -n1 <<<"$OUT")" != sh ]'
zombies() { bq exec "$1" sh -c 'grep -l "^State:.Z" /proc/[0-9]*/status 2>/dev/null | wc -l'; }
bq run -d --init --name zi "$IMG" sleep 100 >/dev/null
bq run -d --name zn "$IMG" sleep 100 >/dev/null
remember "$(ins zi '{{.Id}}')" "$(ins zn '{{.Id}}')"
bq exec zi sh -c 'sleep 0.2 & exit 0'
bq exec zn sh -c 'sleep 0.2 & exit 0'
sleep 0.5
t "control: without --init an orphan stays a zombie" "zombies=$(zombies zn)" 'wait_for 3 "[ \"\$(zombies zn)\" -ge 1 ]"'
t "--init reaps orphans: no zombie" "zombies=$(zombies zi)" 'wait_for 3 "[ \"\$(zombies zi)\" = 0 ]"'
s=$(now_ms)
b stop -t 10 zi
e=$(now_ms)
t "--init forwards stop's TERM to the command" "took $((e - s)) ms, $(ins zi '{{.State.ExitCode}}')" \
	'[ $((e - s)) -lt 5000 ] && [ "$(ins zi "{{.State.ExitCode}}")" = 143 ]'
bq rm -f zi zn >/dev/null

# --- stdio, signals, pty ------------------------------------------------------------------
# stdin NAME INPUT-FILE ARGS...: berth run -i --rm --name NAME ARGS < INPUT-FILE,
# killed after 10 s (a hung run: its container is removed)
stdin() {
	local name=$1 in=$2
	shift 2
	OUT=$(timeout -s KILL 10 "${RUNNER[@]}" "$BERTH" --root "$R" run -i --rm --name "$name" "$@" <"$in")
	RC=$?
	[ "$RC" != 137 ] || bq rm -f "$name" >/dev/null 2>&1
}
echo hi >"$W/hi"
stdin in1 "$W/hi" "$IMG" cat
t "-i pipes stdin" "wrong" '[ "$RC" = 0 ] && [ "$OUT" = hi ]'
stdin in2 "$W/hi" "$IMG" wc -c
t "-i: stdin's end reaches a command that answers only then (wc -c)" "hung: killed after 10 s" '[ "$RC" = 0 ] && [ "$OUT" = 3 ]'
OUT=$(timeout -s KILL 10 "${RUNNER[@]}" "$BERTH" --root "$R" run --rm --name in3 "$IMG" cat <"$W/hi")
RC=$?
[ "$RC" != 137 ] || bq rm -f in3 >/dev/null 2>&1
t "without -i stdin is closed" "wrong" '[ "$RC" = 0 ] && [ -z "$OUT" ]'
head -c 1000000 /dev/urandom | base64 >"$W/in.txt"
stdin in4 "$W/in.txt" "$IMG" cat
t "-i: a megabyte through stdin and back intact" "rc=$RC, $(wc -c <<<"$OUT") bytes back" \
	'[ "$RC" = 0 ] && [ "$OUT" = "$(cat "$W/in.txt")" ]'

"${RUNNER[@]}" "$BERTH" --root "$R" run --rm "$IMG" sh -c 'trap "exit 42" TERM; echo ready; while :; do sleep 0.1; done' >"$W/sig.out" 2>&1 &
fg=$!
BG+=("$fg")
wait_for 10 'grep -qs ready "$W/sig.out"'
kill -TERM "$fg"
wait_for 10 '! kill -0 $fg 2>/dev/null'
wait "$fg"
RC=$?
t "SIGTERM to a foreground run is forwarded; its exit code returns" "wrong" '[ "$RC" = 42 ]'

tm() { tmux -L "$TSOCK" "$@"; }
pane() { tm capture-pane -p -t pty 2>/dev/null; }
tm new-session -d -s pty -x 100 -y 30 \
	"env BERTH_CONFIG='$BERTH_CONFIG' ${RUNNER[*]} '$BERTH' --root '$R' run -it --rm --name ptyc '$IMG' sh; echo EXIT=\$? >'$W/pty.exit'; sleep 100"
t "run -it shows a shell prompt" "pane: $(pane | grep . | tail -3)" 'wait_for 10 "pane | grep -q \"^/ #\""'
tm send-keys -t pty 'stty size; echo "TTY=$(test -t 0 && echo yes)"' Enter
t "stty size matches the terminal (30 100); stdin is a tty" "pane: $(pane | grep . | tail -4)" \
	'wait_for 5 "pane | grep -qx \"30 100\" && pane | grep -qx TTY=yes"'
tm resize-window -t pty -x 120 -y 40
sleep 0.3
tm send-keys -t pty 'stty size' Enter
t "a resize reaches the container (40 120)" "pane: $(pane | grep . | tail -3)" 'wait_for 5 "pane | grep -qx \"40 120\""'
tm send-keys -t pty 'exit 5' Enter
t "the pty run returns the shell's exit code" "$(cat "$W/pty.exit" 2>/dev/null)" \
	'wait_for 10 "[ \"\$(cat $W/pty.exit 2>/dev/null)\" = EXIT=5 ]"'
# docker's detach keys: ctrl-p ctrl-q leaves the container running, exit 0
tm new-session -d -s det -x 100 -y 30 \
	"env BERTH_CONFIG='$BERTH_CONFIG' ${RUNNER[*]} '$BERTH' --root '$R' run -it --name ptyd '$IMG' sh; echo EXIT=\$? >'$W/det.exit'; sleep 100"
dpane() { tm capture-pane -p -t det 2>/dev/null; }
t "run -it (to detach from) shows a prompt" "pane: $(dpane | grep . | tail -3)" 'wait_for 10 "dpane | grep -q \"^/ #\""'
tm send-keys -t det C-p C-q
t "ctrl-p ctrl-q detaches: berth returns 0" "$(cat "$W/det.exit" 2>/dev/null)" \
	'wait_for 10 "[ \"\$(cat $W/det.exit 2>/dev/null)\" = EXIT=0 ]"'
t "after the detach the container runs on" "state $(ins ptyd "{{.State.Status}}")" \
	'[ "$(ins ptyd "{{.State.Status}}")" = running ]'
bq rm -f ptyd >/dev/null
tm kill-server >/dev/null 2>&1

# --- --rm and 100 cycles without leaks -----------------------------------------------------
c0=$(ctrs) v0=$(vols) m0=$(root_mounts)
b run --rm --name rmme "$IMG" hostname
short=$OUT
t "--rm removes everything (directory, volume, cgroups, mounts, ps entry)" "new: $(comm -13 <(echo "$c0") <(ctrs) | tr '\n' ' ') cg: $(cg_of "$short")" \
	'[ "$RC" = 0 ] && [ "$c0" = "$(ctrs)" ] && [ "$v0" = "$(vols)" ] && [ "$m0" = "$(root_mounts)" ] && [ -z "$(cg_of "$short")" ] && ! bq ps -a | grep -q rmme'

fd0=$(ls /proc/$$/fd | wc -l)
c0=$(ctrs) v0=$(vols) m0=$(root_mounts)
hosts=() bad=0
s=$(now_ms)
for ((i = 0; i < 100; i++)); do
	h=$(bq run --rm "$IMG" hostname) || bad=$((bad + 1))
	hosts+=("$h")
done
e=$(now_ms)
echo "# 100 run --rm cycles in $((e - s)) ms"
t "100 run --rm cycles all succeed" "$bad failed" '[ "$bad" = 0 ]'
t "100 cycles: data root's containers/ exactly as before" "new: $(comm -13 <(echo "$c0") <(ctrs) | wc -l) entries, e.g. $(comm -13 <(echo "$c0") <(ctrs) | head -2 | tr '\n' ' ')" \
	'[ "$c0" = "$(ctrs)" ]'
t "100 cycles: volumes/ exactly as before" "new: $(comm -13 <(echo "$v0") <(vols) | wc -l)" '[ "$v0" = "$(vols)" ]'
t "100 cycles: no mount left" "$(grep -F "$R" /proc/self/mountinfo | head -2)" '[ "$m0" = "$(root_mounts)" ]'
leaked=""
for h in "${hosts[@]}"; do [ -n "$h" ] && leaked+=$(cg_of "$h"); done
t "100 cycles: no cgroup directory left" "${leaked:0:200}" '[ -z "$leaked" ]'
t "100 cycles: no berth-monitor left" "$(mons)" 'wait_for 3 "[ -z \"\$(mons)\" ]"'
t "100 cycles: the test shell's fds unchanged" "$fd0 -> $(ls /proc/$$/fd | wc -l)" '[ "$fd0" = "$(ls /proc/$$/fd | wc -l)" ]'
b ps -a -q
t "100 cycles: ps -a is empty" "wrong" '[ -z "$OUT" ]'

finish
