with

playlists as (

    select * from {{ ref('stg_spotify__playlists') }}

),

entries as (

    select
        playlist_id,
        count(*) as loaded_entry_count
    from {{ ref('int_playlist_tracks_bridged') }}
    group by playlist_id

),

final as (

    select
        playlists.playlist_id,
        playlists.playlist_name,
        playlists.playlist_description,
        playlists.owner_id,
        playlists.owner_display_name,
        playlists.is_public,
        playlists.is_collaborative,
        playlists.snapshot_id,
        playlists.item_total,
        coalesce(entries.loaded_entry_count, 0)::integer as loaded_entry_count,
        entries.playlist_id is not null as has_loaded_entries,
        playlists.image_url,
        playlists.spotify_url,
        playlists.requested_at as source_requested_at
    from playlists
    left join entries on playlists.playlist_id = entries.playlist_id

)

select * from final
