{{
    config(
        materialized='incremental',
        unique_key='top_rank_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}

with

source as (

    select *
    from {{ bronze_source('top_artists', {
        'snapshot_date': 'date', 'time_range': 'text', 'rank': 'bigint', 'artist_id': 'text'
    }) }}

    {% if is_incremental() %}
    where
        requested_at > (
            select coalesce(max(t.requested_at), '-infinity') as max_requested_at
            from {{ this }} as t
        )
    {% endif %}

),

renamed as (

    select
        md5(
            'artist|'
            || to_char(snapshot_date, 'YYYY-MM-DD')
            || '|'
            || time_range
            || '|'
            || rank::text
        ) as top_rank_id,
        snapshot_date,
        time_range::text as time_range,
        rank::integer as rank,
        artist_id::text as artist_id,
        payload as artist_object,
        requested_at,
        _dlt_load_id::text as load_id,
        row_number() over (
            partition by snapshot_date, time_range, rank
            order by requested_at desc, _dlt_load_id desc, _dlt_id asc
        ) as version_rank
    from source

),

final as (

    select
        top_rank_id,
        snapshot_date,
        time_range,
        rank,
        artist_id,
        artist_object,
        requested_at,
        load_id
    from renamed
    where version_rank = 1

)

select * from final
