"""PPS visualisation.

Import-light on purpose (numpy only at import time; PIL is imported when drawing), because the
``VISUALIZERS`` registry imports this package whenever scope ``tapps_mm`` builds a visualiser.
"""
from tapps_mm.visualization.pps_drawing import (
    distinct_colors,
    draw_pps_prediction,
    draw_pps_sample,
    part_color,
    pps_to_sample_arrays,
    render_pps_panels,
    sample_legend,
    unpack_pps_sample,
)

__all__ = ['distinct_colors', 'draw_pps_prediction', 'draw_pps_sample', 'part_color', 'pps_to_sample_arrays',
           'render_pps_panels', 'sample_legend', 'unpack_pps_sample']
