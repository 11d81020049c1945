# berth pull against real failures: connections cut mid-blob (Range resume),
# a server that ignores Range, a stalled body, SIGKILL at seeded moments
# (the store must never list an incomplete image), a full disk,
# min-free-space-mb, dead and empty mirrors, redirects that must not carry
# credentials, and bad references. Registries, proxies and images come from
# fixtures/ (flaky_proxy.py's --rate slows blob bodies; its range_requests and
# blob_bytes counters measure what berth asked for and got).
# shellcheck disable=SC2317 # helpers run through expect and traps
. "$(dirname "$0")/lib"
. "$(dirname "$0")/fixtures/registry.sh"
. "$(dirname "$0")/fixtures/images.sh"

START=$SECONDS
for tool in docker-registry skopeo umoci curl openssl htpasswd setsid; do
	if ! command -v "$tool" >/dev/null; then
		skip "pull faults" "$tool is not installed (run scripts/bootstrap)"
		finish
	fi
done
if [ ! -x "$BERTH" ]; then
	notok "pull faults" "no berth binary at $BERTH (build it first)"
	finish
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/berth-faults.XXXXXX")
MNT=$W/mnt
MOUNTS=()
BERTH_GROUPS=() # process groups (setsid) of every berth started here

# The berth processes (not zombies) of process group $1, one pid a line.
group_pids() {
	local f s pid rest fld
	for f in /proc/[0-9]*/stat; do
		read -r s <"$f" 2>/dev/null || continue
		[[ $s == *") "* ]] || continue
		pid=${s%% *}
		rest=${s##*) }
		# rest: STATE PPID PGRP ...
		read -r -a fld <<<"$rest"
		if [ "${fld[2]}" = "$1" ] && [ "${fld[0]}" != Z ] && [[ $s == *"(berth)"* || $s == *"(qemu-"* ]]; then
			echo "$pid"
		fi
	done 2>/dev/null
}
kill_group() { # PGID: SIGKILL what is left of a berth process group
	local p
	for p in $(group_pids "$1"); do kill -KILL "$p" 2>/dev/null; done
}
wait_group_gone() { # PGID SECONDS: 0 once no berth of that group runs
	local i
	for ((i = 0; i < $2 * 50; i++)); do
		[ -z "$(group_pids "$1")" ] && return 0
		sleep 0.02
	done
	return 1
}
cleanup() {
	local g
	for g in "${BERTH_GROUPS[@]}"; do kill_group "$g"; done
	for ((g = ${#MOUNTS[@]} - 1; g >= 0; g--)); do
		umount "${MOUNTS[$g]}" 2>/dev/null || umount -l "${MOUNTS[$g]}" 2>/dev/null
	done
	registry_stop_all
	rm -rf "$W"
}
trap cleanup EXIT

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# cfg NAME JSON: a config dir (daemon.json) used by the following bx calls.
cfg() {
	CFG=$W/cfg-$1
	mkdir -p "$CFG"
	printf '%s\n' "$2" >"$CFG/daemon.json"
}

# bx LIMIT_S ARGS...: runs berth in its own session (killed with its workers
# after LIMIT_S seconds), leaving RC, OUT, ERR and MS (wall time).
bx() {
	local lim=$1 t0 pid
	shift
	t0=$(now_ms)
	BERTH_CONFIG=$CFG setsid "${RUNNER[@]}" "$BERTH" "$@" </dev/null >"$W/bx.out" 2>"$W/bx.err" &
	pid=$!
	BERTH_GROUPS+=("$pid")
	while _fix_alive "$pid"; do
		if [ $(($(now_ms) - t0)) -gt $((lim * 1000)) ]; then
			kill_group "$pid"
			echo "berth: test: killed after ${lim} s" >>"$W/bx.err"
			break
		fi
		sleep 0.01
	done
	{ wait "$pid"; } 2>/dev/null
	RC=$?
	MS=$(($(now_ms) - t0))
	wait_group_gone "$pid" 5 || kill_group "$pid"
	OUT=$(<"$W/bx.out") ERR=$(<"$W/bx.err")
}

lines() { [ -z "$1" ] && echo 0 || printf '%s\n' "$1" | wc -l; }
one_error_line() { # PREFIX: ERR is exactly one line starting with PREFIX
	[ "$(lines "$ERR")" = 1 ] && [ "${ERR#"$1"}" != "$ERR" ]
}
pstat() { proxy_stat "$1" "$2" 2>/dev/null || echo "?"; }

# The python side: expected layers of the big image, store checks.
cat >"$W/pf.py" <<'EOF'
import hashlib, json, os, sys, tarfile

def sha_file(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()

def blob(layout, d):
    return os.path.join(layout, "blobs", d.replace(":", "/"))

def cmd_expect(layout, out):
    idx = json.load(open(os.path.join(layout, "index.json")))
    man = json.load(open(blob(layout, idx["manifests"][0]["digest"])))
    conf = json.load(open(blob(layout, man["config"]["digest"])))
    layers = []
    for l, diff in zip(man["layers"], conf["rootfs"]["diff_ids"]):
        files = {}
        with tarfile.open(blob(layout, l["digest"]), "r:gz") as t:
            for ti in t:
                if ti.isfile():
                    h, f = hashlib.sha256(), t.extractfile(ti)
                    for b in iter(lambda: f.read(1 << 20), b""):
                        h.update(b)
                    files[ti.name] = [ti.size, h.hexdigest()]
        layers.append({"digest": l["digest"], "size": l["size"], "diff_id": diff, "files": files})
    json.dump({"config": man["config"], "layers": layers,
               "size": sum(l["size"] for l in man["layers"])}, open(out, "w"))

def check_layer(root, l, full):
    d = os.path.join(root, "layers/sha256", l["diff_id"][7:])
    for name, (size, sha) in l["files"].items():
        p = os.path.join(d, name)
        if not os.path.isfile(p):
            return "layer %.19s: %s is missing" % (l["diff_id"], name)
        if os.path.getsize(p) != size:
            return "layer %.19s: %s has %d bytes, want %d" % (l["diff_id"], name, os.path.getsize(p), size)
        if full and sha_file(p) != sha:
            return "layer %.19s: %s has the wrong content" % (l["diff_id"], name)
    return None

def cmd_check(root, expect, idsfile, inspdir, mode):
    """Every listed image whole; every layer dir of the big image complete.
    Prints problems on stderr (exit 1) and the store's state as JSON."""
    e = json.load(open(expect))
    probs = []
    ids = [x for x in open(idsfile).read().split() if x]
    for i in ids:
        if not i.startswith("sha256:") or len(i) != 71:
            probs.append("'images -q' printed %r" % i)
            continue
        h = i[7:]
        try:
            rec = json.load(open(os.path.join(root, "images", h + ".json")))
        except Exception as x:
            probs.append("image %.19s listed, record unreadable: %s" % (i, x))
            continue
        for d in rec.get("layers", []):
            if not os.path.isdir(os.path.join(root, "layers/sha256", d[7:])):
                probs.append("image %.19s listed, layer %.19s missing" % (i, d))
        cp = os.path.join(root, "blobs/sha256", h)
        if not os.path.isfile(cp) or sha_file(cp) != h:
            probs.append("image %.19s listed, config blob missing or corrupt" % i)
        else:
            c = json.load(open(cp))
            if c.get("rootfs", {}).get("diff_ids") != rec.get("layers"):
                probs.append("image %.19s: record layers differ from the config's diff_ids" % i)
        m = rec.get("manifest", "")
        mp = os.path.join(root, "blobs/sha256", m[7:])
        if not m.startswith("sha256:") or not os.path.isfile(mp) or sha_file(mp) != m[7:]:
            probs.append("image %.19s listed, manifest %s missing or corrupt" % (i, m[:19]))
        try:
            rc = open(os.path.join(inspdir, h + ".rc")).read().strip()
            ins = json.load(open(os.path.join(inspdir, h + ".json")))
            if rc != "0" or ins[0]["Id"] != i or ins[0]["RootFS"]["Layers"] != rec.get("layers"):
                probs.append("image %.19s: 'image inspect' exit %s or wrong Id/RootFS.Layers" % (i, rc))
        except Exception as x:
            probs.append("image %.19s: 'image inspect' output unusable: %s" % (i, x))
    try:
        tags = json.load(open(os.path.join(root, "repositories.json")))
    except FileNotFoundError:
        tags = {}
    except Exception as x:
        probs.append("repositories.json unreadable: %s" % x)
        tags = {}
    for name, i in tags.items():
        if i not in ids:
            probs.append("tag %s points at %.19s, which is not listed" % (name, i))
    committed, partial = [], {}
    for l in e["layers"]:
        if os.path.isdir(os.path.join(root, "layers/sha256", l["diff_id"][7:])):
            committed.append(l["diff_id"])
            p = check_layer(root, l, mode == "full")
            if p:
                probs.append("committed " + p)
        pp = os.path.join(root, "blobs/partial", l["digest"][7:])
        if os.path.exists(pp):
            partial[l["digest"]] = os.path.getsize(pp)
    missing = 0
    for l in e["layers"]:
        if l["diff_id"] not in committed:
            missing += l["size"] - min(partial.get(l["digest"], 0), l["size"])
    conf = os.path.isfile(os.path.join(root, "blobs/sha256", e["config"]["digest"][7:]))
    if not conf:
        missing += e["config"]["size"]
    print("S_LISTED=%d S_COMMITTED=%d S_PARTIAL_BYTES=%d S_CONFIG=%d S_MISSING=%d S_HAVE=%d" % (
        len(ids), len(committed), sum(partial.values()), conf, missing,
        e["size"] + e["config"]["size"] - missing))
    for p in probs:
        sys.stderr.write(p + "\n")
    return 1 if probs else 0

def cmd_delays(seed, n):
    """n kill moments: "a:MS" (absolute: about 1 in 4, in the first 60 ms:
    manifest, config, first bytes) or "f:PERMILLE" of the time the pull still
    needs (half spread over the layers, the rest around the end: unpack
    finish, layer commit, image record)."""
    import random
    r = random.Random(int(seed))
    out = []
    for _ in range(int(n)):
        k = r.random()
        if k < 0.25:
            out.append("a:%d" % r.randint(0, 60))
        elif k < 0.75:
            out.append("f:%d" % r.randint(80, 850))
        else:
            out.append("f:%d" % r.randint(850, 1150))
    print(" ".join(out))

def cmd_commitkill(root, pgid, expect, timeout):
    """Watches a pull into root; SIGKILLs process group pgid once a layer is
    wholly unpacked in layers/tmp but not yet committed, as soon as its
    partial file is gone (or 5 ms later). Prints "DIGEST DIFF_ID SIZE
    PARTIAL_AT_KILL" (nothing if the pull ended first)."""
    import signal, time
    e, pgid = json.load(open(expect)), int(pgid)
    tmp = os.path.join(root, "layers/tmp")
    end = time.monotonic() + float(timeout)
    while time.monotonic() < end:
        try:
            ents = os.listdir(tmp)
        except FileNotFoundError:
            ents = []
        for l in e["layers"]:
            name, (size, _) = next(iter(l["files"].items()))
            ldir = os.path.join(root, "layers/sha256", l["diff_id"][7:])
            part = os.path.join(root, "blobs/partial", l["digest"][7:])
            for x in ents:
                if not x.startswith(l["diff_id"][7:19] + "."):
                    continue
                try:
                    full = os.path.getsize(os.path.join(tmp, x, name)) == size
                except OSError:
                    full = False
                if not full or os.path.isdir(ldir):
                    continue
                t1 = time.monotonic()
                while os.path.exists(part) and time.monotonic() - t1 < 0.005:
                    pass
                had = os.path.exists(part)
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    return 0
                print(l["digest"], l["diff_id"], l["size"], "yes" if had else "no")
                return 0
        try:
            if open("/proc/%d/stat" % pgid).read().rsplit(") ", 1)[1][:1] == "Z":
                return 0  # the pull ended
        except OSError:
            return 0
        time.sleep(0.0005)
    return 0

def cmd_field(path, expr):
    d = json.load(open(path))
    v = eval(expr)
    print(v if isinstance(v, str) else json.dumps(v))

if __name__ == "__main__":
    f = {"expect": cmd_expect, "check": cmd_check, "delays": cmd_delays, "field": cmd_field,
         "commitkill": cmd_commitkill}[sys.argv[1]]
    sys.exit(f(*sys.argv[2:]) or 0)
EOF
pf() { "$FIX_PY" "$W/pf.py" "$@"; }
jf() { pf field "$@"; } # FILE EXPR (d is the JSON)

# check_store ROOT [full|size]: every image 'berth images' lists is whole
# (layers, config and manifest blobs, inspect, tags) and every layer dir of
# the big image complete (full: content hashed too). Leaves PROBS (empty when
# all is well) and the store's state: S_LISTED (images listed), S_COMMITTED
# (layer dirs of the big image), S_PARTIAL_BYTES, S_CONFIG (config blob
# stored), S_MISSING (blob bytes a pull still needs), S_HAVE.
check_store() {
	local root=$1 mode=${2:-size} id out
	S_LISTED=-1 S_COMMITTED=-1 S_PARTIAL_BYTES=-1 S_CONFIG=-1 S_MISSING=-1 S_HAVE=-1
	mkdir -p "$W/insp"
	rm -f "$W/insp/"*
	if ! BERTH_CONFIG=$CFG "${RUNNER[@]}" "$BERTH" --root "$root" images -q --no-trunc >"$W/ids" 2>"$W/ids.err"; then
		PROBS="'berth images -q --no-trunc' failed: $(head -c 200 "$W/ids.err")"
		return 1
	fi
	while read -r id; do
		[ -n "$id" ] || continue
		BERTH_CONFIG=$CFG "${RUNNER[@]}" "$BERTH" --root "$root" image inspect "$id" \
			>"$W/insp/${id#sha256:}.json" 2>/dev/null
		echo $? >"$W/insp/${id#sha256:}.rc"
	done <"$W/ids"
	out=$(pf check "$root" "$W/expect.json" "$W/ids" "$W/insp" "$mode" 2>"$W/probs")
	[[ $out =~ ^S_LISTED=[0-9]+( S_[A-Z_]+=[0-9]+)+$ ]] && eval "$out"
	PROBS=$(head -3 "$W/probs" | tr '\n' ';')
	[ -z "$PROBS" ]
}

# --- registries and the image ------------------------------------------------
expect "setup: http registry starts" "registry_start failed" registry_start a http
expect "setup: basic-auth (HTTPS) registry starts" "registry_start failed" registry_start c basic
if ! img_big a big:24m 24 3; then
	notok "setup: img_big 24 MiB in 3 layers" "push failed"
	finish
fi
REPO_REF=big:24m
IMG_BYTES=$IMG_SIZE
LAYOUT=${IMG_SRC#oci:}
LAYOUT=${LAYOUT%:big}
pf expect "$LAYOUT" "$W/expect.json" || {
	notok "setup: expected layers of the big image" "cannot read $LAYOUT"
	finish
}
CONF_BYTES=$(jf "$W/expect.json" 'd["config"]["size"]')
FULL=$((IMG_BYTES + CONF_BYTES)) # blob bytes of a pull from nothing
echo "# big image: $IMG_LAYERS layers, $IMG_BYTES layer bytes, config $CONF_BYTES bytes"

# --- 1. cuts mid-blob: Range resume ---------------------------------------------
# The first 6 layer responses are cut after 1 MB: each layer is cut about
# twice, whatever the order of the 3 concurrent downloads.
proxy_start cut "$REG_A_HOST" --cut-after 1000000 --cut-times 6
cfg cut "{\"insecure-registries\": [\"$PROXY_CUT_HOST\"], \"retry-base-ms\": 5, \"max-download-attempts\": 10}"
R1=$W/r1
bx 60 --root "$R1" pull "$PROXY_CUT_HOST/$REPO_REF"
check_store "$R1" full
cuts=$(pstat cut cuts) rr=$(pstat cut range_requests) bb=$(pstat cut blob_bytes)
expect "cut mid-blob 6 times: the pull completes, resuming with Range, the image whole and its layers right" \
	"cuts=$cuts range_requests=$rr listed=$S_LISTED committed=$S_COMMITTED problems='$PROBS'" \
	test "$RC" = 0 -a "$cuts" = 6 -a "$rr" -ge 6 -a "$S_LISTED" = 1 -a "$S_COMMITTED" = "$IMG_LAYERS" -a -z "$PROBS"
expect "cut mid-blob: nothing is downloaded twice (blob bytes sent = image size)" \
	"the proxy sent $bb blob bytes for $FULL" test "$bb" = "$FULL"
retries=$(grep -c 'Retrying in' <<<"$OUT")
expect "cut mid-blob: each cut is reported as a retry" "$retries 'Retrying in' lines for $cuts cuts" \
	test "$retries" = "$cuts"

# The same with TCP resets, seeded 50% of responses, one download at a time
# (a sequential client sees the seeded pattern in order).
proxy_start rst "$REG_A_HOST" --cut-after 700000 --cut-prob 0.5 --seed 7 --cut-rst
cfg rst "{\"insecure-registries\": [\"$PROXY_RST_HOST\"], \"retry-base-ms\": 5, \"max-download-attempts\": 20, \"max-concurrent-downloads\": 1}"
bx 60 --root "$W/r1b" pull "$PROXY_RST_HOST/$REPO_REF"
check_store "$W/r1b" full
cuts=$(pstat rst cuts)
expect "reset mid-blob (--cut-rst, --cut-prob 0.5 --seed 7): the pull completes, layers right" \
	"cuts=$cuts range_requests=$(pstat rst range_requests) problems='$PROBS'" \
	test "$RC" = 0 -a "$cuts" -ge 2 -a "$(pstat rst range_requests)" -gt 0 -a "$S_LISTED" = 1 \
	-a "$S_COMMITTED" = "$IMG_LAYERS" -a -z "$PROBS"

# --- 2. a server that ignores Range ---------------------------------------------
proxy_start ir "$REG_A_HOST" --cut-after 3000000 --cut-times 3 --ignore-range
cfg ir "{\"insecure-registries\": [\"$PROXY_IR_HOST\"], \"retry-base-ms\": 5, \"max-download-attempts\": 10}"
bx 60 --root "$W/r2" pull "$PROXY_IR_HOST/$REPO_REF"
check_store "$W/r2" full
stripped=$(pstat ir ranges_stripped) bb=$(pstat ir blob_bytes)
expect "Range ignored (200 with the whole blob after a cut): the pull completes, layer content right" \
	"cuts=$(pstat ir cuts) ranges_stripped=$stripped blob_bytes=$bb listed=$S_LISTED problems='$PROBS'" \
	test "$RC" = 0 -a "$(pstat ir cuts)" = 3 -a "$stripped" -ge 3 -a "$bb" -gt "$FULL" \
	-a "$S_LISTED" = 1 -a "$S_COMMITTED" = "$IMG_LAYERS" -a -z "$PROBS"

# --- 3. a stalled body ------------------------------------------------------------
# Two responses stop after 2 MB without closing for 20 s; timeout-ms 500 must
# notice, retry and finish long before the proxy would give up.
proxy_start stall "$REG_A_HOST" --stall-after 2000000 --stall-times 2 --stall-seconds 20
cfg stall "{\"insecure-registries\": [\"$PROXY_STALL_HOST\"], \"retry-base-ms\": 5, \"timeout-ms\": 500}"
bx 60 --root "$W/r3" pull "$PROXY_STALL_HOST/$REPO_REF"
check_store "$W/r3" full
timeouts=$(grep -c 'Retrying in.*tim' <<<"$OUT")
expect "stall mid-body with timeout-ms 500: times out, retries (Range) and completes within 10 s" \
	"stalls=$(pstat stall stalls) timeout retries=$timeouts took ${MS} ms listed=$S_LISTED problems='$PROBS'" \
	test "$RC" = 0 -a "$(pstat stall stalls)" = 2 -a "$timeouts" = 2 -a "$MS" -lt 10000 \
	-a "$(pstat stall range_requests)" -ge 2 -a "$S_LISTED" = 1 -a -z "$PROBS"

# --- 4. SIGKILL at seeded moments -------------------------------------------------
# Blob bodies at 7 MB/s each: a pull takes 1 to 2 s, and a kill lands in the
# manifest/config fetch, mid-layer or around the layer commit and image
# record (seeded moments, scaled to what the resumed pull still has to do).
# A seeded half of the kills hit the whole process group like a power cut,
# the rest only the main process (its layer workers must then exit).
proxy_start slow "$REG_A_HOST" --rate 7000000
cfg slow "{\"insecure-registries\": [\"$PROXY_SLOW_HOST\"], \"retry-base-ms\": 5}"
SLOW_REF=$PROXY_SLOW_HOST/$REPO_REF
bx 60 --root "$W/kcal" pull "$SLOW_REF"
T=$MS
if [ "$RC" != 0 ]; then
	notok "SIGKILL loop: calibration pull" "rc=$RC err=$(tail -1 <<<"$ERR")"
	T=1200
fi
rm -rf "$W/kcal"
echo "# a pull through the 7 MB/s proxy takes $T ms"
read -r -a DELAYS <<<"$(pf delays 20240601 400)"
read -r -a WHO <<<"$("$FIX_PY" -c 'import random; r=random.Random(77); print(" ".join(r.choice("gp") for _ in range(400)))')"

kills=0 gkills=0 pkills=0 finished=0 failed_runs=0 rounds=1 iter=0
early=0 mid=0 commit=0 recorded=0 lingering=0 lost=0
viol='' failmsg='' linger_msg='' lost_msg=
K=$W/k/r1
S_LISTED=0 S_HAVE=0 S_MISSING=$FULL
LOOP_T0=$SECONDS
while [ $iter -lt ${#DELAYS[@]} ] && [ $((SECONDS - LOOP_T0)) -lt 100 ]; do
	# Enough kills: stop once the store holds part of the image (for the
	# "downloads only the rest" check below).
	[ $kills -ge 50 ] && [ "$S_LISTED" = 0 ] && [ "$S_HAVE" -gt "$CONF_BYTES" ] && break
	d=${DELAYS[$iter]} who=${WHO[$iter]}
	iter=$((iter + 1))
	if [ "${d%%:*}" = a ]; then
		d=${d#a:}
	else # a share of what this pull still has to do (it resumes)
		[ "$S_MISSING" -ge 0 ] || S_MISSING=$FULL
		# a quarter of a pull's time does not depend on how much is
		# missing (start, replaying the partial files, syncing the layers)
		d=$((${d#f:} * (T / 4 + 3 * T * S_MISSING / (4 * FULL)) / 1000))
	fi
	before=$S_HAVE
	victim="main process only"
	[ "$who" = g ] && victim="process group"
	BERTH_CONFIG=$CFG setsid "${RUNNER[@]}" "$BERTH" --root "$K" pull "$SLOW_REF" </dev/null >"$W/k.out" 2>"$W/k.err" &
	pid=$!
	BERTH_GROUPS+=("$pid")
	sleep "$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))"
	{
		if [ "$who" = g ]; then kill -KILL -- "-$pid"; else kill -KILL "$pid"; fi
		wait "$pid"
		rc=$?
	} 2>/dev/null
	if ! wait_group_gone "$pid" 5; then
		lingering=$((lingering + 1))
		[ -n "$linger_msg" ] || linger_msg="kill #$((kills + 1)) at $d ms: still running: $(group_pids "$pid" | tr '\n' ' ')"
		kill_group "$pid"
		wait_group_gone "$pid" 5
	fi
	if [ $rc = 137 ]; then
		kills=$((kills + 1))
		if [ "$who" = g ]; then gkills=$((gkills + 1)); else pkills=$((pkills + 1)); fi
	elif [ $rc = 0 ]; then
		finished=$((finished + 1))
	else
		failed_runs=$((failed_runs + 1))
		[ -n "$failmsg" ] || failmsg="run $iter (delay $d ms) exited $rc: $(tail -1 "$W/k.err")"
	fi
	if ! check_store "$K"; then
		[ -n "$viol" ] || viol="after run $iter (delay $d ms, exit $rc, SIGKILL to the $victim): $PROBS"
	fi
	if [ $rc = 137 ] && [ "$S_HAVE" -lt "$before" ]; then
		lost=$((lost + 1))
		[ -n "$lost_msg" ] || lost_msg="run $iter (SIGKILL after $d ms to the $victim): the store held $before blob bytes of the image before, $S_HAVE after"
	fi
	if [ $rc = 137 ]; then
		if [ "$S_LISTED" != 0 ]; then
			recorded=$((recorded + 1))
		elif [ "$S_COMMITTED" = "$IMG_LAYERS" ]; then
			commit=$((commit + 1))
		elif [ "$S_HAVE" -gt "$before" ] && [ "$S_HAVE" -gt "$CONF_BYTES" ]; then
			mid=$((mid + 1))
		else
			early=$((early + 1))
		fi
	fi
	if [ "$S_LISTED" != 0 ]; then
		# The image is whole: start a new round from an empty store.
		rm -rf "$K"
		rounds=$((rounds + 1))
		K=$W/k/r$rounds
		S_LISTED=0 S_HAVE=0 S_MISSING=$FULL
	fi
done
echo "# SIGKILL loop: $kills kills ($gkills process group, $pkills main process only) in $iter runs, $rounds rounds, $((SECONDS - LOOP_T0)) s"
echo "# kills landed: $early before any layer data, $mid mid-layer, $commit with all layers committed but no image record, $recorded after the record; $finished pulls finished before their kill"
expect "SIGKILL loop: >= 50 kills of berth pull; after each, every image listed is whole (layers, config, manifest, inspect, tags)" \
	"${viol:-$kills kills}" test $kills -ge 50 -a -z "$viol"
expect "SIGKILL loop: no pull failed by itself between kills" "$failmsg" test $failed_runs = 0
expect "SIGKILL loop: kills landed before any layer data and mid-layer" \
	"early=$early mid=$mid commit=$commit recorded=$recorded" test $early -gt 0 -a $mid -gt 0
expect "SIGKILL of the main process only: its layer workers exit within 5 s" "$lingering times: $linger_msg" \
	test $lingering = 0 -a $pkills -gt 0
expect "SIGKILL loop: no kill threw away downloaded bytes (partial files + committed layers never shrink)" \
	"$lost kills did: first $lost_msg" test $lost = 0

# The store the loop left holds part of the image: the last pull must
# download exactly what is missing, less than a full pull.
check_store "$K"
have=$S_HAVE missing=$S_MISSING
proxy_reset slow
bx 60 --root "$K" pull "$SLOW_REF"
check_store "$K" full
bb=$(pstat slow blob_bytes)
expect "after the loop: the final pull completes, image whole and right, downloading only the missing bytes" \
	"rc=$RC had $have of $FULL bytes, missing $missing, the pull downloaded $bb; problems='$PROBS'" \
	test "$RC" = 0 -a "$have" -gt "$CONF_BYTES" -a "$bb" -lt "$FULL" -a "$bb" = "$missing" \
	-a "$S_LISTED" = 1 -a -z "$PROBS"

# Killed mid-layer, deterministically: every layer body stalls after
# 2,000,000 bytes; once the partial files hold them, SIGKILL the group.
proxy_start hold "$REG_A_HOST" --stall-after 2000000 --stall-seconds 60
proxy_start count "$REG_A_HOST"
cfg hold "{\"insecure-registries\": [\"$PROXY_HOLD_HOST\", \"$PROXY_COUNT_HOST\"], \"retry-base-ms\": 5}"
R4=$W/r4
BERTH_CONFIG=$CFG setsid "${RUNNER[@]}" "$BERTH" --root "$R4" pull "$PROXY_HOLD_HOST/$REPO_REF" </dev/null >"$W/h.out" 2>&1 &
pid=$!
BERTH_GROUPS+=("$pid")
for ((i = 0; i < 500; i++)); do
	[ "$(stat -c %s "$R4"/blobs/partial/* 2>/dev/null | grep -c '^2000000$')" = "$IMG_LAYERS" ] && break
	sleep 0.02
done
{
	kill -KILL -- "-$pid"
	wait "$pid"
} 2>/dev/null
wait_group_gone "$pid" 5 || kill_group "$pid"
sizes=$(stat -c %s "$R4"/blobs/partial/* 2>/dev/null | sort | tr '\n' ' ')
bx 60 --root "$R4" pull "$PROXY_COUNT_HOST/$REPO_REF"
check_store "$R4" full
resumed=$(grep -c "Resuming from 2000000 of" <<<"$OUT")
bb=$(pstat count blob_bytes)
expect "killed mid-layer: partial files kept; the next pull prints 'Resuming from' and fetches only the rest" \
	"partials before: '$sizes' resumed=$resumed blob_bytes=$bb (want $((IMG_BYTES - IMG_LAYERS * 2000000))) range_requests=$(pstat count range_requests) problems='$PROBS'" \
	test "$sizes" = "$(printf '2000000 %.0s' $(seq "$IMG_LAYERS"))" -a "$RC" = 0 -a "$resumed" = "$IMG_LAYERS" \
	-a "$bb" = $((IMG_BYTES - IMG_LAYERS * 2000000)) -a "$(pstat count range_requests)" = "$IMG_LAYERS" \
	-a "$S_LISTED" = 1 -a -z "$PROBS"

# Killed while a layer is being committed: its body is all downloaded and
# unpacked, the layer is syncing and not yet renamed into place. The
# downloaded blob must survive (README: after a crash the next pull continues
# from the bytes on disk). pf.py commitkill SIGKILLs the group at that moment.
cfg commit "{\"insecure-registries\": [\"$PROXY_COUNT_HOST\"], \"retry-base-ms\": 5}"
verdict=
for try in 1 2 3 4 5; do
	RC4=$W/r4c.$try
	BERTH_CONFIG=$CFG setsid "${RUNNER[@]}" "$BERTH" --root "$RC4" pull "$PROXY_COUNT_HOST/$REPO_REF" </dev/null >/dev/null 2>&1 &
	pid=$!
	BERTH_GROUPS+=("$pid")
	hit=$(pf commitkill "$RC4" "$pid" "$W/expect.json" 30)
	{ wait "$pid"; } 2>/dev/null
	wait_group_gone "$pid" 5 || kill_group "$pid"
	read -r ldig ldiff lsize pat <<<"$hit"
	[ -n "$ldig" ] || continue
	[ -d "$RC4/layers/sha256/${ldiff#sha256:}" ] && continue # renamed before the kill landed: again
	psize=$(stat -c %s "$RC4/blobs/partial/${ldig#sha256:}" 2>/dev/null || echo none)
	verdict="layer ${ldig:7:12} ($lsize bytes) killed unpacked but uncommitted (partial file present at the kill: $pat): partial file afterwards: $psize bytes"
	bx 60 --root "$RC4" pull "$PROXY_COUNT_HOST/$REPO_REF"
	check_store "$RC4" full
	verdict+="; the next pull: rc=$RC listed=$S_LISTED problems='$PROBS'"
	break
done
if [ -z "$verdict" ]; then
	skip "killed during a layer commit: the downloaded blob is kept" "5 tries never caught a layer between unpacked and committed (sync too fast here)"
else
	expect "killed during a layer commit (unpacked, syncing): the downloaded blob is kept for the next pull" \
		"$verdict" test "$psize" = "$lsize" -a "$RC" = 0 -a "$S_LISTED" = 1 -a -z "$PROBS"
fi

# --- 5. disk full -------------------------------------------------------------------
# tmpfs mounts made here, unmounted by cleanup (MOUNTS).
mount_tmpfs() { # DIR SIZE
	mkdir -p "$1" && mount -t tmpfs -o "size=$2,mode=0700" berth-test "$1" 2>"$W/mount.err" && MOUNTS+=("$1")
}
cfg disk "{\"insecure-registries\": [\"$PROXY_COUNT_HOST\"], \"retry-base-ms\": 5, \"max-download-attempts\": 2}"
enospc_line() { # PATH-PREFIX: ERR is one 'berth: error: pull' line naming ENOSPC (and the path)
	one_error_line "berth: error: pull " && grep -q "No space left on device" <<<"$ERR" &&
		{ [ -z "$1" ] || grep -qF "$1" <<<"$ERR"; }
}
if mount_tmpfs "$MNT" 8m; then
	bx 60 --root "$MNT/root" pull "$PROXY_COUNT_HOST/$REPO_REF"
	check_store "$MNT/root"
	line=no
	enospc_line "" && line=yes
	expect "disk full (data root on an 8 MiB tmpfs, 24 MiB image): exit 1, one line naming ENOSPC, nothing listed" \
		"listed=$S_LISTED problems='$PROBS'" test "$RC" = 1 -a "$line" = yes -a "$S_LISTED" = 0 -a -z "$PROBS"
	if mount -o remount,size=80m "$MNT" 2>"$W/mount.err"; then
		bx 60 --root "$MNT/root" pull "$PROXY_COUNT_HOST/$REPO_REF"
		check_store "$MNT/root" full
		expect "disk full: after growing the filesystem the pull succeeds, image whole" \
			"rc=$RC listed=$S_LISTED problems='$PROBS'" \
			test "$RC" = 0 -a "$S_LISTED" = 1 -a -z "$PROBS"
	else
		skip "disk full: after growing the filesystem the pull succeeds" "remount failed: $(head -1 "$W/mount.err")"
	fi
	# Which write meets the full disk first (download or unpack) depends on
	# timing there; here each gets its own small filesystem.
	R5=$W/r5b
	if mount_tmpfs "$R5/blobs" 4m; then
		bx 60 --root "$R5" pull "$PROXY_COUNT_HOST/$REPO_REF"
		check_store "$R5"
		line=no
		enospc_line "$R5/blobs/partial/" && line=yes
		expect "disk full while downloading (blobs/ on a 4 MiB tmpfs): one line naming ENOSPC and the file, nothing listed" \
			"listed=$S_LISTED problems='$PROBS'" test "$RC" = 1 -a "$line" = yes -a "$S_LISTED" = 0 -a -z "$PROBS"
	fi
	R5=$W/r5c
	if mount_tmpfs "$R5/layers" 4m; then
		bx 60 --root "$R5" pull "$PROXY_COUNT_HOST/$REPO_REF"
		check_store "$R5"
		line=no
		enospc_line "$R5/" && line=yes
		expect "disk full while unpacking (layers/ on a 4 MiB tmpfs): one line naming ENOSPC and where (the data root), nothing listed" \
			"listed=$S_LISTED problems='$PROBS'" test "$RC" = 1 -a "$line" = yes -a "$S_LISTED" = 0 -a -z "$PROBS"
	fi
else
	skip "disk full (small tmpfs)" "mount -t tmpfs is not permitted here: $(head -1 "$W/mount.err")"
fi

# --- 6. min-free-space-mb ---------------------------------------------------------
R6=$W/r6
mkdir -p "$R6"
free_mb=$(df -Pm "$R6" | awk 'NR == 2 { print $4 }')
cfg minfree "{\"insecure-registries\": [\"$PROXY_COUNT_HOST\"], \"min-free-space-mb\": $((free_mb + 1024))}"
proxy_reset count
bx 60 --root "$R6" pull "$PROXY_COUNT_HOST/$REPO_REF"
check_store "$R6"
bb=$(pstat count blob_bytes)
line=no
one_error_line "berth: error: pull " && grep -q "min-free-space" <<<"$ERR" && grep -qF "$R6" <<<"$ERR" && line=yes
expect "min-free-space-mb above the free space: refused in one line before any layer is downloaded" \
	"layer bytes fetched: $((bb - CONF_BYTES)), config stored: $S_CONFIG, partial_bytes=$S_PARTIAL_BYTES committed=$S_COMMITTED listed=$S_LISTED" \
	test "$RC" = 1 -a "$line" = yes -a "$bb" -le "$CONF_BYTES" -a "$S_PARTIAL_BYTES" = 0 -a "$S_COMMITTED" = 0 \
	-a "$S_LISTED" = 0 -a -z "$PROBS"
cfg minfree "{\"insecure-registries\": [\"$PROXY_COUNT_HOST\"], \"min-free-space-mb\": 1}"
bx 60 --root "$R6" pull "$PROXY_COUNT_HOST/$REPO_REF"
expect "min-free-space-mb 1: the same pull goes through" "rc=$RC" test "$RC" = 0

# --- 7. mirrors ------------------------------------------------------------------------
proxy_start nf "$REG_A_HOST" --not-found
DEAD=http://127.0.0.1:$(fix_free_port)
best() { # ROOT: the faster of two pulls from nothing (ms) in BEST
	BEST=999999
	for _ in 1 2; do
		rm -rf "$1"
		bx 60 --root "$1" pull "$REG_A_HOST/$REPO_REF"
		[ "$RC" = 0 ] || return 1
		[ "$MS" -lt "$BEST" ] && BEST=$MS
	done
	return 0
}
cfg m0 "{\"insecure-registries\": [\"$REG_A_HOST\"]}"
base=0
best "$W/r7" && base=$BEST
expect "mirrors: the pull without mirrors works (the baseline)" "rc=$RC err=$ERR" test "$base" -gt 0
cfg m1 "{\"insecure-registries\": [\"$REG_A_HOST\"], \"mirrors\": {\"$REG_A_HOST\": [\"$PROXY_NF_URL\"]}}"
proxy_reset nf
if best "$W/r7"; then
	asked=$(pstat nf requests)
	expect "mirror answering 404 first: the pull succeeds, under 1 s slower, one request per object" \
		"without mirror $base ms, with it $BEST ms; the mirror got $asked requests for 2 pulls" \
		test $((BEST - base)) -lt 1000 -a "$asked" -ge 2 -a "$asked" -le $((2 * (2 + IMG_LAYERS))) \
		-a "$(pstat nf not_found)" = "$asked"
else
	notok "mirror answering 404 first: the pull succeeds" "rc=$RC err=$ERR"
fi
cfg m2 "{\"insecure-registries\": [\"$REG_A_HOST\"], \"mirrors\": {\"$REG_A_HOST\": [\"$DEAD\"]}}"
if best "$W/r7"; then
	expect "mirror on a dead port (nothing listening): the pull succeeds, under 1 s slower" \
		"without mirror $base ms, with it $BEST ms" test $((BEST - base)) -lt 1000
else
	notok "dead mirror (nothing listening): the pull succeeds" "rc=$RC err=$ERR"
fi

# --- 8. redirects never carry credentials -----------------------------------------------
if img_big c big:24m 24 3; then
	proxy_start cdn "$REG_C_HOST" --backend-ca "$REG_C_CA" --redirect-blobs
	cfg cdn "{\"insecure-registries\": [\"$PROXY_CDN_HOST\"]}"
	bx 30 login -u "$REG_C_USER" -p "$REG_C_PASS" "$PROXY_CDN_HOST"
	login_rc=$RC
	bx 60 --root "$W/r8" pull "$PROXY_CDN_HOST/$REPO_REF"
	check_store "$W/r8" full
	expect "redirected blobs: logged in, the pull succeeds; the CDN served blobs and never saw Authorization" \
		"login rc=$login_rc pull rc=$RC err='$ERR' redirects=$(pstat cdn redirects) cdn_served=$(pstat cdn cdn_served) cdn_auth_rejected=$(pstat cdn cdn_auth_rejected) problems='$PROBS'" \
		test "$login_rc" = 0 -a "$RC" = 0 -a "$(pstat cdn cdn_served)" -gt 0 -a "$(pstat cdn cdn_auth_rejected)" = 0 \
		-a "$(pstat cdn redirects)" -gt 0 -a "$S_LISTED" = 1 -a -z "$PROBS"
else
	notok "redirected blobs: push to the basic-auth registry" "img_big failed"
fi

# --- 9. bad inputs ---------------------------------------------------------------------
expect "setup: a registry to take down" "registry_start failed" registry_start down http
registry_stop down
cfg bad "{\"insecure-registries\": [\"$REG_A_HOST\", \"$REG_DOWN_HOST\"]}"
R9=$R1 # holds the image from scenario 1
snap() { # the store: images, tags, paths (not the lock, layers/tmp or layer contents), metadata hashes
	BERTH_CONFIG=$CFG "${RUNNER[@]}" "$BERTH" --root "$R9" images --no-trunc --digests 2>&1 | awk '{ print $1, $2, $3, $4 }'
	(cd "$R9" && find . \( -path ./layers/tmp -o -path './layers/sha256/*/*' -o -path ./lock \) -prune -o -print | sort &&
		sha256sum repositories.json images/* blobs/sha256/* 2>&1)
}
snap >"$W/snap.before"
zero=$(printf '0%.0s' $(seq 64))
for c in "malformed reference|bad//ref::x" \
	"tag that does not exist|$REG_A_HOST/big:no-such-tag" \
	"digest that does not exist|$REG_A_HOST/big@sha256:$zero" \
	"registry that is down|$REG_DOWN_HOST/big:24m"; do
	what=${c%%|*} ref=${c#*|}
	bx 30 --root "$R9" pull "$ref"
	snap >"$W/snap.after"
	same=yes
	cmp -s "$W/snap.before" "$W/snap.after" || same="no: $(diff "$W/snap.before" "$W/snap.after" | head -3 | tr '\n' ';')"
	if [ "$RC" = 1 ] && one_error_line "berth: error: pull " && [ "$same" = yes ]; then
		ok "bad input, $what: exit 1, one line 'berth: error: pull ...', store unchanged"
	else
		notok "bad input, $what: exit 1, one line 'berth: error: pull ...', store unchanged" \
			"berth --root R pull '$ref' -> rc=$RC stderr='$ERR' store unchanged: $same"
	fi
done

echo "# pull faults took $((SECONDS - START)) s"
finish
