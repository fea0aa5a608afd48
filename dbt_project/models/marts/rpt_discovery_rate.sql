{#-
    Per month: the share of plays whose track was heard for the first time in that month.
    Incremental: a run recomputes the months from the one holding the earliest play written
    since the last run.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_suffix',
        recompute_column='month_start_date',
        on_schema_change='fail',
        indexes=[{'columns': ['dbt_updated_at']}, {'columns': ['month_start_date']}],
    )
}}

with

recompute_window as (

    select {{ recompute_from() }} as recompute_from

),

plays as (

    select
        date_trunc('month', played_at at time zone 'UTC')::date as month_start_date,
        track_id,
        is_first_play_of_track
    from {{ ref('fct_plays') }}
    where
        track_id is not null
        and played_at >= (
            select recompute_window.recompute_from::timestamp at time zone 'UTC' as recompute_from
            from recompute_window
        )

),

first_heard as (

    select
        track_id,
        month_start_date as first_heard_month
    from plays
    where is_first_play_of_track

),

counted as (

    select
        plays.month_start_date,
        count(*) as play_count,
        count(*) filter (
            where plays.month_start_date = first_heard.first_heard_month
        ) as discovery_play_count,
        count(distinct plays.track_id) as distinct_track_count,
        count(distinct plays.track_id) filter (
            where plays.month_start_date = first_heard.first_heard_month
        ) as new_track_count
    from plays
    -- A track first heard before the plays read has no first play among them.
    left join first_heard on plays.track_id = first_heard.track_id
    group by plays.month_start_date

),

final as (

    select
        month_start_date,
        play_count::integer as play_count,
        discovery_play_count::integer as discovery_play_count,
        distinct_track_count::integer as distinct_track_count,
        new_track_count::integer as new_track_count,
        round(discovery_play_count::numeric / play_count, 4)::numeric(6, 4) as discovery_rate,
        {{ run_stamp() }} as dbt_updated_at
    from counted

)

select * from final
