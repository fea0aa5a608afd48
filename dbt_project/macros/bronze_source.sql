{#-
    The relation of a bronze table, or an empty relation of the same shape when dlt has not
    created it yet (e.g. `tracks` in Development Mode, or the catalog tables before the first
    catalog load). `columns` maps each key column to its type; every bronze table also has
    payload, endpoint, requested_at, _dlt_load_id and _dlt_id.
-#}
{% macro bronze_source(table_name, columns={}) -%}
    {%- set relation = source('spotify', table_name) -%}
    {%- if not execute or model.resource_type == 'unit_test' -%}
        {{- return(relation) -}}
    {%- endif -%}
    {%- set found = adapter.get_relation(
        database=relation.database,
        schema=relation.schema,
        identifier=relation.identifier,
    ) -%}
    {%- if found is not none -%}
        {{- return(relation) -}}
    {%- endif -%}
    {%- do log("bronze." ~ table_name ~ " does not exist yet: reading it as empty", info=true) -%}
    {%- set typed = {
        "payload": "jsonb",
        "endpoint": "text",
        "requested_at": "timestamptz",
        "_dlt_load_id": "text",
        "_dlt_id": "text",
    } -%}
    {%- do typed.update(columns) -%}
    {%- set selected = [] -%}
    {%- for name, data_type in typed.items() -%}
        {%- do selected.append("null::" ~ data_type ~ " as " ~ adapter.quote(name)) -%}
    {%- endfor -%}
    {{- return("(select " ~ selected | join(", ") ~ " where false)") -}}
{%- endmacro %}
