//! No input makes the parser or the checks panic, hang or overflow the stack,
//! and every diagnostic points inside its text.

use proptest::prelude::*;
use tidings_rules::*;

/// Parses, checks and renders `text`, asserting that every span lies inside it.
fn exercise(text: &str) {
    let files = [SourceFile::new("input.tidings", text)];
    let known = vec!["Order Completed".to_string()];
    let (_, diags) = check_workspace(&files, Some(&known));
    for d in &diags {
        assert!(d.span.start <= d.span.end && d.span.end <= text.len(), "{d:?}");
        assert!(text.is_char_boundary(d.span.start) && text.is_char_boundary(d.span.end));
    }
    let _ = render_diagnostics(&diags, &files);
    let _ = parse_condition(text);
    let (file, diags) = parse_file("input.tidings", text);
    let printed = file.to_string();
    let (again, again_diags) = parse_file("again", &printed);
    // What parsed cleanly prints to text that parses to the same tree.
    if diags.is_empty() {
        assert!(again_diags.is_empty(), "{printed}\n{again_diags:#?}");
        assert_eq!(again.without_spans(), file.without_spans(), "{printed}");
    }
}

const TOKENS: &[&str] = &[
    "segment",
    "stages",
    "did",
    "then",
    "not",
    "within",
    "matching",
    "where",
    "at",
    "least",
    "most",
    "exactly",
    "time",
    "times",
    "in",
    "last",
    "between",
    "and",
    "or",
    "ago",
    "since",
    "ever",
    "first",
    "seen",
    "more",
    "less",
    "than",
    "total",
    "average",
    "min",
    "max",
    "distinct",
    "of",
    "share",
    "on",
    "weekends",
    "mondays",
    "hours",
    "to",
    "active",
    "days",
    "trait",
    "exists",
    "contains",
    "segment",
    "stage",
    "subscribed",
    "otherwise",
    "context",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    ".",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "=",
    "!",
    "\"Order Completed\"",
    "\"a\\\"b\"",
    "\"",
    "7",
    "7d",
    "0d",
    "1.5h",
    "60%",
    "-3",
    "25",
    "99999999999999999999999",
    "x",
    "loyal",
    "lifecycle",
    "#",
    "\n",
    "\t",
    "é",
    "🍰",
    "\\",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..80).prop_map(|t| t.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        exercise(&text);
    }

    #[test]
    fn token_soups_never_panic(text in token_soup()) {
        exercise(&text);
    }

    #[test]
    fn soups_inside_a_segment_never_panic(text in token_soup()) {
        exercise(&format!("segment s {{ {text} }}\nstages l {{ a: {text}\n b: otherwise }}"));
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let n = 10_000;
    let cases = [
        format!("segment s {{ {}did \"A\"{} }}", "(".repeat(n), ")".repeat(n)),
        format!("segment s {{ {}did \"A\" }}", "not ".repeat(n)),
        format!("segment s {{ did \"A\" where {}x exists{} }}", "(".repeat(n), ")".repeat(n)),
        format!("segment s {{ did \"A\" where ({}x exists) }}", "not ".repeat(n)),
        "(".repeat(n),
        "[".repeat(n),
        "{".repeat(n),
    ];
    for text in &cases {
        exercise(text);
        let (_, diags) = parse_file("deep", text);
        assert!(has_errors(&diags));
    }
    let (_, diags) = parse_file("deep", &cases[0]);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code, Code::NestingTooDeep);
}

#[test]
fn nesting_up_to_the_limit_is_fine() {
    let n = MAX_DEPTH;
    let text = format!("segment s {{ {}did \"A\"{} }}", "(".repeat(n), ")".repeat(n));
    let (file, diags) = parse_file("deep", &text);
    assert!(diags.is_empty(), "{diags:#?}");
    assert_eq!(file.definitions.len(), 1);
}

#[test]
fn large_inputs_finish() {
    let segment = "segment s { did \"Order Completed\" at least 2 times in last 30d }\n";
    let text: String = (0..5_000).map(|i| segment.replace("s {", &format!("s{i} {{"))).collect();
    let (file, diags) = parse_file("big", &text);
    assert!(diags.is_empty());
    assert_eq!(file.definitions.len(), 5_000);

    // A long chain of references, each to the one before.
    let chain: String = (0..5_000)
        .map(|i| {
            if i == 0 {
                "segment c0 { subscribed }\n".to_string()
            } else {
                format!("segment c{i} {{ in segment c{} }}\n", i - 1)
            }
        })
        .collect();
    let (ws, diags) = check_workspace(&[SourceFile::new("chain", chain)], None);
    assert!(diags.is_empty());
    assert_eq!(ws.definitions.len(), 5_000);

    let junk = "@".repeat(100_000) + &"zzzz ".repeat(20_000);
    exercise(&junk);
}

#[test]
fn odd_inputs() {
    for text in [
        "",
        "   ",
        "#",
        "\"",
        "\\",
        "segment",
        "segment s",
        "segment s {",
        "segment s { did",
        "segment s { did \"",
        "segment s { did \"A\" in last",
        "segment s { did \"A\" in last 7",
        "stages l {",
        "stages l { a:",
        "stages l { a: otherwise",
        "segment s { in stage",
        "segment s { in stage l.",
        "segment s { trait a. exists }",
        "segment s { trait a in [1, }",
        "segment s { share of \"A\" on hours 999999999999999999999 to 1 > 0 }",
        "segment s { did \"A\" between 18446744073709551615w and 18446744073709551615w ago }",
        "segment s { did \"A\" in last 18446744073709551616d }",
        "\u{feff}segment s { subscribed }",
        "segment s { subscribed }\r\n\r\n",
    ] {
        exercise(text);
    }
}
