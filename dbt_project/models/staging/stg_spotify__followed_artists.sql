with

source as (

    select * from {{ bronze_source('followed_artists', {'artist_id': 'text'}) }}

),

renamed as (

    select
        artist_id::text as artist_id,
        payload as artist_object,
        requested_at,
        _dlt_load_id::text as load_id,
        {{ latest_version_rank('artist_id') }} as version_rank
    from source

),

final as (

    select
        artist_id,
        artist_object,
        requested_at,
        load_id
    from renamed
    where version_rank = 1

)

select * from final
