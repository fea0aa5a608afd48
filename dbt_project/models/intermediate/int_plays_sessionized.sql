{#-
    Plays in time order (one row per play, whichever sources recorded it), grouped into
    listening sessions: a gap of more than var('session_gap_minutes') since the previous play
    starts a new session.

    Incremental: a run recomputes every play from the last session start before the earliest
    deduplicated play written since the last run (that session may grow; every later session
    number may shift); the plays before it keep their rows, which no change after them can alter
    (see `recompute_from`).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_suffix',
        recompute_column='played_at',
        on_schema_change='fail',
        indexes=[{'columns': ['dbt_updated_at']}, {'columns': ['played_at']}],
    )
}}

with

{% if is_incremental() %}

restart_session as (

    select
        recompute_window.restart_at,
        coalesce(
            (
                select max(this.session_number) as last_session_number
                from {{ this }} as this
                where this.played_at < recompute_window.restart_at
            ),
            0
        ) as sessions_before,
        (
            select max(plays.played_at) as last_played_at
            from {{ ref('int_plays_deduplicated') }} as plays
            where plays.played_at < recompute_window.restart_at
        ) as played_before
    from (select {{ recompute_from() }} as restart_at) as recompute_window

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
        is_session_start = 1 as is_session_start,
        {{ run_stamp() }} as dbt_updated_at
    from numbered

)

select * from final
