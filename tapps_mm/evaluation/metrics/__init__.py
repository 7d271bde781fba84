from tapps_mm.evaluation.metrics.partpq_metric import PartPQMetric, pps_prediction_array

__all__ = ['PartPQMetric', 'pps_prediction_array']
