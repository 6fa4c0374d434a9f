//! `CheckAllocator`: the oracle behind boot option `vmalloc=check`. Every
//! request goes to two area allocators over the same span, the tree and
//! Linux 2.4's list; both follow the same policy (the lowest address that
//! fits), so they must give the same answer every time. The first time they
//! do not, the caller's `stop` function gets a report: the request, what
//! each allocator answered, and the free ranges and busy area each has
//! around that address.
//!
//! Linux does the same for its free tree when built with
//! `DEBUG_AUGMENT_LOWEST_MATCH_CHECK`: `find_vmap_lowest_match_check` runs
//! the tree search and `find_vmap_lowest_linear_match`, a plain walk of the
//! free list, and prints both addresses when they differ. The list here is
//! the slow, obviously right answer; the tree is the fast one the kernel
//! trusts otherwise. Answers to lookups (`find`, `for_each`, ...) come from
//! the first allocator only: they do not change anything, and `check`
//! compares the whole of both.

use core::fmt;
use core::marker::PhantomData;
use core::ops::Range;

use super::{Area, AreaAllocator, AreaError, ListAllocator, TreeAllocator};

/// Free ranges a report shows around the address in question.
const NEAR: usize = 4;

/// The request both allocators answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Alloc { size: u64, align: u64 },
    Remove { start: u64 },
    Extend { start: u64, new_size: u64 },
    Shrink { start: u64, new_size: u64 },
}

/// What one allocator answered, in a form both can give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// `alloc` gave this start; `remove` took an area of this size.
    Value(u64),
    /// `try_extend` or `shrink` succeeded, or `remove` found nothing.
    Done(bool),
    Failed(AreaError),
    /// After the request: busy areas and bytes, largest free range.
    Totals {
        count: usize,
        bytes: u64,
        largest: u64,
    },
}

/// The free ranges of one allocator around an address, and the busy area
/// holding it, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbourhood {
    pub free: [Option<Range<u64>>; NEAR],
    pub busy: Option<Range<u64>>,
}

/// The first disagreement: what the oracle stops the kernel with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disagreement {
    pub request: Request,
    /// The address both neighbourhoods are taken around.
    pub at: u64,
    /// (allocator name, its answer, its neighbourhood), first the one
    /// whose answers are used.
    pub first: (&'static str, Answer, Neighbourhood),
    pub second: (&'static str, Answer, Neighbourhood),
}

/// Two area allocators answering every request, compared. `P` is the one
/// whose answers (and data) are kept; `S` only shadows it, without data.
pub struct CheckAllocator<T, P = TreeAllocator<T>, S = ListAllocator<()>> {
    first: P,
    second: S,
    stop: fn(&Disagreement),
    /// Set at the first disagreement, kept for tests to read.
    found: Option<Disagreement>,
    _data: PhantomData<fn() -> T>,
}

impl<T> CheckAllocator<T> {
    /// The tree, checked against the list, over `span`. `stop` is called
    /// once, at the first disagreement (the kernel's panics).
    pub fn new(span: Range<u64>, stop: fn(&Disagreement)) -> Self {
        Self::pair(TreeAllocator::new(span.clone()), ListAllocator::new(span), stop)
    }
}

impl<T, P: AreaAllocator<T>, S: AreaAllocator<()>> CheckAllocator<T, P, S> {
    /// Any two allocators over the same span (tests pass a wrong one).
    pub fn pair(first: P, second: S, stop: fn(&Disagreement)) -> Self {
        assert_eq!(first.span(), second.span(), "vmap_area: the oracle's allocators need the same span");
        CheckAllocator { first, second, stop, found: None, _data: PhantomData }
    }

    /// The first disagreement seen, if any.
    pub fn disagreement(&self) -> Option<&Disagreement> {
        self.found.as_ref()
    }

    /// Compares two answers to `request`, and then both allocators' totals;
    /// reports the first difference around `at`.
    fn compare(&mut self, request: Request, at: u64, a: Answer, b: Answer) {
        if a != b {
            return self.report(request, at, a, b);
        }
        let (ta, tb) = (totals(&self.first), totals(&self.second));
        if ta != tb {
            self.report(request, at, ta, tb);
        }
    }

    fn report(&mut self, request: Request, at: u64, a: Answer, b: Answer) {
        if self.found.is_some() {
            return;
        }
        let d = Disagreement {
            request,
            at,
            first: (self.first.name(), a, neighbourhood(&self.first, at)),
            second: (self.second.name(), b, neighbourhood(&self.second, at)),
        };
        (self.stop)(&d);
        self.found = Some(d);
    }
}

/// An allocator's totals after a request: cheap for both (the list's
/// `largest_free` walks it, as its `alloc` did already).
fn totals<D>(a: &dyn AreaAllocator<D>) -> Answer {
    Answer::Totals { count: a.busy_count(), bytes: a.busy_bytes(), largest: a.largest_free() }
}

/// The free ranges of `a` around `at` (the last one wholly below it, then
/// the next ones), and the busy area containing it. Walks every free range:
/// only a report pays for it.
fn neighbourhood<D>(a: &dyn AreaAllocator<D>, at: u64) -> Neighbourhood {
    let mut free: [Option<Range<u64>>; NEAR] = Default::default();
    let mut filled = 0;
    a.for_each_free(&mut |r| {
        if r.end <= at {
            free[0] = Some(r);
            filled = 1;
        } else if filled < NEAR {
            free[filled] = Some(r);
            filled += 1;
        }
    });
    Neighbourhood { free, busy: a.find(at).map(|x| x.start..x.end()) }
}

fn answer<X>(r: Result<X, AreaError>, value: impl FnOnce(X) -> Answer) -> Answer {
    r.map_or_else(Answer::Failed, value)
}

impl<T, P: AreaAllocator<T>, S: AreaAllocator<()>> AreaAllocator<T> for CheckAllocator<T, P, S> {
    fn name(&self) -> &'static str {
        "check"
    }

    fn alloc(&mut self, size: u64, align: u64, data: T) -> Result<u64, AreaError> {
        let a = self.first.alloc(size, align, data);
        let b = self.second.alloc(size, align, ());
        let at = [&a, &b].iter().filter_map(|r| r.as_ref().ok().copied()).min().unwrap_or(self.first.span().start);
        self.compare(Request::Alloc { size, align }, at, answer(a, Answer::Value), answer(b, Answer::Value));
        a
    }

    fn remove(&mut self, start: u64) -> Option<Area<T>> {
        let a = self.first.remove(start);
        let b = self.second.remove(start);
        let shown = |size: Option<u64>| size.map_or(Answer::Done(false), Answer::Value);
        let (sa, sb) = (shown(a.as_ref().map(|x| x.size)), shown(b.map(|x| x.size)));
        self.compare(Request::Remove { start }, start, sa, sb);
        a
    }

    fn try_extend(&mut self, start: u64, new_size: u64) -> bool {
        let a = self.first.try_extend(start, new_size);
        let b = self.second.try_extend(start, new_size);
        self.compare(Request::Extend { start, new_size }, start, Answer::Done(a), Answer::Done(b));
        a
    }

    fn shrink(&mut self, start: u64, new_size: u64) -> Result<(), AreaError> {
        let a = self.first.shrink(start, new_size);
        let b = self.second.shrink(start, new_size);
        let shown = |r: Result<(), AreaError>| answer(r, |()| Answer::Done(true));
        self.compare(Request::Shrink { start, new_size }, start, shown(a), shown(b));
        a
    }

    fn find(&self, addr: u64) -> Option<&Area<T>> {
        self.first.find(addr)
    }

    fn find_mut(&mut self, addr: u64) -> Option<&mut Area<T>> {
        self.first.find_mut(addr)
    }

    fn for_each(&self, f: &mut dyn FnMut(&Area<T>)) {
        self.first.for_each(f)
    }

    fn for_each_free(&self, f: &mut dyn FnMut(Range<u64>)) {
        self.first.for_each_free(f)
    }

    fn busy_count(&self) -> usize {
        self.first.busy_count()
    }

    fn busy_bytes(&self) -> u64 {
        self.first.busy_bytes()
    }

    fn largest_free(&self) -> u64 {
        self.first.largest_free()
    }

    fn span(&self) -> Range<u64> {
        self.first.span()
    }

    /// Both allocators' own invariants, and that they hold the same busy
    /// areas and free ranges.
    fn check(&self) -> Result<(), &'static str> {
        self.first.check()?;
        self.second.check()?;
        if self.found.is_some() {
            return Err("the oracle's allocators disagreed");
        }
        let same = Same::new(&self.first).eq(&Same::new(&self.second));
        if !same {
            return Err("the oracle's allocators hold different areas or free ranges");
        }
        Ok(())
    }
}

/// The first few busy areas and free ranges of an allocator, folded into
/// a checksum so that `check` compares two allocators without the heap.
#[derive(PartialEq, Eq)]
struct Same {
    busy: u64,
    free: u64,
}

impl Same {
    fn new<D>(a: &dyn AreaAllocator<D>) -> Self {
        let mix = |sum: &mut u64, r: Range<u64>| {
            *sum = sum.rotate_left(7) ^ r.start.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ r.end;
        };
        let (mut busy, mut free) = (0, 0);
        a.for_each(&mut |x| mix(&mut busy, x.start..x.end()));
        a.for_each_free(&mut |r| mix(&mut free, r));
        Same { busy, free }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Request::Alloc { size, align } => write!(f, "alloc {size:#x} bytes aligned to {align:#x}"),
            Request::Remove { start } => write!(f, "remove the area at {start:#x}"),
            Request::Extend { start, new_size } => write!(f, "extend the area at {start:#x} to {new_size:#x} bytes"),
            Request::Shrink { start, new_size } => write!(f, "shrink the area at {start:#x} to {new_size:#x} bytes"),
        }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Value(v) => write!(f, "{v:#x}"),
            Answer::Done(done) => write!(f, "{}", if *done { "done" } else { "refused" }),
            Answer::Failed(e) => write!(f, "error ({e})"),
            Answer::Totals { count, bytes, largest } => {
                write!(f, "then {count} areas, {bytes:#x} bytes busy, largest free {largest:#x}")
            }
        }
    }
}

impl fmt::Display for Neighbourhood {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("free")?;
        for r in self.free.iter().flatten() {
            write!(f, " {:#x}..{:#x}", r.start, r.end)?;
        }
        match &self.busy {
            Some(b) => write!(f, "; busy {:#x}..{:#x}", b.start, b.end),
            None => f.write_str("; no busy area there"),
        }
    }
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "vmalloc=check: the area allocators disagree on: {}", self.request)?;
        for (name, answer, near) in [&self.first, &self.second] {
            writeln!(f, "  {name}: {answer}")?;
            writeln!(f, "  {name} near {:#x}: {near}", self.at)?;
        }
        Ok(())
    }
}
