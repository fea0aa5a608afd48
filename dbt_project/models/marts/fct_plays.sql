{#-
    One row per play. Incremental: a run recomputes the plays from the earliest deduplicated or
    sessionized play written since the last one, or the earliest play of a track whose album,
    primary artist or duration the catalog changed (see `recompute_from`).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_suffix',
        recompute_column='played_at',
        on_schema_change='fail',
        indexes=[
            {'columns': ['dbt_updated_at']},
            {'columns': ['played_at']},
            {'columns': ['track_id', 'played_at']},
            {'columns': ['primary_artist_id', 'played_at']},
        ],
    )
}}

with

recompute_window as (

    select {{ recompute_from() }} as recompute_from

),

plays as (

    select * from {{ ref('int_plays_deduplicated') }}
    where played_at >= (select recompute_window.recompute_from from recompute_window)

),

sessions as (

    select * from {{ ref('int_plays_sessionized') }}
    where played_at >= (select recompute_window.recompute_from from recompute_window)

),

tracks as (

    select
        track_id,
        album_id,
        primary_artist_id,
        duration_ms
    from {{ ref('dim_tracks') }}

),

-- Tracks of the plays read that were played before the window: their first play is held.
played_before as (

    {% if is_incremental() -%}
    select distinct plays.track_id
    from plays
    where
        exists (
            select 1 as found
            from {{ this }} as held
            where
                held.track_id = plays.track_id
                and held.played_at < (select recompute_window.recompute_from from recompute_window)
        )
    {%- else -%}
    -- A full build reads every play: none was played before.
    select null::text as track_id
    where false
    {%- endif %}

),

firsts as (

    select
        plays.play_id,
        row_number() over (
            partition by plays.track_id order by plays.played_at, plays.play_id
        ) = 1
        and played_before.track_id is null as is_first_play_of_track
    from plays
    left join played_before on plays.track_id = played_before.track_id
    where plays.track_id is not null

),

final as (

    select
        plays.play_id,
        plays.played_at,
        (plays.played_at at time zone 'UTC')::date as played_date,
        extract(hour from plays.played_at at time zone 'UTC')::integer as played_hour_utc,
        plays.play_kind,
        plays.track_id,
        tracks.album_id,
        tracks.primary_artist_id,
        plays.episode_id,
        plays.context_type,
        plays.context_uri,
        -- The export says how long a play lasted; the API does not: then assume it played through.
        coalesce(plays.ms_played, tracks.duration_ms) as ms_played,
        plays.ms_played is null as is_ms_played_estimated,
        plays.reason_start,
        plays.reason_end,
        plays.is_skipped,
        plays.is_shuffle,
        plays.is_offline,
        plays.is_incognito,
        plays.platform,
        plays.conn_country,
        sessions.session_id,
        sessions.session_play_number,
        coalesce(firsts.is_first_play_of_track, false) as is_first_play_of_track,
        plays.source,
        plays.is_from_api,
        plays.is_from_export,
        plays.api_play_id,
        plays.history_play_id,
        plays.export_format,
        plays.requested_at as source_requested_at,
        plays.imported_at as source_imported_at,
        {{ run_stamp() }} as dbt_updated_at
    from plays
    inner join sessions on plays.play_id = sessions.play_id
    left join firsts on plays.play_id = firsts.play_id
    left join tracks on plays.track_id = tracks.track_id

)

select * from final
