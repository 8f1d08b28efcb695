//! Every error code the HTTP API answers with, as data: each has its wire
//! string, HTTP status, [`ErrorType`] and documentation link in one row of
//! the table below, so a handler names a variant and never a string, and
//! `docs/openapi.json` and `docs/errors.md` are checked against
//! [`ErrorCode::ALL`]. The shape follows meilisearch's `ErrorCode`
//! (`crates/meilisearch-types/src/error.rs`).
//!
//! The wire strings are a public interface (clients match on them): a code
//! may be added, never renamed. ARCHITECTURE.md ("Adding an error code")
//! says how to add one.

use axum::http::StatusCode;
use serde::Serialize;
use tidings_model::message::MessageError;

/// Whose move it is after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorType {
    /// The request is wrong; the client fixes it and sends it again.
    User,
    /// The key is missing, unknown, revoked or of the wrong kind.
    Auth,
    /// The server failed; nothing was changed, and the request may be retried.
    Internal,
}

impl ErrorType {
    /// Every type, in the order `docs/openapi.json` lists them.
    pub const ALL: &'static [ErrorType] = &[ErrorType::User, ErrorType::Auth, ErrorType::Internal];

    /// The wire string, as serialized in `error.type`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorType::User => "user",
            ErrorType::Auth => "auth",
            ErrorType::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One table, so that a variant cannot exist without its string, status,
/// type and link, nor be left out of [`ErrorCode::ALL`].
macro_rules! error_codes {
    ($(
        $(#[$doc:meta])*
        $variant:ident => $code:literal, $status:ident, $kind:ident;
    )*) => {
        /// An error code of the HTTP API: `error.code` in every error body.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in the order of the table (and of the enum in
            /// `docs/openapi.json`).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The stable wire string, `error.code`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }

            /// The HTTP status every response with this code has.
            pub const fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)*
                }
            }

            /// Whose move it is: `error.type`.
            pub const fn kind(self) -> ErrorType {
                match self {
                    $(ErrorCode::$variant => ErrorType::$kind,)*
                }
            }

            /// Where the code is documented: `error.link`, a path relative
            /// to the repository root (`docs/errors.md#CODE`), since a
            /// self-hosted server knows no public documentation host.
            pub const fn link(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => concat!("docs/errors.md#", $code),)*
                }
            }
        }
    };
}

error_codes! {
    // Keys.

    /// No key was sent, or the key is unknown or revoked.
    Unauthorized => "unauthorized", UNAUTHORIZED, Auth;
    /// The key is valid but of the other kind: a write key on the admin
    /// API, or an admin key on ingest.
    Forbidden => "forbidden", FORBIDDEN, Auth;
    /// Too many requests: failed keys from one client, or one write key's
    /// ingest over its rate; `Retry-After` says when to try again.
    RateLimited => "rate_limited", TOO_MANY_REQUESTS, User;

    // Requests.

    /// The request's method is not one this path answers.
    MethodNotAllowed => "method_not_allowed", METHOD_NOT_ALLOWED, User;
    /// The request could not be read as HTTP this path takes (a bad header,
    /// path or query parameter).
    BadRequest => "bad_request", BAD_REQUEST, User;
    /// The body did not arrive in time (the limit is a setting).
    RequestTimeout => "request_timeout", REQUEST_TIMEOUT, User;

    // Request bodies.

    /// The body is over 500 KB (after gzip), for a single message or a batch.
    RequestTooLarge => "request_too_large", PAYLOAD_TOO_LARGE, User;
    /// The body could not be read off the connection.
    UnreadableBody => "unreadable_body", BAD_REQUEST, User;
    /// `Content-Encoding: gzip` with a body that is not gzip.
    BadGzip => "bad_gzip", BAD_REQUEST, User;
    /// An ingest body that is not UTF-8 or not valid JSON.
    MalformedJson => "malformed_json", BAD_REQUEST, User;

    // Ingest messages (`/v1/*`), from `tidings_model::MessageError`.

    /// A message that is JSON but not an object.
    NotAnObject => "not_an_object", BAD_REQUEST, User;
    /// A single message over 32 KB.
    MessageTooLarge => "message_too_large", PAYLOAD_TOO_LARGE, User;
    /// A message with neither `userId` nor `anonymousId`.
    MissingUserId => "missing_user_id", BAD_REQUEST, User;
    /// A `track` message without `event`.
    MissingEvent => "missing_event", BAD_REQUEST, User;
    /// An `alias` message without `previousId`.
    MissingPreviousId => "missing_previous_id", BAD_REQUEST, User;
    /// A message field of the wrong JSON type (or a message without a type
    /// where the endpoint implies none).
    WrongType => "wrong_type", BAD_REQUEST, User;
    /// A `type` that is not one of Segment's message types.
    UnknownType => "unknown_type", BAD_REQUEST, User;
    /// `timestamp`, `sentAt` or another time field that is not ISO 8601.
    BadTimestamp => "bad_timestamp", BAD_REQUEST, User;
    /// A batch body without a `batch` array.
    NotABatch => "not_a_batch", BAD_REQUEST, User;
    /// Objects and arrays nested deeper than a stored body may be.
    TooDeep => "too_deep", BAD_REQUEST, User;
    /// A `\u` escape of half a UTF-16 surrogate pair: no character.
    InvalidUnicode => "invalid_unicode", BAD_REQUEST, User;
    /// A number beyond a 64-bit float's range.
    NumberOutOfRange => "number_out_of_range", BAD_REQUEST, User;
    /// A time before 1900 or more than a day after the server received it.
    TimestampOutOfRange => "timestamp_out_of_range", BAD_REQUEST, User;
    /// A batch in which every message was rejected; nothing was stored.
    AllRejected => "all_rejected", BAD_REQUEST, User;

    // Admin API (`/api/*`) requests.

    /// A JSON body that does not parse or lacks a field of the right type.
    InvalidJson => "invalid_json", BAD_REQUEST, User;
    /// A required text field that is empty.
    MissingField => "missing_field", BAD_REQUEST, User;
    /// Entering a journey without `userId` or `anonymousId`.
    MissingId => "missing_id", BAD_REQUEST, User;
    /// Journey entry `properties` that are not an object.
    InvalidProperties => "invalid_properties", BAD_REQUEST, User;
    /// Journey entry that would make a message ingest refuses.
    InvalidMessage => "invalid_message", BAD_REQUEST, User;
    /// A rule file or broadcast name that is not allowed.
    InvalidName => "invalid_name", BAD_REQUEST, User;
    /// A `lookback`, `horizon` or `window` that is not a positive duration.
    InvalidWindow => "invalid_window", BAD_REQUEST, User;
    /// A broadcast's `best_hour_within` that is not a positive duration.
    InvalidDuration => "invalid_duration", BAD_REQUEST, User;
    /// An `as_of` that is not an RFC 3339 time.
    InvalidTime => "invalid_time", BAD_REQUEST, User;
    /// A broadcast's `at` that is not an RFC 3339 time.
    InvalidAt => "invalid_at", BAD_REQUEST, User;
    /// A `min_lift` that is not a finite number above 0.
    InvalidMinLift => "invalid_min_lift", BAD_REQUEST, User;
    /// A page `limit` out of range.
    BadLimit => "bad_limit", BAD_REQUEST, User;
    /// A `before` cursor that is neither a `next_cursor` nor a time.
    BadCursor => "bad_cursor", BAD_REQUEST, User;
    /// A broadcast naming a template the server does not have.
    UnknownTemplate => "unknown_template", BAD_REQUEST, User;
    /// Broadcast `variants` that do not parse or do not add up.
    InvalidVariants => "invalid_variants", BAD_REQUEST, User;
    /// A broadcast `holdout` that is not a whole percent below 100.
    InvalidHoldout => "invalid_holdout", BAD_REQUEST, User;
    /// A broadcast `audience` that does not parse or does not check.
    InvalidAudience => "invalid_audience", BAD_REQUEST, User;
    /// A broadcast `per_hour` that is not a positive whole number.
    InvalidPerHour => "invalid_per_hour", BAD_REQUEST, User;
    /// An experiment concluded by hand that the learnings log already has.
    AlreadyConcluded => "already_concluded", CONFLICT, User;
    /// What a node among several cannot do yet (a broadcast, a definition
    /// change through the API): it would reach only its own partitions.
    SingleNodeOnly => "single_node_only", CONFLICT, User;

    // Definitions (`PUT /api/definitions/NAME`).

    /// A rule file that is not UTF-8 text.
    InvalidUtf8 => "invalid_utf8", BAD_REQUEST, User;
    /// A rule file over 1 MiB.
    TooLarge => "too_large", PAYLOAD_TOO_LARGE, User;
    /// A rule file with errors; `diagnostics` says where and why, and
    /// nothing was changed.
    InvalidDefinitions => "invalid_definitions", UNPROCESSABLE_ENTITY, User;

    // Anywhere.

    /// No such endpoint, or nothing by that name (profile, segment, rule
    /// file, journey), or a feature this server does not run.
    NotFound => "not_found", NOT_FOUND, User;
    /// The server failed; the details are in its log, never in the answer.
    Internal => "internal", INTERNAL_SERVER_ERROR, Internal;
    /// The event log or the engine could not take the request now; nothing
    /// was stored or changed, so it may be retried.
    Unavailable => "unavailable", SERVICE_UNAVAILABLE, Internal;
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The code of a rejected ingest message. An exhaustive match, so that a
/// new `MessageError` variant does not compile until it has a code here.
impl From<&MessageError> for ErrorCode {
    fn from(e: &MessageError) -> ErrorCode {
        match e {
            MessageError::Json { .. } => ErrorCode::MalformedJson,
            MessageError::NotObject => ErrorCode::NotAnObject,
            MessageError::TooLarge { .. } => ErrorCode::MessageTooLarge,
            MessageError::BatchTooLarge { .. } => ErrorCode::RequestTooLarge,
            MessageError::MissingId => ErrorCode::MissingUserId,
            MessageError::MissingEvent => ErrorCode::MissingEvent,
            MessageError::MissingPreviousId => ErrorCode::MissingPreviousId,
            MessageError::WrongType { .. } => ErrorCode::WrongType,
            MessageError::UnknownType(_) => ErrorCode::UnknownType,
            MessageError::BadTime { .. } => ErrorCode::BadTimestamp,
            MessageError::NotABatch => ErrorCode::NotABatch,
            MessageError::TooDeep { .. } => ErrorCode::TooDeep,
            MessageError::LoneSurrogate { .. } => ErrorCode::InvalidUnicode,
            MessageError::NumberOutOfRange { .. } => ErrorCode::NumberOutOfRange,
            MessageError::TimeOutOfRange { .. } => ErrorCode::TimestampOutOfRange,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ErrorCode, ErrorType};
    use tidings_model::message::MessageError;

    #[test]
    fn codes_are_unique_snake_case_and_linked_to_their_anchor() {
        let mut seen = std::collections::HashSet::new();
        for &c in ErrorCode::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} is used by two variants");
            assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{s}");
            assert_eq!(c.link(), format!("docs/errors.md#{s}"));
            assert_eq!(c.to_string(), s);
        }
    }

    #[test]
    fn type_follows_status() {
        for &c in ErrorCode::ALL {
            let expected = match c.status().as_u16() {
                401 | 403 => ErrorType::Auth,
                500..=599 => ErrorType::Internal,
                _ => ErrorType::User,
            };
            assert_eq!(c.kind(), expected, "{c}");
        }
    }

    #[test]
    fn type_serializes_as_its_wire_string() {
        for &t in ErrorType::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }

    /// The model's own code (printed by `tidings import`) and the HTTP code
    /// are the same string for every rejected message.
    #[test]
    fn message_errors_keep_their_codes() {
        let all = [
            MessageError::Json { line: 1, column: 1, reason: String::new() },
            MessageError::NotObject,
            MessageError::TooLarge { size: 0 },
            MessageError::BatchTooLarge { size: 0 },
            MessageError::MissingId,
            MessageError::MissingEvent,
            MessageError::MissingPreviousId,
            MessageError::WrongType { field: "userId", expected: "a string" },
            MessageError::UnknownType(String::new()),
            MessageError::BadTime { field: "timestamp", value: String::new() },
            MessageError::NotABatch,
            MessageError::TooDeep { limit: 64, line: 1, column: 1 },
            MessageError::LoneSurrogate { line: 1, column: 1 },
            MessageError::TimeOutOfRange { field: "timestamp", value: String::new() },
        ];
        for e in &all {
            assert_eq!(ErrorCode::from(e).as_str(), e.code(), "{e:?}");
        }
    }

    /// `docs/errors.md` has one section per code, headed by the code (its
    /// anchor) and opening with its status and type, and none for a code
    /// that does not exist.
    #[test]
    fn every_code_has_a_section_in_docs_errors_md() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md");
        let text = std::fs::read_to_string(path).expect("docs/errors.md");
        let sections: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("## ")).map(str::trim).collect();
        for &c in ErrorCode::ALL {
            assert!(sections.contains(&c.as_str()), "docs/errors.md has no `## {c}` section; add one");
            // The section opens with the status and type, as the code has them.
            let opening = format!("## {c}\n\n`{}`, type `{}`.", c.status().as_u16(), c.kind());
            assert!(text.contains(&opening), "docs/errors.md: `## {c}` must open with {opening:?}");
        }
        for s in &sections {
            assert!(ErrorCode::ALL.iter().any(|c| c.as_str() == *s), "docs/errors.md documents `{s}`, no such code");
        }
    }
}
