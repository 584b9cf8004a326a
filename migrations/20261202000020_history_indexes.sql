-- Queries that do not grow with history. Deleted rows stay forever as history, and a booking
-- system that sets delete_after on every class leaves one per class: after a year the table is
-- almost all history. Every query the service repeats (the claim, the next-due query, the list
-- filters, the metrics gauges) gets an index over the rows it can return, and nothing else.
-- Deleted rows are exactly those with deleted_at set (the check constraint
-- channels_deleted_at_only_when_deleted), so "live" is written `deleted_at is null`, the
-- predicate the list indexes and the list queries share. The phase lists are those of
-- domain::Phase (CLAIMABLE: pending, provisioning, updating, deleting, failed; NEEDS_WORK: the
-- same without failed), in that order: the claim's expression must be the index's to the letter.

-- No write may slip between the tally's initial count below and its triggers.
lock table channels in share row exclusive mode;

-- The claim: a live row is due when its next attempt is (claimable phases), or when both its
-- next attempt and its delete_after are (a ready row waiting to be deleted). The old index kept
-- every row that ever had a delete_after, history included. Its predicate says "live" with the
-- phase, as the claim does, so that no list index (deleted_at is null) tempts the planner.
drop index channels_claimable;
create index channels_due on channels ((
    case when phase in ('pending', 'provisioning', 'updating', 'deleting', 'failed')
         then next_attempt_at
         else greatest(next_attempt_at, delete_after) end))
    where phase in ('pending', 'provisioning', 'updating', 'deleting', 'failed')
          or (delete_after is not null and phase <> 'deleted');

-- When the next row falls due, and how many are waiting (the rows_waiting gauge): rows the
-- reconciler is working on, only.
create index channels_needs_work on channels (next_attempt_at)
    where phase in ('pending', 'provisioning', 'updating', 'deleting');

-- The list filters over live rows, each in keyset order (id), and the live-count gauges as an
-- index-only scan of the (phase, id) one. History is listed through the primary key and
-- channels_tenant_id.
create index channels_live_id on channels (id) where deleted_at is null;
create index channels_live_phase_id on channels (phase, id) where deleted_at is null;
create index channels_live_tenant_id on channels (tenant, id) where deleted_at is null;
-- name_prefix: a range on the name whatever the database's collation.
create index channels_live_name on channels (name text_pattern_ops) where deleted_at is null;

-- How many rows are history, kept exact by statement-level triggers, so the `deleted` gauge is
-- one row read instead of a count over the whole history. Statement-level with transition
-- tables: a bulk insert or delete (a restore, a retention job) updates the tally once.
create table channel_tallies (
    name  text primary key,
    value bigint not null
);
insert into channel_tallies (name, value)
    select 'deleted', count(*) from channels where deleted_at is not null;

create function tally_deleted_channels() returns trigger as $$
declare
    delta bigint;
begin
    if tg_op = 'INSERT' then
        select count(*) into delta from new_rows where deleted_at is not null;
    elsif tg_op = 'DELETE' then
        select -count(*) into delta from old_rows where deleted_at is not null;
    else
        select (select count(*) from new_rows where deleted_at is not null)
             - (select count(*) from old_rows where deleted_at is not null)
          into delta;
    end if;
    if delta <> 0 then
        update channel_tallies set value = value + delta where name = 'deleted';
    end if;
    return null;
end;
$$ language plpgsql;

create trigger channels_tally_insert after insert on channels
    referencing new table as new_rows
    for each statement execute function tally_deleted_channels();
create trigger channels_tally_update after update on channels
    referencing old table as old_rows new table as new_rows
    for each statement execute function tally_deleted_channels();
create trigger channels_tally_delete after delete on channels
    referencing old table as old_rows
    for each statement execute function tally_deleted_channels();

create function reset_deleted_channels_tally() returns trigger as $$
begin
    update channel_tallies set value = 0 where name = 'deleted';
    return null;
end;
$$ language plpgsql;

create trigger channels_tally_truncate after truncate on channels
    for each statement execute function reset_deleted_channels_tally();
