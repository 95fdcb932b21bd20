/* Unit tests for libimg/launch/seccomp: the default filter, loaded in a
 * child process, refuses every denied call with EPERM, clone with a
 * namespace flag too, clone3 with ENOSYS, another ABI as a whole, and lets
 * everything else through. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/seccomp.h>

#include <cmocka.h>

#include "libimg/launch/seccomp.h"
#include "unit.h"

/* Runs in the child: 0 when every check holds, else the failed check's
 * number. */
static int child_checks(void)
{
	size_t n;
	const unsigned *denied = launch_seccomp_denied(&n);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, launch_seccomp_default()) < 0)
		return 1;
	/* Refused before they run: zero arguments are never looked at. */
	for (size_t i = 0; i < n; i++) {
		errno = 0;
		if (syscall(denied[i], 0, 0, 0, 0, 0, 0) != -1 || errno != EPERM) {
			fprintf(stderr, "system call %u not refused\n", denied[i]);
			return 2;
		}
	}
	errno = 0;
	if (syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0) != -1 || errno != EPERM)
		return 3;
	errno = 0;
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		return 4;
	/* Allowed: a plain fork (clone without namespace flags), getpid. */
	pid_t p = fork();
	if (p == 0)
		_exit(7);
	int st;
	if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
		return 5;
	if (syscall(SYS_getpid) != getpid())
		return 6;
#if defined(__x86_64__)
	/* The i386 ABI (getpid is 20 there) is refused as a whole. */
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
	if (ret != -EPERM)
		return 8;
#endif
	return 0;
}

static void test_filter(void **state)
{
	(void)state;
	if (!launch_seccomp_supported())
		skip();
	size_t n;
	assert_non_null(launch_seccomp_denied(&n));
	assert_true(n > 40);
	pid_t p = fork();
	assert_true(p >= 0);
	if (p == 0)
		_exit(child_checks());
	int st;
	assert_int_equal(waitpid(p, &st, 0), p);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
