with

source as (

    select * from {{ bronze_source('album_tracks', {'album_id': 'text', 'track_id': 'text'}) }}

),

renamed as (

    select
        album_id::text as album_id,
        track_id::text as track_id,
        payload ->> 'name' as track_name,
        {{ json_int("payload -> 'disc_number'") }} as disc_number,
        {{ json_int("payload -> 'track_number'") }} as track_number,
        {{ json_int("payload -> 'duration_ms'", 'bigint') }} as duration_ms,
        {{ json_bool("payload -> 'explicit'") }} as is_explicit,
        payload as track_object,
        requested_at,
        _dlt_load_id::text as load_id,
        {{ latest_version_rank('album_id, track_id') }} as version_rank
    from source

),

final as (

    select
        album_id,
        track_id,
        track_name,
        disc_number,
        track_number,
        duration_ms,
        is_explicit,
        track_object,
        requested_at,
        load_id
    from renamed
    where version_rank = 1

)

select * from final
