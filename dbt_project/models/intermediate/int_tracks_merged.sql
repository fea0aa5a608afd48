{#-
    Every track object bronze holds, wherever it arrived (plays, saved tracks, top tracks,
    playlist entries, catalog tracks, album track lists), reduced to one row per track: a full
    Track wins over a simplified one, then the newest version wins.
-#}
with

occurrences as (

    select
        track_object,
        null::text as album_id_hint,
        requested_at,
        'recently_played' as found_in
    from {{ ref('stg_spotify__recently_played') }}

    union all

    select
        track_object,
        null::text as album_id_hint,
        requested_at,
        'saved_tracks' as found_in
    from {{ ref('stg_spotify__saved_tracks') }}

    union all

    select
        track_object,
        null::text as album_id_hint,
        requested_at,
        'top_tracks' as found_in
    from {{ ref('stg_spotify__top_tracks') }}

    union all

    select
        item_object as track_object,
        null::text as album_id_hint,
        requested_at,
        'playlist_items' as found_in
    from {{ ref('stg_spotify__playlist_items') }}
    where entry_kind = 'track'

    union all

    select
        track_object,
        null::text as album_id_hint,
        requested_at,
        'tracks' as found_in
    from {{ ref('stg_spotify__tracks') }}

    union all

    select
        track_object,
        album_id as album_id_hint,
        requested_at,
        'album_tracks' as found_in
    from {{ ref('stg_spotify__album_tracks') }}

),

unpacked as (

    select
        {{ spotify_track_columns('track_object') }},
        album_id_hint,
        {{ is_full_track('track_object') }} as is_full_object,
        track_object,
        found_in,
        requested_at
    from occurrences
    where track_object ->> 'id' is not null

),

ranked as (

    select
        *,
        {{ best_object_rank('track_id') }} as version_rank
    from unpacked

),

final as (

    select
        track_id,
        track_name,
        track_uri,
        coalesce(album_id, album_id_hint) as album_id,
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
        is_full_object,
        track_object,
        found_in,
        requested_at
    from ranked
    where version_rank = 1

)

select * from final
