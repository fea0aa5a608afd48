{#- Which version of an object a model keeps (rank 1), and what an incremental run reads. -#}

{#-
    Rank of a bronze row among the versions of the same object (`partition_by`): the newest
    request first, then the newest load, then a stable order.
-#}
{% macro latest_version_rank(partition_by) -%}
    row_number() over (
        partition by {{ partition_by }}
        order by requested_at desc, _dlt_load_id desc, _dlt_id asc
    )
{%- endmacro %}

{#-
    Rank of an object among its occurrences across bronze (`partition_by` its id): a full object
    before a simplified one, then the newest, then a stable order by where it was found.
-#}
{% macro best_object_rank(partition_by) -%}
    row_number() over (
        partition by {{ partition_by }}
        order by is_full_object desc, requested_at desc, found_in asc
    )
{%- endmacro %}

{#-
    The incremental filter: `column` (when bronze received or imported a row) is after the newest
    value the model already holds, so a run reads only rows it has not seen. The model keeps its
    own `is_incremental()` test around it.
-#}
{% macro newer_than_loaded(column) -%}
    {{ column }} > (
        select coalesce(max(t.{{ column }}), '-infinity') as max_{{ column }}
        from {{ this }} as t
    )
{%- endmacro %}
