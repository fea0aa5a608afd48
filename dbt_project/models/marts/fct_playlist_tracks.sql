with

entries as (

    select * from {{ ref('int_playlist_tracks_bridged') }}

),

tracks as (

    select
        track_id,
        album_id,
        primary_artist_id
    from {{ ref('dim_tracks') }}

),

final as (

    select
        entries.playlist_item_id,
        entries.playlist_id,
        entries.position,
        entries.entry_kind,
        entries.is_local,
        entries.track_id,
        entries.episode_id,
        tracks.album_id,
        tracks.primary_artist_id,
        entries.item_name,
        entries.duration_ms,
        entries.added_at,
        (entries.added_at at time zone 'UTC')::date as added_date,
        entries.added_by_id,
        entries.requested_at as source_requested_at
    from entries
    left join tracks on entries.track_id = tracks.track_id

)

select * from final
