with

source as (

    select * from {{ bronze_source('artists', {'artist_id': 'text'}) }}

),

renamed as (

    select
        {{ spotify_artist_columns('payload') }},
        payload as artist_object,
        requested_at,
        _dlt_load_id::text as load_id,
        {{ latest_version_rank('artist_id') }} as version_rank
    from source

),

final as (

    select
        artist_id,
        artist_name,
        artist_uri,
        popularity,
        follower_count,
        genres,
        image_url,
        spotify_url,
        artist_object,
        requested_at,
        load_id
    from renamed
    where version_rank = 1

)

select * from final
