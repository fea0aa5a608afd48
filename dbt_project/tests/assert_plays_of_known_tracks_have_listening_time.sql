-- Business rule: a play of a track the warehouse knows has a listening time (the estimate from
-- the track's duration), so the reports never silently count zero minutes.
select
    plays.play_id,
    plays.track_id
from {{ ref('fct_plays') }} as plays
inner join {{ ref('dim_tracks') }} as tracks on plays.track_id = tracks.track_id
where tracks.duration_ms is not null and plays.ms_played is null
