with

artists as (

    select * from {{ ref('int_artists_merged') }}

),

followed as (

    select artist_id from {{ ref('stg_spotify__followed_artists') }}

),

primary_genres as (

    select
        artist_id,
        genre as primary_genre
    from {{ ref('int_artist_genres_bridged') }}
    where genre_position = 1

),

final as (

    select
        artists.artist_id,
        artists.artist_name,
        artists.artist_uri,
        artists.genres,
        primary_genres.primary_genre,
        artists.popularity,
        artists.follower_count,
        artists.image_url,
        artists.spotify_url,
        followed.artist_id is not null as is_followed,
        artists.is_full_object as has_full_profile,
        artists.requested_at as source_requested_at
    from artists
    left join followed on artists.artist_id = followed.artist_id
    left join primary_genres on artists.artist_id = primary_genres.artist_id

)

select * from final
