-- Class live windows: a channel with `spec.live_window` has a stream key only between the
-- window's opening and its closing plus grace. The reconciler records the gate it made true in
-- IVS and SSM, and when the window next needs it, so that a ready row falls due at its window's
-- edges like it falls due at its delete_after.

alter table channels
    -- The ingest gate the reconciler last made true: true = the stream key exists and is
    -- published, false = no key in IVS or SSM and no stream; null = not provisioned yet.
    -- Written in the transaction of its `ingest_opened` / `ingest_closed` audit event, so each
    -- change of the gate is recorded exactly once.
    add column ingest_open boolean,
    -- The window's next edge (opening, or closing plus grace) the reconciler has not acted on
    -- yet; null without a window, after it closed, and once the channel is deleted.
    add column window_due_at timestamptz;

-- The claim (db::claims): a live row in a claimable phase is due at its next attempt; any other
-- live row when both its next attempt and the earlier of its delete_after and its window's next
-- edge have passed. Same shape and phase lists as the index it replaces
-- (20261202000020_history_indexes.sql), with window_due_at beside delete_after.
drop index channels_due;
create index channels_due on channels ((
    case when phase in ('pending', 'provisioning', 'updating', 'deleting', 'failed')
         then next_attempt_at
         else greatest(next_attempt_at, least(delete_after, window_due_at)) end))
    where phase in ('pending', 'provisioning', 'updating', 'deleting', 'failed')
          or ((delete_after is not null or window_due_at is not null) and phase <> 'deleted');

-- When the next window edge falls due (the reconciler's nap): only rows with an edge ahead.
create index channels_window_due on channels ((greatest(next_attempt_at, window_due_at)))
    where window_due_at is not null;

-- Channels provisioned before windows existed have their key: their gate is open.
update channels set ingest_open = true
 where deleted_at is null and outputs->>'channel_arn' is not null;
