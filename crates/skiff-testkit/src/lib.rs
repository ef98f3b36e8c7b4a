//! skiff's test bed (`publish = false`): a real kube-apiserver + kube-controller-manager + etcd on
//! loopback, a real S3 server on loopback, a deterministic workload generator and seeder, a
//! fault-injecting proxy, a tunnelling (HTTP CONNECT / SOCKS5) proxy, and a container registry on
//! loopback (with skopeo and hand-made OCI images). Used by tests, benchmarks and the README's demo.

pub mod bed;
pub mod proxy;
pub mod registry;
pub mod s3;
pub mod seed;
pub mod tunnel;
pub mod workload;
