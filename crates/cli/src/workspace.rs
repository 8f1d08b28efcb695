//! A workspace's definitions as files in the data folder, loaded and checked
//! together: `*.rules` (segments and stages), `journeys/*.toml` and
//! `templates/NAME.mjml|html` (with optional `NAME.txt`). Used by `serve`,
//! `demo`, `check`, `render` and `send-test`, so they all agree.

use crate::check::{TEMPLATES_DIR, journey_files, rule_files};
use crate::config::Config;
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use tidings_journeys::Journey;
use tidings_render::{Mailbox, Renderer, Template, TemplateSource};
use tidings_rules::{SourceFile, Workspace, check_workspace, has_errors, render_diagnostics};

/// Everything a workspace defines.
pub struct Definitions {
    pub rule_files: Vec<SourceFile>,
    pub rules: Workspace,
    pub journeys: Vec<Journey>,
    pub templates: Templates,
}

impl Definitions {
    /// The topics of the templates, for the preference center.
    pub fn topics(&self) -> Vec<String> {
        self.templates.values().filter_map(|t| t.topic().map(str::to_string)).collect()
    }

    /// What the runner automates: these definitions, the default policies,
    /// UTC for profiles without a time zone, and an optional audience rule.
    pub fn assets(&self, audience: Option<tidings_rules::Condition>) -> tidings_automation::Assets {
        tidings_automation::Assets {
            rules: Arc::new(self.rules.clone()),
            journeys: self.journeys.clone(),
            templates: self.templates.clone(),
            policy: Default::default(),
            default_tz: jiff::tz::TimeZone::UTC,
            audience,
        }
    }
}

/// Compiled templates by name.
pub type Templates = HashMap<String, Arc<Template>>;

/// Compiles every template under `dir/templates`; errors are located (file, line).
pub fn load_templates(dir: &Path) -> Result<(Templates, Vec<String>)> {
    let tdir = dir.join(TEMPLATES_DIR);
    let mut out = HashMap::new();
    let mut errors = Vec::new();
    let Ok(entries) = std::fs::read_dir(&tdir) else { return Ok((out, errors)) };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "mjml" || e == "html"))
        .collect();
    paths.sort();
    let renderer = Renderer::new(Default::default());
    for p in paths {
        let file = p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let contents = std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
        let text = std::fs::read_to_string(p.with_extension("txt")).ok();
        let compiled = TemplateSource::parse(&file, &contents, text.as_deref()).and_then(|s| renderer.compile(&s));
        match compiled {
            Ok(t) => {
                out.insert(t.name().to_string(), Arc::new(t));
            }
            Err(e) => errors.push(format!("{}/{e}", tdir.display())),
        }
    }
    Ok((out, errors))
}

/// Loads and checks the definitions in `dir`; any error stops with every
/// diagnostic printed.
pub fn load(dir: &Path, known_events: Option<&[String]>) -> Result<Definitions> {
    let rule_files = rule_files(dir)?;
    let journeys = if dir.is_dir() { journey_files(dir)? } else { Vec::new() };
    let (rules, mut diags) = check_workspace(&rule_files, known_events);
    let (templates, template_errors) = load_templates(dir)?;
    let mut names: Vec<String> = templates.keys().cloned().collect();
    names.sort();
    let (checked, jdiags) = tidings_journeys::check_journeys(&journeys, &rules, Some(&names), known_events);
    diags.extend(jdiags);
    let all: Vec<SourceFile> = rule_files.iter().chain(&journeys).cloned().collect();
    if !diags.is_empty() {
        eprintln!("{}", render_diagnostics(&diags, &all));
    }
    for e in &template_errors {
        eprintln!("error: {e}");
    }
    if has_errors(&diags) || !template_errors.is_empty() {
        let n = diags.iter().filter(|d| d.is_error()).count() + template_errors.len();
        bail!("{n} error(s) in the definitions in {}; fix them (`tidings check {}`)", dir.display(), dir.display());
    }
    Ok(Definitions { rule_files, rules, journeys: checked, templates })
}

/// The From mailbox of `[mail] from`, e.g. `Example Shop <shop@example.com>`.
pub fn from_mailbox(config: &Config) -> Result<Mailbox> {
    let text = config.mail.from.as_deref().unwrap_or("Tidings <tidings@localhost.localdomain>");
    let (name, address) = match text.rsplit_once('<') {
        Some((n, a)) => (Some(n.trim().trim_matches('"')).filter(|n| !n.is_empty()), a.trim_end_matches('>').trim()),
        None => (None, text.trim()),
    };
    Mailbox::new(name, address).map_err(|e| anyhow::anyhow!("[mail] from {text:?}: {e}; write `Name <address>`"))
}

/// The data folder's rule files for the admin API (`/api/definitions`): it
/// reads and writes `*.rules` there and checks the journeys against new rules.
pub struct FolderDefinitions {
    pub dir: std::path::PathBuf,
}

impl FolderDefinitions {
    fn relative(&self, f: SourceFile) -> SourceFile {
        let name = Path::new(&f.name).strip_prefix(&self.dir).map(|p| p.display().to_string()).unwrap_or(f.name);
        SourceFile { name, text: f.text }
    }
}

impl tidings_node::DefinitionsHost for FolderDefinitions {
    fn rule_files(&self) -> std::result::Result<Vec<SourceFile>, tidings_node::DefinitionsError> {
        let files = rule_files(&self.dir).map_err(|e| tidings_node::DefinitionsError::Read {
            path: self.dir.display().to_string(),
            source: std::io::Error::other(format!("{e:#}")),
        })?;
        Ok(files.into_iter().map(|f| self.relative(f)).collect())
    }

    fn check_rest(
        &self,
        rules: &Workspace,
        known_events: &[String],
    ) -> (Vec<tidings_rules::Diagnostic>, Vec<SourceFile>) {
        let journeys = journey_files(&self.dir).unwrap_or_default();
        let templates = crate::check::template_names(&self.dir);
        let (_, diags) = tidings_journeys::check_journeys(&journeys, rules, templates.as_deref(), Some(known_events));
        (diags, journeys)
    }

    fn write(&self, name: &str, text: &str) -> std::result::Result<(), tidings_node::DefinitionsError> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.new"));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| tidings_node::DefinitionsError::Write { path: path.display().to_string(), source })
    }
}
