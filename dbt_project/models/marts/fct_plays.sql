with

plays as (

    select * from {{ ref('int_plays_deduplicated') }}

),

sessions as (

    select * from {{ ref('int_plays_sessionized') }}

),

tracks as (

    select
        track_id,
        album_id,
        primary_artist_id,
        duration_ms
    from {{ ref('dim_tracks') }}

),

firsts as (

    select
        play_id,
        row_number() over (partition by track_id order by played_at, play_id) = 1
            as is_first_play_of_track
    from plays
    where track_id is not null

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
        plays.imported_at as source_imported_at
    from plays
    inner join sessions on plays.play_id = sessions.play_id
    left join firsts on plays.play_id = firsts.play_id
    left join tracks on plays.track_id = tracks.track_id

)

select * from final
