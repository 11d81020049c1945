# store/: digests, manifests, blobs, layers, images.
obj-y += digest.o manifest.o tar.o unpack.o blob.o image.o
