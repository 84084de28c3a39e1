//! Shared harness for the integration tests (`mod common;` in every `tests/*.rs`). Every
//! item is re-exported here, so a test imports from `common::` whatever file holds it;
//! only the systemd-specific helpers keep their own path, `common::systemd::`.
//!
//! * `db`: [`TestDb`], a uniquely named MariaDB/MySQL database with one of the ILIAS chat
//!   schemas from `tests/fixtures/schema/`, dropped again when the handle goes away.
//! * `configs`: server.cfg and client.cfg as ILIAS writes them.
//! * `setup`: [`DaemonSetup`], the one builder that writes a daemon's configs into a test
//!   directory and starts it (directly or behind `systemd-socket-activate`, `setpriv`,
//!   `nsenter`).
//! * `server`: [`TestServer`], a daemon started and waited for until its backend answers.
//! * `process`: [`Daemon`], a started process with its output in files, killed on drop.
//! * `http`: a minimal HTTP/1.1 client that talks to the backend API exactly like ILIAS
//!   PHP does (`Connection: close`, JSON content type, Basic auth).
//! * `polling`: [`Polling`], an Engine.IO 4 polling client joined to a namespace.
//! * `files`: [`TempDir`], unique names, JSON and log files.
//! * [`load`]: thousands of browsers from worker processes, for the benches.
//! * `mariadbd`: [`ThrowawayMariadb`], a MariaDB server of the test's own, which the test
//!   may stop and start again.
//! * `tools` and `users`: the real tools a test needs (fail, never skip, when missing)
//!   and [`ScratchUser`], a throwaway system user.
//! * `bench`: what the benchmarks in `benches/` share (CPU time and RSS of a process,
//!   latency summaries, the bench's own descriptor limit).
//! * `ws`: [`Ws`], a minimal websocket client for Engine.IO over websocket.
//! * [`systemd`]: the `NOTIFY_SOCKET` receiver and `systemd-socket-activate` helpers.
//!
//! The database server comes from `ILIAS_CHAT_TEST_DATABASE_URL`
//! (`mysql://user:pass@host:port`, no database), by default `mysql://root@127.0.0.1:3306`.
//! `tests/run.sh` provisions one when none is running. Tests never skip without it: they
//! fail with a message that says what is missing.

// Each test binary uses a part of the harness: the rest of it, and of these re-exports,
// is unused there.
#![allow(dead_code, unused_imports)]

mod bench;
mod configs;
mod db;
mod files;
mod http;
pub mod load;
mod mariadbd;
mod polling;
mod process;
mod server;
mod setup;
pub mod systemd;
mod tools;
mod users;
mod ws;

pub use bench::{
    bench_start, cpu_seconds, cpu_times, latency_summary, proc_field, raise_own_limit, rss_kib,
};
pub use configs::{client_cfg, server_cfg, unreachable_client};
pub use db::{
    DATABASE_URL_ENV, DEFAULT_DATABASE_URL, DbServer, Schema, TestDb, split_sql, test_database_url,
};
pub use files::{KEEP_ENV, TempDir, read_lines, write_json};
pub use http::{
    Headers, HttpResponse, basic_auth, expect_http_200, get, http_at, http_get, http_request,
    ilias_request, nothing_listens, v4, v6, wait_http_200,
};
pub use mariadbd::ThrowawayMariadb;
pub use polling::Polling;
pub use process::{Daemon, SYSTEMD_ENV, binary, eventually, free_port};
pub use server::TestServer;
pub use setup::DaemonSetup;
pub use tools::{is_root, require_root, require_tool, run_tool};
pub use users::{ProcIds, ScratchUser, proc_ids, scratch_user_if_root};
pub use ws::{EIO_WS_PATH, Ws};
