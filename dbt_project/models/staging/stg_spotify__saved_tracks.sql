with

source as (

    select * from {{ bronze_source('saved_tracks', {'track_id': 'text'}) }}

),

renamed as (

    select
        track_id::text as track_id,
        (payload ->> 'added_at')::timestamptz as saved_at,
        payload -> 'track' as track_object,
        requested_at,
        _dlt_load_id::text as load_id,
        {{ latest_version_rank('track_id') }} as version_rank
    from source

),

final as (

    select
        track_id,
        saved_at,
        track_object,
        requested_at,
        load_id
    from renamed
    where version_rank = 1

)

select * from final
