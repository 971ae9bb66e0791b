"""Watching reported posts: re-fetch a takedown's URL on a schedule and record what is still there."""
