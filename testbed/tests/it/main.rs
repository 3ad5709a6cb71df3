//! The kubelet stand-in's integration tests (one test binary, one module per area). They run
//! in both tiers of scripts/test: they need no test-bed binary.

mod runner;
