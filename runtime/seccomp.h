/* The default seccomp filter of a container (CONFIG_SECCOMP): the syscalls
 * docker's default profile refuses, refused with EPERM, unless the
 * capability docker ties them to is kept. */
#ifndef BERTH_RUNTIME_SECCOMP_H
#define BERTH_RUNTIME_SECCOMP_H

#include <stdint.h>

#include "board/err.h"

/* Installs the filter on the calling thread (and what it execs), for a
 * process whose capability set is caps (bit n = capability n). Needs
 * no_new_privs or CAP_SYS_ADMIN. Refused:
 * - always: kernel keyrings (add_key, keyctl, request_key), userfaultfd,
 *   io_uring, kexec, new user namespaces (clone with CLONE_NEWUSER; clone3,
 *   whose flags a filter cannot read, answers ENOSYS so libcs fall back to
 *   clone), personality() other than the usual ones, and the syscalls of a
 *   second ABI (i386 and x32 on x86_64, arm32 on aarch64: ENOSYS);
 * - unless CAP_SYS_ADMIN: mount, umount, pivot_root, setns, unshare, the
 *   new mount API, bpf, perf_event_open, fanotify_init, quotactl, swapon,
 *   swapoff, lookup_dcookie; CAP_SYS_PTRACE: ptrace, process_vm_readv and
 *   _writev, kcmp; CAP_SYS_MODULE: (f)init_module, delete_module;
 *   CAP_SYS_TIME: settimeofday, clock_settime, clock_adjtime; CAP_SYS_BOOT:
 *   reboot; CAP_SYSLOG: syslog; CAP_SYS_PACCT: acct; CAP_SYS_NICE: mbind,
 *   set_mempolicy, migrate_pages, move_pages; CAP_SYS_RAWIO: iopl, ioperm;
 *   CAP_DAC_READ_SEARCH: open_by_handle_at.
 * Returns 0 or -errno with err. */
int rt_seccomp_install(uint64_t caps, struct berr *err);

#endif
