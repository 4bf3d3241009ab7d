//! One folder of a KV mount, a page at a time (LIST with OpenBao's `after` and `limit`): what the
//! walk binds, and how its rows become child names. The walk itself is one SQL statement
//! (`sql::kv_children!`) that seeks from each child to the next, so a page reads one index entry
//! per child it returns, and a sub-folder counts once however many keys it holds.

/// Which part of a folder's listing to return: the names sorted strictly after `after`, at most
/// `limit` of them (OpenBao's LIST parameters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Page<'a> {
    /// Only names sorted after this string (which need not be a name of the folder).
    pub after: Option<&'a str>,
    /// At most this many names; all of them when `None`.
    pub limit: Option<u64>,
}

impl<'a> Page<'a> {
    /// The whole listing.
    pub const ALL: Page<'static> = Page { after: None, limit: None };

    /// The names after `after`, at most `limit`.
    pub fn new(after: Option<&'a str>, limit: Option<u64>) -> Self {
        Page { after, limit }
    }
}

/// The inputs of one walk over folder `prefix`.
pub(crate) struct Walk {
    /// Where the walk starts: `prefix` followed by `after` (cut after its first `/`). The first
    /// child is the one after this path: past the whole folder when it ends in `/`, strictly
    /// after it otherwise.
    pub seed: String,
    /// The most children to return (`i64::MAX`: all of them).
    pub steps: i64,
}

impl Walk {
    /// The walk over `prefix` for `page`.
    pub(crate) fn new(prefix: &str, page: Page<'_>) -> Walk {
        // A child name holds at most one `/`, its last character: every child after `c/x` is
        // also after `c/`, and no child lies between them, so `after` is cut after its first `/`.
        let (after, limit) = (page.after.unwrap_or_default(), page.limit);
        let after = after.find('/').map_or(after, |i| &after[..=i]);
        Walk {
            seed: format!("{prefix}{after}"),
            steps: limit.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX)),
        }
    }
}

/// The child of `prefix` that each path the walk found stands for: its name below `prefix`, up to
/// and including the first `/` (a folder).
pub(crate) fn names(prefix: &str, paths: Vec<String>) -> Vec<String> {
    paths
        .into_iter()
        .filter_map(|p| {
            let rest = p.strip_prefix(prefix)?;
            let name = rest.find('/').map_or(rest, |i| &rest[..=i]);
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_is_the_prefix_and_after_cut_after_its_first_slash() {
        assert_eq!(Walk::new("a/", Page::ALL).seed, "a/");
        assert_eq!(Walk::new("a/", Page::new(Some("c"), None)).seed, "a/c");
        assert_eq!(Walk::new("a/", Page::new(Some("c/"), None)).seed, "a/c/");
        assert_eq!(Walk::new("a/", Page::new(Some("c/y/z"), None)).seed, "a/c/");
        assert_eq!(Walk::new("", Page::new(Some("c"), Some(3))).steps, 3);
        assert_eq!(Walk::new("", Page::ALL).steps, i64::MAX);
        assert_eq!(Walk::new("", Page::new(None, Some(u64::MAX))).steps, i64::MAX);
    }

    #[test]
    fn each_path_stands_for_a_leaf_or_a_folder() {
        let paths = ["a/b", "a/c/d", "a/c", "a/e/"].iter().map(|s| s.to_string()).collect();
        assert_eq!(names("a/", paths), ["b", "c/", "c", "e/"]);
        assert_eq!(names("a/", vec!["a/".into(), "b/x".into()]), Vec::<String>::new());
    }
}
