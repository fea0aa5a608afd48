{#-
    The share of each month's plays per genre of the track's primary artist. A play counts once
    for each genre of that artist; artists without genres (Development Mode) count as 'unknown'.
-#}
with

-- Plays counted per month and primary artist first: the genre join then sees one row per
-- artist and month. A play counts once for each genre of its artist.
plays as (

    select
        date_trunc('month', played_at at time zone 'UTC')::date as month_start_date,
        primary_artist_id,
        count(*) as play_count,
        sum(ms_played) as ms_played
    from {{ ref('fct_plays') }}
    group by month_start_date, primary_artist_id

),

genres as (

    select
        artist_id,
        genre
    from {{ ref('int_artist_genres_bridged') }}

),

plays_by_genre as (

    select
        plays.month_start_date,
        coalesce(genres.genre, 'unknown') as genre,
        plays.play_count,
        plays.ms_played
    from plays
    left join genres on plays.primary_artist_id = genres.artist_id

),

monthly_totals as (

    select
        month_start_date,
        sum(play_count) as month_play_count
    from plays
    group by month_start_date

),

counted as (

    select
        month_start_date,
        genre,
        sum(play_count) as play_count,
        coalesce(sum(ms_played), 0) as ms_played
    from plays_by_genre
    group by month_start_date, genre

),

final as (

    select
        counted.month_start_date,
        counted.genre,
        counted.play_count::integer as play_count,
        counted.ms_played::bigint as ms_played,
        round(counted.play_count::numeric / monthly_totals.month_play_count, 4)::numeric(6, 4)
            as share_of_plays
    from counted
    inner join monthly_totals on counted.month_start_date = monthly_totals.month_start_date

)

select * from final
