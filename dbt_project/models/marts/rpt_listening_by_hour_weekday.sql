{#- Plays per weekday and hour of day (UTC), on the full 7 x 24 grid. -#}
with

plays as (

    select * from {{ ref('fct_plays') }}

),

grid as (

    select
        weekdays.day_of_week,
        hours.hour_of_day
    from generate_series(1, 7) as weekdays (day_of_week)
    cross join generate_series(0, 23) as hours (hour_of_day)

),

counted as (

    select
        extract(isodow from played_at at time zone 'UTC')::integer as day_of_week,
        played_hour_utc as hour_of_day,
        count(*) as play_count,
        coalesce(sum(ms_played), 0) as ms_played
    from plays
    group by 1, 2

),

final as (

    select
        grid.day_of_week,
        trim(to_char(date '2024-01-01' + (grid.day_of_week - 1), 'Day')) as day_name,
        grid.hour_of_day,
        coalesce(counted.play_count, 0)::integer as play_count,
        coalesce(counted.ms_played, 0)::bigint as ms_played,
        round(coalesce(counted.ms_played, 0) / 60000.0, 2)::numeric(12, 2) as minutes_played
    from grid
    left join counted
        on
            grid.day_of_week = counted.day_of_week
            and grid.hour_of_day = counted.hour_of_day

)

select * from final
