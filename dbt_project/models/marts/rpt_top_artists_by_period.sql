{#-
    The artists played most per calendar week and month (ties share a rank).
    Incremental: a run recomputes the weeks and months from the one holding the earliest play
    written since the last run, and every period when an item it names was renamed or is gone.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_suffix',
        recompute_column='period_start_date',
        on_schema_change='fail',
        indexes=[{'columns': ['dbt_updated_at']}, {'columns': ['period_start_date']}],
    )
}}
{{ top_items_by_period('artist', 'primary_artist_id', ref('dim_artists')) }}
