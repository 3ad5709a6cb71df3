//! One module per kubeadm phase or phase group, named as kubeadm names them (`init phase
//! upload-config` is [`upload_config`], `join phase control-plane-join etcd` is
//! [`etcd_join`]…). Each declares the context it needs as a trait and reads everything else
//! from [`crate::domain`]; no phase imports another.

pub mod addons;
pub mod bootstrap_token;
pub mod certs;
pub mod control_plane;
pub mod download_certs;
pub mod etcd;
pub mod etcd_join;
pub mod kubeconfig;
pub mod kubelet;
pub mod mark_control_plane;
pub mod preflight;
pub mod reset;
pub mod show_join_command;
pub mod update_status;
pub mod upload_certs;
pub mod upload_config;
pub mod wait_control_plane;
