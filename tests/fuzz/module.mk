# libFuzzer targets, one per parser of outside data: fuzz-$(CONFIG_X) += fuzz_<name>.
fuzz-y += fuzz_ref fuzz_http fuzz_auth fuzz_manifest fuzz_tar
fuzz-$(CONFIG_SQUASHFS) += fuzz_sqfs
fuzz-y += fuzz_log
fuzz-$(CONFIG_NETWORK) += fuzz_nlmsg
fuzz-$(CONFIG_DAEMON) += fuzz_httpd fuzz_api_json
