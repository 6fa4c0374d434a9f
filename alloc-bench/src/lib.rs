//! Mosaic's page allocator and kernel heap measured against peer crates on
//! the host (issue 18): `frames` for the page allocators, `heaps` for the
//! heaps. The benches (benches/alloc.rs) time the workloads; the report
//! binary (src/bin/report.rs) prints what they leave behind (free blocks
//! per order, peak memory). See docs/benchmarks.md.

pub mod frames;
pub mod heaps;

/// Every binary and test linked with this crate allocates through the
/// router, so that `heaps::on_heap` can send a workload to a heap under test.
#[global_allocator]
static ROUTER: heaps::Router = heaps::Router;
