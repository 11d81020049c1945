#!/bin/bash
# The runtime's tests (run.sh) on a data root whose layers are squashfs
# images (daemon.json "storage-driver": "squashfs"): containers from the
# squashfs store must pass them all.
. "$(dirname "$0")/lib"
if ! "${RUNNER[@]}" "$BERTH" version 2>/dev/null | grep -q -- '+squashfs'; then
	skip "run tests on the squashfs store" "this build has no squashfs store (CONFIG_SQUASHFS off)"
	finish
fi
RUN_STORAGE_DRIVER=squashfs exec bash "$TOP/tests/integration/run.sh"
