#pragma once
/* The container's default seccomp filter: a deny-list after docker's default
 * profile (moby profiles/seccomp/default.json), as a classic BPF program
 * written here, with the kernel's own system call numbers: no libseccomp
 * to load and no filter to compile at each start (either costs more than
 * the rest of a container's start).
 *
 * Refused with EPERM: what docker's profile leaves out for a container
 * without CAP_SYS_ADMIN and friends — mount and the new mount API, pivot_root,
 * umount, unshare, setns, clone with a CLONE_NEW* flag, kernel modules, kexec,
 * reboot, swap, the clock, keyrings (add_key, keyctl, request_key), bpf,
 * perf_event_open, userfaultfd, NUMA policy (mbind, set_mempolicy,
 * get_mempolicy, move_pages), iopl/ioperm, acct, quotactl, handles
 * (name_to_handle_at, open_by_handle_at), kcmp, lookup_dcookie, syslog,
 * uselib, ustat, sysfs, _sysctl, io_uring.  clone3 fails with ENOSYS, so
 * that libc falls back to clone, whose flags the filter can see.  System
 * calls of another ABI (i386, x32 on x86_64; arm32 on arm64) are refused
 * with EPERM as a whole: a deny-list by number holds for one ABI only. */
#include <stdbool.h>
#include <stddef.h>
#include <linux/filter.h>

/* Whether this architecture has the filter. */
bool launch_seccomp_supported(void);

/* The filter, in static storage; NULL when unsupported. */
const struct sock_fprog *launch_seccomp_default(void);

/* The numbers the filter refuses with EPERM (for tests); NULL and 0 when
 * unsupported. */
const unsigned *launch_seccomp_denied(size_t *n);
