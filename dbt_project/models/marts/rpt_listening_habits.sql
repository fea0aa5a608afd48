{#-
    Per month: how the listener plays, from what the privacy export records (skips, shuffle,
    offline listening, platform, country) beside play counts from every source. Rates count
    only the plays whose export record states the flag; months known only from the Web API
    have null rates. Incremental: a run recomputes the months from the one holding the earliest
    play written since the last run.
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
        *
    from {{ ref('fct_plays') }}
    where
        played_at >= (
            select recompute_window.recompute_from::timestamp at time zone 'UTC' as recompute_from
            from recompute_window
        )

),

platforms as (

    select
        month_start_date,
        platform,
        row_number() over (
            partition by month_start_date order by count(*) desc, platform
        ) as platform_rank
    from plays
    where platform is not null
    group by month_start_date, platform

),

counted as (

    select
        month_start_date,
        count(*) as play_count,
        count(*) filter (where is_from_api) as api_play_count,
        count(*) filter (where is_from_export) as export_play_count,
        count(*) filter (where source = 'both') as both_sources_play_count,
        count(*) filter (where play_kind = 'track') as track_play_count,
        count(*) filter (where play_kind = 'episode') as episode_play_count,
        count(*) filter (where play_kind = 'audiobook') as audiobook_play_count,
        coalesce(sum(ms_played), 0) as ms_played,
        count(*) filter (where is_skipped) as skipped_play_count,
        count(is_skipped) as skip_known_play_count,
        count(*) filter (where is_shuffle) as shuffle_play_count,
        count(is_shuffle) as shuffle_known_play_count,
        count(*) filter (where is_offline) as offline_play_count,
        count(is_offline) as offline_known_play_count,
        count(distinct platform) as platform_count,
        count(distinct conn_country) as country_count,
        array_agg(distinct conn_country order by conn_country) filter (
            where conn_country is not null
        ) as countries
    from plays
    group by month_start_date

),

final as (

    select
        counted.month_start_date,
        counted.play_count::integer as play_count,
        counted.api_play_count::integer as api_play_count,
        counted.export_play_count::integer as export_play_count,
        counted.both_sources_play_count::integer as both_sources_play_count,
        counted.track_play_count::integer as track_play_count,
        counted.episode_play_count::integer as episode_play_count,
        counted.audiobook_play_count::integer as audiobook_play_count,
        counted.ms_played::bigint as ms_played,
        round(counted.ms_played / 60000.0, 2)::numeric(12, 2) as minutes_played,
        counted.skipped_play_count::integer as skipped_play_count,
        round(
            counted.skipped_play_count::numeric / nullif(counted.skip_known_play_count, 0), 4
        )::numeric(6, 4) as skip_rate,
        round(
            counted.shuffle_play_count::numeric / nullif(counted.shuffle_known_play_count, 0), 4
        )::numeric(6, 4) as shuffle_share,
        round(
            counted.offline_play_count::numeric / nullif(counted.offline_known_play_count, 0), 4
        )::numeric(6, 4) as offline_share,
        platforms.platform as top_platform,
        counted.platform_count::integer as platform_count,
        counted.country_count::integer as country_count,
        coalesce(counted.countries, array[]::text[]) as countries,
        {{ run_stamp() }} as dbt_updated_at
    from counted
    left join platforms
        on
            counted.month_start_date = platforms.month_start_date
            and platforms.platform_rank = 1

)

select * from final
