//! `ilias-chat SERVER_CFG CLIENT_CFG [CLIENT_CFG…]`: the same arguments as the Node.js
//! `chat.js`, so an operator can swap the binary in without touching anything else.
//! Client arguments may also be directories or globs (`/etc/ilias-chat/clients/*.cfg`).
//!
//! Everything that can fail because of configuration or privileges happens
//! synchronously, before the runtime starts: parse the command line, validate every
//! file (`--check` stops here), take the listening sockets (from systemd or by binding),
//! set up logging and open log files, load TLS material, drop root. Then the runtime
//! starts and serves until SIGTERM/SIGINT, reloading on SIGHUP.

#[cfg(all(target_os = "linux", not(feature = "system-allocator")))]
mod allocator;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};

use clap::Parser;
use tokio::sync::{mpsc, watch};

use ilias_chat::check::{self, CheckOptions};
use ilias_chat::config::{self, Protocol};
use ilias_chat::daemon::exit::{ExitStatus, StartupError};
use ilias_chat::daemon::listen::Listeners;
use ilias_chat::daemon::logging::Logging;
use ilias_chat::daemon::sources::ConfigSources;
use ilias_chat::daemon::state::StateDir;
use ilias_chat::daemon::{listen, privileges, signals};
use ilias_chat::health::probe;
use ilias_chat::server::{Reloader, Running, Server};
use ilias_chat::{demo, http};

/// A drop-in replacement for the ILIAS chat server (repository chat rooms and
/// on-screen chat), for ILIAS 8, 9 and 10.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// server.cfg as written by the ILIAS setup.
    #[arg(value_name = "SERVER_CFG", required_unless_present = "demo")]
    server_cfg: Option<PathBuf>,

    /// client.cfg files (one per ILIAS client), directories of `*.cfg` files, or globs.
    #[arg(value_name = "CLIENT_CFG", required_unless_present = "demo")]
    client_cfgs: Vec<PathBuf>,

    /// Validate every configuration file, report every problem, and exit (as root:
    /// also whether the --user can read them).
    #[arg(long, conflicts_with = "demo")]
    check: bool,

    /// With --check: also connect to every database and check the chat tables.
    #[arg(long, requires = "check")]
    connect: bool,

    /// Ask the running server (address and port of SERVER_CFG) for the status of every
    /// client, print one line each, and exit non-zero when one is unhealthy.
    #[arg(long, conflicts_with_all = ["demo", "check"])]
    health: bool,

    /// When started as root: the user to switch to once the sockets are open.
    #[arg(long, value_name = "NAME", default_value = privileges::DEFAULT_USER)]
    user: String,

    /// Start a self-contained demo server (SQLite, generated configs, demo page).
    #[arg(long)]
    demo: bool,

    /// Where state that outlives the process is kept (write journal, restart
    /// snapshot); default $STATE_DIRECTORY, else /var/lib/ilias-chat. Demo: also its
    /// generated configs and SQLite database.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,

    /// Demo: the address to listen on.
    #[arg(
        long,
        value_name = "ADDR:PORT",
        requires = "demo",
        default_value = "127.0.0.1:8888"
    )]
    listen: SocketAddr,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.demo {
        return match demo::run(cli.state_dir.clone(), cli.listen) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("ilias-chat --demo: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    let sources = ConfigSources {
        // clap requires both outside demo mode.
        server: cli.server_cfg.clone().unwrap_or_default(),
        clients: cli.client_cfgs.clone(),
    };
    if cli.check {
        return check::run(&CheckOptions {
            sources,
            user: cli.user.clone(),
            connect: cli.connect,
        })
        .into();
    }
    if cli.health {
        return health(&sources).into();
    }
    match start(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ilias-chat: {error}");
            error.status.into()
        }
    }
}

fn start(cli: Cli) -> Result<(), StartupError> {
    let sources = ConfigSources {
        // clap requires both outside demo mode.
        server: cli.server_cfg.clone().unwrap_or_default(),
        clients: cli.client_cfgs.clone(),
    };
    let server_cfg =
        config::load_server(&sources.server).map_err(StartupError::with(ExitStatus::Config))?;
    let client_files = sources
        .client_files()
        .map_err(StartupError::with(ExitStatus::Config))?;
    let client_cfgs =
        config::load_clients(&client_files).map_err(StartupError::with(ExitStatus::Config))?;

    let logging =
        Logging::init(&server_cfg).map_err(StartupError::with(ExitStatus::CannotOpenLog))?;
    // Asked before the sockets are taken (that clears systemd's variables).
    let sockets_outlive_us = listen::passed_by_systemd();
    let socket_units = ilias_chat::daemon::stop::socket_units();
    let Listeners {
        chat: listeners,
        metrics,
    } = listen::take_listeners(&server_cfg)
        .map_err(StartupError::with(ExitStatus::CannotListen))?;
    let tls = match &server_cfg.protocol {
        Protocol::Http => None,
        Protocol::Https(files) => {
            let acceptor = http::tls::load(files).map_err(|e| {
                StartupError::new(
                    ExitStatus::Config,
                    format!("{}: {e}", server_cfg.file.display()),
                )
            })?;
            Some(Arc::new(RwLock::new(acceptor)))
        }
    };
    if privileges::is_root() {
        if cli.user == "root" {
            tracing::warn!("running as root (--user root); this is not recommended");
        } else {
            let (uid, gid) = privileges::drop_to(&cli.user)
                .map_err(StartupError::with(ExitStatus::CannotDropPrivileges))?;
            tracing::info!(
                user = cli.user,
                uid = uid.as_raw(),
                gid = gid.as_raw(),
                "dropped root privileges"
            );
        }
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            StartupError::new(
                ExitStatus::Failure,
                format!("cannot start the runtime: {e}"),
            )
        })?;
    runtime
        .block_on(async move {
            let (stop_tx, stop_rx) = watch::channel(false);
            let (reload_tx, reload_rx) = mpsc::unbounded_channel();
            signals::watch_signals(stop_tx, Some(reload_tx))?;
            let state = StateDir::resolve(cli.state_dir.clone());
            tracing::info!(state_dir = %state.root().display(), "state directory");
            ilias_chat::metrics::start_time();
            let server = Server::new(&server_cfg, client_cfgs, state, None);
            if let Some(listener) = &metrics {
                tracing::info!(
                    "Prometheus metrics at http://{}/metrics",
                    listen::describe(listener)
                );
            }
            for listener in &listeners {
                tracing::info!(
                    "The Server is Ready to use! Listening on: {}://{} (socket.io at {})",
                    if tls.is_some() { "https" } else { "http" },
                    listen::describe(listener),
                    server.socket_io_path()
                );
            }
            let reloader = Reloader {
                sources,
                logging: Some(logging),
            };
            server
                .run(Running {
                    listeners,
                    tls,
                    stop: stop_rx,
                    reloads: Some((reload_rx, reloader)),
                    metrics,
                    sockets_outlive_us,
                    socket_units,
                })
                .await
        })
        .map_err(StartupError::with(ExitStatus::Failure))
}

/// `--health`: asks the running server for the status of every client.
fn health(sources: &ConfigSources) -> ExitStatus {
    let loaded = config::load_server(&sources.server)
        .map_err(|e| e.to_string())
        .and_then(|server| {
            let files = sources.client_files().map_err(|e| e.to_string())?;
            let clients = config::load_clients(&files).map_err(|e| e.to_string())?;
            Ok((server, clients))
        });
    let (server, clients) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("ilias-chat --health: {error}");
            return ExitStatus::Config;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ilias-chat --health: cannot start the runtime: {error}");
            return ExitStatus::Failure;
        }
    };
    let mut healthy = true;
    for client in &clients {
        let outcome = runtime.block_on(probe::probe(&server, client));
        healthy &= outcome.is_healthy();
        println!("{}", outcome.describe(&client.name));
    }
    if healthy {
        ExitStatus::Success
    } else {
        ExitStatus::Unavailable
    }
}
