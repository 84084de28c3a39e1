//! Where the configuration comes from: the command line names server.cfg and the
//! client configs — files, directories (every `*.cfg` inside) or globs such as
//! `/etc/ilias-chat/clients/*.cfg` (systemd does not expand globs in `ExecStart=`).
//! The list is expanded again on every reload, so new files are picked up.

use std::path::{Path, PathBuf};

/// Why the client list could not be expanded.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{dir}: cannot list the directory: {source}")]
    List {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no client configuration found in {0}")]
    Empty(String),
}

/// The configuration arguments of the command line.
#[derive(Debug, Clone)]
pub struct ConfigSources {
    pub server: PathBuf,
    pub clients: Vec<PathBuf>,
}

impl ConfigSources {
    /// The client.cfg files the arguments name now, in argument order (matches of one
    /// directory or glob sorted by name).
    pub fn client_files(&self) -> Result<Vec<PathBuf>, SourceError> {
        let mut files = Vec::new();
        for arg in &self.clients {
            files.extend(expand(arg)?);
        }
        if files.is_empty() {
            let named: Vec<String> = self
                .clients
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            return Err(SourceError::Empty(named.join(", ")));
        }
        Ok(files)
    }
}

fn expand(arg: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let name = arg.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if arg.is_dir() {
        return matching(arg, "*.cfg");
    }
    if name.contains(['*', '?']) {
        let dir = arg
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        return matching(dir, name);
    }
    // A plain path, even a missing one: loading it reports the problem with its name.
    Ok(vec![arg.to_path_buf()])
}

fn matching(dir: &Path, pattern: &str) -> Result<Vec<PathBuf>, SourceError> {
    let entries = std::fs::read_dir(dir).map_err(|source| SourceError::List {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| !n.starts_with('.') && glob_match(pattern, n))
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    Ok(found)
}

/// Shell-style matching of one file name: `*` any run, `?` one character.
fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ni));
            pi += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ni = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_a_shell() {
        assert!(glob_match("*.cfg", "client.cfg"));
        assert!(glob_match("*.cfg", ".cfg"));
        assert!(!glob_match("*.cfg", "client.cfg.bak"));
        assert!(glob_match("c?ient*.cfg", "client-2.cfg"));
        assert!(glob_match("*", "anything"));
        assert!(!glob_match("a*b", "ac"));
    }

    #[test]
    fn directories_and_globs_expand_sorted() {
        let dir = std::env::temp_dir().join(format!("ilias-chat-sources-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        for name in ["b.cfg", "a.cfg", "c.txt", ".hidden.cfg"] {
            std::fs::write(dir.join(name), "{}").expect("write");
        }
        let sources = ConfigSources {
            server: dir.join("server.cfg"),
            clients: vec![
                dir.clone(),
                dir.join("*.txt"),
                PathBuf::from("/missing/x.cfg"),
            ],
        };
        let files = sources.client_files().expect("expands");
        assert_eq!(
            files,
            vec![
                dir.join("a.cfg"),
                dir.join("b.cfg"),
                dir.join("c.txt"),
                PathBuf::from("/missing/x.cfg")
            ]
        );
        let empty = ConfigSources {
            server: dir.join("s"),
            clients: vec![dir.join("*.none")],
        };
        assert!(matches!(empty.client_files(), Err(SourceError::Empty(_))));
        std::fs::remove_dir_all(&dir).ok();
    }
}
