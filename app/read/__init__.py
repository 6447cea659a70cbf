"""Read services: the views, their past (as-of, audit trail), transaction pages, freshness."""
