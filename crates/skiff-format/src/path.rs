//! Paths inside a Velero tarball (§2.3 of the format spec).
//!
//! ```text
//! metadata/version
//! resources/<GR>/namespaces/<ns>/<name>.json
//! resources/<GR>/cluster/<name>.json
//! resources/<GR>/<ver>-preferredversion/{namespaces/<ns>|cluster}/<name>.json
//! resources/<GR>/<ver>/{namespaces/<ns>|cluster}/<name>.json      (EnableAPIGroupVersions)
//! ```

use std::fmt;

use crate::error::shorten;
use crate::{Error, Result};

/// Path of the archive format version entry.
pub const VERSION_PATH: &str = "metadata/version";
/// Suffix of the preferred-version directory.
pub const PREFERRED_SUFFIX: &str = "-preferredversion";

/// One Kubernetes object's place in the archive.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemRef {
    /// `GroupResource.String()`: `pods`, `deployments.apps`, …
    pub group_resource: String,
    /// Namespace, or `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// Object name (verbatim, the file name without `.json`).
    pub name: String,
}

impl ItemRef {
    /// A namespaced item.
    pub fn namespaced(gr: impl Into<String>, ns: impl Into<String>, name: impl Into<String>) -> Self {
        ItemRef {
            group_resource: gr.into(),
            namespace: Some(ns.into()),
            name: name.into(),
        }
    }

    /// A cluster-scoped item.
    pub fn cluster(gr: impl Into<String>, name: impl Into<String>) -> Self {
        ItemRef {
            group_resource: gr.into(),
            namespace: None,
            name: name.into(),
        }
    }

    /// Check the parts can form a safe path (no `/`, not empty, not `.`/`..`, no NUL).
    pub fn validate(&self) -> Result<()> {
        let check = |s: &str, what: &'static str| -> Result<()> {
            if s.is_empty() || s == "." || s == ".." || s.contains('/') || s.contains('\0') {
                return Err(Error::InvalidItem {
                    what: s.to_owned(),
                    reason: what,
                });
            }
            Ok(())
        };
        check(
            &self.group_resource,
            "group-resource must be a single path segment",
        )?;
        if let Some(ns) = &self.namespace {
            check(ns, "namespace must be a single path segment")?;
        }
        check(&self.name, "name must be a single path segment")
    }

    /// The path of this item under `dir`.
    pub fn path(&self, dir: &VersionDir) -> String {
        let scope = match &self.namespace {
            Some(ns) => format!("namespaces/{ns}"),
            None => "cluster".to_owned(),
        };
        match dir {
            VersionDir::Classic => format!("resources/{}/{scope}/{}.json", self.group_resource, self.name),
            VersionDir::Preferred(v) => {
                format!(
                    "resources/{}/{v}{PREFERRED_SUFFIX}/{scope}/{}.json",
                    self.group_resource, self.name
                )
            }
            VersionDir::Version(v) => {
                format!("resources/{}/{v}/{scope}/{}.json", self.group_resource, self.name)
            }
        }
    }

    /// `ns/name` or `name`, as in Velero's resource list.
    pub fn list_key(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

impl fmt::Display for ItemRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{ns}/{}", self.group_resource, self.name),
            None => write!(f, "{}/{}", self.group_resource, self.name),
        }
    }
}

/// Which copy of an item a path holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VersionDir {
    /// `resources/<GR>/{namespaces/<ns>|cluster}/…` — what Velero restores by default.
    Classic,
    /// `resources/<GR>/<ver>-preferredversion/…` — the version part, e.g. `v1`.
    Preferred(String),
    /// `resources/<GR>/<ver>/…` — a non-preferred version (`EnableAPIGroupVersions`).
    Version(String),
}

impl VersionDir {
    /// The API version (without group) when the directory names one.
    pub fn version(&self) -> Option<&str> {
        match self {
            VersionDir::Classic => None,
            VersionDir::Preferred(v) | VersionDir::Version(v) => Some(v),
        }
    }
}

/// What a path in the archive is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathKind {
    /// `metadata/version`.
    Version,
    /// An item file.
    Item(ItemRef, VersionDir),
    /// Anything else (unknown files; Velero skips them with a warning).
    Other,
}

/// Check an entry path for safety: relative, no `..` or `.` segments, no empty segment, no NUL or
/// backslash. A single leading `./` and a trailing `/` (directories) are tolerated; the returned
/// path has them removed.
pub fn sanitize(raw: &str) -> Result<&str> {
    let unsafe_path = |reason| Error::UnsafePath {
        entry: shorten(raw),
        reason,
    };
    if raw.starts_with('/') {
        return Err(unsafe_path("absolute path"));
    }
    if raw.contains('\0') {
        return Err(unsafe_path("NUL byte in path"));
    }
    if raw.contains('\\') {
        return Err(unsafe_path("backslash in path"));
    }
    let p = raw.strip_prefix("./").unwrap_or(raw);
    let p = p.strip_suffix('/').unwrap_or(p);
    if p.is_empty() {
        return Err(unsafe_path("empty path"));
    }
    for seg in p.split('/') {
        match seg {
            "" => return Err(unsafe_path("empty path segment")),
            ".." => return Err(unsafe_path("parent directory segment")),
            "." => return Err(unsafe_path("current directory segment")),
            _ => {}
        }
    }
    Ok(p)
}

/// Classify an already sanitized path.
pub fn parse(path: &str) -> PathKind {
    if path == VERSION_PATH {
        return PathKind::Version;
    }
    let segs: Vec<&str> = path.split('/').collect();
    if segs.len() < 4 || segs[0] != "resources" {
        return PathKind::Other;
    }
    let gr = segs[1];
    let (dir, rest) = match segs[2] {
        "namespaces" | "cluster" => (VersionDir::Classic, &segs[2..]),
        v => match v.strip_suffix(PREFERRED_SUFFIX) {
            Some(ver) if !ver.is_empty() => (VersionDir::Preferred(ver.to_owned()), &segs[3..]),
            Some(_) => return PathKind::Other,
            None => (VersionDir::Version(v.to_owned()), &segs[3..]),
        },
    };
    let (namespace, file) = match rest {
        ["namespaces", ns, file] => (Some((*ns).to_owned()), *file),
        ["cluster", file] => (None, *file),
        _ => return PathKind::Other,
    };
    let Some(name) = file.strip_suffix(".json") else {
        return PathKind::Other;
    };
    if name.is_empty() || gr.is_empty() {
        return PathKind::Other;
    }
    PathKind::Item(
        ItemRef {
            group_resource: gr.to_owned(),
            namespace,
            name: name.to_owned(),
        },
        dir,
    )
}

/// `s` made safe to print on a terminal or in a log line: control characters (C0, DEL, C1),
/// line and paragraph separators, bidirectional overrides and other invisible format
/// characters, and the backslash (so that escapes stay unambiguous), are written as `\u{…}`
/// escapes; everything else is kept.
/// Borrowed when there is nothing to escape (the common case).
pub fn escape_for_display(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            use std::fmt::Write as _;
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}')
}

/// A key under which two paths (or path segments) that a case-insensitive filesystem would
/// store as one file are equal: the Unicode lower case of `s`. For detecting, before writing,
/// two archive entries that extract to the same file on macOS or Windows. It does not cover
/// Unicode normalization (macOS also treats NFC and NFD spellings as one name): a writer that
/// must never overwrite should also create its files exclusively (`create_new`).
pub fn fold_key(s: &str) -> String {
    s.to_lowercase()
}

/// Sanitize then classify.
pub fn parse_checked(raw: &str) -> Result<PathKind> {
    Ok(parse(sanitize(raw)?))
}

/// Parse a version string from `metadata/version` and check the major version is 1.
/// Accepts `1` (Velero before 1.6) and `1.x.y`.
pub fn check_version(content: &[u8]) -> Result<String> {
    let found = String::from_utf8_lossy(content).trim().to_owned();
    let major = found.split('.').next().unwrap_or_default();
    let all_numeric = !found.is_empty()
        && found
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if all_numeric && major == "1" && found.split('.').count() <= 3 {
        Ok(found)
    } else {
        Err(Error::UnsupportedVersion { found })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_all_layouts() {
        let items = [
            ItemRef::namespaced("pods", "app", "db-0"),
            ItemRef::namespaced("deployments.apps", "app", "web"),
            ItemRef::cluster("namespaces", "app"),
            ItemRef::cluster(
                "clusterroles.rbac.authorization.k8s.io",
                "system:controller:job-controller",
            ),
        ];
        let dirs = [
            VersionDir::Classic,
            VersionDir::Preferred("v1".into()),
            VersionDir::Version("v2beta1".into()),
        ];
        for it in &items {
            for d in &dirs {
                let p = it.path(d);
                assert_eq!(
                    parse_checked(&p).unwrap(),
                    PathKind::Item(it.clone(), d.clone()),
                    "{p}"
                );
            }
        }
        assert_eq!(
            items[0].path(&VersionDir::Preferred("v1".into())),
            "resources/pods/v1-preferredversion/namespaces/app/db-0.json"
        );
        assert_eq!(
            items[2].path(&VersionDir::Classic),
            "resources/namespaces/cluster/app.json"
        );
    }

    #[test]
    fn classification() {
        assert_eq!(parse("metadata/version"), PathKind::Version);
        assert_eq!(parse("resources/pods/namespaces/app"), PathKind::Other);
        assert_eq!(parse("resources/pods/namespaces/app/x.yaml"), PathKind::Other);
        assert_eq!(
            parse("resources/pods/-preferredversion/cluster/x.json"),
            PathKind::Other
        );
        assert_eq!(parse("other/file.json"), PathKind::Other);
        assert_eq!(parse("resources/pods/cluster/a/b.json"), PathKind::Other);
    }

    #[test]
    fn unsafe_paths_rejected() {
        for bad in [
            "/etc/passwd",
            "../x",
            "resources/../../x",
            "a//b",
            "a/./b",
            "",
            "a\\b",
        ] {
            assert!(matches!(sanitize(bad), Err(Error::UnsafePath { .. })), "{bad}");
        }
        assert_eq!(sanitize("./resources/").unwrap(), "resources");
        assert_eq!(sanitize("resources/pods/").unwrap(), "resources/pods");
    }

    #[test]
    fn versions() {
        assert_eq!(check_version(b"1.1.0\n").unwrap(), "1.1.0");
        assert_eq!(check_version(b"1").unwrap(), "1");
        assert!(
            matches!(check_version(b"2.0.0\n"), Err(Error::UnsupportedVersion { found }) if found == "2.0.0")
        );
        assert!(check_version(b"banana").is_err());
        assert!(check_version(b"").is_err());
    }

    #[test]
    fn item_validation() {
        assert!(ItemRef::namespaced("pods", "a", "b").validate().is_ok());
        assert!(ItemRef::namespaced("pods", "a/b", "c").validate().is_err());
        assert!(ItemRef::cluster("pods", "..").validate().is_err());
        assert!(ItemRef::cluster("", "x").validate().is_err());
    }
}
