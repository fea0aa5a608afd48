{{
    config(
        materialized='incremental',
        unique_key='play_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['dbt_updated_at']}],
    )
}}

with

source as (

    select *
    from {{ bronze_source('recently_played', {'played_at': 'timestamptz', 'track_id': 'text'}) }}

    {% if is_incremental() %}
    where {{ newer_than_loaded('requested_at') }}
    {% endif %}

),

renamed as (

    select
        md5(coalesce(track_id, '') || '|' || {{ timestamp_key('played_at') }}) as play_id,
        played_at,
        track_id::text as track_id,
        lower(payload -> 'context' ->> 'type') as context_type,
        payload -> 'context' ->> 'uri' as context_uri,
        coalesce(payload -> 'track', payload -> 'item') as track_object,
        requested_at,
        _dlt_load_id::text as load_id,
        {{ latest_version_rank('played_at, track_id') }} as version_rank
    from source

),

final as (

    select
        play_id,
        played_at,
        track_id,
        context_type,
        context_uri,
        track_object,
        requested_at,
        load_id,
        {{ run_stamp() }} as dbt_updated_at
    from renamed
    where version_rank = 1

)

select * from final
