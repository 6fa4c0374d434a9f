// SPDX-License-Identifier: GPL-2.0
/*
 * Debian's 6.1 kernels export neither __vmalloc_node nor
 * __vmalloc_node_range, and test_vmalloc's aligned cases call the first;
 * its 6.12 kernels do not export __vmalloc_node_noprof, the function
 * behind the __vmalloc_node macro since 6.10. Kbuild renames the calls to
 * mosaic_vmalloc_node, which finds the real function through kallsyms
 * (reached by way of a kprobe, since kallsyms_lookup_name is not exported
 * either) and calls it.
 */
#include <linux/kprobes.h>
#include <linux/vmalloc.h>

typedef void *(*vmalloc_node_fn)(unsigned long, unsigned long, gfp_t, int, const void *);

static vmalloc_node_fn mosaic_real_vmalloc_node(void)
{
	static vmalloc_node_fn real;
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };
	unsigned long (*lookup)(const char *name);

	if (real)
		return real;
	if (register_kprobe(&kp) < 0)
		return NULL;
	lookup = (void *)kp.addr;
	unregister_kprobe(&kp);
	/* The 6.10+ name first: 6.1 has no such symbol, 6.12 no __vmalloc_node. */
	real = (vmalloc_node_fn)lookup("__vmalloc_node_noprof");
	if (!real)
		real = (vmalloc_node_fn)lookup("__vmalloc_node");
	return real;
}

void *mosaic_vmalloc_node(unsigned long size, unsigned long align, gfp_t gfp, int node, const void *caller)
{
	vmalloc_node_fn real = mosaic_real_vmalloc_node();

	return real ? real(size, align, gfp, node, caller) : NULL;
}
