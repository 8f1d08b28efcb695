//! Workspace checks of journeys: unique keys, triggers and conditions that
//! name existing segments and stages, templates that exist, event names the
//! workspace has seen (a warning), and steps no path reaches (a warning).

use crate::definition::{Journey, StepKind, Trigger, parse_journey};
use tidings_rules::{Code, Diagnostic, SourceFile, Span, Workspace};

/// Parses and checks journey files against the checked rule workspace.
/// `templates`: the template names that exist (unchecked when `None`);
/// `known_events`: event names the workspace has received (unchecked when `None`).
pub fn check_journeys(
    files: &[SourceFile],
    rules: &Workspace,
    templates: Option<&[String]>,
    known_events: Option<&[String]>,
) -> (Vec<Journey>, Vec<Diagnostic>) {
    let mut journeys: Vec<Journey> = Vec::new();
    let mut diags = Vec::new();
    for f in files {
        let (j, d) = parse_journey(&f.name, &f.text);
        diags.extend(d);
        let Some(j) = j else { continue };
        let mut local = Vec::new();
        if journeys.iter().any(|o| o.key == j.key) {
            local.push(Diagnostic::new(
                Code::DuplicateStepId,
                &f.name,
                Span::new(0, 0),
                format!("journey key {:?} is used by two files", j.key),
            ));
        }
        check_one(&j, &f.text, rules, templates, known_events, &mut local);
        let broken = local.iter().any(Diagnostic::is_error);
        diags.extend(local);
        if !broken {
            journeys.push(j);
        }
    }
    (journeys, diags)
}

fn find(text: &str, needle: &str) -> Span {
    // The first quoted occurrence, for a located diagnostic without spans in the checked form.
    let quoted = format!("\"{needle}\"");
    match text.find(&quoted) {
        Some(i) => Span::new(i + 1, i + 1 + needle.len()),
        None => Span::new(0, 0),
    }
}

fn check_one(
    j: &Journey,
    text: &str,
    rules: &Workspace,
    templates: Option<&[String]>,
    known_events: Option<&[String]>,
    diags: &mut Vec<Diagnostic>,
) {
    let file = j.file.as_str();
    for (c, base) in &j.conditions {
        for mut d in rules.check_condition(c, file, known_events) {
            d.span = Span::new(d.span.start + base, d.span.end + base);
            diags.push(d);
        }
    }
    let event_known = |e: &str| known_events.is_none_or(|k| k.iter().any(|x| x == e));
    match &j.trigger {
        Trigger::SegmentEntered(s) if rules.segment(s).is_none() => {
            let known: Vec<String> = rules.segments().map(|s| format!("`{}`", s.key)).collect();
            diags.push(
                Diagnostic::new(Code::UnknownSegment, file, find(text, s), format!("no segment {s:?} to enter"))
                    .with_expected(known),
            );
        }
        Trigger::StageChanged { set, stage } => match rules.stage_set(set) {
            None => diags.push(Diagnostic::new(
                Code::UnknownStageSet,
                file,
                find(text, set),
                format!("no stage set {set:?}"),
            )),
            Some(ss) => {
                if let Some(st) = stage
                    && !ss.stages.iter().any(|x| x.name == *st)
                {
                    let known: Vec<String> = ss.stages.iter().map(|x| format!("`{}`", x.name)).collect();
                    diags.push(
                        Diagnostic::new(
                            Code::UnknownStage,
                            file,
                            find(text, &format!("{set}.{st}")),
                            format!("stage set {set:?} has no stage {st:?}"),
                        )
                        .with_expected(known),
                    );
                }
            }
        },
        Trigger::Event { name, .. } if !event_known(name) => diags.push(
            Diagnostic::new(
                Code::UnknownEvent,
                file,
                find(text, name),
                format!("the workspace has never received {name:?}"),
            )
            .with_help("check the spelling; it is a warning because the event may simply not have happened yet"),
        ),
        _ => {}
    }
    for step in &j.steps {
        match &step.kind {
            StepKind::Send { template, .. } => {
                if let Some(t) = templates
                    && !t.iter().any(|x| x == template)
                {
                    let known: Vec<String> = t.iter().map(|x| format!("`{x}`")).collect();
                    diags.push(
                        Diagnostic::new(
                            Code::UnknownTemplate,
                            file,
                            find(text, template),
                            format!("no template {template:?}"),
                        )
                        .with_expected(known),
                    );
                }
            }
            StepKind::WaitFor { event, .. } if !event_known(event) => diags.push(Diagnostic::new(
                Code::UnknownEvent,
                file,
                find(text, event),
                format!("the workspace has never received {event:?}"),
            )),
            _ => {}
        }
    }
    // Reachability from the first step.
    let n = j.steps.len();
    let mut seen = vec![false; n];
    let mut stack = if n > 0 { vec![0] } else { vec![] };
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        let s = &j.steps[i];
        let mut next: Vec<Option<usize>> = vec![s.next];
        match &s.kind {
            StepKind::WaitFor { on_event, on_timeout, .. } => next = vec![*on_event, *on_timeout],
            StepKind::Branch { then, otherwise, .. } => next = vec![*then, *otherwise],
            StepKind::Split { arms, .. } => next = arms.iter().map(|a| a.0).collect(),
            StepKind::Exit => next = vec![],
            _ => {}
        }
        stack.extend(next.into_iter().flatten());
    }
    for (i, s) in j.steps.iter().enumerate() {
        if !seen[i] {
            diags.push(
                Diagnostic::new(Code::UnreachableStep, file, s.span, format!("no path reaches step {:?}", s.id))
                    .with_help("point a `next`, `then`, `else` or arm at it, or remove it"),
            );
        }
    }
}
