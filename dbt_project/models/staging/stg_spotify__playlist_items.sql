with

source as (

    select *
    from {{ bronze_source('playlist_items', {'playlist_id': 'text', 'position': 'bigint'}) }}

),

unpacked as (

    select
        playlist_id::text as playlist_id,
        position::integer as position,
        -- The 2026 API calls the entry's object `item`, older ones `track`.
        case
            when jsonb_typeof(coalesce(payload -> 'item', payload -> 'track')) = 'object'
                then coalesce(payload -> 'item', payload -> 'track')
        end as item_object,
        (payload ->> 'added_at')::timestamptz as added_at,
        payload -> 'added_by' ->> 'id' as added_by_id,
        coalesce({{ json_bool("payload -> 'is_local'") }}, false) as is_local_entry,
        requested_at,
        _dlt_load_id,
        _dlt_id
    from source

),

renamed as (

    select
        md5(playlist_id || '|' || position::text) as playlist_item_id,
        playlist_id,
        position,
        case
            when item_object is null then 'unavailable'
            when item_object ->> 'type' = 'episode' then 'episode'
            when is_local_entry or {{ json_bool("item_object -> 'is_local'") }} then 'local_track'
            else 'track'
        end as entry_kind,
        item_object ->> 'name' as item_name,
        item_object ->> 'uri' as item_uri,
        {{ json_int("item_object -> 'duration_ms'", 'bigint') }} as duration_ms,
        added_at,
        added_by_id,
        item_object,
        requested_at,
        _dlt_load_id::text as load_id,
        {{ latest_version_rank('playlist_id, position') }} as version_rank
    from unpacked

),

final as (

    select
        playlist_item_id,
        playlist_id,
        position,
        entry_kind,
        entry_kind = 'local_track' as is_local,
        case when entry_kind = 'track' then item_object ->> 'id' end as track_id,
        case when entry_kind = 'episode' then item_object ->> 'id' end as episode_id,
        item_name,
        item_uri,
        duration_ms,
        added_at,
        added_by_id,
        item_object,
        requested_at,
        load_id
    from renamed
    where version_rank = 1

)

select * from final
