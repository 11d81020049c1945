#!/bin/bash
# The fleet heartbeat over HTTPS (issue 6: "over HTTPS, same CA handling as
# pulls"): the reference portal serves TLS with a certificate from a test
# CA; the daemon trusts it through certs.d/<host:port>/ca.crt, as a pull
# does. Heartbeats arrive with the bearer token and a desired state comes
# back and is applied; with another CA in certs.d the daemon refuses the
# portal (nothing reaches it) and says why in its log.
#
# The EXIT trap stops the daemons and the portal and removes the work dir,
# also on failure.
. "$(dirname "$0")/lib"
. "$TOP/tests/integration/fixtures/registry.sh"

if ! "${RUNNER[@]}" "$BERTH" version 2>/dev/null | grep -q -- '+heartbeat.*+tls\|+tls.*+heartbeat'; then
	skip "fleet over https" "this build lacks the heartbeat or TLS (CONFIG_HEARTBEAT, CONFIG_TLS)"
	finish
fi
fix_pki || {
	notok "fleet over https: test PKI" "openssl failed"
	finish
}

W=$(mktemp -d /tmp/berth-fleet-tls.XXXXXX)
ROOT=$W/root
SOCK=$W/berth.sock
export BERTH_CONFIG=$W/cfg
mkdir -p "$BERTH_CONFIG"
DPID='' PORTAL=''

cleanup() {
	trap - EXIT
	[ -z "$DPID" ] || { kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null; }
	[ -z "$PORTAL" ] || { kill -TERM "$PORTAL" 2>/dev/null && wait "$PORTAL" 2>/dev/null; }
	local left
	left=$(procs_in_w)
	if [ -n "$left" ]; then
		notok "cleanup: nothing left running" "$(for p in $left; do echo "$p:$(title "$p")"; done)"
		kill -KILL $left 2>/dev/null
	fi
	rm -rf "$W"
	exit $T_FAILED
}
trap cleanup EXIT

wait_for() { # SECONDS COMMAND...
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt "$end" ] || return 1
		sleep 0.2
	done
}

PORT=$(fix_free_port)
PURL=https://127.0.0.1:$PORT
TOKEN=tok-$RANDOM$RANDOM
setpriv --pdeathsig TERM -- python3 "$TOP/tests/integration/fixtures/portal_test.py" --port "$PORT" \
	--dir "$W/portal" --token "$TOKEN" --tls-cert "$FIX_SERVER_CERT" --tls-key "$FIX_SERVER_KEY" \
	</dev/null >"$W/portal.log" 2>&1 &
PORTAL=$!
pcurl() { curl -sf -m 5 --cacert "$FIX_CA" "$@"; }
wait_for 10 pcurl -o /dev/null "$PURL/admin/heartbeats" ||
	{ notok "portal over https" "did not start: $(cat "$W/portal.log")"; finish; }
nhb() { pcurl "$PURL/admin/heartbeats" | wc -l; }
nhb_ge() { [ "$(nhb)" -ge "$1" ]; }

printf '%s\n' "$TOKEN" >"$W/token"
cat >"$BERTH_CONFIG/daemon.json" <<EOF
{"fleet": {"portal": "$PURL", "interval": 1, "settle-time": 1, "token-file": "$W/token"}}
EOF
daemon_start() {
	setpriv --pdeathsig TERM -- "${RUNNER[@]}" "$BERTH" --root "$ROOT" daemon -H "unix://$SOCK" \
		</dev/null >>"$W/daemon.log" 2>&1 &
	DPID=$!
	wait_for 10 curl -sf -m 2 -o /dev/null --unix-socket "$SOCK" http://berth/_ping
}
daemon_stop() {
	kill -TERM "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	DPID=''
}

# --- the right CA in certs.d/<host:port> ---------------------------------------------------
mkdir -p "$BERTH_CONFIG/certs.d/127.0.0.1:$PORT"
cp "$FIX_CA" "$BERTH_CONFIG/certs.d/127.0.0.1:$PORT/ca.crt"
daemon_start || { notok "daemon starts" "$(tail -3 "$W/daemon.log")"; finish; }
wait_for 15 nhb_ge 2
expect "https portal, its CA in certs.d: heartbeats arrive" "$(nhb) heartbeats; daemon log: $(tail -2 "$W/daemon.log")" nhb_ge 2
auth=$(pcurl "$PURL/admin/headers" | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin).get("Authorization", ""))')
expect "https portal: the bearer token travels inside TLS" "Authorization '$auth'" test "$auth" = "Bearer $TOKEN"
pcurl -X PUT --data-binary '{"revision": "t1", "containers": []}' "$PURL/admin/desired" >/dev/null
last_rev() {
	pcurl "$PURL/admin/heartbeats" | tail -1 |
		python3 -c 'import json,sys; r = json.loads(sys.stdin.read())["body"]["revision"]; print("%s %s" % (r["id"], r["state"]) if r else "none")'
}
rev_is() { [ "$(last_rev)" = "$1" ]; }
wait_for 20 rev_is "t1 applied"
expect "https portal: a desired state comes back over TLS and is applied and reported" "last: $(last_rev)" rev_is "t1 applied"
daemon_stop

# --- another CA: the portal is refused ---------------------------------------------------------
cp "$FIX_OTHER_CA" "$BERTH_CONFIG/certs.d/127.0.0.1:$PORT/ca.crt"
n0=$(nhb)
: >"$W/daemon.log"
daemon_start || { notok "daemon starts (other CA)" "$(tail -3 "$W/daemon.log")"; finish; }
wait_for 15 grep -q 'heartbeat failed' "$W/daemon.log"
sleep 1
expect "https portal, another CA in certs.d: no heartbeat reaches it" "heartbeats $n0 -> $(nhb)" test "$(nhb)" = "$n0"
expect "https portal, another CA: the daemon log says why (unknown certificate authority)" \
	"log: $(grep 'heartbeat failed' "$W/daemon.log" | head -2)" \
	grep -q 'heartbeat failed (1 in a row): .*unknown certificate authority' "$W/daemon.log"
daemon_stop
finish
