with

plays as (

    select * from {{ ref('stg_spotify__recently_played') }}

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

),

final as (

    select
        plays.play_id,
        plays.played_at,
        (plays.played_at at time zone 'UTC')::date as played_date,
        extract(hour from plays.played_at at time zone 'UTC')::integer as played_hour_utc,
        plays.track_id,
        tracks.album_id,
        tracks.primary_artist_id,
        plays.context_type,
        plays.context_uri,
        -- The API says when a track was played, not for how long: assume it played through.
        tracks.duration_ms as ms_played,
        true as is_ms_played_estimated,
        sessions.session_id,
        sessions.session_play_number,
        firsts.is_first_play_of_track,
        plays.requested_at as source_requested_at
    from plays
    inner join sessions on plays.play_id = sessions.play_id
    inner join firsts on plays.play_id = firsts.play_id
    left join tracks on plays.track_id = tracks.track_id

)

select * from final
