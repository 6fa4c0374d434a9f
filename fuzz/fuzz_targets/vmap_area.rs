//! Fuzz target: the vmalloc area's two range allocators, `ListAllocator`
//! (Linux 2.4's vmlist) and `TreeAllocator` (today's augmented free tree),
//! run side by side on the same requests.
//!
//! Both promise the same policy, the lowest aligned fit, so they must give
//! the same answer to every call and hold the same busy and free ranges
//! after every step, and both must pass their own `check()`. Each
//! allocation is also compared with a third answer worked out here from the
//! free ranges, in 128-bit arithmetic so that it cannot overflow where the
//! allocators might. Spans, sizes and alignments include the extremes: an
//! empty span, a span at the top of the address space, sizes and alignments
//! near 2^64.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mosaic_kernel::mm::vmap_area::{
    busy_areas, free_ranges, AreaAllocator, AreaError, ListAllocator, TreeAllocator, PAGE_SIZE,
};
use std::ops::Range;

/// The kernel's vmalloc area.
const VMALLOC: Range<u64> = 0xffff_c900_0000_0000..0xffff_e900_0000_0000;
/// The highest page-aligned address: the largest span end there can be.
const LAST_PAGE: u64 = u64::MAX - (PAGE_SIZE - 1);

#[derive(Arbitrary, Debug)]
struct Input {
    span: Span,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Span {
    /// A few pages somewhere low: fills up quickly.
    Small { first_page: u16, pages: u8 },
    /// The kernel's own 32 TiB.
    Kernel,
    /// Pages ending at the top of the address space.
    Top { pages: u16 },
    /// Any page-aligned span.
    Raw { a: u64, b: u64 },
}

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc {
        size: Size,
        align: Align,
    },
    /// Removes the live area the index picks.
    RemoveLive(u16),
    /// Removes at an address near a live area (rarely an area's start).
    RemoveNear {
        pick: u16,
        delta: i32,
    },
    /// Looks up an address near a live area.
    Find {
        pick: u16,
        delta: i32,
    },
    /// Changes the data of the area holding an address, through `find_mut`.
    SetData {
        pick: u16,
        delta: i32,
        data: u32,
    },
}

#[derive(Arbitrary, Debug)]
enum Size {
    Pages(u8),
    Raw(u64),
}

#[derive(Arbitrary, Debug)]
enum Align {
    /// PAGE_SIZE << shift (wrapping: large shifts give odd values).
    Shift(u8),
    Raw(u64),
}

fuzz_target!(|input: Input| run(input));

fn run(input: Input) {
    let span = span(&input.span);
    let mut list = ListAllocator::new(span.clone());
    let mut tree = TreeAllocator::new(span.clone());
    let mut live: Vec<u64> = Vec::new();
    for (id, op) in (0u32..).zip(input.ops) {
        step(&mut list, &mut tree, &mut live, id, op);
        agree(&list, &tree);
    }
    for start in live {
        assert_eq!(list.remove(start).map(|a| a.start), Some(start));
        assert_eq!(tree.remove(start).map(|a| a.start), Some(start));
    }
    agree(&list, &tree);
    assert_eq!(tree.free_block_count(), usize::from(!span.is_empty()), "free blocks left unmerged");
    assert_eq!(list.largest_free(), span.end - span.start);
}

fn span(choice: &Span) -> Range<u64> {
    let page = |n: u64| n * PAGE_SIZE;
    match *choice {
        Span::Small { first_page, pages } => {
            page(u64::from(first_page))..page(u64::from(first_page) + u64::from(pages))
        }
        Span::Kernel => VMALLOC,
        Span::Top { pages } => LAST_PAGE - page(u64::from(pages))..LAST_PAGE,
        Span::Raw { a, b } => {
            let (a, b) = (a & !(PAGE_SIZE - 1), b & !(PAGE_SIZE - 1));
            a.min(b)..a.max(b)
        }
    }
}

fn size(choice: &Size) -> u64 {
    match *choice {
        Size::Pages(n) => u64::from(n) * PAGE_SIZE,
        Size::Raw(s) => s,
    }
}

fn align(choice: &Align) -> u64 {
    match *choice {
        Align::Shift(s) => PAGE_SIZE.wrapping_shl(u32::from(s)),
        Align::Raw(a) => a,
    }
}

/// An address `delta` bytes from the live area `pick` (or from the span's
/// start), wrapping around the address space.
fn near(span: &Range<u64>, live: &[u64], pick: u16, delta: i32) -> u64 {
    let base = if live.is_empty() { span.start } else { live[usize::from(pick) % live.len()] };
    base.wrapping_add_signed(i64::from(delta))
}

fn step(list: &mut ListAllocator<u32>, tree: &mut TreeAllocator<u32>, live: &mut Vec<u64>, id: u32, op: Op) {
    let span = list.span();
    match op {
        Op::Alloc { size: s, align: a } => {
            let (size, align) = (size(&s), align(&a));
            let want = lowest_fit(&free_ranges(list), size, align);
            assert_eq!(list.alloc(size, align, id), want, "list alloc({size:#x}, {align:#x})");
            assert_eq!(tree.alloc(size, align, id), want, "tree alloc({size:#x}, {align:#x})");
            if let Ok(start) = want {
                live.push(start);
            }
        }
        Op::RemoveLive(pick) if !live.is_empty() => {
            let start = live.swap_remove(usize::from(pick) % live.len());
            let area = list.remove(start);
            assert!(area.as_ref().is_some_and(|a| a.start == start), "list lost the area at {start:#x}");
            assert_eq!(tree.remove(start), area);
        }
        Op::RemoveLive(_) => {}
        Op::RemoveNear { pick, delta } => {
            let at = near(&span, live, pick, delta);
            let area = list.remove(at);
            assert_eq!(area.is_some(), live.contains(&at), "list remove({at:#x})");
            assert_eq!(tree.remove(at), area, "tree remove({at:#x})");
            live.retain(|&s| s != at);
        }
        Op::Find { pick, delta } => {
            let at = near(&span, live, pick, delta);
            let found = list.find(at);
            assert!(found.is_none_or(|a| a.contains(at)));
            assert_eq!(tree.find(at), found, "find({at:#x})");
        }
        Op::SetData { pick, delta, data } => {
            let at = near(&span, live, pick, delta);
            let (l, t) = (list.find_mut(at), tree.find_mut(at));
            assert_eq!(l.is_some(), t.is_some(), "find_mut({at:#x})");
            if let (Some(l), Some(t)) = (l, t) {
                (l.data, t.data) = (data, data);
            }
        }
    }
}

/// The lowest start, at a multiple of `align`, of `size` bytes inside one
/// of the free ranges; or the error a bad request must give.
fn lowest_fit(free: &[Range<u64>], size: u64, align: u64) -> Result<u64, AreaError> {
    if size == 0 || !size.is_multiple_of(PAGE_SIZE) {
        return Err(AreaError::BadSize);
    }
    if align.count_ones() != 1 || align < PAGE_SIZE {
        return Err(AreaError::BadAlign);
    }
    let (size, align) = (u128::from(size), u128::from(align));
    free.iter()
        .find_map(|r| {
            let start = u128::from(r.start).div_ceil(align) * align;
            (start + size <= u128::from(r.end)).then_some(start as u64)
        })
        .ok_or(AreaError::NoSpace)
}

/// Everything the two must agree on after each step.
fn agree(list: &ListAllocator<u32>, tree: &TreeAllocator<u32>) {
    assert_eq!(list.check(), Ok(()), "list check");
    assert_eq!(tree.check(), Ok(()), "tree check");
    let free = free_ranges(list);
    assert_eq!(free, free_ranges(tree), "free ranges");
    assert_eq!(busy_areas(list), busy_areas(tree), "busy areas");
    let largest = free.iter().map(|r| r.end - r.start).max().unwrap_or(0);
    assert_eq!(list.largest_free(), largest);
    assert_eq!(tree.largest_free(), largest);
    assert_eq!(list.busy_count(), tree.busy_count());
    assert_eq!(list.busy_bytes(), tree.busy_bytes());
    let span = list.span();
    let free_bytes: u64 = free.iter().map(|r| r.end - r.start).sum();
    assert_eq!(free_bytes + list.busy_bytes(), span.end - span.start, "bytes lost or counted twice");
}
