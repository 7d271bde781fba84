"""TAPPS-MM: part-aware panoptic segmentation (TAPPS, CVPR 2024) on the OpenMMLab 2.x stack."""
from setuptools import find_packages, setup


def read_version() -> str:
    scope: dict = {}
    with open('tapps_mm/version.py') as f:
        exec(f.read(), scope)
    return scope['__version__']


def read_requirements(path: str) -> list[str]:
    with open(path) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


setup(
    name='tapps_mm',
    version=read_version(),
    description='Part-aware panoptic segmentation (TAPPS) on MMEngine / mmdet 3.x',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    # tapps_mm only: benchmarks/ (the results pipeline) runs from the checkout, never from site-packages
    packages=find_packages(include=['tapps_mm', 'tapps_mm.*']),
    package_data={'tapps_mm': ['specs/eval_specs/*.yaml']},
    include_package_data=True,
    python_requires='>=3.10',
    # mmcv is not required here, as in mmdet: mmcv-lite (make install) or mmcv with its ops (make install-gpu)
    install_requires=read_requirements('requirements/runtime.txt'),
    extras_require={'tests': read_requirements('requirements/tests.txt')},
    license='Apache-2.0',
    zip_safe=False,
)
