{#- The tracks played most per calendar week and month (ties share a rank). -#}
{{ top_items_by_period('track', 'track_id', ref('dim_tracks')) }}
