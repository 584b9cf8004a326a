//! The process's open-files limit (`RLIMIT_NOFILE`): raised from the soft to the hard limit at
//! start-up, and the budget the HTTP connection cap is fitted into. Every TCP connection is a file
//! descriptor; once they run out, `accept` fails and so do new Postgres and AWS connections, so
//! the cap keeps a reserve for those.

/// File descriptors kept back from HTTP connections for everything else the process opens: the
/// Postgres pool and its listeners, the AWS SDK's connection pools, the listening socket, the
/// embedded simulator in dev mode, standard streams and libraries' own files.
pub const RESERVED_FILES: u64 = 128;

/// The open-files limits of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFilesLimit {
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft limit to the hard one (an unprivileged process may; many systems start
/// services at a soft limit of 1,024 with a much higher hard limit) and logs what it found and
/// what it set. Returns the limit now in force, `None` where it cannot be read.
pub fn raise_to_hard_limit() -> Option<OpenFilesLimit> {
    let before = match imp::get() {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "cannot read the open-files limit");
            return None;
        }
    };
    if before.soft >= before.hard {
        tracing::info!(
            soft = before.soft,
            hard = before.hard,
            "open-files limit already at the hard limit"
        );
        return Some(before);
    }
    match imp::set_soft(before.hard).and_then(|()| imp::get()) {
        Ok(after) => {
            tracing::info!(
                before = before.soft,
                after = after.soft,
                hard = after.hard,
                "open-files soft limit raised to the hard limit"
            );
            Some(after)
        }
        Err(error) => {
            tracing::warn!(%error, soft = before.soft, hard = before.hard, "cannot raise the open-files soft limit");
            Some(before)
        }
    }
}

/// The connection cap in force: the setting, lowered so that HTTP connections leave
/// [`RESERVED_FILES`] descriptors of the soft limit for everything else (at least one connection).
pub fn fit_connection_cap(setting: usize, limit: Option<OpenFilesLimit>) -> usize {
    match limit {
        Some(limit) => {
            let budget =
                usize::try_from(limit.soft.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX);
            setting.min(budget).max(1)
        }
        None => setting,
    }
}

#[cfg(unix)]
mod imp {
    use super::OpenFilesLimit;

    pub fn get() -> std::io::Result<OpenFilesLimit> {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid, writable rlimit for the call's duration.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // rlim_t is u64 on Linux but not on every Unix.
        #[allow(clippy::unnecessary_cast)]
        Ok(OpenFilesLimit {
            soft: limit.rlim_cur as u64,
            hard: limit.rlim_max as u64,
        })
    }

    pub fn set_soft(soft: u64) -> std::io::Result<()> {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as in `get`; then `limit` is only read by setrlimit.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            limit.rlim_cur = soft as libc::rlim_t;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

#[cfg(not(unix))]
mod imp {
    use super::OpenFilesLimit;

    pub fn get() -> std::io::Result<OpenFilesLimit> {
        Err(std::io::Error::other(
            "no open-files limit on this platform",
        ))
    }

    pub fn set_soft(_soft: u64) -> std::io::Result<()> {
        Err(std::io::Error::other(
            "no open-files limit on this platform",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(soft: u64) -> Option<OpenFilesLimit> {
        Some(OpenFilesLimit {
            soft,
            hard: 1 << 20,
        })
    }

    #[test]
    fn the_cap_leaves_the_reserve_free() {
        assert_eq!(fit_connection_cap(1024, limit(1024)), 1024 - 128);
        assert_eq!(fit_connection_cap(1000, limit(256)), 128);
    }

    #[test]
    fn the_setting_wins_when_the_limit_is_high_or_unknown() {
        assert_eq!(fit_connection_cap(1024, limit(1 << 20)), 1024);
        assert_eq!(fit_connection_cap(1024, None), 1024);
    }

    #[test]
    fn at_least_one_connection_even_under_a_tiny_limit() {
        assert_eq!(fit_connection_cap(1024, limit(64)), 1);
    }

    #[test]
    fn the_limit_is_readable_and_raising_it_is_idempotent() {
        let first = raise_to_hard_limit().expect("a readable limit on this platform");
        let second = raise_to_hard_limit().expect("a readable limit on this platform");
        assert_eq!(first, second);
        assert_eq!(second.soft, second.hard);
    }
}
