//! Header values for outgoing requests without an allocation per request.
//!
//! `HeaderValue::from_bytes` copies into a fresh `Bytes`: one allocation per injected header,
//! even for a request that is not sampled. Instead each thread writes values into a shared
//! 4 KiB buffer and hands out reference-counted slices of it, so a `traceparent` costs an
//! allocation once every ~70 requests, when the buffer is full and a new one is started.

use std::cell::RefCell;

use bytes::BytesMut;
use http::HeaderValue;

/// Room for about 74 `traceparent` values.
const SLAB_SIZE: usize = 4096;
/// Values larger than this are allocated on their own rather than using up a slab.
const LARGEST_SLABBED: usize = 1024;

thread_local! {
    static SLAB: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// A header value holding `bytes`, or `None` if they are not a valid header value.
pub(crate) fn header_value(bytes: &[u8]) -> Option<HeaderValue> {
    if bytes.len() > LARGEST_SLABBED {
        return HeaderValue::from_bytes(bytes).ok();
    }
    let shared = SLAB
        .try_with(|slab| {
            let mut slab = slab.borrow_mut();
            if slab.capacity() < bytes.len() {
                // Earlier values keep the old buffer alive for as long as they live.
                *slab = BytesMut::with_capacity(SLAB_SIZE);
            }
            slab.extend_from_slice(bytes);
            slab.split().freeze()
        })
        .ok();
    match shared {
        Some(shared) => HeaderValue::from_maybe_shared(shared).ok(),
        // The thread is exiting: fall back to a plain copy.
        None => HeaderValue::from_bytes(bytes).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_copied_exactly_and_invalid_ones_refused() {
        for _ in 0..200 {
            let value = header_value(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
            assert_eq!(
                value.unwrap(),
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            );
        }
        assert!(header_value(b"bad\nvalue").is_none());
        assert_eq!(header_value(&[b'a'; 5000]).unwrap().len(), 5000);
        assert_eq!(header_value(b"").unwrap(), "");
    }
}
