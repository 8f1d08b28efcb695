//! `tidings render` and `tidings send-test`: one template for one person,
//! exactly as the runner would render it (context, signed links, headers),
//! printed or sent.

use crate::config::Config;
use crate::open::{open_store, workspace};
use anyhow::{Context as _, Result, bail};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::Arc;
use tidings_automation::ProfileView;
use tidings_delivery::{ComposeOptions, compose};
use tidings_model::{Clock, ProfileId, WallClock};
use tidings_render::{Context, EventContext, Mailbox, ProfileContext};
use tidings_store_sqlite::Mode;

/// Which template, for whom, from which data folder.
#[derive(clap::Args, Debug)]
pub struct Target {
    /// The template's name (`templates/NAME.mjml` or `.html` in the data folder).
    pub template: String,
    /// Personalize it for this stored profile (user id or anonymous id) [default: a sample person].
    #[arg(long, conflicts_with = "profile_json")]
    pub profile: Option<String>,
    /// Personalize it for the profile described in this JSON file: an object of traits,
    /// optionally with "segments" (keys), "stage" and "event" ({"name", "properties"}).
    #[arg(long)]
    pub profile_json: Option<PathBuf>,
    /// The data folder.
    #[arg(long, default_value = "./tidings-data")]
    pub data: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    #[command(flatten)]
    pub target: Target,
    /// What to print: the whole message as sent (`eml`), or one part.
    #[arg(long, default_value = "eml", value_parser = ["eml", "html", "text", "subject"])]
    pub part: String,
}

#[derive(clap::Args, Debug)]
pub struct SendTestArgs {
    #[command(flatten)]
    pub target: Target,
    /// Where to send it.
    #[arg(long)]
    pub to: String,
    /// The SMTP server (smtp://host:port) [default: [mail] smtp_url, else an .eml file in DATA/mail].
    #[arg(long)]
    pub smtp: Option<String>,
}

/// The rendered message for one person: (message bytes, the email's parts).
fn build(
    target: &Target,
    config: &Config,
    to_override: Option<&str>,
) -> Result<(tidings_delivery::OutgoingMessage, tidings_render::Email)> {
    let (data, template) = (target.data.as_path(), target.template.as_str());
    let (templates, errors) = crate::workspace::load_templates(data)?;
    if let Some(e) = errors.iter().find(|e| e.contains(&format!("/{template}."))) {
        bail!("{e}");
    }
    let Some(t) = templates.get(template) else {
        let mut known: Vec<&String> = templates.keys().collect();
        known.sort();
        bail!(
            "no template {template:?} in {}/templates; there are: {}",
            data.display(),
            known.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
        );
    };
    let now = WallClock.now();
    let (ctx, pid, address, name) = match (target.profile.as_deref(), target.profile_json.as_ref()) {
        (Some(id), _) => {
            let store = open_store(data, config, Mode::ReadOnly)?;
            let ws = workspace(store.as_ref(), config.workspace_name())?;
            let p = store
                .find_profile(ws, id)?
                .with_context(|| format!("no profile {id:?}; `tidings profile show ID` finds stored ones"))?;
            let history = store.profile_history(ws, p.id)?;
            let view = ProfileView::new(p, &history, now);
            let rules = crate::workspace::load(data, None).map(|d| d.rules).unwrap_or_default();
            let tz = view.time_zone(&jiff::tz::TimeZone::UTC);
            let event = history.iter().rev().filter(|e| e.kind == tidings_model::MessageType::Track).find_map(|e| {
                let name = e.event.as_deref()?;
                (!tidings_model::event::ENGINE_EVENTS.contains(&name)).then(|| EventContext {
                    name: name.to_string(),
                    timestamp: e.timestamp,
                    properties: e.body.properties().clone(),
                })
            });
            // A preview offline, with no engine running: the reference
            // evaluator answers from the history, as `segments eval` does.
            let reference = Reference { rules, input: tidings_engine::ProfileInput::from_stored(&history), now, tz };
            let ctx = view.context(&reference, now, event, &Default::default(), true);
            let name = ctx.profile.traits.get("first_name").and_then(Value::as_str).map(str::to_string);
            (ctx, view.profile.id, view.email().map(str::to_string), name)
        }
        (None, json) => {
            let mut traits: Map<String, Value> = match json {
                Some(f) => {
                    let text = std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
                    match serde_json::from_str::<Value>(&text) {
                        Ok(Value::Object(m)) => m,
                        Ok(_) => bail!("{}: the profile must be a JSON object of traits", f.display()),
                        Err(e) => bail!("{}:{}:{}: {e}", f.display(), e.line(), e.column()),
                    }
                }
                None => serde_json::from_str(r#"{"first_name": "Sam", "email": "sam@example.com"}"#)?,
            };
            let segments = match traits.remove("segments") {
                Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
                _ => Vec::new(),
            };
            let stage = traits.remove("stage").and_then(|v| v.as_str().map(str::to_string));
            let event = traits.remove("event").and_then(|e| {
                Some(EventContext {
                    name: e.get("name")?.as_str()?.to_string(),
                    timestamp: now,
                    properties: e.get("properties").and_then(Value::as_object).cloned().unwrap_or_default(),
                })
            });
            let address = traits.get("email").and_then(Value::as_str).map(str::to_string);
            let name = traits.get("first_name").and_then(Value::as_str).map(str::to_string);
            let ctx = Context {
                profile: ProfileContext { id: Some(ProfileId(0)), traits, segments, stage },
                event,
                now,
                ..Default::default()
            };
            (ctx, ProfileId(0), address, name)
        }
    };
    let address = to_override.map(str::to_string).or(address).unwrap_or_else(|| "sam@example.com".into());
    let to = Mailbox::new(name.as_deref(), &address).map_err(|e| anyhow::anyhow!("the address {address:?}: {e}"))?;
    let from = crate::workspace::from_mailbox(config)?;
    let keys = crate::serve::signing_keys(data, config)?;
    let listen = config.server.listen.clone().unwrap_or_else(|| "127.0.0.1:7411".into());
    let public = config.mail.public_url.clone().unwrap_or_else(|| format!("http://{listen}"));
    let domain = from.address.rsplit_once('@').map_or("localhost", |(_, d)| d).to_string();
    let message_id = format!("test-{}@{domain}", now);
    let envelope = tidings_render::Envelope {
        workspace: tidings_model::WorkspaceId(1),
        profile: pid,
        from: &from,
        to: &to,
        reply_to: None,
        message_id: &message_id,
        message_key: &message_id,
        date: now,
        tracking_base: &public,
        keys: &keys,
        unsubscribe_mailto: None,
        track: true,
    };
    let email = tidings_render::personalize(t, ctx, &envelope)
        .map_err(|e| anyhow::anyhow!("{e}\nfix the template (`tidings check {}` checks them all)", data.display()))?;
    let sender = crate::mail::sender(data, config, keys.clone(), &public)?;
    let options = ComposeOptions { envelope_from: None, dkim: sender.dkim.as_ref(), signed_at: Some(now) };
    let message = compose(&email, &options).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((message, email))
}

pub fn render(a: RenderArgs) -> Result<()> {
    let config = Config::load(&a.target.data)?;
    let (message, email) = build(&a.target, &config, None)?;
    match a.part.as_str() {
        "html" => println!("{}", email.html),
        "text" => println!("{}", email.text),
        "subject" => println!("{}", email.headers.subject),
        _ => print!("{}", String::from_utf8_lossy(&message.data)),
    }
    Ok(())
}

pub fn send_test(a: SendTestArgs) -> Result<()> {
    let config = Config::load(&a.target.data)?;
    let (message, _) = build(&a.target, &config, Some(&a.to))?;
    let clock: Arc<dyn Clock> = Arc::new(WallClock);
    let (transport, described) = crate::mail::transport(&a.target.data, &config, clock, a.smtp.as_deref())?;
    let receipt = transport.send(&message).map_err(|e| anyhow::anyhow!("not sent: {e}"))?;
    println!("sent {} to {} via {described}: {}", a.target.template, a.to, receipt.detail);
    Ok(())
}

/// The segments of one profile from its history by the reference evaluator,
/// for a preview made without a running engine.
struct Reference {
    rules: tidings_rules::Workspace,
    input: tidings_engine::ProfileInput,
    now: tidings_model::Micros,
    tz: jiff::tz::TimeZone,
}

impl tidings_automation::Segments for Reference {
    fn caught_up(&self, _: i64) {}

    fn holds(&self, _: tidings_model::ProfileId, condition: &tidings_rules::Condition) -> Option<bool> {
        Some(tidings_engine::reference::holds(&self.rules, &self.input, condition, self.now, &self.tz))
    }

    fn membership(&self, _: tidings_model::ProfileId) -> (Vec<String>, Option<String>) {
        let e = tidings_engine::reference::evaluate(&self.rules, &self.input, self.now, &self.tz);
        (e.members().map(str::to_string).collect(), e.stages.values().flatten().next().cloned())
    }
}
