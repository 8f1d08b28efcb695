//! Configuration: `tidings.toml` in the data folder, every key overridable
//! by `TIDINGS_SECTION__KEY` in the environment (e.g.
//! `TIDINGS_WORKSPACE__WRITE_KEY`, `TIDINGS_STORAGE__POSTGRES_URL`).

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::path::Path;

pub const FILE_NAME: &str = "tidings.toml";

/// The commented example written into a new data folder.
pub const EXAMPLE: &str = r#"# Tidings configuration. Every key can also be set in the environment as
# TIDINGS_SECTION__KEY, e.g. TIDINGS_WORKSPACE__WRITE_KEY=... or
# TIDINGS_STORAGE__POSTGRES_URL=postgres://... (the environment wins).

[workspace]
# The default workspace, created at first start.
# name = "default"
# Keys for it. When neither is set, keys are generated at first start,
# printed once, and stored hashed. `tidings keys` makes more.
# write_key = "..."
# admin_key = "..."

[storage]
# Leave unset for the embedded store (SQLite in this folder).
# postgres_url = "postgres://postgres@127.0.0.1:5432/tidings"
# postgres_schema = "tidings"
# "full": every acknowledged event survives power loss (fsync per group commit).
# "process": survives a crash of the process, not of the machine; faster on slow disks.
# durability = "full"

[server]
# listen = "127.0.0.1:7411"
# What one client may cost (ARCHITECTURE.md, "Security", lists them all):
# a request head must arrive within header_timeout, its body within
# body_timeout; connections in all (0: what the open-file limit allows) and
# per client address; failed keys per client and minute before 429; ingest
# requests per second per write key (0: no limit).
# header_timeout = "10s"
# body_timeout = "30s"
# max_connections = 0
# max_connections_per_client = 512
# auth_failures_per_minute = 30
# ingest_requests_per_second = 2000

[cluster]
# Several `tidings serve` processes on one PostgreSQL database (same
# configuration, same [tracking] signing_key): give each a node id of its
# own. They split every workspace's profiles into 64 partitions held
# through leases; any node answers any request. ARCHITECTURE.md, "Several
# nodes on one PostgreSQL", says what holds and what does not yet.
# node = "node-1"
# Where the other nodes reach this one's API [default: http:// + the listen address].
# advertise = "http://10.0.0.5:7411"

[tracking]
# The secret that signs tracking and unsubscribe links (32+ characters).
# When unset, one is generated into tracking.key in this folder. Several
# servers sharing PostgreSQL must share it. A comma-separated list rotates
# keys: the first signs, all verify.
# signing_key = "..."

[mail]
# The sender of every message.
# from = "Example Shop <shop@example.com>"
# Where mail goes: an SMTP relay. When unset, messages are written as .eml
# files into mail/ in this folder, to try things out.
# smtp_url = "smtp://127.0.0.1:25"
# At most this many messages per second (unset: as fast as the relay takes them).
# rate = 50
# The public address of this server, for tracking and unsubscribe links
# [default: http:// + the listen address].
# public_url = "https://mail.example.com"
# DKIM signing (relaxed/relaxed): the private key (PEM, RSA), selector and domain.
# dkim_key_file = "dkim.pem"
# dkim_selector = "tidings"
# dkim_domain = "example.com"

[webhooks]
# Journey webhook steps never call this server's own network (loopback,
# private, link-local and metadata addresses, after DNS) unless the host is
# named here: host names, IPs, or either with :port.
# allow = ["crm.internal", "10.0.0.7:8080"]

[predict]
# While serving, refit BG/NBD and Gamma-Gamma on every buyer's orders this
# often and store predicted_clv, p_alive, expected_orders_<horizon> and rfm
# as traits (rules can use them). "off" turns it off.
# every = "1d"
# horizon = "90d"
"#;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub workspace: WorkspaceConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub tracking: TrackingConfig,
    #[serde(default)]
    pub mail: MailConfig,
    #[serde(default)]
    pub predict: PredictConfig,
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    #[serde(default)]
    pub cluster: ClusterConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's id among several sharing one PostgreSQL database.
    pub node: Option<String>,
    /// Where the other nodes reach this node's API.
    pub advertise: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Internal hosts webhook steps may call (a list, or a comma-separated string from the environment).
    #[serde(default, deserialize_with = "list_or_text")]
    pub allow: Vec<String>,
}

/// A list of strings, or one string of comma-separated items (as `TIDINGS_*__*` variables give it).
fn list_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Either::deserialize(d)? {
        Either::List(l) => l,
        Either::Text(t) => t.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictConfig {
    /// How often `serve` refreshes the prediction traits ("off": never) [default: 1d].
    pub every: Option<String>,
    /// How far ahead `expected_orders_<horizon>` looks [default: 90d].
    pub horizon: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    pub from: Option<String>,
    pub smtp_url: Option<String>,
    pub rate: Option<f64>,
    pub public_url: Option<String>,
    pub dkim_key_file: Option<String>,
    pub dkim_selector: Option<String>,
    pub dkim_domain: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingConfig {
    /// Signs tracking links (at least 32 characters); more keys, comma-separated, still verify.
    pub signing_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceConfig {
    pub name: Option<String>,
    pub write_key: Option<String>,
    pub admin_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub postgres_url: Option<String>,
    pub postgres_schema: Option<String>,
    pub durability: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: Option<String>,
    pub header_timeout: Option<String>,
    pub body_timeout: Option<String>,
    #[serde(default, deserialize_with = "number")]
    pub max_connections: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    pub max_connections_per_client: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    pub auth_failures_per_minute: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    pub ingest_requests_per_second: Option<u64>,
}

impl ServerConfig {
    /// The limits of `[server]`, the defaults where unset.
    pub fn limits(&self) -> Result<tidings_server::Limits> {
        let mut l = tidings_server::Limits::default();
        let duration = |name: &str, v: &Option<String>, default: std::time::Duration| -> Result<std::time::Duration> {
            match v {
                None => Ok(default),
                Some(t) => tidings_journeys::definition::parse_duration(t)
                    .filter(|&d| d > 0)
                    .map(|d| std::time::Duration::from_micros(d as u64))
                    .with_context(|| format!("[server] {name} = {t:?}: give a duration like 10s")),
            }
        };
        l.header_timeout = duration("header_timeout", &self.header_timeout, l.header_timeout)?;
        l.body_timeout = duration("body_timeout", &self.body_timeout, l.body_timeout)?;
        let clamp = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        if let Some(n) = self.max_connections {
            l.max_connections = clamp(n);
        }
        if let Some(n) = self.max_connections_per_client {
            l.max_connections_per_client = clamp(n).max(1);
        }
        if let Some(n) = self.auth_failures_per_minute {
            l.auth_failures_per_minute = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(n) = self.ingest_requests_per_second {
            l.ingest_requests_per_second = u32::try_from(n).unwrap_or(u32::MAX);
        }
        Ok(l)
    }
}

/// A whole number, or its text (as `TIDINGS_*__*` variables give it).
fn number<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u64),
        Text(String),
    }
    match Option::<Either>::deserialize(d)? {
        None => Ok(None),
        Some(Either::Number(n)) => Ok(Some(n)),
        Some(Either::Text(t)) => {
            t.trim().parse().map(Some).map_err(|_| serde::de::Error::custom(format!("{t:?} is not a whole number")))
        }
    }
}

impl Config {
    /// Reads `DIR/tidings.toml` (if present), then the environment.
    pub fn load(dir: &Path) -> Result<Config> {
        let path = dir.join(FILE_NAME);
        let mut table = match std::fs::read_to_string(&path) {
            Ok(text) => text.parse::<toml::Table>().with_context(|| format!("{} is not valid TOML", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => toml::Table::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        apply_env(&mut table, std::env::vars())?;
        let config: Config = toml::Value::Table(table).try_into().with_context(|| {
            format!("bad configuration in {} or TIDINGS_* variables; see the comments in the file", path.display())
        })?;
        Ok(config)
    }

    /// Reads `DIR/tidings.toml` only (a workspace folder's own settings:
    /// `[mail]`, `[tracking]`, `[webhooks]`, `[predict]`; the environment
    /// configures the default workspace).
    pub fn load_without_env(dir: &Path) -> Result<Config> {
        let path = dir.join(FILE_NAME);
        let table = match std::fs::read_to_string(&path) {
            Ok(text) => text.parse::<toml::Table>().with_context(|| format!("{} is not valid TOML", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => toml::Table::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        toml::Value::Table(table).try_into().with_context(|| format!("bad configuration in {}", path.display()))
    }

    pub fn workspace_name(&self) -> &str {
        self.workspace.name.as_deref().unwrap_or("default")
    }
}

/// Writes the commented example when the folder has no configuration yet.
pub fn write_example(dir: &Path) -> Result<()> {
    let path = dir.join(FILE_NAME);
    if !path.exists() {
        create_private_dir(dir)?;
        std::fs::write(&path, EXAMPLE).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Creates a data folder (and its parents) readable by its owner only, when
/// it does not exist: it holds personal data and the link-signing secret.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make {} private", dir.display()))?;
    }
    Ok(())
}

fn apply_env(table: &mut toml::Table, vars: impl Iterator<Item = (String, String)>) -> Result<()> {
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix("TIDINGS_") else { continue };
        let Some((section, key)) = rest.split_once("__") else { continue };
        if section.is_empty() || key.is_empty() {
            bail!("environment variable {name} must look like TIDINGS_SECTION__KEY");
        }
        let section = section.to_ascii_lowercase();
        let entry = table.entry(section.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(t) = entry.as_table_mut() else {
            bail!("{name}: `{section}` in tidings.toml is not a section");
        };
        t.insert(key.to_ascii_lowercase(), toml::Value::String(value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_file() {
        let mut t: toml::Table = "[workspace]\nwrite_key = \"from-file\"\nname = \"shop\"".parse().unwrap();
        let vars = [("TIDINGS_WORKSPACE__WRITE_KEY".to_string(), "from-env".to_string())];
        apply_env(&mut t, vars.into_iter()).unwrap();
        let c: Config = toml::Value::Table(t).try_into().unwrap();
        assert_eq!(c.workspace.write_key.as_deref(), Some("from-env"));
        assert_eq!(c.workspace_name(), "shop");
    }

    #[test]
    fn the_example_parses_and_unknown_keys_are_refused() {
        let c: Config = toml::from_str(EXAMPLE).unwrap();
        assert!(c.storage.postgres_url.is_none());
        assert!(toml::from_str::<Config>("[storage]\npostgress_url = \"x\"").is_err());
    }
}
