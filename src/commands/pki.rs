//! Where the `certs` and `kubeconfig` commands find the cluster's PKI: the same configuration
//! `init` reads (file, flags, defaults), reduced to its PKI slice.

use kubestrap_phases::config::{self, InitFlags};
use kubestrap_phases::context::init_pki_spec;
use kubestrap_phases::domain::pki::PkiSpec;

use super::CommandError;
use crate::cli::{GlobalArgs, PkiArgs};
use crate::workflows::node_root;

pub(super) fn spec(global: &GlobalArgs, args: &PkiArgs) -> Result<PkiSpec, CommandError> {
    let flags = InitFlags {
        cert_dir: args.cert_dir.clone(),
        node_name: args.node_name.clone(),
        apiserver_advertise_address: args.apiserver_advertise_address.clone(),
        apiserver_bind_port: args.apiserver_bind_port,
        control_plane_endpoint: args.control_plane_endpoint.clone(),
        ..InitFlags::default()
    };
    let config = config::load_init(args.config.as_deref(), &flags)?;
    let root = node_root(global)?;
    Ok(init_pki_spec(&config, &root))
}
