-- Business rule: within a session no two consecutive plays are more than the session gap apart,
-- and consecutive plays in different sessions are more than the gap apart.
with

plays as (

    select
        play_id,
        played_at,
        session_id,
        lag(played_at) over (order by played_at, play_id) as previous_played_at,
        lag(session_id) over (order by played_at, play_id) as previous_session_id
    from {{ ref('fct_plays') }}

),

final as (

    select *
    from plays
    where
        previous_played_at is not null
        and (
            (
                session_id = previous_session_id
                and played_at - previous_played_at
                > make_interval(mins => {{ var('session_gap_minutes') }})
            )
            or (
                session_id <> previous_session_id
                and played_at - previous_played_at
                <= make_interval(mins => {{ var('session_gap_minutes') }})
            )
        )

)

select * from final
