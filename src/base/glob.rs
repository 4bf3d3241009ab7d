//! Simple `*` globs (any run of characters, `/` included), as Vault uses for bound claims and
//! token-role policy globs.

/// `*` matches any run of characters (including none and `/`); everything else is literal.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if p.get(pi) == Some(&'*') {
            star = Some((pi, ti));
            pi += 1;
        } else if p.get(pi).is_some_and(|c| t.get(ti) == Some(c)) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p.get(pi..).unwrap_or_default().iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_any_run() {
        assert!(glob_match("app-*", "app-prod"));
        assert!(glob_match("*-prod", "app-prod"));
        assert!(glob_match("a*c*e", "abcde"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("app-*", "ap"));
        assert!(!glob_match("exact", "exactly"));
    }
}
