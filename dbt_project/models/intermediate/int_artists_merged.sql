{#-
    Every artist object bronze holds (catalog artists, top and followed artists, and the
    simplified artists credited on tracks and albums), reduced to one row per artist: a full
    Artist wins over a simplified one, then the newest version wins.
-#}
with

occurrences as (

    select
        artist_object,
        requested_at,
        'artists' as found_in
    from {{ ref('stg_spotify__artists') }}

    union all

    select
        artist_object,
        requested_at,
        'top_artists' as found_in
    from {{ ref('stg_spotify__top_artists') }}

    union all

    select
        artist_object,
        requested_at,
        'followed_artists' as found_in
    from {{ ref('stg_spotify__followed_artists') }}

    union all

    select
        credited.artist_object,
        tracks.requested_at,
        'track_credits' as found_in
    from {{ ref('int_tracks_merged') }} as tracks
    cross join lateral {{ artist_credits('tracks.track_object') }} as credited (artist_object)

    union all

    select
        credited.artist_object,
        albums.requested_at,
        'album_credits' as found_in
    from {{ ref('int_albums_merged') }} as albums
    cross join lateral {{ artist_credits('albums.album_object') }} as credited (artist_object)

),

unpacked as (

    select
        {{ spotify_artist_columns('artist_object') }},
        {{ is_full_artist('artist_object') }} as is_full_object,
        artist_object,
        found_in,
        requested_at
    from occurrences
    where artist_object ->> 'id' is not null

),

ranked as (

    select
        *,
        {{ best_object_rank('artist_id') }} as version_rank
    from unpacked

),

final as (

    select
        artist_id,
        artist_name,
        artist_uri,
        popularity,
        follower_count,
        genres,
        image_url,
        spotify_url,
        is_full_object,
        artist_object,
        found_in,
        requested_at
    from ranked
    where version_rank = 1

)

select * from final
