with

albums as (

    select * from {{ ref('int_albums_merged') }}

),

primary_artists as (

    select
        album_id,
        artist_id as primary_artist_id
    from {{ ref('int_album_artists_bridged') }}
    where is_primary_artist

),

saved as (

    select
        album_id,
        saved_at
    from {{ ref('stg_spotify__saved_albums') }}

),

final as (

    select
        albums.album_id,
        albums.album_name,
        albums.album_type,
        primary_artists.primary_artist_id,
        albums.release_date,
        albums.release_date_precision,
        albums.release_year,
        (albums.release_year / 10 * 10) as release_decade,
        albums.total_tracks,
        albums.upc,
        albums.label,
        albums.popularity,
        albums.image_url,
        albums.spotify_url,
        saved.album_id is not null as is_saved,
        saved.saved_at,
        albums.is_full_object as has_full_details,
        albums.requested_at as source_requested_at
    from albums
    left join primary_artists on albums.album_id = primary_artists.album_id
    left join saved on albums.album_id = saved.album_id

)

select * from final
