//! The process's allocator: jemalloc, configured to give memory back.
//!
//! Every browser costs tens of kilobytes (buffers, socket state); when thousands leave
//! at once — a lecture ends, a proxy restarts — glibc's allocator keeps most of the
//! freed pages resident, pinned by the few live allocations between them (even after
//! `malloc_trim`): 10,000 on-screen chat browsers leaving left the process at 58 MB
//! from 11. jemalloc with a background thread that purges unused pages one second
//! after they were freed leaves it at about 25 MB, without a trim or a hook in the
//! connection path (figures in the README, "Idle browsers").
//!
//! The options are compiled in (`malloc_conf`, read by jemalloc before `main`);
//! an operator can still override them at run time with `_RJEM_MALLOC_CONF`
//! (`background_thread:false` for example), as jemalloc documents. Heap profilers
//! that intercept `malloc` (heaptrack) do not see jemalloc's prefixed functions: the
//! `system-allocator` feature builds with glibc's instead.

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's compile-time options (`tikv-jemalloc-sys` prefixes its symbols with
/// `_rjem_`): a background thread does the purging, so an idle server gives memory back
/// too; dirty pages are returned to the kernel after 1 s (default 10 s) and not kept
/// as "muzzy" pages (lazily freed, still counted in RSS until the kernel needs them).
/// No cache-oblivious offset for large allocations: it costs a page per allocation of
/// 16 KiB or more, and every room browser holds such a websocket write buffer
/// (−1.2 KiB per idle room browser).
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: Option<&'static u8> = Some(
    &b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,cache_oblivious:false\0"[0],
);
