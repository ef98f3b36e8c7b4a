//! Glob matching with the semantics Velero uses for namespace and resource filters:
//! `*` (any run), `?` (one character) and `[...]` classes (with `!`/`^` negation and ranges),
//! no path separator.

/// Whether `pattern` contains a wildcard character.
pub fn has_wildcard(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Match `text` against a glob `pattern`. A malformed class (`[` without `]`) matches literally.
pub fn matches(pattern: &str, text: &str) -> bool {
    // Fast paths for the common filters (`*` and plain names): called once per listed item.
    if pattern == "*" {
        return true;
    }
    if !pattern.contains(['*', '?', '[']) {
        return pattern == text;
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    match_from(&p, &t)
}

fn match_from(p: &[char], t: &[char]) -> bool {
    // Iterative matcher with single-star backtracking (linear in practice).
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' => {
                    if let Some((ok, next)) = class(&p[pi..], t[ti]) {
                        if ok {
                            pi += next;
                            ti += 1;
                            continue;
                        }
                    } else if t[ti] == '[' {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
                c if c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Evaluate a `[...]` class at the start of `p` against `c`: `(matched, pattern chars consumed)`,
/// or `None` when the class is not closed.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if p[i] <= c && c <= p[i + 2] {
                hit = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                hit = true;
            }
            i += 1;
        }
    }
    None
}

/// Velero's include/exclude pair over plain strings: excluded if any exclude matches; otherwise
/// included if the includes are empty, contain `*`, or one matches.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IncludesExcludes {
    /// Include patterns; empty means everything.
    pub includes: Vec<String>,
    /// Exclude patterns.
    pub excludes: Vec<String>,
}

impl IncludesExcludes {
    /// Build from two lists.
    pub fn new(includes: Vec<String>, excludes: Vec<String>) -> Self {
        Self { includes, excludes }
    }

    /// Whether `value` passes.
    pub fn should_include(&self, value: &str) -> bool {
        if self.excludes.iter().any(|p| p == "*" || matches(p, value)) {
            return false;
        }
        self.includes.is_empty() || self.includes.iter().any(|p| p == "*" || matches(p, value))
    }

    /// Whether the filter lets everything through (no excludes, includes empty or `*`).
    pub fn includes_everything(&self) -> bool {
        self.excludes.is_empty() && (self.includes.is_empty() || self.includes.iter().any(|p| p == "*"))
    }

    /// Whether `value` is named by an include pattern (not by "empty means all").
    pub fn explicitly_includes(&self, value: &str) -> bool {
        self.includes.iter().any(|p| p == "*" || matches(p, value))
    }

    /// Whether `value` matches an exclude pattern.
    pub fn explicitly_excludes(&self, value: &str) -> bool {
        self.excludes.iter().any(|p| p == "*" || matches(p, value))
    }
}

/// Reject namespace patterns Velero rejects (`|(){}!,` and `**`), naming the pattern.
pub fn validate_namespace_pattern(pattern: &str) -> Result<(), String> {
    if pattern.contains("**") || pattern.contains(['|', '(', ')', '{', '}', '!', ',']) {
        return Err(format!(
            "invalid namespace pattern {pattern:?}: characters |(){{}}!, and ** are not allowed"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(matches("*", "anything"));
        assert!(matches("app-*", "app-1"));
        assert!(!matches("app-*", "ap-1"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "abbc"));
        assert!(matches("ns-[0-3]", "ns-2"));
        assert!(!matches("ns-[0-3]", "ns-5"));
        assert!(matches("ns-[!0-3]", "ns-5"));
        assert!(matches("*.apps", "deployments.apps"));
        assert!(matches("*a*b*", "xxaxxbxx"));
        assert!(!matches("*a*b", "xxaxxbxx"));
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "exact2"));
    }

    #[test]
    fn includes_excludes() {
        let ie = IncludesExcludes::new(vec![], vec!["kube-*".into()]);
        assert!(ie.should_include("app"));
        assert!(!ie.should_include("kube-system"));
        assert!(!ie.includes_everything());
        let all = IncludesExcludes::new(vec!["*".into()], vec![]);
        assert!(all.includes_everything());
        let some = IncludesExcludes::new(vec!["a".into(), "b*".into()], vec!["bad".into()]);
        assert!(some.should_include("bx"));
        assert!(!some.should_include("bad"));
        assert!(!some.should_include("c"));
    }

    #[test]
    fn namespace_pattern_validation() {
        assert!(validate_namespace_pattern("app-*").is_ok());
        assert!(validate_namespace_pattern("a**").is_err());
        assert!(validate_namespace_pattern("a,b").is_err());
    }
}
