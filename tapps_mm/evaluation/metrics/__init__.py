from tapps_mm.evaluation.metrics.partpq_metric import PartPQMetric

__all__ = ['PartPQMetric']
