#!/bin/bash
# A short run smoke test that also runs on the ARM builds under qemu-user
# (make check-cross): pull, run in the foreground, detached, exec, stop, rm,
# with unshare()+fork() namespaces. The image is the x86_64 busybox fixture,
# pulled with --platform linux/amd64: the container's command then runs
# natively even when berth itself runs under qemu.
. "$(dirname "$0")/lib"
. "$TOP/tests/integration/fixtures/registry.sh"
. "$TOP/tests/integration/fixtures/images.sh"

if [ "$(id -u)" != 0 ]; then
	skip "run smoke" "needs root for namespaces and mounts"
	finish
fi
W=$(mktemp -d /tmp/berth-run-smoke.XXXXXX)
export BERTH_CONFIG=$W/cfg
mkdir -p "$BERTH_CONFIG"
cleanup() {
	for c in $("${RUNNER[@]}" "$BERTH" --root "$W/root" ps -aq 2>/dev/null); do
		"${RUNNER[@]}" "$BERTH" --root "$W/root" rm -f "$c" >/dev/null 2>&1
	done
	registry_stop_all
	rm -rf "$W"
}
trap cleanup EXIT

registry_start smoke http >/dev/null || { notok "registry" "could not start"; finish; }
img_single smoke kit/busybox:1 || { notok "image" "could not build"; finish; }
echo "{\"insecure-registries\": [\"$REG_SMOKE_HOST\"]}" >"$BERTH_CONFIG/daemon.json"
B=(--root "$W/root")

run "${B[@]}" pull -q --platform linux/amd64 "$IMG_REF"
expect "smoke: pull" "pull works" test "$RC" = 0

run "${B[@]}" run --rm "$IMG_REF" echo hello from a container
expect "smoke: run --rm prints the command's output" "output" test "$RC:$OUT" = "0:hello from a container"

run "${B[@]}" run --rm "$IMG_REF" sh -c 'echo $$; exit 7'
expect "smoke: pid 1 and exit code" "pid 1, code 7" test "$RC:$OUT" = "7:1"

run "${B[@]}" run --rm "$IMG_REF" nosuchcmd
expect "smoke: command not found is 127" "127 and one error line" \
	test "$RC:$(echo "$ERR" | wc -l)" = "127:1"

run "${B[@]}" run -d --name smoke "$IMG_REF" sh -c 'trap "exit 3" TERM; while :; do sleep 1 & wait; done'
id=$OUT
expect "smoke: run -d prints the id" "64 hex" test "$RC:${#id}" = "0:64"

run "${B[@]}" exec smoke sh -c 'echo $HOSTNAME'
expect "smoke: exec sees the container's hostname" "hostname is the short id" \
	test "$RC:$OUT" = "0:${id:0:12}"

run "${B[@]}" ps -q
expect "smoke: ps lists it" "short id" test "$OUT" = "${id:0:12}"

run "${B[@]}" stop -t 10 smoke
run "${B[@]}" inspect -f '{{.State.Status}} {{.State.ExitCode}}' smoke
expect "smoke: stop delivers SIGTERM" "exited 3" test "$OUT" = "exited 3"

run "${B[@]}" rm smoke
expect "smoke: rm removes it" "no container left" \
	test "$RC:$(ls "$W/root/containers" | wc -l)" = "0:0"
expect "smoke: no mount left" "mountinfo clean" eval '! grep -q "$W" /proc/self/mountinfo'
finish
