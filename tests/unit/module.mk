# Unit tests, one file per module: unit-$(CONFIG_X) += test_<module>.
unit-y += test_err test_identity test_digest test_store test_flags
unit-y += test_ref test_http test_auth test_manifest
unit-y += test_unpack
unit-$(CONFIG_TLS) += test_tls
unit-$(CONFIG_SQUASHFS) += test_squashfs
unit-y += test_log
unit-$(CONFIG_NETWORK) += test_netlink test_ipam
