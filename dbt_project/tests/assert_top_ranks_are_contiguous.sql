-- Business rule: each top list (snapshot day, time range, artists or tracks) ranks 1..n
-- without gaps or repeats.
with

lists as (

    select
        snapshot_date,
        time_range,
        item_type,
        count(*) as item_count,
        count(distinct rank) as distinct_ranks,
        min(rank) as min_rank,
        max(rank) as max_rank
    from {{ ref('fct_top_rank_history') }}
    group by snapshot_date, time_range, item_type

),

final as (

    select *
    from lists
    where min_rank <> 1 or max_rank <> item_count or distinct_ranks <> item_count

)

select * from final
