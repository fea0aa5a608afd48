-- Business rule: within a session no two consecutive plays are more than the session gap apart,
-- and consecutive plays in different sessions are more than the gap apart. Checked for the plays
-- the latest run wrote (every play after a full build) and the play before the first of them:
-- the pairs before were checked when their plays were written.
with

-- Materialized: the planner would otherwise look for the earliest stamped play in played_at
-- order, from the first play on.
stamped as materialized (

    select fct_plays.played_at
    from {{ ref('fct_plays') }} as fct_plays
    where
        fct_plays.dbt_updated_at
        = (select max(newest.dbt_updated_at) as latest_stamp from {{ ref('fct_plays') }} as newest)

),

latest_run as (

    select min(stamped.played_at) as written_from
    from stamped

),

plays as (

    select
        play_id,
        played_at,
        session_id,
        lag(played_at) over (order by played_at, play_id) as previous_played_at,
        lag(session_id) over (order by played_at, play_id) as previous_session_id
    from {{ ref('fct_plays') }}
    where
        played_at >= coalesce(
            (
                select max(earlier.played_at) as previous_played_at
                from {{ ref('fct_plays') }} as earlier
                where earlier.played_at < (select latest_run.written_from from latest_run)
            ),
            '-infinity'
        )

),

final as (

    select *
    from plays
    where
        previous_played_at is not null
        and played_at >= (select latest_run.written_from from latest_run)
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
