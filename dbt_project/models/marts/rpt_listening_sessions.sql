{#-
    One row per listening session: when, how long, how varied. Incremental: a run recomputes
    the sessions from the one holding the earliest play written since the last run.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_suffix',
        recompute_column='session_started_at',
        on_schema_change='fail',
        indexes=[{'columns': ['dbt_updated_at']}, {'columns': ['session_started_at']}],
    )
}}

with

recompute_window as (

    select {{ recompute_from() }} as recompute_from

),

plays as (

    select * from {{ ref('fct_plays') }}
    where played_at >= (select recompute_window.recompute_from from recompute_window)

),

artist_plays as (

    select
        session_id,
        primary_artist_id,
        row_number() over (
            partition by session_id order by count(*) desc, primary_artist_id
        ) as artist_rank
    from plays
    where primary_artist_id is not null
    group by session_id, primary_artist_id

),

sessions as (

    select
        session_id,
        min(played_at) as session_started_at,
        max(played_at) as session_last_played_at,
        count(*) as play_count,
        count(distinct track_id) as distinct_track_count,
        count(distinct primary_artist_id) as distinct_artist_count,
        coalesce(sum(ms_played), 0) as ms_played
    from plays
    group by session_id

),

final as (

    select
        sessions.session_id,
        sessions.session_started_at,
        sessions.session_last_played_at,
        (sessions.session_started_at at time zone 'UTC')::date as session_date,
        sessions.play_count::integer as play_count,
        sessions.distinct_track_count::integer as distinct_track_count,
        sessions.distinct_artist_count::integer as distinct_artist_count,
        sessions.ms_played::bigint as ms_played,
        round(sessions.ms_played / 60000.0, 2)::numeric(12, 2) as minutes_played,
        artist_plays.primary_artist_id as top_artist_id,
        {{ run_stamp() }} as dbt_updated_at
    from sessions
    left join artist_plays
        on
            sessions.session_id = artist_plays.session_id
            and artist_plays.artist_rank = 1

)

select * from final
