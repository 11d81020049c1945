# The real-component fixtures the pull tests use (fixtures/): registries in
# every mode, the token server, the test images and the flaky proxy, checked
# with skopeo, curl and python against what they are meant to be.
# shellcheck disable=SC2317 # the check_* helpers run through expect
. "$(dirname "$0")/lib"
. "$(dirname "$0")/fixtures/registry.sh"
. "$(dirname "$0")/fixtures/images.sh"

START=$SECONDS
for tool in docker-registry skopeo umoci curl openssl htpasswd; do
	if ! command -v "$tool" >/dev/null; then
		skip "fixtures" "$tool is not installed (run scripts/bootstrap)"
		finish
	fi
done

W=$(mktemp -d "${TMPDIR:-/tmp}/berth-fixtest.XXXXXX")
trap 'registry_stop_all; rm -rf "$W"' EXIT

# pj FILE EXPR: prints the python expression EXPR over the JSON in FILE (d).
pj() { "$FIX_PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(v if isinstance(v,str) else json.dumps(v))' "$1" "$2"; }
# jwt_part TOKEN N: the decoded JSON of part N (0 header, 1 claims).
jwt_part() { "$FIX_PY" -c 'import base64,sys; p=sys.argv[1].split(".")[int(sys.argv[2])]; print(base64.urlsafe_b64decode(p+"="*(-len(p)%4)).decode())' "$1" "$2"; }
# pull NAME REF DIR [skopeo option...]: copies an image to a dir: layout.
pull() {
	local o
	mapfile -t o < <(img_skopeo_opts "$1" src)
	rm -rf "$3"
	skopeo --insecure-policy copy -q "${o[@]}" "${@:4}" "docker://$2" "dir:$3" >"$W/pull.log" 2>&1
}
inspect_raw() { # NAME REF > manifest
	local o
	mapfile -t o < <(img_skopeo_opts "$1")
	skopeo inspect --raw "${o[@]}" "docker://$2"
}
tar_list() { "$FIX_PY" "$FIX_DIR/oci_tool.py" tar-list "$1"; }
has() { grep -qxF -- "$2" "$1"; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
# long_names LIST FIELD TYPE: how many TYPE entries have FIELD longer than 100.
long_names() { awk -v f="$2" -v t="$3" '$1 == t && length($f) > 100' "$1" | wc -l; }

check_layer1() { # BLOB
	local l=$W/multi.1
	has "$l" "h 0644 0 0 data/hardlink -> data/hard-orig" &&
		has "$l" "l 0777 0 0 data/abs-symlink -> /bin/busybox" &&
		has "$l" "f 4755 0 0 data/setuid" && has "$l" "f 2755 0 0 data/setgid" &&
		has "$l" "f 0640 1000 1000 home/user/owned.txt" &&
		[ "$(long_names "$l" 5 f)" = 1 ] && [ "$(long_names "$l" 7 l)" = 1 ] &&
		[ "$(long_names "$l" 7 h)" = 1 ] && zcat "$1" | grep -aq PaxHeader
}
check_layer2() {
	local l=$W/multi.2
	has "$l" "f 0644 0 0 data/.wh.deleted.txt" && has "$l" "f 0644 0 0 data/.wh.gone-dir" &&
		has "$l" "f 0644 0 0 data/.wh.resurrected.txt" &&
		has "$l" "f 0644 0 0 data/opaque/.wh..wh..opq" && has "$l" "h 0644 0 0 data/l2-hard -> data/l2-file"
}
check_layer3() { # BLOB
	local l=$W/multi.3
	has "$l" "d 0755 0 0 data/file-to-dir" && has "$l" "f 0644 0 0 data/dir-to-file" &&
		[ "$(long_names "$l" 5 f)" = 1 ] && [ "$(long_names "$l" 7 l)" = 1 ] &&
		zcat "$1" | grep -aq "././@LongLink"
}
kid_ok() {
	[ "$(pj "$W/th.json" 'd["alg"]')" = RS256 ] &&
		pj "$W/th.json" 'd["kid"]' | grep -qE '^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$'
}

# --- registries in each mode ---------------------------------------------
expect "registry http starts" "failed" registry_start a http
expect "registry https starts" "failed" registry_start b https
expect "registry basic starts" "failed" registry_start c basic
expect "registry token starts" "failed" registry_start d token
expect "registry token (x5c, 2 s expiry, auth required) starts" "failed" \
	registry_start e token --sign x5c --expiry 2 --require-auth
expect "registry token (tokens that expired 5 minutes ago) starts" "failed" registry_start f token --skew -600

expect "http: /v2/ answers 200 on 127.0.0.1 and localhost" "wrong" \
	test "$(code "$REG_A_URL/v2/")" = 200 -a "$(code "http://$REG_A_LOCALHOST/v2/")" = 200
expect "https: verifies with REG_B_CA (127.0.0.1 and localhost)" "wrong" \
	test "$(code --cacert "$REG_B_CA" "$REG_B_URL/v2/")" = 200 \
	-a "$(code --cacert "$REG_B_CA" "https://$REG_B_LOCALHOST/v2/")" = 200
expect "https: fails with another CA" "accepted" \
	test "$(code --cacert "$FIX_OTHER_CA" "$REG_B_URL/v2/")" = 000
openssl x509 -in "$FIX_SERVER_CERT" -noout -text >"$W/cert.txt" 2>&1
expect "server cert names IP:127.0.0.1, DNS:localhost, DNS:127.0.0.1" "$(grep -A1 'Alternative Name' "$W/cert.txt")" \
	grep -q 'IP Address:127.0.0.1, DNS:localhost, DNS:127.0.0.1' "$W/cert.txt"
expect "storage delete is enabled" "config" grep -qFx '    enabled: true' <(grep -A1 '^  delete:' "$REG_A_CONFIG")

curl -s -D "$W/h" -o /dev/null --max-time 10 --cacert "$REG_C_CA" "$REG_C_URL/v2/"
expect "basic: 401 with a Basic challenge" "$(cat "$W/h")" grep -qi '^www-authenticate: Basic realm="berth-test"' "$W/h"
expect "basic: right credentials 200, wrong 401" "wrong" \
	test "$(code --cacert "$REG_C_CA" -u "$REG_C_USER:$REG_C_PASS" "$REG_C_URL/v2/")" = 200 \
	-a "$(code --cacert "$REG_C_CA" -u "$REG_C_USER:nope" "$REG_C_URL/v2/")" = 401

curl -s -D "$W/h" -o /dev/null --max-time 10 --cacert "$REG_D_CA" "$REG_D_URL/v2/"
expect "token: 401 with a Bearer challenge naming realm and service" "$(cat "$W/h")" \
	grep -qiF "www-authenticate: Bearer realm=\"$REG_D_REALM\",service=\"$REG_D_SERVICE\"" "$W/h"

# --- images ---------------------------------------------------------------
expect "img_single pushes to the http registry" "failed" img_single a single
single_ref=$IMG_REF single_digest=$IMG_DIGEST
inspect_raw a "$IMG_REF" >"$W/m.json"
ct=$(curl -s -o /dev/null -w '%{content_type}' --max-time 10 -H "Accept: $IMG_MEDIA_TYPE" "$REG_A_URL/v2/single/manifests/latest")
expect "img_single: OCI manifest (Content-Type), 1 gzip layer, digest as reported" "$ct $(head -c 300 "$W/m.json")" test \
	"$ct $(pj "$W/m.json" 'd.get("mediaType","-")+" "+d["config"]["mediaType"]+" "+" ".join(l["mediaType"] for l in d["layers"])')" \
	= "application/vnd.oci.image.manifest.v1+json - application/vnd.oci.image.config.v1+json application/vnd.oci.image.layer.v1.tar+gzip" \
	-a "sha256:$(sha256sum <"$W/m.json" | cut -d' ' -f1)" = "$single_digest" -a "$IMG_LAYERS" = 1
if pull a "$IMG_REF" "$W/single"; then
	layer=$W/single/$(pj "$W/m.json" 'd["layers"][0]["digest"].split(":")[1]')
	config=$W/single/$(pj "$W/m.json" 'd["config"]["digest"].split(":")[1]')
	tar_list "$layer" >"$W/single.list"
	expect "img_single: layer holds bin/busybox and sh ls echo cat true symlinks" "$(cat "$W/single.list")" \
		test "$(grep -c ' -> busybox$' "$W/single.list")" = 5 -a -n "$(grep '^f 0755 0 0 bin/busybox$' "$W/single.list")"
	expect "img_single: config linux/amd64, Cmd /bin/sh" "$(cat "$config")" test \
		"$(pj "$config" 'd["os"]+"/"+d["architecture"]+" "+d["config"]["Cmd"][0]')" = "linux/amd64 /bin/sh"
else
	notok "img_single: pull back" "$(tail -3 "$W/pull.log")"
fi

# Same content, same digest: the build is deterministic.
"$FIX_PY" "$FIX_DIR/oci_tool.py" single-layer "$W/l1.tar" /bin/busybox
sleep 1
"$FIX_PY" "$FIX_DIR/oci_tool.py" single-layer "$W/l2.tar" /bin/busybox
expect "layer tars are reproducible" "differ" cmp -s "$W/l1.tar" "$W/l2.tar"

expect "img_docker pushes to the basic-auth registry" "failed" img_docker c docker:v2
inspect_raw c "$IMG_REF" >"$W/m.json"
expect "img_docker: Docker schema 2 manifest and layer types" "$(head -c 300 "$W/m.json")" test \
	"$(pj "$W/m.json" 'd["mediaType"]+" "+d["config"]["mediaType"]+" "+" ".join(l["mediaType"] for l in d["layers"])')" \
	= "application/vnd.docker.distribution.manifest.v2+json application/vnd.docker.container.image.v1+json application/vnd.docker.image.rootfs.diff.tar.gzip" \
	-a "sha256:$(sha256sum <"$W/m.json" | cut -d' ' -f1)" = "$IMG_DIGEST"

expect "img_multilayer pushes to the token registry" "failed" img_multilayer d multi:v1
multi_ref=$IMG_REF
inspect_raw d "$IMG_REF" >"$W/m.json"
expect "img_multilayer: OCI manifest with 3 layers" "$(head -c 300 "$W/m.json")" \
	test "$(pj "$W/m.json" 'len(d["layers"])')" = 3 -a "$IMG_LAYERS" = 3
if pull d "$IMG_REF" "$W/multi"; then
	for i in 0 1 2; do
		tar_list "$W/multi/$(pj "$W/m.json" "d['layers'][$i]['digest'].split(':')[1]")" >"$W/multi.$((i + 1))"
	done
	expect "multilayer layer 1: hardlinks, symlinks, setuid/setgid, uid 1000, long names (PAX)" \
		"$(cat "$W/multi.1")" check_layer1 "$W/multi/$(pj "$W/m.json" 'd["layers"][0]["digest"].split(":")[1]')"
	expect "multilayer layer 2: whiteouts, opaque marker, hardlink pair" "$(cat "$W/multi.2")" check_layer2
	expect "multilayer layer 3: file->dir, dir->file, GNU long names" \
		"$(cat "$W/multi.3")" check_layer3 "$W/multi/$(pj "$W/m.json" 'd["layers"][2]["digest"].split(":")[1]')"
else
	notok "img_multilayer: pull back" "$(tail -3 "$W/pull.log")"
fi
# umoci applies the layers: the result must be what expect.json says.
mapfile -t so < <(img_skopeo_opts d src)
if skopeo --insecure-policy copy -q "${so[@]}" "docker://$multi_ref" "oci:$W/multi-oci:m" >"$W/pull.log" 2>&1 &&
	umoci unpack --image "$W/multi-oci:m" "$W/bundle" >"$W/unpack.log" 2>&1; then
	"$FIX_PY" "$FIX_DIR/oci_tool.py" check-rootfs "$IMG_EXPECT" "$W/bundle/rootfs" >"$W/check.log" 2>&1
	expect "multilayer unpacked by umoci matches IMG_EXPECT" "$(head -5 "$W/check.log" | tr '\n' ';')" test $? = 0
	"$FIX_PY" "$FIX_DIR/oci_tool.py" check-rootfs "$IMG_EXPECT" "$W/single" >/dev/null 2>&1
	expect "check-rootfs reports a wrong tree" "passed" test $? = 1
else
	notok "multilayer unpacked by umoci matches IMG_EXPECT" "$(tail -3 "$W/pull.log" "$W/unpack.log")"
fi

expect "img_index pushes to the https registry" "failed" img_index b multi-arch:v1
inspect_raw b "$IMG_REF" >"$W/i.json"
expect "img_index: OCI index with linux/amd64, linux/arm64, linux/arm/v7" "$(head -c 400 "$W/i.json")" test \
	"$(pj "$W/i.json" 'd["mediaType"]+" "+" ".join("/".join(filter(None,[m["platform"]["os"],m["platform"]["architecture"],m["platform"].get("variant")]))+"="+m["digest"] for m in d["manifests"])')" \
	= "application/vnd.oci.image.index.v1+json $IMG_PLATFORM_DIGESTS" \
	-a "sha256:$(sha256sum <"$W/i.json" | cut -d' ' -f1)" = "$IMG_DIGEST"
for p in amd64:amd64:x86-64 arm64:arm64:aarch64 arm:armhf:ARM; do
	IFS=: read -r arch deb elf <<<"$p"
	variant=
	[ "$arch" = arm ] && variant=v7
	if pull b "$IMG_REF" "$W/plat" --override-arch "$arch" ${variant:+--override-variant "$variant"}; then
		man=$W/plat/manifest.json
		config=$W/plat/$(pj "$man" 'd["config"]["digest"].split(":")[1]')
		layer=$W/plat/$(pj "$man" 'd["layers"][0]["digest"].split(":")[1]')
		mkdir -p "$W/plat/x" && tar -xzf "$layer" -C "$W/plat/x"
		want="linux/$arch${variant:+/$variant}"
		ok_cfg=$(pj "$config" '"/".join(filter(None,[d["os"],d["architecture"],d.get("variant")]))')
		if [ "$arch" != amd64 ] && [ "$IMG_INDEX_BUSYBOX" != 1 ]; then
			expect "img_index $want: config and layer for that platform" "config $ok_cfg" \
				test "$ok_cfg" = "$want" -a "$(cat "$W/plat/x/etc/berth-platform")" = "$want"
			skip "img_index $want: busybox of that arch" "busybox-static:$deb could not be downloaded"
		else
			expect "img_index $want: config, layer and busybox for that platform" "config $ok_cfg, $(file -b "$W/plat/x/bin/busybox" 2>&1 | cut -c1-60)" \
				test "$ok_cfg" = "$want" -a "$(cat "$W/plat/x/etc/berth-platform" 2>/dev/null)" = "$want" \
				-a -n "$(file -b "$W/plat/x/bin/busybox" | grep "$elf.*statically linked")"
		fi
	else
		notok "img_index linux/$arch: pull back" "$(tail -3 "$W/pull.log")"
	fi
done

expect "img_big 8 MiB in 2 layers pushes" "failed" img_big a big:8m 8 2
inspect_raw a "$IMG_REF" >"$W/m.json"
expect "img_big: 2 incompressible layers of ~4 MiB" "$(head -c 400 "$W/m.json") size=$IMG_SIZE" test \
	"$(pj "$W/m.json" 'str(len(d["layers"]))+" "+str(all(4194304 < l["size"] < 4400000 for l in d["layers"]))')" = "2 True" \
	-a "$IMG_SIZE" -gt 8388608

# --- token server -----------------------------------------------------------
fix_curl --max-time 10 -u "$REG_D_USER:$REG_D_PASS" \
	"$REG_D_REALM?service=$REG_D_SERVICE&scope=repository:multi:pull,push" >"$W/t.json"
tok=$(pj "$W/t.json" 'd["token"]')
jwt_part "$tok" 0 >"$W/th.json" 2>/dev/null
jwt_part "$tok" 1 >"$W/tc.json" 2>/dev/null
expect "token: answer has token, access_token, expires_in, issued_at" "$(head -c 200 "$W/t.json")" test \
	"$(pj "$W/t.json" '" ".join(sorted(d))')" = "access_token expires_in issued_at token" \
	-a "$(pj "$W/t.json" 'd["token"]==d["access_token"]')" = true
expect "token: RS256 JWT with a libtrust kid" "$(cat "$W/th.json")" kid_ok
expect "token: claims iss, sub, aud and access for the scope" "$(cat "$W/tc.json")" test \
	"$(pj "$W/tc.json" 'd["iss"]+" "+d["sub"]+" "+d["aud"]+" "+json.dumps(d["access"])')" \
	= "$REG_D_ISSUER berth $REG_D_SERVICE [{\"type\": \"repository\", \"name\": \"multi\", \"actions\": [\"pull\", \"push\"]}]"
expect "token: the registry accepts it" "wrong" \
	test "$(code --cacert "$REG_D_CA" -H "Authorization: Bearer $tok" "$REG_D_URL/v2/multi/tags/list")" = 200
fix_curl --max-time 10 "$REG_D_REALM?service=$REG_D_SERVICE&scope=repository:multi:pull,push" >"$W/t.json"
jwt_part "$(pj "$W/t.json" 'd["token"]')" 1 >"$W/tc.json" 2>/dev/null
expect "token: anonymous gets pull only" "$(cat "$W/tc.json")" \
	test "$(pj "$W/tc.json" 'd["access"][0]["actions"]')" = '["pull"]' -a "$(pj "$W/tc.json" 'd["sub"]')" = ""
expect "token: bad credentials get 401" "wrong" \
	test "$(code --cacert "$REG_D_CA" -u berth:wrong "$REG_D_REALM?service=$REG_D_SERVICE&scope=repository:multi:pull")" = 401
expect "token: /stats counts tokens and rejections" "tokens=$(token_stat d tokens) rejected=$(token_stat d rejected)" \
	test "$(token_stat d tokens)" -ge 4 -a "$(token_stat d rejected)" = 1 -a "$(token_stat d anonymous)" = 1

expect "token (x5c): anonymous is refused with --require-auth" "wrong" \
	test "$(code --cacert "$REG_E_CA" "$REG_E_REALM?service=$REG_E_SERVICE&scope=repository:x:pull")" = 401
fix_curl --max-time 10 -u "$REG_E_USER:$REG_E_PASS" "$REG_E_REALM?service=$REG_E_SERVICE&scope=repository:x:pull" >"$W/t.json"
tok=$(pj "$W/t.json" 'd["token"]')
jwt_part "$tok" 0 >"$W/th.json" 2>/dev/null
expect "token (x5c): header has x5c, the registry accepts it, expires_in 2" "$(cat "$W/th.json")" test \
	"$(pj "$W/th.json" '"x5c" in d and "kid" not in d')" = true \
	-a "$(code --cacert "$REG_E_CA" -H "Authorization: Bearer $tok" "$REG_E_URL/v2/")" = 200 \
	-a "$(pj "$W/t.json" 'd["expires_in"]')" = 2
fix_curl --max-time 10 -u "$REG_F_USER:$REG_F_PASS" "$REG_F_REALM?service=$REG_F_SERVICE&scope=repository:x:pull" >"$W/t.json"
tok=$(pj "$W/t.json" 'd["token"]')
expect "token (--skew -600): expired, refused by the registry" "wrong" \
	test "$(code --cacert "$REG_F_CA" -H "Authorization: Bearer $tok" "$REG_F_URL/v2/")" = 401

# --- flaky proxy ---------------------------------------------------------------
inspect_raw a "$single_ref" >"$W/m.json"
LD=$(pj "$W/m.json" 'd["layers"][0]["digest"]')
LS=$(pj "$W/m.json" 'd["layers"][0]["size"]')
BLOB=/v2/single/blobs/$LD
get() { curl -s -o "$W/blob" -w '%{http_code} %{size_download}' --max-time 10 "$@"; }

proxy_start cut "$REG_A_HOST" --cut-after 1000 --cut-times 2
r1=$(get "$PROXY_CUT_URL$BLOB") r2=$(get "$PROXY_CUT_URL$BLOB") r3=$(get "$PROXY_CUT_URL$BLOB")
expect "proxy --cut-after 1000 --cut-times 2: cuts twice, then serves" "$r1 / $r2 / $r3" \
	test "$r1" = "200 1000" -a "$r2" = "200 1000" -a "$r3" = "200 $LS" -a "$(proxy_stat cut cuts)" = 2
mf=$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"$PROXY_CUT_URL/v2/single/manifests/latest")
expect "proxy forwards manifests untouched" "got $mf" test "$mf" = 200

seq_of() { # proxy name -> the pattern of cut (c) and whole (w) answers
	local i s=
	for i in 1 2 3 4 5 6 7 8; do
		[ "$(get "$(_fix_get "PROXY_${1^^}" URL)$BLOB")" = "200 $LS" ] && s+=w || s+=c
	done
	echo "$s"
}
proxy_start p1 "$REG_A_HOST" --cut-after 100 --cut-prob 0.5 --seed 7 --cut-rst
proxy_start p2 "$REG_A_HOST" --cut-after 100 --cut-prob 0.5 --seed 7
s1=$(seq_of p1) s2=$(seq_of p2)
expect "proxy --cut-prob 0.5 --seed 7: some cut, same pattern for the same seed" "$s1 vs $s2" \
	test "$s1" = "$s2" -a "${s1//w/}" != "" -a "${s1//c/}" != ""
proxy_reset p1
expect "proxy /__reset restarts the seeded pattern" "different" test "$(seq_of p1)" = "$s1"

proxy_start rng "$REG_A_HOST" --ignore-range
d=$(get -H 'Range: bytes=100-' "$REG_A_URL$BLOB") p=$(get -H 'Range: bytes=100-' "$PROXY_RNG_URL$BLOB")
expect "proxy --ignore-range: 200 with the whole blob where the registry gives 206" "direct $d, proxy $p" \
	test "$d" = "206 $((LS - 100))" -a "$p" = "200 $LS" -a "$(proxy_stat rng ranges_stripped)" = 1

proxy_start st "$REG_A_HOST" --stall-after 5000 --stall-seconds 10
t0=$SECONDS
r=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' --max-time 2 "$PROXY_ST_URL$BLOB")
rc=$?
expect "proxy --stall-after 5000: stops sending without closing" "$r rc=$rc" \
	test "$r" = "200 5000" -a "$rc" = 28 -a "$(proxy_stat st stalls)" = 1 -a $((SECONDS - t0)) -le 4

proxy_start nf "$REG_A_HOST" --not-found
expect "proxy --not-found: 404 for /v2/, manifests and blobs" "wrong" test \
	"$(code "$PROXY_NF_URL/v2/")$(code "$PROXY_NF_URL/v2/single/manifests/latest")$(code "$PROXY_NF_URL$BLOB")" = 404404404

proxy_start er "$REG_A_HOST" --error-status 503 --error-times 1
r1=$(get "$PROXY_ER_URL$BLOB") r2=$(get "$PROXY_ER_URL$BLOB")
expect "proxy --error-status 503: once, then serves" "$r1 / $r2" test "${r1%% *}" = 503 -a "$r2" = "200 $LS"

# Redirect in front of the basic-auth (HTTPS) registry: credentials must not
# reach the CDN host.
img_single c single >/dev/null
proxy_start cdn "$REG_C_HOST" --backend-ca "$REG_C_CA" --redirect-blobs --cdn-name localhost
cb=/v2/single/blobs/$LD
noauth=$(code "$PROXY_CDN_URL$cb")
loc=$(curl -s -o /dev/null -w '%{redirect_url}' --max-time 10 -u "$REG_C_USER:$REG_C_PASS" "$PROXY_CDN_URL$cb")
r=$(get -L -u "$REG_C_USER:$REG_C_PASS" "$PROXY_CDN_URL$cb")
sum=$(sha256sum <"$W/blob" | cut -d' ' -f1)
expect "proxy --redirect-blobs: 401 without credentials, 307 to the CDN with them, blob intact" \
	"noauth=$noauth loc=$loc r=$r" test "$noauth" = 401 -a "${loc#http://localhost:"${PROXY_CDN_CDN_HOST#*:}"/cdn/}" != "$loc" \
	-a "$r" = "200 $LS" -a "sha256:$sum" = "$LD"
r=$(get -L -H 'Range: bytes=10-19' -u "$REG_C_USER:$REG_C_PASS" "$PROXY_CDN_URL$cb")
expect "proxy --redirect-blobs: the CDN serves ranges" "$r" test "$r" = "206 10"
r=$(get -L --location-trusted -u "$REG_C_USER:$REG_C_PASS" "$PROXY_CDN_URL$cb")
expect "proxy --redirect-blobs: the CDN fails a request carrying Authorization" "$r" \
	test "${r%% *}" = 400 -a "$(proxy_stat cdn cdn_auth_rejected)" = 1 -a "$(proxy_stat cdn redirects)" = 4

proxy_start cdncut "$REG_A_HOST" --redirect-blobs --cut-after 2000 --cut-times 1
r1=$(get -L "$PROXY_CDNCUT_URL$BLOB") r2=$(get -L "$PROXY_CDNCUT_URL$BLOB")
expect "proxy --redirect-blobs --cut-after: the CDN's body is cut" "$r1 / $r2" \
	test "$r1" = "200 2000" -a "$r2" = "200 $LS" -a "$(proxy_stat cdncut cdn_served)" = 2

proxy_stop cut
rc=$?
expect "proxy stops cleanly on SIGTERM" "exit status $rc" test "$rc" = 0

# --- cleanup ----------------------------------------------------------------
pids=("${_FIX_PIDS[@]}")
tmp=$FIX_TMP
registry_stop_all
left=
for p in "${pids[@]}"; do [ -e "/proc/$p" ] && left+=" $p"; done
expect "registry_stop_all stops and reaps everything and removes FIX_TMP" "left:$left tmp=$tmp" \
	test -z "$left" -a ! -e "$tmp" -a "${#pids[@]}" -ge 10
echo "# fixtures self-test took $((SECONDS - START)) s"
finish
