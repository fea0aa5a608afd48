with

saved as (

    select * from {{ ref('stg_spotify__saved_tracks') }}

),

tracks as (

    select
        track_id,
        album_id,
        primary_artist_id,
        duration_ms
    from {{ ref('dim_tracks') }}

),

final as (

    select
        saved.track_id,
        saved.saved_at,
        (saved.saved_at at time zone 'UTC')::date as saved_date,
        tracks.album_id,
        tracks.primary_artist_id,
        tracks.duration_ms,
        saved.requested_at as source_requested_at
    from saved
    inner join tracks on saved.track_id = tracks.track_id

)

select * from final
