{#- Which artists are credited on each track, in credit order (the first is the primary artist). -#}
with

tracks as (

    select
        track_id,
        track_object
    from {{ ref('int_tracks_merged') }}

),

credits as (

    select
        tracks.track_id,
        credited.artist_object ->> 'id' as artist_id,
        credited.credit_order::integer as credit_order
    from tracks
    cross join lateral jsonb_array_elements(
        case
            when jsonb_typeof(tracks.track_object -> 'artists') = 'array'
                then tracks.track_object -> 'artists'
            else '[]'::jsonb
        end
    ) with ordinality as credited (artist_object, credit_order)

),

deduplicated as (

    select
        track_id,
        artist_id,
        min(credit_order) as credit_order
    from credits
    where artist_id is not null
    group by track_id, artist_id

),

final as (

    select
        track_id,
        artist_id,
        row_number() over (partition by track_id order by credit_order)::integer as artist_position,
        credit_order = min(credit_order) over (partition by track_id) as is_primary_artist
    from deduplicated

)

select * from final
