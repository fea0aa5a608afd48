with

source as (

    select * from {{ bronze_source('albums', {'album_id': 'text'}) }}

),

renamed as (

    select
        {{ spotify_album_columns('payload') }},
        payload as album_object,
        requested_at,
        _dlt_load_id::text as load_id,
        {{ latest_version_rank('album_id') }} as version_rank
    from source

),

final as (

    select
        album_id,
        album_name,
        album_type,
        album_uri,
        release_date,
        release_date_precision,
        release_date_raw,
        total_tracks,
        upc,
        label,
        popularity,
        genres,
        image_url,
        spotify_url,
        album_object,
        requested_at,
        load_id
    from renamed
    where version_rank = 1

)

select * from final
