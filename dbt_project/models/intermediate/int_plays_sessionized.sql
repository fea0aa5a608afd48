{#-
    Plays in time order (one row per play, whichever sources recorded it), grouped into
    listening sessions: a gap of more than var('session_gap_minutes') since the previous play
    starts a new session.

    Incremental: a run finds the plays added, removed or changed (time, track) since the last
    one, and recomputes every play from the start of the session before the earliest of them
    (that session may grow; every later session number may shift); the plays before that
    session start keep their rows, which no change after them can alter.
-#}
{{
    config(
        materialized='incremental',
        unique_key='play_id',
        incremental_strategy='replace_rows',
        key_source='int_plays_deduplicated',
        on_schema_change='fail',
    )
}}

with

{% if is_incremental() %}

-- Plays added, removed or changed (time, track) since the last run: a hash join on the key.
changes as (

    select least(now_rows.played_at, held_rows.played_at) as played_at
    from {{ ref('int_plays_deduplicated') }} as now_rows
    full outer join {{ this }} as held_rows on now_rows.play_id = held_rows.play_id
    where
        (now_rows.play_id, now_rows.played_at, now_rows.track_id)
        is distinct from (held_rows.play_id, held_rows.played_at, held_rows.track_id)

),

-- The last session start before the earliest change (none: recompute from the first play).
restart as (

    select
        coalesce(
            (
                select max(this.played_at) as last_session_start
                from {{ this }} as this
                where
                    this.is_session_start
                    and this.played_at < (
                        select min(changes.played_at) as changed_from from changes
                    )
            ),
            '-infinity'
        ) as restart_at
    where exists (select 1 as found from changes)

),

restart_session as (

    select
        restart.restart_at,
        coalesce(
            (
                select max(this.session_number) as last_session_number
                from {{ this }} as this
                where this.played_at < restart.restart_at
            ),
            0
        ) as sessions_before,
        (
            select max(plays.played_at) as last_played_at
            from {{ ref('int_plays_deduplicated') }} as plays
            where plays.played_at < restart.restart_at
        ) as played_before
    from restart

),

{% else %}

-- A full build starts from the first play.
restart_session as (

    select
        '-infinity'::timestamptz as restart_at,
        0 as sessions_before,
        null::timestamptz as played_before

),

{% endif %}

plays as (

    select
        play_id,
        played_at,
        track_id
    from {{ ref('int_plays_deduplicated') }}
    where played_at >= (select restart_session.restart_at from restart_session)

),

gaps as (

    select
        play_id,
        played_at,
        track_id,
        coalesce(
            lag(played_at) over (order by played_at, play_id),
            (select restart_session.played_before from restart_session)
        ) as previous_played_at
    from plays

),

flagged as (

    select
        *,
        case
            when previous_played_at is null then 1
            when
                played_at - previous_played_at
                > make_interval(mins => {{ var('session_gap_minutes') }}) then 1
            else 0
        end as is_session_start
    from gaps

),

numbered as (

    select
        *,
        (select restart_session.sessions_before from restart_session)
        + sum(is_session_start) over (
            order by played_at, play_id rows between unbounded preceding and current row
        ) as session_number
    from flagged

),

final as (

    select
        play_id,
        played_at,
        track_id,
        previous_played_at,
        session_number::integer as session_number,
        md5('session|' || {{ timestamp_key('min(played_at) over (partition by session_number)') }})
            as session_id,
        row_number() over (
            partition by session_number order by played_at, play_id
        )::integer as session_play_number,
        is_session_start = 1 as is_session_start
    from numbered

)

select * from final
