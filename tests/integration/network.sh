#!/bin/bash
# Container networking (issue 7), as root with the real kernel: the default
# bridge, published ports (TCP and UDP, every -p form, -P with EXPOSE),
# links, outbound traffic, --network none/host/container:NAME, a host port in
# use, start failures and a crashed monitor, and no leaks after 100 run --rm
# cycles. Two passes: "nat" (default daemon.json: iptables DNAT carries
# traffic to the host's addresses, the userland proxy 127.0.0.1) and "proxy"
# ("iptables": false: the proxy carries everything, berth adds no rule).
#
# Each pass runs in a private network namespace (unshare --net) set up like
# a small gateway: lo, an uplink veth ntup0 with 198.51.100.1/24 (the
# "host address", TEST-NET-2) whose peer 198.51.100.2 lives in a second
# private namespace ("outside", held by a sleep), and a default route through
# it. berth0, its veths, berth's iptables chains, ip_forward and every
# listening socket are then this test's own: other berth data roots on the
# machine (concurrent test runs share the host's berth0 and its subnet)
# cannot disturb the exact before/after comparisons, and the host's own
# network is never touched: the namespaces, with everything berth made in
# them, go away with the test's processes, also on failure.
#
# Which path carried a connection is told by the client address the
# container sees (a CGI script printing REMOTE_ADDR; the UDP echo returns it):
# DNAT keeps the client's address, the proxy connects from the bridge
# address 172.30.0.1.
#
# UDP: Debian's busybox nc has no -u, so the UDP echo in the container is
# python3 from the host's /usr, bind-mounted read-only (with /lib*).
# shellcheck disable=SC2016,SC2034 # check expressions are eval'd by t()
. "$(dirname "$0")/lib"

if [ -z "${NT_PASS:-}" ]; then
	[ "$(id -u)" = 0 ] || { skip "network" "needs root (namespaces, veths, iptables)"; finish; }
	for tool in docker-registry skopeo umoci unshare nsenter python3 ip ss timeout; do
		command -v "$tool" >/dev/null || { notok "network" "$tool is not installed (run scripts/bootstrap)"; finish; }
	done
	[ -x /usr/bin/python3 ] || { notok "network" "/usr/bin/python3 is missing (the container's UDP echo)"; finish; }
	export BERTH
	rc=0
	for pass in nat proxy; do
		NT_PASS=$pass unshare --net -- bash "$0" || rc=1
	done
	exit $rc
fi

. "$TOP/tests/integration/fixtures/registry.sh"
. "$TOP/tests/integration/fixtures/images.sh"
. "$TOP/tests/integration/fixtures/netimg.sh"

P=$NT_PASS
HOST_IP=198.51.100.1
OUT_IP=198.51.100.2
GW=172.30.0.1
# every berth call gets a deadline: a hang fails the check instead of the run
RUNNER=(timeout -k 5 120 "${RUNNER[@]}")

W=$(mktemp -d "/tmp/berth-net-$P.XXXXXX")
R=$W/root
# the leases of this pass's own network namespace (berth keeps one file per
# namespace, as each has its own bridge)
LEASES=/run/berth/network/$(stat -L -c %i /proc/self/ns/net)/leases
BG=() # background processes started here (by pid)
OUTER=

mons() { # berth-monitor processes of this data root
	local p
	for p in $(pgrep -x berth-monitor); do
		tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF -- "--root $R " && echo "$p"
	done
}
cleanup() {
	local c p m
	for p in "${BG[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait "${BG[@]}" 2>/dev/null
	if [ -d "$R/containers" ]; then
		for c in $(bq ps -aq --no-trunc 2>/dev/null); do bq rm -f -v "$c" >/dev/null 2>&1; done
	fi
	for p in $(mons); do kill -KILL "$p" 2>/dev/null; done
	registry_stop_all
	grep -F "$W" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$W" "${LEASES%/leases}" # this namespace's leases go with it
}
trap cleanup EXIT

b() { run --root "$R" "$@"; }
bq() { "${RUNNER[@]}" "$BERTH" --root "$R" "$@"; }
hp() { python3 "$W/nt/nt.py" "$@"; }
onx() { nsenter --net="/proc/$OUTER/ns/net" "$@"; }
# t NAME WHY EXPR: ok if EXPR (evaluated) is true.
t() {
	local name="$P: $1" why=$2
	if eval "$3"; then ok "$name"; else notok "$name" "$why (rc=$RC out='${OUT:0:300}' err='${ERR:0:300}')"; fi
}
lines() { [ -z "$1" ] && echo 0 || printf '%s\n' "$1" | wc -l; }
one_error_line() { [ "$(lines "$ERR")" = 1 ] && [[ "$ERR" == "berth: error: "* ]]; }
wait_for() { # SECONDS EXPR: polls EXPR every 0.1 s
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		eval "$2" && return 0
		sleep 0.1
	done
	return 1
}
ctr_ip() { bq exec "$1" ip -o -4 addr show eth0 2>/dev/null | awk '{print $4}' | cut -d/ -f1; }
ctr_pid() { bq inspect -f '{{.State.Pid}}' "$1" 2>/dev/null; }
names() { awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' '; }
cfg() { # [EXTRA-JSON-MEMBERS]: daemon.json for this pass
	local extra=
	[ "$P" = proxy ] && extra=', "iptables": false'
	echo "{\"insecure-registries\": [\"$REG_NET_HOST\"]$extra${1:+, $1}}" >"$BERTH_CONFIG/daemon.json"
}
# The state that must come back after a container goes: links, addresses,
# routes, rules (without counters), listening sockets (without queue sizes),
# the leases file, this root's monitors and mounts.
snap() {
	{
		echo "# links"
		ip -o link
		# (an IPv6 link-local address of a running container's veth turns
		# from tentative to valid and gets its local route when DAD ends)
		echo "# addresses"
		ip -o addr | sed 's/ tentative / /'
		echo "# routes"
		ip -4 route show table all
		echo "# rules"
		iptables-save 2>/dev/null | grep -v '^[#:]'
		echo "# listening"
		ss -H -ltnup | awk '{$3 = $4 = ""; print}' | sort
		echo "# leases"
		cat $LEASES 2>/dev/null
		echo "# monitors"
		mons
		echo "# mounts"
		grep -cF "$W/root" /proc/self/mountinfo
	} >"$1"
}
# same_as FILE: polls up to 15 s (the kernel destroys a veth pair after the
# namespace dies, asynchronously) until the state equals FILE; the last
# difference is left in $W/diff.
same_as() {
	SAME_REF=$1
	wait_for 15 'snap "$W/now"; diff "$SAME_REF" "$W/now" >"$W/diff"'
}
difftext() { head -c 600 "$W/diff" | tr '\n' '|'; }
# t_same NAME FILE: ok if the state comes back to FILE (same_as).
t_same() {
	if same_as "$2"; then ok "$P: $1"; else notok "$P: $1" "state differs from before: $(difftext)"; fi
}

# --- the gateway: uplink, outside namespace, default route ---------------------
ip link set lo up
echo 0 >/proc/sys/net/ipv4/ip_forward # this namespace's; berth must turn it on
unshare --net -- sleep 100000 &
OUTER=$!
BG+=("$OUTER")
wait_for 5 '[ "$(readlink /proc/$OUTER/ns/net)" != "$(readlink /proc/self/ns/net)" ]'
if ! { ip link add ntup0 type veth peer name ntout0 && ip link set ntout0 netns "$OUTER" &&
	ip addr add "$HOST_IP/24" dev ntup0 && ip link set ntup0 up &&
	onx ip link set lo up && onx ip addr add "$OUT_IP/24" dev ntout0 &&
	onx ip link set ntout0 up && ip route add default via "$OUT_IP"; } >"$W/setup.log" 2>&1; then
	notok "$P: setup" "uplink veth: $(tr '\n' ' ' <"$W/setup.log")"
	finish
fi
if [ "$P" = nat ] && ! iptables -t nat -S >/dev/null 2>&1; then
	skip "$P: all" "iptables cannot list the nat table here (no iptables or no kernel NAT)"
	finish
fi

export BERTH_CONFIG=$W/cfg
mkdir -p "$BERTH_CONFIG" "$W/nt" "$W/www/cgi-bin"
registry_start net http >/dev/null || { notok "$P: registry" "could not start"; finish; }
img_net net kit/net:1 || { notok "$P: image" "could not build"; finish; }
IMG=$IMG_REF
cfg
b pull -q "$IMG"
[ "$RC" = 0 ] || { notok "$P: pull" "rc=$RC $ERR"; finish; }
net_helper "$W/nt/nt.py"
echo "hello from berth $P" >"$W/www/index.html"
printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "$REMOTE_ADDR"\n' >"$W/www/cgi-bin/ip"
chmod 755 "$W/www/cgi-bin/ip"
PAGE="hello from berth $P"
# python3 of the host inside a container (read-only), for the UDP echo
PYMNT=(-v /usr:/usr:ro -v "$W/nt:/nt:ro")
for d in /lib /lib64 /lib32 /libx32; do [ -e "$d" ] && PYMNT+=(-v "$d:$d:ro"); done
WWW=(-v "$W/www:/www:ro")
# the client address a path shows the container: DNAT keeps it, the proxy
# connects from the bridge
if [ "$P" = nat ]; then VIA_HOST=$HOST_IP VIA_OUT=$OUT_IP; else VIA_HOST=$GW VIA_OUT=$GW; fi
# REMOTE_ADDR as busybox httpd sets it: "[::ffff:1.2.3.4]" or "1.2.3.4"
cgi_peer() { hp http "$1" | tr -d '[]\n' | sed 's/^::ffff://'; }

# --- a bip that collides with a host route is refused --------------------------
cfg '"bip": "198.51.100.9/24"'
b run --rm "$IMG" true
t "bip colliding with a host route is refused" "exit 125, one error line naming the collision, no bridge" \
	'[ "$RC" = 125 ] && one_error_line && [[ "$ERR" == *collides* ]] && ! ip link show berth0 >/dev/null 2>&1'
t "a refused bridge leaves no lease" "leases file empty or absent" \
	'[ ! -s $LEASES ]'
cfg

# --- the first container: addresses, names, outbound -----------------------------
python3 "$W/nt/nt.py" httpsrv 0.0.0.0 8000 &
BG+=($!)
nsenter --net="/proc/$OUTER/ns/net" python3 "$W/nt/nt.py" httpsrv "$OUT_IP" 8001 &
BG+=($!)
hp waittcp 127.0.0.1 8000 30 && onx python3 "$W/nt/nt.py" waittcp "$OUT_IP" 8001 30 ||
	notok "$P: outbound servers" "did not start"
b run --rm --name first "$IMG" sh -c 'ip -o -4 addr show eth0 | awk "{print \$4}"; echo "-- route"; ip route
	echo "-- hosts"; cat /etc/hosts; echo "-- name"; hostname; echo "-- resolv"; grep "^nameserver" /etc/resolv.conf
	echo "-- gw"; timeout 10 wget -qO- http://172.30.0.1:8000/; echo "-- out"; timeout 10 wget -qO- http://198.51.100.2:8001/; echo "-- end"'
sect() { printf '%s\n' "$OUT" | sed -n "/^-- $1\$/,/^-- /p" | sed '1d;$d'; }
first_out=$OUT
t "bridge: eth0 has the first lease" "172.30.0.2/16" '[ "$(printf "%s\n" "$OUT" | head -1)" = 172.30.0.2/16 ]'
t "bridge: default route via the bridge" "default via 172.30.0.1 dev eth0" \
	'sect route | grep -qx "default via 172.30.0.1 dev eth0 *"'
t "bridge: /etc/hosts maps the hostname to the container's address" "172.30.0.2<tab>hostname" \
	'sect hosts | grep -qxF "$(printf "172.30.0.2\t%s" "$(sect name)")"'
want_ns=$(grep '^nameserver' /etc/resolv.conf | grep -vE '^nameserver[[:space:]]+(127\.|::1)' || true)
[ -n "$want_ns" ] || want_ns="nameserver 8.8.8.8"
t "bridge: resolv.conf is the host's without loopback nameservers" "want '$want_ns'" \
	'[ "$(sect resolv | tr -s " \t" " ")" = "$(printf "%s\n" "$want_ns" | tr -s " \t" " ")" ]'
t "outbound: a server on the bridge address is reached from the container's address" "peer=172.30.0.2" \
	'[ "$(sect gw)" = peer=172.30.0.2 ]'
if [ "$P" = nat ]; then
	# (RC=- ERR=: what the check shows on failure is OUT, not a berth call)
	OUT=$(iptables-save -t nat 2>/dev/null | grep -E -- '^-A (POSTROUTING|BERTH-POSTROUTING) ' | tr '\n' ';') RC=- ERR=
	t "outbound: masquerade rule for the subnet (a default route exists), first container without -p" \
		"want -A BERTH-POSTROUTING -s 172.30.0.0/16 ! -o berth0 ... -j MASQUERADE and the POSTROUTING jump" \
		'[[ "$OUT" =~ -A\ BERTH-POSTROUTING\ -s\ 172\.30\.0\.0/16\ !\ -o\ berth0\ .*-j\ MASQUERADE ]] &&
		 [[ "$OUT" =~ -A\ POSTROUTING\ .*-j\ BERTH-POSTROUTING ]]'
	OUT=$(cat /proc/sys/net/ipv4/ip_forward)
	t "outbound: ip_forward on, first container without -p" "want 1" '[ "$OUT" = 1 ]'
	OUT=$first_out
	OUT=$(sect out)
	t "outbound: a server beyond the uplink sees the host's address (masquerade), first container without -p" \
		"want peer=$HOST_IP" '[ "$OUT" = "peer=$HOST_IP" ]'
else
	t "outbound: berth adds no iptables rule with \"iptables\": false" "no 'berth' in iptables-save" \
		'! iptables-save 2>/dev/null | grep -q berth'
	skip "$P: outbound beyond the uplink" "\"iptables\": false: no masquerade (as docker --iptables=false)"
fi
t "bridge: --rm leaves no lease" "leases empty" 'wait_for 10 "[ ! -s $LEASES ]"'

# resolv.conf with only loopback nameservers: the fallback (a private mount
# namespace for that one berth call; the host's file is untouched)
printf 'nameserver 127.0.0.53\nnameserver ::1\nsearch example.org\n' >"$W/resolv-loop"
OUT=$(unshare -m sh -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' sh "$W/resolv-loop" \
	"${RUNNER[@]}" "$BERTH" --root "$R" run --rm "$IMG" cat /etc/resolv.conf 2>&1)
RC=$? ERR=
t "bridge: resolv.conf falls back to 8.8.8.8 when the host has only loopback nameservers" \
	"nameserver 8.8.8.8, no loopback" \
	'[ "$RC" = 0 ] && grep -qx "nameserver 8.8.8.8" <<<"$OUT" && ! grep -qE "^nameserver (127\.|::1)" <<<"$OUT"'

# --- published TCP ports -------------------------------------------------------
b run -d --name web -p 18080:80 -p 127.0.0.1:18081:80 -p "$HOST_IP:18082:80" -p 80 "${WWW[@]}" \
	"$IMG" httpd -f -p 80 -h /www
web_id=$OUT
t "tcp: run -d -p ... starts" "64-hex id" '[ "$RC" = 0 ] && [[ "$web_id" =~ ^[0-9a-f]{64}$ ]]'
hp waittcp 127.0.0.1 18080 30
web_ip=$(ctr_ip web)
b port web
port_out=$OUT
rnd=$(sed -n 's|^80/tcp -> 0\.0\.0\.0:\([0-9]*\)$|\1|p' <<<"$port_out" | grep -vx 18080)
t "tcp: berth port lists every binding" "4 lines, the fixed ones exact and a random one" \
	'[ "$(lines "$port_out")" = 4 ] && grep -qx "80/tcp -> 0.0.0.0:18080" <<<"$port_out" &&
	 grep -qx "80/tcp -> 127.0.0.1:18081" <<<"$port_out" && grep -qx "80/tcp -> $HOST_IP:18082" <<<"$port_out" &&
	 [ -n "$rnd" ] && [ "$rnd" -gt 0 ]'
b ps --format '{{.Names}}|{{.Ports}}'
t "tcp: ps shows the published ports" "web|...0.0.0.0:18080->80/tcp..." \
	'grep "^web|" <<<"$OUT" | grep -qF "0.0.0.0:18080->80/tcp"'
OUT=$(hp http "http://$HOST_IP:18080/index.html")
t "tcp: -p 18080:80 reached via the host address" "the page" '[ "$OUT" = "$PAGE" ]'
OUT=$(cgi_peer "http://$HOST_IP:18080/cgi-bin/ip")
t "tcp: via the host address the container sees $VIA_HOST ($([ "$P" = nat ] && echo DNAT || echo proxy))" \
	"REMOTE_ADDR" '[ "$OUT" = "$VIA_HOST" ]'
OUT=$(hp http "http://127.0.0.1:18080/index.html")
t "tcp: -p 18080:80 reached via 127.0.0.1" "the page" '[ "$OUT" = "$PAGE" ]'
OUT=$(cgi_peer "http://127.0.0.1:18080/cgi-bin/ip")
t "tcp: via 127.0.0.1 the proxy carries it" "REMOTE_ADDR $GW" '[ "$OUT" = "$GW" ]'
OUT=$(onx python3 "$W/nt/nt.py" http "http://$HOST_IP:18080/index.html")
t "tcp: reached from outside over the uplink" "the page" '[ "$OUT" = "$PAGE" ]'
OUT=$(onx python3 "$W/nt/nt.py" http "http://$HOST_IP:18080/cgi-bin/ip" | tr -d '[]\n' | sed 's/^::ffff://')
t "tcp: from outside the container sees $VIA_OUT" "REMOTE_ADDR" '[ "$OUT" = "$VIA_OUT" ]'
OUT=$(hp http "http://127.0.0.1:18081/index.html")
t "tcp: -p 127.0.0.1:18081:80 answers on 127.0.0.1" "the page" '[ "$OUT" = "$PAGE" ]'
t "tcp: -p 127.0.0.1:18081:80 refuses the host address" "connection refused" \
	'hp refused "$HOST_IP" 18081'
OUT=$(hp http "http://$HOST_IP:18082/index.html")
t "tcp: -p $HOST_IP:18082:80 answers on that address" "the page" '[ "$OUT" = "$PAGE" ]'
t "tcp: -p $HOST_IP:18082:80 refuses 127.0.0.1" "connection refused" 'hp refused 127.0.0.1 18082'
OUT=$(hp http "http://127.0.0.1:${rnd:-1}/index.html")
t "tcp: -p 80 (a random host port) answers" "the page on port $rnd" '[ "$OUT" = "$PAGE" ]'
OUT=$(ss -H -ltnp "sport = :18080")
t "tcp: the monitor's proxy holds the host port" "berth-monitor listening on 0.0.0.0:18080" \
	'grep -q "0.0.0.0:18080 .*berth-monitor" <<<"$OUT"'
rules=$(iptables-save 2>/dev/null)
if [ "$P" = nat ]; then
	t "tcp: DNAT rule for 18080 commented with the container id" "-A BERTH ... --dport 18080 ... berth:<id> ... --to-destination $web_ip:80" \
		'grep -E -- "^-A BERTH .*--dport 18080 " <<<"$rules" | grep -F -- "berth:$web_id" | grep -qF -- "--to-destination $web_ip:80"'
	t "tcp: DNAT rule for $HOST_IP:18082 only matches that address" "-d $HOST_IP/32" \
		'grep -E -- "^-A BERTH .*--dport 18082 " <<<"$rules" | grep -qF -- "-d $HOST_IP/32"'
	t "tcp: FORWARD accept for the container port" "-A BERTH-FORWARD -d $web_ip/32 ... --dport 80 ... ACCEPT" \
		'grep -E -- "^-A BERTH-FORWARD -d $web_ip/32 .*--dport 80 " <<<"$rules" | grep -F -- "berth:$web_id" | grep -q ACCEPT'
	# (in web's namespace: no address of its own that a later container would
	# reuse, see "address reuse" below)
	b run --rm --network container:web "$IMG" sh -c 'timeout 10 wget -qO- "$0"; exit $?' "http://$OUT_IP:8001/"
	t "outbound: beyond the uplink, masqueraded, once a container published ports" "peer=$HOST_IP" \
		'[ "$OUT" = "peer=$HOST_IP" ]'
else
	t "tcp: no berth rule at all with \"iptables\": false" "iptables-save without 'berth'" \
		'! grep -q berth <<<"$rules"'
fi

# --- published UDP ports ---------------------------------------------------------
# udp_diag NAME HOSTPORT: "# " lines for a lost datagram: the container's
# sockets and address, conntrack entries, neighbours, the NAT rule counters.
udp_diag() {
	echo "# $1: $(bq exec "$1" netstat -uln 2>&1 | grep -c ':53 ') sockets on :53, eth0 $(ctr_ip "$1")" \
		"$(bq exec "$1" ip link show eth0 2>/dev/null | awk '/ether/ {print $2}')"
	grep -E "dport=(53|$2) " /proc/net/nf_conntrack 2>/dev/null | sed 's/^/# ct: /'
	ip neigh show dev berth0 | sed 's/^/# neigh: /'
	iptables -t nat -L BERTH -nvx 2>/dev/null | grep -E "udp|pkts" | sed 's/^/# nat: /'
	ss -H -lunp "sport = :$2" | sed 's/^/# listen: /'
}
b run -d --name echo -p 15353:53/udp "${PYMNT[@]}" "$IMG" /usr/bin/python3 /nt/nt.py udpecho 53
t "udp: run -d -p 15353:53/udp starts" "rc 0" '[ "$RC" = 0 ]'
wait_for 30 'bq exec echo netstat -uln 2>/dev/null | grep -q ":53 "'
b port echo
t "udp: berth port" "53/udp -> 0.0.0.0:15353" '[ "$OUT" = "53/udp -> 0.0.0.0:15353" ]'
OUT=$(hp udpask "$HOST_IP" 15353 a 3)
t "udp: echo via the host address, replies from the address asked" \
	"a-N|$VIA_HOST from=$HOST_IP:15353, 3 times" \
	'[ "$OUT" = "$(printf "a-%d|$VIA_HOST from=$HOST_IP:15353\n" 1 2 3)" ]'
[[ "$OUT" == *"no reply"* ]] && udp_diag echo 15353
OUT=$(hp udpask 127.0.0.1 15353 b 3)
t "udp: echo via 127.0.0.1 (proxy)" "b-N|$GW from=127.0.0.1:15353, 3 times" \
	'[ "$OUT" = "$(printf "b-%d|$GW from=127.0.0.1:15353\n" 1 2 3)" ]'
OUT=$(onx python3 "$W/nt/nt.py" udpask "$HOST_IP" 15353 c 2)
t "udp: echo from outside over the uplink" "c-N|$VIA_OUT from=$HOST_IP:15353, 2 times" \
	'[ "$OUT" = "$(printf "c-%d|$VIA_OUT from=$HOST_IP:15353\n" 1 2)" ]'

# --- -P: every EXPOSEd port ------------------------------------------------------
b run -d --name pall -P --expose 8080 "${PYMNT[@]}" "${WWW[@]}" "$IMG" \
	sh -c 'httpd -p 80 -h /www; httpd -p 8080 -h /www; exec /usr/bin/python3 /nt/nt.py udpecho 53'
t "-P: starts" "rc 0" '[ "$RC" = 0 ]'
b port pall
pall_out=$OUT
p80=$(sed -n 's|^80/tcp -> 0\.0\.0\.0:\([0-9]*\)$|\1|p' <<<"$pall_out")
p53=$(sed -n 's|^53/udp -> 0\.0\.0\.0:\([0-9]*\)$|\1|p' <<<"$pall_out")
p8080=$(sed -n 's|^8080/tcp -> 0\.0\.0\.0:\([0-9]*\)$|\1|p' <<<"$pall_out")
t "-P: EXPOSE 80/tcp 53/udp and --expose 8080 each get a random host port" "3 lines, 3 ports" \
	'[ "$(lines "$pall_out")" = 3 ] && [ -n "$p80" ] && [ -n "$p53" ] && [ -n "$p8080" ] && [ "$p80" != "$p8080" ]'
b port pall 80/tcp
t "-P: berth port NAME 80/tcp" "0.0.0.0:$p80" '[ "$OUT" = "0.0.0.0:$p80" ]'
b ps --format '{{.Names}}|{{.Ports}}'
t "-P: ps shows the three" "0.0.0.0:$p80->80/tcp, 0.0.0.0:$p53->53/udp, 0.0.0.0:$p8080->8080/tcp" \
	'line=$(grep "^pall|" <<<"$OUT"); [[ "$line" == *"0.0.0.0:$p80->80/tcp"* && "$line" == *"0.0.0.0:$p53->53/udp"* && "$line" == *"0.0.0.0:$p8080->8080/tcp"* ]]'
hp waittcp 127.0.0.1 "${p8080:-1}" 30
wait_for 30 'bq exec pall netstat -uln 2>/dev/null | grep -q ":53 "'
OUT=$(hp http "http://$HOST_IP:${p80:-1}/index.html")
t "-P: 80/tcp via the host address" "the page" '[ "$OUT" = "$PAGE" ]'
OUT=$(hp http "http://127.0.0.1:${p8080:-1}/index.html")
t "-P: 8080/tcp via 127.0.0.1" "the page" '[ "$OUT" = "$PAGE" ]'
OUT=$(hp udpask "$HOST_IP" "${p53:-1}" d 1)
t "-P: 53/udp via the host address" "d-1|$VIA_HOST" '[ "$OUT" = "d-1|$VIA_HOST from=$HOST_IP:$p53" ]'

# --- links -------------------------------------------------------------------------
echo_ip=$(ctr_ip echo)
b run --rm --link web:webalias --link echo "$IMG" sh -c 'timeout 10 wget -qO- http://webalias/index.html
	timeout 10 wget -qO- http://web/index.html; echo "-- hosts"; cat /etc/hosts'
t "link: the alias reaches the linked container" "the page twice (alias, name)" \
	'[ "$(printf "%s\n" "$OUT" | head -2)" = "$(printf "%s\n%s" "$PAGE" "$PAGE")" ]'
t "link: /etc/hosts has alias and name at the linked container's address" \
	"$web_ip webalias web ...; $echo_ip echo ..." \
	'sect hosts | grep -qE "^${web_ip//./\\.}[[:space:]]+webalias web( |$)" &&
	 sect hosts | grep -qE "^${echo_ip//./\\.}[[:space:]]+echo( |$)"'
b run --rm --link nosuch "$IMG" true
t "link: to a missing container fails" "exit 125, one error line" '[ "$RC" = 125 ] && one_error_line'

# --- none, host, container:NAME -------------------------------------------------------
b run --rm --network none "$IMG" ip -o link
t "none: only lo" "lo" '[ "$RC" = 0 ] && [ "$(names <<<"$OUT")" = "lo " ]'
b run --rm --network host "$IMG" ip -o link
t "host: sees the host's interfaces" "$(ip -o link | names)" \
	'[ "$RC" = 0 ] && [ "$(names <<<"$OUT")" = "$(ip -o link | names)" ]'
b run --rm --network host "$IMG" ip -o -4 addr show ntup0
t "host: sees the host's address" "$HOST_IP/24 on ntup0" '[[ "$OUT" == *"inet $HOST_IP/24 "* ]]'
b run --rm --network host -p 18099:80 "$IMG" true
t "host: -p is discarded with a warning" "exit 0, WARNING line, nothing listening" \
	'[ "$RC" = 0 ] && [[ "$ERR" == WARNING:* ]] && hp refused 127.0.0.1 18099'
web_pid=$(ctr_pid web)
b run --rm --network container:web "$IMG" sh -c 'readlink /proc/self/ns/net
	ip -o -4 addr show eth0 | awk "{print \$4}"; timeout 10 wget -qO- http://127.0.0.1/index.html; exit $?'
t "container:web shares web's namespace, eth0 and address" "$(readlink "/proc/$web_pid/ns/net") $web_ip/16 page" \
	'[ "$OUT" = "$(printf "%s\n%s/16\n%s" "$(readlink "/proc/$web_pid/ns/net")" "$web_ip" "$PAGE")" ]'

# --- a host port in use: the second container fails cleanly ---------------------------
snap "$W/s-clash"
b run -d --name clash -p 18080:80 "$IMG" httpd -f -p 80
t "clash: same TCP host port fails" "exit 125, one error line naming 18080" \
	'[ "$RC" = 125 ] && one_error_line && [[ "$ERR" == *18080* ]]'
t_same "clash: nothing left (lease, rule, veth, listener)" "$W/s-clash"
b run --rm -p 18090:80 -p 18080:80 "$IMG" true
t "clash: a free and a used port: fails" "exit 125, one error line" '[ "$RC" = 125 ] && one_error_line'
t "clash: the free port is not left held" "18090 refused" 'hp refused 127.0.0.1 18090'
b run -d --name clashu -p 15353:53/udp "$IMG" true
t "clash: same UDP host port fails" "exit 125, one error line" '[ "$RC" = 125 ] && one_error_line'
t_same "clash: nothing left after all three" "$W/s-clash"
b run -d -p 18091:80 "$IMG" nosuchcommand
t "start failure after the ports were bound (no such command)" "exit 127, one error line" \
	'[ "$RC" = 127 ] && one_error_line'
t_same "start failure: nothing left" "$W/s-clash"

# --- a crashed monitor: rm cleans up -----------------------------------------------------
b run -d --name crash -p 18600:80 -p 18600:53/udp "$IMG" httpd -f -p 80
hp waittcp 127.0.0.1 18600 30
cpid=$(ctr_pid crash)
mpid=$(for p in $(mons); do tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "--name crash " && echo "$p"; done)
kill -KILL $mpid $cpid 2>/dev/null
wait_for 10 '! kill -0 $cpid 2>/dev/null'
b rm -f crash
t "crash: rm after the monitor was killed" "exit 0" '[ "$RC" = 0 ]'
t_same "crash: its lease, rules, veth and listeners are gone" "$W/s-clash"

# --- 100 run --rm cycles with published ports -------------------------------------------
bq rm -f echo pall >/dev/null 2>&1
for c in $(bq ps -aq --no-trunc 2>/dev/null); do [ "$c" = "$web_id" ] || bq rm -f "$c" >/dev/null 2>&1; done
# the removed ones' veths go asynchronously: wait until only web's is left
wait_for 15 '[ "$(ip -o link show master berth0 | wc -l)" = 1 ]'
snap "$W/s-cycles"
bad=0 first_bad=
for ((i = 1; i <= 100; i++)); do
	if ((i % 2)); then
		b run --rm -p 18500:80 -p 18500:53/udp "$IMG" hostname
	else
		b run --rm -P "$IMG" hostname
	fi
	if [ "$RC" != 0 ] || ! [[ "$OUT" =~ ^[0-9a-f]{12}$ ]]; then
		bad=$((bad + 1))
		[ -n "$first_bad" ] || first_bad="cycle $i: rc=$RC out=${OUT:0:80} err=${ERR:0:200}"
	fi
done
t "cycles: 100 run --rm with -p/-P all succeed" "$bad failed; first: $first_bad" '[ "$bad" = 0 ]'
t_same "cycles: links, addresses, routes, rules, sockets, leases, monitors as before" "$W/s-cycles"
b ps -aq
t "cycles: only web is left" "one container" '[ "$OUT" = "${web_id:0:12}" ]'

# --- web goes too ---------------------------------------------------------------------
b rm -f web
t "rm -f web" "exit 0" '[ "$RC" = 0 ]'
t "after rm: no veth on berth0, no lease, no container rule, no proxy" \
	"nothing of web left" \
	'wait_for 15 "! ip -o link show master berth0 | grep -q ."; [ ! -s $LEASES ] &&
	 ! iptables-save 2>/dev/null | grep -q "berth:" && ! ss -H -ltnu | grep -q ":18080 "'

# --- address reuse: the host's neighbour entry of the previous owner ---------------------
# A new container often gets the address a removed one had (lowest free
# lease). The host's neighbour (ARP) entry still names the old container's
# MAC: unless berth makes the MAC follow the address (as docker does:
# 02:42:<ip>) or clears the entry, the new container is unreachable until the
# entry expires (seconds to a minute). A bridge without a fixed MAC takes a
# port's, and its changes flush the neighbour table, hiding this at random
# (it changes less often with more containers running), and so does the
# bridge losing its last port (carrier down). The bridge's MAC is pinned and
# another container keeps it up, so the check does not depend on either.
ip link set berth0 address 02:00:00:00:00:01
b run -d --name keep "$IMG" sleep 100000
ip neigh flush dev berth0 # entries of earlier containers: the setup starts clean
b run -d --name reuse1 "${PYMNT[@]}" "$IMG" /usr/bin/python3 /nt/nt.py udpecho 53
wait_for 30 'bq exec reuse1 netstat -uln 2>/dev/null | grep -q ":53 "'
ip1=$(ctr_ip reuse1)
hp udpask "$ip1" 53 first 1 >/dev/null
b rm -f reuse1
wait_for 15 '[ "$(ip -o link show master berth0 | wc -l)" = 1 ]'
b run -d --name reuse2 "${PYMNT[@]}" "$IMG" /usr/bin/python3 /nt/nt.py udpecho 53
wait_for 30 'bq exec reuse2 netstat -uln 2>/dev/null | grep -q ":53 "'
ip2=$(ctr_ip reuse2)
mac2=$(bq exec reuse2 ip link show eth0 2>/dev/null | awk '/ether/ {print $2}')
nb=$(ip neigh show "$ip2" dev berth0)
s0=$EPOCHREALTIME
OUT=$(timeout 5 python3 "$W/nt/nt.py" udpask "$ip2" 53 again 1) RC=$? ERR="host neighbour entry: $nb; new eth0 $mac2"
t "address reuse: a container on a just-released address answers at once" \
	"same address ($ip1 $ip2), reply within 5 s (took $(awk -v a="$s0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}') s)" \
	'[ -n "$ip1" ] && [ "$ip1" = "$ip2" ] && [ "$OUT" = "again-1|$GW from=$ip2:53" ]'
bq rm -f reuse2 keep >/dev/null 2>&1

# --- "bip" changed in daemon.json -------------------------------------------------------
# With berth0 still on the old subnet: either refused or working, never a
# container whose gateway is not on the bridge.
cfg '"bip": "10.88.0.1/24"'
b run --rm "$IMG" sh -c 'timeout 10 wget -qO- http://10.88.0.1:8000/; exit $?'
t "bip changed while berth0 exists: refused with one line, or the gateway answers" \
	"exit 125 and one error line, or peer=10.88.0.2" \
	'{ [ "$RC" = 125 ] && one_error_line; } || [ "$OUT" = peer=10.88.0.2 ]'
for c in $(bq ps -aq --no-trunc 2>/dev/null); do bq rm -f "$c" >/dev/null 2>&1; done
wait_for 15 '! ip -o link show master berth0 | grep -q .'
ip link del berth0
# (-p: so the NAT setup runs even while masquerade waits for published ports)
b run --rm -p 18800:80 "$IMG" sh -c 'ip -o -4 addr show eth0 | awk "{print \$4}"; ip route | grep ^default
	timeout 10 wget -qO- http://10.88.0.1:8000/; timeout 10 wget -qO- http://198.51.100.2:8001/; exit $?'
bip_out=$OUT
t "bip 10.88.0.1/24 (bridge made anew): address, route, gateway" "10.88.0.2/24, via 10.88.0.1, peer=10.88.0.2" \
	'[ "$(printf "%s\n" "$bip_out" | head -3 | sed "s/ *$//")" = "$(printf "10.88.0.2/24\ndefault via 10.88.0.1 dev eth0\npeer=10.88.0.2")" ]'
if [ "$P" = nat ]; then
	OUT=$(iptables-save -t nat 2>/dev/null | grep -E -- '^-A BERTH-POSTROUTING ' | tr '\n' ';') RC=- ERR=
	t "bip 10.88.0.1/24: masquerade rule for the new subnet" "-A BERTH-POSTROUTING -s 10.88.0.0/24 ! -o berth0 ... MASQUERADE" \
		'[[ "$OUT" =~ -s\ 10\.88\.0\.0/24\ !\ -o\ berth0\ .*-j\ MASQUERADE ]]'
	OUT=$(printf '%s\n' "$bip_out" | sed -n 4p)
	t "bip 10.88.0.1/24: outbound beyond the uplink is masqueraded" "peer=$HOST_IP" '[ "$OUT" = "peer=$HOST_IP" ]'
fi
cfg
# back to the default subnet: a new bridge again
for c in $(bq ps -aq --no-trunc 2>/dev/null); do bq rm -f "$c" >/dev/null 2>&1; done
wait_for 15 '! ip -o link show master berth0 | grep -q .'
ip link del berth0

# --- NAT rules flushed under berth (a firewall reload) -----------------------------------
if [ "$P" = nat ]; then
	iptables -t nat -F && iptables -t nat -X && iptables -F && iptables -X
	b run -d --name again -p 18700:80 "${WWW[@]}" "$IMG" httpd -f -p 80 -h /www
	t "after the rules were flushed (firewall reload), run -p still works" "exit 0" '[ "$RC" = 0 ]'
	[ "$RC" = 0 ] && hp waittcp 127.0.0.1 18700 30
	OUT=$(hp http "http://$HOST_IP:18700/index.html" 2>&1)
	t "after the rules were flushed, the port is reached via the host address" "the page" \
		'[ "$OUT" = "$PAGE" ]'
fi
finish
