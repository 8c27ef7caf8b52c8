//! Recycled attribute buffers.
//!
//! A sampled span's attributes live in a `Vec` that the request thread fills and the batch
//! sink's thread drops after export. Freeing memory on another thread than the one that
//! allocated it is slow with common allocators (glibc hands the block back to the allocating
//! thread's arena under a lock, and the next allocation misses the thread cache), so the batch
//! sink hands the emptied buffers back here and new spans take them: once the pool is warm, a
//! sampled span's attributes are neither allocated on the request thread nor freed on another.

use std::sync::OnceLock;

use crossbeam_queue::ArrayQueue;

use super::KeyValue;

/// Buffers kept at most; with [`MAX_KEPT_CAPACITY`] this bounds the pool to about 1 MiB.
const POOL_SIZE: usize = 1024;
/// Larger buffers are freed rather than kept, so one huge span does not pin its memory.
const MAX_KEPT_CAPACITY: usize = 16;

fn pool() -> &'static ArrayQueue<Vec<KeyValue>> {
    static POOL: OnceLock<ArrayQueue<Vec<KeyValue>>> = OnceLock::new();
    POOL.get_or_init(|| ArrayQueue::new(POOL_SIZE))
}

/// An empty buffer with room for at least `capacity` attributes.
pub(crate) fn take(capacity: usize) -> Vec<KeyValue> {
    match pool().pop() {
        Some(mut buffer) => {
            buffer.reserve(capacity);
            buffer
        }
        None => Vec::with_capacity(capacity),
    }
}

/// Gives a buffer back for reuse (or frees it when it is too large or the pool is full).
pub(crate) fn give(mut buffer: Vec<KeyValue>) {
    if buffer.capacity() == 0 || buffer.capacity() > MAX_KEPT_CAPACITY {
        return;
    }
    buffer.clear();
    let _ = pool().push(buffer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_empty_and_large_ones_are_not_kept() {
        let mut buffer = take(4);
        buffer.push(KeyValue::new("k", 1_i64));
        give(buffer);
        let again = take(2);
        assert!(again.is_empty() && again.capacity() >= 2);
        give(Vec::with_capacity(MAX_KEPT_CAPACITY + 1));
    }
}
