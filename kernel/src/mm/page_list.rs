//! `PageList`: the frames behind one vmalloc area, in address order
//! (Linux's `vm_struct.pages` array).
//!
//! Most areas are small: a one-page vmalloc is the commonest request of
//! all. A `Vec` would cost each of them a trip to the heap when made and
//! another when freed, and when nothing else of that size is live the slab
//! cache makes and destroys a whole slab page each time (slab/ frees
//! empty slabs at once). So a list of up to `INLINE` frames lives inside
//! the `VmStruct` itself, and lists of up to `CHUNK` frames (one page of
//! them) are one heap block.
//!
//! Longer lists are a list of chunks, each of at most one page. A single
//! array would need one physically contiguous heap block, and the buddy
//! allocator has none above 4 MiB (order 10): the array of a 3 GiB area
//! is 6 MiB, so `vmalloc 3G` failed with 5 GiB free. Linux meets the same
//! limit in `__vmalloc_area_node` (mm/vmalloc.c), which takes an array of
//! more than a page from vmalloc itself, so that it needs only single
//! pages; chunks of one page give the same guarantee without vmalloc
//! calling itself (and taking its own lock twice), and keep this file free
//! of hardware, so it still runs in host tests. Only the short outer list
//! of chunks is contiguous: 24 bytes per 2 MiB of area.
//!
//! A list is read chunk by chunk (`chunks`, `chunks_mut`: slices, so the
//! bulk page allocator fills a chunk in one pass) or frame by frame
//! (`iter`). The length is fixed when the list is made: every slot starts
//! as a placeholder (frame 0) that the caller overwrites.

use super::page::PAGE_SIZE;
use alloc::vec::Vec;
use x86_64::structures::paging::PhysFrame;
use x86_64::PhysAddr;

/// Frames kept without the heap. Two fill the space a `Vec` takes anyway.
/// Tuning, not in the books: see docs/benchmarks.md.
pub const INLINE: usize = 2;

/// Frames in one chunk: one page of them (Linux's threshold for taking the
/// array from vmalloc instead of kmalloc is the same page).
pub const CHUNK: usize = (PAGE_SIZE as usize) / core::mem::size_of::<PhysFrame>();

#[derive(Clone, Debug)]
pub enum PageList {
    /// Up to `INLINE` frames, inside the list itself.
    Inline { len: u8, frames: [PhysFrame; INLINE] },
    /// Up to `CHUNK` frames: one heap block of at most a page.
    Heap(Vec<PhysFrame>),
    /// More than `CHUNK` frames: chunks of `CHUNK` frames, the last one
    /// possibly shorter.
    Chunked(Vec<Vec<PhysFrame>>),
}

/// What unused slots hold: frame 0, never handed out by the allocator.
fn placeholder() -> PhysFrame {
    PhysFrame::containing_address(PhysAddr::zero())
}

/// `len` placeholders in one heap block, or `None` if the heap cannot.
fn try_vec(len: usize) -> Option<Vec<PhysFrame>> {
    let mut frames = Vec::new();
    frames.try_reserve_exact(len).ok()?;
    frames.resize(len, placeholder());
    Some(frames)
}

impl PageList {
    /// No frames (ioremap areas, before a list is filled in).
    pub fn new() -> Self {
        PageList::Inline { len: 0, frames: [placeholder(); INLINE] }
    }

    /// A list of `len` placeholder frames for the caller to fill in, or
    /// `None` if the heap cannot hold it. Never panics on a huge `len`.
    pub fn try_with_len(len: usize) -> Option<Self> {
        if len <= INLINE {
            return Some(PageList::Inline { len: len as u8, frames: [placeholder(); INLINE] });
        }
        if len <= CHUNK {
            return try_vec(len).map(PageList::Heap);
        }
        let mut chunks = Vec::new();
        chunks.try_reserve_exact(len.div_ceil(CHUNK)).ok()?;
        let mut left = len;
        while left > 0 {
            let n = left.min(CHUNK);
            // On failure the chunks made so far are dropped: all or none.
            chunks.push(try_vec(n)?);
            left -= n;
        }
        Some(PageList::Chunked(chunks))
    }

    /// A copy of `frames`, or `None` if the heap cannot hold it.
    pub fn try_from_slice(frames: &[PhysFrame]) -> Option<Self> {
        let mut list = Self::try_with_len(frames.len())?;
        let mut rest = frames;
        for chunk in list.chunks_mut() {
            let (head, tail) = rest.split_at(chunk.len());
            chunk.copy_from_slice(head);
            rest = tail;
        }
        Some(list)
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        match self {
            PageList::Inline { len, .. } => *len as usize,
            PageList::Heap(frames) => frames.len(),
            PageList::Chunked(chunks) => chunks.iter().map(Vec::len).sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frames as slices, in order: one for a short list, one per chunk
    /// for a long one.
    pub fn chunks(&self) -> impl Iterator<Item = &[PhysFrame]> + '_ {
        let (one, many): (Option<&[PhysFrame]>, &[Vec<PhysFrame>]) = match self {
            PageList::Inline { len, frames } => (Some(&frames[..*len as usize]), &[]),
            PageList::Heap(frames) => (Some(frames), &[]),
            PageList::Chunked(chunks) => (None, chunks),
        };
        one.into_iter().chain(many.iter().map(Vec::as_slice))
    }

    /// The frames as mutable slices, in order (see `chunks`).
    pub fn chunks_mut(&mut self) -> impl Iterator<Item = &mut [PhysFrame]> + '_ {
        let (one, many): (Option<&mut [PhysFrame]>, &mut [Vec<PhysFrame>]) = match self {
            PageList::Inline { len, frames } => (Some(&mut frames[..*len as usize]), &mut []),
            PageList::Heap(frames) => (Some(frames), &mut []),
            PageList::Chunked(chunks) => (None, chunks),
        };
        one.into_iter().chain(many.iter_mut().map(Vec::as_mut_slice))
    }

    /// Every frame, in order.
    pub fn iter(&self) -> Frames<'_> {
        let (one, rest): (&[PhysFrame], &[Vec<PhysFrame>]) = match self {
            PageList::Inline { len, frames } => (&frames[..*len as usize], &[]),
            PageList::Heap(frames) => (frames, &[]),
            PageList::Chunked(chunks) => (&[], chunks),
        };
        Frames { chunk: one.iter(), rest: rest.iter() }
    }
}

/// The iterator of `PageList::iter`: the current chunk's frames, then the
/// chunks after it. `chunks().flatten()` yields the same frames, but its
/// adapters keep more state between calls; `vmap_pages_range` takes one
/// frame per PTE it writes, and with this iterator its inner loop is about
/// a third as long (measured in guest instructions; docs/benchmarks.md).
/// Tuning, not in the books.
pub struct Frames<'a> {
    chunk: core::slice::Iter<'a, PhysFrame>,
    rest: core::slice::Iter<'a, Vec<PhysFrame>>,
}

impl<'a> Iterator for Frames<'a> {
    type Item = &'a PhysFrame;

    #[inline]
    fn next(&mut self) -> Option<&'a PhysFrame> {
        loop {
            if let Some(frame) = self.chunk.next() {
                return Some(frame);
            }
            self.chunk = self.rest.next()?.iter();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let rest: usize = self.rest.as_slice().iter().map(Vec::len).sum();
        let n = self.chunk.len() + rest;
        (n, Some(n))
    }
}

/// Two lists are equal when they hold the same frames, however stored.
impl PartialEq for PageList {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for PageList {}

impl Default for PageList {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: u64) -> PhysFrame {
        PhysFrame::containing_address(PhysAddr::new(n * 4096))
    }

    #[test]
    fn short_lists_stay_inline_and_long_ones_use_the_heap() {
        for len in 0..=INLINE {
            assert!(matches!(PageList::try_with_len(len), Some(PageList::Inline { .. })));
        }
        assert!(matches!(PageList::try_with_len(INLINE + 1), Some(PageList::Heap(_))));
        assert!(matches!(PageList::try_with_len(CHUNK), Some(PageList::Heap(_))));
        assert!(matches!(PageList::try_with_len(CHUNK + 1), Some(PageList::Chunked(_))));
        assert_eq!(PageList::new().len(), 0);
    }

    #[test]
    fn every_chunk_is_at_most_a_page() {
        assert_eq!(CHUNK, 512);
        for len in [CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7] {
            let list = PageList::try_with_len(len).unwrap();
            let sizes: Vec<usize> = list.chunks().map(<[PhysFrame]>::len).collect();
            assert!(sizes.iter().all(|&n| n > 0 && n * 8 <= 4096), "{len}: {sizes:?}");
            assert_eq!(sizes.iter().sum::<usize>(), len);
            assert_eq!(list.len(), len);
        }
    }

    #[test]
    fn every_length_reads_back_what_was_written() {
        for len in (0..6u64).chain([511, 512, 513, 1024, 1500]) {
            let frames: Vec<_> = (1..=len).map(|i| frame(i * 7)).collect();
            let mut list = PageList::try_with_len(len as usize).unwrap();
            assert_eq!(list.len() as u64, len);
            assert!(list.iter().all(|f| f.start_address().is_null()));
            let mut source = frames.iter();
            for chunk in list.chunks_mut() {
                chunk.iter_mut().for_each(|slot| *slot = *source.next().unwrap());
            }
            assert!(list.iter().eq(frames.iter()));
            assert_eq!(list.iter().size_hint(), (len as usize, Some(len as usize)));
            assert_eq!(list.iter().last(), frames.last());
            assert_eq!(PageList::try_from_slice(&frames).unwrap(), list);
        }
    }

    #[test]
    fn an_impossible_length_is_refused_not_a_panic() {
        assert!(PageList::try_with_len(usize::MAX / 8).is_none());
    }
}
