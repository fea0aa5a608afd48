with

tracks as (

    select * from {{ ref('int_tracks_merged') }}

),

albums as (

    select
        album_id,
        release_date,
        release_date_precision,
        release_year
    from {{ ref('int_albums_merged') }}

),

primary_artists as (

    select
        track_id,
        artist_id as primary_artist_id
    from {{ ref('int_track_artists_bridged') }}
    where is_primary_artist

),

saved as (

    select
        track_id,
        saved_at
    from {{ ref('stg_spotify__saved_tracks') }}

),

final as (

    select
        tracks.track_id,
        tracks.track_name,
        tracks.album_id,
        primary_artists.primary_artist_id,
        tracks.duration_ms,
        tracks.is_explicit,
        tracks.is_playable,
        tracks.isrc,
        tracks.popularity,
        tracks.disc_number,
        tracks.track_number,
        albums.release_date,
        albums.release_date_precision,
        albums.release_year,
        (albums.release_year / 10 * 10) as release_decade,
        saved.track_id is not null as is_saved,
        saved.saved_at,
        tracks.spotify_url,
        tracks.is_full_object as has_full_details,
        tracks.requested_at as source_requested_at
    from tracks
    left join albums on tracks.album_id = albums.album_id
    left join primary_artists on tracks.track_id = primary_artists.track_id
    left join saved on tracks.track_id = saved.track_id

)

select * from final
