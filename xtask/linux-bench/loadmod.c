/* Loads one kernel module with finit_module(2), once. busybox's insmod
 * retries with init_module(2) when the first call fails, and
 * test_vmalloc always fails on purpose (-EAGAIN, so that it can be loaded
 * again): with busybox every test would run twice. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char params[4096] = "";
	int fd, i;

	if (argc < 2) {
		fprintf(stderr, "usage: loadmod <module.ko> [param=value...]\n");
		return 2;
	}
	for (i = 2; i < argc; i++) {
		strncat(params, argv[i], sizeof(params) - strlen(params) - 2);
		strcat(params, " ");
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	if (syscall(SYS_finit_module, fd, params, 0) != 0)
		perror("finit_module");
	return 0;
}
