# agent/: CLI front end and daemon. main.o is linked into the binary only;
# everything else also goes into the library the unit tests link.
main-y += main.o
obj-y += version.o flags.o settings.o pull.o images.o login.o search.o
obj-y += container.o run.o ctl.o exec.o volume.o export.o network.o events.o
obj-$(CONFIG_DAEMON) += api.o
obj-$(CONFIG_DAEMON) += daemon.o client.o
obj-$(CONFIG_HEARTBEAT) += fleet.o
