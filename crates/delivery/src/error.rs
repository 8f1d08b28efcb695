//! Delivery failures, classified once so that retry and suppression decide
//! on the class alone (RFC 5321 §4.2.1: 4xx is transient, 5xx permanent).

/// What the caller should do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Try again later, with backoff: the same message, the same Message-ID.
    Transient,
    /// The recipient's server refused the recipient or the message for good:
    /// record a bounce and suppress the address.
    Bounce,
    /// Retrying will not help and the recipient is not at fault (our
    /// configuration, credentials or message): fail the message, keep the
    /// address.
    Failed,
}

/// Why a message was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The server answered with a 4xx reply: a temporary condition
    /// (greylisting, a full queue, a rate limit).
    #[error("server deferred the message ({code}): {message}")]
    Transient { code: u16, message: String },
    /// The server answered with a 5xx reply about the recipient or the
    /// message (unknown user, mailbox unavailable, rejected content): a
    /// bounce.
    #[error("server refused the recipient ({code}): {message}")]
    Bounced { code: u16, message: String },
    /// The server answered with a 5xx reply about our session rather than
    /// the recipient (command syntax 500-504, authentication 530/534/535/538,
    /// parameters 555): a configuration problem, not a bounce.
    #[error("server refused our session ({code}): {message}")]
    Refused { code: u16, message: String },
    /// Connecting failed, the connection dropped, or the reply could not be
    /// read: try again.
    #[error("connection failed: {0}")]
    Connection(String),
    /// The server did not answer in time: try again.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The message cannot be sent as built (an invalid address, non-ASCII
    /// where the server lacks SMTPUTF8 or 8BITMIME): fix the message.
    #[error("invalid message: {0}")]
    Message(String),
    /// DKIM signing failed: the key is unusable.
    #[error("dkim: {0}")]
    Dkim(String),
    /// Writing the message to disk failed (file transport): try again.
    #[error("i/o: {0}")]
    Io(String),
    /// The transport is misconfigured (TLS asked for but not compiled in).
    #[error("configuration: {0}")]
    Config(String),
}

impl DeliveryError {
    pub fn class(&self) -> FailureClass {
        match self {
            DeliveryError::Transient { .. }
            | DeliveryError::Connection(_)
            | DeliveryError::Timeout(_)
            | DeliveryError::Io(_) => FailureClass::Transient,
            DeliveryError::Bounced { .. } => FailureClass::Bounce,
            DeliveryError::Refused { .. }
            | DeliveryError::Message(_)
            | DeliveryError::Dkim(_)
            | DeliveryError::Config(_) => FailureClass::Failed,
        }
    }

    pub fn is_transient(&self) -> bool {
        self.class() == FailureClass::Transient
    }

    /// A hard bounce: the caller suppresses the address.
    pub fn is_bounce(&self) -> bool {
        self.class() == FailureClass::Bounce
    }

    /// Classifies an SMTP reply code with its text.
    pub fn from_reply(code: u16, message: impl Into<String>) -> DeliveryError {
        let message = message.into();
        match code {
            400..=499 => DeliveryError::Transient { code, message },
            500..=504 | 530 | 534 | 535 | 538 | 555 => DeliveryError::Refused { code, message },
            500..=599 => DeliveryError::Bounced { code, message },
            _ => DeliveryError::Connection(format!("unexpected reply {code}: {message}")),
        }
    }
}

impl From<lettre::transport::smtp::Error> for DeliveryError {
    fn from(e: lettre::transport::smtp::Error) -> Self {
        let text = e.to_string();
        if let Some(code) = e.status() {
            let code: u16 = code.to_string().parse().unwrap_or(0);
            // "permanent error (550): text" -> the server's text.
            let message = text.split_once("): ").map_or(text.as_str(), |(_, m)| m).trim();
            return DeliveryError::from_reply(code, message);
        }
        if e.is_timeout() {
            DeliveryError::Timeout(text)
        } else if e.is_client() {
            DeliveryError::Message(text)
        } else {
            // Connection, network, response-parsing and shutdown errors.
            DeliveryError::Connection(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_codes_classify() {
        assert_eq!(DeliveryError::from_reply(451, "later").class(), FailureClass::Transient);
        assert_eq!(DeliveryError::from_reply(421, "closing").class(), FailureClass::Transient);
        assert_eq!(DeliveryError::from_reply(550, "no such user").class(), FailureClass::Bounce);
        assert_eq!(DeliveryError::from_reply(552, "mailbox full").class(), FailureClass::Bounce);
        assert_eq!(DeliveryError::from_reply(554, "rejected").class(), FailureClass::Bounce);
        assert_eq!(DeliveryError::from_reply(535, "bad credentials").class(), FailureClass::Failed);
        assert_eq!(DeliveryError::from_reply(503, "bad sequence").class(), FailureClass::Failed);
        assert!(DeliveryError::Connection("refused".into()).is_transient());
        assert!(DeliveryError::from_reply(550, "x").is_bounce());
    }
}
