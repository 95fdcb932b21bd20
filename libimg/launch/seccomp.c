#include "libimg/launch/seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "base/cleanup.h"

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#define X32_BIT 0x40000000u
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef NATIVE_ARCH

/* Refused with EPERM, by number; missing numbers are left out per arch. */
static const unsigned denied[] = {
#define D(name) __NR_##name,
#ifdef __NR_acct
	D(acct)
#endif
	D(add_key) D(bpf) D(clock_adjtime) D(clock_settime)
#ifdef __NR_create_module
	D(create_module)
#endif
	D(delete_module) D(finit_module) D(fsconfig) D(fsmount) D(fsopen) D(fspick)
#ifdef __NR_get_kernel_syms
	D(get_kernel_syms)
#endif
	D(get_mempolicy) D(init_module) D(io_uring_enter) D(io_uring_register) D(io_uring_setup)
#ifdef __NR_ioperm
	D(ioperm)
#endif
#ifdef __NR_iopl
	D(iopl)
#endif
	D(kcmp) D(kexec_file_load) D(kexec_load) D(keyctl) D(lookup_dcookie) D(mbind)
	D(mount) D(mount_setattr) D(move_mount) D(move_pages) D(name_to_handle_at)
#ifdef __NR_nfsservctl
	D(nfsservctl)
#endif
	D(open_by_handle_at) D(open_tree) D(perf_event_open) D(pivot_root)
#ifdef __NR_query_module
	D(query_module)
#endif
	D(quotactl) D(reboot) D(request_key) D(set_mempolicy) D(setns) D(settimeofday)
	D(swapoff) D(swapon)
#ifdef __NR_sysfs
	D(sysfs)
#endif
#ifdef __NR__sysctl
	D(_sysctl)
#endif
	D(syslog)
#ifdef __NR_umount
	D(umount)
#endif
	D(umount2) D(unshare)
#ifdef __NR_uselib
	D(uselib)
#endif
	D(userfaultfd)
#ifdef __NR_ustat
	D(ustat)
#endif
#undef D
};

#define NS_FLAGS                                                                                   \
	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | \
	 CLONE_NEWCGROUP)

#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define EPERM_RET RET(SECCOMP_RET_ERRNO | EPERM)

/* The denied numbers are searched as a balanced tree (JGE splits, JEQ
 * leaves of up to three): an allowed call, nearly all of them, runs about
 * fifteen instructions instead of one per denied number, and the kernel's
 * per-number cache of the filter (computed when it is loaded) is that much
 * quicker to build. */
#define LEAF 3

static size_t tree_size(size_t n)
{
	return n <= LEAF ? n : 1 + tree_size(n / 2) + tree_size(n - n / 2);
}

/* Header, the tree, the clone and clone3 cases, the returns. */
#define N_INSNS (6 + 2 * ARRAY_SIZE(denied) + 8)
static struct sock_filter insns[N_INSNS];
static struct sock_fprog prog;

static struct sock_filter jump(unsigned op, unsigned k, size_t at, size_t jt, size_t jf)
{
	/* Offsets count from the next instruction; the program is short enough
	 * for 8 bits. */
	return (struct sock_filter)BPF_JUMP(BPF_JMP | op | BPF_K, k,
					    (unsigned char)(jt ? jt - at - 1 : 0),
					    (unsigned char)(jf ? jf - at - 1 : 0));
}

/* Emit the tree for the sorted numbers d[0..n) at *pc: a match jumps to
 * eperm, anything else to rest. */
static void emit_tree(const unsigned *d, size_t n, size_t *pc, size_t eperm, size_t rest)
{
	if (n <= LEAF) {
		for (size_t i = 0; i < n; i++, (*pc)++)
			insns[*pc] = jump(BPF_JEQ, d[i], *pc, eperm, i + 1 == n ? rest : 0);
		return;
	}
	size_t h = n / 2, at = (*pc)++;
	insns[at] = jump(BPF_JGE, d[h], at, at + 1 + tree_size(h), 0);
	emit_tree(d, h, pc, eperm, rest);
	emit_tree(d + h, n - h, pc, eperm, rest);
}

static int cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
	return (x > y) - (x < y);
}

static void build(void)
{
	unsigned sorted[ARRAY_SIZE(denied)];
	size_t n = 0, nd = ARRAY_SIZE(denied);

	memcpy(sorted, denied, sizeof(sorted));
	qsort(sorted, nd, sizeof(sorted[0]), cmp_unsigned);
	insns[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						  offsetof(struct seccomp_data, arch));
	/* Another ABI: refused as a whole. */
	insns[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0);
	insns[n++] = (struct sock_filter)EPERM_RET;
	insns[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						  offsetof(struct seccomp_data, nr));
#ifdef X32_BIT
	insns[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_BIT, 0, 1);
	insns[n++] = (struct sock_filter)EPERM_RET;
#else
	insns[n++] = (struct sock_filter)BPF_STMT(BPF_MISC | BPF_TAX, 0); /* no-ops */
	insns[n++] = (struct sock_filter)BPF_STMT(BPF_MISC | BPF_TAX, 0);
#endif
	/* After the tree, at rest:
	 *   rest+0: jeq clone3 -> enosys
	 *   rest+1: jeq clone  -> (next) else allow
	 *   rest+2: ld args[0] (the low 32 bits of clone's flags)
	 *   rest+3: jset NS_FLAGS -> eperm else allow
	 *   rest+4: allow    rest+5: eperm    rest+6: enosys */
	size_t rest = n + tree_size(nd), eperm = rest + 5;
	emit_tree(sorted, nd, &n, eperm, rest);
	insns[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 5, 0);
	insns[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 2);
	insns[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
						  offsetof(struct seccomp_data, args[0]));
	insns[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, NS_FLAGS, 1, 0);
	insns[n++] = (struct sock_filter)RET(SECCOMP_RET_ALLOW);
	insns[n++] = (struct sock_filter)EPERM_RET;
	insns[n++] = (struct sock_filter)RET(SECCOMP_RET_ERRNO | ENOSYS);
	prog.len = (unsigned short)n;
	prog.filter = insns;
}

bool launch_seccomp_supported(void)
{
	return true;
}

const struct sock_fprog *launch_seccomp_default(void)
{
	if (!prog.len)
		build();
	return &prog;
}

const unsigned *launch_seccomp_denied(size_t *n)
{
	*n = ARRAY_SIZE(denied);
	return denied;
}

#else

bool launch_seccomp_supported(void)
{
	return false;
}

const struct sock_fprog *launch_seccomp_default(void)
{
	return NULL;
}

const unsigned *launch_seccomp_denied(size_t *n)
{
	*n = 0;
	return NULL;
}

#endif
