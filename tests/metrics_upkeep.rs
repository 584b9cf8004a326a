//! The metrics recorder's upkeep runs on its own schedule: histogram samples recorded while
//! nobody scrapes `/metrics` are folded into their buckets and their memory given back, instead
//! of piling up for as long as the process lives. A binary of its own, because it counts every
//! byte the process holds (a global allocator that keeps the tally).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use ivs_provisioner::metrics::{UPKEEP_INTERVAL, install};

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HELD.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn held() -> isize {
    HELD.load(Ordering::Relaxed)
}

#[test]
fn histogram_samples_do_not_pile_up_without_a_scrape() {
    let _handle = install();
    let histogram = metrics::histogram!("upkeep_test_duration_seconds");
    histogram.record(0.0);
    let before = held();

    // About what a million requests record (one duration each).
    const SAMPLES: usize = 1_000_000;
    for i in 0..SAMPLES {
        histogram.record((i % 1000) as f64 * 1e-4);
    }
    let grown = held() - before;
    assert!(
        grown >= (SAMPLES * 4) as isize,
        "the samples should be held until the upkeep: {grown} bytes for {SAMPLES} samples"
    );

    // The upkeep folds them; the freed blocks are reclaimed once the recording threads move on
    // (the few samples recorded below), as a serving process's next requests do.
    let deadline = Instant::now() + 3 * UPKEEP_INTERVAL;
    loop {
        for _ in 0..1000 {
            histogram.record(0.0);
        }
        let now = held() - before;
        if now < grown / 10 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{now} bytes still held {:?} after recording {SAMPLES} samples ({grown} at first): \
             the recorder's upkeep does not run without a scrape",
            3 * UPKEEP_INTERVAL
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
