//! Wall-clock time in the two units ILIAS uses: milliseconds in live payloads and the
//! `osc_*` tables, seconds in the `chatroom_*` tables. A leaf module: everything may
//! use it, it uses nothing of the crate.

/// Milliseconds since the epoch, the unit of every live payload and of `osc_*` rows.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Seconds since the epoch, the unit of `chatroom_*` timestamps.
pub fn now_s() -> i64 {
    now_ms() / 1000
}
