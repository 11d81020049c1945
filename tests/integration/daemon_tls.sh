#!/bin/bash
# The daemon on TCP with TLS client certificates (issue 5): `berth daemon -H
# unix://... -H tcp://127.0.0.1:PORT --tlsverify` with a PKI made here by
# openssl (a CA, a server certificate for 127.0.0.1 and localhost, a client
# certificate, and a rogue CA with its own client). The docker CLI and curl
# get through with the client certificate; no certificate, the rogue one and
# plain HTTP are refused during the handshake; a silent client is dropped
# after the handshake timeout while the daemon keeps answering; 50 parallel
# connections leave no child behind; a tcp:// host without --tlsverify or
# with bad files is refused at start and nothing listens. A run -i whose
# stdin ends first (the CLI's TLS close_notify, a half-close) gets all of
# its output.
#
# The EXIT trap stops every daemon (by pid), reports and kills any process
# still holding a file under the work dir, and removes it.
. "$(dirname "$0")/lib"
. "$TOP/tests/integration/fixtures/registry.sh"
. "$TOP/tests/integration/fixtures/images.sh"

if [ "$(id -u)" != 0 ]; then
	skip "daemon tls" "needs root (the daemon's store and monitors)"
	finish
fi
for t in docker curl openssl python3; do
	if ! command -v "$t" >/dev/null; then
		skip "daemon tls" "no $t"
		finish
	fi
done
if ! "${RUNNER[@]}" "$BERTH" version 2>/dev/null | grep -q -- '+tcp-tls'; then
	skip "daemon tls" "this build has no TCP with TLS (CONFIG_DAEMON_TLS off)"
	finish
fi

W=$(mktemp -d /tmp/berth-dtls.XXXXXX)
P=$W/pki
export BERTH_CONFIG=$W/cfg DOCKER_CONFIG=$W/docker DOCKER_CLI_HINTS=false
unset DOCKER_HOST DOCKER_TLS_VERIFY DOCKER_CERT_PATH
mkdir -p "$P" "$BERTH_CONFIG" "$DOCKER_CONFIG"
: >"$W/daemon.log"
DPIDS=()
BG=()

cleanup() {
	local p left ids
	trap - EXIT
	for p in "${BG[@]}"; do kill -KILL "$p" 2>/dev/null; done
	mapfile -t ids < <("${RUNNER[@]}" "$BERTH" --root "$W/root" ps -aq 2>/dev/null)
	[ ${#ids[@]} -eq 0 ] || "${RUNNER[@]}" "$BERTH" --root "$W/root" rm -f "${ids[@]}" >/dev/null 2>&1
	for p in "${DPIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || continue
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	for p in "${DPIDS[@]}" "${BG[@]}"; do wait "$p"; done 2>/dev/null
	sleep 0.3
	left=$(for p in $(procs_in_w); do echo "$p:$(title "$p")"; done)
	if [ -n "$left" ]; then
		notok "cleanup: no process left" "still running after the daemon stopped: $left"
		for p in $(procs_in_w); do kill -KILL "$p" 2>/dev/null; done
	else
		ok "cleanup: no daemon or TLS child left"
	fi
	awk -v p="$W/" '{ if (index($5 "/", p) == 1) print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	registry_stop_all
	if [ -n "${KEEP_WORK:-}" ]; then echo "# work dir kept: $W"; else rm -rf "$W"; fi
	exit $T_FAILED
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The PKI: EC P-256 throughout; the server key as PKCS#8 (openssl req's),
# the others as SEC1 (openssl ecparam's), so both encodings are read.
if ! (
	set -e
	cd "$P"
	ec() { openssl ecparam -name prime256v1 -genkey -noout -out "$1"; }
	ec ca-key.pem
	openssl req -x509 -new -key ca-key.pem -sha256 -days 2 -subj /CN=berth-test-ca -out ca.pem
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout key.pem -subj /CN=localhost -out server.csr
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
		-sha256 -extfile server.ext -out cert.pem
	printf 'extendedKeyUsage=clientAuth\n' >client.ext
	ec client-key.pem
	openssl req -new -key client-key.pem -subj /CN=client -out client.csr
	openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
		-sha256 -extfile client.ext -out client.pem
	ec rogue-ca-key.pem
	openssl req -x509 -new -key rogue-ca-key.pem -sha256 -days 2 -subj /CN=rogue-ca -out rogue-ca.pem
	ec rogue-key.pem
	openssl req -new -key rogue-key.pem -subj /CN=client -out rogue.csr
	openssl x509 -req -in rogue.csr -CA rogue-ca.pem -CAkey rogue-ca-key.pem -CAcreateserial \
		-days 2 -sha256 -extfile client.ext -out rogue.pem
) >"$W/pki.log" 2>&1; then
	notok "PKI made with openssl" "$(tail -3 "$W/pki.log" | tr '\n' ' ')"
	finish
fi

PORT=$(free_port)
TCP=tcp://127.0.0.1:$PORT
SRV=(--tlscacert "$P/ca.pem" --tlscert "$P/cert.pem" --tlskey "$P/key.pem")
CLI=(--cacert "$P/ca.pem" --cert "$P/client.pem" --key "$P/client-key.pem")
DK=(--tlsverify --tlscacert "$P/ca.pem" --tlscert "$P/client.pem" --tlskey "$P/client-key.pem" -H "$TCP")

# listening: true when something accepts on the TCP port.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

# refused NAME WANT-RC ARGS...: the daemon exits WANT-RC with one line on
# stderr and nothing listens.
refused() {
	local name=$1 want=$2
	shift 2
	timeout 10 "${RUNNER[@]}" "$BERTH" daemon --data-root "$W/root0" -H "unix://$W/r.sock" "$@" \
		>"$W/r.out" 2>"$W/r.err"
	RC=$? OUT=$(cat "$W/r.out") ERR=$(cat "$W/r.err")
	local lines
	lines=$(wc -l <"$W/r.err")
	expect "$name: exit $want, one line" "want rc $want and 1 line, got $lines" \
		test "$RC" = "$want" -a "$lines" = 1
	expect "$name: nothing listens" "port $PORT or $W/r.sock answers" \
		eval '! listening && [ ! -S "$W/r.sock" ]'
}
refused "tcp:// without --tlsverify" 2 -H "$TCP"
grep -q "plain TCP is never offered" "$W/r.err" || notok "the refusal says why" "$ERR"
refused "tcp:// with --tlsverify, no files in CONFIG_DIR/tls" 1 -H "$TCP" --tlsverify
refused "tcp:// with a key that is not the certificate's" 1 -H "$TCP" --tlsverify \
	--tlscacert "$P/ca.pem" --tlscert "$P/cert.pem" --tlskey "$P/client-key.pem"
refused "tcp:// with a bad port" 2 -H tcp://127.0.0.1:99999 --tlsverify "${SRV[@]}"

# start_daemon ARGS...: a daemon on $W/s.sock (plus ARGS), waiting until the
# TCP port accepts.
start_daemon() {
	"${RUNNER[@]}" "$BERTH" daemon --data-root "$W/root" -H "unix://$W/s.sock" "$@" \
		2>>"$W/daemon.log" &
	DPID=$!
	DPIDS+=("$DPID")
	for _ in $(seq 100); do
		listening && return 0
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}
expect "daemon starts with -H unix:// -H tcp:// --tlsverify" "$(tail -3 "$W/daemon.log")" \
	start_daemon -H "$TCP" --tlsverify "${SRV[@]}" --log-level debug

# dk ARGS...: the docker CLI over TLS, leaving OUT, ERR and RC.
dk() {
	OUT=$(timeout 30 docker "${DK[@]}" "$@" 2>"$W/dk.err" </dev/null)
	RC=$? ERR=$(cat "$W/dk.err")
}
dk version --format '{{.Server.Platform.Name}} {{.Server.APIVersion}}'
expect "docker --tlsverify version: Server: Berth" "not Berth" eval '[ "$RC" = 0 ] && [[ "$OUT" == "Berth "* ]]'
dk info --format '{{.OperatingSystem}}|{{.Containers}}'
expect "docker --tlsverify info" "failed" eval '[ "$RC" = 0 ] && [[ "$OUT" == *"|0" ]]'
dk ps -a
expect "docker --tlsverify ps" "failed" eval '[ "$RC" = 0 ] && [[ "$OUT" == "CONTAINER ID"* ]]'
dk images
expect "docker --tlsverify images" "failed" eval '[ "$RC" = 0 ] && [[ "$OUT" == "REPOSITORY"* ]]'
dk volume create tlsvol
expect "docker --tlsverify volume create (a POST with a body)" "failed" eval '[ "$RC" = 0 ] && [ "$OUT" = tlsvol ]'

# curl checks the server's chain against the CA: no -k anywhere.
c() { OUT=$(curl -sS --max-time 10 "$@" 2>"$W/c.err"); RC=$? ERR=$(cat "$W/c.err"); }
c "${CLI[@]}" "https://127.0.0.1:$PORT/_ping"
expect "curl with the client certificate: /_ping is OK (server chain verified for 127.0.0.1)" "failed" \
	test "$RC" = 0 -a "$OUT" = OK
c "${CLI[@]}" "https://localhost:$PORT/_ping"
expect "curl to localhost: the DNS name is in the server certificate" "failed" test "$RC" = 0 -a "$OUT" = OK
c --cacert "$P/rogue-ca.pem" --cert "$P/client.pem" --key "$P/client-key.pem" "https://127.0.0.1:$PORT/_ping"
expect "curl trusting another CA rejects the server" "accepted" test "$RC" != 0 -a -z "$OUT"

log_has() { grep -q -- "$1" "$W/daemon.log"; }
c --cacert "$P/ca.pem" "https://127.0.0.1:$PORT/_ping"
expect "curl without a client certificate fails the handshake" "answered" test "$RC" != 0 -a -z "$OUT"
expect "the log names the peer and 'no client certificate'" "$(tail -2 "$W/daemon.log")" \
	log_has "tls 127.0.0.1:[0-9]*: no client certificate"
c --cacert "$P/ca.pem" --cert "$P/rogue.pem" --key "$P/rogue-key.pem" "https://127.0.0.1:$PORT/_ping"
expect "curl with a client certificate of another CA fails the handshake" "answered" test "$RC" != 0 -a -z "$OUT"
expect "the log says 'unknown certificate authority'" "$(tail -2 "$W/daemon.log")" \
	log_has "tls 127.0.0.1:[0-9]*: unknown certificate authority"
OUT=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/_ping")
RC=$?
expect "plain HTTP to the TCP port gets no HTTP answer" "got $OUT" test "$RC" != 0 -a "$OUT" = 000
expect "the log says 'not TLS (plain HTTP?)'" "$(tail -2 "$W/daemon.log")" log_has "not TLS (plain HTTP?)"

# The daemon closing (Connection: close) ends the TLS stream with close_notify.
OUT=$(printf 'GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
	timeout 10 openssl s_client -quiet -ign_eof -connect "127.0.0.1:$PORT" -CAfile "$P/ca.pem" \
		-cert "$P/client.pem" -key "$P/client-key.pem" 2>/dev/null)
RC=$?
expect "openssl s_client: an answer, then the relay closes when the daemon does" "rc=$RC" \
	eval '[ "$RC" = 0 ] && [[ "$OUT" == "HTTP/1.1 200"* ]] && [[ "$OUT" == *OK ]]'

# A client that connects and says nothing: dropped at the 10 s handshake
# timeout; the daemon answers meanwhile.
start=$SECONDS
exec 7<>"/dev/tcp/127.0.0.1/$PORT"
c "${CLI[@]}" "https://127.0.0.1:$PORT/_ping"
expect "the daemon answers while a silent client waits" "failed" test "$RC" = 0 -a "$OUT" = OK
timeout 20 cat <&7 >/dev/null
exec 7<&-
el=$((SECONDS - start))
expect "the silent client is dropped after the handshake timeout (${el} s)" "after $el s" \
	test "$el" -ge 9 -a "$el" -le 13
expect "the log says 'handshake timed out'" "$(tail -2 "$W/daemon.log")" log_has "handshake timed out"

# tls_children: the daemon's children (no container runs: all are TLS relays).
tls_children() { pgrep -P "$DPID" | wc -l; }
for i in $(seq 50); do
	curl -sS --max-time 20 "${CLI[@]}" -o "$W/par.$i" "https://127.0.0.1:$PORT/_ping" 2>>"$W/par.err" &
	BG+=($!)
done
wait "${BG[@]}" 2>/dev/null
BG=()
n=$(for i in $(seq 50); do grep -qx OK "$W/par.$i" 2>/dev/null && echo; done | wc -l)
expect "50 parallel TLS connections all get OK" "$n of 50: $(head -2 "$W/par.err")" test "$n" = 50
for _ in $(seq 40); do [ "$(tls_children)" = 0 ] && break; sleep 0.05; done
expect "no TLS child left once they are closed" "$(tls_children) children of $DPID" test "$(tls_children)" = 0
dk volume rm tlsvol
expect "the daemon still works after all that" "failed" test "$RC" = 0

# Containers over TLS, when the registry fixture can give an image.
if registry_start dtls http >/dev/null 2>&1 && img_single dtls kit/busybox:1 >/dev/null 2>&1; then
	printf '{"insecure-registries": ["%s"]}\n' "$REG_DTLS_HOST" >"$BERTH_CONFIG/daemon.json"
	kill -HUP "$DPID"
	sleep 0.3
	dk pull "$IMG_REF"
	expect "docker --tlsverify pull" "failed" test "$RC" = 0
	dk run --rm "$IMG_REF" echo hi over tls
	expect "docker --tlsverify run --rm" "failed" test "$RC:$OUT" = "0:hi over tls"
	OUT=$(seq 1 20000 | timeout 30 docker "${DK[@]}" run --rm -i "$IMG_REF" sh -c 'sleep 1; wc -l' 2>"$W/dk.err")
	RC=$?
	expect "docker run -i: stdin ends first (close_notify), the output still comes back" "$(head -2 "$W/dk.err")" \
		test "$RC:$(tr -d ' ' <<<"$OUT")" = "0:20000"
else
	skip "docker --tlsverify run" "no registry fixture (docker-registry) or image"
fi
rm -f "$BERTH_CONFIG/daemon.json"

# daemon.json: hosts and tlsverify, the files in CONFIG_DIR/tls (the default).
kill -TERM "$DPID"
wait "$DPID" 2>/dev/null
mkdir -p "$BERTH_CONFIG/tls"
cp "$P/ca.pem" "$BERTH_CONFIG/tls/ca.pem"
cp "$P/cert.pem" "$BERTH_CONFIG/tls/cert.pem"
cp "$P/key.pem" "$BERTH_CONFIG/tls/key.pem"
printf '{"hosts": ["unix://%s", "%s"], "tlsverify": true}\n' "$W/s.sock" "$TCP" >"$BERTH_CONFIG/daemon.json"
"${RUNNER[@]}" "$BERTH" daemon --data-root "$W/root" 2>>"$W/daemon.log" &
DPID=$!
DPIDS+=("$DPID")
for _ in $(seq 100); do listening && break; sleep 0.05; done
c "${CLI[@]}" "https://127.0.0.1:$PORT/_ping"
expect "daemon.json hosts + tlsverify with CONFIG_DIR/tls/{ca,cert,key}.pem" "failed" test "$RC" = 0 -a "$OUT" = OK
c --cacert "$P/ca.pem" "https://127.0.0.1:$PORT/_ping"
expect "... and a client without a certificate is refused there too" "answered" test "$RC" != 0 -a -z "$OUT"
finish
