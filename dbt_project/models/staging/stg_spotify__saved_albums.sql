with

source as (

    select * from {{ bronze_source('saved_albums', {'album_id': 'text'}) }}

),

renamed as (

    select
        album_id::text as album_id,
        (payload ->> 'added_at')::timestamptz as saved_at,
        payload -> 'album' as album_object,
        requested_at,
        _dlt_load_id::text as load_id,
        {{ latest_version_rank('album_id') }} as version_rank
    from source

),

final as (

    select
        album_id,
        saved_at,
        album_object,
        requested_at,
        load_id
    from renamed
    where version_rank = 1

)

select * from final
