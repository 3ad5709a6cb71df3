//! Doctor's offline pass: the node's own files — certificates and keys, kubeconfigs, static-pod
//! manifests, the kubelet's files.

use super::{DoctorInputs, Finding, NodeFacts};

/// Every finding the node's files give.
pub fn check(_inputs: &DoctorInputs, _node: &NodeFacts) -> Vec<Finding> {
    Vec::new()
}
