//! Prints what the comparison's workloads leave behind, one run each
//! (`cargo run --release -p alloc-bench --bin report`): for the frame
//! allocators the operations, refusals and free blocks per order at the end
//! of each workload; for the heaps the peak memory each took from its arena,
//! next to the peak of bytes the workload had live. Times are the benches'.

use alloc_bench::frames::{
    mixed, BuddySystemFrames, FrameWorkload, MosaicFrames, MosaicPcpFrames, NewFrames, Outcome, SEED,
};
use alloc_bench::heaps::{new_heap, on_heap, Heap, Workload, ARENA_BYTES, HEAPS};
use core::alloc::Layout;
use std::time::Instant;

fn frame_row<F: NewFrames>(name: &str, w: FrameWorkload) {
    // Timed without the free-block count, which is not allocator work;
    // counted on a second run (the workloads are deterministic).
    let t = Instant::now();
    let timed = w.run_timed(&mut F::with_frames(w.frames()));
    let ns = t.elapsed().as_nanos() as f64 / timed.ops as f64;
    let out: Outcome = w.run(&mut F::with_frames(w.frames()));
    assert_eq!(out.ops, timed.ops, "the workload is not deterministic");
    let largest = out.largest_free_order().map_or("-".into(), |o| o.to_string());
    let blocks: Vec<String> = out.free_blocks.iter().map(u64::to_string).collect();
    let order3 = if let FrameWorkload::Fragmenting { .. } = w { out.order3_after.to_string() } else { "-".into() };
    println!(
        "| {name} | {} | {} | {} | {ns:.1} | {largest} | {} | {} | {order3} |",
        F::NAME,
        out.ops,
        out.failed,
        blocks.join(" "),
        out.free_pages_below(4)
    );
}

/// Passes calls on, keeping the peak of bytes the workload has live.
struct Demand {
    inner: Box<dyn Heap>,
    live: usize,
    peak: usize,
}

impl Heap for Demand {
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        let p = self.inner.alloc(layout);
        if !p.is_null() {
            self.live += layout.size();
            self.peak = self.peak.max(self.live);
        }
        p
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        self.live -= layout.size();
        // SAFETY: passed on from our caller.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        self.inner.owns(ptr)
    }

    fn peak_bytes(&self) -> usize {
        self.inner.peak_bytes()
    }
}

fn mib(bytes: usize) -> String {
    format!("{:.2}", bytes as f64 / (1 << 20) as f64)
}

/// `report one <heap> <workload>` or `report one <frames> <workload>`: one
/// workload on one allocator and nothing else, for callgrind.
fn one(alloc: &str, workload: &str) {
    if let Some((_, w)) = FrameWorkload::BENCH.into_iter().find(|(n, _)| *n == workload) {
        let ops = match alloc {
            "mosaic" => w.run(&mut MosaicFrames::with_frames(w.frames())).ops,
            "mosaic+pcp" => w.run(&mut MosaicPcpFrames::with_frames(w.frames())).ops,
            "buddy_system" => w.run(&mut BuddySystemFrames::with_frames(w.frames())).ops,
            _ => panic!("no frame allocator called {alloc}"),
        };
        println!("{alloc} {workload}: {ops} operations");
        return;
    }
    let (_, w) = Workload::ARCEOS.into_iter().find(|(n, _)| *n == workload).expect("a workload's name");
    let mut h = new_heap(alloc, ARENA_BYTES);
    on_heap(&mut *h, || w.run());
    println!("{alloc} {workload}: done");
}

/// The `n` seeds of the sweep: the benches' own first. Consecutive ones
/// two apart, as xorshift64 sets the lowest bit of its seed.
fn sweep_seeds(n: u64) -> impl Iterator<Item = u64> {
    (0..n).map(|i| SEED + 2 * i)
}

/// Free pages stranded below order 4 by the mixed workload (1 GiB,
/// 500,000 steps) over `sweep_seeds(n)`, for one allocator: the mean and
/// each seed's figure.
fn seed_sweep<F: NewFrames>(n: u64) -> (f64, Vec<u64>) {
    let FrameWorkload::Mixed { frames, steps } = FrameWorkload::BENCH[0].1 else { unreachable!() };
    let below: Vec<u64> = sweep_seeds(n)
        .map(|seed| mixed(&mut F::with_frames(frames), frames, steps, seed, true).free_pages_below(4))
        .collect();
    (below.iter().sum::<u64>() as f64 / n as f64, below)
}

/// `report seeds [n]`: the fragmentation of the mixed workload over `n`
/// seeds (30 unless given), mean and per seed, for each frame allocator.
fn seeds(n: u64) {
    println!("Mixed workload, free pages in blocks below order 4, seeds {SEED:#x} + 2i, i < {n}:\n");
    for (name, (mean, each)) in [
        (MosaicFrames::NAME, seed_sweep::<MosaicFrames>(n)),
        (MosaicPcpFrames::NAME, seed_sweep::<MosaicPcpFrames>(n)),
        (BuddySystemFrames::NAME, seed_sweep::<BuddySystemFrames>(n)),
    ] {
        let each: Vec<String> = each.iter().map(u64::to_string).collect();
        println!("{name}: mean {mean:.1} ({})", each.join(" "));
    }
}

/// CPU time of this thread, in ns: unlike the wall clock, it does not
/// count the time the host gives other processes, so that a loaded host
/// can still compare allocators (caches shared with them still cost).
fn thread_cpu_ns() -> u128 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    t.tv_sec as u128 * 1_000_000_000 + t.tv_nsec as u128
}

/// One timed run of the bench's mixed workload on a fresh `F`, in thread
/// CPU ns per operation (setup and drop outside the timing).
fn mixed_cpu_ns<F: NewFrames>() -> f64 {
    let w = FrameWorkload::BENCH[0].1;
    let mut f = F::with_frames(w.frames());
    let start = thread_cpu_ns();
    let ops = w.run_timed(&mut f).ops;
    (thread_cpu_ns() - start) as f64 / ops as f64
}

/// `report cpu [rounds]`: the mixed workload on the three frame
/// allocators in turn, `rounds` times (15 unless given), timed in thread
/// CPU time; fastest and median ns per operation, and buddy_system's time
/// over Mosaic's.
fn cpu(rounds: usize) {
    let mut times = [vec![], vec![], vec![]];
    for _ in 0..rounds {
        times[0].push(mixed_cpu_ns::<MosaicFrames>());
        times[1].push(mixed_cpu_ns::<MosaicPcpFrames>());
        times[2].push(mixed_cpu_ns::<BuddySystemFrames>());
    }
    let stats = times.map(|mut t| {
        t.sort_by(f64::total_cmp);
        (t[0], t[t.len() / 2])
    });
    println!("Mixed workload, thread CPU ns per operation over {rounds} rounds (fastest / median):\n");
    for (name, (best, median)) in [MosaicFrames::NAME, MosaicPcpFrames::NAME, BuddySystemFrames::NAME].iter().zip(stats)
    {
        let (b, m) = (stats[2].0 / best, stats[2].1 / median);
        println!("{name}: {best:.1} / {median:.1} ns; buddy_system / this: {b:.2}x / {m:.2}x");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "one" {
        return one(&args[2], &args[3]);
    }
    if args.get(1).is_some_and(|a| a == "cpu") {
        let rounds = args.get(2).map_or(Ok(15), |n| n.parse()).expect("cpu takes a number of rounds");
        return cpu(rounds);
    }
    if args.get(1).is_some_and(|a| a == "seeds") {
        let n = args.get(2).map_or(Ok(30), |n| n.parse()).expect("seeds takes a number of seeds");
        return seeds(n);
    }
    println!("Frame workloads over 1 GiB of frames (free blocks counted before the last frees):\n");
    println!("| workload | allocator | ops | refused | ns/op (one run) | largest free order | free blocks, orders 0..10 | free pages in blocks below order 4 | order-3 blocks after the frees |");
    println!("|---|---|---:|---:|---:|---:|---|---:|---:|");
    for (name, w) in FrameWorkload::BENCH {
        frame_row::<MosaicFrames>(name, w);
        frame_row::<MosaicPcpFrames>(name, w);
        frame_row::<BuddySystemFrames>(name, w);
    }
    println!("\nHeap workloads, {} MiB arenas: peak MiB held (blocks held for the buddy heaps, highest byte handed out for the others; the workload's live bytes at peak first)\n", ARENA_BYTES >> 20);
    let mut header = String::from("| workload | live at peak |");
    for h in HEAPS {
        header += &format!(" {h} |");
    }
    println!("{header}");
    println!("|---|---:|{}", "---:|".repeat(HEAPS.len()));
    for (name, w) in Workload::ARCEOS {
        let mut row = String::new();
        let mut demand = 0;
        for h in HEAPS {
            let mut d = Demand { inner: new_heap(h, ARENA_BYTES), live: 0, peak: 0 };
            on_heap(&mut d, || w.run());
            assert_eq!(d.live, 0, "{h} {name}: not all freed");
            demand = d.peak;
            row += &format!(" {} |", mib(d.peak_bytes()));
        }
        println!("| {name} | {} |{row}", mib(demand));
    }
}
