//! Sending with retries in place: transient failures are retried with
//! backoff, a bounce or a permanent failure ends at once. An outbox that
//! schedules retries itself uses [`RetryPolicy::next_attempt_at`] instead.
//!
//! Invariant: every attempt sends the same bytes (the same Message-ID), so
//! a retry after a failure the server did not report faithfully is
//! recognisably a duplicate.

use rand::RngCore;

use crate::error::{DeliveryError, FailureClass};
use crate::mime::OutgoingMessage;
use crate::pace::{RetryPolicy, Sleeper};
use crate::transport::{Receipt, Transport};

/// How a send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the server.
    Sent { receipt: Receipt, attempts: u32 },
    /// Refused for good because of the recipient: suppress the address.
    Bounced { error: DeliveryError, attempts: u32 },
    /// Failed for a reason retrying cannot fix, or transient failures used
    /// up every attempt: fail the message, keep the address.
    Failed { error: DeliveryError, attempts: u32 },
}

impl Outcome {
    pub fn attempts(&self) -> u32 {
        match self {
            Outcome::Sent { attempts, .. } | Outcome::Bounced { attempts, .. } | Outcome::Failed { attempts, .. } => {
                *attempts
            }
        }
    }
}

/// Sends `message`, retrying transient failures as `policy` says.
pub fn send_with_retries(
    transport: &dyn Transport,
    message: &OutgoingMessage,
    policy: &RetryPolicy,
    sleeper: &dyn Sleeper,
    rng: &mut dyn RngCore,
) -> Outcome {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let error = match transport.send(message) {
            Ok(receipt) => return Outcome::Sent { receipt, attempts },
            Err(e) => e,
        };
        match error.class() {
            FailureClass::Bounce => return Outcome::Bounced { error, attempts },
            FailureClass::Failed => return Outcome::Failed { error, attempts },
            FailureClass::Transient if attempts >= policy.max_attempts => return Outcome::Failed { error, attempts },
            FailureClass::Transient => sleeper.sleep(policy.delay(attempts, rng)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;
    use rand::SeedableRng;
    use std::time::Duration;
    use tidings_model::{Clock, SimClock};

    struct Scripted(Mutex<Vec<Result<Receipt, DeliveryError>>>);

    impl Transport for Scripted {
        fn send(&self, _: &OutgoingMessage) -> Result<Receipt, DeliveryError> {
            self.0.lock().remove(0)
        }
    }

    fn message() -> OutgoingMessage {
        OutgoingMessage {
            message_id: "<m@x>".into(),
            envelope_from: "a@x.example".into(),
            recipients: vec!["b@y.example".into()],
            data: b"Subject: x\r\n\r\nx\r\n".to_vec(),
        }
    }

    fn run(script: Vec<Result<Receipt, DeliveryError>>) -> (Outcome, i64) {
        let clock = SimClock::new(0);
        let policy =
            RetryPolicy { max_attempts: 3, base_delay: Duration::from_secs(10), max_delay: Duration::from_secs(60) };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let outcome = send_with_retries(&Scripted(Mutex::new(script)), &message(), &policy, &clock, &mut rng);
        (outcome, clock.now())
    }

    #[test]
    fn transient_failures_are_retried_after_a_backoff() {
        let ok = Receipt { detail: "250 ok".into(), delivered: true };
        let (outcome, waited) = run(vec![
            Err(DeliveryError::from_reply(451, "later")),
            Err(DeliveryError::Connection("reset".into())),
            Ok(ok.clone()),
        ]);
        assert_eq!(outcome, Outcome::Sent { receipt: ok, attempts: 3 });
        // 5-10 s after the first failure, 20-40 s after the second.
        assert!((25_000_000..=50_000_000).contains(&waited), "{waited}");
    }

    #[test]
    fn bounces_and_permanent_failures_end_at_once() {
        let (outcome, waited) = run(vec![Err(DeliveryError::from_reply(550, "no such user"))]);
        assert!(matches!(outcome, Outcome::Bounced { attempts: 1, .. }));
        assert_eq!(waited, 0);
        let (outcome, _) = run(vec![Err(DeliveryError::from_reply(535, "auth"))]);
        assert!(matches!(outcome, Outcome::Failed { attempts: 1, .. }));
        let (outcome, _) = run(vec![
            Err(DeliveryError::from_reply(451, "a")),
            Err(DeliveryError::from_reply(451, "b")),
            Err(DeliveryError::from_reply(451, "c")),
        ]);
        assert!(matches!(outcome, Outcome::Failed { attempts: 3, error: DeliveryError::Transient { code: 451, .. } }));
    }
}
