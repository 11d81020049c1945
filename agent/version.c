/* berth version and berth info: what this binary is and which device it runs on. */
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "board/identity.h"
#include "config.h"
#include "agent.h"
#include "agent/client.h"
#include "agent/container.h"
#include "agent/settings.h"
#include "runtime/cgroup.h"
#include "store/store.h"

const char *agent_arch(void)
{
	return CONFIG_ARCH_AARCH64 ? "aarch64" : CONFIG_ARCH_ARMV7 ? "armv7" : "x86_64";
}

void agent_print_features(FILE *f)
{
	static const struct {
		const char *name;
		int on;
	} feats[] = {
		{ "daemon", CONFIG_DAEMON },
		{ "heartbeat", CONFIG_HEARTBEAT },
		{ "tls", CONFIG_TLS },
		{ "network", CONFIG_NETWORK },
		{ "squashfs", CONFIG_SQUASHFS },
		{ "cgroup-v1", CONFIG_CGROUP_V1 },
		{ "tcp-tls", CONFIG_DAEMON_TLS },
		{ "seccomp", CONFIG_SECCOMP },
	};
	for (size_t i = 0; i < sizeof(feats) / sizeof(feats[0]); i++)
		fprintf(f, "%s%c%s", i ? " " : "", feats[i].on ? '+' : '-', feats[i].name);
	fputc('\n', f);
}

static int want_help(int argc, char **argv, const char *usage)
{
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage, stdout);
		return 1;
	}
	return 0;
}

int agent_cmd_version(const struct agent_opts *o, int argc, char **argv)
{
	(void)o;
	if (want_help(argc, argv,
		      "Usage: berth version\n\nShow the version, architecture and features.\n"))
		return AGENT_EXIT_OK;
	int r = agent_no_args(argc, argv);
	if (r)
		return r;
	printf("berth version %s\n", BERTH_VERSION);
	printf("arch:     %s\n", agent_arch());
	printf("board:    %s\n", CONFIG_BOARD_NAME);
	printf("features: ");
	agent_print_features(stdout);
	return AGENT_EXIT_OK;
}

cJSON *agent_info_json(const char *root)
{
	struct agent_ctr *v;
	struct berr e = { 0 };
	int n = agent_ctr_list(root, &v, &e);
	int run = 0, paused = 0;
	for (int i = 0; i < n; i++) {
		if (agent_ctr_running(&v[i]))
			v[i].paused ? paused++ : run++;
		agent_ctr_free(&v[i]);
	}
	if (n > 0)
		free(v);
	if (n < 0)
		n = 0;
	cJSON *imgs = agent_images_json(root, true);
	struct utsname u;
	if (uname(&u))
		memset(&u, 0, sizeof(u));
	struct rt_cg_host h;
	bool cg = !rt_cgroup_detect(&h, "/proc/self/mountinfo", &e);
	struct store st;
	const char *driver = "overlay";
	if (!store_open(&st, root, STORE_READ, &e)) {
		driver = store_backend_name(&st);
		store_close(&st);
	}
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "ID", host);
	cJSON_AddNumberToObject(j, "Containers", n);
	cJSON_AddNumberToObject(j, "ContainersRunning", run);
	cJSON_AddNumberToObject(j, "ContainersPaused", paused);
	cJSON_AddNumberToObject(j, "ContainersStopped", n - run - paused);
	cJSON_AddNumberToObject(j, "Images", cJSON_GetArraySize(imgs));
	cJSON_Delete(imgs);
	cJSON_AddStringToObject(j, "Driver", driver);
	cJSON_AddArrayToObject(j, "DriverStatus");
	cJSON_AddStringToObject(j, "DockerRootDir", root);
	cJSON_AddStringToObject(j, "Name", host);
	cJSON_AddStringToObject(j, "ServerVersion", BERTH_VERSION);
	cJSON_AddStringToObject(j, "OperatingSystem", "Berth " BERTH_VERSION);
	cJSON_AddStringToObject(j, "OSType", "linux");
	cJSON_AddStringToObject(j, "Architecture", u.machine);
	cJSON_AddStringToObject(j, "KernelVersion", u.release);
	cJSON_AddNumberToObject(j, "NCPU", (double)sysconf(_SC_NPROCESSORS_ONLN));
	cJSON_AddNumberToObject(j, "MemTotal",
				(double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE));
	cJSON_AddStringToObject(j, "CgroupDriver", "cgroupfs");
	cJSON_AddStringToObject(j, "CgroupVersion", cg && !strcmp(h.layout, "v2") ? "2" : "1");
	cJSON_AddBoolToObject(j, "MemoryLimit", true);
	cJSON_AddBoolToObject(j, "SwapLimit", false);
	cJSON_AddBoolToObject(j, "CpuCfsQuota", true);
	cJSON_AddBoolToObject(j, "CpuShares", true);
	cJSON_AddBoolToObject(j, "PidsLimit", true);
	cJSON_AddBoolToObject(j, "IPv4Forwarding", true);
	cJSON_AddStringToObject(j, "LoggingDriver", "local");
	cJSON_AddStringToObject(j, "DefaultRuntime", "berth");
	cJSON *rt = cJSON_AddObjectToObject(j, "Runtimes");
	cJSON_AddObjectToObject(rt, "berth");
	cJSON_AddObjectToObject(j, "Plugins");
	/* as dockerd words them: docker info shows "seccomp / Profile: builtin" */
	cJSON *so = cJSON_AddArrayToObject(j, "SecurityOptions");
	if (CONFIG_SECCOMP)
		cJSON_AddItemToArray(so, cJSON_CreateString("name=seccomp,profile=builtin"));
	cJSON_AddItemToArray(so, cJSON_CreateString("name=no-new-privileges"));
	cJSON_AddArrayToObject(j, "Warnings");
	/* Berth's own: what `berth info` shows of the board and the device */
	cJSON *b = cJSON_AddObjectToObject(j, "Berth");
	cJSON_AddStringToObject(b, "Board", CONFIG_BOARD_NAME);
	cJSON_AddStringToObject(b, "Arch", agent_arch());
	char *feats = NULL;
	size_t flen = 0;
	FILE *f = open_memstream(&feats, &flen);
	if (f) {
		agent_print_features(f);
		fclose(f);
	}
	cJSON_AddStringToObject(b, "Features", feats ? feats : "\n");
	free(feats);
	char id[BOARD_ID_MAX + 1];
	enum board_id_source src;
	if (board_identity("", CONFIG_IDENTITY_SOURCE, id, &src, &e) < 0) {
		cJSON_AddStringToObject(b, "DeviceIDError", e.msg);
	} else {
		cJSON_AddStringToObject(b, "DeviceID", id);
		cJSON_AddStringToObject(b, "DeviceIDSource", board_id_source_name(src));
	}
	return j;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, k));
	return s ? s : "";
}

static cJSON *info_local(const char *root, struct berr *err)
{
	return agent_info_json(root);
}

int agent_cmd_info(const struct agent_opts *o, int argc, char **argv)
{
	if (want_help(argc, argv,
		      "Usage: berth info\n\nShow board, device identity and data root.\n"))
		return AGENT_EXIT_OK;
	int r = agent_no_args(argc, argv);
	if (r)
		return r;
	struct berr err = { 0 };
	cJSON *j = agent_json_of(o, "/info", info_local, &err);
	if (!j)
		return agent_fail(o->host ? "info: %s" : "%s", err.msg);
	const cJSON *b = cJSON_GetObjectItem(j, "Berth");
	printf("Board:      %s\n", jstr(b, "Board"));
	printf("Arch:       %s (kernel %s %s)\n", jstr(b, "Arch"), jstr(j, "KernelVersion"),
	       jstr(j, "Architecture"));
	printf("Data root:  %s\n", jstr(j, "DockerRootDir"));
	printf("Features:   %s", jstr(b, "Features"));
	int rc = AGENT_EXIT_OK;
	if (jstr(b, "DeviceIDError")[0])
		rc = agent_fail("device identity: %s", jstr(b, "DeviceIDError"));
	else
		printf("Device ID:  %s (from %s)\n", jstr(b, "DeviceID"),
		       jstr(b, "DeviceIDSource"));
	cJSON_Delete(j);
	return rc;
}
