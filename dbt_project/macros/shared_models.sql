{#- Whole model bodies that sibling models share, one per pair (artists and tracks, albums). -#}

{#-
    A top list's snapshot rows (`item` is 'artist' or 'track', read from bronze `top_<item>s`):
    the newest version of each (snapshot date, time range, rank), keyed by `top_rank_id`.
    Incremental: only bronze rows requested after the newest one already in the model.
-#}
{% macro top_rank_snapshot(item) -%}
with

source as (

    select *
    from {{ bronze_source('top_' ~ item ~ 's', {
        'snapshot_date': 'date', 'time_range': 'text', 'rank': 'bigint', item ~ '_id': 'text'
    }) }}

    {% if is_incremental() %}
    where {{ newer_than_loaded('requested_at') }}
    {% endif %}

),

renamed as (

    select
        md5(
            '{{ item }}|'
            || to_char(snapshot_date, 'YYYY-MM-DD')
            || '|'
            || time_range
            || '|'
            || rank::text
        ) as top_rank_id,
        snapshot_date,
        time_range::text as time_range,
        rank::integer as rank,
        {{ item }}_id::text as {{ item }}_id,
        payload as {{ item }}_object,
        requested_at,
        _dlt_load_id::text as load_id,
        {{ latest_version_rank('snapshot_date, time_range, rank') }} as version_rank
    from source

),

final as (

    select
        top_rank_id,
        snapshot_date,
        time_range,
        rank,
        {{ item }}_id,
        {{ item }}_object,
        requested_at,
        load_id
    from renamed
    where version_rank = 1

)

select * from final
{%- endmacro %}

{#-
    The artists credited on each `parent` ('track' or 'album') of `merged` (its merged model, with
    `<parent>_id` and `<parent>_object`), in credit order: an artist credited twice keeps its first
    place, positions count from 1, and the first credited is the primary artist.
-#}
{% macro bridge_artist_credits(parent, merged) -%}
with

parents as (

    select
        {{ parent }}_id,
        {{ parent }}_object
    from {{ merged }}

),

credits as (

    select
        parents.{{ parent }}_id,
        credited.artist_object ->> 'id' as artist_id,
        credited.credit_order::integer as credit_order
    from parents
    cross join lateral {{ artist_credits('parents.' ~ parent ~ '_object') }}
        with ordinality as credited (artist_object, credit_order)

),

deduplicated as (

    select
        {{ parent }}_id,
        artist_id,
        min(credit_order) as credit_order
    from credits
    where artist_id is not null
    group by {{ parent }}_id, artist_id

),

final as (

    select
        {{ parent }}_id,
        artist_id,
        row_number() over (
            partition by {{ parent }}_id order by credit_order
        )::integer as artist_position,
        credit_order = min(credit_order) over (partition by {{ parent }}_id) as is_primary_artist
    from deduplicated

)

select * from final
{%- endmacro %}

{#-
    The items played most per calendar week and month (ties share a rank), from fct_plays:
    `item` names the columns (`<item>_id`, `<item>_name`), `play_column` is the fct_plays column
    holding the item's id, `dimension` the model with its name.
-#}
{% macro top_items_by_period(item, play_column, dimension) -%}
with

recompute_window as (

    select {{ recompute_from() }} as recompute_from

),

plays as (

    select * from {{ ref('fct_plays') }}
    where
        {{ play_column }} is not null
        -- From the start of the week holding the window's start: the periods from the window on
        -- are read whole (a week begun before a month's first day is read, and left out below).
        and played_at >= (
            select
                date_trunc('week', recompute_window.recompute_from)::timestamp
                at time zone 'UTC' as read_from
            from recompute_window
        )

),

by_period as (

    {%- for period in ['week', 'month'] %}

    select
        '{{ period }}' as period_type,
        date_trunc('{{ period }}', played_at at time zone 'UTC')::date as period_start_date,
        {{ play_column }}{% if play_column != item ~ '_id' %} as {{ item }}_id{% endif %},
        count(*) as play_count,
        coalesce(sum(ms_played), 0) as ms_played
    from plays
    group by 1, 2, 3
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}

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
        ranked.{{ item }}_id,
        items.{{ item }}_name,
        ranked.period_rank::integer as period_rank,
        ranked.play_count::integer as play_count,
        ranked.ms_played::bigint as ms_played,
        round(ranked.ms_played / 60000.0, 2)::numeric(12, 2) as minutes_played,
        {{ run_stamp() }} as dbt_updated_at
    from ranked
    inner join {{ dimension }} as items on ranked.{{ item }}_id = items.{{ item }}_id
    where
        ranked.period_start_date
        >= (select recompute_window.recompute_from from recompute_window)

)

select * from final
{%- endmacro %}
