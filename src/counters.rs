//! Counters that many threads add to without sharing a cache line.
//!
//! A span start and end each count something. With one atomic per counter, every request
//! thread of a busy service would write the same cache line, and each write would first wait
//! for that line to travel from the core that wrote it last. Here each thread adds to a shard
//! of its own (threads are spread over the shards in turn), and a reader sums the shards.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Shards per counter set: threads beyond this share shards, which is still correct.
const SHARDS: usize = 16;

/// `N` counters, sharded by thread.
pub(crate) struct ShardedCounters<const N: usize> {
    shards: Box<[Shard<N>]>,
}

/// One thread's counters, on a cache line pair of their own (adjacent-line prefetching
/// pulls lines in pairs on x86).
#[repr(align(128))]
struct Shard<const N: usize>([AtomicU64; N]);

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's shard, given out in turn when the thread first counts.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    SHARD
        .try_with(|shard| {
            if shard.get() == usize::MAX {
                shard.set(NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS);
            }
            shard.get()
        })
        // A thread counting while its thread-locals are destroyed uses the first shard.
        .unwrap_or(0)
}

impl<const N: usize> Default for ShardedCounters<N> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Shard(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
        }
    }
}

impl<const N: usize> ShardedCounters<N> {
    /// Adds `n` to counter `counter` (an index below `N`); returns this thread's shard of it
    /// before the addition (for checks every so many additions, without reading the others).
    #[inline]
    pub(crate) fn add(&self, counter: usize, n: u64) -> u64 {
        self.shards[shard_index()].0[counter].fetch_add(n, Ordering::Relaxed)
    }

    /// The sum of counter `counter` over all threads.
    pub(crate) fn sum(&self, counter: usize) -> u64 {
        self.shards
            .iter()
            .map(|shard| shard.0[counter].load(Ordering::Relaxed))
            .sum()
    }
}

impl<const N: usize> std::fmt::Debug for ShardedCounters<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sums: [u64; N] = std::array::from_fn(|counter| self.sum(counter));
        f.debug_tuple("ShardedCounters").field(&sums).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_what_every_thread_added() {
        let counters = ShardedCounters::<2>::default();
        std::thread::scope(|scope| {
            for _ in 0..40 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        counters.add(0, 1);
                        counters.add(1, 2);
                    }
                });
            }
        });
        assert_eq!((counters.sum(0), counters.sum(1)), (4_000, 8_000));
    }
}
