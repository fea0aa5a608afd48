{#-
    The `replace_rows` incremental strategy, for a model that recomputes some of its rows (what
    its SQL selects on an incremental run) from inputs that can also lose rows: delete the rows
    the run recomputed (same `unique_key`) and the rows whose key is no longer in the model named
    by config `key_source` (e.g. a play merged into another), then insert the recomputed rows.
-#}
{% macro get_incremental_replace_rows_sql(arg_dict) -%}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set temp = arg_dict["temp_relation"] -%}
    {%- set key = arg_dict["unique_key"] -%}
    {%- set key_source = ref(config.require("key_source")) -%}
    {%- set columns = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    {#- Autovacuum never analyzes a temporary table: without statistics the planner may loop. -#}
    analyze {{ temp }};

    {#- Two statements, each a hash join: an OR of both would test every row by a subquery. -#}
    delete from {{ target }} as t
    using {{ temp }} as r
    where t.{{ key }} = r.{{ key }};

    delete from {{ target }} as t
    where not exists (select 1 from {{ key_source }} as s where s.{{ key }} = t.{{ key }});

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ temp }}
{%- endmacro %}
