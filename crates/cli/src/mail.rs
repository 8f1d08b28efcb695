//! Mail settings (`[mail]` in tidings.toml) made into a transport and a
//! sender for the node's journey runner.

use crate::config::Config;
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::sync::Arc;
use tidings_automation::Sender;
use tidings_delivery::{DkimSigner, FileTransport, SmtpConfig, SmtpTransport, ThreadSleeper, Transport};
use tidings_model::Clock;
use tidings_render::SigningKeys;

/// The folder .eml files go to when no SMTP relay is configured.
pub const MAIL_DIR: &str = "mail";

/// `smtp://host[:port]` (port 25 by default).
pub fn parse_smtp_url(url: &str) -> Result<(String, u16)> {
    let Some(rest) = url.strip_prefix("smtp://") else {
        bail!("smtp_url {url:?} must look like smtp://host:port");
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().with_context(|| format!("smtp_url {url:?}: bad port"))?),
        None => (rest, 25),
    };
    if host.is_empty() {
        bail!("smtp_url {url:?} has no host");
    }
    Ok((host.to_string(), port))
}

/// The configured transport: SMTP when `smtp_url` (or `override_url`) is set, else .eml files.
pub fn transport(
    dir: &Path,
    config: &Config,
    clock: Arc<dyn Clock>,
    override_url: Option<&str>,
) -> Result<(Arc<dyn Transport>, String)> {
    match override_url.or(config.mail.smtp_url.as_deref()) {
        Some(url) => {
            let (host, port) = parse_smtp_url(url)?;
            let mut c = SmtpConfig::plain(&host, port);
            c.rate_per_second = config.mail.rate;
            let t = SmtpTransport::new(&c, clock, Arc::new(ThreadSleeper))
                .map_err(|e| anyhow::anyhow!("[mail] smtp_url {url}: {e}"))?;
            Ok((Arc::new(t), format!("SMTP {host}:{port}")))
        }
        None => {
            let path = dir.join(MAIL_DIR);
            let t = FileTransport::new(&path).map_err(|e| anyhow::anyhow!("cannot use {}: {e}", path.display()))?;
            Ok((Arc::new(t), format!(".eml files in {}", path.display())))
        }
    }
}

/// Who mail comes from, how links are signed and where they point.
pub fn sender(dir: &Path, config: &Config, keys: SigningKeys, public_url: &str) -> Result<Sender> {
    let https = public_url.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    if !https && !tidings_render::headers::is_loopback_http(public_url) {
        bail!(
            "[mail] public_url {public_url:?}: unsubscribe links must be https (RFC 8058); plain http is only for \
             localhost. Set public_url = \"https://...\" in tidings.toml"
        );
    }
    let from = crate::workspace::from_mailbox(config)?;
    let domain = from.address.rsplit_once('@').map_or("localhost", |(_, d)| d).to_string();
    let dkim = match &config.mail.dkim_key_file {
        None => None,
        Some(f) => {
            let path = dir.join(f);
            let pem = std::fs::read_to_string(&path)
                .with_context(|| format!("[mail] dkim_key_file: cannot read {}", path.display()))?;
            let d = config.mail.dkim_domain.clone().unwrap_or_else(|| domain.clone());
            let selector = config.mail.dkim_selector.as_deref().unwrap_or("tidings");
            Some(DkimSigner::from_pem(&d, selector, &pem).map_err(|e| anyhow::anyhow!("[mail] DKIM key: {e}"))?)
        }
    };
    Ok(Sender {
        from,
        envelope_from: None,
        tracking_base: public_url.trim_end_matches('/').to_string(),
        keys: Arc::new(keys),
        dkim,
        message_id_domain: domain,
    })
}
