# runtime/: namespaces, mounts, cgroups, processes, logs.
obj-y += log.o
obj-y += cgroup.o cgroup_v2.o
obj-$(CONFIG_CGROUP_V1) += cgroup_v1.o
obj-y += spawn.o caps.o user.o state.o monitor.o copyup.o
obj-$(CONFIG_SECCOMP) += seccomp.o
