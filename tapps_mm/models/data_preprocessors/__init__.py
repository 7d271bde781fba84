from tapps_mm.models.data_preprocessors.pps_data_preprocessor import PPSDataPreprocessor

__all__ = ['PPSDataPreprocessor']
