// Built by tests/blocking_abort.rs as its own crate with `panic = "abort"`:
// a panic anywhere would kill this process, and the hook below would speak.
use std::sync::Arc;

use cache_abstractions::{
    async_trait, BlockingCache, Bytes, Capabilities, DistributedCache, EntryOptions, ErrorKind,
    Result,
};

#[derive(Debug)]
struct Nothing;

#[async_trait]
impl DistributedCache for Nothing {
    async fn get(&self, _: &str) -> Result<Option<Bytes>> {
        Ok(None)
    }
    async fn set(&self, _: &str, _: Bytes, _: &EntryOptions) -> Result<()> {
        Ok(())
    }
    async fn refresh(&self, _: &str) -> Result<()> {
        Ok(())
    }
    async fn remove(&self, _: &str) -> Result<()> {
        Ok(())
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
    }
}

fn main() {
    std::panic::set_hook(Box::new(|_| eprintln!("panic hook fired")));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let kinds = rt.block_on(async {
        let owned = BlockingCache::new(Arc::new(Nothing)).expect("facade");
        let borrowed =
            BlockingCache::with_handle(Arc::new(Nothing), tokio::runtime::Handle::current());
        let built = BlockingCache::build(async { Ok(Nothing) }).map(|_| ());
        [
            owned.get("k").map(|_| ()),
            borrowed.set("k", "v", &EntryOptions::new()),
            built,
        ]
        .map(|r| r.err().map(|e| e.kind()))
    });
    let all_unsupported = kinds.iter().all(|k| *k == Some(ErrorKind::Unsupported));
    println!("{kinds:?}");
    std::process::exit(if all_unsupported { 0 } else { 1 });
}
