from tapps_mm.models.layers.dynamic_part_queries import DynamicPartQueryGenerator
from tapps_mm.models.layers.part_queries import PartQueryGenerator

__all__ = ['PartQueryGenerator', 'DynamicPartQueryGenerator']
