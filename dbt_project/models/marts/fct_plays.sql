{#-
    One row per play. Incremental: a run compares every play's columns as its inputs now give
    them (the deduplicated play, its session, its track's album, artist and duration) with the
    rows it holds, and recomputes the plays that differ, plus the plays that are or were the
    first play of their tracks (a first play can move); the rows of plays that no longer exist
    go (replace_rows).
-#}
{{
    config(
        materialized='incremental',
        unique_key='play_id',
        incremental_strategy='replace_rows',
        key_source='int_plays_deduplicated',
        on_schema_change='fail',
    )
}}

with

plays as (

    select * from {{ ref('int_plays_deduplicated') }}

),

sessions as (

    select * from {{ ref('int_plays_sessionized') }}

),

tracks as (

    select
        track_id,
        album_id,
        primary_artist_id,
        duration_ms
    from {{ ref('dim_tracks') }}

),

joined as (

    select
        plays.play_id,
        plays.played_at,
        (plays.played_at at time zone 'UTC')::date as played_date,
        extract(hour from plays.played_at at time zone 'UTC')::integer as played_hour_utc,
        plays.play_kind,
        plays.track_id,
        tracks.album_id,
        tracks.primary_artist_id,
        plays.episode_id,
        plays.context_type,
        plays.context_uri,
        -- The export says how long a play lasted; the API does not: then assume it played through.
        coalesce(plays.ms_played, tracks.duration_ms) as ms_played,
        plays.ms_played is null as is_ms_played_estimated,
        plays.reason_start,
        plays.reason_end,
        plays.is_skipped,
        plays.is_shuffle,
        plays.is_offline,
        plays.is_incognito,
        plays.platform,
        plays.conn_country,
        sessions.session_id,
        sessions.session_play_number,
        plays.source,
        plays.is_from_api,
        plays.is_from_export,
        plays.api_play_id,
        plays.history_play_id,
        plays.export_format,
        plays.requested_at as source_requested_at,
        plays.imported_at as source_imported_at
    from plays
    inner join sessions on plays.play_id = sessions.play_id
    left join tracks on plays.track_id = tracks.track_id

),

{% set compared = [
    'play_id', 'played_at', 'played_date', 'played_hour_utc', 'play_kind', 'track_id',
    'album_id', 'primary_artist_id', 'episode_id', 'context_type', 'context_uri', 'ms_played',
    'is_ms_played_estimated', 'reason_start', 'reason_end', 'is_skipped', 'is_shuffle',
    'is_offline', 'is_incognito', 'platform', 'conn_country', 'session_id',
    'session_play_number', 'source', 'is_from_api', 'is_from_export', 'api_play_id',
    'history_play_id', 'export_format', 'source_requested_at', 'source_imported_at',
] %}

{% if is_incremental() %}
-- The plays whose row would differ (new, changed or gone): every column but
-- is_first_play_of_track, which `first_plays` settles for their tracks. One hash join on the
-- key, not an EXCEPT of all columns (which sorts every row of both).
changed_plays as (

    select
        coalesce(now_rows.play_id, held_rows.play_id) as play_id,
        now_rows.track_id as track_id_now,
        held_rows.track_id as track_id_held
    from joined as now_rows
    full outer join {{ this }} as held_rows on now_rows.play_id = held_rows.play_id
    where
        (
            {%- for column in compared %}
            now_rows.{{ column }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        )
        is distinct from
        (
            {%- for column in compared %}
            held_rows.{{ column }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        )

),

-- Each changed play with its track now and before (both may change which play is first).
changed as (

    select
        play_id,
        track_id_now as track_id
    from changed_plays

    union all

    select
        play_id,
        track_id_held as track_id
    from changed_plays

),

-- A first play moves only within the tracks of changed plays: their first plays now, and the
-- rows that were their first plays, are recomputed with the changed plays.
first_plays as (

    select distinct on (track_id) play_id
    from plays
    where track_id in (select changed.track_id from changed)
    order by track_id, played_at, play_id

),

recomputed as (

    select changed.play_id from changed
    union
    select first_plays.play_id from first_plays
    union
    select this.play_id
    from {{ this }} as this
    where
        this.is_first_play_of_track
        and this.track_id in (select changed.track_id from changed)

),

firsts as (

    select
        play_id,
        true as is_first_play_of_track
    from first_plays

),
{% else %}
firsts as (

    select
        play_id,
        row_number() over (partition by track_id order by played_at, play_id) = 1
            as is_first_play_of_track
    from plays
    where track_id is not null

),
{% endif %}

final as (

    select
        joined.play_id,
        joined.played_at,
        joined.played_date,
        joined.played_hour_utc,
        joined.play_kind,
        joined.track_id,
        joined.album_id,
        joined.primary_artist_id,
        joined.episode_id,
        joined.context_type,
        joined.context_uri,
        joined.ms_played,
        joined.is_ms_played_estimated,
        joined.reason_start,
        joined.reason_end,
        joined.is_skipped,
        joined.is_shuffle,
        joined.is_offline,
        joined.is_incognito,
        joined.platform,
        joined.conn_country,
        joined.session_id,
        joined.session_play_number,
        coalesce(firsts.is_first_play_of_track, false) as is_first_play_of_track,
        joined.source,
        joined.is_from_api,
        joined.is_from_export,
        joined.api_play_id,
        joined.history_play_id,
        joined.export_format,
        joined.source_requested_at,
        joined.source_imported_at
    from joined
    left join firsts on joined.play_id = firsts.play_id
    {% if is_incremental() %}
    inner join recomputed on joined.play_id = recomputed.play_id
    {% endif %}

)

select * from final
