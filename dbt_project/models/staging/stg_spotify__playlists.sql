with

source as (

    select * from {{ bronze_source('playlists', {'playlist_id': 'text'}) }}

),

renamed as (

    select
        playlist_id::text as playlist_id,
        payload ->> 'name' as playlist_name,
        nullif(payload ->> 'description', '') as playlist_description,
        payload -> 'owner' ->> 'id' as owner_id,
        payload -> 'owner' ->> 'display_name' as owner_display_name,
        {{ json_bool("payload -> 'public'") }} as is_public,
        coalesce({{ json_bool("payload -> 'collaborative'") }}, false) as is_collaborative,
        payload ->> 'snapshot_id' as snapshot_id,
        -- The 2026 API calls the entries' reference `items`, older ones `tracks`.
        {{ json_int("coalesce(payload -> 'items', payload -> 'tracks') -> 'total'") }}
            as item_total,
        {{ json_image_url('payload') }} as image_url,
        payload ->> 'uri' as playlist_uri,
        payload -> 'external_urls' ->> 'spotify' as spotify_url,
        requested_at,
        _dlt_load_id::text as load_id,
        {{ latest_version_rank('playlist_id') }} as version_rank
    from source

),

final as (

    select
        playlist_id,
        playlist_name,
        playlist_description,
        owner_id,
        owner_display_name,
        is_public,
        is_collaborative,
        snapshot_id,
        item_total,
        image_url,
        playlist_uri,
        spotify_url,
        requested_at,
        load_id
    from renamed
    where version_rank = 1

)

select * from final
