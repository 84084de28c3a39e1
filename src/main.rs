//! `ilias-chat SERVER_CFG CLIENT_CFG [CLIENT_CFG…]`: the same arguments as the Node.js
//! `chat.js`, so an operator can swap the binary in without touching anything else.
//!
//! Everything that can fail because of configuration happens synchronously, before the
//! runtime starts: parse the command line, validate every file (`--check` stops here),
//! take the listening sockets, set up logging, load TLS material. Then the runtime
//! starts and serves until SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tokio::sync::watch;

use ilias_chat::config::{self, EX_CONFIG};
use ilias_chat::daemon::{listen, logging, signals};
use ilias_chat::{demo, http, server::Server};

/// Exit code when the listening socket cannot be had (sysexits `EX_OSERR`).
const EX_OSERR: u8 = 71;

/// A drop-in replacement for the ILIAS chat server (repository chat rooms and
/// on-screen chat), for ILIAS 8, 9 and 10.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// server.cfg as written by the ILIAS setup.
    #[arg(value_name = "SERVER_CFG", required_unless_present = "demo")]
    server_cfg: Option<PathBuf>,

    /// One client.cfg per ILIAS client, as written by the ILIAS administration.
    #[arg(value_name = "CLIENT_CFG", required_unless_present = "demo")]
    client_cfgs: Vec<PathBuf>,

    /// Validate every configuration file, print one summary line each, and exit.
    #[arg(long, conflicts_with = "demo")]
    check: bool,

    /// Start a self-contained demo server (SQLite, generated configs, demo page).
    #[arg(long)]
    demo: bool,

    /// Demo: where the generated configs and the SQLite database live.
    #[arg(long, value_name = "DIR", requires = "demo")]
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
        return demo_main(&cli);
    }
    let (Some(server_path), client_paths) = (cli.server_cfg.as_deref(), cli.client_cfgs.as_slice())
    else {
        // clap enforces both arguments outside demo mode.
        return ExitCode::from(2);
    };
    let loaded = config::load_server(server_path)
        .and_then(|server| Ok((server, config::load_clients(client_paths)?)));
    let (server_cfg, client_cfgs) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("ilias-chat: {error}");
            return ExitCode::from(EX_CONFIG as u8);
        }
    };
    if cli.check {
        println!("{}", server_cfg.summary());
        for client in &client_cfgs {
            println!("{}", client.summary());
        }
        return ExitCode::SUCCESS;
    }

    logging::init(server_cfg.log_level);
    let listeners = match listen::take_listeners(&server_cfg) {
        Ok(listeners) => listeners,
        Err(error) => {
            eprintln!("ilias-chat: {error}");
            return ExitCode::from(EX_OSERR);
        }
    };
    let tls = match &server_cfg.protocol {
        config::Protocol::Http => None,
        config::Protocol::Https(files) => match http::tls::load(files) {
            Ok(acceptor) => Some(acceptor),
            Err(error) => {
                eprintln!("ilias-chat: {}: {error}", server_cfg.file.display());
                return ExitCode::from(EX_CONFIG as u8);
            }
        },
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ilias-chat: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let (stop_tx, stop_rx) = watch::channel(false);
        signals::watch_stop_signals(stop_tx)?;
        let server = Server::new(&server_cfg, client_cfgs, None);
        for listener in &listeners {
            tracing::info!(
                "The Server is Ready to use! Listening on: {}://{} (socket.io at {})",
                if tls.is_some() { "https" } else { "http" },
                listen::describe(listener),
                server.socket_io_path()
            );
        }
        server.run(listeners, tls, stop_rx).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ilias-chat: {error}");
            ExitCode::FAILURE
        }
    }
}

fn demo_main(cli: &Cli) -> ExitCode {
    match demo::run(cli.state_dir.clone(), cli.listen) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ilias-chat --demo: {error:#}");
            ExitCode::FAILURE
        }
    }
}
