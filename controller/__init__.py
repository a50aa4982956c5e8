"""The sockstat command: finds targets, runs agents, merges, filters and renders."""
