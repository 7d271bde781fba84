"""PPS visualisation."""
