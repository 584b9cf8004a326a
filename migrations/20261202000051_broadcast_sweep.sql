-- The gap-filling sweep (events::sweep) visits channels round robin: the least recently swept
-- first, a budget of channels per tick. Live channels with an IVS channel, and channels deleted
-- within the sweep's lookback (their last recording lands in S3 after the broadcast ends).

alter table channels add column broadcasts_swept_at timestamptz;

-- The live channels in sweep order. The predicate is the sweep query's, word for word.
create index channels_broadcast_sweep on channels (broadcasts_swept_at nulls first, id)
    where deleted_at is null and outputs ->> 'channel_arn' is not null;

-- Channels deleted recently: a range at the end of this index, however long the history.
create index channels_deleted_at on channels (deleted_at) where deleted_at is not null;
