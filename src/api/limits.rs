//! The limits' settings (`TENANT_*`, `IVS_CHANNEL_QUOTA*`) and where the channel limits bite:
//! the create path's admission, run inside its transaction so that it holds in Postgres across
//! every replica, not in one process's memory.
//!
//! A create takes, until its transaction ends, the tenant's advisory lock (when the tenant has a
//! cap) and the account's lock (shared far from the account's capacity, exclusive near it),
//! inserts its row, then counts the live channels with it. Over a limit, the transaction is
//! rolled back and the create refused with a 409 naming the limit and the count. Counting after
//! the insert keeps an idempotent repeat out of it: a repeat inserts nothing, so it is never
//! refused, even at the limit.

use sqlx::PgConnection;

use super::error::{ApiError, LimitKind};
use crate::db;
use crate::domain::limits::{AccountGuard, IVS_FULL_RECORD_SECS, LimitDefaults, RatePolicy};

/// The deployment's limits. Each is also an environment variable; out-of-range values are
/// refused at start-up with the setting's name.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Live channels a tenant may have unless it has a limit of its own (`PUT
    /// /v1/tenants/{tenant}/limits`); 0 = unlimited. A channel counts until it is deleted.
    #[arg(long, env = "TENANT_MAX_LIVE_CHANNELS", default_value_t = DEFAULTS.max_live_channels, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub tenant_max_live_channels: u32,
    /// Requests per second per tenant (per API key for keys bound to no tenant), every endpoint
    /// but minting, in this process; 0 = unlimited.
    #[arg(long, env = "TENANT_REQUESTS_PER_SECOND", default_value_t = DEFAULTS.api.per_second, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub tenant_requests_per_second: u32,
    /// Requests a tenant may send at once before its rate applies.
    #[arg(long, env = "TENANT_BURST", default_value_t = DEFAULTS.api.burst, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub tenant_burst: u32,
    /// Playback and chat tokens per second per tenant (per key without a tenant), in this process; 0 =
    /// unlimited. A budget of its own, so viewers joining never starve channel management.
    #[arg(long, env = "TENANT_TOKEN_REQUESTS_PER_SECOND", default_value_t = DEFAULTS.tokens.per_second, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub tenant_token_requests_per_second: u32,
    /// Playback and chat tokens a tenant may mint at once (a class's viewers joining together).
    #[arg(long, env = "TENANT_TOKEN_BURST", default_value_t = DEFAULTS.tokens.burst, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub tenant_token_burst: u32,
    /// IVS channels the AWS account may hold in this region (its Service Quotas value; IVS's
    /// default is 5000). Creates beyond it, less the reserve, are refused before IVS is asked;
    /// 0 turns the guard off.
    #[arg(long, env = "IVS_CHANNEL_QUOTA", default_value_t = ACCOUNT.quota, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub ivs_channel_quota: u32,
    /// IVS channels the service leaves free for anything else in the account (the console,
    /// other tools).
    #[arg(long, env = "IVS_CHANNEL_QUOTA_RESERVE", default_value_t = ACCOUNT.reserve, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub ivs_channel_quota_reserve: u32,
}

/// The defaults: a booking system declares, lists and deletes channels at a few requests per
/// second with bursts at the top of the hour; a class of 500 viewers joining within a few seconds
/// fits the token burst, and the token rate serves several such classes starting together.
const DEFAULTS: LimitDefaults = LimitDefaults {
    max_live_channels: 0,
    api: RatePolicy {
        per_second: 50,
        burst: 100,
    },
    tokens: RatePolicy {
        per_second: 200,
        burst: 1000,
    },
};

/// IVS's default channel quota (docs/aws-facts.md §1); no reserve: the service owns the account
/// unless the operator says otherwise.
const ACCOUNT: AccountGuard = AccountGuard {
    quota: 5000,
    reserve: 0,
};

/// The limits as the API applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    pub defaults: LimitDefaults,
    pub account: AccountGuard,
}

impl Default for LimitSettings {
    /// The command line's defaults.
    fn default() -> Self {
        LimitSettings {
            defaults: DEFAULTS,
            account: ACCOUNT,
        }
    }
}

impl LimitArgs {
    pub fn settings(&self) -> LimitSettings {
        LimitSettings {
            defaults: LimitDefaults {
                max_live_channels: self.tenant_max_live_channels,
                api: RatePolicy {
                    per_second: self.tenant_requests_per_second,
                    burst: self.tenant_burst,
                },
                tokens: RatePolicy {
                    per_second: self.tenant_token_requests_per_second,
                    burst: self.tenant_token_burst,
                },
            },
            account: AccountGuard {
                quota: self.ivs_channel_quota,
                reserve: self.ivs_channel_quota_reserve,
            },
        }
    }

    /// Refuses settings that contradict each other (each alone is range-checked by clap).
    pub fn check(&self) -> anyhow::Result<()> {
        if self.ivs_channel_quota > 0 && self.ivs_channel_quota_reserve >= self.ivs_channel_quota {
            anyhow::bail!(
                "IVS_CHANNEL_QUOTA_RESERVE ({}) leaves no channel of IVS_CHANNEL_QUOTA ({}) to the service",
                self.ivs_channel_quota_reserve,
                self.ivs_channel_quota
            );
        }
        Ok(())
    }
}

/// What a create holds (its locks) and must check once its row is inserted.
#[derive(Debug)]
pub struct Admission {
    tenant_cap: Option<u32>,
    account: Option<AccountGuard>,
    exclusive: bool,
}

/// What became of a create after its insert.
#[derive(Debug)]
pub enum Verdict {
    Admit,
    /// Over a limit: roll back and answer this.
    Refuse(ApiError),
    /// Close to the account's capacity with only the shared lock: roll back and try again with
    /// the exclusive lock, which counts exactly.
    RetryExclusive,
}

/// Before the insert: takes the locks the create needs (tenant first, then account: one order,
/// so no two creates wait for each other in a circle).
pub async fn lock_for_create(
    conn: &mut PgConnection,
    settings: &LimitSettings,
    tenant: &str,
    exclusive: bool,
) -> sqlx::Result<Admission> {
    let overrides = db::tenant_limits::find(&mut *conn, tenant)
        .await?
        .map(|row| row.overrides)
        .unwrap_or_default();
    let tenant_cap = overrides.channel_cap(&settings.defaults);
    if tenant_cap.is_some() {
        db::tenant_limits::lock_tenant_creates(&mut *conn, tenant).await?;
    }
    let account = Some(settings.account).filter(|a| a.quota > 0);
    if account.is_some() {
        db::tenant_limits::lock_account_creates(&mut *conn, exclusive).await?;
    }
    Ok(Admission {
        tenant_cap,
        account,
        exclusive,
    })
}

impl Admission {
    /// After the insert: counts the live channels, the new one included, against each limit.
    pub async fn check(&self, conn: &mut PgConnection, tenant: &str) -> sqlx::Result<Verdict> {
        if let Some(cap) = self.tenant_cap {
            let live = db::tenant_limits::count_live(&mut *conn, tenant).await?;
            if let Some(detail) = crate::domain::limits::tenant_refusal(tenant, cap, live) {
                return Ok(Verdict::Refuse(ApiError::LimitReached {
                    kind: LimitKind::TenantChannels,
                    detail,
                    limit: i64::from(cap),
                    current: live - 1,
                }));
            }
        }
        let Some(guard) = self.account else {
            return Ok(Verdict::Admit);
        };
        let ivs_full_at = db::tenant_limits::ivs_full_at(&mut *conn, IVS_FULL_RECORD_SECS).await?;
        let Some(capacity) = guard.capacity(ivs_full_at) else {
            return Ok(Verdict::Admit);
        };
        let live = db::tenant_limits::count_live_all(&mut *conn).await?;
        if !self.exclusive && AccountGuard::near_capacity(capacity, live) {
            return Ok(Verdict::RetryExclusive);
        }
        Ok(match guard.refusal(capacity, live, ivs_full_at) {
            Some(detail) => Verdict::Refuse(ApiError::LimitReached {
                kind: LimitKind::AccountChannels,
                detail,
                limit: capacity,
                current: live - 1,
            }),
            None => Verdict::Admit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        limits: LimitArgs,
    }

    #[test]
    fn the_command_line_defaults_are_the_settings_defaults() {
        let cli = Cli::parse_from(["test"]);
        assert_eq!(cli.limits.settings(), LimitSettings::default());
        assert!(cli.limits.check().is_ok());
    }

    #[test]
    fn a_reserve_that_leaves_nothing_is_refused_and_ranges_are_enforced() {
        let cli = Cli::parse_from([
            "test",
            "--ivs-channel-quota",
            "10",
            "--ivs-channel-quota-reserve",
            "10",
        ]);
        assert!(cli.limits.check().is_err());
        assert!(Cli::try_parse_from(["test", "--tenant-burst", "0"]).is_err());
        let off = Cli::parse_from(["test", "--ivs-channel-quota", "0"]);
        assert!(off.limits.check().is_ok());
    }
}
