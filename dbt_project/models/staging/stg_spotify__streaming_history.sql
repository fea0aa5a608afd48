{#-
    One row per play of the privacy export (bronze.streaming_history), both formats: the
    extended history (URIs, platform, reasons, shuffle, skips, offline, country) and the short
    account data (end time to the minute, names, no URIs). Bronze is insert-only on play_key,
    so a play never changes: incremental runs read only plays imported after the newest here.
-#}
{{
    config(
        materialized='incremental',
        unique_key='history_play_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['imported_at']},
            {'columns': ['dbt_updated_at']},
            {'columns': ['played_at']},
        ],
        post_hook='analyze {{ this }}',
    )
}}

with

source as (

    select *
    from {{ bronze_source('streaming_history', {
        'play_key': 'text',
        'played_at': 'timestamptz',
        'track_id': 'text',
        'kind': 'text',
        'ms_played': 'bigint',
        'export_format': 'text',
        'source_file': 'text',
        'imported_at': 'timestamptz',
    }) }}

    {% if is_incremental() %}
    where {{ newer_than_loaded('imported_at') }}
    {% endif %}

),

unpacked as (

    select
        play_key::text as history_play_id,
        played_at,
        ms_played::bigint as ms_played,
        lower(kind) as play_kind,
        track_id::text as track_id,
        lower(export_format) as export_format,
        nullif(payload ->> 'spotify_track_uri', '') as track_uri,
        nullif(payload ->> 'spotify_episode_uri', '') as episode_uri,
        nullif(payload ->> 'audiobook_chapter_uri', '') as audiobook_chapter_uri,
        nullif(payload ->> 'audiobook_uri', '') as audiobook_uri,
        coalesce(
            nullif(payload ->> 'master_metadata_track_name', ''),
            nullif(payload ->> 'trackName', '')
        ) as track_name,
        coalesce(
            nullif(payload ->> 'master_metadata_album_artist_name', ''),
            nullif(payload ->> 'artistName', '')
        ) as artist_name,
        nullif(payload ->> 'master_metadata_album_album_name', '') as album_name,
        coalesce(
            nullif(payload ->> 'episode_name', ''), nullif(payload ->> 'episodeName', '')
        ) as episode_name,
        coalesce(
            nullif(payload ->> 'episode_show_name', ''), nullif(payload ->> 'podcastName', '')
        ) as show_name,
        nullif(payload ->> 'audiobook_title', '') as audiobook_title,
        nullif(payload ->> 'audiobook_chapter_title', '') as audiobook_chapter_title,
        nullif(payload ->> 'platform', '') as platform_raw,
        upper(nullif(payload ->> 'conn_country', '')) as conn_country,
        nullif(lower(payload ->> 'reason_start'), '') as reason_start,
        nullif(lower(payload ->> 'reason_end'), '') as reason_end,
        {{ json_bool("payload -> 'shuffle'") }} as is_shuffle,
        {{ json_bool("payload -> 'skipped'") }} as skipped_flag,
        {{ json_bool("payload -> 'offline'") }} as is_offline,
        {{ json_int("payload -> 'offline_timestamp'", 'bigint') }} as offline_timestamp,
        {{ json_bool("payload -> 'incognito_mode'") }} as is_incognito,
        -- Present only when the import hashed PII (`--pii hash`); never the raw value.
        coalesce(
            nullif(payload ->> 'ip_addr', ''), nullif(payload ->> 'ip_addr_decrypted', '')
        ) as ip_address_hash,
        nullif(payload ->> 'user_agent_decrypted', '') as user_agent_hash,
        nullif(payload ->> 'username', '') as username_hash,
        source_file,
        imported_at,
        _dlt_load_id::text as load_id
    from source

),

final as (

    select
        history_play_id,
        played_at,
        played_at - make_interval(secs => ms_played / 1000.0) as started_at,
        ms_played,
        play_kind,
        export_format,
        track_id,
        track_uri,
        case
            when play_kind = 'episode' and episode_uri like 'spotify:episode:%'
                then nullif(substr(episode_uri, length('spotify:episode:') + 1), '')
        end as episode_id,
        episode_uri,
        audiobook_chapter_uri,
        audiobook_uri,
        track_name,
        artist_name,
        album_name,
        episode_name,
        show_name,
        audiobook_title,
        audiobook_chapter_title,
        case
            when platform_raw is null then null
            when platform_raw ~* '^android' then 'android'
            when platform_raw ~* '^ios' then 'ios'
            when platform_raw ~* '^windows' then 'windows'
            when platform_raw ~* '^(osx|os x|mac)' then 'macos'
            when platform_raw ~* '^linux' then 'linux'
            when platform_raw ~* '^web' then 'web_player'
            when platform_raw ~* '(partner|sonos|cast|chromecast|tv|playstation|xbox|car)'
                then 'partner_device'
            else 'other'
        end as platform,
        platform_raw,
        conn_country,
        reason_start,
        reason_end,
        -- Pre-2023 exports mostly write null for a play that was not skipped: unknown, not false.
        skipped_flag as is_skipped,
        is_shuffle,
        is_offline,
        case
            when offline_timestamp is null or offline_timestamp <= 0 then null
            -- Milliseconds since 1970 in current exports, seconds in older ones.
            when offline_timestamp > 100000000000 then to_timestamp(offline_timestamp / 1000.0)
            else to_timestamp(offline_timestamp)
        end as offline_at,
        is_incognito,
        ip_address_hash,
        user_agent_hash,
        username_hash,
        source_file,
        imported_at,
        load_id,
        {{ run_stamp() }} as dbt_updated_at
    from unpacked

)

select * from final
