{#- Each playlist entry with its position; local files, episodes and removed items are kept. -#}
with

entries as (

    select * from {{ ref('stg_spotify__playlist_items') }}

),

final as (

    select
        playlist_item_id,
        playlist_id,
        position,
        entry_kind,
        is_local,
        track_id,
        episode_id,
        item_name,
        item_uri,
        duration_ms,
        added_at,
        added_by_id,
        requested_at
    from entries

)

select * from final
