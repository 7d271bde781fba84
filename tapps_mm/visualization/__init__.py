"""PPS visualisation: drawing functions (numpy at import time, PIL when drawing) and the visualiser
that mmdet's visualisation hook calls."""
from tapps_mm.visualization.pps_drawing import (
    class_shades,
    colors_against_ground_truth,
    distinct_colors,
    draw_pps_ground_truth,
    draw_pps_prediction,
    draw_pps_sample,
    ground_truth_arrays,
    match_objects,
    part_color,
    pps_to_sample_arrays,
    render_pps_panels,
    sample_legend,
    side_by_side,
    unpack_pps_sample,
)
from tapps_mm.visualization.pps_visualizer import PPSLocalVisualizer

__all__ = ['PPSLocalVisualizer', 'class_shades', 'colors_against_ground_truth', 'distinct_colors',
           'draw_pps_ground_truth', 'draw_pps_prediction', 'draw_pps_sample', 'ground_truth_arrays', 'match_objects',
           'part_color', 'pps_to_sample_arrays', 'render_pps_panels', 'sample_legend', 'side_by_side',
           'unpack_pps_sample']
