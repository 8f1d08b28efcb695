//! Walking the tree: spans, sub-conditions, the events a rule names, and
//! erasing spans so that two trees can be compared by shape alone.

use crate::ast::*;

impl Condition {
    pub fn span(&self) -> Span {
        *self.span_ref()
    }

    fn span_ref(&self) -> &Span {
        match self {
            Condition::And { span, .. }
            | Condition::Or { span, .. }
            | Condition::Not { span, .. }
            | Condition::Otherwise { span } => span,
            Condition::Did(x) => &x.span,
            Condition::Sequence(x) => &x.span,
            Condition::Recency(x) => &x.span,
            Condition::Aggregate(x) => &x.span,
            Condition::Share(x) => &x.span,
            Condition::ActiveDays(x) => &x.span,
            Condition::Seen(x) => &x.span,
            Condition::Trait(x) => &x.span,
            Condition::InSegment(x) => &x.span,
            Condition::InStage(x) => &x.span,
            Condition::Subscribed(x) => &x.span,
        }
    }

    pub(crate) fn span_mut(&mut self) -> &mut Span {
        match self {
            Condition::And { span, .. }
            | Condition::Or { span, .. }
            | Condition::Not { span, .. }
            | Condition::Otherwise { span } => span,
            Condition::Did(x) => &mut x.span,
            Condition::Sequence(x) => &mut x.span,
            Condition::Recency(x) => &mut x.span,
            Condition::Aggregate(x) => &mut x.span,
            Condition::Share(x) => &mut x.span,
            Condition::ActiveDays(x) => &mut x.span,
            Condition::Seen(x) => &mut x.span,
            Condition::Trait(x) => &mut x.span,
            Condition::InSegment(x) => &mut x.span,
            Condition::InStage(x) => &mut x.span,
            Condition::Subscribed(x) => &mut x.span,
        }
    }

    /// The direct sub-conditions of `and`, `or` and `not`.
    pub fn children(&self) -> &[Condition] {
        match self {
            Condition::And { operands, .. } | Condition::Or { operands, .. } => operands,
            Condition::Not { operand, .. } => std::slice::from_ref(operand),
            _ => &[],
        }
    }

    /// Visits this condition and every sub-condition, parents first.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Condition)) {
        // An explicit stack: trees deserialized from JSON are not depth-limited
        // by the parser.
        let mut stack = vec![self];
        while let Some(c) = stack.pop() {
            f(c);
            stack.extend(c.children().iter().rev());
        }
    }

    /// Every event matcher in the rule, including `since last E` windows, in
    /// source order. An evaluator subscribes the rule to these names.
    pub fn event_matchers(&self) -> Vec<&EventMatcher> {
        let mut out = Vec::new();
        self.walk(&mut |c| match c {
            Condition::Did(d) => {
                out.push(&d.event);
                out.extend(d.window.event());
            }
            Condition::Sequence(s) => {
                out.push(&s.first);
                out.push(&s.then);
                out.extend(s.window.event());
            }
            Condition::Recency(r) => out.push(&r.event),
            Condition::Aggregate(a) => {
                out.push(&a.event);
                out.extend(a.window.event());
            }
            Condition::Share(s) => {
                out.push(&s.event);
                out.extend(s.window.event());
            }
            Condition::ActiveDays(a) => out.extend(a.window.event()),
            _ => {}
        });
        out
    }

    /// The `in segment` references, in source order.
    pub fn segment_refs(&self) -> Vec<&SegmentRef> {
        let mut out = Vec::new();
        self.walk(&mut |c| {
            if let Condition::InSegment(r) = c {
                out.push(r);
            }
        });
        out
    }

    /// The `in stage` references, in source order.
    pub fn stage_refs(&self) -> Vec<&StageRef> {
        let mut out = Vec::new();
        self.walk(&mut |c| {
            if let Condition::InStage(r) = c {
                out.push(r);
            }
        });
        out
    }

    /// A copy with every span set to `0..0`, for comparing trees by shape.
    pub fn without_spans(&self) -> Condition {
        let mut c = self.clone();
        c.clear_spans();
        c
    }
}

impl Predicate {
    pub fn span(&self) -> Span {
        match self {
            Predicate::Test(t) => t.span,
            Predicate::And { span, .. } | Predicate::Or { span, .. } | Predicate::Not { span, .. } => *span,
        }
    }

    pub(crate) fn span_mut(&mut self) -> &mut Span {
        match self {
            Predicate::Test(t) => &mut t.span,
            Predicate::And { span, .. } | Predicate::Or { span, .. } | Predicate::Not { span, .. } => span,
        }
    }
}

impl Window {
    pub fn span(&self) -> Span {
        match self {
            Window::Ever { span }
            | Window::InLast { span, .. }
            | Window::Between { span, .. }
            | Window::SinceLast { span, .. } => *span,
        }
    }

    /// The event of `since last E`.
    pub fn event(&self) -> Option<&EventMatcher> {
        match self {
            Window::SinceLast { event, .. } => Some(event),
            _ => None,
        }
    }
}

impl File {
    /// A copy with every span set to `0..0`, for comparing trees by shape
    /// (did a definition change, or only its layout?).
    pub fn without_spans(&self) -> File {
        let mut f = self.clone();
        f.clear_spans();
        f
    }
}

impl Definition {
    pub fn without_spans(&self) -> Definition {
        let mut d = self.clone();
        d.clear_spans();
        d
    }
}

/// Sets every span to `0..0`.
pub(crate) trait ClearSpans {
    fn clear_spans(&mut self);
}

impl<T: ClearSpans> ClearSpans for Option<T> {
    fn clear_spans(&mut self) {
        if let Some(x) = self {
            x.clear_spans();
        }
    }
}

impl<T: ClearSpans> ClearSpans for Vec<T> {
    fn clear_spans(&mut self) {
        self.iter_mut().for_each(ClearSpans::clear_spans);
    }
}

impl<T: ClearSpans> ClearSpans for Box<T> {
    fn clear_spans(&mut self) {
        (**self).clear_spans();
    }
}

impl ClearSpans for Span {
    fn clear_spans(&mut self) {
        *self = Span::default();
    }
}

macro_rules! clear_fields {
    ($ty:ty => $($field:ident),*) => {
        impl ClearSpans for $ty {
            fn clear_spans(&mut self) {
                $( self.$field.clear_spans(); )*
            }
        }
    };
}

clear_fields!(File => definitions, span);
clear_fields!(Segment => key_span, condition, span);
clear_fields!(StageSet => key_span, stages, span);
clear_fields!(Stage => name_span, condition, span);
clear_fields!(Did => event, count, window, span);
clear_fields!(Sequence => first, then, within, matching, window, span);
clear_fields!(Recency => event, ago, span);
clear_fields!(Aggregate => property, event, window, span);
clear_fields!(Share => event, days, window, span);
clear_fields!(ActiveDays => count, window, span);
clear_fields!(Seen => ago, span);
clear_fields!(TraitTest => path, span);
clear_fields!(SegmentRef => key_span, span);
clear_fields!(StageRef => set_span, stage_span, span);
clear_fields!(Subscribed => span);
clear_fields!(EventMatcher => name_span, predicate, span);
clear_fields!(PropertyTest => path, span);
clear_fields!(PropertyPath => span);
clear_fields!(TraitPath => span);
clear_fields!(Count => span);
clear_fields!(Duration => span);

impl ClearSpans for Definition {
    fn clear_spans(&mut self) {
        match self {
            Definition::Segment(s) => s.clear_spans(),
            Definition::Stages(s) => s.clear_spans(),
        }
    }
}

impl ClearSpans for Condition {
    fn clear_spans(&mut self) {
        self.span_mut().clear_spans();
        match self {
            Condition::And { operands, .. } | Condition::Or { operands, .. } => operands.clear_spans(),
            Condition::Not { operand, .. } => operand.clear_spans(),
            Condition::Otherwise { .. } => {}
            Condition::Did(x) => x.clear_spans(),
            Condition::Sequence(x) => x.clear_spans(),
            Condition::Recency(x) => x.clear_spans(),
            Condition::Aggregate(x) => x.clear_spans(),
            Condition::Share(x) => x.clear_spans(),
            Condition::ActiveDays(x) => x.clear_spans(),
            Condition::Seen(x) => x.clear_spans(),
            Condition::Trait(x) => x.clear_spans(),
            Condition::InSegment(x) => x.clear_spans(),
            Condition::InStage(x) => x.clear_spans(),
            Condition::Subscribed(x) => x.clear_spans(),
        }
    }
}

impl ClearSpans for Predicate {
    fn clear_spans(&mut self) {
        self.span_mut().clear_spans();
        match self {
            Predicate::Test(t) => t.clear_spans(),
            Predicate::And { operands, .. } | Predicate::Or { operands, .. } => operands.clear_spans(),
            Predicate::Not { operand, .. } => operand.clear_spans(),
        }
    }
}

impl ClearSpans for Window {
    fn clear_spans(&mut self) {
        match self {
            Window::Ever { span } => span.clear_spans(),
            Window::InLast { duration, span } => {
                duration.clear_spans();
                span.clear_spans();
            }
            Window::Between { min_age, max_age, span } => {
                min_age.clear_spans();
                max_age.clear_spans();
                span.clear_spans();
            }
            Window::SinceLast { event, span } => {
                event.clear_spans();
                span.clear_spans();
            }
        }
    }
}

impl ClearSpans for Days {
    fn clear_spans(&mut self) {
        match self {
            Days::Weekends { span } | Days::Weekdays { span } | Days::Day { span, .. } | Days::Hours { span, .. } => {
                span.clear_spans()
            }
        }
    }
}
