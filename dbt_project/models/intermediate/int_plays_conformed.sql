{#-
    Every play from both sources in one shape, one row per source record: `api` (Web API
    recently played) and `export` (privacy export). An account-data record that repeats a play
    of an imported extended history (same end minute, same listening time, same names) is left
    out, so importing both kinds of export does not count a play twice.

    Incremental: a run recomputes the plays from the earliest play imported or requested since
    the last one, or of a track the catalog renamed (an API play carries its track's name, which
    the account-data matching reads), less a minute (see `recompute_from`).
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

recompute_window as (

    select {{ recompute_from() }} as recompute_from

),

api_plays as (

    select
        play_id,
        played_at,
        track_id,
        context_type,
        context_uri,
        requested_at
    from {{ ref('stg_spotify__recently_played') }}
    where played_at >= (select recompute_window.recompute_from from recompute_window)

),

track_names as (

    select
        track_id,
        track_name
    from {{ ref('int_tracks_merged') }}

),

history as (

    select * from {{ ref('stg_spotify__streaming_history') }}
    where played_at >= (select recompute_window.recompute_from from recompute_window)

),

extended_history as (

    select
        date_trunc('minute', played_at) as played_minute,
        ms_played,
        lower(coalesce(track_name, episode_name, '')) as item_name,
        lower(coalesce(artist_name, show_name, '')) as creator_name
    from history
    where export_format = 'extended'

),

history_plays as (

    select history.*
    from history
    where
        history.export_format <> 'account_data'
        or not exists (
            select 1 as found
            from extended_history
            where
                extended_history.played_minute = history.played_at
                and extended_history.ms_played = history.ms_played
                and extended_history.item_name
                = lower(coalesce(history.track_name, history.episode_name, ''))
                and extended_history.creator_name
                = lower(coalesce(history.artist_name, history.show_name, ''))
        )

),

unioned as (

    select
        api_plays.play_id as source_play_id,
        'api' as source,
        api_plays.played_at,
        'track' as play_kind,
        api_plays.track_id,
        track_names.track_name,
        null::text as episode_id,
        null::bigint as ms_played,
        api_plays.context_type,
        api_plays.context_uri,
        null::text as export_format,
        null::text as platform,
        null::text as conn_country,
        null::text as reason_start,
        null::text as reason_end,
        null::boolean as is_skipped,
        null::boolean as is_shuffle,
        null::boolean as is_offline,
        null::boolean as is_incognito,
        api_plays.requested_at,
        null::timestamptz as imported_at
    from api_plays
    left join track_names on api_plays.track_id = track_names.track_id

    union all

    select
        history_play_id as source_play_id,
        'export' as source,
        played_at,
        play_kind,
        track_id,
        track_name,
        episode_id,
        ms_played,
        null::text as context_type,
        null::text as context_uri,
        export_format,
        platform,
        conn_country,
        reason_start,
        reason_end,
        is_skipped,
        is_shuffle,
        is_offline,
        is_incognito,
        null::timestamptz as requested_at,
        imported_at
    from history_plays

),

final as (

    select
        *,
        {{ run_stamp() }} as dbt_updated_at
    from unioned
    where played_at >= (select recompute_window.recompute_from from recompute_window)

)

select * from final
