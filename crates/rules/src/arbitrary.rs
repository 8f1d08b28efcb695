//! Proptest strategies for random, valid rules over a small vocabulary: for
//! round-trip tests here and for differential tests of evaluators (the
//! incremental engine against the reference one) elsewhere.
//!
//! Everything generated passes the parser's own checks: durations are
//! positive, `between` windows are not empty, shares lie in `0..=1`, hour
//! ranges are valid, counts never say `at least 0`, `otherwise` appears only
//! as the last stage. Spans are `0..0`. [`definitions`] also keeps references
//! resolvable and acyclic; [`condition`] draws references from the
//! vocabulary as given.
//!
//! Enabled by the `arbitrary` feature.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::{BoxedStrategy, Union};

use crate::ast::*;

/// The words random rules are made of. Keep it small so that generated rules
/// collide: the same events, properties and values show up again and again,
/// which is what makes histories match them.
#[derive(Debug, Clone, PartialEq)]
pub struct Vocabulary {
    pub events: Vec<String>,
    /// Property paths; dots separate keys (`product.brand`).
    pub properties: Vec<String>,
    /// Context paths, without the `context.` prefix (`device.type`).
    pub context: Vec<String>,
    /// Trait paths; dots separate keys.
    pub traits: Vec<String>,
    pub strings: Vec<String>,
    /// Finite numbers.
    pub numbers: Vec<f64>,
    /// Segment keys, for `in segment` and for the segments [`definitions`]
    /// declares (in this order).
    pub segments: Vec<String>,
    /// Stage sets and their stage names, for `in stage`; [`definitions`]
    /// declares the first one.
    pub stage_sets: Vec<(String, Vec<String>)>,
    pub topics: Vec<String>,
}

impl Default for Vocabulary {
    /// A little shop.
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        Vocabulary {
            events: s(&["Product Viewed", "Product Added", "Order Completed", "Email Opened", "Email Clicked"]),
            properties: s(&["category", "price", "revenue", "product.brand", "order_id"]),
            context: s(&["device.type", "locale"]),
            traits: s(&["plan", "age", "address.country", "vip"]),
            strings: s(&["shoes", "bags", "pro", "DE", "mobile", "with \"quotes\" \\ and more"]),
            numbers: vec![0.0, 1.0, 2.5, 10.0, 50.0, 99.99, 500.0, -3.0],
            segments: s(&["browsers", "buyers", "loyal", "lapsed"]),
            stage_sets: vec![("lifecycle".to_string(), s(&["power_user", "customer", "engaged", "dormant"]))],
            topics: s(&["news", "offers"]),
        }
    }
}

/// Random valid conditions: every form of the grammar, nested with `and`,
/// `or` and `not`. References are drawn from `vocab.segments` and
/// `vocab.stage_sets`.
pub fn condition(vocab: &Vocabulary) -> BoxedStrategy<Condition> {
    let stage_refs = vocab
        .stage_sets
        .iter()
        .flat_map(|(set, stages)| stages.iter().map(move |s| (set.clone(), s.clone())))
        .collect();
    condition_with(vocab, vocab.segments.clone(), stage_refs)
}

/// Random valid `where` predicates.
pub fn predicate(vocab: &Vocabulary) -> BoxedStrategy<Predicate> {
    let leaf = (property_path(vocab), test(vocab))
        .prop_map(|(path, test)| Predicate::Test(PropertyTest { path, test, span: Span::default() }))
        .boxed();
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 2..4).prop_map(|operands| Predicate::And { operands, span: Span::default() }),
            vec(inner.clone(), 2..4).prop_map(|operands| Predicate::Or { operands, span: Span::default() }),
            inner.prop_map(|p| Predicate::Not { operand: Box::new(p), span: Span::default() }),
        ]
    })
    .boxed()
}

/// Random valid definition sets: segments that refer only to segments
/// declared before them in `vocab.segments`, a stages block (the first of
/// `vocab.stage_sets`, its last stage `otherwise`) that refers to the
/// segments before it, and segments after it that may also refer to its
/// stages. No cycles, no unknown references; the definitions come out in
/// shuffled order, so dependency order has to be worked out.
pub fn definitions(vocab: &Vocabulary) -> BoxedStrategy<File> {
    let keys = if vocab.segments.is_empty() {
        vec!["s1".to_string(), "s2".to_string(), "s3".to_string()]
    } else {
        vocab.segments.clone()
    };
    let (set_key, stage_names) = vocab
        .stage_sets
        .first()
        .cloned()
        .unwrap_or_else(|| ("lifecycle".to_string(), vec!["a".to_string(), "b".to_string(), "c".to_string()]));
    let vocab = vocab.clone();
    let max = keys.len();
    (1..=max, 0..=max)
        .prop_flat_map(move |(n, split)| {
            let split = split.min(n);
            let mut parts: Vec<BoxedStrategy<Definition>> = Vec::new();
            let stage_refs: Vec<(String, String)> = stage_names.iter().map(|s| (set_key.clone(), s.clone())).collect();
            for (i, key) in keys.iter().enumerate().take(n) {
                let stages = if i < split { Vec::new() } else { stage_refs.clone() };
                parts.push(segment(&vocab, key.clone(), keys[..i].to_vec(), stages));
            }
            let last = stage_names.len().saturating_sub(1);
            let stages: Vec<BoxedStrategy<Stage>> = stage_names
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let name = name.clone();
                    let cond = if i == last {
                        Just(Condition::Otherwise { span: Span::default() }).boxed()
                    } else {
                        condition_with(&vocab, keys[..split].to_vec(), Vec::new())
                    };
                    cond.prop_map(move |condition| Stage {
                        name: name.clone(),
                        name_span: Span::default(),
                        condition,
                        span: Span::default(),
                    })
                    .boxed()
                })
                .collect();
            let set_key = set_key.clone();
            parts.push(
                stages
                    .prop_map(move |stages| {
                        Definition::Stages(StageSet {
                            key: set_key.clone(),
                            key_span: Span::default(),
                            stages,
                            span: Span::default(),
                        })
                    })
                    .boxed(),
            );
            parts.prop_shuffle()
        })
        .prop_map(|definitions| File { definitions, span: Span::default() })
        .boxed()
}

fn segment(
    vocab: &Vocabulary,
    key: String,
    segments: Vec<String>,
    stages: Vec<(String, String)>,
) -> BoxedStrategy<Definition> {
    (option::weighted(0.5, pick(&vocab.strings, "Display")), condition_with(vocab, segments, stages))
        .prop_map(move |(display_name, condition)| {
            Definition::Segment(Segment {
                key: key.clone(),
                key_span: Span::default(),
                display_name,
                condition,
                span: Span::default(),
            })
        })
        .boxed()
}

fn condition_with(
    vocab: &Vocabulary,
    segments: Vec<String>,
    stages: Vec<(String, String)>,
) -> BoxedStrategy<Condition> {
    let sp = Span::default;
    let mut leaves: Vec<BoxedStrategy<Condition>> = vec![
        (event(vocab), count(), window(vocab))
            .prop_map(move |(event, count, window)| Condition::Did(Box::new(Did { event, count, window, span: sp() })))
            .boxed(),
        (
            event(vocab),
            event(vocab),
            any::<bool>(),
            duration(),
            option::weighted(0.3, property_path(vocab)),
            window(vocab),
        )
            .prop_map(move |(first, then, negated, within, matching, window)| {
                Condition::Sequence(Box::new(Sequence { first, then, negated, within, matching, window, span: sp() }))
            })
            .boxed(),
        (which(), event(vocab), relation(), duration())
            .prop_map(move |(which, event, relation, ago)| {
                Condition::Recency(Box::new(Recency { which, event, relation, ago, span: sp() }))
            })
            .boxed(),
        (
            select(AggregateFn::ALL.to_vec()),
            property_path(vocab),
            event(vocab),
            window(vocab),
            select(CmpOp::ALL.to_vec()),
            number(vocab),
        )
            .prop_map(move |(function, property, event, window, op, value)| {
                Condition::Aggregate(Box::new(Aggregate { function, property, event, window, op, value, span: sp() }))
            })
            .boxed(),
        (event(vocab), days(), window(vocab), select(CmpOp::ALL.to_vec()), 0u32..=100)
            .prop_map(move |(event, days, window, op, percent)| {
                Condition::Share(Box::new(Share {
                    event,
                    days,
                    window,
                    op,
                    value: f64::from(percent) / 100.0,
                    span: sp(),
                }))
            })
            .boxed(),
        (count(), window(vocab))
            .prop_map(move |(count, window)| Condition::ActiveDays(ActiveDays { count, window, span: sp() }))
            .boxed(),
        (which(), relation(), duration())
            .prop_map(move |(which, relation, ago)| Condition::Seen(Seen { which, relation, ago, span: sp() }))
            .boxed(),
        (pick(&vocab.traits, "plan"), test(vocab))
            .prop_map(move |(path, test)| {
                Condition::Trait(TraitTest {
                    path: TraitPath { keys: path.split('.').map(String::from).collect(), span: sp() },
                    test,
                    span: sp(),
                })
            })
            .boxed(),
        option::of(pick(&vocab.topics, "news"))
            .prop_map(move |topic| Condition::Subscribed(Subscribed { topic, span: sp() }))
            .boxed(),
    ];
    if !segments.is_empty() {
        leaves.push(
            select(segments)
                .prop_map(move |key| Condition::InSegment(SegmentRef { key, key_span: sp(), span: sp() }))
                .boxed(),
        );
    }
    if !stages.is_empty() {
        leaves.push(
            select(stages)
                .prop_map(move |(set, stage)| {
                    Condition::InStage(StageRef { set, set_span: sp(), stage, stage_span: sp(), span: sp() })
                })
                .boxed(),
        );
    }
    Union::new(leaves)
        .boxed()
        .prop_recursive(3, 16, 3, move |inner| {
            prop_oneof![
                vec(inner.clone(), 2..4).prop_map(move |operands| Condition::And { operands, span: sp() }),
                vec(inner.clone(), 2..4).prop_map(move |operands| Condition::Or { operands, span: sp() }),
                inner.prop_map(move |c| Condition::Not { operand: Box::new(c), span: sp() }),
            ]
        })
        .boxed()
}

fn pick(list: &[String], fallback: &str) -> BoxedStrategy<String> {
    if list.is_empty() { Just(fallback.to_string()).boxed() } else { select(list.to_vec()).boxed() }
}

fn number(vocab: &Vocabulary) -> BoxedStrategy<f64> {
    let finite: Vec<f64> = vocab.numbers.iter().copied().filter(|n| n.is_finite()).collect();
    if finite.is_empty() { Just(1.0).boxed() } else { select(finite).boxed() }
}

fn value(vocab: &Vocabulary) -> BoxedStrategy<Value> {
    prop_oneof![
        3 => pick(&vocab.strings, "x").prop_map(Value::String),
        3 => number(vocab).prop_map(Value::Number),
        1 => any::<bool>().prop_map(Value::Bool),
    ]
    .boxed()
}

fn test(vocab: &Vocabulary) -> BoxedStrategy<Test> {
    prop_oneof![
        4 => (select(CmpOp::ALL.to_vec()), value(vocab))
            .prop_map(|(op, value)| Test::Compare { op, value }),
        2 => vec(value(vocab), 1..4).prop_map(|values| Test::In { values }),
        1 => value(vocab).prop_map(|value| Test::Contains { value }),
        1 => Just(Test::Exists),
    ]
    .boxed()
}

fn property_path(vocab: &Vocabulary) -> BoxedStrategy<PropertyPath> {
    let split = |p: String| p.split('.').map(String::from).collect::<Vec<_>>();
    let props = pick(&vocab.properties, "price").prop_map(move |p| PropertyPath {
        scope: Scope::Properties,
        keys: split(p),
        span: Span::default(),
    });
    let ctx = pick(&vocab.context, "locale").prop_map(move |p| PropertyPath {
        scope: Scope::Context,
        keys: split(p),
        span: Span::default(),
    });
    prop_oneof![4 => props, 1 => ctx].boxed()
}

fn event(vocab: &Vocabulary) -> BoxedStrategy<EventMatcher> {
    (pick(&vocab.events, "Order Completed"), option::weighted(0.3, predicate(vocab)))
        .prop_map(|(name, predicate)| EventMatcher {
            name,
            name_span: Span::default(),
            predicate,
            span: Span::default(),
        })
        .boxed()
}

fn unit() -> impl Strategy<Value = TimeUnit> {
    select(TimeUnit::ALL.to_vec())
}

fn duration() -> impl Strategy<Value = Duration> {
    (1u64..=400, unit()).prop_map(|(value, unit)| Duration { value, unit, span: Span::default() })
}

fn window(vocab: &Vocabulary) -> BoxedStrategy<Window> {
    let between = (0u64..=60, 1u64..=60, unit()).prop_map(|(near, extra, unit)| {
        let d = |value| Duration { value, unit, span: Span::default() };
        Window::Between { min_age: d(near), max_age: d(near + extra), span: Span::default() }
    });
    prop_oneof![
        2 => Just(Window::Ever { span: Span::default() }),
        4 => duration().prop_map(|duration| Window::InLast { duration, span: Span::default() }),
        2 => between,
        1 => event(vocab).prop_map(|e| Window::SinceLast { event: Box::new(e), span: Span::default() }),
    ]
    .boxed()
}

fn count() -> impl Strategy<Value = Count> {
    (select(vec![CountOp::AtLeast, CountOp::AtMost, CountOp::Exactly]), 0u64..=12).prop_map(|(op, n)| Count {
        op,
        // `at least 0` always holds and draws a warning.
        n: if op == CountOp::AtLeast { n.max(1) } else { n },
        span: Span::default(),
    })
}

fn which() -> impl Strategy<Value = Which> {
    select(vec![Which::First, Which::Last])
}

fn relation() -> impl Strategy<Value = Relation> {
    select(vec![Relation::MoreThan, Relation::LessThan])
}

fn days() -> impl Strategy<Value = Days> {
    let sp = Span::default();
    prop_oneof![
        Just(Days::Weekends { span: sp }),
        Just(Days::Weekdays { span: sp }),
        select(Weekday::ALL.to_vec()).prop_map(move |day| Days::Day { day, span: sp }),
        (0u8..24, 0u8..=24).prop_map(move |(from, to)| Days::Hours {
            from,
            to: if from == to { to + 1 } else { to },
            span: sp,
        }),
    ]
}
