# Unit tests, one file per module: unit-$(CONFIG_X) += test_<module>.
unit-y += test_err test_identity
