# runtime/: namespaces, mounts, cgroups, processes, logs.
obj-y += log.o
