//! How the event log reaches the collectors of this crate: one entry at a
//! time, in log order, through [`Feed`].
//!
//! Whoever reads the log (`tidings-insights-log` pages through the store)
//! wraps each stored event in an [`Entry`] and hands the same entry to every
//! collector of the pass, so one read of the log can build the email report,
//! the signals, an experiment's exposures and the purchase histories
//! together. The body is the stored event's own [`tidings_model::Body`]:
//! parsed on first use and kept, at most once per entry however many
//! collectors read it, and not at all when none does (most entries matter
//! to no collector, and parsing is most of a pass's cost).
//!
//! Collectors: [`crate::email::Accumulator`], [`crate::signal_log::SignalLog`],
//! [`crate::exposure::ExperimentLog`], [`crate::btyd::PurchaseLog`].

use serde_json::Value;
use tidings_model::StoredEvent;

/// One stored event of the log, its JSON body parsed on demand and once.
#[derive(Debug)]
pub struct Entry<'a> {
    event: &'a StoredEvent,
}

impl<'a> Entry<'a> {
    /// The entry of `event`.
    pub fn new(event: &'a StoredEvent) -> Entry<'a> {
        Entry { event }
    }

    /// The stored event: its columns (kind, name, profile, times) need no parse.
    pub fn event(&self) -> &'a StoredEvent {
        self.event
    }

    /// The body's `properties` (`null` when absent).
    pub fn properties(&self) -> &Value {
        &self.event.body.parts().properties
    }

    /// The body's `traits` (`null` when absent or not an object).
    pub fn traits(&self) -> &Value {
        &self.event.body.parts().traits
    }
}

/// Something that learns from the log, one entry at a time, in log order.
pub trait Feed {
    /// Takes the next entry.
    fn feed(&mut self, entry: &Entry<'_>);
}

impl<F: Feed + ?Sized> Feed for &mut F {
    fn feed(&mut self, entry: &Entry<'_>) {
        (**self).feed(entry);
    }
}

/// Several collectors in one pass: each gets every entry, in order.
impl<F: Feed> Feed for [F] {
    fn feed(&mut self, entry: &Entry<'_>) {
        for f in self {
            f.feed(entry);
        }
    }
}

macro_rules! tuple_feed {
    ($($name:ident),+) => {
        impl<$($name: Feed),+> Feed for ($($name,)+) {
            #[allow(non_snake_case)]
            fn feed(&mut self, entry: &Entry<'_>) {
                let ($($name,)+) = self;
                $($name.feed(entry);)+
            }
        }
    };
}

tuple_feed!(A, B);
tuple_feed!(A, B, C);
tuple_feed!(A, B, C, D);

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_model::{MessageType, ProfileId};

    struct Reads(usize);

    impl Feed for Reads {
        fn feed(&mut self, entry: &Entry<'_>) {
            self.0 += usize::from(entry.properties()["n"] == 1);
        }
    }

    #[test]
    fn every_collector_reads_one_parse() {
        let e = StoredEvent {
            seq: 1,
            profile: ProfileId(1),
            message_id: "m".into(),
            kind: MessageType::Track,
            event: Some("E".into()),
            user_id: None,
            anonymous_id: None,
            timestamp: 0,
            received_at: 0,
            body: r#"{"properties": {"n": 1}}"#.into(),
        };
        let entry = Entry::new(&e);
        let (mut a, mut b) = (Reads(0), Reads(0));
        (&mut a, &mut b).feed(&entry);
        let first: *const Value = entry.properties();
        assert_eq!((a.0, b.0), (1, 1));
        assert!(std::ptr::eq(first, entry.properties()), "parsed once, kept");
        let bad = StoredEvent { body: "not json".into(), ..e };
        assert!(Entry::new(&bad).properties().is_null());
    }
}
