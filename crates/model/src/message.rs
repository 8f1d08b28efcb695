//! Segment-spec messages: parsing, validation and normalisation.
//!
//! The wire format is Segment's HTTP Tracking API (identify, track, page,
//! screen, group, alias, batch). Validation happens here, before anything is
//! stored, so a rejected message changes nothing. The stored body is the
//! message as the client sent it (minus any `writeKey`); the normalised fields
//! (`messageId`, corrected `timestamp`, `receivedAt`) travel beside it.

use crate::time::{Micros, parse_time};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// Largest accepted message, in bytes of JSON.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Largest accepted request body, in bytes.
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// Deepest nesting of objects and arrays in a message, the message itself
/// counting as 1: what every reader of the stored body can parse back.
pub const MAX_DEPTH: usize = 64;
/// The latest an event may have happened, after clock-skew correction:
/// this long after the server received it (clocks of a day ahead happen;
/// beyond that the time is wrong, and would keep a profile "seen" forever).
pub const MAX_FUTURE: Micros = 24 * 3_600 * 1_000_000;
/// The earliest an event may have happened: 1900-01-01T00:00:00Z.
pub const MIN_TIME: Micros = -2_208_988_800 * 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    Identify,
    Track,
    Page,
    Screen,
    Group,
    Alias,
}

impl MessageType {
    pub fn parse(s: &str) -> Option<MessageType> {
        Some(match s {
            "identify" => MessageType::Identify,
            "track" => MessageType::Track,
            "page" => MessageType::Page,
            "screen" => MessageType::Screen,
            "group" => MessageType::Group,
            "alias" => MessageType::Alias,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Identify => "identify",
            MessageType::Track => "track",
            MessageType::Page => "page",
            MessageType::Screen => "screen",
            MessageType::Group => "group",
            MessageType::Alias => "alias",
        }
    }
    /// A small stable number for storage.
    pub fn code(self) -> i16 {
        match self {
            MessageType::Identify => 0,
            MessageType::Track => 1,
            MessageType::Page => 2,
            MessageType::Screen => 3,
            MessageType::Group => 4,
            MessageType::Alias => 5,
        }
    }
    pub fn from_code(c: i16) -> Option<MessageType> {
        Some(match c {
            0 => MessageType::Identify,
            1 => MessageType::Track,
            2 => MessageType::Page,
            3 => MessageType::Screen,
            4 => MessageType::Group,
            5 => MessageType::Alias,
            _ => return None,
        })
    }
}

/// A validated message, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub message_id: String,
    pub kind: MessageType,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    /// `alias`: the id being joined to `user_id`.
    pub previous_id: Option<String>,
    /// `track`: the event name; `page` / `screen`: the page name, when given.
    pub event: Option<String>,
    /// When it happened, corrected for client clock skew.
    pub timestamp: Micros,
    pub received_at: Micros,
    /// `identify` and `group`: the traits to merge into the profile.
    pub traits: Option<serde_json::Map<String, Value>>,
    /// The message as sent (JSON object text), without `writeKey`.
    pub body: String,
}

/// Why a message was rejected. Each variant has a stable [`MessageError::code`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageError {
    /// The request body is not valid JSON.
    #[error("malformed JSON at line {line}, column {column}: {reason}")]
    Json { line: usize, column: usize, reason: String },
    /// The message is not a JSON object.
    #[error("a message must be a JSON object")]
    NotObject,
    /// The message is larger than [`MAX_MESSAGE_BYTES`].
    #[error("message is {size} bytes; the limit is 32 KB (32768 bytes) per message")]
    TooLarge { size: usize },
    /// The request body is larger than [`MAX_BATCH_BYTES`].
    #[error("request is {size} bytes; the limit is 500 KB (512000 bytes), so split the batch")]
    BatchTooLarge { size: usize },
    /// Neither `userId` nor `anonymousId`.
    #[error("a message needs a userId or an anonymousId")]
    MissingId,
    /// `track` without `event`.
    #[error("a track message needs an `event` name")]
    MissingEvent,
    /// `alias` without `previousId`.
    #[error("an alias message needs a `previousId` and a `userId`")]
    MissingPreviousId,
    /// A field has the wrong JSON type.
    #[error("`{field}` must be {expected}")]
    WrongType { field: &'static str, expected: &'static str },
    /// `type` is not one of Segment's message types.
    #[error("unknown message type `{0}`; expected identify, track, page, screen, group or alias")]
    UnknownType(String),
    /// A time field that is not ISO 8601.
    #[error("`{field}` is not an ISO 8601 time: {value:?}")]
    BadTime { field: &'static str, value: String },
    /// A batch without a `batch` array.
    #[error("a batch needs a `batch` array of messages")]
    NotABatch,
    /// Objects and arrays nested deeper than [`MAX_DEPTH`].
    #[error("values nest deeper than {limit} levels at line {line}, column {column}; flatten the properties")]
    TooDeep { limit: usize, line: usize, column: usize },
    /// A `\u` escape that is half of a UTF-16 surrogate pair: not a character.
    #[error("a lone UTF-16 surrogate escape at line {line}, column {column} is not a character; send valid Unicode")]
    LoneSurrogate { line: usize, column: usize },
    /// A number no reader can hold: beyond a 64-bit float's range (1.8e308).
    #[error("a number at line {line}, column {column} is beyond the range of a 64-bit float; send it as a string")]
    NumberOutOfRange { line: usize, column: usize },
    /// A time outside what Tidings stores (see [`MAX_FUTURE`], [`MIN_TIME`]).
    #[error(
        "`{field}` {value:?} is outside the accepted window (from 1900-01-01 to a day after the server received it); check the client's clock"
    )]
    TimeOutOfRange { field: &'static str, value: String },
}

impl MessageError {
    /// A stable code for clients and logs.
    pub fn code(&self) -> &'static str {
        match self {
            MessageError::Json { .. } => "malformed_json",
            MessageError::NotObject => "not_an_object",
            MessageError::TooLarge { .. } => "message_too_large",
            MessageError::BatchTooLarge { .. } => "request_too_large",
            MessageError::MissingId => "missing_user_id",
            MessageError::MissingEvent => "missing_event",
            MessageError::MissingPreviousId => "missing_previous_id",
            MessageError::WrongType { .. } => "wrong_type",
            MessageError::UnknownType(_) => "unknown_type",
            MessageError::BadTime { .. } => "bad_timestamp",
            MessageError::NotABatch => "not_a_batch",
            MessageError::TooDeep { .. } => "too_deep",
            MessageError::LoneSurrogate { .. } => "invalid_unicode",
            MessageError::NumberOutOfRange { .. } => "number_out_of_range",
            MessageError::TimeOutOfRange { .. } => "timestamp_out_of_range",
        }
    }

    fn json(e: serde_json::Error) -> MessageError {
        let reason = e.to_string();
        // serde_json appends " at line L column C"; we report those separately.
        let reason = match reason.rfind(" at line ") {
            Some(i) => reason[..i].to_string(),
            None => reason,
        };
        MessageError::Json { line: e.line(), column: e.column(), reason }
    }
}

/// What the request around the messages supplies.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// When the server received the request.
    pub received_at: Micros,
    /// The batch's `sentAt`, used when a message has none of its own.
    pub sent_at: Option<&'a str>,
    /// The endpoint's type, for `/v1/track` and the like (the body may omit `type`).
    pub default_type: Option<MessageType>,
}

#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(rename = "type")]
    kind: Option<Value>,
    #[serde(rename = "userId")]
    user_id: Option<Value>,
    #[serde(rename = "anonymousId")]
    anonymous_id: Option<Value>,
    #[serde(rename = "previousId")]
    previous_id: Option<Value>,
    #[serde(rename = "messageId")]
    message_id: Option<Value>,
    event: Option<Value>,
    name: Option<Value>,
    timestamp: Option<Value>,
    #[serde(rename = "sentAt")]
    sent_at: Option<Value>,
    #[serde(rename = "writeKey")]
    write_key: Option<Value>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
    #[serde(borrow)]
    traits: Option<&'a RawValue>,
    #[serde(borrow)]
    context: Option<&'a RawValue>,
}

/// The parts of a batch request; messages are validated one by one.
#[derive(Deserialize)]
pub struct RawBatch<'a> {
    #[serde(borrow, default)]
    pub batch: Option<Vec<&'a RawValue>>,
    #[serde(rename = "writeKey", default)]
    pub write_key: Option<String>,
    #[serde(rename = "sentAt", default)]
    pub sent_at: Option<String>,
}

/// Parses a batch request body into its raw messages. Fails as a whole only
/// when the body is not JSON or has no `batch` array.
pub fn parse_batch(body: &str) -> Result<RawBatch<'_>, MessageError> {
    if body.len() > MAX_BATCH_BYTES {
        return Err(MessageError::BatchTooLarge { size: body.len() });
    }
    let raw: RawBatch = serde_json::from_str(body)
        .map_err(|e| if e.is_data() { MessageError::NotABatch } else { MessageError::json(e) })?;
    if raw.batch.is_none() {
        return Err(MessageError::NotABatch);
    }
    Ok(raw)
}

/// The `writeKey` inside a single message body, if any (for clients that
/// cannot set headers).
pub fn body_write_key(body: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct K {
        #[serde(rename = "writeKey")]
        write_key: Option<String>,
    }
    serde_json::from_str::<K>(body).ok()?.write_key
}

fn id_field(v: Option<Value>, field: &'static str) -> Result<Option<String>, MessageError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        // Segment's libraries send numeric ids as numbers; they mean the same id.
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(MessageError::WrongType { field, expected: "a string" }),
    }
}

fn str_field(v: Option<Value>, field: &'static str) -> Result<Option<String>, MessageError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(MessageError::WrongType { field, expected: "a string" }),
    }
}

fn time_field(v: Option<Value>, field: &'static str) -> Result<Option<Micros>, MessageError> {
    match str_field(v, field)? {
        None => Ok(None),
        Some(s) => parse_time(&s).map(Some).ok_or(MessageError::BadTime { field, value: s }),
    }
}

fn object_field(v: Option<&RawValue>, field: &'static str) -> Result<(), MessageError> {
    match v {
        None => Ok(()),
        Some(raw) => {
            let t = raw.get().trim_start();
            if t.starts_with('{') || t == "null" {
                Ok(())
            } else {
                Err(MessageError::WrongType { field, expected: "an object" })
            }
        }
    }
}

/// Validates one message. `new_id` supplies a `messageId` when the client sent none.
pub fn parse_message(
    text: &str,
    env: &Envelope<'_>,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Message, MessageError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(MessageError::TooLarge { size: text.len() });
    }
    if !text.trim_start().starts_with('{') {
        // Distinguish "not JSON at all" from "JSON but not an object".
        return match serde_json::from_str::<&RawValue>(text) {
            Ok(_) => Err(MessageError::NotObject),
            Err(e) => Err(MessageError::json(e)),
        };
    }
    check_text(text)?;
    let f: Fields = serde_json::from_str(text).map_err(MessageError::json)?;
    let kind = match str_field(f.kind, "type")? {
        Some(t) => MessageType::parse(&t).ok_or(MessageError::UnknownType(t))?,
        None => env.default_type.ok_or(MessageError::WrongType {
            field: "type",
            expected: "one of identify, track, page, screen, group, alias",
        })?,
    };
    let user_id = id_field(f.user_id, "userId")?;
    let anonymous_id = id_field(f.anonymous_id, "anonymousId")?;
    let previous_id = id_field(f.previous_id, "previousId")?;
    if user_id.is_none() && anonymous_id.is_none() {
        return Err(MessageError::MissingId);
    }
    let event = match kind {
        MessageType::Track => match str_field(f.event, "event")? {
            Some(e) if !e.trim().is_empty() => Some(e),
            _ => return Err(MessageError::MissingEvent),
        },
        MessageType::Page | MessageType::Screen => str_field(f.name, "name")?,
        _ => None,
    };
    if kind == MessageType::Alias && (previous_id.is_none() || user_id.is_none()) {
        return Err(MessageError::MissingPreviousId);
    }
    object_field(f.properties, "properties")?;
    object_field(f.context, "context")?;
    object_field(f.traits, "traits")?;
    let traits = match (kind, f.traits) {
        (MessageType::Identify | MessageType::Group, Some(raw)) => {
            match serde_json::from_str::<Value>(raw.get()).map_err(MessageError::json)? {
                Value::Object(m) => Some(m),
                _ => None,
            }
        }
        _ => None,
    };
    let message_id = match f.message_id {
        None | Some(Value::Null) => new_id(),
        Some(Value::String(s)) if s.is_empty() => new_id(),
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(MessageError::WrongType { field: "messageId", expected: "a string" }),
    };
    let timestamp = time_field(f.timestamp, "timestamp")?;
    let sent_at = match time_field(f.sent_at, "sentAt")? {
        Some(t) => Some(t),
        None => match env.sent_at {
            Some(s) => Some(parse_time(s).ok_or(MessageError::BadTime { field: "sentAt", value: s.to_string() })?),
            None => None,
        },
    };
    // Clock-skew correction as Segment defines it: the client's clock may be
    // off, but the gap between its timestamp and its sentAt is not.
    let timestamp = match (timestamp, sent_at) {
        (Some(ts), Some(sent)) => env.received_at.saturating_sub(sent.saturating_sub(ts)),
        (Some(ts), None) => ts,
        (None, _) => env.received_at,
    };
    if timestamp < MIN_TIME || timestamp > env.received_at.saturating_add(MAX_FUTURE) {
        let value = match (timestamp != env.received_at, sent_at.is_some()) {
            (true, true) => {
                format!("{} after correcting for the client's clock by sentAt", crate::time::format_time(timestamp))
            }
            _ => crate::time::format_time(timestamp),
        };
        return Err(MessageError::TimeOutOfRange { field: "timestamp", value });
    }
    let body = if f.write_key.is_some() { strip_write_key(text)? } else { text.to_string() };
    Ok(Message {
        message_id,
        kind,
        user_id,
        anonymous_id,
        previous_id,
        event,
        timestamp,
        received_at: env.received_at,
        traits,
        body,
    })
}

/// Checks what a JSON parser accepts but a stored body must not hold:
/// nesting deeper than [`MAX_DEPTH`] (every reader parses the body back, and
/// parsers stop at some depth), and `\u` escapes of lone surrogates (valid
/// JSON text, but no character, so no reader can decode them), and numbers
/// beyond a 64-bit float (a parser skipping a field accepts `1e999`, one
/// reading it back does not). One pass over the bytes, before anything is
/// parsed.
fn check_text(text: &str) -> Result<(), MessageError> {
    let bytes = text.as_bytes();
    let at = |i: usize| {
        let before = &text[..i.min(text.len())];
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let column = before.rfind('\n').map_or(before.len(), |n| before.len() - n - 1) + 1;
        (line, column)
    };
    let hex = |i: usize| -> Option<u16> {
        let h = bytes.get(i..i + 4)?;
        u16::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    };
    let (mut depth, mut in_string, mut i) = (0usize, false, 0usize);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'"' => in_string = false,
                b'\\' if bytes.get(i + 1) == Some(&b'u') => {
                    if let Some(unit) = hex(i + 2) {
                        match unit {
                            0xD800..=0xDBFF => {
                                let low = (bytes.get(i + 6) == Some(&b'\\') && bytes.get(i + 7) == Some(&b'u'))
                                    .then(|| hex(i + 8))
                                    .flatten();
                                if !low.is_some_and(|l| (0xDC00..=0xDFFF).contains(&l)) {
                                    let (line, column) = at(i);
                                    return Err(MessageError::LoneSurrogate { line, column });
                                }
                                i += 6;
                            }
                            0xDC00..=0xDFFF => {
                                let (line, column) = at(i);
                                return Err(MessageError::LoneSurrogate { line, column });
                            }
                            _ => {}
                        }
                    }
                    i += 5;
                }
                b'\\' => i += 1,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        let (line, column) = at(i);
                        return Err(MessageError::TooDeep { limit: MAX_DEPTH, line, column });
                    }
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                b'-' | b'0'..=b'9' => {
                    let end = bytes[i..]
                        .iter()
                        .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                        .map_or(bytes.len(), |n| i + n);
                    let number = &text[i..end];
                    // Only an exponent or over 300 digits can leave the range.
                    if (number.len() > 300 || number.contains(['e', 'E']))
                        && number.parse::<f64>().is_ok_and(|n| n.is_infinite())
                    {
                        let (line, column) = at(i);
                        return Err(MessageError::NumberOutOfRange { line, column });
                    }
                    i = end;
                    continue;
                }
                _ => {}
            }
        }
        i += 1;
    }
    Ok(())
}

fn strip_write_key(text: &str) -> Result<String, MessageError> {
    let mut v: serde_json::Map<String, Value> = serde_json::from_str(text).map_err(MessageError::json)?;
    v.remove("writeKey");
    Ok(Value::Object(v).to_string())
}

/// A fresh random `messageId` for a message that came without one.
pub fn new_message_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    format!("tdg-{}", hex::encode(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Envelope<'static> {
        Envelope {
            received_at: 1_780_000_000_000_000, // 2026-05-28, after the times the tests send
            sent_at: None,
            default_type: None,
        }
    }

    fn parse(text: &str) -> Result<Message, MessageError> {
        parse_message(text, &env(), &mut || "generated".to_string())
    }

    #[test]
    fn track_is_parsed() {
        let m = parse(r#"{"type":"track","userId":"u1","event":"Order Completed","properties":{"revenue":3},"messageId":"m1","timestamp":"2026-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(m.kind, MessageType::Track);
        assert_eq!(m.user_id.as_deref(), Some("u1"));
        assert_eq!(m.event.as_deref(), Some("Order Completed"));
        assert_eq!(m.message_id, "m1");
        assert_eq!(m.timestamp, parse_time("2026-01-01T00:00:00Z").unwrap());
    }

    #[test]
    fn missing_fields_are_rejected() {
        assert_eq!(parse(r#"{"type":"track","event":"X"}"#), Err(MessageError::MissingId));
        assert_eq!(parse(r#"{"type":"track","userId":"u"}"#), Err(MessageError::MissingEvent));
        assert_eq!(parse(r#"{"type":"track","userId":"","event":"X"}"#), Err(MessageError::MissingId));
        assert_eq!(parse(r#"{"type":"alias","userId":"u"}"#), Err(MessageError::MissingPreviousId));
        assert!(matches!(parse(r#"{"type":"nope","userId":"u"}"#), Err(MessageError::UnknownType(_))));
        assert!(matches!(
            parse(r#"{"type":"track","userId":"u","event":"X","properties":[1]}"#),
            Err(MessageError::WrongType { field: "properties", .. })
        ));
        assert!(matches!(
            parse(r#"{"type":"track","userId":{"a":1},"event":"X"}"#),
            Err(MessageError::WrongType { field: "userId", .. })
        ));
        assert!(matches!(
            parse(r#"{"type":"track","userId":"u","event":"X","timestamp":"soon"}"#),
            Err(MessageError::BadTime { .. })
        ));
        assert!(matches!(parse(r#"{not json"#), Err(MessageError::Json { .. })));
        assert_eq!(parse("[1]"), Err(MessageError::NotObject));
    }

    #[test]
    fn limits() {
        let pad = "x".repeat(MAX_MESSAGE_BYTES);
        let big = format!(r#"{{"type":"track","userId":"u","event":"X","properties":{{"p":"{pad}"}}}}"#);
        assert!(matches!(parse(&big), Err(MessageError::TooLarge { .. })));
        let body = format!(r#"{{"batch":[{{"p":"{}"}}]}}"#, "y".repeat(MAX_BATCH_BYTES));
        assert!(matches!(parse_batch(&body), Err(MessageError::BatchTooLarge { .. })));
    }

    #[test]
    fn what_cannot_be_read_back_is_refused_with_its_place() {
        let deep = format!(
            r#"{{"type":"track","userId":"u","event":"X","properties":{}1{}}}"#,
            "[".repeat(64),
            "]".repeat(64)
        );
        assert!(matches!(parse(&deep), Err(MessageError::TooDeep { limit: 64, line: 1, .. })));
        let ok = format!(
            r#"{{"type":"track","userId":"u","event":"X","properties":{{"a":{}1{}}}}}"#,
            "[".repeat(61),
            "]".repeat(61)
        );
        let m = parse(&ok).unwrap();
        let back: Value = serde_json::from_str(&m.body).unwrap();
        assert!(back["properties"]["a"].is_array());
        // Brackets inside strings are text.
        let text = format!(r#"{{"type":"track","userId":"u","event":"X","properties":{{"a":"{}"}}}}"#, "[".repeat(500));
        assert!(parse(&text).is_ok());
        for bad in [r#""\ud800""#, r#""\udc00""#, r#""\ud800\u0041""#, r#""x\ud83d""#] {
            let t = format!("{{\"type\":\"track\",\"userId\":\"u\",\"event\":\"X\",\n\"properties\":{{\"s\":{bad}}}}}");
            assert!(matches!(parse(&t), Err(MessageError::LoneSurrogate { line: 2, .. })), "{bad}");
        }
        let pair = r#"{"type":"track","userId":"u","event":"X","properties":{"s":"\ud83d\ude00 \\ud800"}}"#;
        let m = parse(pair).unwrap();
        let back: Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(back["properties"]["s"], "\u{1F600} \\ud800");
        // Numbers past a float, in a field nobody parses on the way in.
        for bad in ["5477775E419", "-1e309", "1.5E+400", &"9".repeat(400)] {
            let t = format!("{{\"type\":\"track\",\"userId\":\"u\",\"event\":\"X\",\n\"other\":[1,{bad}]}}");
            assert!(matches!(parse(&t), Err(MessageError::NumberOutOfRange { line: 2, column: 12 })), "{bad}");
        }
        for fine in ["1e308", "-2.5e-400", "123456789012345678901234567890", "0.000001"] {
            let t = format!(r#"{{"type":"track","userId":"u","event":"X","properties":{{"n":{fine},"s":"1e999"}}}}"#);
            let m = parse(&t).unwrap_or_else(|e| panic!("{fine}: {e}"));
            assert!(serde_json::from_str::<Value>(&m.body).is_ok(), "{fine}");
        }
    }

    #[test]
    fn times_outside_the_window_are_refused() {
        let e =
            Envelope { received_at: parse_time("2026-01-01T12:00:00Z").unwrap(), sent_at: None, default_type: None };
        let at = |ts: &str, sent: Option<&str>| {
            let sent = sent.map_or(String::new(), |s| format!(r#","sentAt":"{s}""#));
            parse_message(
                &format!(r#"{{"type":"track","userId":"u","event":"X","timestamp":"{ts}"{sent}}}"#),
                &e,
                &mut || "id".into(),
            )
        };
        assert!(matches!(at("9999-12-30T00:00:00Z", None), Err(MessageError::TimeOutOfRange { .. })));
        assert!(matches!(at("1800-01-01T00:00:00Z", None), Err(MessageError::TimeOutOfRange { .. })));
        assert!(at("2026-01-02T11:00:00Z", None).is_ok(), "a day ahead is a clock, not an error");
        assert!(at("1997-01-01T00:00:00Z", None).is_ok(), "history imports keep their times");
        // A skew correction that lands far in the future is refused, not stored as a bare number.
        let r = at("9999-12-30T00:00:00Z", Some("0001-01-01T00:00:00Z"));
        assert!(matches!(r, Err(MessageError::TimeOutOfRange { .. })), "{r:?}");
    }

    #[test]
    fn clock_skew_is_corrected() {
        // The client's clock is an hour fast: its timestamp and sentAt both are.
        let e =
            Envelope { received_at: parse_time("2026-01-01T12:00:00Z").unwrap(), sent_at: None, default_type: None };
        let m = parse_message(
            r#"{"type":"track","userId":"u","event":"X","timestamp":"2026-01-01T12:59:00Z","sentAt":"2026-01-01T13:00:00Z"}"#,
            &e,
            &mut || "id".into(),
        )
        .unwrap();
        assert_eq!(m.timestamp, parse_time("2026-01-01T11:59:00Z").unwrap());
        // No timestamp: it happened when it arrived.
        let m = parse_message(r#"{"type":"track","userId":"u","event":"X"}"#, &e, &mut || "id".into()).unwrap();
        assert_eq!(m.timestamp, e.received_at);
        assert_eq!(m.message_id, "id");
        // The batch's sentAt applies when the message has none.
        let e2 = Envelope { sent_at: Some("2026-01-01T13:00:00Z"), ..e };
        let m = parse_message(
            r#"{"type":"track","userId":"u","event":"X","timestamp":"2026-01-01T12:30:00Z"}"#,
            &e2,
            &mut || "id".into(),
        )
        .unwrap();
        assert_eq!(m.timestamp, parse_time("2026-01-01T11:30:00Z").unwrap());
    }

    #[test]
    fn endpoint_type_and_write_key() {
        let e = Envelope { default_type: Some(MessageType::Identify), ..env() };
        let m = parse_message(r#"{"userId":7,"traits":{"plan":"pro"},"writeKey":"secret"}"#, &e, &mut || "id".into())
            .unwrap();
        assert_eq!(m.kind, MessageType::Identify);
        assert_eq!(m.user_id.as_deref(), Some("7"));
        assert_eq!(m.traits.unwrap()["plan"], "pro");
        assert!(!m.body.contains("secret"));
        assert_eq!(body_write_key(r#"{"writeKey":"k"}"#).as_deref(), Some("k"));
    }

    #[test]
    fn batch_parsing() {
        let b = parse_batch(r#"{"batch":[{"type":"track"},1],"sentAt":"2026-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(b.batch.unwrap().len(), 2);
        assert_eq!(parse_batch(r#"{"nope":1}"#).err(), Some(MessageError::NotABatch));
        assert!(matches!(parse_batch("{"), Err(MessageError::Json { .. })));
    }
}
