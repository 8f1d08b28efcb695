//! The JSON form of a simulated message, written straight into a byte
//! buffer. Benchmarks generate tens of millions of messages, and a generic
//! serializer spent most of its time scanning constant ASCII for characters
//! to escape; here only text that can vary is escaped.
//!
//! Numbers look as `serde_json` would print the same `f64` (`49.95`, `12.0`),
//! so [`SimMessage::to_json`], which parses this output, round-trips.

use crate::catalog::Product;
use crate::message::{CURRENCY, LIBRARY, MessageType, Props, SimMessage, Traits, anon_bytes, order_total, uuid_bytes};
use crate::session::SHOP_URL;
use crate::time::rfc3339_bytes;

struct Out<'a>(&'a mut Vec<u8>);

impl Out<'_> {
    /// Text known to need no escaping (keys, punctuation, constants).
    #[inline]
    fn raw(&mut self, s: &str) -> &mut Self {
        self.0.extend_from_slice(s.as_bytes());
        self
    }

    /// `,"key":`
    #[inline]
    fn key(&mut self, k: &str) -> &mut Self {
        self.0.extend_from_slice(b",\"");
        self.0.extend_from_slice(k.as_bytes());
        self.0.extend_from_slice(b"\":");
        self
    }

    /// A JSON string, escaped as RFC 8259 requires.
    fn str(&mut self, s: &str) -> &mut Self {
        let b = s.as_bytes();
        self.0.push(b'"');
        if b.iter().all(|&c| c >= 0x20 && c != b'"' && c != b'\\') {
            self.0.extend_from_slice(b);
        } else {
            for ch in s.chars() {
                match ch {
                    '"' => self.0.extend_from_slice(b"\\\""),
                    '\\' => self.0.extend_from_slice(b"\\\\"),
                    '\n' => self.0.extend_from_slice(b"\\n"),
                    '\r' => self.0.extend_from_slice(b"\\r"),
                    '\t' => self.0.extend_from_slice(b"\\t"),
                    c if (c as u32) < 0x20 => {
                        let hex = b"0123456789abcdef";
                        let c = c as usize;
                        self.0.extend_from_slice(&[b'\\', b'u', b'0', b'0', hex[c >> 4], hex[c & 15]]);
                    }
                    c => self.0.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes()),
                }
            }
        }
        self.0.push(b'"');
        self
    }

    /// A quoted ASCII byte string produced here (ids, timestamps).
    fn ascii(&mut self, b: &[u8]) -> &mut Self {
        self.0.push(b'"');
        self.0.extend_from_slice(b);
        self.0.push(b'"');
        self
    }

    fn uint(&mut self, mut v: u64, min_digits: usize) -> &mut Self {
        let mut buf = [b'0'; 20];
        let mut i = buf.len();
        while v > 0 || buf.len() - i < min_digits.max(1) {
            i -= 1;
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        self.0.extend_from_slice(&buf[i..]);
        self
    }

    /// Cents as the shortest decimal of the euro amount: `49.95`, `49.9`, `50.0`.
    fn money(&mut self, cents: u64) -> &mut Self {
        self.uint(cents / 100, 1).raw(".");
        match cents % 100 {
            f if f % 10 == 0 => self.uint(f / 10, 1),
            f => self.uint(f, 2),
        }
    }

    fn bool(&mut self, b: bool) -> &mut Self {
        self.raw(if b { "true" } else { "false" })
    }

    /// `"u000123"`
    fn user(&mut self, u: u32) -> &mut Self {
        self.raw("\"u").uint(u64::from(u), 6).raw("\"")
    }
}

impl SimMessage {
    /// Appends the message as one JSON object (no newline).
    pub fn write_json(&self, buf: &mut Vec<u8>) {
        let mut o = Out(buf);
        o.raw("{\"type\":\"").raw(self.kind.as_str()).raw("\"");
        o.key("messageId").ascii(&uuid_bytes(self.message_id));
        if let Some(u) = self.user {
            o.key("userId").user(u);
        }
        if let Some(a) = self.anon {
            o.key("anonymousId").ascii(&anon_bytes(a));
        }
        match self.kind {
            MessageType::Track => o.key("event").str(self.name),
            MessageType::Page => o.key("name").str(self.name),
            MessageType::Identify => &mut o,
        };
        if self.kind != MessageType::Identify {
            o.key("properties");
            props(&mut o, &self.props);
        }
        if let Some(t) = &self.traits {
            o.key("traits");
            traits(&mut o, t);
        }
        o.key("context").raw("{\"library\":{\"name\":\"").raw(LIBRARY).raw("\",\"version\":\"");
        o.raw(env!("CARGO_PKG_VERSION")).raw("\"}");
        o.key("device").raw("{\"type\":\"").raw(self.device.as_str()).raw("\"}");
        o.key("timezone").str(self.timezone);
        o.key("userAgent").str(self.user_agent);
        match (&self.page_url, &self.props) {
            (Some(url), _) => {
                o.key("page").raw("{\"url\":").str(url).raw("}");
            }
            // Product events happen on the product's page.
            (None, Props::Product { product, .. }) => {
                o.key("page").raw("{\"url\":\"").raw(SHOP_URL).raw(&product.path).raw("\"}");
            }
            _ => {}
        }
        o.raw("}");
        o.key("timestamp").ascii(&rfc3339_bytes(self.timestamp)).raw("}");
    }
}

fn product(o: &mut Out, p: &Product, cart: Option<(u32, u32)>, wishlist: bool) {
    o.raw("{");
    if let Some((person, n)) = cart {
        o.raw("\"cart_id\":\"c").uint(person.into(), 6).raw("-").uint(n.into(), 1).raw("\",");
    }
    if wishlist {
        o.raw("\"wishlist_name\":\"Favourites\",");
    }
    o.raw("\"product_id\":").str(&p.id);
    o.key("sku").str(&p.sku);
    o.key("category").str(p.category);
    o.key("name").str(&p.name);
    o.key("price").money(p.price_cents.into());
    o.key("quantity").raw("1");
    o.key("currency").str(CURRENCY);
    o.key("url").str(&p.path);
    o.raw("}");
}

fn props(o: &mut Out, props: &Props) {
    match props {
        Props::Empty => {
            o.raw("{}");
        }
        Props::Page { path, title } => {
            o.raw("{\"path\":").str(path).key("title").str(title).raw("}");
        }
        Props::Product { product: p, cart, wishlist } => product(o, p, *cart, *wishlist),
        Props::Search { query } => {
            o.raw("{\"query\":").str(query).raw("}");
        }
        Props::Order { order_id, items, coupon, completed } => {
            let gross = order_total(items, false);
            let net = order_total(items, coupon.is_some());
            o.raw("{\"order_id\":").str(order_id);
            o.key(if *completed { "total" } else { "value" }).money(net);
            o.key("revenue").money(net);
            if let Some(c) = coupon {
                o.key("coupon").str(c).key("discount").money(gross - net);
            }
            o.key("currency").str(CURRENCY).key("products").raw("[");
            for (i, p) in items.iter().enumerate() {
                if i > 0 {
                    o.raw(",");
                }
                product(o, p, None, false);
            }
            o.raw("]}");
        }
        Props::SignedUp { consent } => {
            o.raw("{\"method\":\"email\",\"marketing_consent\":").bool(*consent).raw("}");
        }
    }
}

fn traits(o: &mut Out, t: &Traits) {
    o.raw("{\"email\":").str(&t.email);
    o.key("first_name").str(t.first_name);
    o.key("last_name").str(t.last_name);
    o.key("timezone").str(t.timezone);
    o.key("country").str(t.country);
    o.key("marketing_consent").bool(t.consent);
    o.key("device").str(t.device.as_str());
    o.key("created_at").ascii(&rfc3339_bytes(t.created_at));
    o.key("simulated").raw("true}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Out)) -> String {
        let mut buf = Vec::new();
        f(&mut Out(&mut buf));
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn numbers_print_like_serde_json() {
        for cents in [0u64, 5, 10, 99, 100, 495, 4990, 4995, 5000, 123_456, 1_000_001] {
            let ours = text(|o| {
                o.money(cents);
            });
            assert_eq!(ours, serde_json::to_string(&(cents as f64 / 100.0)).unwrap());
        }
        assert_eq!(
            text(|o| {
                o.user(42);
            }),
            "\"u000042\""
        );
        assert_eq!(
            text(|o| {
                o.user(1_234_567);
            }),
            "\"u1234567\""
        );
    }

    #[test]
    fn strings_are_escaped() {
        for s in ["plain", "quote \" and \\ back", "line\nbreak\t\u{1}", "naïve café ✓"] {
            let ours = text(|o| {
                o.str(s);
            });
            assert_eq!(serde_json::from_str::<String>(&ours).unwrap(), s);
        }
    }
}
