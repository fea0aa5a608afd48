with

days as (

    select spine.date_day::date as date_day
    from generate_series(
        '{{ var("dim_date_start") }}'::date,
        '{{ var("dim_date_end") }}'::date,
        interval '1 day'
    ) as spine (date_day)

),

final as (

    select
        date_day,
        extract(year from date_day)::integer as year_number,
        extract(quarter from date_day)::integer as quarter_number,
        extract(month from date_day)::integer as month_number,
        trim(to_char(date_day, 'Month')) as month_name,
        date_trunc('month', date_day)::date as month_start_date,
        date_trunc('week', date_day)::date as week_start_date,
        extract(week from date_day)::integer as iso_week_number,
        extract(day from date_day)::integer as day_of_month,
        extract(isodow from date_day)::integer as day_of_week,
        trim(to_char(date_day, 'Day')) as day_name,
        extract(isodow from date_day) in (6, 7) as is_weekend,
        (extract(year from date_day)::integer / 10 * 10) as decade
    from days

)

select * from final
