{{
    config(
        materialized='incremental',
        unique_key='top_rank_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}

{#- The newest version of each row of the artist top lists (snapshot date, time range, rank). -#}
{{ top_rank_snapshot('artist') }}
