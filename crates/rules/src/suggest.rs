//! "Did you mean …?": the closest candidate by edit distance.

/// Optimal string alignment distance (Levenshtein plus adjacent
/// transpositions, so `lsat` is one edit from `last`), over characters.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    // Three rolling rows: transpositions look two rows back.
    let mut prev2 = vec![0usize; m + 1];
    let mut prev: Vec<usize> = (0..=m).collect();
    let mut cur = vec![0usize; m + 1];
    for i in 1..=n {
        cur[0] = i;
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[m]
}

/// The candidate closest to `word`, if it is close enough to be a likely typo:
/// at most a third of its length away (at least one edit), comparing without
/// case. Ties go to the earlier candidate.
pub(crate) fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    // Very long inputs cannot be typos of a name and would make the
    // quadratic distance slow.
    if word.len() > 200 {
        return None;
    }
    let lower = word.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c == word || c.len() > 200 {
            continue;
        }
        let d = distance(&lower, &c.to_lowercase());
        let limit = (c.chars().count() / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("lest", "least"), 1);
        assert_eq!(distance("lsat", "last"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("Order Complete", "Order Completed"), 1);
    }

    #[test]
    fn closest_candidates() {
        assert_eq!(closest("lest", ["least", "most"]), Some("least"));
        assert_eq!(closest("adn", ["and", "or", "}"]), Some("and"));
        assert_eq!(closest("xyz", ["least", "most"]), None);
        assert_eq!(closest("order completed", ["Order Completed", "Product Viewed"]), Some("Order Completed"));
    }
}
