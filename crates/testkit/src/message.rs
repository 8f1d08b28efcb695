//! Simulated messages in Segment's spec (`identify`, `track`, `page`), and
//! their JSON and NDJSON forms.
//!
//! A message keeps compact typed fields (numbers for ids, shared products)
//! and is written as JSON only when asked (see `json.rs`), which keeps
//! generation cheap enough for benchmark data sets.

use serde::{Serialize, Serializer};
use std::borrow::Borrow;
use std::io::{self, Write};
use std::sync::Arc;

use crate::catalog::Product;
use crate::persona::Device;

/// Currency of every simulated price.
pub const CURRENCY: &str = "EUR";

/// `context.library.name` of every simulated message: it is a simulation.
pub const LIBRARY: &str = "tidings-simulator";

/// Segment message types the simulator emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    Identify,
    Track,
    Page,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Identify => "identify",
            MessageType::Track => "track",
            MessageType::Page => "page",
        }
    }
}

/// One simulated message. Serialize it (it implements `serde::Serialize`),
/// or use [`SimMessage::to_json`] / [`write_ndjson`].
#[derive(Debug, Clone, PartialEq)]
pub struct SimMessage {
    pub kind: MessageType,
    /// When it happened, microseconds since the Unix epoch (whole milliseconds).
    pub timestamp: i64,
    pub(crate) user: Option<u32>,
    pub(crate) anon: Option<u64>,
    /// Track: the event name; page: the page name; identify: empty.
    pub(crate) name: &'static str,
    pub(crate) message_id: u128,
    pub(crate) props: Props,
    pub(crate) traits: Option<Box<Traits>>,
    pub(crate) device: Device,
    pub(crate) timezone: &'static str,
    pub(crate) user_agent: &'static str,
    /// `context.page.url`; product events default to the product's page.
    pub(crate) page_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Props {
    Empty,
    Page { path: String, title: String },
    Product { product: Arc<Product>, cart: Option<(u32, u32)>, wishlist: bool },
    Search { query: String },
    Order { order_id: String, items: Vec<Arc<Product>>, coupon: Option<&'static str>, completed: bool },
    SignedUp { consent: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Traits {
    pub email: String,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub timezone: &'static str,
    pub country: &'static str,
    pub consent: bool,
    pub device: Device,
    pub created_at: i64,
}

/// Share of the price taken off by an email's incentive coupon.
pub(crate) const INCENTIVE_DISCOUNT: f64 = 0.10;

impl SimMessage {
    /// `u000123`, when the person is known.
    pub fn user_id(&self) -> Option<String> {
        self.user.map(user_id_string)
    }

    pub fn anonymous_id(&self) -> Option<String> {
        self.anon.map(SimMessage::anon_string)
    }

    pub(crate) fn anon_string(a: u64) -> String {
        String::from_utf8_lossy(&anon_bytes(a)).into_owned()
    }

    /// The track event's name (`None` for page and identify).
    pub fn event(&self) -> Option<&'static str> {
        (self.kind == MessageType::Track).then_some(self.name)
    }

    pub fn message_id(&self) -> String {
        String::from_utf8_lossy(&uuid_bytes(self.message_id)).into_owned()
    }

    /// The message as Segment JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let mut buf = Vec::with_capacity(1024);
        self.write_json(&mut buf);
        serde_json::from_slice(&buf).unwrap_or(serde_json::Value::Null)
    }

    /// Appends the message as one line of NDJSON.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        self.write_json(out);
        out.push(b'\n');
    }
}

pub(crate) fn order_total(items: &[Arc<Product>], discounted: bool) -> u64 {
    let gross: u64 = items.iter().map(|p| u64::from(p.price_cents)).sum();
    if discounted { gross - (gross as f64 * INCENTIVE_DISCOUNT).round() as u64 } else { gross }
}

pub(crate) fn user_id_string(u: u32) -> String {
    format!("u{u:06}")
}

/// Parses `u000123` back to the person's number.
pub(crate) fn parse_user_id(s: &str) -> Option<u32> {
    s.strip_prefix('u')?.parse().ok()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn uuid_bytes(v: u128) -> [u8; 36] {
    // Shaped as a version-4 UUID.
    let v = (v & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let mut out = [b'-'; 36];
    let mut nibble = 32;
    for (i, b) in out.iter_mut().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        nibble -= 1;
        *b = HEX[((v >> (nibble * 4)) & 0xF) as usize];
    }
    out
}

pub(crate) fn anon_bytes(a: u64) -> [u8; 36] {
    uuid_bytes((u128::from(a) << 64) | u128::from(crate::rng::mix64(a)))
}

impl Serialize for SimMessage {
    /// Through [`SimMessage::to_json`]: fine for a few messages; use
    /// [`SimMessage::write_line`] for many.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// Writes messages as newline-delimited JSON, one message per line, and
/// returns how many were written. Buffers internally; flushes `out` at the end.
pub fn write_ndjson<I>(out: &mut dyn Write, messages: I) -> io::Result<u64>
where
    I: IntoIterator,
    I::Item: Borrow<SimMessage>,
{
    let mut buf = Vec::with_capacity(1 << 17);
    let mut n = 0;
    for msg in messages {
        msg.borrow().write_line(&mut buf);
        n += 1;
        if buf.len() >= 1 << 16 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_shapes() {
        let u = String::from_utf8(uuid_bytes(u128::MAX / 3).to_vec()).unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(user_id_string(123), "u000123");
        assert_eq!(parse_user_id("u000123"), Some(123));
        assert_eq!(parse_user_id("x1"), None);
        assert_ne!(anon_bytes(1), anon_bytes(2));
    }
}
