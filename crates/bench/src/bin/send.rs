//! Render and send: N personal emails from one playbook template (Liquid
//! over MJML compiled once), each with signed tracking links, a generated
//! text part and RFC 8058 headers, composed as MIME and handed to a local
//! Postfix `smtp-sink`; without DKIM, then with RSA-2048 DKIM. Beside it, in
//! the same run and to the same sink, Python (python-liquid + smtplib) does
//! the same work on the same people with the same compiled HTML.
//!
//! cargo build --release -p tidings-bench && target/release/send [--emails 100000]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use clap::Parser;
use serde_json::{Map, Value, json};
use tidings_delivery::{ComposeOptions, DkimSigner, SmtpConfig, SmtpTransport, ThreadSleeper, Transport, compose};
use tidings_model::{ProfileId, WallClock, WorkspaceId};
use tidings_render::{
    Context, Envelope, Mailbox, Product, ProfileContext, Renderer, SigningKeys, Template, TemplateSource, personalize,
};

/// The product's allocator (see the workspace Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Render and send benchmark: Tidings beside Python, to the same smtp-sink.
#[derive(Parser, Debug)]
struct Args {
    /// Emails per run.
    #[arg(long, default_value_t = 100_000)]
    emails: usize,
    /// The template (a playbook MJML file).
    #[arg(long, default_value = "crates/cli/playbook/templates/cart_reminder.mjml")]
    template: PathBuf,
    /// Threads rendering and sending, each with its own SMTP connection.
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// The RSA key for the DKIM run.
    #[arg(long, default_value = "crates/delivery/tests/fixtures/dkim-test-key.pem")]
    dkim_key: PathBuf,
    /// Postfix's smtp-sink (Debian package `postfix`).
    #[arg(long, default_value = "/usr/sbin/smtp-sink")]
    smtp_sink: PathBuf,
    /// Python processes for the comparison (0 skips it).
    #[arg(long, default_value_t = 2)]
    python_processes: usize,
    /// Emails for the Python runs (they are slow; the rate is what counts).
    #[arg(long, default_value_t = 20_000)]
    python_emails: usize,
}

const NOW: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
const BASE: &str = "https://t.shop.example";
const FIRST: [&str; 8] = ["Zoë", "Ana", "Björn", "Chen", "Dara", "Émile", "Farah", "Giulia"];
const PRODUCTS: [(&str, &str, f64); 6] = [
    ("tent-2p", "Trail Tent 2P", 249.0),
    ("stove", "Camp Stove", 39.5),
    ("mug", "Enamel Mug", 12.0),
    ("lamp", "Headlamp 300", 29.99),
    ("bag", "Down Sleeping Bag", 189.0),
    ("mat", "Sleeping Mat", 54.25),
];

/// One recipient, as both sides see it.
struct Person {
    id: u64,
    first_name: &'static str,
    email: String,
    loyal: bool,
    viewed: Vec<usize>,
}

fn people(n: usize) -> Vec<Person> {
    (0..n as u64)
        .map(|i| Person {
            id: i + 1,
            first_name: FIRST[(i % 8) as usize],
            email: format!("person{i}@example.com"),
            loyal: i % 5 == 0,
            viewed: (0..1 + (i % 3) as usize).map(|k| ((i as usize) * 7 + k * 3) % PRODUCTS.len()).collect(),
        })
        .collect()
}

fn product(k: usize) -> Product {
    let (id, name, price) = PRODUCTS[k];
    Product {
        id: id.into(),
        name: Some(name.into()),
        price: Some(price),
        category: Some("outdoor".into()),
        url: Some(format!("https://shop.example.com/products/{id}")),
        image: Some(format!("https://shop.example.com/img/{id}.jpg")),
    }
}

fn context(p: &Person) -> Context {
    let mut traits = Map::new();
    traits.insert("first_name".into(), json!(p.first_name));
    traits.insert("email".into(), json!(p.email));
    Context {
        profile: ProfileContext {
            id: Some(ProfileId(p.id as i64)),
            traits,
            segments: if p.loyal { vec!["loyal".into()] } else { vec![] },
            stage: None,
        },
        viewed: p.viewed.iter().map(|&k| product(k)).collect(),
        now: NOW,
        ..Context::default()
    }
}

struct Sink {
    child: Child,
    port: u16,
}

impl Sink {
    fn start(bin: &Path) -> Result<Sink> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        // -u: the user it drops to (it refuses to run as root); backlog 1024.
        let mut cmd = Command::new(bin);
        if nix_is_root() {
            cmd.args(["-u", "postfix"]);
        }
        let child = cmd
            .arg(format!("127.0.0.1:{port}"))
            .arg("1024")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("{}: install it with `apt-get install postfix`", bin.display()))?;
        let sink = Sink { child, port };
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(sink);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("smtp-sink did not start listening on port {port}")
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User + system CPU time of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 14th field overall.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // rest starts at field 3 (state, not numeric, skipped by the filter): utime, stime at 11, 12.
    f.get(10).zip(f.get(11)).map_or(0.0, |(u, s)| (u + s) / 100.0)
}

/// The email for `p`: rendered, links tracked, headers built.
fn email_for(setup: &Setup, p: &Person, message_id: &str) -> Result<tidings_render::Email> {
    let to = Mailbox::new(Some(p.first_name), &p.email)?;
    let envelope = Envelope {
        workspace: WorkspaceId(1),
        profile: ProfileId(p.id as i64),
        from: &setup.from,
        to: &to,
        reply_to: None,
        message_id,
        message_key: message_id,
        date: NOW,
        tracking_base: BASE,
        keys: &setup.keys,
        unsubscribe_mailto: None,
        track: true,
    };
    Ok(personalize(&setup.template, context(p), &envelope)?)
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

/// What one run measured.
struct Run {
    seconds: f64,
    emails: usize,
    bytes: u64,
    /// Summed over threads: rendering and composing, DKIM signing, handing over.
    render: Duration,
    sign: Duration,
    send: Duration,
}

impl Run {
    fn rate(&self) -> f64 {
        self.emails as f64 / self.seconds
    }
}

struct Setup {
    template: Template,
    keys: SigningKeys,
    from: Mailbox,
    people: Vec<Person>,
}

/// Renders and sends everything on `threads` threads; without a `port`, stops after composing.
fn run(setup: &Setup, threads: usize, dkim: Option<&DkimSigner>, port: Option<u16>) -> Result<Run> {
    let transport = match port {
        Some(port) => {
            let mut config = SmtpConfig::plain("127.0.0.1", port);
            config.pool_size = threads as u32;
            Some(SmtpTransport::new(&config, Arc::new(WallClock), Arc::new(ThreadSleeper))?)
        }
        None => None,
    };
    let next = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    let (render_ns, sign_ns, send_ns) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let t = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(p) = setup.people.get(i) else { return Ok(()) };
                        let t0 = Instant::now();
                        let email = email_for(setup, p, &format!("<m{}.{}@shop.example>", p.id, NOW))?;
                        let mut out = compose(&email, &ComposeOptions::default())?;
                        let t1 = Instant::now();
                        if let Some(signer) = dkim {
                            out.data = signer.sign(&out.data, NOW)?;
                        }
                        let t2 = Instant::now();
                        if let Some(tr) = &transport {
                            tr.send(&out)?;
                        }
                        let t3 = Instant::now();
                        bytes.fetch_add(out.data.len() as u64, Ordering::Relaxed);
                        render_ns.fetch_add((t1 - t0).as_nanos() as u64, Ordering::Relaxed);
                        sign_ns.fetch_add((t2 - t1).as_nanos() as u64, Ordering::Relaxed);
                        send_ns.fetch_add((t3 - t2).as_nanos() as u64, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| anyhow::anyhow!("a worker panicked"))??;
        }
        Ok(())
    })?;
    let seconds = t.elapsed().as_secs_f64();
    drop(transport);
    let ns = |a: &AtomicU64| Duration::from_nanos(a.load(Ordering::Relaxed));
    Ok(Run {
        seconds,
        emails: setup.people.len(),
        bytes: bytes.load(Ordering::Relaxed),
        render: ns(&render_ns),
        sign: ns(&sign_ns),
        send: ns(&send_ns),
    })
}

/// Runs the Python side; returns (seconds, emails) as it reports them.
fn python(
    setup: &Setup,
    html: &str,
    dir: &Path,
    port: u16,
    processes: usize,
    n: usize,
    dkim: Option<&Path>,
) -> Result<(f64, usize)> {
    let people_file = dir.join("people.ndjson");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&people_file)?);
    for p in setup.people.iter().take(n) {
        let ctx = context(p).to_json();
        writeln!(f, "{}", json!({ "id": p.id, "email": p.email, "name": p.first_name, "context": ctx }))?;
    }
    f.flush()?;
    drop(f);
    let template_file = dir.join("body.liquid.html");
    std::fs::write(&template_file, html)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/send.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .args(["--port", &port.to_string(), "--processes", &processes.to_string()])
        .arg("--people")
        .arg(&people_file)
        .arg("--body")
        .arg(&template_file)
        .args(["--subject", &setup.template.source().subject]);
    if let Some(key) = dkim {
        cmd.arg("--dkim-key").arg(key);
    }
    let out = cmd.stderr(Stdio::inherit()).output().context("python3")?;
    ensure!(out.status.success(), "the Python side failed (pip install python-liquid dkimpy)");
    let v: Value = serde_json::from_slice(&out.stdout).context("the Python side's report")?;
    Ok((v["seconds"].as_f64().unwrap_or(f64::NAN), v["emails"].as_u64().unwrap_or(0) as usize))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.template).with_context(|| format!("{}", args.template.display()))?;
    let name = args.template.file_name().and_then(|n| n.to_str()).unwrap_or("template.mjml");
    let source = TemplateSource::parse(name, &text, None)?;
    let template = Renderer::default().compile(&source)?;
    let Some(html) = template.precompiled_html().map(str::to_string) else {
        bail!("{name}: its MJML is not compiled once (a Liquid tag sits where MJML structure goes); pick another")
    };
    let pem = std::fs::read_to_string(&args.dkim_key).with_context(|| format!("{}", args.dkim_key.display()))?;
    let signer = DkimSigner::from_pem("shop.example", "bench", &pem)?;
    let setup = Setup {
        template,
        keys: SigningKeys::new(vec![b"benchmark-signing-key-32-bytes!!".to_vec()])?,
        from: Mailbox::new(Some("Example Shop"), "news@shop.example")?,
        people: people(args.emails),
    };
    let sink = Sink::start(&args.smtp_sink)?;
    println!(
        "{} personal emails of {name} (Liquid over MJML compiled once, tracked links, open pixel, text part, List-Unsubscribe), {} threads, to smtp-sink on 127.0.0.1:{}",
        args.emails, args.threads, sink.port
    );
    let report = |label: &str, r: &Run| {
        let busy = (r.render + r.sign + r.send).as_secs_f64().max(1e-9);
        println!(
            "{label:<34} {:>7.2} s {:>9.0} emails/s  {:>5.1} KB/email  time: render+compose {:>4.1}%, DKIM {:>4.1}%, SMTP {:>4.1}%",
            r.seconds,
            r.rate(),
            r.bytes as f64 / r.emails as f64 / 1024.0,
            100.0 * r.render.as_secs_f64() / busy,
            100.0 * r.sign.as_secs_f64() / busy,
            100.0 * r.send.as_secs_f64() / busy,
        );
    };
    let only = run(&setup, 2, None, None)?;
    report("tidings render+compose (no send)", &only);
    let plain = run(&setup, args.threads, None, Some(sink.port))?;
    report("tidings render+send", &plain);
    let cpu = cpu_seconds();
    let signed = run(&setup, args.threads, Some(&signer), Some(sink.port))?;
    let cpu = cpu_seconds() - cpu;
    report("tidings render+send, DKIM", &signed);
    // Signing alone, on one core, to say what share of the signed run's CPU it took.
    let sample =
        compose(&email_for(&setup, &setup.people[0], "<sample@shop.example>")?, &ComposeOptions::default())?.data;
    let t = Instant::now();
    for _ in 0..500 {
        std::hint::black_box(signer.sign(&sample, NOW)?);
    }
    let per_signature = t.elapsed().as_secs_f64() / 500.0;
    println!(
        "DKIM (RSA-2048, ring): {:.0} µs a signature on one core = {:.0}% of the signed run's CPU time ({:.1} s of {:.1} s)",
        per_signature * 1e6,
        100.0 * per_signature * signed.emails as f64 / cpu,
        per_signature * signed.emails as f64,
        cpu
    );
    if args.python_processes > 0 {
        let dir = std::env::temp_dir().join(format!("tidings-bench-send-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let n = args.python_emails.min(args.emails);
        let (ps, pn) = python(&setup, &html, &dir, sink.port, args.python_processes, n, None)?;
        let (pds, pdn) = python(&setup, &html, &dir, sink.port, args.python_processes, n, Some(&args.dkim_key))?;
        let _ = std::fs::remove_dir_all(&dir);
        let (pr, pdr) = (pn as f64 / ps, pdn as f64 / pds);
        println!(
            "{:<34} {ps:>7.2} s {pr:>9.0} emails/s  ({pn} emails, {} processes)",
            "python render+send", args.python_processes
        );
        println!("{:<34} {pds:>7.2} s {pdr:>9.0} emails/s", "python render+send, DKIM");
        println!(
            "ratio tidings / python: {:.1}x without DKIM, {:.1}x with DKIM",
            plain.rate() / pr,
            signed.rate() / pdr
        );
    }
    Ok(())
}
