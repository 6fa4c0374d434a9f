//! The memory manager. For now only the virtual memory layout; the buddy
//! allocator, vmalloc and the fault handler come later.

pub mod layout;
