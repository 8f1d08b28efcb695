//! Building the bytes of a message: `multipart/alternative` with the text
//! part first and the HTML part second (RFC 2046 §5.1.4: the last part is
//! preferred), UTF-8, each part 7bit, quoted-printable or base64 as lettre
//! finds shortest, then DKIM-signed.
//!
//! Invariant: the same [`Email`] always composes to the same bytes: the
//! MIME boundary is derived from the Message-ID, the date comes from the
//! headers and the DKIM time from the caller.

use std::time::{Duration, SystemTime};

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox as LettreMailbox, MultiPart, SinglePart};
use sha2::{Digest, Sha256};
use tidings_model::Micros;
use tidings_render::{Email, Mailbox};

use crate::dkim::DkimSigner;
use crate::error::DeliveryError;

/// A message ready for a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// With angle brackets, as in the header.
    pub message_id: String,
    /// `MAIL FROM`: where bounces go.
    pub envelope_from: String,
    /// `RCPT TO`.
    pub recipients: Vec<String>,
    /// The message as sent: headers, blank line, body; CRLF line ends.
    pub data: Vec<u8>,
}

/// How to compose: the bounce address and the DKIM signer.
#[derive(Debug, Clone, Default)]
pub struct ComposeOptions<'a> {
    /// `MAIL FROM`; the From address when `None`.
    pub envelope_from: Option<&'a str>,
    pub dkim: Option<&'a DkimSigner>,
    /// The DKIM signature time; the message's Date when `None`.
    pub signed_at: Option<Micros>,
}

fn mailbox(m: &Mailbox) -> Result<LettreMailbox, DeliveryError> {
    let address = m.address.parse().map_err(|e| DeliveryError::Message(format!("address {:?}: {e}", m.address)))?;
    Ok(LettreMailbox::new(m.name.clone(), address))
}

fn system_time(micros: Micros) -> SystemTime {
    if micros >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_micros(micros as u64)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_micros(micros.unsigned_abs())
    }
}

/// Composes (and signs) `email`.
pub fn compose(email: &Email, options: &ComposeOptions<'_>) -> Result<OutgoingMessage, DeliveryError> {
    let h = &email.headers;
    let mut builder = lettre::Message::builder()
        .from(mailbox(&h.from)?)
        .to(mailbox(&h.to)?)
        .subject(h.subject.clone())
        .date(system_time(h.date))
        .message_id(Some(h.message_id.clone()));
    if let Some(r) = &h.reply_to {
        builder = builder.reply_to(mailbox(r)?);
    }
    // Both values are printable ASCII by construction (checked URIs), so
    // they are written as they are.
    if let Some(v) = &h.list_unsubscribe {
        let name = HeaderName::new_from_ascii_str("List-Unsubscribe");
        builder = builder.raw_header(HeaderValue::dangerous_new_pre_encoded(name, v.clone(), fold_list(v)));
    }
    if let Some(v) = &h.list_unsubscribe_post {
        let name = HeaderName::new_from_ascii_str("List-Unsubscribe-Post");
        builder = builder.raw_header(HeaderValue::dangerous_new_pre_encoded(name, v.clone(), v.clone()));
    }
    let boundary = format!("tidings-{}", &hex(&Sha256::digest(h.message_id.as_bytes()))[..32]);
    let body = MultiPart::alternative()
        .boundary(boundary)
        .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(email.text.clone()))
        .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(email.html.clone()));
    let envelope_from = options.envelope_from.unwrap_or(&h.from.address).to_string();
    let message = builder
        .envelope(
            lettre::address::Envelope::new(
                Some(envelope_from.parse().map_err(|e| DeliveryError::Message(format!("envelope sender: {e}")))?),
                vec![h.to.address.parse().map_err(|e| DeliveryError::Message(format!("recipient: {e}")))?],
            )
            .map_err(|e| DeliveryError::Message(e.to_string()))?,
        )
        .multipart(body)
        .map_err(|e| DeliveryError::Message(e.to_string()))?;
    let mut data = message.formatted();
    if let Some(signer) = options.dkim {
        data = signer.sign(&data, options.signed_at.unwrap_or(h.date))?;
    }
    Ok(OutgoingMessage {
        message_id: h.message_id.clone(),
        envelope_from,
        recipients: vec![h.to.address.clone()],
        data,
    })
}

/// `<a>, <b>` folded after the comma so each URI starts a line of its own.
fn fold_list(v: &str) -> String {
    v.replace(">, <", ">,\r\n <")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
