//! Timing of the comparison with divan (`cargo bench -p alloc-bench`): the
//! three frame workloads on Mosaic's page allocator (without and with its
//! per-CPU lists) and buddy_system_allocator's, and ArceOS's heap workloads
//! on Mosaic's heap and the peer heaps. Each sample is one whole workload on
//! a fresh allocator; the counters give the time per operation. What the
//! workloads leave behind is printed by the report binary instead.

use alloc_bench::frames::{BuddySystemFrames, FrameWorkload, MosaicFrames, MosaicPcpFrames, NewFrames};
use alloc_bench::heaps::{new_heap, on_heap, Workload, ARENA_BYTES, HEAPS};
use divan::counter::ItemsCount;
use divan::Bencher;

fn main() {
    divan::main();
}

fn frame_bench<F: NewFrames>(b: Bencher, w: FrameWorkload) {
    let ops = w.run(&mut F::with_frames(w.frames())).ops;
    b.counter(ItemsCount::new(ops)).with_inputs(|| F::with_frames(w.frames())).bench_local_values(|mut f| {
        w.run_timed(&mut f);
        f // dropped outside the timing
    });
}

#[divan::bench(types = [MosaicFrames, MosaicPcpFrames, BuddySystemFrames], sample_count = 10, sample_size = 1)]
fn frames_mixed<F: NewFrames>(b: Bencher) {
    frame_bench::<F>(b, FrameWorkload::BENCH[0].1);
}

#[divan::bench(types = [MosaicFrames, MosaicPcpFrames, BuddySystemFrames], sample_count = 10, sample_size = 1)]
fn frames_churn<F: NewFrames>(b: Bencher) {
    frame_bench::<F>(b, FrameWorkload::BENCH[1].1);
}

#[divan::bench(types = [MosaicFrames, MosaicPcpFrames, BuddySystemFrames], sample_count = 10, sample_size = 1)]
fn frames_fragmenting<F: NewFrames>(b: Bencher) {
    frame_bench::<F>(b, FrameWorkload::BENCH[2].1);
}

fn heap_bench(b: Bencher, heap: &str, w: Workload) {
    b.with_inputs(|| new_heap(heap, ARENA_BYTES)).bench_local_values(|mut h| {
        on_heap(&mut *h, || w.run());
        h
    });
}

#[divan::bench(args = HEAPS, sample_count = 10, sample_size = 1)]
fn heap_vec_push_3m(b: Bencher, heap: &str) {
    heap_bench(b, heap, Workload::ARCEOS[0].1);
}

#[divan::bench(args = HEAPS, sample_count = 10, sample_size = 1)]
fn heap_vec_push_1m(b: Bencher, heap: &str) {
    heap_bench(b, heap, Workload::ARCEOS[1].1);
}

#[divan::bench(args = HEAPS, sample_count = 10, sample_size = 1)]
fn heap_vec_rand_free_25k_64(b: Bencher, heap: &str) {
    heap_bench(b, heap, Workload::ARCEOS[2].1);
}

#[divan::bench(args = HEAPS, sample_count = 10, sample_size = 1)]
fn heap_vec_rand_free_7500_520(b: Bencher, heap: &str) {
    heap_bench(b, heap, Workload::ARCEOS[3].1);
}

#[divan::bench(args = HEAPS, sample_count = 10, sample_size = 1)]
fn heap_btree_map_50k(b: Bencher, heap: &str) {
    heap_bench(b, heap, Workload::ARCEOS[4].1);
}
