//! The only skiff crate that talks to a Kubernetes API server: kubeconfig, discovery, paged LIST,
//! create / get / patch / server-side apply, readiness waits, and the adaptive limiter every
//! request of a run goes through.
//!
//! Invariant: this crate carries out decisions, it never makes them. Ordering, conflict policy and
//! remapping live in `skiff-engine`.
//!
//! Objects travel as raw `serde_json::Value` (never through typed k8s-openapi structs that could
//! drop fields). Libraries do not pick the k8s-openapi version feature; binaries and this crate's
//! dev-dependencies do.

mod cluster;
mod config;
mod discovery;
mod error;
mod limiter;
mod list;
pub mod surface;
mod wait;
mod watch;

pub use cluster::Cluster;
pub use config::{ClusterConfig, install_crypto_provider};
pub use discovery::ServerVersion;
pub use error::{ApiStatus, FieldConflict, KubeError, RequestContext, Result, StatusCause, Verb};
pub use limiter::{Limiter, LimiterConfig, LimiterStats, backoff_delay, parse_retry_after};
pub use list::{DEFAULT_PAGE_SIZE, ListOptions, ListPager, Page, RawPage};
pub use surface::{ApiGroupInfo, ApiResourceInfo, ApiSurface, DiscoveryFailure};
pub use wait::NamespaceState;
pub use watch::{WatchEvent, WatchOptions};
