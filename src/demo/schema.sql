-- The ILIAS 9 chat tables, in SQLite dialect, for `ilias-chat --demo` only.
-- In production the schema belongs to ILIAS and the server never creates tables.
CREATE TABLE IF NOT EXISTS chatroom_settings (
  room_id INTEGER PRIMARY KEY,
  object_id INTEGER DEFAULT 0,
  room_type VARCHAR(20) NOT NULL DEFAULT '',
  allow_anonymous INTEGER DEFAULT 0,
  allow_custom_usernames INTEGER DEFAULT 0,
  enable_history INTEGER DEFAULT 0,
  restrict_history INTEGER DEFAULT 0,
  autogen_usernames VARCHAR(50) DEFAULT 'Anonymous #',
  display_past_msgs INTEGER NOT NULL DEFAULT 0,
  private_rooms_enabled INTEGER NOT NULL DEFAULT 0,
  online_status INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS chatroom_settings_seq (sequence INTEGER PRIMARY KEY AUTOINCREMENT);
CREATE TABLE IF NOT EXISTS chatroom_users (
  room_id INTEGER NOT NULL DEFAULT 0,
  user_id INTEGER NOT NULL DEFAULT 0,
  userdata VARCHAR(4000) NOT NULL DEFAULT '',
  connected INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (room_id, user_id)
);
CREATE TABLE IF NOT EXISTS chatroom_sessions (
  sess_id INTEGER PRIMARY KEY,
  room_id INTEGER NOT NULL DEFAULT 0,
  user_id INTEGER NOT NULL DEFAULT 0,
  userdata VARCHAR(4000) DEFAULT NULL,
  connected INTEGER NOT NULL DEFAULT 0,
  disconnected INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS chatroom_sessions_seq (sequence INTEGER PRIMARY KEY AUTOINCREMENT);
CREATE TABLE IF NOT EXISTS chatroom_history (
  hist_id INTEGER PRIMARY KEY,
  room_id INTEGER NOT NULL DEFAULT 0,
  message VARCHAR(4000) DEFAULT NULL,
  timestamp INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS chatroom_history_seq (sequence INTEGER PRIMARY KEY AUTOINCREMENT);
CREATE TABLE IF NOT EXISTS chatroom_bans (
  room_id INTEGER NOT NULL DEFAULT 0,
  user_id INTEGER NOT NULL DEFAULT 0,
  timestamp INTEGER NOT NULL DEFAULT 0,
  remark VARCHAR(1000) DEFAULT NULL,
  actor_id INTEGER DEFAULT NULL,
  PRIMARY KEY (room_id, user_id)
);
CREATE TABLE IF NOT EXISTS chatroom_smilies (
  smiley_id INTEGER PRIMARY KEY,
  smiley_keywords VARCHAR(100) DEFAULT NULL,
  smiley_path VARCHAR(200) DEFAULT NULL
);
CREATE TABLE IF NOT EXISTS osc_conversation (
  id VARCHAR(255) PRIMARY KEY,
  is_group INTEGER NOT NULL DEFAULT 0,
  participants VARCHAR(4000) DEFAULT NULL
);
CREATE TABLE IF NOT EXISTS osc_messages (
  id VARCHAR(255) PRIMARY KEY,
  conversation_id VARCHAR(255) NOT NULL DEFAULT '',
  user_id INTEGER NOT NULL DEFAULT 0,
  message TEXT DEFAULT NULL,
  timestamp INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS osc_activity (
  conversation_id VARCHAR(255) NOT NULL DEFAULT '',
  user_id INTEGER NOT NULL DEFAULT 0,
  timestamp INTEGER NOT NULL DEFAULT 0,
  is_closed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (conversation_id, user_id)
);
CREATE TABLE IF NOT EXISTS usr_data (
  usr_id INTEGER PRIMARY KEY,
  login VARCHAR(190) UNIQUE
);
CREATE TABLE IF NOT EXISTS usr_pref (
  usr_id INTEGER NOT NULL DEFAULT 0,
  keyword CHAR(40) NOT NULL DEFAULT '',
  value VARCHAR(4000) DEFAULT NULL,
  PRIMARY KEY (usr_id, keyword)
);
INSERT OR IGNORE INTO chatroom_settings (room_id, object_id, room_type, enable_history) VALUES (1, 1, 'repository', 1);
