{#-
    Every album object bronze holds (catalog albums, saved albums, and the simplified albums
    embedded in tracks), reduced to one row per album: a full Album wins over a simplified one,
    then the newest version wins.
-#}
with

occurrences as (

    select
        album_object,
        requested_at,
        'albums' as found_in
    from {{ ref('stg_spotify__albums') }}

    union all

    select
        album_object,
        requested_at,
        'saved_albums' as found_in
    from {{ ref('stg_spotify__saved_albums') }}

    union all

    select
        track_object -> 'album' as album_object,
        requested_at,
        'tracks' as found_in
    from {{ ref('int_tracks_merged') }}
    where jsonb_typeof(track_object -> 'album') = 'object'

),

unpacked as (

    select
        {{ spotify_album_columns('album_object') }},
        {{ is_full_album('album_object') }} as is_full_object,
        album_object,
        found_in,
        requested_at
    from occurrences
    where album_object ->> 'id' is not null

),

ranked as (

    select
        *,
        {{ best_object_rank('album_id') }} as version_rank
    from unpacked

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
        extract(year from release_date)::integer as release_year,
        total_tracks,
        upc,
        label,
        popularity,
        genres,
        image_url,
        spotify_url,
        is_full_object,
        album_object,
        found_in,
        requested_at
    from ranked
    where version_rank = 1

)

select * from final
