{#-
    Incremental models over plays recompute a suffix: every row from a point in time on (the
    model's window, `recompute_from()`), and keep the rows before it, which no change after the
    point can alter. A run stamps the rows it writes (`dbt_updated_at`, the invocation's start),
    so the next model in the chain finds what changed upstream by the stamp alone (an index
    scan), and a model that failed or did not run catches up on its next run: it compares
    upstream stamps with its own newest one, not with the last run's.

    A model's window is null when nothing it reads changed: its SQL then selects no row and the
    strategy deletes none. A full build (or `--full-refresh`) computes every row.
-#}

{#- The stamp of the rows this invocation writes. -#}
{% macro run_stamp() -%}
    '{{ run_started_at.isoformat() }}'::timestamptz
{%- endmacro %}

{#-
    The earliest `column` among the rows of `relation` stamped after the newest row of this
    model: where what this model reads has changed since it last ran (null: nothing changed).
-#}
{% macro changed_since_last_run(relation, column='played_at') -%}
    {#-
        `offset 0` keeps the planner from reading `column`'s index in order until a stamped row
        turns up (the changed rows are the newest: that reads nearly every row); it reads the
        stamped rows by the stamp's index instead.
    -#}
    (
        select min(changed.{{ column }}) as changed_from
        from (
            select stamped.{{ column }}
            from {{ relation }} as stamped
            where stamped.dbt_updated_at > (
                select coalesce(max(held.dbt_updated_at), '-infinity') as held_until
                from {{ this }} as held
            )
            offset 0
        ) as changed
    )
{%- endmacro %}

{#-
    The `replace_suffix` incremental strategy: delete the rows whose config `recompute_column` is
    at or after the model's window (`recompute_from()`, evaluated before anything is deleted, as
    the model's SQL evaluated it), then insert what the run recomputed.
-#}
{% macro get_incremental_replace_suffix_sql(arg_dict) -%}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set temp = arg_dict["temp_relation"] -%}
    {%- set column = config.require("recompute_column") -%}
    {%- set columns = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    delete from {{ target }}
    where {{ column }} >= {{ recompute_from() }};

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ temp }}
{%- endmacro %}

{#-
    Each incremental plays model's window, in one place (the model's SQL and the strategy both
    call it; '-infinity' on a full build, a date for the reports by period). The margins are what a change can reach before itself:
      * int_plays_conformed: an extended-history record hides an account-data record of the
        same minute (60 s), and an API play's track name, when the catalog renames the track,
        changes from that play on;
      * int_plays_deduplicated: a play pairs with records within the tolerance and the account
        data's minute, and a pairing can take a partner from a neighbour: one hour covers it;
      * int_plays_sessionized: from the last session start before the earliest change;
      * fct_plays: the changed plays and sessions, and the plays of a track whose album,
        primary artist or duration the catalog changed;
      * rpt_listening_sessions: from the start of the session holding the earliest change;
      * monthly and weekly reports: from the start of the period holding it; the top lists
        recompute every period when an item they name was renamed or is gone, or an item
        played before the window (left out: the catalog did not know it) is now known.
-#}
{% macro recompute_from() -%}
    {#- A unit test of the model renders the model's SQL under the test's own name. -#}
    {%- set name = (model.tested_node_unique_id or model.unique_id).split('.')[-1]
        if model.resource_type == 'unit_test' else model.name -%}
    {%- set by_period = name in (
        'rpt_listening_habits', 'rpt_discovery_rate',
        'rpt_top_tracks_by_period', 'rpt_top_artists_by_period'
    ) -%}
    {%- if not is_incremental() -%}
    {#- A full build computes every row. -#}
    '-infinity'::{{ 'date' if by_period else 'timestamptz' }}
    {%- elif name == 'int_plays_conformed' -%}
    (
        least(
            {{ changed_since_last_run(ref('stg_spotify__recently_played')) }},
            {{ changed_since_last_run(ref('stg_spotify__streaming_history')) }},
            (
                select min(held.played_at) as changed_from
                from {{ this }} as held
                left join {{ ref('int_tracks_merged') }} as tracks
                    on held.track_id = tracks.track_id
                where held.source = 'api' and held.track_name is distinct from tracks.track_name
            )
        ) - interval '1 minute'
    )
    {%- elif name == 'int_plays_deduplicated' -%}
    ({{ changed_since_last_run(ref('int_plays_conformed')) }} - interval '1 hour')
    {%- elif name == 'int_plays_sessionized' -%}
    (
        select
            case
                when changed.changed_from is not null
                    then coalesce(
                        (
                            select max(held.played_at) as last_session_start
                            from {{ this }} as held
                            where held.is_session_start and held.played_at < changed.changed_from
                        ),
                        '-infinity'
                    )
            end as recompute_from
        from (
            select {{ changed_since_last_run(ref('int_plays_deduplicated')) }} as changed_from
        ) as changed
    )
    {%- elif name == 'fct_plays' -%}
    (
        least(
            {{ changed_since_last_run(ref('int_plays_deduplicated')) }},
            {{ changed_since_last_run(ref('int_plays_sessionized')) }},
            (
                select min(held.played_at) as changed_from
                from {{ this }} as held
                left join {{ ref('dim_tracks') }} as tracks on held.track_id = tracks.track_id
                where
                    held.track_id is not null
                    and (
                        (held.album_id, held.primary_artist_id)
                        is distinct from (tracks.album_id, tracks.primary_artist_id)
                        or (
                            held.is_ms_played_estimated
                            and held.ms_played is distinct from tracks.duration_ms
                        )
                    )
            )
        )
    )
    {%- elif name == 'rpt_listening_sessions' -%}
    (
        select
            case
                when changed.changed_from is not null
                    then coalesce(
                        (
                            select max(plays.played_at) as session_started_at
                            from {{ ref('fct_plays') }} as plays
                            where
                                plays.session_play_number = 1
                                and plays.played_at <= changed.changed_from
                        ),
                        '-infinity'
                    )
            end as recompute_from
        from (
            select {{ changed_since_last_run(ref('fct_plays')) }} as changed_from
        ) as changed
    )
    {%- elif name in ('rpt_listening_habits', 'rpt_discovery_rate') -%}
    (
        date_trunc(
            'month', {{ changed_since_last_run(ref('fct_plays')) }} at time zone 'UTC'
        )::date
    )
    {%- elif name in ('rpt_top_tracks_by_period', 'rpt_top_artists_by_period') -%}
    {%- set item = 'track' if name == 'rpt_top_tracks_by_period' else 'artist' -%}
    {%- set play_column = 'track_id' if item == 'track' else 'primary_artist_id' -%}
    (
        select
            case
                when
                    -- Counted, not `exists`: a plan for the first row would loop over both.
                    -- An item named in the list was renamed or is gone from the catalog.
                    (
                        select count(*) as renamed
                        from {{ this }} as held
                        left join {{ ref('dim_' ~ item ~ 's') }} as items
                            on held.{{ item }}_id = items.{{ item }}_id
                        where held.{{ item }}_name is distinct from items.{{ item }}_name
                    ) > 0
                    -- An item the catalog did not know when its earlier plays were ranked.
                    or (
                        select count(*) as newly_known
                        from (
                            select items.{{ item }}_id
                            from {{ ref('dim_' ~ item ~ 's') }} as items
                            left join (
                                select distinct listed.{{ item }}_id
                                from {{ this }} as listed
                            ) as held
                                on items.{{ item }}_id = held.{{ item }}_id
                            where held.{{ item }}_id is null
                            offset 0
                        ) as unlisted
                        where exists (
                            select 1 as played_before
                            from {{ ref('fct_plays') }} as plays
                            where
                                plays.{{ play_column }} = unlisted.{{ item }}_id
                                and plays.played_at < coalesce(
                                    period.period_from::timestamp at time zone 'UTC', 'infinity'
                                )
                        )
                    ) > 0
                    then '-infinity'::date
                else period.period_from
            end as recompute_from
        from (
            select
                least(
                    date_trunc('week', changed.changed_from at time zone 'UTC'),
                    date_trunc('month', changed.changed_from at time zone 'UTC')
                )::date as period_from
            from (
                select {{ changed_since_last_run(ref('fct_plays')) }} as changed_from
            ) as changed
            offset 0
        ) as period
    )
    {%- else -%}
    {{ exceptions.raise_compiler_error("recompute_from(): no window is defined for " ~ name) }}
    {%- endif -%}
{%- endmacro %}

{#-
    Data tests on a model with a run stamp (a `dbt_updated_at` column declared) check the rows the
    latest run wrote: all of them after a full build, the new or recomputed rows after an
    incremental one (the rows before were tested when they were written, and no run since has
    changed them; a key stays unique across both: the strategies delete by key or by window
    before inserting). Other models, and tests with a `where` of their own, are filtered as dbt
    does.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if not where and execute and relation.identifier is defined
        and _has_run_stamp(relation.identifier) -%}
        {%- set where -%}
            dbt_updated_at = (
                select max(latest.dbt_updated_at) as latest_run from {{ relation }} as latest
            )
        {%- endset -%}
    {%- endif -%}
    {%- if where -%}
        {{- return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') -}}
    {%- endif -%}
    {{- return(relation) -}}
{%- endmacro %}

{% macro _has_run_stamp(identifier) -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and node.alias == identifier
            and 'dbt_updated_at' in node.columns -%}
            {{- return(true) -}}
        {%- endif -%}
    {%- endfor -%}
    {{- return(false) -}}
{%- endmacro %}
