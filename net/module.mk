# net/: references, HTTP, TLS, registry client.
obj-y += ref.o http.o auth.o conn.o http_client.o registry.o
obj-$(CONFIG_TLS) += tls.o
obj-$(CONFIG_DAEMON_TLS) += tls_server.o
obj-$(CONFIG_NETWORK) += netlink.o ipam.o
obj-$(CONFIG_NETWORK) += proxy.o nat.o
obj-$(CONFIG_DAEMON) += httpd.o
