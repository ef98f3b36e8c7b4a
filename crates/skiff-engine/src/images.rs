//! Container images referenced by Kubernetes objects: what a migration must mirror.
//!
//! Three layers, all pure:
//!
//! - [`container_images`] walks one object's JSON and returns every container image it
//!   references: `containers`, `initContainers` and `ephemeralContainers` of Pods, of every pod
//!   template (Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs,
//!   CronJobs' `jobTemplate`, PodTemplates) and of custom resources that embed a pod spec
//!   anywhere. The walk is generic: any array under one of those three keys whose elements are
//!   objects with an `image` string counts, at any depth up to [`MAX_DEPTH`] levels below the
//!   object root. It skips the top-level `metadata` (managed fields, annotations) and `status`
//!   (a Pod's `containerStatuses[].image` is what the node resolved, not what is asked for), and it
//!   does not descend into a container it matched.
//! - [`ImageRef`] parses an image reference with the Docker reference grammar (default registry
//!   `docker.io`, `library/` for single-component Docker Hub names, registry detection by `.`,
//!   `:` or `localhost` in the first component, tag, digest, tag + digest) and tells how the
//!   reference is pinned ([`Pin`]).
//! - [`ImageCollector`] aggregates objects into an [`ImageReport`]: per image *after* the
//!   registry mappings (applied with the restore's rule, [`crate::restore::map_image`]: prefix
//!   match on the reference as written, longest key wins), the number of objects, their
//!   namespaces and kinds, and the references as written. [`skopeo_sync_plan`] renders the report
//!   as `skopeo sync --src yaml` inputs (and `skopeo copy` commands for the rare renamed
//!   repository) that copy exactly the mapped images from their source to their target.
//!
//! Restore rewrites images only in the pod specs of the built-in workload kinds; an image that a
//! mapping moves but that sits in a custom resource or a PodTemplate keeps its original reference
//! on restore. The report says so per image ([`ImageEntry::restore_keeps_original_in`]);
//! [`map_object_images`] rewrites every image the walk finds, for a restore that wants to.

// Kubernetes kind names (CronJobs, PodTemplates, …) appear as prose in these docs.
#![allow(clippy::doc_markdown)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::restore::map_image;

/// How deep below an object's root the walk looks for container lists. Kubernetes objects are
/// shallow (a CronJob's containers sit 6 levels down: `spec.jobTemplate.spec.template.spec.
/// containers`); custom resources that wrap a pod template in a few more levels stay well inside.
/// The bound keeps a pathological document from costing more than its size.
pub const MAX_DEPTH: usize = 32;

/// The registry Docker Hub images live in.
pub const DEFAULT_REGISTRY: &str = "docker.io";
const LEGACY_DEFAULT_REGISTRY: &str = "index.docker.io";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Which list of a pod spec a container is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContainerList {
    /// `initContainers`.
    InitContainers,
    /// `containers`.
    Containers,
    /// `ephemeralContainers`.
    EphemeralContainers,
}

impl ContainerList {
    /// The JSON key.
    pub fn key(self) -> &'static str {
        match self {
            ContainerList::InitContainers => "initContainers",
            ContainerList::Containers => "containers",
            ContainerList::EphemeralContainers => "ephemeralContainers",
        }
    }

    fn from_key(key: &str) -> Option<Self> {
        match key {
            "initContainers" => Some(ContainerList::InitContainers),
            "containers" => Some(ContainerList::Containers),
            "ephemeralContainers" => Some(ContainerList::EphemeralContainers),
            _ => None,
        }
    }
}

/// One container image found in an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerImage<'a> {
    /// JSON pointer (RFC 6901) of the container's `image` field, e.g.
    /// `/spec/template/spec/containers/0/image`.
    pub pointer: String,
    /// The list the container is in.
    pub list: ContainerList,
    /// The container's name (empty when it has none).
    pub container: &'a str,
    /// The image reference as written.
    pub image: &'a str,
}

/// Every container image an object references, in document order (see the module docs for what
/// counts and how deep the walk goes).
pub fn container_images(obj: &Value) -> Vec<ContainerImage<'_>> {
    let mut found = Vec::new();
    let mut path = Vec::new();
    if let Value::Object(map) = obj {
        for (key, value) in map {
            if key == "metadata" || key == "status" {
                continue;
            }
            path.push(escape_pointer(key));
            walk(key, value, 1, &mut path, &mut found);
            path.pop();
        }
    }
    found
}

fn walk<'a>(
    key: &str,
    value: &'a Value,
    depth: usize,
    path: &mut Vec<String>,
    out: &mut Vec<ContainerImage<'a>>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Array(items) => {
            let list = ContainerList::from_key(key);
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                let image = item.get("image").and_then(Value::as_str);
                match (list, image) {
                    (Some(list), Some(image)) if item.is_object() => {
                        let mut pointer = String::new();
                        for seg in &*path {
                            pointer.push('/');
                            pointer.push_str(seg);
                        }
                        pointer.push_str("/image");
                        out.push(ContainerImage {
                            pointer,
                            list,
                            container: item.get("name").and_then(Value::as_str).unwrap_or_default(),
                            image,
                        });
                    }
                    _ => walk("", item, depth + 1, path, out),
                }
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                path.push(escape_pointer(k));
                walk(k, v, depth + 1, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// One image reference rewritten by [`map_object_images`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ImageRewrite {
    /// JSON pointer of the `image` field.
    pub pointer: String,
    /// The list the container is in.
    pub list: ContainerList,
    /// The container's name.
    pub container: String,
    /// The reference before.
    pub from: String,
    /// The reference after.
    pub to: String,
}

/// Rewrites in place every container image of `obj` that the mappings move (restore's rule,
/// [`map_image`]), wherever [`container_images`] finds one — custom resources and PodTemplates
/// included, which restore's own rewrite leaves alone today. Returns the rewrites in document
/// order.
pub fn map_object_images(obj: &mut Value, mappings: &BTreeMap<String, String>) -> Vec<ImageRewrite> {
    if mappings.is_empty() {
        return Vec::new();
    }
    let rewrites: Vec<ImageRewrite> = container_images(obj)
        .into_iter()
        .filter_map(|c| {
            map_image(c.image, mappings).map(|to| ImageRewrite {
                pointer: c.pointer,
                list: c.list,
                container: c.container.to_owned(),
                from: c.image.to_owned(),
                to,
            })
        })
        .collect();
    for r in &rewrites {
        if let Some(field) = obj.pointer_mut(&r.pointer) {
            *field = Value::String(r.to.clone());
        }
    }
    rewrites
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// A parsed image reference: `registry/repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ImageRef {
    /// Registry host (and port): `docker.io`, `registry.example.com:5000`, `localhost`,
    /// `[::1]:5000`.
    pub registry: String,
    /// Repository path inside the registry: `library/nginx`, `team/app`.
    pub repository: String,
    /// Tag, when written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Digest (`sha256:<hex>`), when written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// How an image reference is pinned, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pin {
    /// No tag and no digest: the runtime pulls `latest`.
    NoTag,
    /// The tag `latest`.
    Latest,
    /// A tag other than `latest` (a tag can be moved).
    Tag,
    /// A tag and a digest: the digest decides what is pulled.
    TagAndDigest,
    /// A digest only: immutable.
    Digest,
}

impl Pin {
    /// Whether the reference names immutable content.
    pub fn is_immutable(self) -> bool {
        matches!(self, Pin::Digest | Pin::TagAndDigest)
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pin::NoTag => "no tag",
            Pin::Latest => "latest",
            Pin::Tag => "tag",
            Pin::TagAndDigest => "tag+digest",
            Pin::Digest => "digest",
        })
    }
}

/// An image reference that does not follow the Docker reference grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse image reference {reference:?}: {reason}")]
pub struct ImageRefError {
    /// The reference as given.
    pub reference: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl ImageRef {
    /// Parses a reference as a container runtime does (Docker's normalized reference grammar).
    pub fn parse(reference: &str) -> Result<Self, ImageRefError> {
        let err = |reason| ImageRefError {
            reference: reference.to_owned(),
            reason,
        };
        if reference.is_empty() {
            return Err(err("empty reference"));
        }
        if reference.len() == 64 && reference.bytes().all(is_lower_hex) {
            return Err(err(
                "a bare 64-character hex string is an image id, not a reference",
            ));
        }
        let (rest, digest) = match reference.split_once('@') {
            Some((rest, digest)) => {
                check_digest(digest).map_err(err)?;
                (rest, Some(digest.to_owned()))
            }
            None => (reference, None),
        };
        // A tag is a ':' after the last '/' (a ':' before it is a registry port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &rest[last_slash + i + 1..];
                check_tag(tag).map_err(err)?;
                (&rest[..last_slash + i], Some(tag.to_owned()))
            }
            None => (rest, None),
        };
        let (registry, repository) = split_registry(name);
        if repository.is_empty() {
            return Err(err("empty repository name"));
        }
        if repository.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(err("repository name must be lowercase"));
        }
        check_registry(&registry).map_err(err)?;
        for component in repository.split('/') {
            check_path_component(component).map_err(err)?;
        }
        if registry.len() + 1 + repository.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(err("repository name longer than 255 characters"));
        }
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// How the reference is pinned.
    pub fn pin(&self) -> Pin {
        match (&self.tag, &self.digest) {
            (Some(_), Some(_)) => Pin::TagAndDigest,
            (None, Some(_)) => Pin::Digest,
            (Some(t), None) if t == "latest" => Pin::Latest,
            (Some(_), None) => Pin::Tag,
            (None, None) => Pin::NoTag,
        }
    }

    /// The reference a runtime pulls: with `:latest` added when neither tag nor digest is
    /// written. Two references that pull the same thing have the same canonical form.
    pub fn canonical(&self) -> String {
        if self.tag.is_none() && self.digest.is_none() {
            format!("{}:latest", self.name())
        } else {
            self.to_string()
        }
    }

    /// What a copy of this image must carry over: the digest when there is one (a tag next to a
    /// digest is not what the runtime pulls), else the tag (`latest` when none is written).
    pub fn copy_reference(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for ImageRef {
    type Err = ImageRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// Docker's rule: the first component is a registry when it contains `.` or `:`, is
/// `localhost`, or has an uppercase letter (repository paths are lowercase).
fn split_registry(name: &str) -> (String, String) {
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest.to_owned())
        }
        _ => (DEFAULT_REGISTRY, name.to_owned()),
    };
    let registry = if registry == LEGACY_DEFAULT_REGISTRY {
        DEFAULT_REGISTRY
    } else {
        registry
    };
    let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository
    };
    (registry.to_owned(), repository)
}

fn check_tag(tag: &str) -> Result<(), &'static str> {
    let b = tag.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    if b.is_empty() || b.len() > 128 {
        return Err("tag must be 1 to 128 characters");
    }
    if !word(b[0]) || !b.iter().all(|&c| word(c) || c == b'.' || c == b'-') {
        return Err("tag must be word characters, '.' and '-', not starting with '.' or '-'");
    }
    Ok(())
}

fn check_digest(digest: &str) -> Result<(), &'static str> {
    let (algorithm, hex) = digest.split_once(':').ok_or("digest must be algorithm:hex")?;
    let len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err("unsupported digest algorithm (sha256, sha384, sha512)"),
    };
    if hex.len() != len || !hex.bytes().all(is_lower_hex) {
        return Err("digest hex has the wrong length or is not lowercase hex");
    }
    Ok(())
}

/// Host name components (or a bracketed IPv6 address) and an optional numeric port.
fn check_registry(registry: &str) -> Result<(), &'static str> {
    const BAD: &str = "invalid registry host";
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let (addr, after) = rest.split_once(']').ok_or(BAD)?;
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err(BAD);
        }
        match after {
            "" => (None, None),
            p => (None, Some(p.strip_prefix(':').ok_or(BAD)?)),
        }
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(registry), None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("registry port must be numeric");
    }
    if let Some(host) = host {
        let label_ok = |l: &str| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        };
        if !host.split('.').all(label_ok) {
            return Err(BAD);
        }
    }
    Ok(())
}

/// `[a-z0-9]+` joined by one `.`, one or two `_`, or any number of `-`.
fn check_path_component(component: &str) -> Result<(), &'static str> {
    const BAD: &str =
        "repository path components are lowercase alphanumerics separated by '.', '_', '__' or '-'";
    let b = component.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err(BAD);
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return Err(BAD);
        }
    }
    Ok(())
}

/// Kinds whose images restore rewrites with the registry mappings (the pod specs of
/// `restore/remap.rs`), as `Kind.group` (`Kind` for the core group).
const RESTORE_REWRITES: &[&str] = &[
    "Pod",
    "ReplicationController",
    "Deployment.apps",
    "StatefulSet.apps",
    "DaemonSet.apps",
    "ReplicaSet.apps",
    "Job.batch",
    "CronJob.batch",
];

/// One image after the mappings, with what references it. Serializable for `-o json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ImageEntry {
    /// The image after the mappings, canonical (`registry/repository[:tag][@digest]`, `:latest`
    /// added when no tag or digest is written).
    pub image: String,
    /// Its parts.
    pub reference: ImageRef,
    /// The weakest pinning among the references that lead here.
    pub pin: Pin,
    /// How many objects reference it (an object counts once, whatever its containers).
    pub objects: usize,
    /// Namespaces of those objects (cluster-scoped objects add none).
    pub namespaces: BTreeSet<String>,
    /// Kinds of those objects, `Kind.group` (`Kind` for the core group).
    pub kinds: BTreeSet<String>,
    /// The references as written in the objects.
    pub written: BTreeSet<String>,
    /// The source images (canonical, before the mappings). More than one when several source
    /// images map onto this one: a conflict that a mirror cannot satisfy.
    pub sources: BTreeSet<String>,
    /// Whether a mapping moved it.
    pub mapped: bool,
    /// Kinds in which a mapping applies but restore leaves the reference as written (custom
    /// resources, PodTemplates): those objects still pull from the source registry unless patched
    /// (a resource modifier) — mirror the image, and rewrite them.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub restore_keeps_original_in: BTreeSet<String>,
    /// Mapping keys that match this image only in its normalized form (`docker.io` against a
    /// written `nginx:1.27`): mappings match the reference as written, so they did not apply.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unmatched_mapping_hints: BTreeSet<String>,
}

/// A reference that does not parse (as written, or after the mappings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct InvalidImage {
    /// The reference as written.
    pub written: String,
    /// The mapped reference, when a mapping produced the invalid one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapped: Option<String>,
    /// Why it does not parse.
    pub reason: String,
    /// How many objects reference it.
    pub objects: usize,
    /// Up to [`InvalidImage::MAX_EXAMPLES`] of them, `Kind.group namespace/name`.
    pub examples: Vec<String>,
}

impl InvalidImage {
    /// How many example objects an invalid reference keeps.
    pub const MAX_EXAMPLES: usize = 5;
}

/// What [`ImageCollector`] found. Serializable for `-o json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ImageReport {
    /// The registry mappings applied.
    pub mappings: BTreeMap<String, String>,
    /// Objects looked at.
    pub objects_scanned: usize,
    /// Objects that reference at least one image.
    pub objects_with_images: usize,
    /// Images after the mappings, sorted by [`ImageEntry::image`].
    pub images: Vec<ImageEntry>,
    /// References that do not parse, sorted.
    pub invalid: Vec<InvalidImage>,
}

impl ImageReport {
    /// The entries that several source images map onto.
    pub fn conflicts(&self) -> impl Iterator<Item = &ImageEntry> {
        self.images.iter().filter(|e| e.sources.len() > 1)
    }
}

/// Aggregates the images of objects fed one at a time (see the module docs).
#[derive(Debug, Default)]
pub struct ImageCollector {
    mappings: BTreeMap<String, String>,
    images: BTreeMap<String, ImageEntry>,
    invalid: BTreeMap<(String, Option<String>), InvalidImage>,
    objects_scanned: usize,
    objects_with_images: usize,
}

impl ImageCollector {
    /// A collector applying these registry mappings (old prefix → new prefix).
    pub fn new(mappings: BTreeMap<String, String>) -> Self {
        Self {
            mappings,
            ..Self::default()
        }
    }

    /// Adds one object (a Kubernetes object as JSON: `apiVersion`, `kind`, `metadata`).
    pub fn add(&mut self, obj: &Value) {
        self.objects_scanned += 1;
        let found = container_images(obj);
        if found.is_empty() {
            return;
        }
        self.objects_with_images += 1;
        let kind = kind_of(obj);
        let namespace = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|ns| !ns.is_empty());
        let rewritten_by_restore = RESTORE_REWRITES.contains(&kind.as_str());
        // An object counts once per image (and per invalid reference), whatever its containers.
        let mut seen_images = BTreeSet::new();
        let mut seen_invalid = BTreeSet::new();
        for use_ in found {
            let written = use_.image;
            let mapped = map_image(written, &self.mappings);
            let source = ImageRef::parse(written);
            let target = match &mapped {
                Some(m) => ImageRef::parse(m),
                None => source.clone(),
            };
            let (source, target) = match (source, target) {
                (Ok(s), Ok(t)) => (s, t),
                (Err(e), _) | (Ok(_), Err(e)) => {
                    let key = (written.to_owned(), mapped.clone());
                    let entry = self.invalid.entry(key).or_insert_with(|| InvalidImage {
                        written: written.to_owned(),
                        mapped: mapped.clone(),
                        reason: e.reason.to_owned(),
                        objects: 0,
                        examples: Vec::new(),
                    });
                    if seen_invalid.insert(written) {
                        entry.objects += 1;
                        if entry.examples.len() < InvalidImage::MAX_EXAMPLES {
                            entry.examples.push(describe(obj, &kind));
                        }
                    }
                    continue;
                }
            };
            let image = target.canonical();
            let entry = self.images.entry(image.clone()).or_insert_with(|| ImageEntry {
                image: image.clone(),
                pin: target.pin(),
                reference: target.clone(),
                objects: 0,
                namespaces: BTreeSet::new(),
                kinds: BTreeSet::new(),
                written: BTreeSet::new(),
                sources: BTreeSet::new(),
                mapped: false,
                restore_keeps_original_in: BTreeSet::new(),
                unmatched_mapping_hints: BTreeSet::new(),
            });
            entry.pin = entry.pin.min(target.pin());
            entry.written.insert(written.to_owned());
            entry.sources.insert(source.canonical());
            if mapped.is_some() {
                entry.mapped = true;
                if !rewritten_by_restore {
                    entry.restore_keeps_original_in.insert(kind.clone());
                }
            } else {
                // A mapping that would match the fully written form of this reference.
                let full = source.to_string();
                if full != written
                    && let Some(key) = matching_key(&full, &self.mappings)
                {
                    entry.unmatched_mapping_hints.insert(key.to_owned());
                }
            }
            if seen_images.insert(image) {
                entry.objects += 1;
                entry.kinds.insert(kind.clone());
                if let Some(ns) = namespace {
                    entry.namespaces.insert(ns.to_owned());
                }
            }
        }
    }

    /// The report.
    pub fn finish(self) -> ImageReport {
        ImageReport {
            mappings: self.mappings,
            objects_scanned: self.objects_scanned,
            objects_with_images: self.objects_with_images,
            images: self.images.into_values().collect(),
            invalid: self.invalid.into_values().collect(),
        }
    }
}

/// The mapping key [`map_image`] applies to `image` (the longest that matches).
fn matching_key<'m>(image: &str, mappings: &'m BTreeMap<String, String>) -> Option<&'m str> {
    mappings
        .keys()
        .filter(|k| map_image(image, &BTreeMap::from([((*k).clone(), String::from("-"))])).is_some())
        .max_by_key(|k| k.trim_end_matches('/').len())
        .map(String::as_str)
}

/// `Kind.group`, `Kind` for the core group, `?` when the object has no kind.
fn kind_of(obj: &Value) -> String {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("?");
    match obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.split_once('/'))
    {
        Some((group, _)) if !group.is_empty() => format!("{kind}.{group}"),
        _ => kind.to_owned(),
    }
}

fn describe(obj: &Value, kind: &str) -> String {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("?");
    match obj.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() => format!("{kind} {ns}/{name}"),
        _ => format!("{kind} {name}"),
    }
}

/// Settings of the rendered `skopeo sync` YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkopeoSyncOptions {
    /// `tls-verify` of each source registry (host as in [`ImageRef::registry`]); registries not
    /// listed get [`SkopeoSyncOptions::default_tls_verify`].
    pub tls_verify: BTreeMap<String, bool>,
    /// `tls-verify` of the registries not listed.
    pub default_tls_verify: bool,
    /// Write a commented-out `credentials:` block per source registry, to fill in (off: nothing;
    /// skopeo then uses its auth file).
    pub credentials_placeholder: bool,
}

impl Default for SkopeoSyncOptions {
    fn default() -> Self {
        Self {
            tls_verify: BTreeMap::new(),
            default_tls_verify: true,
            credentials_placeholder: true,
        }
    }
}

/// One `skopeo sync --src yaml` run: every image in its YAML lands under `destination`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SyncJob {
    /// The destination argument of `skopeo sync --dest docker`: registry and repository path
    /// under which skopeo puts the last path component of each source repository.
    pub destination: String,
    /// The `--src yaml` file's content.
    pub yaml: String,
    /// (source, target) of each image copied, canonical.
    pub images: Vec<(String, String)>,
}

impl SyncJob {
    /// `skopeo` arguments that run this job with its YAML saved at `yaml_path`, with
    /// `dest_flags` (the destination's credentials / TLS flags, e.g. `--dest-tls-verify=false`)
    /// before the positional arguments. `--all` copies every platform of a multi-platform image
    /// (and so keeps a pinned list digest valid); `--preserve-digests` makes skopeo fail rather
    /// than store a digest that differs from the source's.
    pub fn args(&self, yaml_path: &str, dest_flags: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = [
            "sync",
            "--all",
            "--preserve-digests",
            "--src",
            "yaml",
            "--dest",
            "docker",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(dest_flags.iter().map(|f| (*f).to_owned()));
        args.push(yaml_path.to_owned());
        args.push(self.destination.clone());
        args
    }
}

/// An image whose repository is renamed by the mapping (its last path component changes), which
/// `skopeo sync` cannot do: copied with `skopeo copy` instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CopyJob {
    /// Source, `registry/repository:tag` or `…@digest`.
    pub source: String,
    /// Target, likewise.
    pub target: String,
}

impl CopyJob {
    /// `skopeo` arguments of the copy, with extra `flags` before the positional arguments (see
    /// [`SyncJob::args`]).
    pub fn args(&self, flags: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = ["copy", "--all", "--preserve-digests"]
            .map(str::to_owned)
            .to_vec();
        args.extend(flags.iter().map(|f| (*f).to_owned()));
        args.push(format!("docker://{}", self.source));
        args.push(format!("docker://{}", self.target));
        args
    }
}

/// What it takes to mirror the mapped images of a report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SkopeoSyncPlan {
    /// `skopeo sync` runs, one per destination, sorted by destination.
    pub jobs: Vec<SyncJob>,
    /// `skopeo copy` runs for renamed repositories.
    pub copies: Vec<CopyJob>,
    /// Images no mapping moves: nothing to mirror.
    pub unmapped: Vec<String>,
    /// Images several source images map onto: not mirrored (which source would win is
    /// arbitrary); fix the mappings.
    pub conflicts: Vec<String>,
}

/// Source registry → source repository → references to copy.
type Sources = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// Plans the copies of every mapped image of `report` from its source to its target (see
/// [`SkopeoSyncPlan`]). A digest reference is copied by digest (its tag, if any, is not what
/// the runtime pulls), a tag reference by tag, an untagged one as `latest`.
pub fn skopeo_sync_plan(report: &ImageReport, options: &SkopeoSyncOptions) -> SkopeoSyncPlan {
    let mut plan = SkopeoSyncPlan::default();
    let mut by_destination: BTreeMap<String, (Sources, Vec<(String, String)>)> = BTreeMap::new();
    for entry in &report.images {
        if !entry.mapped {
            plan.unmapped.push(entry.image.clone());
            continue;
        }
        if entry.sources.len() > 1 {
            plan.conflicts.push(entry.image.clone());
            continue;
        }
        let Some(source) = entry.sources.first().and_then(|s| ImageRef::parse(s).ok()) else {
            continue;
        };
        if source.canonical() == entry.reference.canonical() {
            // A mapping onto itself: nothing to copy.
            plan.unmapped.push(entry.image.clone());
            continue;
        }
        let target = &entry.reference;
        let (target_dir, target_base) = match target.repository.rsplit_once('/') {
            Some((dir, base)) => (format!("{}/{dir}", target.registry), base),
            None => (target.registry.clone(), target.repository.as_str()),
        };
        let source_base = source.repository.rsplit('/').next().unwrap_or_default();
        let reference = source.copy_reference().to_owned();
        if source_base != target_base {
            let sep = if source.digest.is_some() { '@' } else { ':' };
            let at = |r: &ImageRef| format!("{}{sep}{reference}", r.name());
            plan.copies.push(CopyJob {
                source: at(&source),
                target: at(target),
            });
            continue;
        }
        let (sources, images) = by_destination.entry(target_dir).or_default();
        sources
            .entry(source.registry.clone())
            .or_default()
            .entry(source.repository.clone())
            .or_default()
            .insert(reference);
        images.push((source.canonical(), target.canonical()));
    }
    for (destination, (sources, images)) in by_destination {
        let yaml = render_sync_yaml(&destination, &sources, options);
        plan.jobs.push(SyncJob {
            destination,
            yaml,
            images,
        });
    }
    plan
}

/// The `skopeo sync --src yaml` document: per source registry, `images:` (repository → tags and
/// digests, never empty: an empty list would copy every tag), `tls-verify`, and optionally a
/// commented `credentials:` placeholder. Every scalar is double-quoted (JSON string syntax, which
/// YAML reads as is), so registry hosts with ports and numeric-looking tags stay strings.
fn render_sync_yaml(destination: &str, sources: &Sources, options: &SkopeoSyncOptions) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut y = String::new();
    let _ = writeln!(y, "# skopeo sync --src yaml: copies into {destination}");
    for (registry, repositories) in sources {
        let _ = writeln!(y, "{}:", q(registry));
        y.push_str("  images:\n");
        for (repository, references) in repositories {
            let _ = writeln!(y, "    {}:", q(repository));
            for reference in references {
                let _ = writeln!(y, "      - {}", q(reference));
            }
        }
        let tls = options
            .tls_verify
            .get(registry)
            .copied()
            .unwrap_or(options.default_tls_verify);
        let _ = writeln!(y, "  tls-verify: {tls}");
        if options.credentials_placeholder {
            y.push_str("  # credentials:\n  #   username: \"<user>\"\n  #   password: \"<password>\"\n");
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const D1: &str = "sha256:9a6baf4a709ff18c6f243f5baa8a67400e3e03255d46720ce1878fa39ab85b26";
    const D2: &str = "sha256:d7b40a18a8d2d7c6e9692b028a10e841254b4df27afbc7cf935e1e8395f6ff01";

    fn parsed(s: &str) -> (String, String, Option<String>, Option<String>, Pin) {
        let r = ImageRef::parse(s).unwrap();
        let pin = r.pin();
        (r.registry, r.repository, r.tag, r.digest, pin)
    }

    #[test]
    fn references_parse_with_the_docker_grammar() {
        let s = |x: &str| x.to_owned();
        assert_eq!(
            parsed("nginx"),
            (s("docker.io"), s("library/nginx"), None, None, Pin::NoTag)
        );
        assert_eq!(
            parsed("nginx:1.27"),
            (
                s("docker.io"),
                s("library/nginx"),
                Some(s("1.27")),
                None,
                Pin::Tag
            )
        );
        assert_eq!(
            parsed("bitnami/redis:latest"),
            (
                s("docker.io"),
                s("bitnami/redis"),
                Some(s("latest")),
                None,
                Pin::Latest
            )
        );
        assert_eq!(
            parsed("index.docker.io/nginx"),
            (s("docker.io"), s("library/nginx"), None, None, Pin::NoTag)
        );
        assert_eq!(
            parsed("localhost/app"),
            (s("localhost"), s("app"), None, None, Pin::NoTag)
        );
        assert_eq!(
            parsed("localhost:5000/team/app:v2"),
            (s("localhost:5000"), s("team/app"), Some(s("v2")), None, Pin::Tag)
        );
        assert_eq!(
            parsed(&format!("127.0.0.1:5001/team/app@{D1}")),
            (s("127.0.0.1:5001"), s("team/app"), None, Some(s(D1)), Pin::Digest)
        );
        assert_eq!(
            parsed(&format!("registry.k8s.io/pause:3.9@{D2}")),
            (
                s("registry.k8s.io"),
                s("pause"),
                Some(s("3.9")),
                Some(s(D2)),
                Pin::TagAndDigest
            )
        );
        assert_eq!(
            parsed(&format!("nginx@{D1}")),
            (s("docker.io"), s("library/nginx"), None, Some(s(D1)), Pin::Digest)
        );
        assert_eq!(parsed("[::1]:5000/app:1").0, "[::1]:5000");
        // A first component with a dot is a registry, without one a Docker Hub namespace.
        assert_eq!(parsed("quay.io/coreos/etcd:v3.5.0").0, "quay.io");
        assert_eq!(parsed("coreos/etcd").0, "docker.io");
        assert_eq!(parsed("reg.io/a__b.c-d---e/f_g:1").1, "a__b.c-d---e/f_g");
        // A first component with a dot is a registry host, and `_` is not valid in one.
        assert!(ImageRef::parse("a__b.c/app").is_err());
        // "localhost:5000" alone is the Docker Hub image `localhost` with tag 5000.
        assert_eq!(
            parsed("localhost:5000"),
            (
                s("docker.io"),
                s("library/localhost"),
                Some(s("5000")),
                None,
                Pin::Tag
            )
        );
        // Display / canonical.
        let r = ImageRef::parse("nginx").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/nginx");
        assert_eq!(r.canonical(), "docker.io/library/nginx:latest");
        assert_eq!(r.copy_reference(), "latest");
        let r = ImageRef::parse(&format!("r.io/a:1@{D1}")).unwrap();
        assert_eq!(r.canonical(), format!("r.io/a:1@{D1}"));
        assert_eq!(r.copy_reference(), D1);
        assert!(r.pin().is_immutable());
    }

    #[test]
    fn malformed_references_are_rejected_with_a_reason() {
        for (bad, reason) in [
            ("", "empty reference"),
            ("Nginx", "repository name must be lowercase"),
            ("nginx:", "tag must be 1 to 128"),
            ("nginx:-x", "tag must be word"),
            ("nginx@sha256:abc", "digest hex has the wrong length"),
            ("nginx@md5:0123456789abcdef0123456789abcdef", "unsupported digest"),
            ("reg.io:port/app", "registry port must be numeric"),
            ("reg..io/app", "invalid registry host"),
            ("reg.io/-app", "repository path components"),
            ("reg.io/a..b", "repository path components"),
            ("reg.io//app", "repository path components"),
            ("reg.io/", "empty repository name"),
            (
                "9a6baf4a709ff18c6f243f5baa8a67400e3e03255d46720ce1878fa39ab85b26",
                "image id",
            ),
        ] {
            let err = ImageRef::parse(bad).unwrap_err();
            assert!(err.reason.contains(reason), "{bad:?}: {err}");
            assert_eq!(err.reference, bad);
        }
        let long = format!("reg.io/{}", "a".repeat(250));
        assert!(ImageRef::parse(&long).is_err());
        assert!(ImageRef::parse(&format!("nginx:{}", "t".repeat(129))).is_err());
    }

    fn deployment(ns: &str, name: &str, images: &[&str], init: &[&str]) -> Value {
        let c = |list: &[&str]| {
            list.iter()
                .enumerate()
                .map(|(i, im)| json!({"name": format!("c{i}"), "image": im}))
                .collect::<Vec<_>>()
        };
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns,
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                    "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"image\":\"old:1\"}]}}}}"},
                "managedFields": [{"fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {}}}}}}]},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"initContainers": c(init), "containers": c(images)}}},
            "status": {"replicas": 1}
        })
    }

    fn widget() -> Value {
        // A custom resource embedding a pod template at a non-standard path, inside a list.
        json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "team-b"},
            "spec": {"stages": [
                {"name": "build", "runner": {"podTemplate": {"spec": {
                    "containers": [{"name": "b", "image": "registry.old/tools/builder:2.1"}]}}}},
                {"name": "notes", "containers": ["not", "containers"]},
                {"name": "other", "containers": [{"name": "x", "command": ["no-image"]}]}
            ]}
        })
    }

    fn pod_with_ephemeral() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "team-a"},
            "spec": {
                "containers": [{"name": "app", "image": format!("registry.old/team/app@{D1}")}],
                "ephemeralContainers": [{"name": "debug", "image": "busybox"}]
            },
            "status": {"containerStatuses": [{"name": "app", "image": "docker.io/library/should-not-count:1",
                "imageID": "docker-pullable://x"}]}
        })
    }

    #[test]
    fn the_walk_finds_every_container_list_and_nothing_else() {
        let d = deployment("team-a", "web", &["registry.old/team/web:1.0"], &["busybox:1.36"]);
        let got: Vec<(String, ContainerList, &str, &str)> = container_images(&d)
            .into_iter()
            .map(|c| (c.pointer, c.list, c.container, c.image))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "/spec/template/spec/containers/0/image".to_owned(),
                    ContainerList::Containers,
                    "c0",
                    "registry.old/team/web:1.0"
                ),
                (
                    "/spec/template/spec/initContainers/0/image".to_owned(),
                    ContainerList::InitContainers,
                    "c0",
                    "busybox:1.36"
                ),
            ]
        );
        let w = widget();
        let got = container_images(&w);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            got[0].pointer,
            "/spec/stages/0/runner/podTemplate/spec/containers/0/image"
        );
        assert_eq!(
            w.pointer(&got[0].pointer).and_then(Value::as_str),
            Some(got[0].image)
        );
        let p = pod_with_ephemeral();
        let got: Vec<_> = container_images(&p)
            .into_iter()
            .map(|c| (c.list, c.image))
            .collect();
        assert_eq!(
            got,
            [
                (
                    ContainerList::Containers,
                    format!("registry.old/team/app@{D1}").as_str()
                ),
                (ContainerList::EphemeralContainers, "busybox"),
            ]
        );
        // CronJob: containers six levels down.
        let cj = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "j", "image": "job:1"}]}}}}}});
        assert_eq!(
            container_images(&cj)[0].pointer,
            "/spec/jobTemplate/spec/template/spec/containers/0/image"
        );
        // PodTemplate: the template is at the top level.
        let pt = json!({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"},
            "template": {"spec": {"containers": [{"name": "a", "image": "tpl:1"}]}}});
        assert_eq!(
            container_images(&pt)[0].pointer,
            "/template/spec/containers/0/image"
        );
        // Keys with '/' and '~' are escaped in pointers.
        let odd = json!({"spec": {"a/b~c": {"containers": [{"image": "x:1"}]}}});
        let got = container_images(&odd);
        assert_eq!(got[0].pointer, "/spec/a~1b~0c/containers/0/image");
        assert_eq!(odd.pointer(&got[0].pointer).and_then(Value::as_str), Some("x:1"));
    }

    #[test]
    fn the_walk_is_bounded() {
        let leaf = json!({"containers": [{"name": "deep", "image": "deep:1"}]});
        let nest = |levels: usize| {
            let mut v = leaf.clone();
            for _ in 0..levels {
                v = json!({ "n": v });
            }
            json!({ "spec": v })
        };
        // spec (1) + levels + containers array → found while the array is within MAX_DEPTH.
        assert_eq!(container_images(&nest(MAX_DEPTH - 2)).len(), 1);
        assert!(container_images(&nest(MAX_DEPTH - 1)).is_empty());
    }

    fn mappings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn the_aggregate_maps_counts_and_flags() {
        let m = mappings(&[
            ("registry.old", "registry.new"),
            ("registry.old/team", "mirror.example:5000/team2"),
            ("docker.io/library", "mirror.example:5000/hub"),
        ]);
        let mut c = ImageCollector::new(m);
        c.add(&deployment(
            "team-a",
            "web",
            &["registry.old/team/web:1.0", "registry.old/team/web:1.0"],
            &["busybox:1.36"],
        ));
        c.add(&deployment("team-b", "web", &["registry.old/team/web:1.0"], &[]));
        c.add(&pod_with_ephemeral());
        c.add(&widget());
        c.add(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "x"}}),
        );
        c.add(&deployment(
            "team-c",
            "bad",
            &["Registry.Old/UPPER:1", "nginx:"],
            &[],
        ));
        let report = c.finish();
        assert_eq!(report.objects_scanned, 6);
        assert_eq!(report.objects_with_images, 5);
        let by: BTreeMap<&str, &ImageEntry> = report.images.iter().map(|e| (e.image.as_str(), e)).collect();
        assert_eq!(
            by.keys().copied().collect::<Vec<_>>(),
            [
                "docker.io/library/busybox:1.36",
                "docker.io/library/busybox:latest",
                format!("mirror.example:5000/team2/app@{D1}").as_str(),
                "mirror.example:5000/team2/web:1.0",
                "registry.new/tools/builder:2.1",
            ]
        );
        let web = by["mirror.example:5000/team2/web:1.0"];
        assert_eq!(web.objects, 2, "one count per object, not per container");
        assert_eq!(web.namespaces, BTreeSet::from(["team-a".into(), "team-b".into()]));
        assert_eq!(web.kinds, BTreeSet::from(["Deployment.apps".into()]));
        assert_eq!(web.written, BTreeSet::from(["registry.old/team/web:1.0".into()]));
        assert_eq!(web.sources, BTreeSet::from(["registry.old/team/web:1.0".into()]));
        assert!(web.mapped && web.restore_keeps_original_in.is_empty());
        assert_eq!(web.pin, Pin::Tag);
        assert_eq!(web.reference.registry, "mirror.example:5000");
        let app = by[format!("mirror.example:5000/team2/app@{D1}").as_str()];
        assert_eq!(
            (app.pin, app.kinds.first().map(String::as_str)),
            (Pin::Digest, Some("Pod"))
        );
        // The custom resource's image is mapped, and flagged: restore leaves it as written.
        let builder = by["registry.new/tools/builder:2.1"];
        assert_eq!(
            builder.restore_keeps_original_in,
            BTreeSet::from(["Widget.example.com".into()])
        );
        assert_eq!(builder.namespaces, BTreeSet::from(["team-b".into()]));
        // `busybox` written short: the docker.io/library mapping does not apply, with a hint.
        let bb = by["docker.io/library/busybox:latest"];
        assert!(!bb.mapped);
        assert_eq!(bb.pin, Pin::NoTag);
        assert_eq!(bb.kinds, BTreeSet::from(["Pod".into()]));
        assert_eq!(
            bb.unmatched_mapping_hints,
            BTreeSet::from(["docker.io/library".into()])
        );
        // Invalid references are reported, not counted as images.
        let invalid: Vec<(&str, &str)> = report
            .invalid
            .iter()
            .map(|i| (i.written.as_str(), i.reason.as_str()))
            .collect();
        assert_eq!(
            invalid,
            [
                ("Registry.Old/UPPER:1", "repository name must be lowercase"),
                ("nginx:", "tag must be 1 to 128 characters"),
            ]
        );
        assert_eq!(report.invalid[0].examples, ["Deployment.apps team-c/bad"]);
        // JSON round trip for -o json.
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["images"][3]["image"], "mirror.example:5000/team2/web:1.0");
        assert_eq!(json["images"][3]["pin"], "tag");
        assert_eq!(json["images"][0]["reference"]["repository"], "library/busybox");
        let back: ImageReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn object_images_are_rewritten_in_place_wherever_they_are() {
        let m = mappings(&[
            ("registry.old", "registry.new"),
            ("docker.io/library", "mirror.io/hub"),
        ]);
        let mut w = widget();
        let rewrites = map_object_images(&mut w, &m);
        assert_eq!(
            rewrites,
            [ImageRewrite {
                pointer: "/spec/stages/0/runner/podTemplate/spec/containers/0/image".into(),
                list: ContainerList::Containers,
                container: "b".into(),
                from: "registry.old/tools/builder:2.1".into(),
                to: "registry.new/tools/builder:2.1".into(),
            }]
        );
        assert_eq!(
            w.pointer("/spec/stages/0/runner/podTemplate/spec/containers/0/image"),
            Some(&json!("registry.new/tools/builder:2.1"))
        );
        let mut p = pod_with_ephemeral();
        let before = p.clone();
        let rewrites = map_object_images(&mut p, &m);
        // `busybox` is written short: the textual rule leaves it (the report hints at it).
        assert_eq!(rewrites.len(), 1);
        assert_eq!(rewrites[0].to, format!("registry.new/team/app@{D1}"));
        assert_eq!(
            p["spec"]["ephemeralContainers"],
            before["spec"]["ephemeralContainers"]
        );
        assert_eq!(p["status"], before["status"], "status is not touched");
        // Rewritten objects reference only targets.
        let mut c = ImageCollector::new(m.clone());
        c.add(&w);
        c.add(&p);
        assert!(c.finish().images.iter().all(|e| !e.mapped));
        assert!(map_object_images(&mut p, &BTreeMap::new()).is_empty());
    }

    #[test]
    fn a_mapping_that_produces_an_invalid_reference_is_reported() {
        let mut c = ImageCollector::new(mappings(&[("registry.old", "Bad Host")]));
        c.add(&deployment("a", "d", &["registry.old/app:1"], &[]));
        let r = c.finish();
        assert!(r.images.is_empty());
        assert_eq!(r.invalid.len(), 1);
        assert_eq!(r.invalid[0].mapped.as_deref(), Some("Bad Host/app:1"));
    }

    #[test]
    fn the_sync_plan_groups_by_destination_and_renders_skopeo_yaml() {
        let m = mappings(&[
            ("127.0.0.1:5001", "127.0.0.1:5002"),
            ("registry.old/solo", "registry.new/renamed"),
            ("a.io", "c.io"),
            ("b.io", "c.io"),
        ]);
        let mut c = ImageCollector::new(m);
        c.add(&deployment(
            "n",
            "d",
            &[
                "127.0.0.1:5001/team/app:v1",
                &format!("127.0.0.1:5001/team/app:v9@{D2}"),
                "127.0.0.1:5001/solo:1.0",
                "127.0.0.1:5001/team/tool",
                "registry.old/solo",
                "a.io/x:1",
                "b.io/x:1",
                "nginx:1.27",
            ],
            &[],
        ));
        let report = c.finish();
        assert_eq!(
            report.conflicts().map(|e| e.image.as_str()).collect::<Vec<_>>(),
            ["c.io/x:1"]
        );
        let options = SkopeoSyncOptions {
            tls_verify: BTreeMap::from([("127.0.0.1:5001".to_owned(), false)]),
            ..SkopeoSyncOptions::default()
        };
        let plan = skopeo_sync_plan(&report, &options);
        assert_eq!(plan.unmapped, ["docker.io/library/nginx:1.27"]);
        assert_eq!(plan.conflicts, ["c.io/x:1"]);
        assert_eq!(
            plan.copies,
            [CopyJob {
                source: "registry.old/solo:latest".into(),
                target: "registry.new/renamed:latest".into()
            }]
        );
        let dests: Vec<&str> = plan.jobs.iter().map(|j| j.destination.as_str()).collect();
        assert_eq!(dests, ["127.0.0.1:5002", "127.0.0.1:5002/team"]);
        let team = &plan.jobs[1];
        assert_eq!(
            team.yaml,
            format!(
                "# skopeo sync --src yaml: copies into 127.0.0.1:5002/team\n\
                 \"127.0.0.1:5001\":\n  images:\n    \"team/app\":\n      - \"{D2}\"\n      - \"v1\"\n\
                 \x20   \"team/tool\":\n      - \"latest\"\n  tls-verify: false\n\
                 \x20 # credentials:\n  #   username: \"<user>\"\n  #   password: \"<password>\"\n"
            )
        );
        // The YAML is what skopeo reads: registry → images → repository → [tags or digests].
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&team.yaml).unwrap();
        let reg = &doc["127.0.0.1:5001"];
        assert_eq!(reg["tls-verify"], serde_yaml_ng::Value::Bool(false));
        let tags: Vec<&str> = reg["images"]["team/app"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(tags, [D2, "v1"]);
        assert_eq!(
            team.args("/tmp/s.yaml", &["--dest-tls-verify=false"]),
            [
                "sync",
                "--all",
                "--preserve-digests",
                "--src",
                "yaml",
                "--dest",
                "docker",
                "--dest-tls-verify=false",
                "/tmp/s.yaml",
                "127.0.0.1:5002/team"
            ]
        );
        assert_eq!(
            plan.copies[0].args(&[]),
            [
                "copy",
                "--all",
                "--preserve-digests",
                "docker://registry.old/solo:latest",
                "docker://registry.new/renamed:latest"
            ]
        );
        assert_eq!(
            team.images,
            [
                (
                    "127.0.0.1:5001/team/app:v1".to_owned(),
                    "127.0.0.1:5002/team/app:v1".to_owned()
                ),
                (
                    format!("127.0.0.1:5001/team/app:v9@{D2}"),
                    format!("127.0.0.1:5002/team/app:v9@{D2}")
                ),
                (
                    "127.0.0.1:5001/team/tool:latest".to_owned(),
                    "127.0.0.1:5002/team/tool:latest".to_owned()
                ),
            ]
        );
        let solo: serde_yaml_ng::Value = serde_yaml_ng::from_str(&plan.jobs[0].yaml).unwrap();
        assert_eq!(solo["127.0.0.1:5001"]["images"]["solo"][0].as_str(), Some("1.0"));
        // Numeric-looking tags stay strings; no placeholder when not asked.
        let bare = skopeo_sync_plan(
            &report,
            &SkopeoSyncOptions {
                credentials_placeholder: false,
                ..SkopeoSyncOptions::default()
            },
        );
        assert!(!bare.jobs[0].yaml.contains("credentials"));
        assert!(bare.jobs[0].yaml.contains("tls-verify: true"));
    }
}
