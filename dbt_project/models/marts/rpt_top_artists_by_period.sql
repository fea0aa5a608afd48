{#- The artists played most per calendar week and month (ties share a rank). -#}
with

plays as (

    select * from {{ ref('fct_plays') }}
    where primary_artist_id is not null

),

by_period as (

    select
        'week' as period_type,
        date_trunc('week', played_at at time zone 'UTC')::date as period_start_date,
        primary_artist_id as artist_id,
        count(*) as play_count,
        coalesce(sum(ms_played), 0) as ms_played
    from plays
    group by 1, 2, 3

    union all

    select
        'month' as period_type,
        date_trunc('month', played_at at time zone 'UTC')::date as period_start_date,
        primary_artist_id as artist_id,
        count(*) as play_count,
        coalesce(sum(ms_played), 0) as ms_played
    from plays
    group by 1, 2, 3

),

ranked as (

    select
        *,
        rank() over (
            partition by period_type, period_start_date order by play_count desc, ms_played desc
        ) as period_rank
    from by_period

),

final as (

    select
        ranked.period_type,
        ranked.period_start_date,
        ranked.artist_id,
        artists.artist_name,
        ranked.period_rank::integer as period_rank,
        ranked.play_count::integer as play_count,
        ranked.ms_played::bigint as ms_played,
        round(ranked.ms_played / 60000.0, 2)::numeric(12, 2) as minutes_played
    from ranked
    inner join {{ ref('dim_artists') }} as artists on ranked.artist_id = artists.artist_id

)

select * from final
