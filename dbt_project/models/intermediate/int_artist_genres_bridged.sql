{#- The genres of each artist, where Spotify sends them (extended quota; not Development Mode). -#}
with

artists as (

    select
        artist_id,
        genres
    from {{ ref('int_artists_merged') }}
    where genres is not null

),

unnested as (

    select
        artists.artist_id,
        lower(trim(genre.genre_name)) as genre,
        genre.genre_order::integer as genre_order
    from artists
    cross join lateral unnest(artists.genres) with ordinality as genre (genre_name, genre_order)

),

final as (

    select
        artist_id,
        genre,
        min(genre_order)::integer as genre_position
    from unnested
    where genre <> ''
    group by artist_id, genre

)

select * from final
