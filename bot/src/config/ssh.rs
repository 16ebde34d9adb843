//! Checks `[ssh]`.

use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::config::check::Checker;
use crate::config::config_file::normalize;
use crate::config::diagnostic::did_you_mean;
use crate::config::raw::RawSsh;
use crate::core::model::{HostKeyPolicy, SshSettings};

/// Longest control directory we accept: ssh control socket paths are limited to ~107 bytes,
/// and the socket name inside the directory takes some of that.
const MAX_CONTROL_DIR: usize = 60;

pub(crate) fn check_ssh(
    c: &mut Checker<'_>,
    raw: Option<RawSsh>,
    dir: &Path,
) -> Option<SshSettings> {
    let Some(raw) = raw else {
        return Some(SshSettings::default());
    };
    let defaults = SshSettings::default();
    let identity_file = raw.identity_file.as_ref().map(|p| file_path(c, p, dir));
    let known_hosts = raw.known_hosts.as_ref().map(|p| file_path(c, p, dir));
    let control_dir = match &raw.control_dir {
        None => Some(None),
        Some(p) => file_path(c, p, dir).and_then(|path| {
            let len = path.as_os_str().len();
            if len > MAX_CONTROL_DIR {
                c.error(
                    p,
                    format!(
                        "control_dir is {len} bytes long; ssh control socket paths are limited \
                         to about 107 bytes, so keep it under {MAX_CONTROL_DIR} (e.g. \
                         \"/tmp/deckhand-ssh\")"
                    ),
                );
                return None;
            }
            Some(Some(path))
        }),
    };
    let host_key_policy = match &raw.host_key_policy {
        None => Some(HostKeyPolicy::Strict),
        Some(p) => match p.get_ref().trim() {
            "strict" => Some(HostKeyPolicy::Strict),
            "accept-new" | "accept_new" => Some(HostKeyPolicy::AcceptNew),
            other => {
                let hint = did_you_mean(other, ["strict", "accept-new"]);
                c.error(
                    p,
                    format!(
                        "unknown host_key_policy `{other}`; expected \"strict\" (refuse unknown \
                         host keys) or \"accept-new\" (record a key seen for the first time){hint}"
                    ),
                );
                None
            }
        },
    };
    let connect_timeout = c.duration_or(
        raw.connect_timeout.as_ref(),
        "ssh.connect_timeout",
        defaults.connect_timeout,
    );
    let max_sessions = c.count_or(
        raw.max_sessions.as_ref(),
        "ssh.max_sessions",
        1,
        defaults.max_sessions,
    );
    Some(SshSettings {
        identity_file: identity_file.map(|p| p.ok_or(())).transpose().ok()?,
        known_hosts: known_hosts.map(|p| p.ok_or(())).transpose().ok()?,
        host_key_policy: host_key_policy?,
        connect_timeout: connect_timeout?,
        control_dir: control_dir?,
        max_sessions: max_sessions?,
    })
}

/// A path in the config: `~/` is the home directory, a relative path is relative to the config
/// file's directory (not to wherever the bot was started).
fn file_path(c: &mut Checker<'_>, raw: &Spanned<String>, dir: &Path) -> Option<PathBuf> {
    let text = c.non_empty(raw, "the path")?;
    if let Some(rest) = text.strip_prefix("~/") {
        match std::env::var_os("HOME") {
            Some(home) => return Some(PathBuf::from(home).join(rest)),
            None => {
                c.error(
                    raw,
                    "`~/` needs $HOME, which is not set; give an absolute path",
                );
                return None;
            }
        }
    }
    Some(normalize(&dir.join(text)))
}
