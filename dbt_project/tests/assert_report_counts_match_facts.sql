-- Business rule: the report tables account for every play and playlist entry exactly once.
with

plays as (

    select
        count(*) as play_count,
        count(track_id) as known_track_play_count
    from {{ ref('fct_plays') }}

),

playlist_entries as (

    select count(*) as entry_count
    from {{ ref('fct_playlist_tracks') }}

),

by_hour as (

    select coalesce(sum(play_count), 0) as play_count
    from {{ ref('rpt_listening_by_hour_weekday') }}

),

sessions as (

    select coalesce(sum(play_count), 0) as play_count
    from {{ ref('rpt_listening_sessions') }}

),

discovery as (

    select coalesce(sum(play_count), 0) as play_count
    from {{ ref('rpt_discovery_rate') }}

),

habits as (

    select coalesce(sum(play_count), 0) as play_count
    from {{ ref('rpt_listening_habits') }}

),

composition as (

    select coalesce(sum(entry_count), 0) as entry_count
    from {{ ref('rpt_playlist_composition') }}

),

final as (

    select
        plays.play_count,
        plays.known_track_play_count,
        playlist_entries.entry_count,
        by_hour.play_count as by_hour_play_count,
        sessions.play_count as session_play_count,
        discovery.play_count as discovery_play_count,
        habits.play_count as habits_play_count,
        composition.entry_count as composition_entry_count
    from plays
    cross join playlist_entries
    cross join by_hour
    cross join sessions
    cross join discovery
    cross join habits
    cross join composition
    where
        by_hour.play_count <> plays.play_count
        or sessions.play_count <> plays.play_count
        or discovery.play_count <> plays.known_track_play_count
        or habits.play_count <> plays.play_count
        or composition.entry_count <> playlist_entries.entry_count

)

select * from final
