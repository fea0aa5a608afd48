{#-
    One row per play, whichever sources recorded it. A Web API play and an export record are
    the same play when (both timestamps are the END of the play: the API's played_at and the
    export's ts):
      * extended history: same track id, and the export's ts (to the second) is within
        var('play_match_tolerance_seconds') of the API's played_at;
      * account data (no track id, end time to the minute): same track name (case-insensitive),
        and the API's played_at falls in the export's minute, give or take the tolerance;
    and each is the other's nearest such candidate (mutual nearest: one API play pairs with
    at most one export record and vice versa; ties go to the smaller id). A matched play keeps
    the API's play_id and played_at (millisecond precision) and takes everything the export
    adds, including the real listening time.

    Incremental: a run recomputes the plays from an hour before the earliest conformed play
    written since the last one, reading the conformed plays from an hour before that (a pairing
    reaches no further than the tolerance and a minute, twice; see `recompute_from`).
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_suffix',
        recompute_column='played_at',
        on_schema_change='fail',
        indexes=[{'columns': ['dbt_updated_at']}, {'columns': ['played_at']}],
    )
}}

with

recompute_window as (

    select {{ recompute_from() }} as recompute_from

),

plays as (

    select * from {{ ref('int_plays_conformed') }}
    where
        played_at >= (
            select recompute_window.recompute_from - interval '1 hour' as context_from
            from recompute_window
        )

),

api_plays as (

    select * from plays
    where source = 'api'

),

export_plays as (

    select * from plays
    where source = 'export' and play_kind = 'track'

),

-- Two joins on an equality (track id, track name) rather than one join on an OR of both: the
-- OR can only be a nested loop, quadratic in the plays (minutes at 300,000 plays).
candidates as (

    select
        api_plays.source_play_id as api_play_id,
        export_plays.source_play_id as history_play_id,
        abs(extract(epoch from api_plays.played_at - export_plays.played_at)) as seconds_apart
    from api_plays
    inner join export_plays
        on
            export_plays.export_format = 'extended'
            and api_plays.track_id = export_plays.track_id
            and export_plays.played_at
            between api_plays.played_at
            - make_interval(secs => {{ var('play_match_tolerance_seconds') }})
            and api_plays.played_at
            + make_interval(secs => {{ var('play_match_tolerance_seconds') }})

    union all

    select
        api_plays.source_play_id as api_play_id,
        export_plays.source_play_id as history_play_id,
        abs(extract(epoch from api_plays.played_at - export_plays.played_at)) as seconds_apart
    from api_plays
    inner join export_plays
        on
            export_plays.export_format = 'account_data'
            and export_plays.track_id is null
            and lower(api_plays.track_name) = lower(export_plays.track_name)
            and api_plays.played_at
            between export_plays.played_at
            - make_interval(secs => {{ var('play_match_tolerance_seconds') }})
            and export_plays.played_at
            + make_interval(secs => 60 + {{ var('play_match_tolerance_seconds') }})

),

ranked as (

    select
        *,
        row_number() over (
            partition by api_play_id order by seconds_apart, history_play_id
        ) as api_rank,
        row_number() over (
            partition by history_play_id order by seconds_apart, api_play_id
        ) as history_rank
    from candidates

),

matches as (

    select
        api_play_id,
        history_play_id
    from ranked
    where api_rank = 1 and history_rank = 1

),

keyed as (

    select
        plays.*,
        case
            when plays.source = 'api' then plays.source_play_id
            else coalesce(matches.api_play_id, plays.source_play_id)
        end as play_id
    from plays
    left join matches
        on
            plays.source = 'export'
            and plays.source_play_id = matches.history_play_id

),

merged as (

    select
        play_id,
        max(source_play_id) filter (where source = 'api') as api_play_id,
        max(source_play_id) filter (where source = 'export') as history_play_id,
        bool_or(source = 'api') as is_from_api,
        bool_or(source = 'export') as is_from_export,
        -- The API's time when it has one (milliseconds; the export's is cut to the second).
        coalesce(
            max(played_at) filter (where source = 'api'),
            max(played_at) filter (where source = 'export')
        ) as played_at,
        coalesce(
            max(play_kind) filter (where source = 'api'),
            max(play_kind) filter (where source = 'export')
        ) as play_kind,
        coalesce(
            max(track_id) filter (where source = 'api'),
            max(track_id) filter (where source = 'export')
        ) as track_id,
        max(episode_id) as episode_id,
        max(ms_played) as ms_played,
        max(context_type) as context_type,
        max(context_uri) as context_uri,
        max(export_format) as export_format,
        max(platform) as platform,
        max(conn_country) as conn_country,
        max(reason_start) as reason_start,
        max(reason_end) as reason_end,
        bool_or(is_skipped) as is_skipped,
        bool_or(is_shuffle) as is_shuffle,
        bool_or(is_offline) as is_offline,
        bool_or(is_incognito) as is_incognito,
        max(requested_at) as requested_at,
        max(imported_at) as imported_at
    from keyed
    group by play_id

),

final as (

    select
        play_id,
        api_play_id,
        history_play_id,
        played_at,
        play_kind,
        track_id,
        episode_id,
        ms_played,
        case
            when is_from_api and is_from_export then 'both'
            when is_from_api then 'api'
            else 'export'
        end as source,
        is_from_api,
        is_from_export,
        context_type,
        context_uri,
        export_format,
        platform,
        conn_country,
        reason_start,
        reason_end,
        is_skipped,
        is_shuffle,
        is_offline,
        is_incognito,
        requested_at,
        imported_at,
        {{ run_stamp() }} as dbt_updated_at
    from merged
    where played_at >= (select recompute_window.recompute_from from recompute_window)

)

select * from final
