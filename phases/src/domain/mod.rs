//! Kubernetes and kubeadm knowledge that more than one phase needs: names and paths every
//! component agrees on, the PKI and kubeconfig models, clients for the API server and etcd,
//! the formats of what the cluster stores (bootstrap tokens, cluster-info and its JWS, the
//! encrypted certificate upload), and the join's discovery. Imports only [`crate::contract`]
//! and [`crate::config`].

pub mod addressing;
pub mod apiclient;
pub mod bootstrap_client;
pub mod bootstrap_token;
pub mod certificate_upload;
pub mod cluster_status;
pub mod cri;
pub mod discovery;
pub mod etcd;
pub mod jws;
pub mod kubeadm_config;
pub mod kubeadm_output;
pub mod kubelet;
pub mod node;
pub mod pki;
pub mod static_pod;
pub mod tls_bootstrap;
