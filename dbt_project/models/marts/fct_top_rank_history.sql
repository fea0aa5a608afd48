with

top_artists as (

    select
        top_rank_id,
        snapshot_date,
        time_range,
        'artist' as item_type,
        artist_id as item_id,
        artist_id,
        null::text as track_id,
        rank,
        requested_at
    from {{ ref('stg_spotify__top_artists') }}

),

top_tracks as (

    select
        top_list.top_rank_id,
        top_list.snapshot_date,
        top_list.time_range,
        'track' as item_type,
        top_list.track_id as item_id,
        tracks.primary_artist_id as artist_id,
        top_list.track_id,
        top_list.rank,
        top_list.requested_at
    from {{ ref('stg_spotify__top_tracks') }} as top_list
    left join {{ ref('dim_tracks') }} as tracks on top_list.track_id = tracks.track_id

),

unioned as (

    select * from top_artists
    union all
    select * from top_tracks

),

final as (

    select
        top_rank_id,
        snapshot_date,
        time_range,
        item_type,
        item_id,
        artist_id,
        track_id,
        rank,
        lag(rank) over (
            partition by time_range, item_type, item_id order by snapshot_date
        ) as previous_rank,
        requested_at as source_requested_at
    from unioned

)

select * from final
