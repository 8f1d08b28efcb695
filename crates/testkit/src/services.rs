//! The services some tests need: a PostgreSQL server, Chromium, a python3
//! that imports given modules. Each is probed once per process, and a
//! missing one comes with the reason ([`Missing`]).
//!
//! A test binary whose tests need one sets `harness = false` in its
//! `[[test]]` and registers those tests in `main` with [`Harness`] (feature
//! `harness`, on libtest-mimic). A test whose service is missing is reported
//! *ignored*, with the reason, and counted so in the summary; under
//! `CI=true` it fails instead. Filters, `--exact`, `--skip`, `--ignored`,
//! `--include-ignored` and `--list` work as with libtest. The test itself
//! asks for the service again and unwraps it, so with `--ignored` it fails
//! with the same reason.
//!
//! ```text
//! # Cargo.toml
//! [dev-dependencies]
//! tidings-testkit = { workspace = true, features = ["harness"] }
//! [[test]]
//! name = "smtp"
//! harness = false
//!
//! // tests/smtp.rs
//! use tidings_testkit::services::{self, Harness, Need};
//!
//! const PYTHON: Need = Need::Python(&["aiosmtpd"]);
//!
//! fn main() -> std::process::ExitCode {
//!     let mut tests = Harness::from_args();
//!     tests.add("mail_arrives", PYTHON, mail_arrives);
//!     tests.run()
//! }
//!
//! fn mail_arrives() {
//!     let python = services::python(&["aiosmtpd"]).unwrap();
//!     // ... assertions as in any test
//! }
//! ```

use std::collections::BTreeMap;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Why a service is missing: one line that says what to install or set.
/// `Debug` prints the same text, so `unwrap` reads well.
#[derive(Clone, PartialEq, Eq)]
pub struct Missing(String);

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Missing {}

/// What a test needs besides the code under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nothing: an ordinary test in a binary that also holds service tests.
    Nothing,
    /// A PostgreSQL server at [`postgres_url`].
    Postgres,
    /// A Chromium that runs ([`chromium`]).
    Chromium,
    /// A python3 that imports these modules ([`python`]).
    Python(&'static [&'static str]),
    /// Every one of these.
    All(&'static [Need]),
}

impl Need {
    /// Probes for the service (once per process); `Err` says why it is missing.
    pub fn check(self) -> Result<(), Missing> {
        match self {
            Need::Nothing => Ok(()),
            Need::Postgres => postgres().map(drop),
            Need::Chromium => chromium().map(drop),
            Need::Python(modules) => python(modules).map(drop),
            Need::All(needs) => needs.iter().try_for_each(|n| n.check()),
        }
    }
}

/// Whether a missing service fails the test instead of ignoring it (`CI=true`).
pub fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The PostgreSQL the tests use: `TIDINGS_TEST_POSTGRES`, else the local server.
pub fn postgres_url() -> String {
    std::env::var("TIDINGS_TEST_POSTGRES").unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=postgres".into())
}

/// [`postgres_url`] if something listens where it points. Only the socket is
/// probed (testkit links no PostgreSQL client): a server that is there but
/// refuses the login fails the test that connects, as it should.
pub fn postgres() -> Result<String, Missing> {
    static PROBE: OnceLock<Result<String, Missing>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let url = postgres_url();
            let (host, port) = postgres_target(&url);
            let fail = |e: &dyn std::fmt::Display| {
                Missing(format!(
                    "PostgreSQL not reachable at {host}:{port}: {e}; start it, or set TIDINGS_TEST_POSTGRES"
                ))
            };
            if host.starts_with('/') {
                #[cfg(unix)]
                return match std::os::unix::net::UnixStream::connect(format!("{host}/.s.PGSQL.{port}")) {
                    Ok(_) => Ok(url),
                    Err(e) => Err(fail(&e)),
                };
                #[cfg(not(unix))]
                return Err(fail(&"Unix sockets need a Unix"));
            }
            let addrs = (host.as_str(), port).to_socket_addrs().map_err(|e| fail(&e))?;
            let mut last = None;
            for addr in addrs {
                match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                    Ok(_) => return Ok(url),
                    Err(e) => last = Some(e),
                }
            }
            Err(match last {
                Some(e) => fail(&e),
                None => fail(&"the host has no address"),
            })
        })
        .clone()
}

/// The host (or socket folder) and port a libpq connection string or URL names.
fn postgres_target(url: &str) -> (String, u16) {
    let (mut host, mut port) = (None, None);
    if let Some(rest) = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")) {
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let hostport = hostport.split(',').next().unwrap_or("");
        let (h, p) = match hostport.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((h, p)) => (h, p.strip_prefix(':')),
                None => (v6, None),
            },
            None => match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            },
        };
        host = Some(h.to_string()).filter(|h| !h.is_empty());
        port = p.and_then(|p| p.parse().ok());
    } else {
        for pair in url.split_whitespace() {
            let Some((key, value)) = pair.split_once('=') else { continue };
            let value = value.trim_matches('\'');
            let first = value.split(',').next().unwrap_or("");
            match key.trim() {
                "host" if host.is_none() => host = Some(first.to_string()),
                // A numeric address wins over the name for connecting.
                "hostaddr" => host = Some(first.to_string()),
                "port" => port = first.parse().ok(),
                _ => {}
            }
        }
    }
    (host.unwrap_or_else(|| "localhost".into()), port.unwrap_or(5432))
}

/// A Chromium that runs (`--version`): `TIDINGS_TEST_CHROMIUM` if set, else
/// the first of the usual names on the PATH, else `/usr/bin/chromium`.
pub fn chromium() -> Result<PathBuf, Missing> {
    static PROBE: OnceLock<Result<PathBuf, Missing>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let chosen = std::env::var_os("TIDINGS_TEST_CHROMIUM").map(PathBuf::from);
            let candidates: Vec<PathBuf> = match &chosen {
                Some(p) => vec![p.clone()],
                None => ["chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium"]
                    .iter()
                    .map(PathBuf::from)
                    .collect(),
            };
            let runs = |c: &PathBuf| {
                Command::new(c)
                    .arg("--version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            };
            candidates.into_iter().find(runs).ok_or_else(|| {
                Missing(match chosen {
                    Some(p) => format!("TIDINGS_TEST_CHROMIUM={} does not run", p.display()),
                    None => "no chromium on the PATH or at /usr/bin/chromium; apt-get install chromium, or set TIDINGS_TEST_CHROMIUM"
                        .into(),
                })
            })
        })
        .clone()
}

/// A python3 that imports every one of `modules`: `TIDINGS_PYTHON` if set,
/// else `python3` on the PATH, else `/usr/bin/python3`. Probed once per
/// process for each set of modules.
pub fn python(modules: &[&str]) -> Result<String, Missing> {
    static PROBES: Mutex<BTreeMap<Vec<String>, Result<String, Missing>>> = Mutex::new(BTreeMap::new());
    let key: Vec<String> = modules.iter().map(|m| m.to_string()).collect();
    // Held while probing, so that tests starting together probe once.
    let mut probes = PROBES.lock().unwrap_or_else(|e| e.into_inner());
    probes
        .entry(key)
        .or_insert_with(|| {
            let import = format!("import {}", modules.join(", "));
            let candidates =
                std::env::var("TIDINGS_PYTHON").into_iter().chain(["python3".into(), "/usr/bin/python3".into()]);
            for candidate in candidates {
                let ok = Command::new(&candidate)
                    .args(["-c", &import])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if ok {
                    return Ok(candidate);
                }
            }
            // Debian packages a Python module NAME as python3-NAME.
            let packages: Vec<String> = modules.iter().map(|m| format!("python3-{m}")).collect();
            Err(Missing(format!(
                "no python3 that imports {}; apt-get install {}, or set TIDINGS_PYTHON",
                modules.join(", "),
                packages.join(" ")
            )))
        })
        .clone()
}

#[cfg(feature = "harness")]
pub use harness::Harness;

#[cfg(feature = "harness")]
mod harness {
    use super::{Need, required};
    use libtest_mimic::{Arguments, Completion, Trial};

    /// The tests of one `harness = false` binary, run like libtest's.
    pub struct Harness {
        args: Arguments,
        trials: Vec<Trial>,
    }

    impl Harness {
        /// Reads libtest's command line (and `RUST_TEST_THREADS`, which
        /// libtest-mimic does not).
        pub fn from_args() -> Harness {
            let mut args = Arguments::from_args();
            if args.test_threads.is_none() {
                args.test_threads = std::env::var("RUST_TEST_THREADS").ok().and_then(|n| n.parse().ok());
            }
            Harness { args, trials: Vec::new() }
        }

        /// Registers `test` (it passes unless it panics) under `name`. When
        /// `need` is missing the test is ignored with the reason, or fails
        /// under `CI=true`; with `--ignored` or `--include-ignored` it runs.
        pub fn add(&mut self, name: &str, need: Need, test: impl FnOnce() + Send + 'static) {
            let run = move || {
                test();
                Ok(())
            };
            // Probe only for a test that this run may start or list as ignored.
            let dummy = Trial::test(name, || Ok(())).with_ignored_flag(true);
            let probe = !self.args.is_filtered_out(&dummy) && (!self.args.list || self.args.ignored);
            let missing = if probe { need.check().err() } else { None };
            let trial = match missing {
                None => Trial::test(name, run),
                Some(why) if required() => {
                    Trial::test(name, move || Err(format!("required under CI=true: {why}").into()))
                }
                Some(_) if self.args.ignored || self.args.include_ignored => {
                    Trial::test(name, run).with_ignored_flag(true)
                }
                Some(why) => Trial::ignorable_test(name, move || Ok(Completion::ignored_with(why))),
            };
            self.trials.push(trial);
        }

        /// Runs the selected tests, prints libtest's summary, and gives the exit code.
        pub fn run(self) -> std::process::ExitCode {
            libtest_mimic::run(&self.args, self.trials).exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::postgres_target;

    #[test]
    fn postgres_targets_from_strings_and_urls() {
        let t = |s: &str| postgres_target(s);
        assert_eq!(t("host=127.0.0.1 user=postgres dbname=postgres"), ("127.0.0.1".into(), 5432));
        assert_eq!(t("host=127.0.0.1 port=1 user=postgres"), ("127.0.0.1".into(), 1));
        assert_eq!(t("host=db.example hostaddr=10.0.0.5 port=6543"), ("10.0.0.5".into(), 6543));
        assert_eq!(t("host=/var/run/postgresql user=postgres"), ("/var/run/postgresql".into(), 5432));
        assert_eq!(t("user=postgres"), ("localhost".into(), 5432));
        assert_eq!(t("postgres://u:p@db.example:6000/x?sslmode=disable"), ("db.example".into(), 6000));
        assert_eq!(t("postgresql://[::1]:5433/x"), ("::1".into(), 5433));
        assert_eq!(t("postgresql:///x"), ("localhost".into(), 5432));
    }
}
