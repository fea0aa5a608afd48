{#- Which artists are credited on each album, in credit order (the first is the primary artist). -#}
with

albums as (

    select
        album_id,
        album_object
    from {{ ref('int_albums_merged') }}

),

credits as (

    select
        albums.album_id,
        credited.artist_object ->> 'id' as artist_id,
        credited.credit_order::integer as credit_order
    from albums
    cross join lateral jsonb_array_elements(
        case
            when jsonb_typeof(albums.album_object -> 'artists') = 'array'
                then albums.album_object -> 'artists'
            else '[]'::jsonb
        end
    ) with ordinality as credited (artist_object, credit_order)

),

deduplicated as (

    select
        album_id,
        artist_id,
        min(credit_order) as credit_order
    from credits
    where artist_id is not null
    group by album_id, artist_id

),

final as (

    select
        album_id,
        artist_id,
        row_number() over (partition by album_id order by credit_order)::integer as artist_position,
        credit_order = min(credit_order) over (partition by album_id) as is_primary_artist
    from deduplicated

)

select * from final
