//! skiff's test bed (`publish = false`): a real kube-apiserver + kube-controller-manager + etcd on
//! loopback, a real S3 server on loopback, a deterministic workload generator and seeder, and a
//! fault-injecting proxy. Used by tests, benchmarks and the README's demo.

pub mod bed;
pub mod proxy;
pub mod s3;
pub mod seed;
pub mod workload;
