//! ILIAS' PHP sessions (`usr_session`), read to verify which user a browser is
//! (docs/verified-identity.md). Only read: ILIAS alone writes and expires sessions.

use sqlx::Row;

use super::{Store, StoreError};

/// `ANONYMOUS_USER_ID`: the setup of every ILIAS 8–11 installation creates the
/// anonymous account as user 13, and public-section visitors' sessions carry it.
pub const ANONYMOUS_USER_ID: i64 = 13;

/// The most ids one statement names (`IN (...)`); larger batches take several.
pub const MAX_IDS_PER_QUERY: usize = 500;

/// How PHP serialises ILIAS' "this session has expired" flag (`ilAuthSession`), with
/// the default `php` serialize handler and with `php_serialize`. ILIAS keeps the row (and
/// refreshes `expires`) until the browser's next page sends it to the login form.
const EXPIRED_MARKERS: [&str; 2] = [
    "_authsession_expired|i:1;",
    "s:20:\"_authsession_expired\";i:1;",
];

/// A live session of a real user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSession {
    pub session_id: String,
    pub user_id: i64,
    /// Unix time after which ILIAS treats the session as expired.
    pub expires: i64,
}

/// The sessions among `ids` that are live at unix time `now` and belong to a real user:
/// not expired (by time or by ILIAS' flag), user id above 0 (0 = nobody logged in) and
/// not the anonymous user. Ids without such a row are simply absent from the result.
pub async fn live_sessions(
    store: &Store,
    ids: &[String],
    now: i64,
) -> Result<Vec<LiveSession>, StoreError> {
    let mut found = Vec::new();
    for chunk in ids.chunks(MAX_IDS_PER_QUERY) {
        let placeholders = vec!["?"; chunk.len()].join(", ");
        let sql = format!(
            "SELECT session_id, user_id + 0 AS user_id, expires + 0 AS expires \
             FROM usr_session \
             WHERE session_id IN ({placeholders}) AND expires >= ? \
             AND user_id > 0 AND user_id <> ? \
             AND (data IS NULL OR (INSTR(data, ?) = 0 AND INSTR(data, ?) = 0))"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.as_str());
        }
        let rows = query
            .bind(now)
            .bind(ANONYMOUS_USER_ID)
            .bind(EXPIRED_MARKERS[0])
            .bind(EXPIRED_MARKERS[1])
            .fetch_all(store.pool())
            .await
            .map_err(StoreError::query("looking up ILIAS sessions"))?;
        for row in rows {
            found.push(LiveSession {
                session_id: row
                    .try_get("session_id")
                    .map_err(StoreError::query("reading usr_session.session_id"))?,
                user_id: row
                    .try_get("user_id")
                    .map_err(StoreError::query("reading usr_session.user_id"))?,
                expires: row
                    .try_get("expires")
                    .map_err(StoreError::query("reading usr_session.expires"))?,
            });
        }
    }
    Ok(found)
}
