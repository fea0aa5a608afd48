{#-
    Plays in time order (one row per play, whichever sources recorded it), grouped into
    listening sessions: a gap of more than var('session_gap_minutes') since the previous play
    starts a new session.
-#}
with

plays as (

    select
        play_id,
        played_at,
        track_id
    from {{ ref('int_plays_deduplicated') }}

),

gaps as (

    select
        play_id,
        played_at,
        track_id,
        lag(played_at) over (order by played_at, play_id) as previous_played_at
    from plays

),

flagged as (

    select
        *,
        case
            when previous_played_at is null then 1
            when
                played_at - previous_played_at
                > make_interval(mins => {{ var('session_gap_minutes') }}) then 1
            else 0
        end as is_session_start
    from gaps

),

numbered as (

    select
        *,
        sum(is_session_start) over (
            order by played_at, play_id rows between unbounded preceding and current row
        ) as session_number
    from flagged

),

final as (

    select
        play_id,
        played_at,
        track_id,
        previous_played_at,
        session_number::integer as session_number,
        md5('session|' || {{ timestamp_key('min(played_at) over (partition by session_number)') }})
            as session_id,
        row_number() over (
            partition by session_number order by played_at, play_id
        )::integer as session_play_number,
        is_session_start = 1 as is_session_start
    from numbered

)

select * from final
