//! `PageList`: the frames behind one vmalloc area, in address order
//! (Linux's `vm_struct.pages` array).
//!
//! Most areas are small: a one-page vmalloc is the commonest request of
//! all. A `Vec` would cost each of them a trip to the heap when made and
//! another when freed, and when nothing else of that size is live the slab
//! cache makes and destroys a whole slab page each time (slab.rs frees
//! empty slabs at once). So a list of up to `INLINE` frames lives inside
//! the `VmStruct` itself, and only longer lists go to the heap. Both kinds
//! read as a slice of `PhysFrame`s.
//!
//! The length is fixed when the list is made: every slot starts as a
//! placeholder (frame 0) that the caller overwrites, which is how the bulk
//! page allocator fills it in one pass.

use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};
use x86_64::structures::paging::PhysFrame;
use x86_64::PhysAddr;

/// Frames kept without the heap. Two fill the space a `Vec` takes anyway.
pub const INLINE: usize = 2;

#[derive(Clone, Debug)]
pub enum PageList {
    Inline { len: u8, frames: [PhysFrame; INLINE] },
    Heap(Vec<PhysFrame>),
}

/// What unused slots hold: frame 0, never handed out by the allocator.
fn placeholder() -> PhysFrame {
    PhysFrame::containing_address(PhysAddr::zero())
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
        let mut frames = Vec::new();
        frames.try_reserve_exact(len).ok()?;
        frames.resize(len, placeholder());
        Some(PageList::Heap(frames))
    }

    /// A copy of `frames`, or `None` if the heap cannot hold it.
    pub fn try_from_slice(frames: &[PhysFrame]) -> Option<Self> {
        let mut list = Self::try_with_len(frames.len())?;
        list.copy_from_slice(frames);
        Some(list)
    }
}

/// Two lists are equal when they hold the same frames, however stored.
impl PartialEq for PageList {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for PageList {}

impl Default for PageList {
    fn default() -> Self {
        Self::new()
    }
}

impl Deref for PageList {
    type Target = [PhysFrame];

    fn deref(&self) -> &[PhysFrame] {
        match self {
            PageList::Inline { len, frames } => &frames[..*len as usize],
            PageList::Heap(frames) => frames,
        }
    }
}

impl DerefMut for PageList {
    fn deref_mut(&mut self) -> &mut [PhysFrame] {
        match self {
            PageList::Inline { len, frames } => &mut frames[..*len as usize],
            PageList::Heap(frames) => frames,
        }
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
        assert_eq!(PageList::new().len(), 0);
    }

    #[test]
    fn every_length_reads_back_what_was_written() {
        for len in 0..6u64 {
            let frames: Vec<_> = (1..=len).map(|i| frame(i * 7)).collect();
            let mut list = PageList::try_with_len(len as usize).unwrap();
            assert_eq!(list.len() as u64, len);
            assert!(list.iter().all(|f| f.start_address().is_null()));
            list.copy_from_slice(&frames);
            assert_eq!(&list[..], &frames[..]);
            assert_eq!(PageList::try_from_slice(&frames).unwrap(), list);
        }
    }

    #[test]
    fn an_impossible_length_is_refused_not_a_panic() {
        assert!(PageList::try_with_len(usize::MAX / 8).is_none());
    }
}
