//! Compiling and instantiating the protocol components.
//!
//! Components import nothing from each other (DESIGN.md §3.2). What Rust's standard library on
//! wasm32-wasip2 imports (wasi:cli, wasi:io...) is satisfied by wasmtime-wasi with an empty
//! context: no arguments, no environment, no files, no sockets, stdio discarded.

use std::time::{Duration, Instant};

use wasmtime::Result;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::error::Context as _;
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The state each component's store carries: an empty WASI context.
pub struct ComponentState {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl std::fmt::Debug for ComponentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentState").finish_non_exhaustive()
    }
}

impl Default for ComponentState {
    fn default() -> Self {
        ComponentState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        }
    }
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The engine every component runs on. Compiled components are cached on disk by content hash
/// (wasmtime's cache, in `$XDG_CACHE_HOME/netstack` or `~/.cache/netstack`), so a second start
/// loads machine code instead of compiling again; without a home directory nothing is cached.
pub fn engine() -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // `NETSTACK_PERFMAP=1`: name the components' compiled functions for `perf report`
    // (/tmp/perf-PID.map), so a profile shows which wasm function burns the time.
    if std::env::var_os("NETSTACK_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if let Some(dir) = cache_dir() {
        let mut cache = wasmtime::CacheConfig::new();
        cache.with_directory(dir);
        match wasmtime::Cache::new(cache) {
            Ok(cache) => {
                config.cache(Some(cache));
            }
            Err(e) => tracing::warn!("compiled-component cache off: {e:#}"),
        }
    }
    Engine::new(&config).context("create the wasmtime engine")
}

fn cache_dir() -> Option<std::path::PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))?;
    Some(base.join("netstack"))
}

/// A linker that provides the WASI imports of the standard library.
pub fn linker(engine: &Engine) -> Result<Linker<ComponentState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).context("add WASI to the linker")?;
    Ok(linker)
}

/// A compiled component and what compiling it cost.
#[derive(Debug)]
pub struct Loaded {
    /// The component.
    pub component: Component,
    /// The `.wasm` file's size in bytes.
    pub wasm_bytes: u64,
    /// Wall time to compile it.
    pub compile_time: Duration,
}

/// Reads and compiles the component at `path`.
pub fn load(engine: &Engine, path: &str) -> Result<Loaded> {
    let bytes = std::fs::read(path).with_context(|| format!("read component {path}"))?;
    let start = Instant::now();
    let component = Component::from_binary(engine, &bytes)
        .with_context(|| format!("compile component {path}"))?;
    Ok(Loaded {
        component,
        wasm_bytes: bytes.len() as u64,
        compile_time: start.elapsed(),
    })
}

/// A fresh store for one component instance.
pub fn store(engine: &Engine) -> Store<ComponentState> {
    Store::new(engine, ComponentState::default())
}
