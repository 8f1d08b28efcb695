//! Delivery: from a rendered [`tidings_render::Email`] to a message an SMTP
//! server accepted, or a classified reason it did not.
//!
//! The parts:
//!
//! - [`mime`]: [`compose`] builds the MIME message with lettre
//!   (`multipart/alternative`, text then HTML, UTF-8, quoted-printable or
//!   base64) and signs it.
//! - [`dkim`]: RFC 6376 signing, RSA-SHA256, relaxed/relaxed, covering
//!   From, To, Subject, Date, Message-ID, List-Unsubscribe and
//!   List-Unsubscribe-Post.
//! - [`transport`]: the [`Transport`] trait, SMTP over pooled connections
//!   with a rate limit, and a file transport writing `.eml` files. To a
//!   plain-text relay, SMTP goes through our own pipelined client (`smtp`:
//!   TCP_NODELAY, PIPELINING, two round trips a message, where lettre's
//!   released client stalls ~40 ms a message on delayed ACKs); TLS and AUTH
//!   go through lettre.
//! - [`error`]: every failure is a [`DeliveryError`] whose [`FailureClass`]
//!   alone decides what happens next: retry (4xx, connection trouble,
//!   timeouts), bounce and suppress (5xx about the recipient), or fail.
//! - [`pace`] and [`retry`]: the rate limiter, exponential backoff with
//!   jitter, and sending with retries, on an injected clock, sleeper and
//!   random number generator.
//!
//! Invariants:
//! - A message's bytes are fixed once composed: retries resend the same
//!   bytes with the same Message-ID, and the file transport names files by
//!   Message-ID, so a resend replaces rather than duplicates.
//! - Only the error class decides retry and suppression; a transient
//!   failure never suppresses an address, a bounce is never retried.
//! - Nothing here reads the wall clock: times come from the message or the
//!   caller's [`tidings_model::Clock`].
//!
//! TLS (STARTTLS or implicit) needs the `tls` feature; without it only
//! [`TlsMode::None`] is accepted, which suits a relay on localhost.

pub mod dkim;
pub mod error;
pub mod mime;
pub mod pace;
pub mod retry;
mod smtp;
pub mod transport;

pub use dkim::DkimSigner;
pub use error::{DeliveryError, FailureClass};
pub use mime::{ComposeOptions, OutgoingMessage, compose};
pub use pace::{RateLimiter, RetryPolicy, Sleeper, ThreadSleeper};
pub use retry::{Outcome, send_with_retries};
pub use transport::{FileTransport, Receipt, SmtpConfig, SmtpTransport, TlsMode, Transport};
