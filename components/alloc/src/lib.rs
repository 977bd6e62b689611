//! The components' heap allocator: small blocks (up to 4 KiB) come from free lists kept per
//! power-of-two size class, everything else from the allocator beneath (wasi-libc's dlmalloc
//! in a component).
//!
//! Why: a crossing into a component allocates and frees a few dozen small blocks (wasmtime
//! lowers each list argument into memory the guest allocates with `cabi_realloc`, the guest
//! builds its output in vectors that wit-bindgen frees after the host lifted them), and
//! dlmalloc took ~240 instructions for each malloc and free pair: 13% of a 64-byte
//! request/response (`netstack bench rr`). A free-list pop or push is a handful.
//!
//! The cost: a small block, once freed, stays in its class's list for the next allocation of
//! that class instead of going back to dlmalloc, so a component's heap holds, per class, the
//! most blocks it ever had live at once. Blocks are rounded up to their class's size (at most
//! twice what was asked).
//!
//! It keeps its lists in plain memory, unsynchronised: it is the global allocator of a
//! component only, which runs on one thread (wasm32 without the threads proposal); see
//! [`SizeClasses`]'s `Sync`.
//!
//! A component gets it by linking the crate (`use netstack_alloc as _;` on wasm32): the crate
//! declares itself the global allocator there, once for every component.

#![no_std]
// The one module that allocates memory by hand: `unsafe` is its job (GlobalAlloc is an unsafe
// trait, a free list stores pointers in the blocks it holds).
#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;

/// The smallest class: 16 bytes (a free block holds the next one's address, and 16 is the
/// alignment dlmalloc gives every block).
const MIN_SHIFT: u32 = 4;
/// The largest class: 4 KiB. Larger blocks go to the allocator beneath.
const MAX_SHIFT: u32 = 12;
/// The classes: 16, 32, ... 4096 bytes.
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;
/// The alignment every small block has.
const ALIGN: usize = 1 << MIN_SHIFT;

/// The size class of a block for `layout`, if it is small: sizes up to 4 KiB aligned to at most
/// 16 bytes.
fn class_of(layout: Layout) -> Option<usize> {
    if layout.size() > 1 << MAX_SHIFT || layout.align() > ALIGN {
        return None;
    }
    let shift = layout
        .size()
        .max(ALIGN)
        .next_power_of_two()
        .trailing_zeros();
    Some((shift - MIN_SHIFT) as usize)
}

/// The layout the allocator beneath gives a block of class `class`.
fn class_layout(class: usize) -> Layout {
    // 16..=4096 bytes, a power of two, aligned to 16: always a valid layout.
    Layout::from_size_align(1 << (class as u32 + MIN_SHIFT), ALIGN).expect("a valid class")
}

/// Free lists of small blocks by size class over the allocator `A`.
#[derive(Debug)]
pub struct SizeClasses<A> {
    beneath: A,
    /// Each class's first free block; a free block's first bytes hold the next one's address.
    free: UnsafeCell<[*mut u8; CLASSES]>,
}

impl<A> SizeClasses<A> {
    /// Free lists, empty, over `beneath`.
    pub const fn new(beneath: A) -> Self {
        SizeClasses {
            beneath,
            free: UnsafeCell::new([ptr::null_mut(); CLASSES]),
        }
    }
}

// SAFETY: the free lists are touched without synchronisation, which is sound only where one
// thread runs: a component on wasm32 without the threads proposal (no `atomics` feature).
// Elsewhere the type is not `Sync`, so it cannot be a global allocator (tests use an instance
// of their own on one thread).
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl<A: Sync> Sync for SizeClasses<A> {}

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
extern crate std;

/// The heap of the component that links this crate.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static HEAP: SizeClasses<std::alloc::System> = SizeClasses::new(std::alloc::System);

// SAFETY: blocks come from `beneath` with at least the size and alignment asked for (a class's
// layout covers every layout that maps to it), and a block is in at most one place: handed
// out, or in its class's free list.
unsafe impl<A: GlobalAlloc> GlobalAlloc for SizeClasses<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            // SAFETY: the caller's layout, passed on.
            return unsafe { self.beneath.alloc(layout) };
        };
        // SAFETY: one thread (see `Sync`), and no reference to the lists outlives this call.
        let free = unsafe { &mut *self.free.get() };
        let block = free[class];
        if block.is_null() {
            // SAFETY: a class's layout has a non-zero size.
            return unsafe { self.beneath.alloc(class_layout(class)) };
        }
        // SAFETY: a free block of this class holds the next one's address in its first bytes,
        // written by `dealloc`, aligned to 16.
        free[class] = unsafe { block.cast::<*mut u8>().read() };
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = class_of(layout) else {
            // SAFETY: a large block came from `beneath` with this layout.
            return unsafe { self.beneath.dealloc(block, layout) };
        };
        // SAFETY: as in `alloc`.
        let free = unsafe { &mut *self.free.get() };
        // SAFETY: the block is at least 16 bytes, aligned to 16, and no longer in use: it
        // holds the list's link now.
        unsafe { block.cast::<*mut u8>().write(free[class]) };
        free[class] = block;
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` with the old alignment is a valid layout.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class_of(layout), class_of(new)) {
            // Still fits its block (a vector growing within its class, or shrinking).
            (Some(a), Some(b)) if a == b => block,
            // SAFETY: a large block came from `beneath`, which may grow it in place.
            (None, None) => unsafe { self.beneath.realloc(block, layout, new_size) },
            _ => {
                // SAFETY: `new` is valid (above); the copy covers what both blocks hold.
                unsafe {
                    let moved = self.alloc(new);
                    if !moved.is_null() {
                        ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                    moved
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::alloc::System;
    use std::vec::Vec;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn sizes_map_to_the_smallest_class_that_holds_them() {
        assert_eq!(class_of(layout(1, 1)), Some(0));
        assert_eq!(class_of(layout(16, 8)), Some(0));
        assert_eq!(class_of(layout(17, 1)), Some(1));
        assert_eq!(class_of(layout(4096, 16)), Some(CLASSES - 1));
        assert_eq!(class_of(layout(4097, 1)), None, "large");
        assert_eq!(class_of(layout(64, 32)), None, "over-aligned");
        for class in 0..CLASSES {
            let l = class_layout(class);
            assert_eq!(class_of(l), Some(class));
        }
    }

    #[test]
    fn a_freed_block_is_the_next_of_its_class_and_blocks_never_overlap() {
        let heap = SizeClasses::new(System);
        // SAFETY (test): every block is used within its layout and freed once, with it.
        unsafe {
            let a = heap.alloc(layout(24, 8));
            let b = heap.alloc(layout(30, 4));
            assert!(!a.is_null() && !b.is_null() && a != b);
            assert_eq!(a as usize % ALIGN, 0);
            a.write_bytes(0xaa, 24);
            b.write_bytes(0xbb, 30);
            heap.dealloc(a, layout(24, 8));
            let c = heap.alloc(layout(32, 16));
            assert_eq!(c, a, "the same class reuses the freed block");
            assert_eq!(*b.add(29), 0xbb, "its neighbour untouched");
            let d = heap.alloc(layout(8, 8));
            assert_ne!(d, a, "another class has a list of its own");
            heap.dealloc(b, layout(30, 4));
            heap.dealloc(c, layout(32, 16));
            heap.dealloc(d, layout(8, 8));
            // Large blocks go straight through.
            let big = heap.alloc(layout(10_000, 8));
            big.write_bytes(1, 10_000);
            heap.dealloc(big, layout(10_000, 8));
        }
    }

    #[test]
    fn realloc_keeps_the_bytes_within_a_class_and_across_classes_and_sizes() {
        let heap = SizeClasses::new(System);
        // SAFETY (test): each block is reallocated with the layout it has, and freed once.
        unsafe {
            let mut p = heap.alloc(layout(20, 1));
            let bytes: Vec<u8> = (0..=255u8).cycle().take(9000).collect();
            ptr::copy_nonoverlapping(bytes.as_ptr(), p, 20);
            let mut size = 20;
            for new_size in [31, 32, 33, 1000, 4096, 5000, 9000, 3000, 17, 5] {
                let q = heap.realloc(p, layout(size, 1), new_size);
                if class_of(layout(size, 1)) == class_of(layout(new_size, 1)) {
                    assert_eq!(q, p, "{size} -> {new_size} stays in its block");
                }
                let kept = size.min(new_size);
                assert_eq!(core::slice::from_raw_parts(q, kept), &bytes[..kept]);
                ptr::copy_nonoverlapping(bytes.as_ptr(), q, new_size);
                (p, size) = (q, new_size);
            }
            heap.dealloc(p, layout(size, 1));
        }
    }

    #[test]
    fn many_blocks_of_every_class_come_back_distinct_and_intact() {
        let heap = SizeClasses::new(System);
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        // SAFETY (test): each block is written within its layout and freed once, with it.
        unsafe {
            for round in 0..3u8 {
                for i in 0..2000usize {
                    let l = layout(1 + (i * 37) % 5000, 1 << (i % 4));
                    let p = heap.alloc(l);
                    let tag = (i as u8) ^ round;
                    p.write_bytes(tag, l.size());
                    live.push((p, l, tag));
                }
                // Free every other one, check the rest, then go again.
                let mut kept = Vec::new();
                for (n, (p, l, tag)) in live.drain(..).enumerate() {
                    let bytes = core::slice::from_raw_parts(p, l.size());
                    assert!(bytes.iter().all(|&b| b == tag), "block {n} intact");
                    if n % 2 == 0 {
                        heap.dealloc(p, l);
                    } else {
                        kept.push((p, l, tag));
                    }
                }
                live = kept;
            }
            for (p, l, _) in live {
                heap.dealloc(p, l);
            }
        }
    }
}
