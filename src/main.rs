//! The `eddy` binary; see `eddy --help`.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys::{
    mi_free, mi_malloc, mi_malloc_aligned, mi_realloc, mi_realloc_aligned, mi_zalloc,
    mi_zalloc_aligned,
};

/// The global allocator: mimalloc (rows are many small allocations; see
/// the note in Cargo.toml), called at its plain entry points whenever the
/// alignment asked for is one every mimalloc block has (a machine word).
/// Its aligned entry points, which the `mimalloc` crate calls for every
/// allocation, take a slow path whenever a page's free list needs
/// collecting first: for a windowed aggregation that was 6 allocations in
/// 10 and 7% of all instructions.
struct Mimalloc;

/// The alignment of every block mimalloc hands out.
const WORD: usize = std::mem::size_of::<usize>();

// SAFETY: each method passes the layout's size (and alignment, where it is
// more than a word) to the matching mimalloc function, which returns a
// block of at least that size and alignment, or null; `dealloc` and
// `realloc` receive only blocks these functions returned.
unsafe impl GlobalAlloc for Mimalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            mi_malloc(layout.size()).cast()
        } else {
            mi_malloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            mi_zalloc(layout.size()).cast()
        } else {
            mi_zalloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi_free(ptr.cast::<c_void>());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= WORD {
            mi_realloc(ptr.cast::<c_void>(), new_size).cast()
        } else {
            mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
        }
    }
}

#[global_allocator]
static ALLOCATOR: Mimalloc = Mimalloc;

fn main() -> std::process::ExitCode {
    eddy::cli::main()
}
