{#- How plays and saved tracks spread over the decades their albums were released in. -#}
with

tracks as (

    select
        track_id,
        release_decade
    from {{ ref('dim_tracks') }}

),

-- Plays counted per track first: the join and the decades then see one row per track.
plays_by_track as (

    select
        track_id,
        count(*) as play_count
    from {{ ref('fct_plays') }}
    group by track_id

),

plays as (

    select
        coalesce(tracks.release_decade::text || 's', 'unknown') as release_decade_label,
        tracks.release_decade,
        plays_by_track.play_count
    from plays_by_track
    left join tracks on plays_by_track.track_id = tracks.track_id

),

saved as (

    select
        coalesce(tracks.release_decade::text || 's', 'unknown') as release_decade_label,
        tracks.release_decade
    from {{ ref('fct_saved_tracks') }} as saved
    left join tracks on saved.track_id = tracks.track_id

),

decades as (

    select
        release_decade_label,
        release_decade
    from plays
    union
    select
        release_decade_label,
        release_decade
    from saved

),

play_counts as (

    select
        release_decade_label,
        sum(play_count) as play_count
    from plays
    group by release_decade_label

),

saved_counts as (

    select
        release_decade_label,
        count(*) as saved_track_count
    from saved
    group by release_decade_label

),

final as (

    select
        decades.release_decade_label,
        decades.release_decade,
        coalesce(play_counts.play_count, 0)::integer as play_count,
        coalesce(
            round(
                play_counts.play_count::numeric / nullif(sum(play_counts.play_count) over (), 0), 4
            ),
            0
        )::numeric(6, 4) as share_of_plays,
        coalesce(saved_counts.saved_track_count, 0)::integer as saved_track_count,
        coalesce(
            round(
                saved_counts.saved_track_count::numeric
                / nullif(sum(saved_counts.saved_track_count) over (), 0),
                4
            ),
            0
        )::numeric(6, 4) as share_of_saved_tracks
    from decades
    left join play_counts on decades.release_decade_label = play_counts.release_decade_label
    left join saved_counts on decades.release_decade_label = saved_counts.release_decade_label

)

select * from final
