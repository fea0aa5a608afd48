-- Business rule: every play of a month is counted under at least one genre ('unknown' at
-- worst), so a month's genre shares add up to at least 1.
select
    month_start_date,
    sum(share_of_plays) as total_share
from {{ ref('rpt_genre_mix_by_month') }}
group by month_start_date
having sum(share_of_plays) < 0.999
