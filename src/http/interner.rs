//! [`Interner`]: strings a service sees again and again (route templates, span names, hosts,
//! user agents, gRPC methods) stored once and shared, within a bound.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::{LazyLock, PoisonError, RwLock};

/// Interned strings: route templates and span names are few per service, so each distinct
/// one (up to 256 bytes) is leaked once and shared; past a bound (a service that builds names
/// from raw paths), strings are allocated per call instead, so memory stays bounded.
pub(crate) struct Interner {
    set: LazyLock<RwLock<HashSet<&'static str>>>,
    max_entries: usize,
}

/// How many interned strings each thread remembers, over all tables.
const RECENT: usize = 16;

thread_local! {
    /// The strings this thread interned lately, with their table: most lookups end here,
    /// without the table's lock (a cache line every request thread would write) or a hash.
    static RECENTLY_INTERNED: RefCell<Recent> = const {
        RefCell::new(Recent { entries: [(0, ""); RECENT], next: 0 })
    };
}

struct Recent {
    /// (table address, string), replaced in turn.
    entries: [(usize, &'static str); RECENT],
    next: usize,
}

impl Interner {
    pub(crate) const fn new(max_entries: usize) -> Self {
        Self {
            set: LazyLock::new(|| RwLock::new(HashSet::new())),
            max_entries,
        }
    }

    pub(crate) fn intern(&'static self, parts: &[&str]) -> Cow<'static, str> {
        self.intern_valid(parts, |_| true)
            .unwrap_or_else(|| Cow::Owned(parts.concat()))
    }

    /// Interns `parts` joined if `valid` accepts them (asked only for strings not in the
    /// table yet, so that a caller's invalid strings never take its room); `None` if not.
    // `'static`: the per-thread list knows a table by its address, which a table that could
    // be dropped might hand on to another.
    pub(crate) fn intern_valid(
        &'static self,
        parts: &[&str],
        valid: impl FnOnce(&str) -> bool,
    ) -> Option<Cow<'static, str>> {
        let table = self as *const Self as usize;
        // Compared part by part: a hit joins and copies nothing.
        let recent = RECENTLY_INTERNED.try_with(|recent| {
            let recent = recent.try_borrow().ok()?;
            recent
                .entries
                .iter()
                .find(|(t, s)| *t == table && is_joined(s, parts))
                .map(|(_, s)| *s)
        });
        if let Ok(Some(found)) = recent {
            return Some(Cow::Borrowed(found));
        }
        let mut buffer = [0u8; 256];
        let Some(joined) = join_into(&mut buffer, parts) else {
            // Longer than any template we expect: not worth keeping forever.
            let joined = parts.concat();
            return valid(&joined).then_some(Cow::Owned(joined));
        };
        let interned = self.intern_shared(joined, valid)?;
        if let Cow::Borrowed(found) = interned {
            let _ = RECENTLY_INTERNED.try_with(|recent| {
                if let Ok(mut recent) = recent.try_borrow_mut() {
                    let next = recent.next;
                    recent.entries[next] = (table, found);
                    recent.next = (next + 1) % RECENT;
                }
            });
        }
        Some(interned)
    }

    /// The process-wide lookup, and insertion (of a string `valid` accepts) while under the
    /// bound.
    fn intern_shared(
        &self,
        joined: &str,
        valid: impl FnOnce(&str) -> bool,
    ) -> Option<Cow<'static, str>> {
        if let Some(found) = self
            .set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(joined)
        {
            return Some(Cow::Borrowed(found));
        }
        if !valid(joined) {
            return None;
        }
        let mut set = self.set.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = set.get(joined) {
            return Some(Cow::Borrowed(found));
        }
        if set.len() >= self.max_entries {
            return Some(Cow::Owned(joined.to_owned()));
        }
        let leaked: &'static str = Box::leak(joined.to_owned().into_boxed_str());
        set.insert(leaked);
        Some(Cow::Borrowed(leaked))
    }
}

/// Whether `joined` is `parts` joined.
fn is_joined(joined: &str, parts: &[&str]) -> bool {
    let mut rest = joined;
    for part in parts {
        match rest.strip_prefix(part) {
            Some(after) => rest = after,
            None => return false,
        }
    }
    rest.is_empty()
}

/// Joins `parts` in a stack buffer when they fit, so that a lookup allocates nothing.
fn join_into<'b>(buffer: &'b mut [u8; 256], parts: &[&str]) -> Option<&'b str> {
    let mut len = 0;
    for part in parts {
        let end = len + part.len();
        buffer.get_mut(len..end)?.copy_from_slice(part.as_bytes());
        len = end;
    }
    std::str::from_utf8(&buffer[..len]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interner_keeps_at_most_its_bound_and_never_long_strings() {
        // A table of its own: filling the process-wide ones would change other tests.
        let table: &'static Interner = Box::leak(Box::new(Interner::new(4)));
        assert!(matches!(table.intern(&[&"x".repeat(300)]), Cow::Owned(_)));
        let kept: Vec<_> = (0..4)
            .map(|i| table.intern(&[&format!("made.Up{i}/M")]))
            .collect();
        assert!(kept.iter().all(|s| matches!(s, Cow::Borrowed(_))));
        assert!(matches!(table.intern(&["made.Up4/M"]), Cow::Owned(_)));
        // Those kept are still shared.
        assert!(matches!(
            table.intern(&["made.Up0/M"]),
            Cow::Borrowed("made.Up0/M")
        ));
    }
}
