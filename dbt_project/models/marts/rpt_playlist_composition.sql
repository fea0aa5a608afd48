{#- What each playlist is made of: kinds of entries, artists, duration, release years. -#}
with

playlists as (

    select
        playlist_id,
        playlist_name
    from {{ ref('dim_playlists') }}

),

entries as (

    select * from {{ ref('fct_playlist_tracks') }}

),

tracks as (

    select
        track_id,
        is_explicit,
        release_year
    from {{ ref('dim_tracks') }}

),

counted as (

    select
        entries.playlist_id,
        count(*) as entry_count,
        count(*) filter (where entries.entry_kind = 'track') as track_count,
        count(*) filter (where entries.entry_kind = 'local_track') as local_track_count,
        count(*) filter (where entries.entry_kind = 'episode') as episode_count,
        count(*) filter (where entries.entry_kind = 'unavailable') as unavailable_count,
        count(distinct entries.primary_artist_id) as distinct_artist_count,
        coalesce(sum(entries.duration_ms), 0) as total_duration_ms,
        avg(tracks.release_year) as avg_release_year,
        avg(case when tracks.is_explicit then 1.0 when not tracks.is_explicit then 0.0 end)
            as explicit_share
    from entries
    left join tracks on entries.track_id = tracks.track_id
    group by entries.playlist_id

),

final as (

    select
        playlists.playlist_id,
        playlists.playlist_name,
        coalesce(counted.entry_count, 0)::integer as entry_count,
        coalesce(counted.track_count, 0)::integer as track_count,
        coalesce(counted.local_track_count, 0)::integer as local_track_count,
        coalesce(counted.episode_count, 0)::integer as episode_count,
        coalesce(counted.unavailable_count, 0)::integer as unavailable_count,
        coalesce(counted.distinct_artist_count, 0)::integer as distinct_artist_count,
        coalesce(counted.total_duration_ms, 0)::bigint as total_duration_ms,
        round(counted.avg_release_year, 1)::numeric(6, 1) as avg_release_year,
        round(counted.explicit_share, 4)::numeric(6, 4) as explicit_share
    from playlists
    left join counted on playlists.playlist_id = counted.playlist_id

)

select * from final
