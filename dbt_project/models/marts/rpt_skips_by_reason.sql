{#-
    How plays of the privacy export start and end, and how often each way ends in a skip: one
    row per (reason_start, reason_end). Only plays whose export record states the reasons.
-#}
with

plays as (

    select * from {{ ref('fct_plays') }}
    where is_from_export and (reason_start is not null or reason_end is not null)

),

counted as (

    select
        coalesce(reason_start, 'unknown') as reason_start,
        coalesce(reason_end, 'unknown') as reason_end,
        count(*) as play_count,
        count(*) filter (where is_skipped) as skipped_play_count,
        count(is_skipped) as skip_known_play_count,
        coalesce(sum(ms_played), 0) as ms_played
    from plays
    group by 1, 2

),

final as (

    select
        reason_start,
        reason_end,
        play_count::integer as play_count,
        skipped_play_count::integer as skipped_play_count,
        round(skipped_play_count::numeric / nullif(skip_known_play_count, 0), 4)::numeric(6, 4)
            as skip_rate,
        round(play_count::numeric / sum(play_count) over (), 4)::numeric(6, 4) as share_of_plays,
        round(ms_played / 60000.0, 2)::numeric(12, 2) as minutes_played
    from counted

)

select * from final
