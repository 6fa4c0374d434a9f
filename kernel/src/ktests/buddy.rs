//! In-kernel tests of the buddy allocator and the kernel heap, on the real
//! memory map of the machine.

use crate::ktest::{Test, TestResult};
use crate::mm::layout::phys_to_virt;
use crate::mm::page::{pages, MAX_ORDER, PAGE_SIZE};
use crate::mm::page_alloc::FreeError;
use crate::mm::page_alloc::ZoneType;
use crate::mm::{alloc_pages, free_pages, heap, with_pages};
use crate::{kassert, kassert_eq};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use x86_64::PhysAddr;

pub const TESTS: &[Test] = crate::suite![
    "buddy::mem_map_is_consistent" => consistent,
    "buddy::blocks_are_aligned_and_in_zone" => aligned_blocks,
    "buddy::exhaust_dma_and_restore" => exhaust_dma,
    "buddy::exhaust_dma32_falls_back_to_dma" => exhaust_dma32,
    "buddy::bad_frees_change_nothing" => bad_frees,
    "heap::random_vec_box_workload" => heap_workload,
    "heap::a_vec_grows_past_4_mib" => vec_past_4_mib,
];

/// These tests are of the buddy allocator as the kernel's allocator: in a
/// skeleton whose lab 1 is missing the kernel runs on the boot allocator
/// instead (page_alloc/bootmem.rs), and they must not pass on it.
fn on_the_buddy_allocator() -> TestResult {
    let missing = with_pages(|p| p.buddy_missing());
    kassert!(missing.is_none(), "{}: the kernel runs on the boot allocator", missing.expect("checked"));
    Ok(())
}

/// Free counts of every zone and order: must come back exactly.
/// (Built without the heap: the heap takes the page allocator's lock.)
fn snapshot() -> [(u64, [u64; MAX_ORDER + 1]); 3] {
    with_pages(|p| {
        p.drain_pcp();
        ZoneType::ALL.map(|z| (p.zone(z).free_pages, p.zone(z).nr_free()))
    })
}

fn consistent() -> TestResult {
    on_the_buddy_allocator()?;
    let result = with_pages(|p| p.check());
    kassert_eq!(result, Ok(()));
    kassert!(with_pages(|p| p.free_pages_total()) > 0);
    Ok(())
}

fn aligned_blocks() -> TestResult {
    on_the_buddy_allocator()?;
    for zone in ZoneType::ALL {
        for order in 0..=MAX_ORDER {
            let Ok(frame) = alloc_pages(order, zone) else { continue };
            let addr = frame.start_address();
            kassert!(addr.as_u64() % (pages(order) * PAGE_SIZE) == 0, "order {order} block at {addr:?}");
            kassert!(ZoneType::of(addr.as_u64() / PAGE_SIZE) <= zone, "{addr:?} above zone {zone}");
            kassert!(free_pages(addr, order).is_ok());
        }
    }
    Ok(())
}

/// Allocates single pages from `zone` until it refuses, chaining them
/// through their own first word (no heap needed). Returns the chain's head
/// and length. The caller frees them with `free_chain`.
fn drain(zone: ZoneType, only_from: ZoneType) -> (u64, u64) {
    let (mut head, mut count) = (0u64, 0u64);
    while let Ok(frame) = alloc_pages(0, zone) {
        let addr = frame.start_address().as_u64();
        if ZoneType::of(addr / PAGE_SIZE) != only_from {
            // Fell back to a lower zone: the zone itself is empty.
            free_pages(frame.start_address(), 0).unwrap();
            break;
        }
        // SAFETY: the page was just allocated and is mapped in the direct map.
        unsafe { phys_to_virt(frame.start_address()).as_mut_ptr::<u64>().write(head) };
        head = addr;
        count += 1;
    }
    (head, count)
}

fn free_chain(mut head: u64) {
    while head != 0 {
        // SAFETY: every page on the chain is allocated and holds the next link.
        let next = unsafe { phys_to_virt(PhysAddr::new(head)).as_ptr::<u64>().read() };
        free_pages(PhysAddr::new(head), 0).unwrap();
        head = next;
    }
}

fn exhaust_dma() -> TestResult {
    on_the_buddy_allocator()?;
    let before = snapshot();
    let (chain, count) = drain(ZoneType::Dma, ZoneType::Dma);
    kassert!(count > 0);
    kassert_eq!(with_pages(|p| p.zone(ZoneType::Dma).free_pages), 0);
    kassert!(alloc_pages(0, ZoneType::Dma).is_err(), "DMA should be empty");
    free_chain(chain);
    kassert_eq!(snapshot(), before);
    kassert_eq!(with_pages(|p| p.check()), Ok(()));
    Ok(())
}

fn exhaust_dma32() -> TestResult {
    on_the_buddy_allocator()?;
    let before = snapshot();
    let (chain, count) = drain(ZoneType::Dma32, ZoneType::Dma32);
    kassert!(count > 0);
    // DMA32 is empty now: a DMA32 request must be served from DMA.
    let fallback = alloc_pages(0, ZoneType::Dma32);
    kassert!(fallback.is_ok(), "no fallback to DMA");
    let frame = fallback.unwrap();
    kassert_eq!(ZoneType::of(frame.start_address().as_u64() / PAGE_SIZE), ZoneType::Dma);
    free_pages(frame.start_address(), 0).unwrap();
    free_chain(chain);
    kassert_eq!(snapshot(), before);
    Ok(())
}

fn bad_frees() -> TestResult {
    on_the_buddy_allocator()?;
    let frame = alloc_pages(3, ZoneType::Dma32).unwrap();
    let a = frame.start_address();
    let before = snapshot();
    kassert_eq!(free_pages(a, 2), Err(FreeError::WrongOrder { addr: a.as_u64(), allocated: 3, given: 2 }));
    kassert_eq!(free_pages(a + PAGE_SIZE, 0), Err(FreeError::NotBlockStart(a.as_u64() + PAGE_SIZE)));
    kassert_eq!(free_pages(PhysAddr::new(0), 0), Err(FreeError::NotManaged(0)));
    let kernel_frame = crate::boot_info::info().kernel_addr;
    kassert_eq!(free_pages(PhysAddr::new(kernel_frame), 0), Err(FreeError::NotManaged(kernel_frame)));
    kassert_eq!(snapshot(), before);
    kassert_eq!(free_pages(a, 3), Ok(()));
    kassert_eq!(free_pages(a, 3), Err(FreeError::AlreadyFree(a.as_u64())));
    Ok(())
}

fn heap_workload() -> TestResult {
    on_the_buddy_allocator()?;
    let heap_before = heap::stats();
    let before = snapshot();
    {
        let mut rng = crate::rand::XorShift64::new(0x5eed_1234_abcd_0001);
        let mut vecs: Vec<Vec<u32>> = Vec::new();
        let mut boxes: Vec<Box<[u8]>> = Vec::new();
        let mut map: BTreeMap<u64, String> = BTreeMap::new();
        for step in 0..3000u64 {
            match rng.below(6) {
                0 => vecs.push((0..rng.below(3000) as u32).map(|i| i ^ step as u32).collect()),
                1 => boxes.push(alloc::vec![(step % 251) as u8; rng.below(20_000) as usize + 1].into_boxed_slice()),
                2 => {
                    map.insert(rng.below(500), alloc::format!("value {step}"));
                }
                3 if !vecs.is_empty() => {
                    let v = vecs.swap_remove(rng.below(vecs.len() as u64) as usize);
                    let len = v.len() as u32;
                    let key = v.first().map_or(0, |&x| x);
                    kassert!(v.iter().enumerate().all(|(i, &x)| x ^ i as u32 == key), "vec of {len} corrupted");
                }
                4 if !boxes.is_empty() => {
                    let b = boxes.swap_remove(rng.below(boxes.len() as u64) as usize);
                    kassert!(b.iter().all(|&x| x == b[0]), "box corrupted");
                }
                _ => {
                    if let Some(v) = vecs.last_mut() {
                        v.push(v.first().map_or(0, |&x| x) ^ v.len() as u32);
                    }
                }
            }
        }
        kassert!(map.values().all(|v| v.starts_with("value ")));
    }
    let stats = heap::stats();
    kassert_eq!(stats.large_allocs, heap_before.large_allocs);
    kassert_eq!(stats.slab_pages(), heap_before.slab_pages());
    kassert_eq!(snapshot(), before);
    Ok(())
}

/// Above 4 MiB the heap gives a run of free 4 MiB blocks next to each
/// other (`slab::Large::Run`): a 12 MiB `Vec` is three order-10 blocks of
/// the direct map, and every page comes back when it is dropped.
fn vec_past_4_mib() -> TestResult {
    on_the_buddy_allocator()?;
    let heap_before = heap::stats();
    let before = snapshot();
    {
        let mut v: Vec<u64> = Vec::new();
        let len = (12 << 20) / 8;
        kassert!(v.try_reserve_exact(len).is_ok(), "no run of three free 4 MiB blocks for 12 MiB");
        v.extend((0..len as u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        kassert_eq!(heap::stats().large_pages, heap_before.large_pages + 3 * pages(MAX_ORDER));
        kassert!(v.iter().enumerate().all(|(i, &x)| x == (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    }
    kassert_eq!(heap::stats().large_allocs, heap_before.large_allocs);
    kassert_eq!(snapshot(), before);
    Ok(())
}
