//! File descriptors: every browser holds one, so the limit decides how many browsers
//! a process can serve. At start-up the soft limit is raised to the hard limit (the
//! soft limit systemd gives services is 1024), and how many connections may be
//! browsers is worked out so that ILIAS PHP's backend calls always find a descriptor.

use std::fs::File;

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Descriptors kept for ILIAS PHP's backend calls: once the open connections reach the
/// limit minus this reserve, browsers are refused (503) while backend calls are still
/// served. PHP's calls are short; a hundred of them at once is a very busy ILIAS.
pub const BACKEND_RESERVE: u64 = 128;

/// Descriptors the process uses besides connections, beyond those open at start-up:
/// the database pools, the write journals, the snapshot, configuration files read on
/// a reload, metrics scrapes.
const SLACK: u64 = 64;

/// Database connections per client (the pool's size).
const PER_CLIENT: u64 = 8;

/// The fewest browsers a limit should leave room for before a warning is due: an
/// ILIAS with the on-screen chat holds one connection per page open, so a campus
/// reaches this at lunchtime.
pub const MIN_BROWSERS: u64 = 4096;

/// Spare descriptors (opened on `/dev/null`) held while everything is fine, and given
/// up one at a time when `accept` fails for lack of descriptors, so the connection
/// waiting first can be accepted, and served if it is a backend call.
pub const SPARES: usize = 8;

/// The descriptor limit as it was found and as it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorLimit {
    /// The soft limit now in effect.
    pub soft: u64,
    /// The hard limit (the most the soft limit can be raised to).
    pub hard: u64,
    /// The soft limit before it was raised; `None` when it was not changed.
    pub raised_from: Option<u64>,
}

impl DescriptorLimit {
    /// Raises the soft limit of open files to the hard limit. Under a system-call
    /// filter that forbids it (`~@resources` filters `setrlimit`, though `prlimit64`,
    /// which glibc uses, is in `@default`) the soft limit stays and the error is logged.
    pub fn raise() -> DescriptorLimit {
        let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
            Ok(limits) => limits,
            Err(error) => {
                tracing::warn!(%error, "cannot read the open file limit");
                return DescriptorLimit {
                    soft: 1024,
                    hard: 1024,
                    raised_from: None,
                };
            }
        };
        if soft >= hard {
            return DescriptorLimit {
                soft,
                hard,
                raised_from: None,
            };
        }
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => DescriptorLimit {
                soft: hard,
                hard,
                raised_from: Some(soft),
            },
            Err(error) => {
                tracing::warn!(%error, soft, hard, "cannot raise the open file limit");
                DescriptorLimit {
                    soft,
                    hard,
                    raised_from: None,
                }
            }
        }
    }

    /// How many connections may be open before browsers are refused: the limit less
    /// what is open now, what the clients' database pools take, some slack and the
    /// [`BACKEND_RESERVE`].
    pub fn browser_capacity(&self, open_now: u64, clients: usize) -> u64 {
        self.soft
            .saturating_sub(overhead(open_now, clients))
            .saturating_sub(BACKEND_RESERVE)
    }

    /// The limit this configuration needs for [`MIN_BROWSERS`] browsers, if the limit
    /// in effect is lower.
    pub fn shortfall(&self, open_now: u64, clients: usize) -> Option<u64> {
        let needed = MIN_BROWSERS + BACKEND_RESERVE + overhead(open_now, clients);
        (self.soft < needed).then_some(needed)
    }
}

fn overhead(open_now: u64, clients: usize) -> u64 {
    open_now + SLACK + PER_CLIENT.saturating_mul(u64::try_from(clients).unwrap_or(u64::MAX))
}

/// Descriptors open in this process now (0 when `/proc` cannot tell).
pub fn open_now() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|entries| u64::try_from(entries.count()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Spare descriptors: see [`SPARES`].
#[derive(Debug, Default)]
pub struct Spares {
    held: Vec<File>,
}

impl Spares {
    /// Opens up to [`SPARES`] descriptors (fewer when the limit is already reached).
    pub fn new() -> Spares {
        let mut spares = Spares::default();
        spares.refill();
        spares
    }

    /// Gives one spare up; false when none is left.
    pub fn release_one(&mut self) -> bool {
        self.held.pop().is_some()
    }

    /// Opens spares again up to [`SPARES`], as far as descriptors are free.
    pub fn refill(&mut self) {
        while self.held.len() < SPARES {
            match File::open("/dev/null") {
                Ok(file) => self.held.push(file),
                Err(_) => break,
            }
        }
    }

    /// Whether all spares are held.
    pub fn is_full(&self) -> bool {
        self.held.len() >= SPARES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_leaves_the_backend_reserve() {
        let limit = DescriptorLimit {
            soft: 20_000,
            hard: 20_000,
            raised_from: None,
        };
        assert_eq!(
            limit.browser_capacity(20, 1),
            20_000 - 20 - SLACK - PER_CLIENT - BACKEND_RESERVE
        );
        assert_eq!(limit.shortfall(20, 1), None);
        let small = DescriptorLimit {
            soft: 1024,
            hard: 1024,
            raised_from: None,
        };
        assert_eq!(
            small.shortfall(20, 2),
            Some(MIN_BROWSERS + BACKEND_RESERVE + 20 + SLACK + 2 * PER_CLIENT)
        );
        let tiny = DescriptorLimit {
            soft: 100,
            hard: 100,
            raised_from: None,
        };
        assert_eq!(tiny.browser_capacity(20, 1), 0);
    }

    #[test]
    fn spares_are_given_up_one_by_one_and_refilled() {
        let mut spares = Spares::new();
        assert!(spares.is_full());
        for _ in 0..SPARES {
            assert!(spares.release_one());
        }
        assert!(!spares.release_one());
        spares.refill();
        assert!(spares.is_full());
    }
}
