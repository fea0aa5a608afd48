{#- The artists played most per calendar week and month (ties share a rank). -#}
{{ top_items_by_period('artist', 'primary_artist_id', ref('dim_artists')) }}
