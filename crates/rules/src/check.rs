//! Checks across a whole workspace of definitions files: duplicate keys,
//! references to segments and stages, cycles, event names never received;
//! and the dependency order in which evaluators must compute definitions.
//!
//! Cycles are found as strongly connected components (Tarjan, "Depth-first
//! search and linear graph algorithms", 1972), iteratively so that long
//! chains of definitions cannot exhaust the stack.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::ast::*;
use crate::diagnostic::{Code, Diagnostic, Location};
use crate::parser::Parser;
use crate::print::Quoted;
use crate::suggest::closest;

/// Events the engine records itself; always known, even in a workspace that
/// has received nothing yet.
pub const ENGINE_EVENTS: &[&str] = &[
    "Email Sent",
    "Email Delivered",
    "Email Bounced",
    "Email Opened",
    "Email Clicked",
    "Unsubscribed",
    "Segment Entered",
    "Segment Exited",
    "Stage Changed",
    "Webhook Called",
    "Webhook Failed",
];

/// One definitions file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// How diagnostics name the file, e.g. `rules/segments.tidings`.
    pub name: String,
    pub text: String,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        SourceFile { name: name.into(), text: text.into() }
    }
}

/// The definitions of a workspace that are free of errors, each after every
/// definition it refers to.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Workspace {
    pub definitions: Vec<Resolved>,
}

/// A definition with where it came from and what it refers to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    pub file: String,
    pub definition: Definition,
    /// Keys of the segments and stage sets this one refers to, each once,
    /// in order of first reference.
    pub depends_on: Vec<String>,
}

impl Workspace {
    pub fn get(&self, key: &str) -> Option<&Resolved> {
        self.definitions.iter().find(|r| r.definition.key() == key)
    }

    pub fn segment(&self, key: &str) -> Option<&Segment> {
        match self.get(key).map(|r| &r.definition) {
            Some(Definition::Segment(s)) => Some(s),
            _ => None,
        }
    }

    pub fn stage_set(&self, key: &str) -> Option<&StageSet> {
        match self.get(key).map(|r| &r.definition) {
            Some(Definition::Stages(s)) => Some(s),
            _ => None,
        }
    }

    /// Segments in dependency order.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.definitions.iter().filter_map(|r| match &r.definition {
            Definition::Segment(s) => Some(s),
            Definition::Stages(_) => None,
        })
    }

    /// Stage sets in dependency order.
    pub fn stage_sets(&self) -> impl Iterator<Item = &StageSet> {
        self.definitions.iter().filter_map(|r| match &r.definition {
            Definition::Stages(s) => Some(s),
            Definition::Segment(_) => None,
        })
    }

    /// Checks a condition that lives outside the definitions files (a
    /// journey's entry rule, say) against this workspace: its references
    /// and, when `known_events` is given, its event names. `file` names the
    /// condition's source in the diagnostics.
    pub fn check_condition(
        &self,
        condition: &Condition,
        file: &str,
        known_events: Option<&[String]>,
    ) -> Vec<Diagnostic> {
        let targets = self.definitions.iter().map(|r| Target::of(&r.definition)).collect::<Vec<_>>();
        let resolver = Resolver::new(&targets, HashSet::new());
        let mut diags = Vec::new();
        resolver.resolve(condition, file, &mut diags);
        if let Some(known) = known_events {
            check_events(condition, file, &EventNames::new(known), &mut diags);
        }
        diags
    }
}

/// Parses and checks every file; see the crate docs.
pub fn check_workspace(files: &[SourceFile], known_events: Option<&[String]>) -> (Workspace, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut nodes: Vec<Node> = Vec::new();
    let mut excluded: Vec<bool> = Vec::new();
    let mut broken = HashSet::new();
    for (file, source) in files.iter().enumerate() {
        let mut parser = Parser::new(&source.name, &source.text);
        let parsed = parser.file();
        broken.extend(parser.broken);
        for definition in parsed.definitions {
            let span = definition.span();
            let has_error = parser.diags.iter().any(|d| d.is_error() && span.contains(d.span));
            nodes.push(Node { file, definition });
            excluded.push(has_error);
        }
        diags.extend(parser.diags);
    }

    let own_errors = excluded.clone();
    duplicate_keys(files, &nodes, &mut excluded, &mut diags);

    let targets: Vec<Target> = nodes.iter().map(|n| Target::of(&n.definition)).collect();
    let resolver = Resolver::new(&targets, broken);
    let mut edges: Vec<Vec<(usize, Span)>> = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let name = &files[node.file].name;
        let mut out = Vec::new();
        for c in node.definition.conditions() {
            let (e, unresolved) = resolver.resolve(c, name, &mut diags);
            out.extend(e);
            excluded[i] |= unresolved;
        }
        edges.push(out);
    }
    let keys: Vec<String> = targets.iter().map(|t| t.key.to_string()).collect();
    drop(resolver);
    drop(targets);

    // Definitions with errors of their own get no warnings on top: an event
    // name is best judged once the string around it reads right.
    if let Some(known) = known_events {
        let names = EventNames::new(known);
        for (node, _) in nodes.iter().zip(&own_errors).filter(|(_, e)| !**e) {
            for c in node.definition.conditions() {
                check_events(c, &files[node.file].name, &names, &mut diags);
            }
        }
    }

    let adjacency: Vec<Vec<usize>> = edges.iter().map(|e| e.iter().map(|&(j, _)| j).collect()).collect();
    for component in strongly_connected(&adjacency) {
        let cyclic = component.len() > 1 || adjacency[component[0]].contains(&component[0]);
        if cyclic {
            report_cycle(files, &nodes, &edges, &component, &mut diags);
            for &i in &component {
                excluded[i] = true;
            }
        }
    }

    // Children before parents, so exclusion flows from a definition to
    // everything that depends on it in one pass.
    let order = postorder(&adjacency);
    for &i in &order {
        if adjacency[i].iter().any(|&j| excluded[j]) {
            excluded[i] = true;
        }
    }

    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    let mut definitions = Vec::new();
    for &i in &order {
        let Some(node) = slots[i].take().filter(|_| !excluded[i]) else {
            continue;
        };
        let mut depends_on: Vec<String> = Vec::new();
        for &j in &adjacency[i] {
            if !depends_on.contains(&keys[j]) {
                depends_on.push(keys[j].clone());
            }
        }
        definitions.push(Resolved { file: files[node.file].name.clone(), definition: node.definition, depends_on });
    }

    let file_index: HashMap<&str, usize> = files.iter().enumerate().map(|(i, f)| (f.name.as_str(), i)).collect();
    diags.sort_by_key(|d| (file_index.get(d.file.as_str()).copied().unwrap_or(usize::MAX), d.span.start, d.severity));
    (Workspace { definitions }, diags)
}

struct Node {
    file: usize,
    definition: Definition,
}

fn kind(d: &Definition) -> &'static str {
    match d {
        Definition::Segment(_) => "segment",
        Definition::Stages(_) => "stages",
    }
}

fn location(files: &[SourceFile], file: usize, span: Span) -> String {
    let l = Location::of(&files[file].text, span.start);
    format!("{}:{}:{}", files[file].name, l.line, l.column)
}

/// Reports every definition whose key an earlier one took, and leaves it out.
fn duplicate_keys(files: &[SourceFile], nodes: &[Node], excluded: &mut [bool], diags: &mut Vec<Diagnostic>) {
    let mut first: HashMap<String, usize> = HashMap::new();
    for i in 0..nodes.len() {
        let key = nodes[i].definition.key().to_string();
        match first.get(&key) {
            Some(&j) => {
                let d = Diagnostic::new(
                    Code::DuplicateKey,
                    &files[nodes[i].file].name,
                    nodes[i].definition.key_span(),
                    format!("`{key}` is defined twice"),
                )
                .with_label("defined again here")
                .with_note(format!(
                    "first defined as {} `{key}` at {}",
                    kind(&nodes[j].definition),
                    location(files, nodes[j].file, nodes[j].definition.key_span())
                ))
                .with_help("segment and stage set keys are unique across the workspace");
                diags.push(d);
                excluded[i] = true;
            }
            None => {
                first.insert(key, i);
            }
        }
    }
}

/// What a key names, for resolving references.
struct Target<'a> {
    key: &'a str,
    /// `None` for a segment; the stage names for a stage set.
    stages: Option<Vec<&'a str>>,
}

impl<'a> Target<'a> {
    fn of(d: &'a Definition) -> Target<'a> {
        Target {
            key: d.key(),
            stages: match d {
                Definition::Segment(_) => None,
                Definition::Stages(s) => Some(s.stages.iter().map(|s| s.name.as_str()).collect()),
            },
        }
    }
}

struct Resolver<'a> {
    targets: &'a [Target<'a>],
    /// The first definition of each key.
    by_key: HashMap<&'a str, usize>,
    /// Keys of definitions dropped for syntax errors: references to them are
    /// unresolved but not reported again.
    broken: HashSet<String>,
}

impl<'a> Resolver<'a> {
    fn new(targets: &'a [Target<'a>], broken: HashSet<String>) -> Resolver<'a> {
        let mut by_key = HashMap::new();
        for (i, t) in targets.iter().enumerate() {
            by_key.entry(t.key).or_insert(i);
        }
        Resolver { targets, by_key, broken }
    }

    fn keys(&self, stage_sets: bool) -> impl Iterator<Item = &'a str> + '_ {
        self.targets.iter().filter(move |t| t.stages.is_some() == stage_sets).map(|t| t.key)
    }

    /// The definitions `c` refers to (with the reference's span), and whether
    /// any reference could not be resolved.
    fn resolve(&self, c: &Condition, file: &str, diags: &mut Vec<Diagnostic>) -> (Vec<(usize, Span)>, bool) {
        let mut edges = Vec::new();
        let mut unresolved = false;
        for r in c.segment_refs() {
            match self.by_key.get(r.key.as_str()) {
                Some(&j) if self.targets[j].stages.is_none() => edges.push((j, r.span)),
                Some(_) => {
                    unresolved = true;
                    diags.push(
                        Diagnostic::new(
                            Code::UnknownSegment,
                            file,
                            r.key_span,
                            format!("`{}` is a stage set, not a segment", r.key),
                        )
                        .with_help(format!("refer to one of its stages: `in stage {}.NAME`", r.key)),
                    );
                }
                None => {
                    unresolved = true;
                    if self.broken.contains(&r.key) {
                        continue;
                    }
                    let mut d = Diagnostic::new(
                        Code::UnknownSegment,
                        file,
                        r.key_span,
                        format!("there is no segment `{}`", r.key),
                    )
                    .with_label("unknown segment");
                    if let Some(k) = closest(&r.key, self.keys(false)) {
                        d = d.with_help(format!("did you mean `{k}`?")).with_fix(r.key_span, k);
                    }
                    diags.push(d);
                }
            }
        }
        for r in c.stage_refs() {
            match self.by_key.get(r.set.as_str()) {
                Some(&j) => match &self.targets[j].stages {
                    Some(names) if names.contains(&r.stage.as_str()) => edges.push((j, r.span)),
                    Some(names) => {
                        unresolved = true;
                        let mut d = Diagnostic::new(
                            Code::UnknownStage,
                            file,
                            r.stage_span,
                            format!("the stage set `{}` has no stage `{}`", r.set, r.stage),
                        )
                        .with_label("unknown stage");
                        if let Some(k) = closest(&r.stage, names.iter().copied()) {
                            d = d.with_help(format!("did you mean `{k}`?")).with_fix(r.stage_span, k);
                        }
                        let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                        d = d.with_note(format!("its stages are {}", list.join(", ")));
                        diags.push(d);
                    }
                    None => {
                        unresolved = true;
                        diags.push(
                            Diagnostic::new(
                                Code::UnknownStageSet,
                                file,
                                r.set_span,
                                format!("`{}` is a segment, not a stage set", r.set),
                            )
                            .with_help(format!("write `in segment {}`", r.set))
                            .with_fix(r.span, format!("in segment {}", r.set)),
                        );
                    }
                },
                None => {
                    unresolved = true;
                    if self.broken.contains(&r.set) {
                        continue;
                    }
                    let mut d = Diagnostic::new(
                        Code::UnknownStageSet,
                        file,
                        r.set_span,
                        format!("there is no stage set `{}`", r.set),
                    )
                    .with_label("unknown stage set");
                    if let Some(k) = closest(&r.set, self.keys(true)) {
                        d = d.with_help(format!("did you mean `{k}`?")).with_fix(r.set_span, k);
                    }
                    diags.push(d);
                }
            }
        }
        (edges, unresolved)
    }
}

/// The event names a workspace knows: received ones and the engine's own.
struct EventNames<'a> {
    set: HashSet<&'a str>,
    list: Vec<&'a str>,
}

impl<'a> EventNames<'a> {
    fn new(known: &'a [String]) -> EventNames<'a> {
        let mut list: Vec<&str> = known.iter().map(String::as_str).collect();
        list.extend(ENGINE_EVENTS.iter().copied());
        EventNames { set: list.iter().copied().collect(), list }
    }
}

fn check_events(c: &Condition, file: &str, names: &EventNames<'_>, diags: &mut Vec<Diagnostic>) {
    for m in c.event_matchers() {
        if m.name.is_empty() || names.set.contains(m.name.as_str()) {
            continue;
        }
        let mut d = Diagnostic::new(
            Code::UnknownEvent,
            file,
            m.name_span,
            format!("this workspace has never received the event {}", Quoted(&m.name)),
        )
        .with_label("unknown event");
        if let Some(k) = closest(&m.name, names.list.iter().copied()) {
            let q = Quoted(k).to_string();
            d = d.with_help(format!("did you mean {q}?")).with_fix(m.name_span, q);
        } else {
            d = d.with_note("event names match exactly, including case and spaces");
        }
        diags.push(d);
    }
}

fn report_cycle(
    files: &[SourceFile],
    nodes: &[Node],
    edges: &[Vec<(usize, Span)>],
    component: &[usize],
    diags: &mut Vec<Diagnostic>,
) {
    let Some(&start) = component.iter().min() else {
        return;
    };
    let path = cycle_path(edges, component, start);
    let name = |i: usize| format!("{} `{}`", kind(&nodes[i].definition), nodes[i].definition.key());
    let hop_span = |from: usize, to: usize| {
        edges[from].iter().find(|&&(j, _)| j == to).map_or(nodes[from].definition.key_span(), |&(_, s)| s)
    };
    let chain: Vec<String> = path.iter().map(|&i| format!("`{}`", nodes[i].definition.key())).collect();
    let message = if path.len() == 2 {
        format!("{} refers to itself", name(start))
    } else {
        format!("cycle between definitions: {}", chain.join(" → "))
    };
    let mut d =
        Diagnostic::new(Code::Cycle, &files[nodes[start].file].name, hop_span(start, path[1]), message).with_label(
            format!("`{}` refers to `{}` here", nodes[start].definition.key(), nodes[path[1]].definition.key()),
        );
    for w in path.windows(2).skip(1) {
        let (from, to) = (w[0], w[1]);
        d = d.with_note(format!(
            "{} refers to `{}` at {}",
            name(from),
            nodes[to].definition.key(),
            location(files, nodes[from].file, hop_span(from, to))
        ));
    }
    diags.push(d.with_help("membership cannot depend on itself: remove one of these references"));
}

/// The shortest path `start → … → start` inside a strongly connected
/// component (breadth first, so the message names as few hops as it can).
fn cycle_path(edges: &[Vec<(usize, Span)>], component: &[usize], start: usize) -> Vec<usize> {
    let inside: HashSet<usize> = component.iter().copied().collect();
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &(w, _) in &edges[v] {
            if w == start {
                let mut path = vec![v];
                let mut cur = v;
                while let Some(&p) = parent.get(&cur) {
                    path.push(p);
                    cur = p;
                }
                path.reverse();
                path.push(start);
                return path;
            }
            if inside.contains(&w) && w != start && !parent.contains_key(&w) {
                parent.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    vec![start, start]
}

/// Tarjan's strongly connected components, without recursion.
fn strongly_connected(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const NONE: usize = usize::MAX;
    let n = adj.len();
    let mut index = vec![NONE; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut out = Vec::new();
    for root in 0..n {
        if index[root] != NONE {
            continue;
        }
        let mut calls = vec![(root, 0usize)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&(v, e)) = calls.last() {
            if let Some(&w) = adj[v].get(e) {
                if let Some(top) = calls.last_mut() {
                    top.1 += 1;
                }
                if index[w] == NONE {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(u, _)) = calls.last() {
                low[u] = low[u].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                component.sort_unstable();
                out.push(component);
            }
        }
    }
    out
}

/// Every node after the nodes it points to (ignoring edges that close
/// cycles), visiting roots in index order so the result follows the source
/// where dependencies allow.
fn postorder(adj: &[Vec<usize>]) -> Vec<usize> {
    let n = adj.len();
    let mut state = vec![0u8; n];
    let mut order = Vec::with_capacity(n);
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        state[root] = 1;
        let mut calls = vec![(root, 0usize)];
        while let Some(&(v, e)) = calls.last() {
            if let Some(&w) = adj[v].get(e) {
                if let Some(top) = calls.last_mut() {
                    top.1 += 1;
                }
                if state[w] == 0 {
                    state[w] = 1;
                    calls.push((w, 0));
                }
                continue;
            }
            state[v] = 2;
            order.push(v);
            calls.pop();
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_and_order() {
        // 0 -> 1 -> 2 -> 1, 3 -> 3, 4 -> 0
        let adj = vec![vec![1], vec![2], vec![1], vec![3], vec![0]];
        let mut comps = strongly_connected(&adj);
        comps.sort();
        assert_eq!(comps, vec![vec![0], vec![1, 2], vec![3], vec![4]]);
        let order = postorder(&[vec![1], vec![2], vec![], vec![0]]);
        assert_eq!(order, vec![2, 1, 0, 3]);
    }

    #[test]
    fn cycle_paths_are_shortest() {
        let s = Span::default();
        let edges = vec![vec![(1, s)], vec![(2, s), (0, s)], vec![(0, s)]];
        assert_eq!(cycle_path(&edges, &[0, 1, 2], 0), vec![0, 1, 0]);
        let edges = vec![vec![(1, s)], vec![(2, s)], vec![(0, s)]];
        assert_eq!(cycle_path(&edges, &[0, 1, 2], 0), vec![0, 1, 2, 0]);
        let edges = vec![vec![(0, s)]];
        assert_eq!(cycle_path(&edges, &[0], 0), vec![0, 0]);
    }

    #[test]
    fn long_chains_do_not_recurse() {
        let n = 100_000;
        let adj: Vec<Vec<usize>> = (0..n).map(|i| if i + 1 < n { vec![i + 1] } else { vec![0] }).collect();
        let comps = strongly_connected(&adj);
        assert_eq!(comps.len(), 1);
        assert_eq!(postorder(&adj).len(), n);
    }
}
