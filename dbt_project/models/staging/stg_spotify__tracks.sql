with

source as (

    select * from {{ bronze_source('tracks', {'track_id': 'text'}) }}

),

renamed as (

    select
        {{ spotify_track_columns('payload') }},
        payload as track_object,
        requested_at,
        _dlt_load_id::text as load_id,
        {{ latest_version_rank('track_id') }} as version_rank
    from source

),

final as (

    select
        track_id,
        track_name,
        track_uri,
        album_id,
        disc_number,
        track_number,
        duration_ms,
        is_explicit,
        is_local,
        is_playable,
        isrc,
        popularity,
        preview_url,
        spotify_url,
        track_object,
        requested_at,
        load_id
    from renamed
    where version_rank = 1

)

select * from final
