//! `tidings check`: validates a workspace's definition files.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use tidings_rules::{SourceFile, check_workspace, has_errors, render_diagnostics};

/// Journey definitions live in `journeys/*.toml`.
pub const JOURNEYS_DIR: &str = "journeys";
/// Templates live in `templates/NAME.mjml` (or `.html`).
pub const TEMPLATES_DIR: &str = "templates";

/// The extension of segment and stage definition files.
pub const RULES_EXT: &str = "rules";

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The folder holding the definitions (*.rules anywhere under it, journeys/*.toml), or one rules file.
    #[arg(default_value = "./tidings-data")]
    pub dir: PathBuf,
}

/// Every `*.rules` file under `dir` (or `dir` itself if it is a file), sorted.
pub fn rule_files(dir: &Path) -> Result<Vec<SourceFile>> {
    let mut paths = Vec::new();
    if dir.is_file() {
        paths.push(dir.to_path_buf());
    } else {
        walk(dir, &mut paths).with_context(|| format!("cannot read {}", dir.display()))?;
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
            Ok(SourceFile::new(p.display().to_string(), text))
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        // Other workspaces' folders hold their own definitions.
        if path.is_dir() && path.file_name().is_some_and(|n| n == crate::serve::WORKSPACES_DIR) {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == RULES_EXT) {
            out.push(path);
        }
    }
    Ok(())
}

/// `journeys/*.toml` under `dir`, sorted.
pub fn journey_files(dir: &Path) -> Result<Vec<SourceFile>> {
    let jdir = dir.join(JOURNEYS_DIR);
    if !jdir.is_dir() {
        return Ok(Vec::new());
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&jdir)
        .with_context(|| format!("cannot read {}", jdir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
            Ok(SourceFile::new(p.display().to_string(), text))
        })
        .collect()
}

/// The names of the templates under `dir/templates` (file stems of .mjml and .html files).
pub fn template_names(dir: &Path) -> Option<Vec<String>> {
    let tdir = dir.join(TEMPLATES_DIR);
    let entries = std::fs::read_dir(&tdir).ok()?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "mjml" || e == "html"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names.dedup();
    Some(names)
}

pub fn run(args: CheckArgs) -> Result<()> {
    if !args.dir.exists() {
        bail!("{} does not exist; give the folder that holds your *.rules files", args.dir.display());
    }
    let files = rule_files(&args.dir)?;
    let journeys = if args.dir.is_dir() { journey_files(&args.dir)? } else { Vec::new() };
    if files.is_empty() && journeys.is_empty() {
        println!("no *.rules or journeys/*.toml files under {}", args.dir.display());
        return Ok(());
    }
    let (workspace, mut diags) = check_workspace(&files, None);
    let templates = template_names(&args.dir);
    let (compiled, template_errors) =
        if args.dir.is_dir() { crate::workspace::load_templates(&args.dir)? } else { Default::default() };
    for e in &template_errors {
        eprintln!("error: {e}");
    }
    let (checked, jdiags) = tidings_journeys::check_journeys(&journeys, &workspace, templates.as_deref(), None);
    diags.extend(jdiags);
    let all: Vec<SourceFile> = files.iter().chain(&journeys).cloned().collect();
    if !diags.is_empty() {
        eprintln!("{}", render_diagnostics(&diags, &all));
    }
    if has_errors(&diags) || !template_errors.is_empty() {
        let n = diags.iter().filter(|d| d.is_error()).count() + template_errors.len();
        bail!("{n} error(s) in the definitions; fix them and run `tidings check` again");
    }
    let segments = workspace.segments().count();
    let stages = workspace.stage_sets().count();
    println!(
        "ok: {} file(s), {segments} segment(s), {stages} stage set(s), {} journey(s), {} template(s)",
        all.len(),
        checked.len(),
        compiled.len()
    );
    Ok(())
}
