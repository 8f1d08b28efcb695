//! Transports: where composed messages go. [`SmtpTransport`] hands them to
//! an SMTP server over pooled connections at a bounded rate;
//! [`FileTransport`] writes them as `.eml` files for trying things out.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lettre::Transport as _;
use sha2::{Digest, Sha256};

use crate::error::DeliveryError;
use crate::mime::OutgoingMessage;
use crate::pace::{RateLimiter, Sleeper};
use crate::smtp::Pipelined;

/// What a transport reports about an accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The server's reply (`250 ...`) or the file written.
    pub detail: String,
    /// A mail server accepted it (an SMTP 250). A file written is not a delivery.
    pub delivered: bool,
}

/// Sends one message; safe to share between threads.
pub trait Transport: Send + Sync {
    /// Hands `message` over. An error says, through its class, whether to
    /// retry, bounce or give up.
    fn send(&self, message: &OutgoingMessage) -> Result<Receipt, DeliveryError>;
}

/// How to secure the SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text; for a relay on localhost.
    None,
    /// STARTTLS when the server offers it.
    Opportunistic,
    /// STARTTLS or fail.
    Required,
    /// TLS from the first byte (port 465).
    Wrapper,
}

/// Where and how to reach the SMTP server.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// `(user, password)` for AUTH.
    pub credentials: Option<(String, String)>,
    /// The EHLO name; `localhost` when `None`.
    pub hello_name: Option<String>,
    /// Connections kept open and reused.
    pub pool_size: u32,
    /// For connecting and for each reply.
    pub timeout: Duration,
    /// Messages per second, across all threads; unlimited when `None`.
    pub rate_per_second: Option<f64>,
}

impl SmtpConfig {
    /// A plain-text relay on `host:port` with sensible defaults.
    pub fn plain(host: &str, port: u16) -> SmtpConfig {
        SmtpConfig {
            host: host.to_string(),
            port,
            tls: TlsMode::None,
            credentials: None,
            hello_name: None,
            pool_size: 4,
            timeout: Duration::from_secs(30),
            rate_per_second: None,
        }
    }
}

/// SMTP over pooled connections: to a plain-text relay with our pipelined
/// client ([`crate::smtp`]), with TLS or AUTH through lettre's transport.
pub struct SmtpTransport {
    inner: Inner,
    limiter: Option<RateLimiter>,
}

enum Inner {
    Plain(Pipelined),
    Lettre(lettre::SmtpTransport),
}

impl std::fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpTransport").finish_non_exhaustive()
    }
}

impl SmtpTransport {
    /// `clock` and `sleeper` pace the rate limit.
    pub fn new(
        config: &SmtpConfig,
        clock: Arc<dyn tidings_model::Clock>,
        sleeper: Arc<dyn Sleeper>,
    ) -> Result<SmtpTransport, DeliveryError> {
        use lettre::transport::smtp::PoolConfig;
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::transport::smtp::extension::ClientId;
        let limiter = match config.rate_per_second {
            Some(r) if !(r > 0.0 && r.is_finite()) => {
                return Err(DeliveryError::Config(format!("rate_per_second must be positive, not {r}")));
            }
            Some(r) => Some(RateLimiter::new(r, clock, sleeper)),
            None => None,
        };
        if config.tls == TlsMode::None && config.credentials.is_none() {
            let hello = config.hello_name.as_deref().unwrap_or("localhost");
            let plain = Pipelined::new(&config.host, config.port, hello, config.timeout, config.pool_size as usize);
            return Ok(SmtpTransport { inner: Inner::Plain(plain), limiter });
        }
        let mut b = lettre::SmtpTransport::builder_dangerous(config.host.as_str())
            .port(config.port)
            .timeout(Some(config.timeout))
            .pool_config(PoolConfig::new().max_size(config.pool_size.max(1)));
        b = match config.tls {
            TlsMode::None => b,
            mode => tls(b, mode, &config.host)?,
        };
        if let Some((user, password)) = &config.credentials {
            b = b.credentials(Credentials::new(user.clone(), password.clone()));
        }
        if let Some(name) = &config.hello_name {
            b = b.hello_name(ClientId::Domain(name.clone()));
        }
        Ok(SmtpTransport { inner: Inner::Lettre(b.build()), limiter })
    }
}

#[cfg(feature = "tls")]
fn tls(
    b: lettre::transport::smtp::SmtpTransportBuilder,
    mode: TlsMode,
    host: &str,
) -> Result<lettre::transport::smtp::SmtpTransportBuilder, DeliveryError> {
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    let params = TlsParameters::new(host.to_string()).map_err(|e| DeliveryError::Config(format!("tls: {e}")))?;
    Ok(b.tls(match mode {
        TlsMode::Opportunistic => Tls::Opportunistic(params),
        TlsMode::Required => Tls::Required(params),
        TlsMode::Wrapper => Tls::Wrapper(params),
        TlsMode::None => Tls::None,
    }))
}

#[cfg(not(feature = "tls"))]
fn tls(
    _: lettre::transport::smtp::SmtpTransportBuilder,
    mode: TlsMode,
    _: &str,
) -> Result<lettre::transport::smtp::SmtpTransportBuilder, DeliveryError> {
    Err(DeliveryError::Config(format!(
        "TLS mode {mode:?} needs tidings-delivery built with the `tls` feature; use TlsMode::None for a local relay"
    )))
}

impl Transport for SmtpTransport {
    fn send(&self, message: &OutgoingMessage) -> Result<Receipt, DeliveryError> {
        // Checked addresses only: nothing else reaches MAIL FROM or RCPT TO.
        let parse =
            |a: &str| a.parse::<lettre::Address>().map_err(|e| DeliveryError::Message(format!("address {a:?}: {e}")));
        let to = message.recipients.iter().map(|r| parse(r)).collect::<Result<Vec<_>, _>>()?;
        let envelope = lettre::address::Envelope::new(Some(parse(&message.envelope_from)?), to)
            .map_err(|e| DeliveryError::Message(e.to_string()))?;
        if let Some(l) = &self.limiter {
            l.acquire();
        }
        let (code, text) = match &self.inner {
            Inner::Plain(p) => {
                let reply = p.send(message)?;
                (reply.code.to_string(), reply.text.replace('\n', " "))
            }
            Inner::Lettre(t) => {
                let response = t.send_raw(&envelope, &message.data)?;
                (response.code().to_string(), response.message().collect::<Vec<_>>().join(" "))
            }
        };
        Ok(Receipt { detail: format!("{code} {text}"), delivered: true })
    }
}

impl Drop for SmtpTransport {
    fn drop(&mut self) {
        match &self.inner {
            Inner::Plain(p) => p.shutdown(),
            Inner::Lettre(t) => t.shutdown(),
        }
    }
}

/// Writes each message to `DIR/NAME.eml`, NAME from the Message-ID, so a
/// resend of the same message replaces its file instead of adding one.
#[derive(Debug, Clone)]
pub struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    /// Creates `dir` if needed.
    pub fn new(dir: impl Into<PathBuf>) -> Result<FileTransport, DeliveryError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| DeliveryError::Io(format!("{}: {e}", dir.display())))?;
        Ok(FileTransport { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a message with this Message-ID is written to: the id's
    /// safe characters, plus a short hash when any had to be replaced, so
    /// different ids never share a file.
    pub fn path_for(&self, message_id: &str) -> PathBuf {
        let bare = message_id.trim().trim_start_matches('<').trim_end_matches('>');
        let safe: String = bare
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | '+') { c } else { '_' })
            .take(120)
            .collect();
        let safe = safe.trim_start_matches('.');
        let name = if safe == bare && !safe.is_empty() {
            safe.to_string()
        } else {
            let digest = Sha256::digest(bare.as_bytes());
            let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
            format!("{safe}-{hash}")
        };
        self.dir.join(format!("{name}.eml"))
    }
}

impl Transport for FileTransport {
    fn send(&self, message: &OutgoingMessage) -> Result<Receipt, DeliveryError> {
        let path = self.path_for(&message.message_id);
        let tmp = path.with_extension("eml.tmp");
        let io = |e: std::io::Error| DeliveryError::Io(format!("{}: {e}", path.display()));
        // Write then rename, so a reader never sees half a message.
        std::fs::write(&tmp, &message.data).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(Receipt { detail: path.display().to_string(), delivered: false })
    }
}
