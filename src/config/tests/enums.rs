//! Text forms of the small value types, and the summary wording.

use std::path::PathBuf;

use crate::config::{
    DeletionUnit, Generation, LogLevel, Protocol, ServerConfig, TimeOfDay, TlsFiles,
};

#[test]
fn log_level_names_round_trip() {
    let names: Vec<String> = LogLevel::ALL.iter().map(ToString::to_string).collect();
    assert_eq!(
        names,
        [
            "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug", "silly"
        ]
    );
    for level in LogLevel::ALL {
        assert_eq!(level.as_str().parse::<LogLevel>(), Ok(level));
        assert_eq!(level.as_str().to_uppercase().parse::<LogLevel>(), Ok(level));
    }
    // Ordered by severity, most severe first.
    assert!(LogLevel::Emerg < LogLevel::Error && LogLevel::Debug < LogLevel::Silly);
    assert!("nonsense".parse::<LogLevel>().is_err());
}

#[test]
fn generation_display() {
    let shown: Vec<String> = [
        Generation::Ilias8,
        Generation::Ilias9,
        Generation::Ilias10,
        Generation::Ilias11,
        Generation::Ilias12,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(shown, ["8", "9", "10", "11", "12"]);
    assert_eq!("10".parse::<Generation>(), Ok(Generation::Ilias10));
    assert_eq!("11".parse::<Generation>(), Ok(Generation::Ilias11));
    assert_eq!("12".parse::<Generation>(), Ok(Generation::Ilias12));
    assert!("7".parse::<Generation>().is_err());
    assert!("13".parse::<Generation>().is_err());
    // 11 and 12 share 10's profile but for the accept-messages default.
    assert!(Generation::Ilias9.escapes_html() && !Generation::Ilias10.escapes_html());
    assert!(!Generation::Ilias11.escapes_html() && !Generation::Ilias12.escapes_html());
    assert!(!Generation::Ilias10.missing_accept_row_means_default());
    assert!(Generation::Ilias11.missing_accept_row_means_default());
}

#[test]
fn deletion_unit_display() {
    let units = [
        DeletionUnit::Days,
        DeletionUnit::Weeks,
        DeletionUnit::Months,
        DeletionUnit::Years,
    ];
    let shown: Vec<String> = units.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["days", "weeks", "months", "years"]);
    let singular: Vec<&str> = units.iter().map(DeletionUnit::singular).collect();
    assert_eq!(singular, ["day", "week", "month", "year"]);
}

#[test]
fn time_of_day_display() {
    assert_eq!(TimeOfDay { hour: 3, minute: 5 }.to_string(), "03:05");
    assert_eq!(
        TimeOfDay {
            hour: 23,
            minute: 59
        }
        .to_string(),
        "23:59"
    );
    assert_eq!(
        "7:30".parse::<TimeOfDay>().map(|t| t.to_string()),
        Ok("07:30".to_owned())
    );
}

fn server(address: &str) -> ServerConfig {
    ServerConfig {
        file: PathBuf::from("/etc/ilias-chat/server.cfg"),
        address: address.to_owned(),
        port: 8585,
        protocol: Protocol::Http,
        sub_directory: None,
        log: None,
        error_log: None,
        log_level: LogLevel::Info,
        deletion: None,
        edge: crate::config::EdgeLimits::default(),
        metrics: None,
        reconnect_window: std::time::Duration::from_secs(1800),
        userlist_interval: std::time::Duration::from_millis(100),
        write_timeout: std::time::Duration::from_secs(30),
    }
}

#[test]
fn server_summary_example() {
    assert_eq!(
        server("127.0.0.1").summary(),
        "server /etc/ilias-chat/server.cfg: http://127.0.0.1:8585, socket.io at /socket.io, \
         log level info, logging to journal/stderr, purge off"
    );
}

#[test]
fn server_summary_variants() {
    let mut config = server("::1");
    config.protocol = Protocol::Https(TlsFiles {
        cert: PathBuf::from("/etc/ssl/chat.pem"),
        key: PathBuf::from("/etc/ssl/chat.key"),
        dhparam: None,
    });
    config.error_log = Some(PathBuf::from("/var/log/chat-errors.log"));
    config.deletion = Some(crate::config::DeletionPolicy {
        unit: DeletionUnit::Weeks,
        value: 1,
        time: TimeOfDay {
            hour: 2,
            minute: 30,
        },
    });
    assert_eq!(
        config.summary(),
        "server /etc/ilias-chat/server.cfg: https://[::1]:8585 (cert /etc/ssl/chat.pem, \
         key /etc/ssl/chat.key), socket.io at /socket.io, log level info, \
         logging to journal/stderr, errors to /var/log/chat-errors.log, \
         purge messages older than 1 week daily at 02:30"
    );
}
