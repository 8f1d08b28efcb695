//! Property tests that need the generators of [`crate::arbitrary`]: printing
//! any valid tree and parsing it back gives the same tree, and generated
//! definition sets pass every workspace check.

use proptest::prelude::*;

use crate::arbitrary::{self, Vocabulary};
use crate::*;

fn vocab() -> Vocabulary {
    Vocabulary::default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn conditions_round_trip(c in arbitrary::condition(&vocab())) {
        let text = c.to_string();
        let parsed = match parse_condition(&text) {
            Ok(p) => p,
            Err(e) => {
                let sources = [SourceFile::new(CONDITION_FILE, text.clone())];
                return Err(TestCaseError::fail(render_diagnostics(&e.diagnostics, &sources)));
            }
        };
        prop_assert_eq!(parsed.without_spans(), c.without_spans(), "{}", text);
        // Printing is a fixed point.
        prop_assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn conditions_survive_json(c in arbitrary::condition(&vocab())) {
        let json = serde_json::to_string(&c).unwrap();
        let back: Condition = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, c);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn definitions_round_trip_and_check_cleanly(file in arbitrary::definitions(&vocab())) {
        let text = file.to_string();
        let (parsed, diags) = parse_file("generated.tidings", &text);
        let sources = [SourceFile::new("generated.tidings", text.clone())];
        prop_assert!(diags.is_empty(), "{}\n{}", text, render_diagnostics(&diags, &sources));
        prop_assert_eq!(parsed.without_spans(), file.without_spans());

        // Spans lie on the text: every definition's span starts with its keyword.
        for d in &parsed.definitions {
            let span = d.span();
            let kw = match d { Definition::Segment(_) => "segment", Definition::Stages(_) => "stages" };
            prop_assert!(text[span.start..span.end].starts_with(kw));
            prop_assert_eq!(&text[d.key_span().start..d.key_span().end], d.key());
        }

        let (ws, diags) = check_workspace(&sources, Some(&vocab().events));
        prop_assert!(diags.is_empty(), "{}\n{}", text, render_diagnostics(&diags, &sources));
        prop_assert_eq!(ws.definitions.len(), file.definitions.len());
        // Dependency order: everything a definition refers to comes before it.
        for (i, r) in ws.definitions.iter().enumerate() {
            for dep in &r.depends_on {
                let j = ws.definitions.iter().position(|d| d.definition.key() == dep);
                prop_assert!(j.is_some_and(|j| j < i), "{} before {}", dep, r.definition.key());
            }
        }
    }
}
