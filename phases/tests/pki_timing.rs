//! How long `certs all` + `kubeconfig all` take from the moment the context (and its key
//! pool) exists; printed with `--nocapture`, bounded so a regression to serial keygen shows.

mod pki_support;

use std::time::{Duration, Instant};

use kubestrap_phases::HostFs;
use kubestrap_phases::pki::{EncryptionAlgorithm, KeyPool, PkiSession};
use pki_support::*;

async fn time_run(alg: EncryptionAlgorithm, pooled: bool) -> Duration {
    let root = tempfile::tempdir().unwrap();
    let spec = spec(root.path(), alg);
    let start = Instant::now();
    let session = if pooled {
        PkiSession::for_spec(&spec, &HostFs::real())
    } else {
        PkiSession::new(KeyPool::empty(alg))
    };
    let ctx = Ctx { spec, session };
    run_all(&ctx, &HostFs::real())
        .await
        .map_err(|(n, e)| format!("{n}: {e}"))
        .unwrap();
    start.elapsed()
}

#[tokio::test]
async fn certs_and_kubeconfigs_timing() {
    for alg in [EncryptionAlgorithm::Rsa2048, EncryptionAlgorithm::EcdsaP256] {
        let pooled = time_run(alg, true).await;
        let inline = time_run(alg, false).await;
        println!(
            "{}: certs all + kubeconfig all = {:?} with the key pool, {:?} generating inline",
            alg.as_str(),
            pooled,
            inline
        );
        assert!(pooled < Duration::from_secs(60), "{pooled:?}");
    }
}
