//! The syntax tree of a definitions file.
//!
//! Every syntactic construct carries a [`Span`] (byte offsets into the text it
//! was parsed from); names that a diagnostic may point at (keys, event names)
//! carry their own `*_span`. Plain scalars (operators, literal values, flags)
//! are covered by the span of the node that holds them.
//!
//! The tree is shaped for evaluators rather than for the text: defaults are
//! filled in (`did E` has `count` = at least 1 and `window` = ever), parentheses
//! leave no node of their own, and `60%` is the number `0.6`. The serde form
//! (internally tagged, snake_case) is what the API serves.

use serde::{Deserialize, Serialize};

/// A byte range `start..end` in the source text. Spans of trees that were not
/// parsed (generated, or built by hand) are `0..0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The empty span at `pos`, for things the text leaves implicit.
    pub fn at(pos: usize) -> Span {
        Span::new(pos, pos)
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    pub fn contains(self, other: Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// A parsed definitions file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct File {
    pub definitions: Vec<Definition>,
    pub span: Span,
}

/// One top-level block. Segment keys and stage-set keys share one namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Definition {
    Segment(Segment),
    Stages(StageSet),
}

impl Definition {
    pub fn key(&self) -> &str {
        match self {
            Definition::Segment(s) => &s.key,
            Definition::Stages(s) => &s.key,
        }
    }

    pub fn key_span(&self) -> Span {
        match self {
            Definition::Segment(s) => s.key_span,
            Definition::Stages(s) => s.key_span,
        }
    }

    pub fn span(&self) -> Span {
        match self {
            Definition::Segment(s) => s.span,
            Definition::Stages(s) => s.span,
        }
    }

    /// Every condition in the block, in source order.
    pub fn conditions(&self) -> Vec<&Condition> {
        match self {
            Definition::Segment(s) => vec![&s.condition],
            Definition::Stages(s) => s.stages.iter().map(|st| &st.condition).collect(),
        }
    }
}

/// `segment KEY ["Display name"] { CONDITION }`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub key: String,
    pub key_span: Span,
    pub display_name: Option<String>,
    pub condition: Condition,
    pub span: Span,
}

/// `stages KEY { NAME: CONDITION ... }`: a profile is in the first stage whose
/// condition holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSet {
    pub key: String,
    pub key_span: Span,
    pub stages: Vec<Stage>,
    pub span: Span,
}

impl StageSet {
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name == name)
    }
}

/// `NAME: CONDITION` inside a stages block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub name: String,
    pub name_span: Span,
    pub condition: Condition,
    pub span: Span,
}

/// A rule over one profile. See the spec for what each form means. The
/// larger forms are boxed to keep the enum small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Condition {
    /// All operands hold. Always at least two; a chain `a and b and c` is one node.
    And {
        operands: Vec<Condition>,
        span: Span,
    },
    /// Some operand holds. Always at least two.
    Or {
        operands: Vec<Condition>,
        span: Span,
    },
    Not {
        operand: Box<Condition>,
        span: Span,
    },
    Did(Box<Did>),
    Sequence(Box<Sequence>),
    Recency(Box<Recency>),
    Aggregate(Box<Aggregate>),
    Share(Box<Share>),
    ActiveDays(ActiveDays),
    Seen(Seen),
    Trait(TraitTest),
    InSegment(SegmentRef),
    InStage(StageRef),
    Subscribed(Subscribed),
    /// Always holds; only valid as the last stage of a stages block.
    Otherwise {
        span: Span,
    },
}

/// `did E [where P] [COUNT] [WINDOW]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Did {
    pub event: EventMatcher,
    pub count: Count,
    pub window: Window,
    pub span: Span,
}

/// `did A [where P] then [not] B [where Q] within D [matching PROP] [WINDOW]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequence {
    pub first: EventMatcher,
    pub then: EventMatcher,
    /// `then not`: no B followed within D.
    pub negated: bool,
    pub within: Duration,
    /// Both events must have equal values at this path.
    pub matching: Option<PropertyPath>,
    /// Where the first event must fall.
    pub window: Window,
    pub span: Span,
}

/// `first|last E [where P] more|less than D ago`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recency {
    pub which: Which,
    pub event: EventMatcher,
    pub relation: Relation,
    pub ago: Duration,
    pub span: Span,
}

/// `AGG PROP of E [where P] [WINDOW] CMP NUMBER`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub function: AggregateFn,
    pub property: PropertyPath,
    pub event: EventMatcher,
    pub window: Window,
    pub op: CmpOp,
    pub value: f64,
    pub span: Span,
}

/// `share of E [where P] on DAYS [WINDOW] CMP NUMBER`; `value` is a fraction
/// in `0..=1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub event: EventMatcher,
    pub days: Days,
    pub window: Window,
    pub op: CmpOp,
    pub value: f64,
    pub span: Span,
}

/// `active on at least|at most|exactly N days [WINDOW]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveDays {
    pub count: Count,
    pub window: Window,
    pub span: Span,
}

/// `first|last seen more|less than D ago`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    pub which: Which,
    pub relation: Relation,
    pub ago: Duration,
    pub span: Span,
}

/// `trait T CMP VALUE`, `trait T in [..]`, `trait T contains V`, `trait T exists`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraitTest {
    pub path: TraitPath,
    pub test: Test,
    pub span: Span,
}

/// `in segment KEY`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentRef {
    pub key: String,
    pub key_span: Span,
    pub span: Span,
}

/// `in stage SET.STAGE`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRef {
    pub set: String,
    pub set_span: Span,
    pub stage: String,
    pub stage_span: Span,
    pub span: Span,
}

/// `subscribed [to "TOPIC"]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    pub topic: Option<String>,
    pub span: Span,
}

/// An event name and an optional predicate on its properties or context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMatcher {
    pub name: String,
    pub name_span: Span,
    pub predicate: Option<Predicate>,
    pub span: Span,
}

/// A `where` clause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Predicate {
    Test(PropertyTest),
    And { operands: Vec<Predicate>, span: Span },
    Or { operands: Vec<Predicate>, span: Span },
    Not { operand: Box<Predicate>, span: Span },
}

/// One comparison on an event's property or context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyTest {
    pub path: PropertyPath,
    pub test: Test,
    pub span: Span,
}

/// What is asked of a value: shared by `where` predicates and `trait` tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Test {
    /// Numbers compare as numbers, strings as strings; mixed types are false.
    Compare {
        op: CmpOp,
        value: Value,
    },
    In {
        values: Vec<Value>,
    },
    /// Substring of a string, element of an array.
    Contains {
        value: Value,
    },
    Exists,
}

/// A path into an event: `product.brand` (properties) or
/// `context.device.type` (the event context). Never empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyPath {
    pub scope: Scope,
    pub keys: Vec<String>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Properties,
    Context,
}

/// A dotted path into the profile's traits. Never empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraitPath {
    pub keys: Vec<String>,
    pub span: Span,
}

/// A literal. Serialized as the bare JSON value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Number(f64),
    String(String),
}

/// `at least N times` and friends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    pub op: CountOp,
    pub n: u64,
    pub span: Span,
}

impl Count {
    pub fn holds(&self, actual: u64) -> bool {
        self.op.holds(actual, self.n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountOp {
    AtLeast,
    AtMost,
    Exactly,
}

impl CountOp {
    pub fn holds(self, actual: u64, n: u64) -> bool {
        match self {
            CountOp::AtLeast => actual >= n,
            CountOp::AtMost => actual <= n,
            CountOp::Exactly => actual == n,
        }
    }
}

/// Which events count, relative to `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Window {
    /// The whole history.
    Ever { span: Span },
    /// `in last D`: `(now - D, now]`.
    InLast { duration: Duration, span: Span },
    /// `between MIN and MAX ago`: `(now - MAX, now - MIN]`; `min_age < max_age`.
    Between { min_age: Duration, max_age: Duration, span: Span },
    /// `since last E`: after the newest matching E, or the whole history.
    SinceLast { event: Box<EventMatcher>, span: Span },
}

/// A length of time as written: `value` whole `unit`s. Use
/// [`Duration::micros`] for arithmetic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duration {
    pub value: u64,
    pub unit: TimeUnit,
    pub span: Span,
}

impl Duration {
    /// Microseconds, saturating at `i64::MAX` (the parser rejects longer ones).
    pub fn micros(&self) -> i64 {
        i64::try_from(self.value).unwrap_or(i64::MAX).saturating_mul(self.unit.micros())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeUnit {
    #[serde(rename = "s")]
    Seconds,
    #[serde(rename = "m")]
    Minutes,
    #[serde(rename = "h")]
    Hours,
    /// 24 hours, whatever the time zone does.
    #[serde(rename = "d")]
    Days,
    #[serde(rename = "w")]
    Weeks,
}

impl TimeUnit {
    pub const ALL: [TimeUnit; 5] =
        [TimeUnit::Seconds, TimeUnit::Minutes, TimeUnit::Hours, TimeUnit::Days, TimeUnit::Weeks];

    pub fn micros(self) -> i64 {
        const S: i64 = 1_000_000;
        match self {
            TimeUnit::Seconds => S,
            TimeUnit::Minutes => 60 * S,
            TimeUnit::Hours => 3_600 * S,
            TimeUnit::Days => 86_400 * S,
            TimeUnit::Weeks => 604_800 * S,
        }
    }

    pub fn suffix(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "s",
            TimeUnit::Minutes => "m",
            TimeUnit::Hours => "h",
            TimeUnit::Days => "d",
            TimeUnit::Weeks => "w",
        }
    }

    pub fn from_suffix(s: &str) -> Option<TimeUnit> {
        TimeUnit::ALL.into_iter().find(|u| u.suffix() == s)
    }
}

/// The local times a `share` counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Days {
    Weekends {
        span: Span,
    },
    Weekdays {
        span: Span,
    },
    Day {
        day: Weekday,
        span: Span,
    },
    /// `hours FROM to TO`: local hours `FROM <= h < TO`; when `FROM > TO` the
    /// range wraps past midnight (`hours 22 to 6`).
    Hours {
        from: u8,
        to: u8,
        span: Span,
    },
}

impl Days {
    /// Whether a local time on `day` in hour `hour` (0..24) is counted.
    pub fn matches(&self, day: Weekday, hour: u8) -> bool {
        match self {
            Days::Weekends { .. } => matches!(day, Weekday::Saturday | Weekday::Sunday),
            Days::Weekdays { .. } => !matches!(day, Weekday::Saturday | Weekday::Sunday),
            Days::Day { day: d, .. } => *d == day,
            Days::Hours { from, to, .. } if from <= to => *from <= hour && hour < *to,
            Days::Hours { from, to, .. } => hour >= *from || hour < *to,
        }
    }

    pub fn span(&self) -> Span {
        match self {
            Days::Weekends { span } | Days::Weekdays { span } | Days::Day { span, .. } | Days::Hours { span, .. } => {
                *span
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];

    /// The plural the rule language uses: `mondays`.
    pub fn plural(self) -> &'static str {
        match self {
            Weekday::Monday => "mondays",
            Weekday::Tuesday => "tuesdays",
            Weekday::Wednesday => "wednesdays",
            Weekday::Thursday => "thursdays",
            Weekday::Friday => "fridays",
            Weekday::Saturday => "saturdays",
            Weekday::Sunday => "sundays",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Which {
    First,
    Last,
}

/// `more than D ago` (`now - t > D`) or `less than D ago` (`now - t < D`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    MoreThan,
    LessThan,
}

impl Relation {
    /// Whether an event at `t` is `D ago` in this relation, all in micros.
    pub fn holds(self, now: i64, t: i64, d: i64) -> bool {
        let age = now.saturating_sub(t);
        match self {
            Relation::MoreThan => age > d,
            Relation::LessThan => age < d,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateFn {
    Total,
    Average,
    Min,
    Max,
    /// The number of distinct values.
    Distinct,
}

impl AggregateFn {
    pub const ALL: [AggregateFn; 5] =
        [AggregateFn::Total, AggregateFn::Average, AggregateFn::Min, AggregateFn::Max, AggregateFn::Distinct];

    pub fn keyword(self) -> &'static str {
        match self {
            AggregateFn::Total => "total",
            AggregateFn::Average => "average",
            AggregateFn::Min => "min",
            AggregateFn::Max => "max",
            AggregateFn::Distinct => "distinct",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub const ALL: [CmpOp; 6] = [CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge];

    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// `left OP right`; false when the two are unordered (NaN).
    pub fn holds<T: PartialOrd>(self, left: &T, right: &T) -> bool {
        match self {
            CmpOp::Eq => left == right,
            CmpOp::Ne => left != right,
            CmpOp::Lt => left < right,
            CmpOp::Le => left <= right,
            CmpOp::Gt => left > right,
            CmpOp::Ge => left >= right,
        }
    }
}
