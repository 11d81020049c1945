# store/: digests, manifests, blobs, layers, images.
obj-y += digest.o manifest.o tar.o unpack.o blob.o image.o layer.o
obj-$(CONFIG_ARCH_X86_64) += sha256_x86.o
obj-$(CONFIG_ARCH_AARCH64) += sha256_arm64.o
obj-$(CONFIG_SQUASHFS) += squashfs.o loop.o
