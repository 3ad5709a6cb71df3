//! The typed contexts phases run with: everything a phase may read about the run, validated
//! before the first phase starts.

use crate::config::{InitConfig, JoinConfig};
use crate::host::NodeRoot;

/// What every init phase sees.
#[derive(Debug, Clone)]
pub struct InitContext {
    pub config: InitConfig,
    pub root: NodeRoot,
}

/// What every join phase sees.
#[derive(Debug, Clone)]
pub struct JoinContext {
    pub config: JoinConfig,
    pub root: NodeRoot,
}
