//! `tidings check`: validates a workspace's definition files.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use tidings_rules::{SourceFile, check_workspace, has_errors, render_diagnostics};

/// The extension of segment and stage definition files.
pub const RULES_EXT: &str = "rules";

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The folder holding the definitions (searched recursively for *.rules), or one file.
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
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == RULES_EXT) {
            out.push(path);
        }
    }
    Ok(())
}

pub fn run(args: CheckArgs) -> Result<()> {
    if !args.dir.exists() {
        bail!("{} does not exist; give the folder that holds your *.rules files", args.dir.display());
    }
    let files = rule_files(&args.dir)?;
    if files.is_empty() {
        println!("no *.rules files under {}", args.dir.display());
        return Ok(());
    }
    let (workspace, diags) = check_workspace(&files, None);
    if !diags.is_empty() {
        eprintln!("{}", render_diagnostics(&diags, &files));
    }
    if has_errors(&diags) {
        let n = diags.iter().filter(|d| d.is_error()).count();
        bail!("{n} error(s) in the definitions; fix them and run `tidings check` again");
    }
    let segments = workspace.segments().count();
    let stages = workspace.stage_sets().count();
    println!("ok: {} file(s), {segments} segment(s), {stages} stage set(s)", files.len());
    Ok(())
}
