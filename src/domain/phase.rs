//! Where a channel is in its life, and the rules about phases: which ones still need the
//! reconciler, which ones may have playback tokens minted, and where a change or a retry leads.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a channel is in its life. `pending` until first provisioned; `deleted` rows stay as history.
// Stored as text in `channels.phase`; an unknown stored value is a decoding error, never a
// silent default.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    sqlx::Type,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Phase {
    Pending,
    Provisioning,
    Ready,
    Updating,
    Failed,
    Deleting,
    Deleted,
}

impl Phase {
    /// Phases in which the reconciler still has work to do on its own.
    pub const NEEDS_WORK: [Phase; 4] = [
        Phase::Pending,
        Phase::Provisioning,
        Phase::Updating,
        Phase::Deleting,
    ];

    /// Every phase of a channel not yet deleted, in the order of its life.
    pub const LIVE: [Phase; 6] = [
        Phase::Pending,
        Phase::Provisioning,
        Phase::Ready,
        Phase::Updating,
        Phase::Failed,
        Phase::Deleting,
    ];

    /// Phases a worker may claim: those needing work, and `failed` rows whose retry fell due.
    pub const CLAIMABLE: [Phase; 5] = [
        Phase::Pending,
        Phase::Provisioning,
        Phase::Updating,
        Phase::Deleting,
        Phase::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn needs_work(self) -> bool {
        Self::NEEDS_WORK.contains(&self)
    }

    /// Whether the channel is on its way out (no spec change, key or token any more).
    pub fn is_going(self) -> bool {
        matches!(self, Phase::Deleting | Phase::Deleted)
    }

    /// Playback tokens can be minted for a provisioned channel; `updating` included, so a spec
    /// change or a stream-key rotation never stops viewers joining.
    pub fn may_mint(self) -> bool {
        matches!(self, Phase::Ready | Phase::Updating)
    }

    /// The phase after an accepted spec change: a channel not yet in IVS keeps being
    /// provisioned; one that exists in IVS is updated.
    pub fn after_spec_change(self, exists_in_ivs: bool) -> Phase {
        match self {
            Phase::Pending | Phase::Provisioning => self,
            _ if exists_in_ivs => Phase::Updating,
            _ => Phase::Pending,
        }
    }

    /// The phase to set when the reconciler gives up on an attempt for good: `failed`, except
    /// that a delete keeps its phase (`None`): it is retried, and the row must not look alive.
    pub fn after_permanent_failure(self) -> Option<Phase> {
        match self {
            Phase::Deleting => None,
            _ => Some(Phase::Failed),
        }
    }

    /// SQL text listing `phases` as literals, for statements whose partial indexes must be
    /// matched by the planner (a bound array parameter would hide the list from it).
    pub fn sql_list(phases: &[Phase]) -> String {
        phases
            .iter()
            .map(|p| format!("'{}'", p.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for phase in Phase::VARIANTS {
            assert_eq!(phase.as_str().parse::<Phase>(), Ok(*phase));
            assert_eq!(
                serde_json::to_value(phase).unwrap(),
                serde_json::Value::String(phase.as_str().into())
            );
        }
        assert!("bogus".parse::<Phase>().is_err());
        assert!(serde_json::from_str::<Phase>("\"bogus\"").is_err());
    }

    #[test]
    fn rules_about_phases() {
        assert!(Phase::Updating.may_mint() && !Phase::Pending.may_mint());
        assert!(Phase::Deleting.needs_work() && !Phase::Failed.needs_work());
        assert_eq!(Phase::Ready.after_spec_change(true), Phase::Updating);
        assert_eq!(Phase::Failed.after_spec_change(false), Phase::Pending);
        assert_eq!(
            Phase::Provisioning.after_spec_change(true),
            Phase::Provisioning
        );
        assert_eq!(Phase::Deleting.after_permanent_failure(), None);
        assert_eq!(
            Phase::Updating.after_permanent_failure(),
            Some(Phase::Failed)
        );
        assert_eq!(
            Phase::sql_list(&[Phase::Ready, Phase::Failed]),
            "'ready', 'failed'"
        );
    }
}
