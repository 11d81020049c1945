/* The default seccomp filter (see seccomp.h): a classic BPF program built
 * from the syscall numbers of the architecture berth is compiled for, the
 * rules from docker's default profile turned around into a deny list. */
#include "runtime/seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define ARCH_NATIVE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH_NATIVE AUDIT_ARCH_AARCH64
#elif defined(__arm__)
#define ARCH_NATIVE AUDIT_ARCH_ARM
#else
#error "seccomp: unknown architecture"
#endif

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "seccomp: the argument offsets below assume a little-endian machine"
#endif

#define ALWAYS (-1)

struct rule {
	long nr;
	int cap; /* kept capability that allows it, or ALWAYS refused */
};

/* SYS_x exists only where the architecture has x. */
static const struct rule rules[] = {
	{ SYS_add_key, ALWAYS },
	{ SYS_keyctl, ALWAYS },
	{ SYS_request_key, ALWAYS },
#ifdef SYS_userfaultfd
	{ SYS_userfaultfd, ALWAYS },
#endif
#ifdef SYS_io_uring_setup
	{ SYS_io_uring_setup, ALWAYS },
	{ SYS_io_uring_enter, ALWAYS },
	{ SYS_io_uring_register, ALWAYS },
#endif
	{ SYS_kexec_load, ALWAYS },
#ifdef SYS_kexec_file_load
	{ SYS_kexec_file_load, ALWAYS },
#endif
#ifdef SYS_uselib
	{ SYS_uselib, ALWAYS },
#endif
#ifdef SYS_ustat
	{ SYS_ustat, ALWAYS },
#endif
#ifdef SYS_sysfs
	{ SYS_sysfs, ALWAYS },
#endif
#ifdef SYS__sysctl
	{ SYS__sysctl, ALWAYS },
#endif
#ifdef SYS_nfsservctl
	{ SYS_nfsservctl, ALWAYS },
#endif
#ifdef SYS_create_module
	{ SYS_create_module, ALWAYS },
#endif
#ifdef SYS_get_kernel_syms
	{ SYS_get_kernel_syms, ALWAYS },
#endif
#ifdef SYS_query_module
	{ SYS_query_module, ALWAYS },
#endif
#ifdef SYS_vm86
	{ SYS_vm86, ALWAYS },
#endif
	{ SYS_mount, CAP_SYS_ADMIN },
	{ SYS_umount2, CAP_SYS_ADMIN },
#ifdef SYS_umount
	{ SYS_umount, CAP_SYS_ADMIN },
#endif
	{ SYS_pivot_root, CAP_SYS_ADMIN },
	{ SYS_setns, CAP_SYS_ADMIN },
	{ SYS_unshare, CAP_SYS_ADMIN },
#ifdef SYS_open_tree
	{ SYS_open_tree, CAP_SYS_ADMIN },
	{ SYS_move_mount, CAP_SYS_ADMIN },
	{ SYS_fsopen, CAP_SYS_ADMIN },
	{ SYS_fsconfig, CAP_SYS_ADMIN },
	{ SYS_fsmount, CAP_SYS_ADMIN },
	{ SYS_fspick, CAP_SYS_ADMIN },
#endif
#ifdef SYS_mount_setattr
	{ SYS_mount_setattr, CAP_SYS_ADMIN },
#endif
	{ SYS_bpf, CAP_SYS_ADMIN },
	{ SYS_perf_event_open, CAP_SYS_ADMIN },
	{ SYS_fanotify_init, CAP_SYS_ADMIN },
	{ SYS_quotactl, CAP_SYS_ADMIN },
	{ SYS_swapon, CAP_SYS_ADMIN },
	{ SYS_swapoff, CAP_SYS_ADMIN },
	{ SYS_lookup_dcookie, CAP_SYS_ADMIN },
	{ SYS_ptrace, CAP_SYS_PTRACE },
	{ SYS_process_vm_readv, CAP_SYS_PTRACE },
	{ SYS_process_vm_writev, CAP_SYS_PTRACE },
	{ SYS_kcmp, CAP_SYS_PTRACE },
	{ SYS_init_module, CAP_SYS_MODULE },
	{ SYS_finit_module, CAP_SYS_MODULE },
	{ SYS_delete_module, CAP_SYS_MODULE },
/* arm32's time64 ABI names its old ones *_time32 and *32 */
#ifdef SYS_settimeofday
	{ SYS_settimeofday, CAP_SYS_TIME },
#endif
#ifdef SYS_settimeofday_time32
	{ SYS_settimeofday_time32, CAP_SYS_TIME },
#endif
#ifdef SYS_clock_settime
	{ SYS_clock_settime, CAP_SYS_TIME },
#endif
#ifdef SYS_clock_settime32
	{ SYS_clock_settime32, CAP_SYS_TIME },
#endif
	{ SYS_clock_adjtime, CAP_SYS_TIME },
#ifdef SYS_stime
	{ SYS_stime, CAP_SYS_TIME },
#endif
#ifdef SYS_clock_settime64
	{ SYS_clock_settime64, CAP_SYS_TIME },
	{ SYS_clock_adjtime64, CAP_SYS_TIME },
#endif
	{ SYS_reboot, CAP_SYS_BOOT },
	{ SYS_syslog, CAP_SYSLOG },
	{ SYS_acct, CAP_SYS_PACCT },
	{ SYS_mbind, CAP_SYS_NICE },
	{ SYS_set_mempolicy, CAP_SYS_NICE },
	{ SYS_migrate_pages, CAP_SYS_NICE },
	{ SYS_move_pages, CAP_SYS_NICE },
#ifdef SYS_iopl
	{ SYS_iopl, CAP_SYS_RAWIO },
#endif
#ifdef SYS_ioperm
	{ SYS_ioperm, CAP_SYS_RAWIO },
#endif
	{ SYS_open_by_handle_at, CAP_DAC_READ_SEARCH },
};

#define NRULES (sizeof(rules) / sizeof(rules[0]))
#define PROG_MAX (16 + 2 * NRULES + 16)

#define STMT(c, k) ((struct sock_filter)BPF_STMT((c), (k)))
#define JUMP(c, k, jt, jf) ((struct sock_filter)BPF_JUMP((c), (k), (jt), (jf)))
#define LD(off) STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(v) STMT(BPF_RET | BPF_K, (v))
#define JEQ(k, jt, jf) JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (jt), (jf))
#define DENY RET(SECCOMP_RET_ERRNO | EPERM)
#define NOSYS RET(SECCOMP_RET_ERRNO | ENOSYS)
#define ALLOW RET(SECCOMP_RET_ALLOW)
#define ARG0 offsetof(struct seccomp_data, args[0]) /* its low 32 bits */

/* personality() values docker allows: PER_LINUX, UNAME26, PER_LINUX32,
 * UNAME26|PER_LINUX32 and the query 0xffffffff. */
static const unsigned personas[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffffu };

int rt_seccomp_install(uint64_t caps, struct berr *err)
{
	struct sock_filter p[PROG_MAX];
	unsigned n = 0;
	p[n++] = LD(offsetof(struct seccomp_data, arch));
	p[n++] = JEQ(ARCH_NATIVE, 1, 0);
	p[n++] = NOSYS;
	p[n++] = LD(offsetof(struct seccomp_data, nr));
#ifdef __x86_64__
	/* x32's numbers have bit 30 set under the same arch */
	p[n++] = JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1);
	p[n++] = NOSYS;
#endif
	for (size_t i = 0; i < NRULES; i++) {
		if (rules[i].cap != ALWAYS && (caps >> rules[i].cap) & 1)
			continue;
		p[n++] = JEQ((unsigned)rules[i].nr, 0, 1);
		p[n++] = DENY;
	}
	/* clone: no new user namespace; clone3 hides its flags */
	p[n++] = JEQ(SYS_clone, 0, 4);
	p[n++] = LD(ARG0);
	p[n++] = JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER, 0, 1);
	p[n++] = DENY;
	p[n++] = ALLOW;
#ifdef SYS_clone3
	p[n++] = JEQ(SYS_clone3, 0, 1);
	p[n++] = NOSYS;
#endif
	const unsigned np = sizeof(personas) / sizeof(personas[0]);
	p[n++] = JEQ(SYS_personality, 0, (unsigned char)(np + 3));
	p[n++] = LD(ARG0);
	for (unsigned i = 0; i < np; i++)
		p[n++] = JEQ(personas[i], (unsigned char)(np - i), 0);
	p[n++] = DENY;
	p[n++] = ALLOW;
	p[n++] = ALLOW;
	struct sock_fprog prog = { .len = (unsigned short)n, .filter = p };
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0)
		return 0;
	/* a kernel without seccomp filters (or qemu-user) runs the container
	 * unfiltered, as docker does; anything else is an error */
	if (errno == EINVAL || errno == ENOSYS)
		return 0;
	return berr_set(err, errno, "install the seccomp filter");
}
